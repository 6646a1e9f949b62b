/**
 * Crash tests on the embedded engine (SQLite, one runner), with real processes: a runner is
 * killed with SIGKILL mid-run and a new process on the same file resumes from the journal. The
 * Gemini emulator lives in the test process and counts requests across the restarts.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { join } from "node:path"
import { emulator, lastResponses, logLines, requestsOf, runner, waitUntil, workDir } from "./support.js"

describe("durable conversations on SQLite, across a SIGKILL", () => {
  it.scopedLive(
    "a killed run resumes in a new process: journaled model calls and tool results are not repeated, the in-flight at-most-once call is reported unknown",
    () =>
      Effect.gen(function*() {
        const dir = yield* workDir
        const { emulator: gemini, env } = yield* emulator
        const common = { ...env, DB: join(dir, "journal.db"), LOGS: dir, CONVERSATION: "crash-a", CHARGE_MS: "60000" }

        const first = yield* runner({ ...common, MODE: "send", PROMPT: "Order A" })
        // the first model call, the lookup's result and the second model call are journaled; the charge is in flight
        yield* waitUntil("the charge has started", () => logLines(dir, "charge.log").length > 0)
        first.child.kill("SIGKILL")
        assert.deepStrictEqual(yield* first.exited, { code: null, signal: "SIGKILL" })
        assert.strictEqual((yield* requestsOf(gemini, "Order A")).length, 2)

        const second = yield* runner({ ...common, MODE: "resume" })
        const { history } = yield* second.output
        const requests = yield* requestsOf(gemini, "Order A")

        // one request per turn not journaled: turns 0 and 1 before the kill, turn 2 after it
        assert.deepStrictEqual(requests.map((request) => request.turn), [0, 1, 2])
        // the idempotent lookup was journaled before the kill: it ran once
        assert.deepStrictEqual(logLines(dir, "lookup.log"), ["lookup A1"])
        // the at-most-once charge started once and was not run again
        assert.deepStrictEqual(logLines(dir, "charge.log"), ["start Order A"])
        const told = JSON.stringify(lastResponses(requests[2]!))
        assert.include(told, "charge")
        assert.include(told, "the outcome of this call is unknown; it was not retried")
        // the conversation holds the whole run: prompt, lookup, charge, answer
        assert.deepStrictEqual(history.map((content: { role: string }) => content.role), ["user", "model", "user", "model", "user", "model"])
        assert.match(history[5].parts[0].text, /^done: .*outcome of this call is unknown/)
      }),
    60_000
  )

  it.scopedLive(
    "a run waiting for approval survives a SIGKILL: a new process approves, and the run resumes and charges once",
    () =>
      Effect.gen(function*() {
        const dir = yield* workDir
        const { emulator: gemini, env } = yield* emulator
        const common = { ...env, DB: join(dir, "journal.db"), LOGS: dir, CONVERSATION: "approve-b", AGENT: "desk" }

        const first = yield* runner({ ...common, MODE: "send", PROMPT: "Order B" })
        // the second answer asks for the charge: the run then waits for a decision
        yield* waitUntil("the model asked for the charge", () => Effect.runSync(requestsOf(gemini, "Order B")).length === 2)
        yield* Effect.sleep("1 second")
        first.child.kill("SIGKILL")
        yield* first.exited
        assert.deepStrictEqual(logLines(dir, "charge.log"), [])

        const second = yield* runner({ ...common, MODE: "decide", CALL_ID: "charge-1" })
        const { history } = yield* second.output
        assert.deepStrictEqual((yield* requestsOf(gemini, "Order B")).map((request) => request.turn), [0, 1, 2])
        assert.deepStrictEqual(logLines(dir, "lookup.log"), ["lookup A1"])
        assert.deepStrictEqual(logLines(dir, "charge.log"), ["start Order B", "end Order B"])
        assert.match(history[5].parts[0].text, /^done: .*charged/)
      }),
    60_000
  )

  it.scopedLive(
    "a cancelled run is journaled as cancelled: the next process does not resume it, and the conversation goes on",
    () =>
      Effect.gen(function*() {
        const dir = yield* workDir
        const { emulator: gemini, env } = yield* emulator
        const common = { ...env, DB: join(dir, "journal.db"), LOGS: dir, CONVERSATION: "cancel-c", CHARGE_MS: "1500" }

        const first = yield* runner({ ...common, MODE: "cancel", PROMPT: "Order C" })
        const { cancelled, outcome } = yield* first.output
        assert.strictEqual(cancelled, true)
        assert.strictEqual(outcome._tag, "Left")
        assert.strictEqual(outcome.left._tag, "RunCancelled")
        // the charge in flight finished (and was journaled); the run stopped before the next model call
        assert.deepStrictEqual(logLines(dir, "charge.log"), ["start Order C", "end Order C"])
        assert.deepStrictEqual((yield* requestsOf(gemini, "Order C")).map((request) => request.turn), [0, 1])
        yield* first.exited

        const second = yield* runner({ ...common, MODE: "send", PROMPT: "Order D" })
        const { reply } = yield* second.output
        assert.match(reply.text, /^done: .*charged/)
        // nothing of the cancelled run ran again
        assert.deepStrictEqual((yield* requestsOf(gemini, "Order C")).map((request) => request.turn), [0, 1])
        assert.deepStrictEqual(logLines(dir, "charge.log"), ["start Order C", "end Order C", "start Order D", "end Order D"])
        // the cancelled run left no history: the new run started from the empty conversation
        assert.deepStrictEqual((yield* requestsOf(gemini, "Order D")).map((request) => request.turn), [0, 1, 2])
      }),
    60_000
  )
})
