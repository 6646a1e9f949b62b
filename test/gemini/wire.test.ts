/**
 * The wire format: what `Gemini.layer` sends through the real SDK and how it reads the answers,
 * checked on the requests the emulator recorded.
 */
import { Agent, AgentEvent, type Content } from "@effect-agents/core"
import { GeminiEmulator } from "@effect-agents/gemini"
import { LeakCheck } from "@effect-agents/testing"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { API_KEY, math, MODEL, ofTag, partsOf, withEmulator } from "./fixtures.js"

const callsThenAnswer = [
  GeminiEmulator.callTools([
    { name: "add", args: { a: 2, b: 3 }, id: "call-add", thoughtSignature: "c2lnLWFkZA==" },
    { name: "multiply", args: { a: 3, b: 4 }, id: "call-mul" }
  ]),
  GeminiEmulator.text("5 and 12", { thoughtSignature: "c2lnLXRleHQ=" }),
  GeminiEmulator.text("Still 5 and 12.")
]

describe("Gemini wire format", () => {
  it.live("the second request carries the function responses with the call ids, in call order, and the thought signature", () =>
    withEmulator(callsThenAnswer.slice(0, 2), (emulator) =>
      Effect.gen(function*() {
        const result = yield* LeakCheck.check(Agent.run(math, "What are 2 + 3 and 3 * 4?"))
        assert.strictEqual(result.text, "5 and 12")
        assert.deepStrictEqual(AgentEvent.invariantViolations(result.events), [])
        // add (30 ms) finishes after multiply, yet its response comes first: call order
        const finished = ofTag(result.events, "ToolCallSucceeded").map((e) => e.callId)
        assert.deepStrictEqual(finished, ["call-mul", "call-add"])

        const requests = yield* emulator.requests
        assert.strictEqual(requests.length, 2)
        assert.deepStrictEqual(partsOf(requests, 1, 1), [
          { functionCall: { id: "call-add", name: "add", args: { a: 2, b: 3 } }, thoughtSignature: "c2lnLWFkZA==" },
          { functionCall: { id: "call-mul", name: "multiply", args: { a: 3, b: 4 } } }
        ])
        assert.strictEqual(requests[1].body.contents?.[2]?.role, "user")
        assert.deepStrictEqual(partsOf(requests, 1, 2), [
          { functionResponse: { id: "call-add", name: "add", response: { output: 5 } } },
          { functionResponse: { id: "call-mul", name: "multiply", response: { output: 12 } } }
        ])
      })))

  it.live("a text part's thought signature goes back unchanged when the conversation continues", () =>
    withEmulator(callsThenAnswer, (emulator) =>
      Effect.gen(function*() {
        const first = yield* Agent.run(math, "What are 2 + 3 and 3 * 4?")
        const second = yield* Agent.run(math, { prompt: "Are you sure?", history: first.history })
        assert.strictEqual(second.text, "Still 5 and 12.")
        const requests = yield* emulator.requests
        assert.deepStrictEqual(partsOf(requests, 2, 3), [{ text: "5 and 12", thoughtSignature: "c2lnLXRleHQ=" }])
        assert.deepStrictEqual(partsOf(requests, 2, 4), [{ text: "Are you sure?" }])
      })))

  it.live("a request carries the system instruction, the tool declarations as JSON Schema and the generation config", () =>
    withEmulator([GeminiEmulator.text("Hello")], (emulator) =>
      Effect.gen(function*() {
        yield* Agent.run(math, "Hi")
        const [request] = yield* emulator.requests
        assert.strictEqual(request.model, MODEL)
        assert.strictEqual(request.method, "generateContent")
        assert.deepStrictEqual(request.body.systemInstruction?.parts, [{ text: "Use the tools for every calculation." }])
        assert.deepStrictEqual(request.body.generationConfig, { temperature: 0 })
        const declarations = request.body.tools?.[0]?.functionDeclarations ?? []
        assert.deepStrictEqual(declarations.map((d) => d.name), ["add", "multiply", "divide"])
        assert.deepStrictEqual(declarations[0].parametersJsonSchema, {
          type: "object",
          required: ["a", "b"],
          properties: { a: { type: "number" }, b: { type: "number" } },
          additionalProperties: false
        })
        assert.isUndefined(request.headers["x-goog-api-key"])
        assert.notInclude(JSON.stringify(request), API_KEY)
      })))

  it.live("function calls without ids get stable synthetic ids that are never sent back", () =>
    withEmulator([
      GeminiEmulator.callTools([{ name: "add", args: { a: 1, b: 1 } }, { name: "multiply", args: { a: 2, b: 2 } }]),
      GeminiEmulator.text("2 and 4")
    ], (emulator) =>
      Effect.gen(function*() {
        const result = yield* Agent.run(math, "What are 1 + 1 and 2 * 2?")
        const calls = result.history[1].parts as ReadonlyArray<Content.FunctionCallPart>
        assert.deepStrictEqual(calls.map((c) => [c.id, c.metadata?.geminiSyntheticId]), [
          ["gemini-call-1", true],
          ["gemini-call-2", true]
        ])
        const started = ofTag(result.events, "ToolCallStarted").map((e) => e.callId)
        assert.deepStrictEqual(started, ["gemini-call-1", "gemini-call-2"])
        const requests = yield* emulator.requests
        assert.deepStrictEqual(partsOf(requests, 1, 1), [
          { functionCall: { name: "add", args: { a: 1, b: 1 } } },
          { functionCall: { name: "multiply", args: { a: 2, b: 2 } } }
        ])
        assert.deepStrictEqual(partsOf(requests, 1, 2), [
          { functionResponse: { name: "add", response: { output: 2 } } },
          { functionResponse: { name: "multiply", response: { output: 4 } } }
        ])
      })))

  it.live("a failed tool call goes back as an error function response", () =>
    withEmulator([
      GeminiEmulator.callTools([{ name: "divide", args: { a: 1, b: 0 }, id: "call-div" }]),
      GeminiEmulator.text("Cannot divide by zero.")
    ], (emulator) =>
      Effect.gen(function*() {
        yield* Agent.run(math, "What is 1 / 0?")
        const requests = yield* emulator.requests
        assert.deepStrictEqual(partsOf(requests, 1, 2), [
          { functionResponse: { id: "call-div", name: "divide", response: { error: "division by zero" } } }
        ])
      })))

  it.live("usage metadata and finish reasons become the core usage and finish reasons", () =>
    withEmulator([
      GeminiEmulator.callTools([{ name: "multiply", args: { a: 2, b: 3 }, id: "c1" }], {
        usage: { promptTokens: 40, outputTokens: 7 }
      }),
      GeminiEmulator.text("6", { usage: { promptTokens: 60, outputTokens: 2 } })
    ], () =>
      Effect.gen(function*() {
        const result = yield* Agent.run(math, "What is 2 * 3?")
        assert.deepStrictEqual(result.usage, { inputTokens: 100, outputTokens: 9, totalTokens: 109 })
        assert.deepStrictEqual(ofTag(result.events, "ModelResponded").map((e) => e.finishReason), ["tool-calls", "stop"])
      })))

})
