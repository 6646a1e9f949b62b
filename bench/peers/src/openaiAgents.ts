/**
 * OpenAI Agents 0.20 (`@openai/agents`): `run(agent, input)` with function tools, on a fake
 * `Model` that answers after the same delays as every other system and records nothing. Tracing
 * is disabled (it would export to OpenAI).
 */
import { Agent, type AgentInputItem, type Model, type ModelResponse, run, setTracingDisabled, tool, Usage } from "@openai/agents"
import { z } from "zod"
import { allAtOnce, answersBy, lookup, modelWait, prompt, sleep, toolMillis } from "../../shapes/conversation.js"
import type { System } from "../../shapes/systems.js"
import { add, answer, check, multiply, question } from "../../shapes/zeroLatency.js"

setTracingDisabled(true)

/** The model's turn: how many answers with calls it gave already (two calls each) — or, for `calls`, any call at all. */
export const callsSoFar = (input: string | ReadonlyArray<AgentInputItem>): number =>
  typeof input === "string" ? 0 : input.filter((item) => item.type === "function_call").length

/** A model answer: the calls when there are any, else the text. */
export const agentsResponse = (calls: ReadonlyArray<{ readonly name: string; readonly args: unknown }>, text: string, turn = 0): ModelResponse => ({
  usage: new Usage(),
  output: calls.length === 0
    ? [{ type: "message", role: "assistant", status: "completed", content: [{ type: "output_text", text }] }]
    : calls.map((call, i) => ({
      type: "function_call",
      callId: `call_${turn}_${i}`,
      name: call.name,
      arguments: JSON.stringify(call.args),
      status: "completed"
    }))
})

/** A fake model: `generate` gets the request's input (and its abort signal) and answers. */
export const agentsModel = (
  generate: (input: string | ReadonlyArray<AgentInputItem>, signal: AbortSignal | undefined) => Promise<ModelResponse>
): Model => ({
  getResponse: (request) => generate(request.input, request.signal),
  getStreamedResponse: () => {
    throw new Error("the benchmark does not stream")
  }
})

const lookupTool = tool({
  name: "lookup",
  description: "Look a number up",
  parameters: z.object({ q: z.number() }),
  execute: async ({ q }, _context, details) => {
    await sleep(toolMillis, details?.signal)
    return lookup(q)
  }
})

const numbers = z.object({ a: z.number(), b: z.number() })
const mathTools = [
  tool({ name: "add", description: "Add two numbers", parameters: numbers, execute: async ({ a, b }) => add(a, b) }),
  tool({ name: "multiply", description: "Multiply two numbers", parameters: numbers, execute: async ({ a, b }) => multiply(a, b) })
]

const realResponses = answersBy(agentsResponse)

export const openaiAgents: System = {
  key: "openai",
  name: "OpenAI Agents 0.20",
  realLatency: {
    conversations: (n, done, hold) => {
      const model = agentsModel(async (input) => {
        const turn = callsSoFar(input) / 2
        await modelWait(turn, hold)
        return realResponses[turn]!
      })
      const agent = new Agent({ name: "lookup", instructions: "Look the numbers up.", tools: [lookupTool], model })
      return allAtOnce(n, done, async () => String((await run(agent, prompt, { maxTurns: 10 })).finalOutput))
    }
  },
  zeroLatency: async (scenario, runs) => {
    const calls = agentsResponse(scenario.calls, answer)
    const text = agentsResponse([], answer)
    const model = agentsModel(async (input) => callsSoFar(input) === 0 ? calls : text)
    const agent = new Agent({ name: "math", instructions: "Use the tools.", tools: mathTools, model })
    for (let i = 0; i < runs; i++) check(String((await run(agent, question, { maxTurns: 10 })).finalOutput))
  }
}
