/**
 * `TextReset`: a streamed attempt that had published text and fails retryably tells stream
 * consumers to discard that text before the retry is announced.
 */
import { Agent, AgentError } from "@effect-agents/core"
import { LeakCheck, ScriptedModel } from "@effect-agents/testing"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Fiber, Schedule, Stream, TestClock } from "effect"

const writer = Agent.make({
  name: "writer",
  instructions: "",
  policy: { modelRetry: Schedule.spaced("1 second").pipe(Schedule.intersect(Schedule.recurs(2))) }
})

const dropped = new AgentError.ModelUnavailable({ detail: "connection reset" })

/** `Agent.stream` to its end on the virtual clock, as `timestamp tag detail` rows (deltas and model events only). */
const timeline = (script: ReadonlyArray<ScriptedModel.Step>) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(LeakCheck.check(Stream.runCollect(Agent.stream(writer, "Write").pipe(Stream.catchAll(() => Stream.empty)))))
    yield* TestClock.adjust("5 seconds")
    const events = Chunk.toReadonlyArray(yield* Fiber.join(fiber))
    return events.flatMap((e) => {
      switch (e._tag) {
        case "ModelRequested":
        case "TextReset":
          return [`${e.timestamp} ${e._tag} ${e.attempt}`]
        case "RetryScheduled":
          return [`${e.timestamp} ${e._tag} ${e.attempt} after ${e.delayMillis}`]
        case "TextDelta":
          return [`${e.timestamp} ${e._tag} ${e.text}`]
        case "RunCompleted":
        case "RunFailed":
          return [`${e.timestamp} ${e._tag} ${e._tag === "RunFailed" ? e.error : e.text}`]
        default:
          return []
      }
    })
  }).pipe(Effect.provide(ScriptedModel.layer(script)))

describe("TextReset", () => {
  it.effect("a stream cut after some text publishes TextReset for that attempt, then RetryScheduled, then the new text", () =>
    Effect.gen(function*() {
      const rows = yield* timeline([
        ScriptedModel.fail(dropped, { text: "The ans wer", failAfterChunks: 2, delay: "100 millis" }),
        ScriptedModel.text("The answer", { delay: "100 millis" })
      ])
      assert.deepStrictEqual(rows, [
        "0 ModelRequested 1",
        "100 TextDelta The ",
        "100 TextDelta ans ",
        "100 TextReset 1",
        "100 RetryScheduled 2 after 1000",
        "1100 ModelRequested 2",
        "1200 TextDelta The ",
        "1200 TextDelta answer",
        "1200 RunCompleted The answer"
      ])
    }))

  it.effect("a stream that fails before any text publishes no TextReset", () =>
    Effect.gen(function*() {
      const rows = yield* timeline([
        ScriptedModel.fail(dropped, { text: "The ans wer", failAfterChunks: 0, delay: "100 millis" }),
        ScriptedModel.text("Done", { delay: "100 millis" })
      ])
      assert.deepStrictEqual(rows, [
        "0 ModelRequested 1",
        "100 RetryScheduled 2 after 1000",
        "1100 ModelRequested 2",
        "1200 TextDelta Done",
        "1200 RunCompleted Done"
      ])
    }))

  it.effect("text followed by a failure that is not retried publishes no TextReset", () =>
    Effect.gen(function*() {
      const rows = yield* timeline([
        ScriptedModel.fail(new AgentError.InvalidRequest({ detail: "bad" }), { text: "The ans", failAfterChunks: 1 })
      ])
      assert.deepStrictEqual(rows, ["0 ModelRequested 1", "0 TextDelta The ", "0 RunFailed InvalidRequest"])
    }))
})
