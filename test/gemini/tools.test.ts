/**
 * Built-in tools and context caching (issue 12, point 6): Google Search, code execution and URL
 * context are declared next to the agent's function tools (Gemini 3), their result parts are kept,
 * and with `cachedContent` the system instruction, tools and tool config are left to the cache.
 */
import { Agent } from "@effect-agents/core"
import { GeminiEmulator } from "@effect-agents/gemini"
import { LeakCheck } from "@effect-agents/testing"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { code, math, partsOf, post, result, withEmulator } from "./fixtures.js"

const allBuiltIn = { googleSearch: true, codeExecution: true, urlContext: true } as const


describe("Gemini built-in tools", () => {
  it.live("Gemini 3: built-in tools are declared after the function tools, and their result parts go back", () =>
    withEmulator([
      GeminiEmulator.reply({ parts: [code, result], calls: [{ name: "add", args: { a: 2, b: 3 }, id: "b-1" }] }),
      GeminiEmulator.text("5")
    ], (emulator) =>
      Effect.gen(function*() {
        const answer = yield* LeakCheck.check(Agent.run(math, "What is 2 + 3?"))
        assert.strictEqual(answer.text, "5")
        const requests = yield* emulator.requests
        const tools = requests[0].body.tools ?? []
        assert.deepStrictEqual(tools[0]?.functionDeclarations?.map((d) => d.name), ["add", "multiply", "divide"])
        assert.deepStrictEqual(tools.slice(1), [{ googleSearch: {} }, { codeExecution: {} }, { urlContext: {} }])
        // the emulator signs Gemini 3 calls and refuses them back unsigned: the signature made the trip
        const sent = partsOf(requests, 1, 1)
        assert.deepStrictEqual(sent.slice(0, 2), [code, result])
        assert.isString(sent[2]?.thoughtSignature)
      }), { model: "gemini-3-pro-preview", builtInTools: allBuiltIn }))

  it.live("before Gemini 3, the emulator refuses built-in tools next to function tools, as Gemini does", () =>
    withEmulator([GeminiEmulator.text("never sent")], () =>
      Effect.gen(function*() {
        const exit = yield* Effect.exit(Agent.run(math, "What is 2 + 3?"))
        assert.isTrue(Exit.isFailure(exit))
        assert.include(String(Exit.isFailure(exit) ? exit.cause : ""), "Tool use with function calling is unsupported")
      }), { model: "gemini-2.5-flash", builtInTools: { googleSearch: true } }))

  it.live("an agent without function tools may use built-in tools on any model", () =>
    withEmulator([GeminiEmulator.text("Searched.")], (emulator) =>
      Effect.gen(function*() {
        const searcher = Agent.make({ name: "searcher", instructions: "Search the web." })
        yield* LeakCheck.check(Agent.run(searcher, "News?"))
        const [request] = yield* emulator.requests
        assert.deepStrictEqual(request.body.tools, [{ googleSearch: {} }])
      }), { model: "gemini-2.5-flash", builtInTools: { googleSearch: true } }))
})

describe("Gemini context caching", () => {
  it.live("with cachedContent, the system instruction, tools and tool config are not sent, and the tools still run", () =>
    withEmulator([
      GeminiEmulator.callTools([{ name: "multiply", args: { a: 2, b: 3 }, id: "k-1" }]),
      GeminiEmulator.text("6")
    ], (emulator) =>
      Effect.gen(function*() {
        const answer = yield* LeakCheck.check(Agent.run(math, "What is 2 * 3?"))
        assert.strictEqual(answer.text, "6")
        const requests = yield* emulator.requests
        for (const request of requests) {
          assert.strictEqual(request.body["cachedContent"], "cachedContents/math-v1")
          assert.isUndefined(request.body.systemInstruction)
          assert.isUndefined(request.body.tools)
          assert.isUndefined(request.body["toolConfig"])
          assert.deepStrictEqual(request.body.generationConfig, { temperature: 0 })
        }
      }), {
      generationConfig: {
        temperature: 0,
        cachedContent: "cachedContents/math-v1",
        toolConfig: { functionCallingConfig: { mode: "AUTO" as never } }
      }
    }))

  it.live("the emulator refuses cachedContent next to a system instruction, as Gemini does", () =>
    withEmulator([], (emulator) =>
      Effect.gen(function*() {
        const response = yield* post(emulator, {
          cachedContent: "cachedContents/math-v1",
          systemInstruction: { parts: [{ text: "Be brief." }] },
          contents: [{ role: "user", parts: [{ text: "Hi" }] }]
        })
        assert.strictEqual(response.status, 400)
        assert.include(response.error?.message ?? "", "CachedContent can not be used with GenerateContent request setting system_instruction, tools or tool_config")
      })))
})
