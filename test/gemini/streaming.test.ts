/**
 * Streaming through `generateContentStream`: SSE events become text deltas in order, function
 * calls arrive whole, and a stream cut mid-way is retried without committing partial text.
 */
import { Agent, AgentEvent, Content } from "@effect-agents/core"
import { GeminiEmulator } from "@effect-agents/gemini"
import { LeakCheck } from "@effect-agents/testing"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Stream } from "effect"
import { math, ofTag, partsOf, withEmulator } from "./fixtures.js"

const streamed = (input: Agent.Input) =>
  LeakCheck.check(Effect.map(Stream.runCollect(Agent.stream(math, input)), Chunk.toReadonlyArray))

const lastModelText = (events: ReadonlyArray<AgentEvent.AgentEvent>): string => {
  const [completed] = ofTag(events, "RunCompleted")
  const model = completed.history.filter((content) => content.role === "model")
  return Content.textOf(model[model.length - 1].parts)
}

describe("Gemini streaming", () => {
  it.live("text split over several SSE events arrives as text deltas, in order", () =>
    withEmulator([GeminiEmulator.text(["The ", "answer ", "is ", "42."], { chunkDelay: "5 millis" })], (emulator) =>
      Effect.gen(function*() {
        const events = yield* streamed("What is the answer?")
        assert.deepStrictEqual(ofTag(events, "TextDelta").map((e) => e.text), ["The ", "answer ", "is ", "42."])
        assert.strictEqual(ofTag(events, "RunCompleted")[0].text, "The answer is 42.")
        const [request] = yield* emulator.requests
        assert.strictEqual(request.method, "streamGenerateContent")
      })))

  it.live("streamed function calls run as one tool-call group and their signatures go back", () =>
    withEmulator([
      GeminiEmulator.reply({
        text: ["Let me ", "compute."],
        calls: [
          { name: "add", args: { a: 2, b: 3 }, id: "s-add", thoughtSignature: "c2lnLXM=" },
          { name: "multiply", args: { a: 3, b: 4 }, id: "s-mul" }
        ]
      }),
      GeminiEmulator.text(["5 ", "and 12"])
    ], (emulator) =>
      Effect.gen(function*() {
        const events = yield* streamed("What are 2 + 3 and 3 * 4?")
        assert.deepStrictEqual(AgentEvent.invariantViolations(events), [])
        assert.deepStrictEqual(ofTag(events, "ToolCallStarted").map((e) => [e.callId, e.turn]), [["s-add", 1], ["s-mul", 1]])
        assert.deepStrictEqual(ofTag(events, "ModelResponded").map((e) => e.finishReason), ["tool-calls", "stop"])
        const requests = yield* emulator.requests
        assert.deepStrictEqual(partsOf(requests, 1, 1), [
          { text: "Let me compute." },
          { functionCall: { id: "s-add", name: "add", args: { a: 2, b: 3 } }, thoughtSignature: "c2lnLXM=" },
          { functionCall: { id: "s-mul", name: "multiply", args: { a: 3, b: 4 } } }
        ])
        assert.deepStrictEqual(partsOf(requests, 1, 2).map((p) => p.functionResponse?.id), ["s-add", "s-mul"])
      })))

  it.live("a stream cut mid-way is retried and its partial text is not committed to the history", () =>
    withEmulator([
      GeminiEmulator.dropConnection({ text: ["The ans", "wer is"] }),
      GeminiEmulator.text(["The answer ", "is 42."])
    ], (emulator) =>
      Effect.gen(function*() {
        const events = yield* streamed("What is the answer?")
        const tags = events.filter((e) => e._tag === "TextDelta" || e._tag === "RetryScheduled").map((e) =>
          e._tag === "TextDelta" ? e.text : `retry after ${e.error}`
        )
        assert.deepStrictEqual(tags, ["The ans", "wer is", "retry after ModelUnavailable", "The answer ", "is 42."])
        assert.strictEqual(lastModelText(events), "The answer is 42.")
        const [completed] = ofTag(events, "RunCompleted")
        assert.strictEqual(completed.history.length, 2)
        const requests = yield* emulator.requests
        assert.strictEqual(requests.length, 2)
        assert.deepStrictEqual(requests[1].body.contents, [{ role: "user", parts: [{ text: "What is the answer?" }] }])
        const disconnects = yield* emulator.disconnects
        assert.deepStrictEqual(disconnects.map((d) => [d.request, d.by]), [[0, "emulator"]])
      })))

  it.live("a stream dropped after some text tells consumers to discard it before the retry", () =>
    withEmulator([
      GeminiEmulator.dropConnection({ text: ["The ans", "wer is"] }),
      GeminiEmulator.text(["The answer ", "is 42."])
    ], () =>
      Effect.gen(function*() {
        const events = yield* streamed("What is the answer?")
        const rows = events.filter((e) => e._tag === "TextDelta" || e._tag === "TextReset" || e._tag === "RetryScheduled")
          .map((e) => e._tag === "TextDelta" ? e.text : `${e._tag} ${e.attempt}`)
        assert.deepStrictEqual(rows, ["The ans", "wer is", "TextReset 1", "RetryScheduled 2", "The answer ", "is 42."])
        // a consumer that drops its partial text on TextReset shows exactly the committed answer
        let shown = ""
        for (const event of events) {
          if (event._tag === "TextDelta") shown += event.text
          if (event._tag === "TextReset") shown = ""
        }
        assert.strictEqual(shown, lastModelText(events))
      })))
})
