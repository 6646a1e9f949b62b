/**
 * Cancellation is real: interrupting a run while Gemini holds the request open aborts the HTTP
 * request, and the server sees the connection close right away.
 */
import { Agent } from "@effect-agents/core"
import { GeminiEmulator } from "@effect-agents/gemini"
import { LeakCheck } from "@effect-agents/testing"
import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Exit, Fiber, Stream } from "effect"
import { math, withEmulator } from "./fixtures.js"

const streamTextDeltas = (deltas: Array<string>) =>
  Stream.runForEach(Agent.stream(math, "Take your time."), (event) =>
    Effect.sync(() => {
      if (event._tag === "TextDelta") deltas.push(event.text)
    }))

/**
 * The emulator's `hang` never answers, so the only way its connection can close is the client aborting it: each
 * test asserts that the server saw the client close it. How fast is measured by the emulator (10-20 ms on a quiet
 * machine) but not asserted: a loaded CI machine must not fail a test on timing.
 *
 * Under source maps (vitest, tsx) the first error raised when a request is aborted formats a
 * stack through the SDK's and Effect's bundles and loads their multi-megabyte source maps:
 * 0.1-0.5 s once per process, inside the aborting call. Pay it once before measuring (plain
 * `node` takes ~5 ms).
 */
const warmUpAborts = withEmulator([GeminiEmulator.hang(), GeminiEmulator.hang({ text: ["warm"] })], (emulator) =>
  Effect.gen(function*() {
    const unary = yield* Effect.fork(Agent.run(math, "warm up"))
    yield* emulator.awaitRequest(0)
    yield* Fiber.interrupt(unary)
    yield* emulator.awaitDisconnect(0)
    const deltas: Array<string> = []
    const streamed = yield* Effect.fork(streamTextDeltas(deltas))
    while (deltas.length < 1) yield* Effect.sleep("5 millis")
    yield* Fiber.interrupt(streamed)
    yield* emulator.awaitDisconnect(1)
  })).pipe(Effect.cached, Effect.runSync)

describe("Gemini interruption", () => {
  it.live("interrupting a run aborts its request: the server sees the client close the connection", () =>
    withEmulator([GeminiEmulator.hang()], (emulator) =>
      Effect.gen(function*() {
        yield* warmUpAborts
        const leaks = yield* LeakCheck.make
        const fiber = yield* Effect.fork(leaks.supervise(Agent.run(math, "Take your time.")))
        yield* emulator.awaitRequest(0)
        const interruptedAt = yield* Clock.currentTimeMillis
        const exit = yield* Fiber.interrupt(fiber)
        const disconnect = yield* emulator.awaitDisconnect(0).pipe(Effect.timeout("10 seconds"))
        assert.strictEqual(disconnect.by, "client")
        assert.isAtLeast(disconnect.at, interruptedAt)
        assert.isTrue(Exit.isInterrupted(exit))
        yield* leaks.assertClean
      })))

  it.live("interrupting a streamed run mid-stream aborts the stream: the server sees the client close the connection", () =>
    withEmulator([GeminiEmulator.hang({ text: ["Thinking ", "very hard"] })], (emulator) =>
      Effect.gen(function*() {
        yield* warmUpAborts
        const leaks = yield* LeakCheck.make
        const deltas: Array<string> = []
        const fiber = yield* Effect.fork(leaks.supervise(streamTextDeltas(deltas)))
        yield* emulator.awaitRequest(0)
        while (deltas.length < 2) yield* Effect.sleep("5 millis")
        const interruptedAt = yield* Clock.currentTimeMillis
        const exit = yield* Fiber.interrupt(fiber)
        const disconnect = yield* emulator.awaitDisconnect(0).pipe(Effect.timeout("10 seconds"))
        assert.strictEqual(disconnect.by, "client")
        assert.isAtLeast(disconnect.at, interruptedAt)
        assert.isTrue(Exit.isInterrupted(exit))
        assert.deepStrictEqual(deltas, ["Thinking ", "very hard"])
        yield* leaks.assertClean
      })))

  it.live("a run whose model call outlives the policy's modelTimeout aborts the request and retries", () =>
    withEmulator([GeminiEmulator.hang(), GeminiEmulator.text("Done")], (emulator) =>
      Effect.gen(function*() {
        const result = yield* Agent.run(math.pipe(Agent.withPolicy({ modelTimeout: "100 millis" })), "Hi")
        assert.strictEqual(result.text, "Done")
        const disconnect = yield* emulator.awaitDisconnect(0).pipe(Effect.timeout("10 seconds"))
        assert.strictEqual(disconnect.by, "client")
        // the timeout runs from the first attempt's start (client side), not from the request's arrival
        const [firstAttempt] = result.events.filter((e) => e._tag === "ModelRequested")
        assert.isAtLeast(disconnect.at - firstAttempt.timestamp, 100)
      })))
})
