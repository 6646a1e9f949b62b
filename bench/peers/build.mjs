// `npm run bench:peers`, step 1: install the peers' own dependencies (never the library's) the first time, then
// bundle bench/peers/run.ts with the repository's packages from source (scripts/source-aliases.mjs), as
// the root `bench` script does. Step 2 runs the bundle (.bench/peers.mjs).
import { build } from "esbuild"
import { execFileSync } from "node:child_process"
import { existsSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { sourceAliases } from "../../scripts/source-aliases.mjs"

const here = dirname(fileURLToPath(import.meta.url))
if (!existsSync(join(here, "node_modules"))) {
  console.log("bench/peers: installing its own dependencies (ai, @openai/agents, effect 4 as effect4)…")
  execFileSync("npm", ["--prefix", here, "ci", "--no-audit", "--no-fund"], { stdio: "inherit" })
}
await build({
  entryPoints: [join(here, "run.ts")],
  outfile: join(here, "..", "..", ".bench", "peers.mjs"),
  bundle: true,
  platform: "node",
  format: "esm",
  alias: sourceAliases,
  logLevel: "warning",
  // some of the peers' dependencies are CommonJS modules that `require` node's built-ins
  banner: { js: "import { createRequire as __createRequire } from \"node:module\"; const require = __createRequire(import.meta.url);" }
})
