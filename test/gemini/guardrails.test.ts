/**
 * Guardrails against the real SDK and the emulator: an input guardrail that trips while Gemini
 * holds the first request open aborts that request, and the server sees the connection close.
 */
import { Agent, AgentError, Guardrail } from "@effect-agents/core"
import { GeminiEmulator } from "@effect-agents/gemini"
import { LeakCheck } from "@effect-agents/testing"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Clock, Deferred, Effect, Exit, Fiber, Option } from "effect"
import { math, withEmulator } from "./fixtures.js"

describe("Gemini guardrails", () => {
  it.live("an input guardrail tripping during the first model call aborts its request: the server sees the client close it", () =>
    withEmulator([GeminiEmulator.hang()], (emulator) =>
      Effect.gen(function*() {
        const verdict = yield* Deferred.make<Guardrail.Verdict>()
        const guarded = Agent.make({
          name: "guarded",
          instructions: math.instructions,
          tools: math.tools,
          guardrails: { input: [Guardrail.input("pii", () => Deferred.await(verdict))] }
        })
        const leaks = yield* LeakCheck.make
        const fiber = yield* Effect.fork(leaks.supervise(Agent.run(guarded, "My SSN is 123-45-6789")))
        yield* emulator.awaitRequest(0)
        const trippedAt = yield* Clock.currentTimeMillis
        yield* Deferred.succeed(verdict, Guardrail.trip("the prompt holds a social security number"))
        const exit = yield* Fiber.await(fiber)
        const disconnect = yield* emulator.awaitDisconnect(0).pipe(Effect.timeout("10 seconds"))
        assert.strictEqual(disconnect.by, "client")
        assert.isAtLeast(disconnect.at, trippedAt)
        assert.isTrue(Exit.isFailure(exit))
        const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
        assert.isTrue(Option.isSome(failure) && failure.value instanceof AgentError.GuardrailTripped)
        assert.strictEqual((yield* emulator.requests).length, 1)
        yield* leaks.assertClean
      })))
})
