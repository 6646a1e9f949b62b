// Inside the repository the packages run from source: each `@effect-agents/<name>` import is aliased to
// `packages/<name>/src/index.ts`. The root tsconfig.json says the same with `paths` (read by tsc and tsx);
// vitest and esbuild take this map. Published packages export only their built `dist/`.
import { readdirSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")

/** `@effect-agents/<name>` → the absolute path of its `src/index.ts`, for every package of the workspace. */
export const sourceAliases = Object.fromEntries(
  readdirSync(join(root, "packages")).map((name) => [`@effect-agents/${name}`, join(root, "packages", name, "src", "index.ts")])
)
