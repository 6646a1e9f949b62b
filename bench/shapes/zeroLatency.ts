/**
 * The zero-latency shapes (so that only orchestration costs time), shared by `bench/overhead.ts`
 * and `bench/peers`:
 * - (a) the model calls one tool, then answers;
 * - (b) the model calls eight tools at once (run in parallel), then answers.
 *
 * Also the hand-written Promise loop that runs them (and the real-latency conversation): same
 * tool functions, same model responses, same history building, hand-written argument and result
 * checks, `Promise.all` for the calls, and no events, spans, timeouts, retries or interruption.
 */
import type { Content, Model } from "@effect-agents/core"
import { cpuSince, median } from "./measure.js"

export const add = (a: number, b: number) => a + b
export const multiply = (a: number, b: number) => a * b

export interface Scenario {
  readonly key: "a" | "b"
  readonly label: string
  readonly calls: ReadonlyArray<{ readonly name: "add" | "multiply"; readonly args: { readonly a: number; readonly b: number } }>
  readonly target: number
}

export const scenarios: ReadonlyArray<Scenario> = [
  {
    key: "a",
    label: "(a) 1 tool call",
    calls: [{ name: "add", args: { a: 2, b: 3 } }],
    target: 20
  },
  {
    key: "b",
    label: "(b) 8 parallel calls",
    calls: Array.from({ length: 8 }, (_, i) => ({ name: i % 2 === 0 ? "add" : "multiply", args: { a: i, b: 3 } })),
    target: 150
  }
]

/** Turn 1 calls the tools; turn 2 (the history then holds the calls and their results) answers. */
export const isFirstTurn = (contents: ReadonlyArray<unknown>) => contents.length === 1

export const answer = "The results are in."
export const question = "What are the numbers?"

export const check = (text: string, expected = answer) => {
  if (text !== expected) throw new Error(`unexpected answer ${JSON.stringify(text)}`)
}

/** How a system runs `runs` conversations of a zero-latency scenario, one after the other. */
export type ZeroLatency = (scenario: Scenario, runs: number) => Promise<void>

// -----------------------------------------------------------------------------
// the hand-written Promise loop
// -----------------------------------------------------------------------------

type Part = Content.Part
export type FunctionCall = Extract<Part, { _tag: "FunctionCall" }>
export interface PromiseResponse {
  readonly parts: ReadonlyArray<Part>
  readonly usage: Model.Usage
  readonly finishReason: Model.FinishReason
}
export type PromiseModel = (request: { readonly contents: ReadonlyArray<Content.Content> }) => Promise<PromiseResponse>

const noUsage = { inputTokens: 0, outputTokens: 0, totalTokens: 0 }

/** A model response of `parts`: tool calls when there are any, else the final text. */
export const promiseResponse = (parts: ReadonlyArray<Part>): PromiseResponse => ({
  parts,
  usage: noUsage,
  finishReason: parts.some((part) => part._tag === "FunctionCall") ? "tool-calls" : "stop"
})

const numberArgs = (args: unknown): [number, number] => {
  const { a, b } = args as { a: unknown; b: unknown }
  if (typeof a !== "number" || typeof b !== "number") throw new TypeError("a and b must be numbers")
  return [a, b]
}

const promiseTools = new Map<string, (args: unknown) => Promise<unknown>>([
  ["add", async (args) => add(...numberArgs(args))],
  ["multiply", async (args) => multiply(...numberArgs(args))]
])

/** Run one call of `tools`: an unknown tool, bad arguments or a bad result become an error response. */
export const promiseCallTool = (tools: ReadonlyMap<string, (args: unknown) => Promise<unknown>>) =>
async (call: FunctionCall): Promise<Part> => {
  const tool = tools.get(call.name)
  if (tool === undefined) return { _tag: "FunctionResponse", id: call.id, name: call.name, output: "unknown tool", isError: true }
  try {
    const output = await tool(call.args)
    if (typeof output !== "number") throw new TypeError("the result must be a number")
    return { _tag: "FunctionResponse", id: call.id, name: call.name, output, isError: false }
  } catch (error) {
    return { _tag: "FunctionResponse", id: call.id, name: call.name, output: String(error), isError: true }
  }
}

/** The turn loop: model, then every call of its answer at once (`Promise.all`), until it answers with text. */
export const promiseRun = async (
  generate: PromiseModel,
  callTool: (call: FunctionCall) => Promise<Part>,
  prompt: string
) => {
  const history: Array<Content.Content> = [{ role: "user", parts: [{ _tag: "Text", text: prompt }] }]
  for (let turn = 1; turn <= 10; turn++) {
    const response = await generate({ contents: history.slice() })
    history.push({ role: "model", parts: response.parts })
    const calls = response.parts.filter((part): part is FunctionCall => part._tag === "FunctionCall")
    if (calls.length === 0) {
      let text = ""
      for (const part of response.parts) if (part._tag === "Text") text += part.text
      return { text, history }
    }
    history.push({ role: "user", parts: await Promise.all(calls.map(callTool)) })
  }
  throw new Error("max turns")
}

/** The scenario's model as a Promise function; `record` keeps every request (as `ScriptedModel` does). */
export const promiseModel = (scenario: Scenario, record = true): PromiseModel => {
  const requests: Array<unknown> = []
  const calls = promiseResponse(scenario.calls.map((call, i) => ({ _tag: "FunctionCall", id: `call_1_${i}`, name: call.name, args: call.args })))
  const text = promiseResponse([{ _tag: "Text", text: answer }])
  return async (request) => {
    if (record) requests.push(request)
    return isFirstTurn(request.contents) ? calls : text
  }
}

const callMathTool = promiseCallTool(promiseTools)

/** The Promise loop on a zero-latency scenario; `record` as in {@link promiseModel}. */
export const promiseLoop = (record: boolean): ZeroLatency => async (scenario, runs) => {
  const generate = promiseModel(scenario, record)
  for (let i = 0; i < runs; i++) check((await promiseRun(generate, callMathTool, question)).text)
}

// -----------------------------------------------------------------------------
// measuring
// -----------------------------------------------------------------------------

/**
 * Median CPU µs per run of `system` on `scenario`: a warm-up of `warmupMillis` that also sizes the
 * rounds to about `roundMillis` each, then `rounds` rounds.
 */
export const measureZeroLatency = async (
  system: ZeroLatency,
  scenario: Scenario,
  options: { readonly rounds: number; readonly warmupMillis: number; readonly roundMillis: number; readonly minRuns?: number }
) => {
  const batch = 100
  const started = performance.now()
  let last = Number.POSITIVE_INFINITY
  while (performance.now() - started < options.warmupMillis) {
    const before = performance.now()
    await system(scenario, batch)
    last = performance.now() - before
  }
  const runs = Math.max(options.minRuns ?? 100, Math.round((batch * options.roundMillis) / last))
  const cpu: Array<number> = []
  const wall: Array<number> = []
  for (let round = 0; round < options.rounds; round++) {
    const cpuBefore = process.cpuUsage()
    const wallBefore = performance.now()
    await system(scenario, runs)
    wall.push(((performance.now() - wallBefore) * 1000) / runs)
    cpu.push(cpuSince(cpuBefore) / runs)
  }
  return { runs, cpu: median(cpu), wall: median(wall), spread: [Math.min(...cpu), Math.max(...cpu)] as const }
}
