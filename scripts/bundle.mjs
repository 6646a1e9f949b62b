// `node scripts/bundle.mjs <entry.ts> <out.mjs> [--external:<module>…]`: one ESM file for node, with the
// repository's packages from source (scripts/source-aliases.mjs). The benchmarks run this way.
import { build } from "esbuild"
import { sourceAliases } from "./source-aliases.mjs"

const [entry, outfile, ...rest] = process.argv.slice(2)
if (entry === undefined || outfile === undefined) {
  console.error("usage: node scripts/bundle.mjs <entry.ts> <out.mjs> [--external:<module>…]")
  process.exit(2)
}
await build({
  entryPoints: [entry],
  outfile,
  bundle: true,
  platform: "node",
  format: "esm",
  alias: sourceAliases,
  external: rest.filter((arg) => arg.startsWith("--external:")).map((arg) => arg.slice("--external:".length)),
  logLevel: "warning",
  // CommonJS dependencies that `require` node's built-ins
  banner: { js: "import { createRequire as __createRequire } from \"node:module\"; const require = __createRequire(import.meta.url);" }
})
