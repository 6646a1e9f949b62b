/**
 * The packages as a user gets them: every workspace package is packed with `npm pack`, the tarballs are
 * installed into a fresh project outside the repository next to an `effect` 3.x that is *not* the repository's
 * own, and that project then (a) runs a tiny agent with plain `node` on `ScriptedModel` and on `GeminiEmulator`,
 * (b) typechecks a consumer file against the published `.d.ts` with the strictest flags and `skipLibCheck: false`
 * under `moduleResolution` `nodenext` and `bundler`, and (c) has exactly one copy of `effect`.
 *
 * One install serves every test of the run (≈ 15 s with a warm npm cache).
 */
import { assert, beforeAll, afterAll, describe, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..")
const fixture = join(root, "test", "consumer", "fixture")
const packages = ["core", "cluster", "gemini", "http", "mcp", "node", "testing"] as const
const tsc = join(root, "node_modules", "typescript", "bin", "tsc")

const versionOf = (name: string): string =>
  JSON.parse(readFileSync(join(root, "node_modules", name, "package.json"), "utf8")).version

/** The oldest `effect` the peer ranges allow (`@effect/platform-node` 0.108 needs ≥ 3.22.2): not the repo's own. */
const consumerEffect = "3.22.2"

interface Outcome {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** A child process without the npm variables of the `npm test` that started us (they would steer the inner npm). */
const sh = (command: string, args: ReadonlyArray<string>, cwd: string): Promise<Outcome> => {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.toLowerCase().startsWith("npm_")))
  return new Promise((resolve) => {
    execFile(command, args, { cwd, env, encoding: "utf8", timeout: 180_000, maxBuffer: 32 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout, stderr })
    })
  })
}

const ok = async (command: string, args: ReadonlyArray<string>, cwd: string): Promise<string> => {
  const outcome = await sh(command, args, cwd)
  assert.strictEqual(outcome.code, 0, `${command} ${args.join(" ")} failed in ${cwd}:\n${outcome.stdout}\n${outcome.stderr}`)
  return outcome.stdout
}

let project = ""

beforeAll(async () => {
  assert.notStrictEqual(versionOf("effect"), consumerEffect, "the consumer must use another effect than the repository")
  await ok(process.execPath, [tsc, "-b", "tsconfig.build.json"], root)
  project = mkdtempSync(join(tmpdir(), "effect-agents-consumer-"))
  await ok("npm", ["pack", ...packages.map((name) => `--workspace=packages/${name}`), "--pack-destination", project], root)
  const tarballs = readdirSync(project).filter((file) => file.endsWith(".tgz"))
  assert.strictEqual(tarballs.length, packages.length, `npm pack made ${tarballs.join(", ")}`)
  const dependencies: Record<string, string> = {
    "effect": consumerEffect,
    "@effect/platform": "0.97.2",
    "@effect/platform-node": "0.108.2",
    "@types/node": versionOf("@types/node")
  }
  for (const name of packages) dependencies[`@effect-agents/${name}`] = `file:./effect-agents-${name}-0.1.0.tgz`
  writeFileSync(
    join(project, "package.json"),
    JSON.stringify({ name: "consumer", private: true, type: "module", dependencies }, null, 2)
  )
  for (const file of readdirSync(fixture)) copyFileSync(join(fixture, file), join(project, file))
  await ok("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"], project)
}, 240_000)

afterAll(() => {
  if (project !== "") rmSync(project, { recursive: true, force: true })
})

describe("the packed packages in a fresh project", () => {
  it("ship built ESM, declarations, sources for the source maps, a README and a LICENSE", () => {
    for (const name of packages) {
      const manifest = JSON.parse(readFileSync(join(project, "node_modules", "@effect-agents", name, "package.json"), "utf8"))
      assert.deepStrictEqual(manifest.exports["."], {
        types: "./dist/index.d.ts",
        import: "./dist/index.js",
        default: "./dist/index.js"
      })
      const files = readdirSync(join(project, "node_modules", "@effect-agents", name))
      for (const expected of ["dist", "src", "README.md", "LICENSE", "package.json"]) {
        assert.include(files, expected, `@effect-agents/${name} lacks ${expected}`)
      }
      const dist = readdirSync(join(project, "node_modules", "@effect-agents", name, "dist"))
      for (const expected of ["index.js", "index.d.ts", "index.d.ts.map", "index.js.map"]) assert.include(dist, expected)
      assert.notInclude(dist, ".tsbuildinfo")
    }
  })

  it("run a tiny agent with plain node, on ScriptedModel and against GeminiEmulator on loopback", async () => {
    const stdout = await ok(process.execPath, ["run.mjs"], project)
    assert.deepStrictEqual(JSON.parse(stdout.trim()), {
      scripted: { text: "5", tools: [5] },
      emulated: { text: "42", tools: [42] },
      leakCheck: "function"
    })
  })

  // The two typechecks are independent processes: run them side by side.
  describe.concurrent("typecheck a consumer with the strictest flags and skipLibCheck false", () => {
    it("under moduleResolution nodenext", async () => {
      await ok(process.execPath, [tsc, "-p", "tsconfig.nodenext.json"], project)
    }, 240_000)

    it("under moduleResolution bundler", async () => {
      await ok(process.execPath, [tsc, "-p", "tsconfig.bundler.json"], project)
    }, 240_000)
  })

  it("share a single copy of effect with the application, whatever 3.x it pinned", async () => {
    const copies = new Set((await ok("npm", ["ls", "effect", "--all", "--parseable"], project)).trim().split("\n"))
    assert.deepStrictEqual([...copies], [join(project, "node_modules", "effect")])
    const installed = JSON.parse(readFileSync(join(project, "node_modules", "effect", "package.json"), "utf8"))
    assert.strictEqual(installed.version, consumerEffect)
  })

  it("refuse internal paths that are not exported, with Node's own error", async () => {
    const outcome = await sh(process.execPath, [
      "--input-type=module",
      "-e",
      "import('@effect-agents/core/dist/internal/run.js').then(() => console.log('imported'), (e) => console.log(e.code))"
    ], project)
    assert.strictEqual(outcome.stdout.trim(), "ERR_PACKAGE_PATH_NOT_EXPORTED")
  })
})
