/**
 * Structured output on Gemini (issue 12, point 7), through the real SDK against the emulator:
 * JSON mode (`responseMimeType` + `responseJsonSchema`) without tools or on Gemini 3; otherwise
 * a `final_answer` tool whose call ends the run with its arguments as the typed output.
 */
import { Agent } from "@effect-agents/core"
import { GeminiEmulator } from "@effect-agents/gemini"
import { LeakCheck } from "@effect-agents/testing"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Schema, Stream } from "effect"
import { add, ofTag, withEmulator } from "./fixtures.js"

const Trip = Schema.Struct({ city: Schema.String, days: Schema.Number })

const planner = Agent.make({ name: "planner", instructions: "Plan trips.", output: Trip })
const budgeted = Agent.make({ name: "budgeted", instructions: "Plan trips, adding up costs.", tools: [add], output: Trip })

const declared = (tools: ReadonlyArray<{ readonly functionDeclarations?: ReadonlyArray<{ readonly name?: string }> }> | undefined) =>
  (tools ?? []).flatMap((tool) => tool.functionDeclarations ?? []).map((declaration) => declaration.name)

describe("Gemini structured output", () => {
  it.live("an agent without tools asks for JSON with responseMimeType and responseJsonSchema, and gets the typed value", () =>
    withEmulator([GeminiEmulator.text(`{"city":"Paris","days":3}`)], (emulator) =>
      Effect.gen(function*() {
        const result = yield* LeakCheck.check(Agent.run(planner, "Plan a trip"))
        assert.deepStrictEqual(result.output, { city: "Paris", days: 3 })
        const [request] = yield* emulator.requests
        const config = request!.body.generationConfig!
        assert.strictEqual(config["responseMimeType"], "application/json")
        assert.deepStrictEqual((config["responseJsonSchema"] as { required: unknown }).required, ["city", "days"])
        assert.deepStrictEqual(declared(request!.body.tools), [])
      })))

  it.live("an agent with tools on Gemini 2.5 declares final_answer, and its call ends the run with the typed value", () =>
    withEmulator([
      GeminiEmulator.callTools([{ name: "add", args: { a: 300, b: 120 }, id: "c1" }]),
      GeminiEmulator.callTools([{ name: "final_answer", args: { city: "Rome", days: 2 }, id: "c2" }])
    ], (emulator) =>
      Effect.gen(function*() {
        const result = yield* LeakCheck.check(Agent.run(budgeted, "Plan a trip"))
        assert.deepStrictEqual(result.output, { city: "Rome", days: 2 })
        assert.deepStrictEqual(ofTag(result.events, "ToolCallStarted").map((e) => e.tool), ["add"])
        const requests = yield* emulator.requests
        assert.strictEqual(requests.length, 2)
        assert.deepStrictEqual(declared(requests[0]!.body.tools), ["add", "final_answer"])
        assert.isUndefined(requests[0]!.body.generationConfig?.["responseMimeType"])
      }), { model: "gemini-2.5-flash" }))

  it.live("streamed, the final_answer call ends the run the same way", () =>
    withEmulator([GeminiEmulator.callTools([{ name: "final_answer", args: { city: "Oslo", days: 1 }, id: "c1" }])], () =>
      Effect.gen(function*() {
        const events = Chunk.toReadonlyArray(yield* LeakCheck.check(Stream.runCollect(Agent.stream(budgeted, "Plan a trip"))))
        assert.deepStrictEqual(ofTag(events, "RunCompleted").map((e) => e.text), [`{"city":"Oslo","days":1}`])
        assert.deepStrictEqual(ofTag(events, "ToolCallStarted"), [])
      }), { model: "gemini-2.5-flash" }))

  it.live("an agent with tools on Gemini 3 uses JSON mode next to its tools", () =>
    withEmulator([GeminiEmulator.text(`{"city":"Lima","days":4}`)], (emulator) =>
      Effect.gen(function*() {
        const result = yield* LeakCheck.check(Agent.run(budgeted, "Plan a trip"))
        assert.deepStrictEqual(result.output, { city: "Lima", days: 4 })
        const [request] = yield* emulator.requests
        assert.strictEqual(request!.body.generationConfig!["responseMimeType"], "application/json")
        assert.deepStrictEqual(declared(request!.body.tools), ["add"])
      }), { model: "gemini-3-flash-preview" }))

  it.live("invalid JSON goes back to the model with the Schema error and the next answer is the output", () =>
    withEmulator([GeminiEmulator.text(`{"city":"Kyoto"}`), GeminiEmulator.text(`{"city":"Kyoto","days":5}`)], (emulator) =>
      Effect.gen(function*() {
        const result = yield* LeakCheck.check(Agent.run(planner, "Plan a trip"))
        assert.deepStrictEqual(result.output, { city: "Kyoto", days: 5 })
        const requests = yield* emulator.requests
        const last = requests[1]!.body.contents!.at(-1)!
        assert.strictEqual(last.role, "user")
        assert.include(last.parts![0]!.text!, "[\"days\"]")
        assert.include(last.parts![0]!.text!, "is missing")
      })))
})
