/**
 * Every example is a runnable program: run each one as a child process and require it to exit
 * with its expected code (0 unless its header says `@expectExit N`) and print its summary.
 */
import { assert, describe, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import { readdirSync, readFileSync } from "node:fs"
import { dirname, join, relative } from "node:path"
import { fileURLToPath } from "node:url"

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..")
const tsx = join(root, "node_modules", ".bin", "tsx")

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

/** Run a program without blocking the test worker (a blocked worker cannot report to vitest). */
const run = (file: string, env: NodeJS.ProcessEnv): Promise<Outcome> =>
  new Promise((resolve) => {
    execFile(tsx, ["--conditions=@effect-agents/source", file], { cwd: root, env, encoding: "utf8", timeout: 90_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const status = error === null ? 0 : typeof error.code === "number" ? error.code : null
      resolve({ status, stdout, stderr })
    })
  })

// Examples are separate processes: run two at a time so they do not starve each other on 2 cores.
describe.concurrent("examples", { concurrent: true }, () => {
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
