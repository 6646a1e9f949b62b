/**
 * Agents: immutable descriptions of a model-driven conversation loop with tools and handoffs.
 *
 * One agent serves any number of concurrent conversations: it holds no mutable state.
 * `Agent.run` returns the final answer; `Agent.stream` emits every `AgentEvent` as it happens.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import { pipeArguments, type Pipeable } from "effect/Pipeable"
import * as Schema from "effect/Schema"
import type * as Stream from "effect/Stream"
import type { AgentError } from "./AgentError.js"
import type { AgentEvent } from "./AgentEvent.js"
import type { History } from "./Content.js"
import type * as Handoff from "./Handoff.js"
import * as internal from "./internal/run.js"
import type { Model, Usage } from "./Model.js"
import * as Policy from "./Policy.js"
import * as Tool from "./Tool.js"
import * as Toolkit from "./Toolkit.js"

/**
 * @since 0.1.0
 */
export const TypeId: unique symbol = Symbol.for("@effect-agents/core/Agent")

/**
 * An agent. `R` is what its tools and handoff targets need.
 *
 * @since 0.1.0
 */
export interface Agent<out R = never> extends Pipeable {
  readonly [TypeId]: { readonly _R: (_: never) => R }
  readonly name: string
  readonly description: string
  readonly instructions: string
  readonly tools: ReadonlyArray<Tool.Any>
  readonly handoffs: ReadonlyArray<Handoff.Any>
  readonly policy: Policy.Policy
}

/**
 * @since 0.1.0
 */
export interface Any extends Agent<any> {}

/**
 * @since 0.1.0
 */
export type Requirements<A> = A extends Agent<infer R> ? R : never

/**
 * @since 0.1.0
 */
export const isAgent = (u: unknown): u is Any => typeof u === "object" && u !== null && TypeId in u

const Proto = {
  [TypeId]: { _R: (_: never) => _ },
  pipe() {
    return pipeArguments(this, arguments)
  }
}

const makeAgent = (fields: Omit<Agent<any>, typeof TypeId | "pipe">): Agent<any> =>
  Object.assign(Object.create(Proto), fields)

/**
 * @since 0.1.0
 */
export interface Options<Tools extends ReadonlyArray<Tool.Any>, Handoffs extends ReadonlyArray<Handoff.Any>> {
  readonly name: string
  readonly instructions: string
  /** What the agent is for; shown to other agents that can hand off to it. */
  readonly description?: string | undefined
  readonly tools?: Tools | Toolkit.Toolkit<Tools> | undefined
  readonly handoffs?: Handoffs | undefined
  readonly policy?: Policy.Options | undefined
}

/**
 * @example
 * ```ts
 * import { Agent, Tool } from "@effect-agents/core"
 * import { Schema } from "effect"
 *
 * const add = Tool.fromSync("add", {
 *   description: "Add two numbers",
 *   parameters: Schema.Struct({ a: Schema.Number, b: Schema.Number }),
 *   handler: ({ a, b }) => a + b
 * })
 * const math = Agent.make({
 *   name: "math",
 *   instructions: "Use the tools for every calculation.",
 *   tools: [add],
 *   policy: { maxTurns: 10, toolFailure: "fail-fast", toolConcurrency: 8 }
 * })
 * ```
 * @since 0.1.0
 */
export const make = <
  const Tools extends ReadonlyArray<Tool.Any> = [],
  const Handoffs extends ReadonlyArray<Handoff.Any> = []
>(
  options: Options<Tools, Handoffs>
): Agent<Tool.Requirements<Tools[number]> | Handoff.Requirements<Handoffs[number]>> => {
  const tools: ReadonlyArray<Tool.Any> = options.tools === undefined
    ? []
    : Toolkit.isToolkit(options.tools)
    ? options.tools.tools
    : options.tools as ReadonlyArray<Tool.Any>
  const names = new Set<string>()
  for (const tool of tools) {
    if (names.has(tool.name)) throw new Error(`Agent.make("${options.name}"): two tools are named "${tool.name}"`)
    names.add(tool.name)
  }
  return makeAgent({
    name: options.name,
    description: options.description ?? "",
    instructions: options.instructions,
    tools,
    handoffs: options.handoffs ?? [],
    policy: Policy.make(options.policy)
  })
}

/**
 * A copy of the agent with some policy fields changed.
 *
 * @example
 * ```ts
 * import { Agent } from "@effect-agents/core"
 * declare const math: Agent.Agent
 *
 * const patient = math.pipe(Agent.withPolicy({ maxTurns: 20, toolFailure: "report" }))
 * ```
 * @since 0.1.0
 */
export const withPolicy: {
  (options: Policy.Options): <R>(self: Agent<R>) => Agent<R>
  <R>(self: Agent<R>, options: Policy.Options): Agent<R>
} = dual(2, <R>(self: Agent<R>, options: Policy.Options): Agent<R> =>
  makeAgent({
    name: self.name,
    description: self.description,
    instructions: self.instructions,
    tools: self.tools,
    handoffs: self.handoffs,
    policy: Policy.make(options, self.policy)
  }))

/**
 * What to run: a prompt, optionally continuing an earlier conversation's history.
 *
 * @since 0.1.0
 */
export type Input = string | { readonly prompt: string; readonly history?: History | undefined }

/**
 * The outcome of a successful run.
 *
 * @since 0.1.0
 */
export interface RunResult {
  readonly runId: string
  /** Path of the agent that answered (`triage/math` after a handoff). */
  readonly agent: string
  readonly text: string
  /** The whole conversation; pass it back as `{ prompt, history }` to continue. */
  readonly history: History
  readonly usage: Usage
  readonly turns: number
  readonly events: ReadonlyArray<AgentEvent>
}

/**
 * Run a conversation to its final answer.
 *
 * @example
 * ```ts
 * import { Agent } from "@effect-agents/core"
 * import { Effect } from "effect"
 * declare const math: Agent.Agent
 *
 * // one agent, many conversations at once
 * const answers = Effect.forEach(
 *   ["What is 2 + 3 * 4?", "Roots of x^2 - 5x + 6?"],
 *   (prompt) => Agent.run(math, prompt),
 *   { concurrency: "unbounded" }
 * )
 * ```
 * @since 0.1.0
 */
export const run: {
  (input: Input): <R>(self: Agent<R>) => Effect.Effect<RunResult, AgentError, Model | R>
  <R>(self: Agent<R>, input: Input): Effect.Effect<RunResult, AgentError, Model | R>
} = dual(
  (args) => isAgent(args[0]),
  <R>(self: Agent<R>, input: Input): Effect.Effect<RunResult, AgentError, Model | R> => internal.run(self, input)
)

/**
 * Run a conversation and emit its events as they happen. Model text arrives as `TextDelta`s.
 * A consumer that stops early interrupts the run: model and tool calls in flight are
 * interrupted and their finalizers run.
 *
 * @example
 * ```ts
 * import { Agent } from "@effect-agents/core"
 * import { Console, Effect, Stream } from "effect"
 * declare const math: Agent.Agent
 *
 * const program = Agent.stream(math, "What is 2 + 3 * 4?").pipe(
 *   Stream.runForEach((event) => Console.log(event.timestamp, event.agent, event._tag))
 * )
 * ```
 * @since 0.1.0
 */
export const stream: {
  (input: Input): <R>(self: Agent<R>) => Stream.Stream<AgentEvent, AgentError, Model | R>
  <R>(self: Agent<R>, input: Input): Stream.Stream<AgentEvent, AgentError, Model | R>
} = dual(
  (args) => isAgent(args[0]),
  <R>(self: Agent<R>, input: Input): Stream.Stream<AgentEvent, AgentError, Model | R> => internal.stream(self, input)
)

const AsToolInput = Schema.Struct({ input: Schema.String.annotations({ description: "The task for the agent" }) })

/**
 * Expose an agent as a tool: the calling agent delegates a task and gets the sub-agent's
 * answer back as the tool result (the conversation stays with the caller). The sub-agent's
 * events join the caller's event stream under the path `caller/sub`.
 *
 * @example
 * ```ts
 * import { Agent } from "@effect-agents/core"
 * declare const stats: Agent.Agent
 *
 * const coordinator = Agent.make({
 *   name: "coordinator",
 *   instructions: "Delegate statistics questions.",
 *   tools: [Agent.asTool(stats, { description: "Answers statistics questions" })]
 * })
 * ```
 * @since 0.1.0
 */
export const asTool = <R, const Name extends string = string>(
  agent: Agent<R>,
  options?: { readonly name?: Name | undefined; readonly description?: string | undefined }
): Tool.Tool<Name, { readonly input: string }, string, AgentError, Model | R> =>
  internal.markNested(Tool.make<Name, typeof AsToolInput, typeof Schema.String, AgentError, Model>((options?.name ?? agent.name) as Name, {
    description: options?.description ?? (agent.description || `Ask the ${agent.name} agent`),
    parameters: AsToolInput,
    success: Schema.String,
    // the sub-agent's own requirements (`R`) never include a `Scope`: its tools scope their own calls
    handler: ({ input }) => internal.runNested(agent, input) as Effect.Effect<string, AgentError, Model>
  })) as Tool.Tool<Name, { readonly input: string }, string, AgentError, Model | R>
