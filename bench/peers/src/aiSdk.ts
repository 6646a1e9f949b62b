/**
 * The Vercel AI SDK 7 (`ai`): `generateText` with a tool loop (`stopWhen`), on a fake
 * `LanguageModelV4` that answers after the same delays as every other system and records nothing.
 */
import type { LanguageModelV4, LanguageModelV4Content, LanguageModelV4GenerateResult } from "@ai-sdk/provider"
import { generateText, stepCountIs, tool } from "ai"
import { z } from "zod"
import { allAtOnce, answersBy, lookup, modelWait, prompt, sleep, toolMillis, turnOf } from "../../shapes/conversation.js"
import type { System } from "../../shapes/systems.js"
import { add, answer, check, multiply, question } from "../../shapes/zeroLatency.js"

const usage: LanguageModelV4GenerateResult["usage"] = {
  inputTokens: { total: 0, noCache: 0, cacheRead: 0, cacheWrite: 0 },
  outputTokens: { total: 0, text: 0, reasoning: 0 }
}

/** A model answer: the calls when there are any, else the text. */
export const aiResult = (calls: ReadonlyArray<{ readonly name: string; readonly args: unknown }>, text: string, turn = 0): LanguageModelV4GenerateResult => {
  const content: Array<LanguageModelV4Content> = calls.length === 0
    ? [{ type: "text", text }]
    : calls.map((call, i) => ({ type: "tool-call", toolCallId: `call_${turn}_${i}`, toolName: call.name, input: JSON.stringify(call.args) }))
  return {
    content,
    finishReason: { unified: calls.length === 0 ? "stop" : "tool-calls", raw: undefined },
    usage,
    warnings: []
  }
}

/** A fake model: `generate` gets the prompt's messages (and the abort signal) and answers. */
export const aiModel = (
  generate: (prompt: ReadonlyArray<{ readonly role: string }>, signal: AbortSignal | undefined) => Promise<LanguageModelV4GenerateResult>
): LanguageModelV4 => ({
  specificationVersion: "v4",
  provider: "fake",
  modelId: "fake",
  supportedUrls: {},
  doGenerate: (options) => generate(options.prompt, options.abortSignal),
  doStream: () => Promise.reject(new Error("the benchmark does not stream"))
})

const lookupTool = tool({
  description: "Look a number up",
  inputSchema: z.object({ q: z.number() }),
  execute: async ({ q }, { abortSignal }) => {
    await sleep(toolMillis, abortSignal)
    return lookup(q)
  }
})

const numbers = z.object({ a: z.number(), b: z.number() })
const mathTools = {
  add: tool({ description: "Add two numbers", inputSchema: numbers, execute: async ({ a, b }) => add(a, b) }),
  multiply: tool({ description: "Multiply two numbers", inputSchema: numbers, execute: async ({ a, b }) => multiply(a, b) })
}

const realResults = answersBy(aiResult)

export const aiSdk: System = {
  key: "ai",
  name: "Vercel AI SDK 7",
  realLatency: {
    conversations: (n, done, hold) => {
      const model = aiModel(async (messages) => {
        const turn = turnOf(messages)
        await modelWait(turn, hold)
        return realResults[turn]!
      })
      return allAtOnce(n, done, async () => (await generateText({ model, tools: { lookup: lookupTool }, prompt, stopWhen: stepCountIs(10) })).text)
    }
  },
  zeroLatency: async (scenario, runs) => {
    const calls = aiResult(scenario.calls, answer)
    const text = aiResult([], answer)
    const model = aiModel(async (messages) => messages.length === 1 ? calls : text)
    for (let i = 0; i < runs; i++) {
      check((await generateText({ model, tools: mathTools, prompt: question, stopWhen: stepCountIs(10) })).text)
    }
  }
}
