/**
 * Every example is a runnable program: run each one as a child process and require it to exit
 * with its expected code (0 unless its header says `@expectExit N`) and print its summary.
 *
 * Each example is first compiled by esbuild into one file (the `@effect-agents/*` packages from
 * their source, as `npm run example` runs them; other dependencies stay imports) and run with plain
 * `node`: loading the program through `tsx`'s module hooks cost ≈ 2.5 s of CPU per example, more
 * than most examples spend running.
 */
import { assert, beforeAll, describe, it } from "@effect/vitest"
import * as esbuild from "esbuild"
import { execFile } from "node:child_process"
import { readdirSync, readFileSync } from "node:fs"
import { dirname, join, relative } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { sourceAliases } from "../../scripts/source-aliases.mjs"

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..")
const out = join(root, "node_modules", ".cache", "effect-agents-examples")

const examples = ["examples", join("examples", "faults")].flatMap((dir) => {
  try {
    return readdirSync(join(root, dir))
      .filter((file) => /^\d\d-.*\.ts$/.test(file))
      .sort()
      .map((file) => join(root, dir, file))
  } catch {
    return []
  }
})

interface Outcome {
  readonly status: number | null
  readonly stdout: string
  readonly stderr: string
}

const bundleOf = (file: string) => join(out, relative(root, file).replace(/\.ts$/, ".mjs"))

/**
 * Our packages are bundled from source and every other bare import stays an import, resolved from
 * the repo. In each of our files `import.meta.url` is replaced by that file's own URL, so the paths
 * built from it (an example's fixtures, the worker runner of `@effect-agents/node`) stay the same.
 */
const fromSource: esbuild.Plugin = {
  name: "from-source",
  setup(build) {
    build.onResolve({ filter: /^[^./]/ }, (args) => args.path.startsWith("@effect-agents/") ? undefined : { path: args.path, external: true })
    build.onLoad({ filter: /\.[mc]?[jt]s$/ }, (args) => {
      const source = readFileSync(args.path, "utf8")
      if (!source.includes("import.meta.url")) return undefined
      return {
        contents: source.replaceAll("import.meta.url", JSON.stringify(pathToFileURL(args.path).href)),
        loader: /\.[mc]?ts$/.test(args.path) ? "ts" : "js",
        resolveDir: dirname(args.path)
      }
    })
  }
}

const compile = (file: string) =>
  esbuild.build({
    entryPoints: [file],
    outfile: bundleOf(file),
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    alias: sourceAliases,
    plugins: [fromSource],
    sourcemap: "inline",
    logLevel: "silent"
  })

/** Run a program without blocking the test worker (a blocked worker cannot report to vitest). */
const run = (file: string, env: NodeJS.ProcessEnv): Promise<Outcome> =>
  new Promise((resolve) => {
    execFile(process.execPath, ["--enable-source-maps", bundleOf(file)], { cwd: root, env, encoding: "utf8", timeout: 90_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const status = error === null ? 0 : typeof error.code === "number" ? error.code : null
      resolve({ status, stdout, stderr })
    })
  })

// Examples are separate processes: run two at a time so they do not starve each other on 2 cores.
describe.concurrent("examples", { concurrent: true }, () => {
  beforeAll(() => Promise.all(examples.map(compile)), 60_000)

  it("there are examples to run", () => {
    assert.isAbove(examples.length, 0)
  })

  for (const file of examples) {
    const source = readFileSync(file, "utf8")
    const expectExit = Number(/@expectExit (\d+)/.exec(source)?.[1] ?? 0)
    it(`${relative(root, file)} runs and exits ${expectExit}`, async () => {
      const env: NodeJS.ProcessEnv = { ...process.env, FORCE_COLOR: "0" }
      delete env.GEMINI_API_KEY
      const result = await run(file, env)
      const output = `${result.stdout}\n${result.stderr}`
      assert.strictEqual(result.status, expectExit, `${relative(root, file)} exited ${result.status}:\n${output}`)
      assert.isAbove(result.stdout.trim().split("\n").length, 2, `${relative(root, file)} printed too little:\n${output}`)
    })
  }
})
