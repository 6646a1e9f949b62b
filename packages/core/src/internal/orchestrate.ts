import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Agent from "../Agent.js"
import type { AgentError } from "../AgentError.js"
import type { AgentEvent } from "../AgentEvent.js"
import type { Model } from "../Model.js"
import * as Orchestrate from "../Orchestrate.js"
import * as Tool from "../Tool.js"
import * as concurrency from "./concurrency.js"
import { eventStream } from "./events.js"
import { runAt } from "./run.js"

/** One run of a group: an agent, its input and the root path its events carry. */
interface Branch<R> {
  readonly agent: Agent.Agent<R>
  readonly input: Agent.Input
  readonly path: string
}

const isInput = (u: unknown): u is Agent.Input =>
  typeof u === "string" || (typeof u === "object" && u !== null && !Array.isArray(u) && "prompt" in u)

/** Whether the arguments of a combinator start with what to run (data-first); a lone empty array is nothing to run. */
export const isDataFirst = (args: IArguments): boolean =>
  isEffects(args[0]) ||
  (args.length === 1 && Array.isArray(args[0]) && args[0].length === 0) ||
  (args.length >= 2 && (isInput(args[1]) || Array.isArray(args[1])))

const isEffects = (u: unknown): u is ReadonlyArray<Effect.Effect<unknown, unknown, unknown>> =>
  Array.isArray(u) && u.length > 0 && Effect.isEffect(u[0])

/**
 * Paths of a group's runs: each agent's name, numbered from 1 when the name repeats
 * (`math#1`, `math#2`), under `name/` when the group is named.
 */
const paths = (agents: ReadonlyArray<Agent.Any>, name: string | undefined): Array<string> => {
  const counts = new Map<string, number>()
  for (const agent of agents) counts.set(agent.name, (counts.get(agent.name) ?? 0) + 1)
  const seen = new Map<string, number>()
  return agents.map((agent) => {
    let label = agent.name
    if (counts.get(label)! > 1) {
      const n = (seen.get(label) ?? 0) + 1
      seen.set(label, n)
      label = `${label}#${n}`
    }
    return name === undefined ? label : `${name}/${label}`
  })
}

/** Several agents on one input, or one agent on several inputs. */
const branches = <R>(
  subject: Agent.Agent<R> | ReadonlyArray<Agent.Agent<R>>,
  input: Agent.Input | ReadonlyArray<Agent.Input>,
  name: string | undefined
): Array<Branch<R>> => {
  const agents: ReadonlyArray<Agent.Agent<R>> = Agent.isAgent(subject)
    ? (Array.isArray(input) ? input : [input]).map(() => subject)
    : subject as ReadonlyArray<Agent.Agent<R>>
  const inputs: ReadonlyArray<Agent.Input> = Agent.isAgent(subject)
    ? (Array.isArray(input) ? input : [input])
    : agents.map(() => input as Agent.Input)
  const named = paths(agents, name)
  return agents.map((agent, i) => ({ agent, input: inputs[i]!, path: named[i]! }))
}

export const parallel = <R>(
  subject: Agent.Agent<R> | ReadonlyArray<Agent.Agent<R>>,
  input: Agent.Input | ReadonlyArray<Agent.Input>,
  options?: Orchestrate.ParallelOptions
): Stream.Stream<AgentEvent, AgentError, Model | R> =>
  Stream.suspend(() => {
    const group = branches(subject, input, options?.name)
    const concurrency = options?.concurrency ?? "unbounded"
    return options?.mode === "settle-all"
      ? eventStream((emit) =>
        Effect.forEach(group, (b) => Effect.exit(runAt(b.agent, b.input, b.path, emit)), { concurrency, discard: true })
      )
      : eventStream((emit) => Effect.forEach(group, (b) => runAt(b.agent, b.input, b.path, emit), { concurrency, discard: true }))
  })

export const settle = <R>(
  subject: Agent.Agent<R> | ReadonlyArray<Agent.Agent<R>>,
  input: Agent.Input | ReadonlyArray<Agent.Input>,
  options?: Orchestrate.SettleOptions
): Effect.Effect<Array<Exit.Exit<Agent.RunResult, AgentError>>, never, Model | R> =>
  Effect.suspend(() => {
    const group = branches(subject, input, options?.name)
    const concurrency = options?.concurrency ?? "unbounded"
    const onEvent = options?.onEvent
    if (onEvent === undefined) {
      return Effect.forEach(group, (b) => Effect.exit(runAt(b.agent, b.input, b.path)), { concurrency })
    }
    let exits: Array<Exit.Exit<Agent.RunResult, AgentError>> = []
    return eventStream((emit) =>
      Effect.map(
        Effect.forEach(group, (b) => Effect.exit(runAt(b.agent, b.input, b.path, emit)), { concurrency }),
        (all) => {
          exits = all
        }
      )
    ).pipe(
      Stream.runForEach(onEvent),
      Effect.map(() => exits)
    )
  })

const allFailed = <E>(causes: ReadonlyArray<Cause.Cause<E>>): Cause.Cause<Orchestrate.AllFailed<E>> =>
  Cause.fail(new Orchestrate.AllFailed({ causes }) as Orchestrate.AllFailed<E>)

export const race = (...args: Array<any>): Effect.Effect<any, any, any> => {
  if (isEffects(args[0])) return concurrency.raceIndexed(args[0], allFailed)
  return Effect.suspend(() => {
    const group = branches(args[0], args[1], args[2]?.name)
    return concurrency.raceIndexed(group.map((b) => runAt(b.agent, b.input, b.path)), allFailed)
  })
}

export const asCompleted = (...args: Array<any>): Stream.Stream<any, any, any> =>
  Stream.suspend(() => {
    const [effects, options]: [ReadonlyArray<Effect.Effect<any, any, any>>, Orchestrate.GroupOptions | undefined] =
      isEffects(args[0]) || (Array.isArray(args[0]) && args[0].length === 0 && !isInput(args[1]))
        ? [args[0], args[1]]
        : [branches(args[0], args[1], args[2]?.name).map((b) => runAt(b.agent, b.input, b.path)), args[2]]
    return Stream.mergeAll(effects.map((effect) => Stream.fromEffect(effect)), {
      concurrency: options?.concurrency ?? "unbounded"
    })
  })

export const hedge = <A, E, R>(
  self: Effect.Effect<A, E, R>,
  options: Orchestrate.HedgeOptions
): Effect.Effect<A, Orchestrate.AllFailed<E>, R> => concurrency.hedge(self, options, allFailed)

export const sequential = <R>(
  agents: ReadonlyArray<Agent.Agent<R>>,
  input: Agent.Input,
  options?: Orchestrate.SequentialOptions
): Effect.Effect<Array<Agent.RunResult>, AgentError, Model | R> =>
  Effect.suspend(() => {
    const named = paths(agents, options?.name)
    const results: Array<Agent.RunResult> = []
    const step = (i: number, input: Agent.Input): Effect.Effect<Array<Agent.RunResult>, AgentError, Model | R> =>
      i === agents.length
        ? Effect.succeed(results)
        : Effect.flatMap(runAt(agents[i]!, input, named[i]!), (result) => {
          results.push(result)
          return step(i + 1, handover(result, i + 1, options))
        })
    return step(0, input)
  })

const handover = (
  previous: Agent.RunResult,
  index: number,
  options: { readonly history?: boolean | undefined; readonly next?: ((previous: Agent.RunResult, index: number) => Agent.Input) | undefined } | undefined
): Agent.Input =>
  options?.next !== undefined
    ? options.next(previous, index)
    : options?.history === true
    ? { prompt: previous.text, history: previous.history }
    : previous.text

// -----------------------------------------------------------------------------
// loop
// -----------------------------------------------------------------------------

/** The tool a looping agent calls to stop the loop (ADK's `exit_loop` / escalate). */
export const exitLoop = Tool.make("exit_loop", {
  description: "Stop the loop: call this when the work is done and needs no further iteration, then give your final answer.",
  parameters: Schema.Struct({
    reason: Schema.optional(Schema.String.annotations({ description: "Why the loop can stop" }))
  }),
  success: Schema.String,
  handler: () => Effect.succeed("The loop will stop after this answer.")
})

const withExitTool = new WeakMap<Agent.Any, Agent.Any>()

/** The agent with `exit_loop` among its tools (built once per agent). */
const loopingAgent = <R>(agent: Agent.Agent<R>): Agent.Agent<R> => {
  if (agent.tools.some((tool) => tool.name === exitLoop.name)) return agent
  let looping = withExitTool.get(agent)
  if (looping === undefined) {
    looping = Agent.make({
      name: agent.name,
      description: agent.description,
      instructions: agent.instructions,
      tools: [...agent.tools, exitLoop],
      handoffs: agent.handoffs,
      policy: agent.policy
    })
    withExitTool.set(agent, looping)
  }
  return looping as Agent.Agent<R>
}

const calledExit = (result: Agent.RunResult): boolean =>
  result.events.some((event) => event._tag === "ToolCallSucceeded" && event.tool === exitLoop.name)

export const loop = <R>(
  agent: Agent.Agent<R>,
  input: Agent.Input,
  options: Orchestrate.LoopOptions
): Effect.Effect<Orchestrate.LoopResult, AgentError | Orchestrate.MaxIterationsExceeded, Model | R> =>
  Effect.suspend(() => {
    const body = options.exitTool === false ? agent : loopingAgent(agent)
    const path = options.name === undefined ? agent.name : `${options.name}/${agent.name}`
    const results: Array<Agent.RunResult> = []
    const iterate = (
      iteration: number,
      input: Agent.Input
    ): Effect.Effect<Orchestrate.LoopResult, AgentError | Orchestrate.MaxIterationsExceeded, Model | R> =>
      Effect.flatMap(runAt(body, input, path), (result) => {
        results.push(result)
        const done = (stoppedBy: Orchestrate.LoopResult["stoppedBy"]): Orchestrate.LoopResult => ({
          last: result,
          results,
          iterations: iteration,
          stoppedBy
        })
        if (options.exitTool !== false && calledExit(result)) return Effect.succeed(done("exit-tool"))
        if (options.until !== undefined && options.until(result, iteration)) return Effect.succeed(done("until"))
        if (iteration >= options.maxIterations) {
          return Effect.fail(
            new Orchestrate.MaxIterationsExceeded({ agent: path, maxIterations: options.maxIterations, last: result.text })
          )
        }
        return iterate(iteration + 1, handover(result, iteration, options))
      })
    return iterate(1, input)
  })
