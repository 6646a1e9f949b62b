/**
 * What each system does, rather than what it costs, in three situations (real timers, every tool
 * honours its abort signal or interruption as a `fetch` would):
 *
 * - **sibling after a failure**: the model calls `fail` (throws after 10 ms) and `slow` (200 ms)
 *   at once. Is `slow` cancelled when `fail` fails, and how soon?
 * - **late result after a timeout**: `slow` has a 50 ms timeout and answers "late" at 100 ms
 *   (effect-agents: `timeout`; AI SDK: `timeout.toolMs`; OpenAI Agents: `timeoutMs`; the Promise
 *   loop: `Promise.race` with a timer). Does the model get "late" as a success, and does the tool
 *   go on running after its timeout?
 * - **caller gives up**: the caller aborts the run at 30 ms while `slow` (200 ms) runs
 *   (effect-agents: interruption through `runPromise`'s signal; AI SDK: `abortSignal`; OpenAI
 *   Agents: `signal`; the Promise loop cannot be cancelled: the caller stops waiting). Is the tool
 *   still running when the run returns (an orphan)?
 */
import { Agent, Model, Tool } from "@effect-agents/core"
import { generateText, stepCountIs, tool as aiTool } from "ai"
import { Agent as OpenAIAgent, run as runOpenAI, tool as openaiTool } from "@openai/agents"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { z } from "zod"
import { sleep } from "../../shapes/conversation.js"
import { promiseCallTool, promiseResponse, promiseRun, type PromiseModel } from "../../shapes/zeroLatency.js"
import { aiModel, aiResult } from "./aiSdk.js"
import { agentsModel, agentsResponse, callsSoFar } from "./openaiAgents.js"

/** What the `slow` tool did, in ms since the scenario started. */
interface Trace {
  failedAt?: number
  stoppedAt?: number
  finishedAt?: number
  runSettledAt?: number
  /** What the model was told about `slow` in its next request: `success: <output>` or `error: <message>`. */
  toldModel?: string
}

export interface Behaviour {
  readonly sibling: string
  readonly late: string
  readonly orphan: string
}

const failMillis = 10
const slowMillis = 200
const timeoutMillis = 50
const lateMillis = 100
const abortMillis = 30

/** Run `slow` for `millis` on a trace: it records when it finished, or when it was stopped. */
const slowOn = (trace: Trace, started: number, millis: number) => async (signal: AbortSignal | undefined) => {
  try {
    await sleep(millis, signal)
    trace.finishedAt = performance.now() - started
    return "late"
  } catch (error) {
    trace.stoppedAt = performance.now() - started
    throw error
  }
}

const ms = (n: number) => `${n < 10 ? n.toFixed(1) : Math.round(n)} ms`

const describeSibling = (t: Trace) =>
  t.stoppedAt !== undefined
    ? `cancelled ${ms(t.stoppedAt - t.failedAt!)} after the failure`
    : `not cancelled: ran to its end, ${ms(t.finishedAt! - t.failedAt!)} after the failure`

const describeLate = (t: Trace) =>
  `${t.toldModel?.startsWith("success") ? "**late result reported as success**" : "model told: timeout error"}; ` +
  (t.finishedAt !== undefined ? `tool ran on to its end (${ms(t.finishedAt)})` : `tool stopped at ${ms(t.stoppedAt ?? Number.NaN)}`)

const describeOrphan = (t: Trace) =>
  t.finishedAt !== undefined && t.finishedAt > (t.runSettledAt ?? 0)
    ? `**orphan**: the run returned at ${ms(t.runSettledAt!)}, the tool ran on to ${ms(t.finishedAt)}`
    : `tool stopped at ${ms(t.stoppedAt!)}, before the run returned (${ms(t.runSettledAt!)})`

/** Let every straggler finish (or not) before reading a trace. */
const settle = () => sleep(slowMillis + 50)

interface Scenarios {
  readonly sibling: (trace: Trace, started: number) => Promise<unknown>
  readonly late: (trace: Trace, started: number) => Promise<unknown>
  readonly orphan: (trace: Trace, started: number, signal: AbortSignal) => Promise<unknown>
}

const behaviourOf = async (scenarios: Scenarios): Promise<Behaviour> => {
  const play = async (f: (trace: Trace, started: number, signal: AbortSignal) => Promise<unknown>) => {
    const trace: Trace = {}
    const started = performance.now()
    const controller = new AbortController()
    setTimeout(() => controller.abort(new Error("the caller gave up")), abortMillis)
    await f(trace, started, controller.signal).catch(() => {})
    trace.runSettledAt = performance.now() - started
    await settle()
    return trace
  }
  return {
    sibling: describeSibling(await play(scenarios.sibling)),
    late: describeLate(await play(scenarios.late)),
    orphan: describeOrphan(await play(scenarios.orphan))
  }
}

const failing = (trace: Trace, started: number) => async (): Promise<string> => {
  await sleep(failMillis)
  trace.failedAt = performance.now() - started
  throw new Error("boom")
}

// -----------------------------------------------------------------------------
// effect-agents
// -----------------------------------------------------------------------------

const effectAgentsBehaviour = (): Promise<Behaviour> => {
  const model = (calls: ReadonlyArray<string>, onSecond?: (request: Model.ModelRequest) => void): Model.Model.Service => {
    const generate = (request: Model.ModelRequest) =>
      Effect.sync((): Model.ModelResponse => {
        if (request.contents.length === 1) {
          return { parts: calls.map((name, i) => ({ _tag: "FunctionCall", id: `call_${i}`, name, args: {} })), usage: Model.emptyUsage, finishReason: "tool-calls" }
        }
        onSecond?.(request)
        return { parts: [{ _tag: "Text", text: "done" }], usage: Model.emptyUsage, finishReason: "stop" }
      })
    return { generate, stream: (request) => Stream.fromEffect(generate(request)) }
  }
  const noArgs = Schema.Struct({})
  const fromPromise = (name: string, handler: (signal: AbortSignal) => Promise<unknown>, timeout?: Duration.DurationInput) =>
    Tool.fromPromise(name, { description: name, parameters: noArgs, handler: (_args, signal) => handler(signal), ...(timeout ? { timeout } : {}) })
  const runWith = (agent: Agent.Agent<never>, service: Model.Model.Service, signal?: AbortSignal) =>
    Effect.runPromise(Effect.provideService(Agent.run(agent, "go"), Model.Model, service), signal ? { signal } : undefined)
  return behaviourOf({
    sibling: (trace, started) => {
      const agent = Agent.make({
        name: "sibling",
        instructions: "",
        tools: [fromPromise("fail", failing(trace, started)), fromPromise("slow", slowOn(trace, started, slowMillis))]
      })
      return runWith(agent, model(["fail", "slow"]))
    },
    late: (trace, started) => {
      const agent = Agent.make({
        name: "late",
        instructions: "",
        tools: [fromPromise("slow", slowOn(trace, started, lateMillis), Duration.millis(timeoutMillis))],
        policy: { toolFailure: "report" }
      })
      return runWith(agent, model(["slow"], (request) => {
        const part = request.contents.at(-1)?.parts[0]
        if (part?._tag === "FunctionResponse") trace.toldModel = `${part.isError ? "error" : "success"}: ${JSON.stringify(part.output)}`
      }))
    },
    orphan: (trace, started, signal) => {
      const agent = Agent.make({ name: "orphan", instructions: "", tools: [fromPromise("slow", slowOn(trace, started, slowMillis))] })
      return runWith(agent, model(["slow"]), signal)
    }
  })
}

// -----------------------------------------------------------------------------
// Vercel AI SDK
// -----------------------------------------------------------------------------

const aiSdkBehaviour = (): Promise<Behaviour> => {
  const model = (calls: ReadonlyArray<string>, onSecond?: (prompt: ReadonlyArray<any>) => void) =>
    aiModel(async (prompt) => {
      if (prompt.length === 1) return aiResult(calls.map((name) => ({ name, args: {} })), "done")
      onSecond?.(prompt)
      return aiResult([], "done")
    })
  const slowTool = (trace: Trace, started: number, millis: number) => {
    const slow = slowOn(trace, started, millis)
    return aiTool({ description: "slow", inputSchema: z.object({}), execute: (_input, { abortSignal }) => slow(abortSignal) })
  }
  return behaviourOf({
    sibling: (trace, started) =>
      generateText({
        model: model(["fail", "slow"]),
        tools: {
          fail: aiTool({ description: "fail", inputSchema: z.object({}), execute: failing(trace, started) }),
          slow: slowTool(trace, started, slowMillis)
        },
        prompt: "go",
        stopWhen: stepCountIs(5)
      }),
    late: (trace, started) =>
      generateText({
        model: model(["slow"], (prompt) => {
          const part = prompt.at(-1)?.content?.[0]
          trace.toldModel = part?.output?.type?.startsWith("error") ? `error: ${JSON.stringify(part.output.value)}` : `success: ${JSON.stringify(part?.output?.value)}`
        }),
        tools: { slow: slowTool(trace, started, lateMillis) },
        timeout: { toolMs: timeoutMillis },
        prompt: "go",
        stopWhen: stepCountIs(5)
      }),
    orphan: (trace, started, signal) =>
      generateText({ model: model(["slow"]), tools: { slow: slowTool(trace, started, slowMillis) }, prompt: "go", abortSignal: signal, stopWhen: stepCountIs(5) })
  })
}

// -----------------------------------------------------------------------------
// OpenAI Agents
// -----------------------------------------------------------------------------

const openaiBehaviour = (): Promise<Behaviour> => {
  const model = (calls: ReadonlyArray<string>, onSecond?: (input: ReadonlyArray<any>) => void) =>
    agentsModel(async (input) => {
      if (callsSoFar(input) === 0) return agentsResponse(calls.map((name) => ({ name, args: {} })), "done")
      if (typeof input !== "string") onSecond?.(input)
      return agentsResponse([], "done")
    })
  const slowTool = (trace: Trace, started: number, millis: number, timeoutMs?: number) => {
    const slow = slowOn(trace, started, millis)
    return openaiTool({
      name: "slow",
      description: "slow",
      parameters: z.object({}),
      execute: (_input, _context, details) => slow(details?.signal),
      ...(timeoutMs !== undefined ? { timeoutMs } : {})
    })
  }
  return behaviourOf({
    sibling: (trace, started) =>
      runOpenAI(
        new OpenAIAgent({
          name: "sibling",
          tools: [openaiTool({ name: "fail", description: "fail", parameters: z.object({}), execute: failing(trace, started) }), slowTool(trace, started, slowMillis)],
          model: model(["fail", "slow"])
        }),
        "go"
      ),
    late: (trace, started) =>
      runOpenAI(
        new OpenAIAgent({
          name: "late",
          tools: [slowTool(trace, started, lateMillis, timeoutMillis)],
          model: model(["slow"], (input) => {
            const result = input.find((item) => item.type === "function_call_result")
            const output = JSON.stringify(result?.output)
            trace.toldModel = output?.includes("late") && !output.includes("timed out") ? `success: ${output}` : `error: ${output}`
          })
        }),
        "go"
      ),
    orphan: (trace, started, signal) =>
      runOpenAI(new OpenAIAgent({ name: "orphan", tools: [slowTool(trace, started, slowMillis)], model: model(["slow"]) }), "go", { signal })
  })
}

// -----------------------------------------------------------------------------
// the hand-written Promise loop
// -----------------------------------------------------------------------------

const promiseBehaviour = (): Promise<Behaviour> => {
  const model = (calls: ReadonlyArray<string>, onSecond?: (contents: ReadonlyArray<any>) => void): PromiseModel => async (request) => {
    if (request.contents.length === 1) return promiseResponse(calls.map((name, i) => ({ _tag: "FunctionCall", id: `call_${i}`, name, args: {} })))
    onSecond?.(request.contents)
    return promiseResponse([{ _tag: "Text", text: "done" }])
  }
  const withTimeout = (work: Promise<unknown>, millis: number) =>
    Promise.race([work, sleep(millis).then(() => Promise.reject(new Error(`timed out after ${millis} ms`)))])
  return behaviourOf({
    sibling: (trace, started) => {
      const tools = new Map([["fail", failing(trace, started)], ["slow", () => slowOn(trace, started, slowMillis)(undefined)]])
      return promiseRun(model(["fail", "slow"]), promiseCallTool(tools), "go")
    },
    late: (trace, started) => {
      const tools = new Map([["slow", () => withTimeout(slowOn(trace, started, lateMillis)(undefined), timeoutMillis)]])
      return promiseRun(
        model(["slow"], (contents) => {
          const part = contents.at(-1)?.parts[0]
          trace.toldModel = `${part?.isError ? "error" : "success"}: ${JSON.stringify(part?.output)}`
        }),
        promiseCallTool(tools),
        "go"
      )
    },
    orphan: (trace, started, signal) => {
      const tools = new Map([["slow", () => slowOn(trace, started, slowMillis)(undefined)]])
      const gaveUp = new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason), { once: true }))
      return Promise.race([promiseRun(model(["slow"]), promiseCallTool(tools), "go"), gaveUp])
    }
  })
}

export const behaviours: ReadonlyArray<{ readonly key: string; readonly name: string; readonly run: () => Promise<Behaviour> }> = [
  { key: "effect-agents", name: "effect-agents", run: effectAgentsBehaviour },
  { key: "ai", name: "Vercel AI SDK 7", run: aiSdkBehaviour },
  { key: "openai", name: "OpenAI Agents 0.20", run: openaiBehaviour },
  { key: "promise", name: "hand-written Promise loop", run: promiseBehaviour }
]
