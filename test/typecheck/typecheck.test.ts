/**
 * The tests, examples and benchmarks typecheck (`npm run typecheck`, i.e. `tsc -p tsconfig.json --noEmit`).
 * It runs as a suite of its own so that, in `npm test`, it overlaps with the suites that wait on other processes.
 */
import { assert, describe, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..")

describe("typecheck", () => {
  it("the tests, examples and benchmarks have no type error", async () => {
    const tsc = join(root, "node_modules", "typescript", "bin", "tsc")
    const outcome = await new Promise<{ code: number | null; output: string }>((resolve) => {
      execFile(process.execPath, [tsc, "-p", "tsconfig.json", "--noEmit", "--pretty", "false"], { cwd: root, encoding: "utf8", maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
        resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : null, output: `${stdout}${stderr}` })
      })
    })
    assert.strictEqual(outcome.code, 0, `tsc -p tsconfig.json --noEmit failed:\n${outcome.output}`)
  }, 180_000)
})
