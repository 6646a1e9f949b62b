/**
 * Runtime overhead of one agent run, against a hand-written Promise loop doing the same work.
 *
 * Scenarios, on a zero-latency model (so only the orchestration costs time):
 * - (a) the model calls one tool, then answers;
 * - (b) the model calls eight tools at once (run in parallel), then answers.
 *
 * Variants:
 * - one `runPromise` per run, on a `ManagedRuntime` holding the model: a root fiber per
 *   conversation, as in a server that enters Effect once per request;
 * - N runs in one Effect program, the model provided once: a server written in Effect;
 * - a hand-written `async` loop: same tool functions, same model responses, same history
 *   building, hand-written argument and result checks, `Promise.all` for the calls, and no
 *   events, spans, timeouts, retries or interruption.
 *
 * Both models are zero-latency script functions that record each request (as `ScriptedModel`
 * does); a fresh model is made for every round.
 *
 * Figures: CPU time (`process.cpuUsage`, user + system) and wall time per run, the median of
 * several rounds after a warm-up. Run: `npm run bench` (bundles this file with esbuild, as a
 * production build would, and runs it on node; options after `--`: `--scenario a|b`,
 * `--variant runPromise|program|promise`, `--rounds n`). Under `tsx` it runs too, but `tsx`
 * wraps every closure for `keepNames`, which roughly doubles what a run costs. This is not a
 * test: it never fails, it reports.
 */
import { Agent, type Content, Model, Tool } from "@effect-agents/core"
import { ScriptedModel } from "@effect-agents/testing"
import { Effect, ManagedRuntime, Schema } from "effect"
import os from "node:os"
import { parseArgs } from "node:util"

const { values: flags } = parseArgs({
  options: {
    scenario: { type: "string" },
    variant: { type: "string" },
    rounds: { type: "string" }
  }
})
const rounds = Number(flags.rounds ?? 9)
const roundMillis = 300
const warmupMillis = 1500
const minRuns = 500

// -----------------------------------------------------------------------------
// the work: tool functions and model responses shared by both implementations
// -----------------------------------------------------------------------------

const add = (a: number, b: number) => a + b
const multiply = (a: number, b: number) => a * b

interface Scenario {
  readonly key: "a" | "b"
  readonly label: string
  readonly calls: ReadonlyArray<{ readonly name: "add" | "multiply"; readonly args: { readonly a: number; readonly b: number } }>
  readonly target: number
}

const scenarios: ReadonlyArray<Scenario> = [
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
const isFirstTurn = (contents: ReadonlyArray<Content.Content>) => contents.length === 1

const answer = "The results are in."

// -----------------------------------------------------------------------------
// effect-agents
// -----------------------------------------------------------------------------

const numbers = Schema.Struct({ a: Schema.Number, b: Schema.Number })
const tools = [
  Tool.make("add", {
    description: "Add two numbers",
    parameters: numbers,
    success: Schema.Number,
    handler: ({ a, b }) => Effect.succeed(add(a, b))
  }),
  Tool.make("multiply", {
    description: "Multiply two numbers",
    parameters: numbers,
    success: Schema.Number,
    handler: ({ a, b }) => Effect.succeed(multiply(a, b))
  })
]
const agent = Agent.make({ name: "math", instructions: "Use the tools.", tools })

const scriptedModel = (scenario: Scenario) =>
  Effect.runSync(ScriptedModel.make((request) =>
    isFirstTurn(request.contents) ? ScriptedModel.callTools(scenario.calls) : ScriptedModel.text(answer)
  ))

const conversation = Agent.run(agent, "What are the numbers?")

const check = (text: string) => {
  if (text !== answer) throw new Error(`unexpected answer ${JSON.stringify(text)}`)
}

/** One `runPromise` per conversation, on a runtime that holds the model (as a server would build once). */
const runPromisePerRun = async (scenario: Scenario, runs: number) => {
  const runtime = ManagedRuntime.make(Model.layer(scriptedModel(scenario)))
  for (let i = 0; i < runs; i++) check((await runtime.runPromise(conversation)).text)
  await runtime.dispose()
}

/** Every conversation inside one Effect program, the model provided once. */
const runInOneProgram = (scenario: Scenario, runs: number) =>
  Effect.runPromise(
    Effect.gen(function*() {
      for (let i = 0; i < runs; i++) check((yield* conversation).text)
    }).pipe(Effect.provideService(Model.Model, scriptedModel(scenario)))
  )

// -----------------------------------------------------------------------------
// the hand-written Promise loop
// -----------------------------------------------------------------------------

type Part = Content.Part
interface Response {
  readonly parts: ReadonlyArray<Part>
  readonly usage: Model.Usage
  readonly finishReason: Model.FinishReason
}

const promiseTools = new Map<string, (args: unknown) => Promise<unknown>>([
  ["add", async (args) => add(...numberArgs(args))],
  ["multiply", async (args) => multiply(...numberArgs(args))]
])

const numberArgs = (args: unknown): [number, number] => {
  const { a, b } = args as { a: unknown; b: unknown }
  if (typeof a !== "number" || typeof b !== "number") throw new TypeError("a and b must be numbers")
  return [a, b]
}

const promiseModel = (scenario: Scenario) => {
  const requests: Array<unknown> = []
  return async (request: { readonly contents: ReadonlyArray<Content.Content> }): Promise<Response> => {
    requests.push(request)
    if (isFirstTurn(request.contents)) {
      return {
        parts: scenario.calls.map((call, i) => ({ _tag: "FunctionCall", id: `call_1_${i}`, name: call.name, args: call.args })),
        usage: { inputTokens: 0, outputTokens: 0, totalTokens: 0 },
        finishReason: "tool-calls"
      }
    }
    return { parts: [{ _tag: "Text", text: answer }], usage: { inputTokens: 0, outputTokens: 0, totalTokens: 0 }, finishReason: "stop" }
  }
}

const callTool = async (call: Extract<Part, { _tag: "FunctionCall" }>): Promise<Part> => {
  const tool = promiseTools.get(call.name)
  if (tool === undefined) return { _tag: "FunctionResponse", id: call.id, name: call.name, output: "unknown tool", isError: true }
  try {
    const output = await tool(call.args)
    if (typeof output !== "number") throw new TypeError("the result must be a number")
    return { _tag: "FunctionResponse", id: call.id, name: call.name, output, isError: false }
  } catch (error) {
    return { _tag: "FunctionResponse", id: call.id, name: call.name, output: String(error), isError: true }
  }
}

const promiseRun = async (generate: ReturnType<typeof promiseModel>, prompt: string) => {
  const history: Array<Content.Content> = [{ role: "user", parts: [{ _tag: "Text", text: prompt }] }]
  for (let turn = 1; turn <= 10; turn++) {
    const response = await generate({ contents: history.slice() })
    history.push({ role: "model", parts: response.parts })
    const calls = response.parts.filter((part) => part._tag === "FunctionCall")
    if (calls.length === 0) {
      let text = ""
      for (const part of response.parts) if (part._tag === "Text") text += part.text
      return { text, history }
    }
    history.push({ role: "user", parts: await Promise.all(calls.map(callTool)) })
  }
  throw new Error("max turns")
}

const promiseLoop = async (scenario: Scenario, runs: number) => {
  const generate = promiseModel(scenario)
  for (let i = 0; i < runs; i++) check((await promiseRun(generate, "What are the numbers?")).text)
}

// -----------------------------------------------------------------------------
// measurement
// -----------------------------------------------------------------------------

interface Variant {
  readonly key: string
  readonly label: string
  readonly run: (scenario: Scenario, runs: number) => Promise<void>
}

const variants: ReadonlyArray<Variant> = [
  { key: "runPromise", label: "runtime.runPromise per run", run: runPromisePerRun },
  { key: "program", label: "N runs in one Effect program", run: runInOneProgram },
  { key: "promise", label: "hand-written Promise loop", run: promiseLoop }
]

const median = (xs: ReadonlyArray<number>) => {
  const sorted = xs.slice().sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/** Warm up for `warmupMillis`, then size the rounds: enough runs for a round to take about `roundMillis`. */
const warmUp = async (variant: Variant, scenario: Scenario) => {
  const batch = 200
  const started = performance.now()
  let last = 0
  while (performance.now() - started < warmupMillis) {
    const before = performance.now()
    await variant.run(scenario, batch)
    last = performance.now() - before
  }
  return Math.max(minRuns, Math.round((batch * roundMillis) / last))
}

/** Median CPU and wall µs per run over `rounds` rounds, after a warm-up. */
const measure = async (variant: Variant, scenario: Scenario) => {
  const runs = await warmUp(variant, scenario)
  const cpu: Array<number> = []
  const wall: Array<number> = []
  for (let round = 0; round < rounds; round++) {
    const cpuBefore = process.cpuUsage()
    const wallBefore = performance.now()
    await variant.run(scenario, runs)
    const used = process.cpuUsage(cpuBefore)
    wall.push(((performance.now() - wallBefore) * 1000) / runs)
    cpu.push((used.user + used.system) / runs)
  }
  return { runs, cpu: median(cpu), wall: median(wall), spread: [Math.min(...cpu), Math.max(...cpu)] as const }
}

const columns: ReadonlyArray<number> = [22, 30, 12, 13, 16, 14, 15]
const line = (cells: ReadonlyArray<string>) =>
  cells.map((cell, i) => i < 2 ? cell.padEnd(columns[i]) : cell.padStart(columns[i])).join("")
const us = (n: number) => n.toFixed(1)

/** Whether this runs from TypeScript source (under `tsx`) rather than from the compiled bundle. */
const fromSource = import.meta.url.endsWith(".ts")

console.log(
  `effect-agents run overhead — Node ${process.version}, ${os.cpus().length} CPUs, load ${os.loadavg()[0].toFixed(1)}; ` +
    `median of ${rounds} rounds of ~${roundMillis} ms each; zero-latency model; ` +
    (fromSource ? "from TypeScript source (tsx: closures wrapped for keepNames)" : "compiled bundle") + "\n"
)
if (fromSource) console.log("Note: the targets are for compiled code; `npm run bench` bundles and runs it.\n")
console.log(line(["scenario", "variant", "runs/round", "CPU µs/run", "CPU min–max", "wall µs/run", "CPU ×Promise"]))
console.log("-".repeat(columns.reduce((a, b) => a + b)))
for (const scenario of scenarios) {
  if (flags.scenario !== undefined && flags.scenario !== scenario.key) continue
  const results = new Map<string, Awaited<ReturnType<typeof measure>>>()
  for (const variant of variants) {
    if (flags.variant !== undefined && flags.variant !== variant.key) continue
    results.set(variant.key, await measure(variant, scenario))
  }
  const baseline = results.get("promise")
  let first = true
  for (const variant of variants) {
    const result = results.get(variant.key)
    if (result === undefined) continue
    console.log(line([
      first ? scenario.label : "",
      variant.label,
      String(result.runs),
      us(result.cpu),
      `${us(result.spread[0])}–${us(result.spread[1])}`,
      us(result.wall),
      baseline === undefined ? "" : `${(result.cpu / baseline.cpu).toFixed(1)}×`
    ]))
    first = false
  }
  const effect = ["runPromise", "program"].flatMap((key) => results.has(key) ? [results.get(key)!.cpu] : [])
  if (effect.length > 0) {
    const best = Math.min(...effect)
    console.log(`${"".padEnd(columns[0])}target ≤ ${scenario.target} µs CPU per run: ${best <= scenario.target ? "met" : "NOT met"} (best Effect variant: ${us(best)} µs)`)
  }
  console.log("")
}
