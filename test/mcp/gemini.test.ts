/**
 * An MCP toolset in front of the real Gemini client (`Gemini.layer` and `@google/genai`) against
 * the strict `GeminiEmulator`: what Gemini receives from an MCP tool, and the tools a server adds
 * mid-run declared on the next request.
 */
import { Agent, AgentEvent } from "@effect-agents/core"
import { Gemini, GeminiEmulator } from "@effect-agents/gemini"
import { McpToolset } from "@effect-agents/mcp"
import { LeakCheck } from "@effect-agents/testing"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { httpFixture, pixelPng } from "./support.js"

const painter = Agent.make({ name: "painter", instructions: "Use the tools.", toolsets: ["web"] })

/** The agent run against an emulator playing `script`, with the in-process MCP server as the toolset "web". */
const runAgainst = (script: GeminiEmulator.Script, prompt: string) =>
  Effect.gen(function*() {
    const server = yield* httpFixture
    const emulator = yield* GeminiEmulator.make({ script })
    const gemini = Layer.orDie(Gemini.layer({ model: "gemini-3-flash-preview", apiKey: emulator.apiKey, baseUrl: emulator.baseUrl }))
    const result = yield* LeakCheck.check(Agent.run(painter, prompt)).pipe(
      Effect.provide(Layer.merge(gemini, McpToolset.layer({ name: "web", transport: McpToolset.http({ url: server.url }) })))
    )
    assert.deepStrictEqual(AgentEvent.invariantViolations(result.events), [])
    return { result, requests: yield* emulator.requests }
  }).pipe(Effect.scoped)

describe("an MCP toolset with Gemini", () => {
  it.live("an MCP tool's image reaches Gemini as inline data of the function response, not as JSON text", () =>
    Effect.gen(function*() {
      const { requests, result } = yield* runAgainst(
        [GeminiEmulator.callTools([{ name: "pixel", args: {}, id: "call-1" }]), GeminiEmulator.text("A red pixel.")],
        "Draw"
      )
      assert.strictEqual(result.text, "A red pixel.")
      const [answer] = requests[1]!.body.contents?.at(-1)?.parts ?? []
      assert.deepStrictEqual(answer, {
        functionResponse: {
          id: "call-1",
          name: "pixel",
          response: { output: "a red pixel" },
          parts: [{ inlineData: { mimeType: "image/png", data: pixelPng } }]
        }
      })
      assert.notInclude(JSON.stringify(answer?.functionResponse?.response), pixelPng)
    }))

  it.live("a tool the server adds mid-run is declared to Gemini on the next request", () =>
    Effect.gen(function*() {
      const { requests, result } = yield* runAgainst(
        [
          GeminiEmulator.callTools([{ name: "grow", args: {}, id: "call-1" }]),
          GeminiEmulator.callTools([{ name: "extra", args: {}, id: "call-2" }]),
          GeminiEmulator.text("Done.")
        ],
        "Grow"
      )
      assert.strictEqual(result.text, "Done.")
      const declared = requests.map((request) =>
        (request.body.tools ?? []).flatMap((tool) => tool.functionDeclarations ?? []).map((declaration) => declaration.name)
      )
      assert.isFalse(declared[0]!.includes("extra"))
      assert.deepStrictEqual(declared[1], [...declared[0]!, "extra"])
      assert.deepStrictEqual(requests[2]!.body.contents?.at(-1)?.parts, [
        { functionResponse: { id: "call-2", name: "extra", response: { output: "extra" } } }
      ])
    }))
})
