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
import type * as Guardrail from "./Guardrail.js"
import * as Handoff from "./Handoff.js"
import * as guardrail from "./internal/guardrail.js"
import { isNested as isNestedTool } from "./internal/compile.js"
import { parametersJsonSchema } from "./internal/jsonSchema.js"
import * as internal from "./internal/run.js"
import * as validate from "./internal/validate.js"
import type { Model, Usage } from "./Model.js"
import * as Policy from "./Policy.js"
import * as Tool from "./Tool.js"
import * as Toolkit from "./Toolkit.js"

/**
 * @since 0.1.0
 */
export const TypeId: unique symbol = Symbol.for("@effect-agents/core/Agent")

/**
 * An agent. `R` is what its tools and handoff targets need; `A` is its final answer
 * (`RunResult.output`): the text, or the value decoded with its `output` Schema.
 *
 * @since 0.1.0
 */
export interface Agent<out R = never, out A = string> extends Pipeable {
  readonly [TypeId]: { readonly _R: (_: never) => R; readonly _A: (_: never) => A }
  readonly name: string
  readonly description: string
  readonly instructions: string
  readonly tools: ReadonlyArray<Tool.Any>
  /** The toolsets whose current tools join `tools` at every turn (`Toolkit.toolset(name)`). */
  readonly toolsets: ReadonlyArray<string>
  readonly handoffs: ReadonlyArray<Handoff.Any>
  readonly policy: Policy.Policy
  /** Structured output: the Schema the final answer is decoded with; `undefined` for a text answer. */
  readonly output: Schema.Schema<any, any> | undefined
  /** Its guardrails (see `Guardrail`); empty lists when it has none. */
  readonly guardrails: {
    readonly input: ReadonlyArray<Guardrail.Input<any>>
    readonly output: ReadonlyArray<Guardrail.Output<any>>
    readonly tools: ReadonlyArray<Guardrail.Tool<any, any, any>>
  }
}

/**
 * @since 0.1.0
 */
export interface Any extends Agent<any, any> {}

/**
 * @since 0.1.0
 */
export type Requirements<A> = A extends Agent<infer R, any> ? R : never

/**
 * @since 0.1.0
 */
export const isAgent = (u: unknown): u is Any => typeof u === "object" && u !== null && TypeId in u

const Proto = {
  [TypeId]: { _R: (_: never) => _, _A: (_: never) => _ },
  pipe() {
    return pipeArguments(this, arguments)
  }
}

const makeAgent = (fields: Omit<Agent<any, any>, typeof TypeId | "pipe">): Agent<any, any> =>
  Object.assign(Object.create(Proto), fields)

/**
 * @since 0.1.0
 */
export interface Options<
  Tools extends ReadonlyArray<Tool.Any>,
  Handoffs extends ReadonlyArray<Handoff.Any>,
  A = string,
  I = A,
  Toolsets extends ReadonlyArray<string> = [],
  Guards extends Guardrail.Guardrails = {}
> {
  readonly name: string
  readonly instructions: string
  /** What the agent is for; shown to other agents that can hand off to it. */
  readonly description?: string | undefined
  readonly tools?: Tools | Toolkit.Toolkit<Tools> | undefined
  /**
   * Toolsets by name: tools known only once a resource is up, such as an MCP server's
   * (`McpToolset.layer({ name, ... })` provides the toolset `name`). Their current tools join the
   * agent's own at every turn: a server that lists a new tool mid-run shows it to the next model
   * request, and a call to a tool gone since is answered as an unknown tool. The agent requires
   * each toolset (`Toolkit.ToolsetId<name>`).
   */
  readonly toolsets?: Toolsets | undefined
  readonly handoffs?: Handoffs | undefined
  readonly policy?: Policy.Options | undefined
  /**
   * Structured output: the final answer is JSON decoded with this Schema (an object schema)
   * into `RunResult.output`. An answer that does not decode goes back to the model with the
   * Schema error, at most `policy.maxOutputRetries` times (default 2), then the run fails with
   * `OutputInvalid`. After a handoff, the answering agent's Schema applies.
   */
  readonly output?: Schema.Schema<A, I> | undefined
  /**
   * Checks that run beside the work and stop it when they trip (see `Guardrail`): `input` on
   * the run's input, beside the first model call (for the agent a run starts with); `output` on
   * the final answer (of the agent that answers); `tools` on every call of the agent's tools.
   */
  readonly guardrails?: Guards | undefined
}

/**
 * Make an agent. Its configuration is checked here, so a mistake fails where it is written
 * rather than as a silently wrong run; each check throws an `IllegalArgumentException` naming
 * the agent, the value and the rule:
 *
 * - the name is a non-empty string without `/` (the separator of agent paths);
 * - tool names, and the `transfer_to_<name>` names of handoffs, are names Gemini accepts: letters,
 *   digits, `_ . : -`, starting with a letter or `_`, at most 64 characters;
 * - no two tools or handoffs share a name: a tool named like a handoff (`transfer_to_math` beside
 *   `Handoff.to(math)`) and two handoff targets mapping to the same tool name (`"a b"` and `"a_b"`)
 *   are refused;
 * - `toolsets` are toolset names (non-empty strings), each given once;
 * - the policy values (see `Policy.Options`);
 * - an `output` Schema is an object schema Gemini accepts (as for tool parameters);
 * - `guardrails` lists guardrails of their stage, and no two guardrails the agent runs (a tool's
 *   own ones included) share a name.
 *
 * A lazy handoff target (`Handoff.to(() => agent)`) is checked when a run first resolves it: a
 * problem then ends that run with the same message, as a defect (`IllegalArgumentException`);
 * so does a function that returns no agent.
 *
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
 * @category constructors
 */
export const make = <
  const Tools extends ReadonlyArray<Tool.Any> = [],
  const Handoffs extends ReadonlyArray<Handoff.Any> = [],
  A = string,
  I = A,
  const Toolsets extends ReadonlyArray<string> = [],
  const Guards extends Guardrail.Guardrails = {}
>(
  options: Options<Tools, Handoffs, A, I, Toolsets, Guards>
): Agent<
  | Tool.Requirements<Tools[number]>
  | Handoff.Requirements<Handoffs[number]>
  | Toolkit.ToolsetRequirements<Toolsets[number]>
  | Guardrail.Requirements<Guards>,
  A
> => {
  validate.agentName(options.name)
  const subject = `agent "${options.name}"`
  const tools: ReadonlyArray<Tool.Any> = options.tools === undefined
    ? []
    : Toolkit.isToolkit(options.tools)
    ? options.tools.tools
    : options.tools as ReadonlyArray<Tool.Any>
  const toolNames = new Set<string>()
  tools.forEach((tool, i) => {
    if (!Tool.isTool(tool)) throw validate.invalid(subject, `tools[${i}] is not a tool, got ${validate.show(tool)}`)
    const problem = validate.toolNameProblem(tool.name)
    if (problem !== undefined) throw validate.invalid(subject, problem)
    if (toolNames.has(tool.name)) throw validate.invalid(subject, `two tools are named "${tool.name}"`)
    toolNames.add(tool.name)
  })
  const handoffs = options.handoffs ?? []
  handoffs.forEach((handoff, i) => {
    if (!Handoff.isHandoff(handoff)) {
      throw validate.invalid(subject, `handoffs[${i}] is not a handoff (make one with Handoff.to), got ${validate.show(handoff)}`)
    }
  })
  return makeAgent({
    name: options.name,
    description: options.description ?? "",
    instructions: options.instructions,
    tools,
    toolsets: checkedToolsets(subject, options.toolsets),
    handoffs: checkedHandoffs(subject, toolNames, handoffs),
    policy: Policy.make(options.policy),
    output: checkedOutput(subject, options.output),
    guardrails: guardrail.checked(subject, options.guardrails, tools)
  })
}

/** Toolset names: non-empty strings, each named once. */
const checkedToolsets = (subject: string, toolsets: unknown): ReadonlyArray<string> => {
  if (toolsets === undefined) return []
  if (!Array.isArray(toolsets)) throw validate.invalid(subject, `toolsets must be an array of toolset names, got ${validate.show(toolsets)}`)
  toolsets.forEach((name, i) => {
    if (typeof name !== "string" || name.length === 0) {
      throw validate.invalid(subject, `toolsets[${i}] must be a toolset's name (a non-empty string), got ${validate.show(name)}`)
    }
    if (toolsets.indexOf(name) !== i) throw validate.invalid(subject, `the toolset "${name}" is named twice`)
  })
  return toolsets.slice()
}

/** An output Schema, checked to have a JSON Schema Gemini accepts (the run loop derives it again, once). */
const checkedOutput = (subject: string, output: unknown): Schema.Schema<any, any> | undefined => {
  if (output === undefined) return undefined
  if (!Schema.isSchema(output)) throw validate.invalid(subject, `output is not a Schema, got ${validate.show(output)}`)
  try {
    parametersJsonSchema(output as Schema.Schema.AnyNoContext, "output")
  } catch (error) {
    const reason = String((error as Error).message).replace(/^.*?its parameters schema /, "")
    throw validate.invalid(subject, `the output Schema ${reason} (the answer is sent as a tool's arguments where JSON mode cannot be used)`)
  }
  return output as Schema.Schema<any, any>
}

/**
 * The handoffs, their tool names checked against each other and the agent's tools: the known
 * targets at once, all of them again when the run loop first resolves a target (a lazy target may
 * not exist before then). Resolved targets are kept; a failed check is thrown again at each run.
 */
const checkedHandoffs = (
  subject: string,
  toolNames: ReadonlySet<string>,
  handoffs: ReadonlyArray<Handoff.Any>
): ReadonlyArray<Handoff.Any> => {
  const known = handoffs.filter((handoff) => validate.knownTargets.has(handoff))
  checkHandoffNames(subject, toolNames, known.map((handoff) => targetOf(subject, handoff, handoffs.indexOf(handoff))))
  if (known.length === handoffs.length) return handoffs
  let targets: ReadonlyArray<Any> | undefined
  const resolve = (): ReadonlyArray<Any> => {
    if (targets === undefined) {
      const resolved = handoffs.map((handoff, i) => targetOf(subject, handoff, i))
      checkHandoffNames(subject, toolNames, resolved)
      targets = resolved
    }
    return targets
  }
  return handoffs.map((handoff, i) => ({ ...handoff, target: () => resolve()[i]! }))
}

/** Resolve a handoff target, refusing anything but an agent with a message naming the declaring agent. */
const targetOf = (subject: string, handoff: Handoff.Any, i: number): Any => {
  let target: unknown
  try {
    target = handoff.target()
  } catch (error) {
    throw validate.invalid(subject, `the target of handoffs[${i}] could not be resolved: ${String(error)}`)
  }
  if (isAgent(target)) return target
  throw validate.invalid(
    subject,
    validate.knownTargets.has(handoff)
      ? `handoffs[${i}] targets ${validate.show(target)} instead of an agent`
      : `the function given to Handoff.to (handoffs[${i}]) returned ${validate.show(target)} instead of an agent; ` +
        `is the target agent defined before the first run?`
  )
}

/** Handoff tool names are Gemini names, distinct from each other and from the agent's tools. */
const checkHandoffNames = (subject: string, toolNames: ReadonlySet<string>, targets: ReadonlyArray<Any>): void => {
  const seen = new Map<string, string>()
  for (const target of targets) {
    const name = Handoff.toolName(target.name)
    const problem = validate.toolNameProblem(name)
    if (problem !== undefined) {
      throw validate.invalid(subject, `the handoff to agent "${target.name}": ${problem}; give that agent a shorter name`)
    }
    if (toolNames.has(name)) {
      throw validate.invalid(subject, `the tool "${name}" has the name of the handoff to agent "${target.name}"; rename the tool`)
    }
    const other = seen.get(name)
    if (other !== undefined) {
      throw validate.invalid(
        subject,
        other === target.name
          ? `two handoffs go to an agent named "${other}"; declare each target once`
          : `the handoffs to agents "${other}" and "${target.name}" both become the tool "${name}"; rename one of the agents`
      )
    }
    seen.set(name, target.name)
  }
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
  (options: Policy.Options): <R, A>(self: Agent<R, A>) => Agent<R, A>
  <R, A>(self: Agent<R, A>, options: Policy.Options): Agent<R, A>
} = dual(2, <R, A>(self: Agent<R, A>, options: Policy.Options): Agent<R, A> =>
  makeAgent({ ...self, policy: Policy.make(options, self.policy) }))

/**
 * A copy of the agent whose tools are `f(tool)`, and so are those of its handoff targets (a
 * handoff goes to the target's copy, cycles included). Tools made by `Agent.asTool` are kept as
 * they are (they run a whole agent), and so are tools from toolsets (they are known only at each
 * turn). `f` must keep the tool's name and declaration. The copies are made once per call.
 *
 * @example
 * ```ts
 * import { Agent, Tool } from "@effect-agents/core"
 * import { Effect } from "effect"
 * declare const math: Agent.Agent
 *
 * // log every call of every tool, handoff targets included
 * const logged = Agent.mapTools(math, (tool): Tool.Any =>
 *   Object.assign(Object.create(Object.getPrototypeOf(tool)), tool, {
 *     handler: (params: unknown, call?: Tool.Call) =>
 *       Effect.zipRight(Effect.log(`calling ${tool.name}`), tool.handler(params, call))
 *   }))
 * ```
 * @since 0.1.0
 * @category combinators
 */
export const mapTools = <R, A>(self: Agent<R, A>, f: (tool: Tool.Any) => Tool.Any): Agent<R, A> => {
  const copies = new Map<Any, Any>()
  const copy = (agent: Any): Any => {
    const found = copies.get(agent)
    if (found !== undefined) return found
    const mapped: Any = Object.assign(Object.create(Proto), agent, {
      tools: agent.tools.map((tool) => isNestedTool(tool) ? tool : f(tool)),
      handoffs: agent.handoffs.map((handoff): Handoff.Any => ({ ...handoff, target: () => copy(handoff.target()) }))
    })
    copies.set(agent, mapped)
    return mapped
  }
  return copy(self) as Agent<R, A>
}

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
export interface RunResult<out A = string> {
  readonly runId: string
  /** Path of the agent that answered (`triage/math` after a handoff). */
  readonly agent: string
  readonly text: string
  /**
   * The final answer: the text, or, for an agent made with `output`, the value decoded with
   * that Schema (after a handoff, the answering agent's Schema).
   */
  readonly output: A
  /** The whole conversation; pass it back as `{ prompt, history }` to continue. */
  readonly history: History
  readonly usage: Usage
  readonly turns: number
  /** What happened, in order; empty for a run made with `{ events: false }`. */
  readonly events: ReadonlyArray<AgentEvent>
}

/**
 * Options of {@link run}.
 *
 * - `events: false`: the run builds no event and `RunResult.events` is empty. A waiting
 *   conversation then holds less memory and each step costs less CPU (see the README's
 *   "Performance"); spans, timeouts, retries and cancellation are unchanged.
 *
 * @since 0.1.0
 * @category models
 * @example
 * ```ts
 * import { Agent } from "@effect-agents/core"
 * declare const math: Agent.Agent
 *
 * // a server that answers many conversations and never reads their events
 * const answer = (prompt: string) => Agent.run(math, prompt, { events: false })
 * ```
 */
export interface RunOptions {
  readonly events?: boolean | undefined
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
  (input: Input, options?: RunOptions): <R, A>(self: Agent<R, A>) => Effect.Effect<RunResult<A>, AgentError, Model | R>
  <R, A>(self: Agent<R, A>, input: Input, options?: RunOptions): Effect.Effect<RunResult<A>, AgentError, Model | R>
} = dual(
  (args) => isAgent(args[0]),
  <R, A>(self: Agent<R, A>, input: Input, options?: RunOptions): Effect.Effect<RunResult<A>, AgentError, Model | R> =>
    internal.run(self, input, options)
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
  (input: Input): <R, A>(self: Agent<R, A>) => Stream.Stream<AgentEvent, AgentError, Model | R>
  <R, A>(self: Agent<R, A>, input: Input): Stream.Stream<AgentEvent, AgentError, Model | R>
} = dual(
  (args) => isAgent(args[0]),
  <R, A>(self: Agent<R, A>, input: Input): Stream.Stream<AgentEvent, AgentError, Model | R> => internal.stream(self, input)
)

const AsToolInput = Schema.Struct({ input: Schema.String.annotations({ description: "The task for the agent" }) })

/**
 * Expose an agent as a tool: the calling agent delegates a task and gets the sub-agent's
 * answer back as the tool result (the conversation stays with the caller): its text, or its
 * typed output (encoded with its `output` Schema) for an agent made with `output`. The sub-agent's
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
export const asTool = <R, A = string, const Name extends string = string>(
  agent: Agent<R, A>,
  options?: { readonly name?: Name | undefined; readonly description?: string | undefined }
): Tool.Tool<Name, { readonly input: string }, A, AgentError, Model | R> =>
  internal.markNested(Tool.make<Name, typeof AsToolInput, Schema.Schema<any, any>, AgentError, Model>((options?.name ?? agent.name) as Name, {
    description: options?.description ?? (agent.description || `Ask the ${agent.name} agent`),
    parameters: AsToolInput,
    success: agent.output ?? Schema.String,
    // the sub-agent's own requirements (`R`) never include a `Scope`: its tools scope their own calls
    handler: ({ input }) => internal.runNested(agent, input) as Effect.Effect<any, AgentError, Model>
  })) as unknown as Tool.Tool<Name, { readonly input: string }, A, AgentError, Model | R>
