/**
 * The systems the root benchmarks measure: effect-agents, the bare Effect 3 floor and the
 * hand-written Promise loop, each running the zero-latency shapes and the real-latency
 * conversation. `bench/peers` adds the peers and the Effect 4 floor beside them.
 */
import { Agent, AgentError, Model, Tool } from "@effect-agents/core"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import {
  allAtOnce,
  answer as realAnswer,
  holdTurn,
  lookup,
  modelMillis,
  modelWait,
  partsAt,
  prompt,
  type RealLatency,
  sleep,
  toolMillis,
  turnOf
} from "./conversation.js"
import { floor } from "./floor.js"
import { range } from "./measure.js"
import {
  add,
  answer,
  check,
  isFirstTurn,
  multiply,
  promiseCallTool,
  promiseLoop,
  type PromiseModel,
  promiseResponse,
  promiseRun,
  question,
  type Scenario,
  type ZeroLatency
} from "./zeroLatency.js"

/** A system as the benchmarks see it. */
export interface System {
  readonly key: string
  readonly name: string
  readonly realLatency: RealLatency
  readonly zeroLatency: ZeroLatency
}

// -----------------------------------------------------------------------------
// effect-agents
// -----------------------------------------------------------------------------

const numbers = Schema.Struct({ a: Schema.Number, b: Schema.Number })

const mathTools = [
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

/** The zero-latency agent: `add` and `multiply`, answering at once. */
export const mathAgent = Agent.make({ name: "math", instructions: "Use the tools.", tools: mathTools })

const lookupTool = Tool.make("lookup", {
  description: "Look a number up",
  parameters: Schema.Struct({ q: Schema.Number }),
  success: Schema.Number,
  handler: ({ q }) => Effect.as(Effect.sleep(toolMillis), lookup(q))
})

/** The real-latency agent: one `lookup` tool that answers after 20 ms. */
const lookupAgent = Agent.make({ name: "lookup", instructions: "Look the numbers up.", tools: [lookupTool] })

const response = (parts: Model.ModelResponse["parts"]): Model.ModelResponse => ({
  parts,
  usage: Model.emptyUsage,
  finishReason: parts.some((part) => part._tag === "FunctionCall") ? "tool-calls" : "stop"
})

/** A model service from a `generate` function: `stream` answers in one chunk. It records nothing. */
const fakeModel = (generate: Model.Model.Service["generate"]): Model.Model.Service => ({
  generate,
  stream: (request) => Stream.fromEffect(generate(request))
})

const modelWaits = range(3).map((turn) => Effect.as(Effect.sleep(modelMillis), response(partsAt(turn))))
const modelAnswers = range(3).map((turn) => response(partsAt(turn)))

const unavailable = (cause: unknown) => new AgentError.ModelUnavailable({ detail: String(cause) })

/**
 * effect-agents' real-latency conversations, run with `options` (`{ events: false }`: no events
 * built). `kind`: `"promise"` is a model made as the Gemini layer makes it (`Model.fromPromise`),
 * waiting as the peers' fake models and the Promise loop do; `"effect"` waits with `Effect.sleep`,
 * a model written in Effect (its timeout needs a fiber per call).
 */
const agentsAtLatency = (options: Agent.RunOptions | undefined, kind: "promise" | "effect"): RealLatency => ({
  conversations: (n, done, hold) => {
    const model = fakeModel((request) => {
      const turn = turnOf(request.contents)
      if (kind === "promise") {
        // the same wait as the peers' fake models and the Promise loop
        return Model.fromPromise(() => modelWait(turn, hold).then(() => modelAnswers[turn]!), unavailable)
      }
      return hold !== undefined && turn === holdTurn
        ? Effect.zipRight(Effect.sync(() => hold.holding++), Effect.as(Effect.promise(() => hold.opened), response(partsAt(turn))))
        : modelWaits[turn]!
    })
    return Effect.runPromise(
      Effect.forEach(range(n), (i) =>
        Effect.map(Agent.run(lookupAgent, prompt, options), (result) => {
          check(result.text, realAnswer)
          done(i)
        }), { concurrency: "unbounded", discard: true }).pipe(Effect.provideService(Model.Model, model))
    )
  }
})

/** effect-agents' zero-latency runs, with `options`. */
function agentsAtZeroLatency(options?: Agent.RunOptions): ZeroLatency {
  return (scenario: Scenario, runs: number) => {
    const calls = Effect.succeed(response(scenario.calls.map((call, i) => ({ _tag: "FunctionCall", id: `call_1_${i}`, name: call.name, args: call.args }))))
    const text = Effect.succeed(response([{ _tag: "Text", text: answer }]))
    const model = fakeModel((request) => isFirstTurn(request.contents) ? calls : text)
    const conversation = Agent.run(mathAgent, question, options)
    return Effect.runPromise(
      Effect.gen(function*() {
        for (let i = 0; i < runs; i++) check((yield* conversation).text)
      }).pipe(Effect.provideService(Model.Model, model))
    )
  }
}

const effectAgents: System = {
  key: "effect-agents",
  name: "effect-agents",
  realLatency: agentsAtLatency(undefined, "promise"),
  zeroLatency: agentsAtZeroLatency()
}

/** effect-agents run with `{ events: false }`: the same conversations, no events built. */
const effectAgentsQuiet: System = {
  key: "effect-agents-quiet",
  name: "effect-agents, events: false",
  realLatency: agentsAtLatency({ events: false }, "promise"),
  zeroLatency: agentsAtZeroLatency({ events: false })
}

/** effect-agents with a model written in Effect (`Effect.sleep`): each call's timeout runs it in a fiber of its own. */
const effectAgentsEffectModel: System = {
  key: "effect-agents-effect-model",
  name: "effect-agents, Effect model",
  realLatency: agentsAtLatency(undefined, "effect"),
  zeroLatency: agentsAtZeroLatency()
}

// -----------------------------------------------------------------------------
// the bare Effect 3 floor and the Promise loop
// -----------------------------------------------------------------------------

const effect3 = floor(Effect)

const effect3Floor: System = {
  key: "effect3",
  name: "bare Effect 3 floor",
  ...effect3
}

const lookupTools = new Map([["lookup", async (args: unknown) => {
  const { q } = args as { q: unknown }
  if (typeof q !== "number") throw new TypeError("q must be a number")
  await sleep(toolMillis)
  return lookup(q)
}]])
const callLookup = promiseCallTool(lookupTools)
const promiseResponses = range(3).map((turn) => promiseResponse(partsAt(turn)))

const promise: System = {
  key: "promise",
  name: "hand-written Promise loop",
  realLatency: {
    conversations: (n, done, hold) => {
      const generate: PromiseModel = async (request) => {
        const turn = turnOf(request.contents)
        await modelWait(turn, hold)
        return promiseResponses[turn]!
      }
      return allAtOnce(n, done, async () => (await promiseRun(generate, callLookup, prompt)).text)
    }
  },
  zeroLatency: promiseLoop(false)
}

/** The systems of the root benchmarks, by key. */
export const systems: ReadonlyArray<System> = [effectAgents, effectAgentsQuiet, effectAgentsEffectModel, effect3Floor, promise]
