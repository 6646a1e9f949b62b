/**
 * Helpers of the crash tests: the Gemini emulator the runner processes talk to (in the test
 * process, over HTTP, so it counts requests across restarts), runner processes, and the tools'
 * log files.
 */
import { GeminiEmulator } from "@effect-agents/gemini"
import { type ChildProcess, spawn } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { Effect } from "effect"

const fixture = fileURLToPath(new URL("./fixtures/runner.ts", import.meta.url))

/** The function responses of the last message of a recorded request. */
export const lastResponses = (request: GeminiEmulator.RecordedRequest): Array<unknown> => {
  const contents = (request.body as { contents?: Array<{ parts?: Array<{ functionResponse?: unknown }> }> }).contents ?? []
  return (contents.at(-1)?.parts ?? []).flatMap((part) => part.functionResponse === undefined ? [] : [part.functionResponse])
}

/**
 * The shop's script, by turn (stateless, so a resumed run gets the answer the first one would
 * have): look the price up, charge the order, then answer with what the charge returned.
 */
export const script: GeminiEmulator.Script = (request) => {
  switch (request.turn) {
    case 0:
      return GeminiEmulator.callTools([{ name: "lookup", args: { sku: "A1" }, id: "lookup-1" }])
    case 1:
      return GeminiEmulator.callTools([{ name: "charge", args: { order: request.prompt, cents: 500 }, id: "charge-1" }])
    default:
      return GeminiEmulator.text(`done: ${JSON.stringify(lastResponses(request))}`)
  }
}

/** A temporary directory for a test's database and tool logs, removed with the scope. */
export const workDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "durable-crash-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

/** The lines a tool logged. */
export const logLines = (dir: string, file: string): Array<string> =>
  existsSync(join(dir, file)) ? readFileSync(join(dir, file), "utf8").split("\n").filter((line) => line.length > 0) : []

export interface Runner {
  readonly child: ChildProcess
  /** Everything printed so far. */
  readonly stdout: () => string
  readonly stderr: () => string
  /** The first JSON line printed. */
  readonly output: Effect.Effect<any>
  /** Exit code or signal, when the process ends. */
  readonly exited: Effect.Effect<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>
}

/** Start a runner process (killed with the scope if still running). */
export const runner = (env: Record<string, string>) =>
  Effect.acquireRelease(
    Effect.sync((): Runner => {
      const child = spawn(process.execPath, ["--import", "tsx", fixture], {
        env: { ...process.env, ...env },
        stdio: ["ignore", "pipe", "pipe"]
      })
      let stdout = ""
      let stderr = ""
      child.stdout!.on("data", (chunk) => stdout += chunk)
      child.stderr!.on("data", (chunk) => stderr += chunk)
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
        child.on("exit", (code, signal) => resolve({ code, signal }))
      )
      const output = Effect.gen(function*() {
        for (;;) {
          const line = stdout.split("\n").find((l) => l.startsWith("{"))
          if (line !== undefined) return JSON.parse(line)
          if (child.exitCode !== null || child.signalCode !== null) {
            return yield* Effect.dieMessage(`the runner exited (${child.exitCode ?? child.signalCode}) without output: ${stderr}`)
          }
          yield* Effect.sleep("50 millis")
        }
      })
      return { child, stdout: () => stdout, stderr: () => stderr, output, exited: Effect.promise(() => exited) }
    }),
    (runner) => Effect.sync(() => runner.child.exitCode === null && runner.child.signalCode === null && runner.child.kill("SIGKILL"))
  )

/** Wait until `condition` holds, checking every 50 ms, at most `millis`. */
export const waitUntil = (what: string, condition: () => boolean, millis = 30_000) =>
  Effect.gen(function*() {
    const deadline = Date.now() + millis
    while (!condition()) {
      if (Date.now() > deadline) return yield* Effect.dieMessage(`timed out waiting until ${what}`)
      yield* Effect.sleep("50 millis")
    }
  })

/** The emulator of a test, with the environment a runner needs to reach it. */
export const emulator = Effect.map(GeminiEmulator.make({ script }), (emulator) => ({
  emulator,
  env: { EMULATOR_URL: emulator.baseUrl, EMULATOR_KEY: "emulator-key" }
}))

/** The requests of one conversation (by its prompt). */
export const requestsOf = (emulator: GeminiEmulator.Emulator, prompt: string) =>
  Effect.map(emulator.requests, (requests) => requests.filter((request) => request.prompt === prompt))
