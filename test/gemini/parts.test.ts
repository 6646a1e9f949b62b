/**
 * Parts are kept as Gemini sent them (issue 12, point 2): thoughts, signatures, inline data,
 * executable code and its results go back on the next turn byte for byte and in order, streamed
 * or not; only adjacent plain text deltas are joined; thought summaries never become answer text.
 * The emulator refuses a part with two data fields, so a merged part would fail the second request.
 */
import { Agent, AgentEvent, Model } from "@effect-agents/core"
import { GeminiEmulator } from "@effect-agents/gemini"
import { LeakCheck } from "@effect-agents/testing"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Stream } from "effect"
import { code, math, ofTag, partsOf, result, withEmulator } from "./fixtures.js"

const image = { inlineData: { mimeType: "image/png", data: "iVBORw0KGgo=" } }
const summary = { text: "Planning the sums.", thought: true }
const signedThought = { text: "Checked the inputs.", thought: true, thoughtSignature: "c2lnLXRob3VnaHQ=" }

/** An answer with every kind of part, then a function call; each part is its own SSE event. */
const rich = GeminiEmulator.reply({
  parts: [summary, signedThought, { text: "Here is " }, { text: "the work: " }, code, result, image, { text: "Now the tool." }],
  calls: [{ name: "add", args: { a: 2, b: 3 }, id: "call-1", thoughtSignature: "c2lnLWNhbGw=" }]
})

/** What the model content of that answer must look like when it is sent back. */
const richSentBack = (joined: boolean) => [
  summary,
  signedThought,
  ...(joined ? [{ text: "Here is the work: " }] : [{ text: "Here is " }, { text: "the work: " }]),
  code,
  result,
  image,
  { text: "Now the tool." },
  { functionCall: { id: "call-1", name: "add", args: { a: 2, b: 3 } }, thoughtSignature: "c2lnLWNhbGw=" }
]

const streamed = (input: Agent.Input) =>
  LeakCheck.check(Effect.map(Stream.runCollect(Agent.stream(math, input)), Chunk.toReadonlyArray))

describe("Gemini parts are kept as sent", () => {
  it.live("streamed: every part goes back in order, byte for byte; only adjacent plain text deltas are joined", () =>
    withEmulator([rich, GeminiEmulator.text("5")], (emulator) =>
      Effect.gen(function*() {
        const events = yield* streamed("What is 2 + 3?")
        assert.deepStrictEqual(AgentEvent.invariantViolations(events), [])
        const requests = yield* emulator.requests
        assert.strictEqual(requests.length, 2)
        assert.deepStrictEqual(partsOf(requests, 1, 1), richSentBack(true))
      })))

  it.live("unary: every part goes back in order, byte for byte", () =>
    withEmulator([rich, GeminiEmulator.text("5")], (emulator) =>
      Effect.gen(function*() {
        yield* LeakCheck.check(Agent.run(math, "What is 2 + 3?"))
        const requests = yield* emulator.requests
        assert.deepStrictEqual(partsOf(requests, 1, 1), richSentBack(false))
      })))

  it.live("thought summaries never become answer text or text deltas", () =>
    withEmulator([rich, GeminiEmulator.reply({ thoughts: ["The sum is 5."], text: ["2 + 3 ", "= 5"] })], () =>
      Effect.gen(function*() {
        const events = yield* streamed("What is 2 + 3?")
        assert.deepStrictEqual(ofTag(events, "TextDelta").map((e) => e.text), [
          "Here is ",
          "the work: ",
          "Now the tool.",
          "2 + 3 ",
          "= 5"
        ])
        assert.deepStrictEqual(ofTag(events, "ModelResponded").map((e) => e.text), ["Here is the work: Now the tool.", "2 + 3 = 5"])
        assert.strictEqual(ofTag(events, "RunCompleted")[0].text, "2 + 3 = 5")
      })))

  it.live("a signature on a trailing empty text part stays a part of its own when the conversation continues", () =>
    withEmulator([
      GeminiEmulator.text(["The answer ", "is 5."], { trailingSignature: "c2lnLXRyYWls" }),
      GeminiEmulator.text("Yes.")
    ], (emulator) =>
      Effect.gen(function*() {
        const first = yield* Effect.map(streamed("What is 2 + 3?"), (events) => ofTag(events, "RunCompleted")[0])
        assert.strictEqual(first.text, "The answer is 5.")
        yield* streamed({ prompt: "Sure?", history: first.history })
        const requests = yield* emulator.requests
        assert.deepStrictEqual(partsOf(requests, 1, 1), [{ text: "The answer is 5." }, { text: "", thoughtSignature: "c2lnLXRyYWls" }])
      })))

  it.live("the emulator refuses a part that sets two data fields, as Gemini does", () =>
    withEmulator([GeminiEmulator.text("never sent")], () =>
      Effect.gen(function*() {
        const model = yield* Model.Model
        const error = yield* Effect.flip(model.generate({
          agent: "test",
          tools: [],
          contents: [
            { role: "user", parts: [{ _tag: "Text", text: "Run it." }] },
            // what joining a code result into a text part used to send
            { role: "model", parts: [{ _tag: "Text", text: "", metadata: { geminiPart: { text: "5", ...result } } }] },
            { role: "user", parts: [{ _tag: "Text", text: "And?" }] }
          ]
        }))
        assert.strictEqual(error._tag, "InvalidRequest")
        assert.include(error.message, "oneof field 'data' is already set")
      })))
})

