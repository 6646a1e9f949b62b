/**
 * Orchestration: run agents in parallel (streaming their events as they happen), in sequence,
 * in a loop, as a race, or as they complete — with structured concurrency throughout: whatever
 * the combinator, a run that is no longer wanted (a sibling failed, a racer won, the consumer
 * stopped reading) is interrupted, its in-flight model and tool calls are aborted and its
 * finalizers have run before the combinator returns.
 *
 * The combinators that take agents come in two shapes: several agents on one input
 * (`parallel([researcher, critic], "topic")`) or one agent on several inputs
 * (`parallel(math, ["2 + 3?", "4 * 5?"])`). Each run's events carry its path: the agent's name,
 * numbered when it repeats in the group (`math#1`, `math#2`), under `name/` when the group is
 * named.
 *
 * @since 0.1.0
 */
import type * as Cause from "effect/Cause"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import { dual } from "effect/Function"
import * as Schema from "effect/Schema"
import type * as Stream from "effect/Stream"
import type * as Agent from "./Agent.js"
import type { AgentError } from "./AgentError.js"
import type { AgentEvent } from "./AgentEvent.js"
import { CauseSchema, describeCause } from "./internal/cause.js"
import * as internal from "./internal/orchestrate.js"
import type { Model } from "./Model.js"
import type * as Tool from "./Tool.js"

/**
 * Every contender of a race (or every copy of a hedged call) failed. `causes` holds each one's
 * failure, in input order.
 *
 * @example
 * ```ts
 * import { Orchestrate } from "@effect-agents/core"
 * import { Cause, Effect } from "effect"
 *
 * const program = Orchestrate.race([Effect.fail("a"), Effect.fail("b")]).pipe(
 *   Effect.catchTag("AllFailed", (e) => Effect.succeed(e.causes.map(Cause.pretty)))
 * )
 * ```
 * @since 0.1.0
 */
export class AllFailed<out E = unknown> extends Schema.TaggedError<AllFailed>()("AllFailed", {
  causes: Schema.Array(CauseSchema)
}) {
  declare readonly causes: ReadonlyArray<Cause.Cause<E>>
  override get message() {
    return `All ${this.causes.length} contenders failed: ${this.causes.map((c, i) => `#${i + 1}: ${describeCause(c)}`).join("; ")}`
  }
}

/**
 * A loop ran `maxIterations` times without stopping: the agent never called `exit_loop` and
 * `until` never held. `last` is the last iteration's answer.
 *
 * @since 0.1.0
 */
export class MaxIterationsExceeded extends Schema.TaggedError<MaxIterationsExceeded>()("MaxIterationsExceeded", {
  agent: Schema.String,
  maxIterations: Schema.Number,
  last: Schema.String
}) {
  override get message() {
    return `The loop of agent "${this.agent}" ran ${this.maxIterations} iterations (maxIterations) without stopping; raise maxIterations or check the stop condition.`
  }
}

/**
 * @since 0.1.0
 */
export interface GroupOptions {
  /** Runs at once. Default `"unbounded"`. */
  readonly concurrency?: number | "unbounded" | undefined
  /** Prefix of the runs' paths (`name/agent`). */
  readonly name?: string | undefined
}

/**
 * - `fail-fast` (default): asyncio `TaskGroup`. The first failing run interrupts the others
 *   (their finalizers run; their `ToolCallInterrupted` events still arrive) and the stream
 *   fails with its error.
 * - `settle-all`: `gather(return_exceptions=True)`. Every run goes to its end; a failure shows
 *   as that run's `RunFailed` event and the stream never fails because of it.
 *
 * @since 0.1.0
 */
export type Mode = "fail-fast" | "settle-all"

/**
 * @since 0.1.0
 */
export interface ParallelOptions extends GroupOptions {
  readonly mode?: Mode | undefined
}

/**
 * @since 0.1.0
 */
export interface SettleOptions extends GroupOptions {
  /** Called with every event as it happens, while the runs go on (model calls then stream). */
  readonly onEvent?: ((event: AgentEvent) => Effect.Effect<void>) | undefined
}

type ParallelError<O> = O extends { readonly mode: "settle-all" } ? never : AgentError

/**
 * Run agents concurrently and emit their events **as they happen**, each carrying its run's
 * path. Unlike the asyncio recipe that buffers every event until the slowest agent is done, a
 * fast agent's `RunCompleted` arrives at its own instant while the others still work.
 * Under `fail-fast` (default) the first failure interrupts the other runs and fails the
 * stream; under `settle-all` every run goes to its end. A consumer that stops early
 * (`Stream.take`, leaving a `for await` loop) interrupts every run and their finalizers run.
 *
 * @example
 * ```ts
 * import { Agent, Orchestrate } from "@effect-agents/core"
 * import { Console, Stream } from "effect"
 * declare const researcher: Agent.Agent
 * declare const critic: Agent.Agent
 *
 * const program = Orchestrate.parallel([researcher, critic], "Is coffee good for you?").pipe(
 *   Stream.runForEach((event) => Console.log(event.timestamp, event.agent, event._tag))
 * )
 * // one agent, several inputs: paths math#1, math#2
 * declare const math: Agent.Agent
 * const both = Orchestrate.parallel(math, ["2 + 3?", "4 * 5?"], { mode: "settle-all" })
 * ```
 * @since 0.1.0
 */
export const parallel: {
  <const O extends ParallelOptions = {}>(
    input: Agent.Input,
    options?: O
  ): <R>(agents: ReadonlyArray<Agent.Agent<R>>) => Stream.Stream<AgentEvent, ParallelError<O>, Model | R>
  <const O extends ParallelOptions = {}>(
    inputs: ReadonlyArray<Agent.Input>,
    options?: O
  ): <R>(agent: Agent.Agent<R>) => Stream.Stream<AgentEvent, ParallelError<O>, Model | R>
  <R, const O extends ParallelOptions = {}>(
    agents: ReadonlyArray<Agent.Agent<R>>,
    input: Agent.Input,
    options?: O
  ): Stream.Stream<AgentEvent, ParallelError<O>, Model | R>
  <R, const O extends ParallelOptions = {}>(
    agent: Agent.Agent<R>,
    inputs: ReadonlyArray<Agent.Input>,
    options?: O
  ): Stream.Stream<AgentEvent, ParallelError<O>, Model | R>
} = dual(internal.isDataFirst, internal.parallel)

/**
 * Run agents concurrently and collect every outcome, **in input order**, whatever fails: the
 * effectful `settle-all`. With `onEvent`, every event is also handed over as it happens.
 *
 * @example
 * ```ts
 * import { Agent, Orchestrate } from "@effect-agents/core"
 * import { Console, Effect, Exit } from "effect"
 * declare const math: Agent.Agent
 *
 * const program = Effect.gen(function*() {
 *   const exits = yield* Orchestrate.settle(math, ["2 + 3?", "4 * 5?"], {
 *     onEvent: (event) => Console.log(event.agent, event._tag)
 *   })
 *   for (const exit of exits) console.log(Exit.isSuccess(exit) ? exit.value.text : "failed")
 * })
 * ```
 * @since 0.1.0
 */
export const settle: {
  (
    input: Agent.Input,
    options?: SettleOptions
  ): <R>(
    agents: ReadonlyArray<Agent.Agent<R>>
  ) => Effect.Effect<Array<Exit.Exit<Agent.RunResult, AgentError>>, never, Model | R>
  (
    inputs: ReadonlyArray<Agent.Input>,
    options?: SettleOptions
  ): <R>(agent: Agent.Agent<R>) => Effect.Effect<Array<Exit.Exit<Agent.RunResult, AgentError>>, never, Model | R>
  <R>(
    agents: ReadonlyArray<Agent.Agent<R>>,
    input: Agent.Input,
    options?: SettleOptions
  ): Effect.Effect<Array<Exit.Exit<Agent.RunResult, AgentError>>, never, Model | R>
  <R>(
    agent: Agent.Agent<R>,
    inputs: ReadonlyArray<Agent.Input>,
    options?: SettleOptions
  ): Effect.Effect<Array<Exit.Exit<Agent.RunResult, AgentError>>, never, Model | R>
} = dual(internal.isDataFirst, internal.settle)

/**
 * Race agents (or any effects): the first success wins, the others are interrupted and their
 * finalizers have run when the race returns. If every contender fails, the race fails with
 * `AllFailed`, holding every failure in input order.
 *
 * @example
 * ```ts
 * import { Agent, Orchestrate } from "@effect-agents/core"
 * declare const fast: Agent.Agent
 * declare const thorough: Agent.Agent
 *
 * const answer = Orchestrate.race([fast, thorough], "Summarise this ticket")
 * ```
 * @since 0.1.0
 */
export const race: {
  <const Effects extends ReadonlyArray<Effect.Effect<any, any, any>>>(
    effects: Effects
  ): Effect.Effect<
    Effect.Effect.Success<Effects[number]>,
    AllFailed<Effect.Effect.Error<Effects[number]>>,
    Effect.Effect.Context<Effects[number]>
  >
  (
    input: Agent.Input,
    options?: Pick<GroupOptions, "name">
  ): <R>(agents: ReadonlyArray<Agent.Agent<R>>) => Effect.Effect<Agent.RunResult, AllFailed<AgentError>, Model | R>
  (
    inputs: ReadonlyArray<Agent.Input>,
    options?: Pick<GroupOptions, "name">
  ): <R>(agent: Agent.Agent<R>) => Effect.Effect<Agent.RunResult, AllFailed<AgentError>, Model | R>
  <R>(
    agents: ReadonlyArray<Agent.Agent<R>>,
    input: Agent.Input,
    options?: Pick<GroupOptions, "name">
  ): Effect.Effect<Agent.RunResult, AllFailed<AgentError>, Model | R>
  <R>(
    agent: Agent.Agent<R>,
    inputs: ReadonlyArray<Agent.Input>,
    options?: Pick<GroupOptions, "name">
  ): Effect.Effect<Agent.RunResult, AllFailed<AgentError>, Model | R>
} = dual(internal.isDataFirst, internal.race)

/**
 * The results of agents (or any effects) as a `Stream`, **in completion order** (Python's
 * `asyncio.as_completed`). A failure fails the stream and interrupts the rest (map the effects
 * through `Effect.either` to keep going). A consumer that stops early — `Stream.take(1)`, or
 * `break` out of a `for await` over `Stream.toAsyncIterable` — interrupts every run still going.
 *
 * @example
 * ```ts
 * import { Agent, Orchestrate } from "@effect-agents/core"
 * import { Stream } from "effect"
 * declare const math: Agent.Agent
 *
 * // the first two answers; the third run is interrupted
 * const firstTwo = Orchestrate.asCompleted(math, ["a?", "b?", "c?"]).pipe(Stream.take(2), Stream.runCollect)
 * ```
 * @since 0.1.0
 */
export const asCompleted: {
  <const Effects extends ReadonlyArray<Effect.Effect<any, any, any>>>(
    effects: Effects,
    options?: Pick<GroupOptions, "concurrency">
  ): Stream.Stream<
    Effect.Effect.Success<Effects[number]>,
    Effect.Effect.Error<Effects[number]>,
    Effect.Effect.Context<Effects[number]>
  >
  (
    input: Agent.Input,
    options?: GroupOptions
  ): <R>(agents: ReadonlyArray<Agent.Agent<R>>) => Stream.Stream<Agent.RunResult, AgentError, Model | R>
  (
    inputs: ReadonlyArray<Agent.Input>,
    options?: GroupOptions
  ): <R>(agent: Agent.Agent<R>) => Stream.Stream<Agent.RunResult, AgentError, Model | R>
  <R>(
    agents: ReadonlyArray<Agent.Agent<R>>,
    input: Agent.Input,
    options?: GroupOptions
  ): Stream.Stream<Agent.RunResult, AgentError, Model | R>
  <R>(
    agent: Agent.Agent<R>,
    inputs: ReadonlyArray<Agent.Input>,
    options?: GroupOptions
  ): Stream.Stream<Agent.RunResult, AgentError, Model | R>
} = dual(internal.isDataFirst, internal.asCompleted)

/**
 * @since 0.1.0
 */
export interface HedgeOptions {
  /** Start another copy when the latest one has not answered after this long. */
  readonly after: Duration.DurationInput
  /** Copies at most, the first included. Default 2. */
  readonly attempts?: number | undefined
}

/**
 * Hedge an effect against tail latency: start it, and start another copy each time `after`
 * passes without an answer (or at once when the latest copy fails), up to `attempts` copies.
 * The first success wins; the other copies are interrupted and their finalizers run. If every
 * copy fails: `AllFailed` with each copy's failure, in start order. For hedged model calls in
 * every run, see `Model.withHedging`.
 *
 * @example
 * ```ts
 * import { Orchestrate } from "@effect-agents/core"
 * import { Effect } from "effect"
 * declare const lookup: Effect.Effect<string>
 *
 * const fast = lookup.pipe(Orchestrate.hedge({ after: "200 millis", attempts: 3 }))
 * ```
 * @since 0.1.0
 */
export const hedge: {
  (options: HedgeOptions): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, AllFailed<E>, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, options: HedgeOptions): Effect.Effect<A, AllFailed<E>, R>
} = dual(2, internal.hedge)

/**
 * @since 0.1.0
 */
export interface SequentialOptions {
  /** Also pass the previous run's history, so the next agent sees the whole conversation. Default `false`. */
  readonly history?: boolean | undefined
  /** Build the input of agent `index` from the previous result (overrides `history`). Default: the previous answer's text. */
  readonly next?: ((previous: Agent.RunResult, index: number) => Agent.Input) | undefined
  /** Prefix of the runs' paths (`name/agent`). */
  readonly name?: string | undefined
}

/**
 * Run agents one after the other, each one's answer becoming the next one's prompt (and, with
 * `history: true`, its conversation too). Returns every result in order; the last one is the
 * pipeline's answer. The first failure stops the pipeline.
 *
 * @example
 * ```ts
 * import { Agent, Orchestrate } from "@effect-agents/core"
 * declare const writer: Agent.Agent
 * declare const editor: Agent.Agent
 *
 * const draftThenEdit = Orchestrate.sequential([writer, editor], "A haiku about fibers")
 * ```
 * @since 0.1.0
 */
export const sequential: {
  (
    input: Agent.Input,
    options?: SequentialOptions
  ): <R>(agents: ReadonlyArray<Agent.Agent<R>>) => Effect.Effect<Array<Agent.RunResult>, AgentError, Model | R>
  <R>(
    agents: ReadonlyArray<Agent.Agent<R>>,
    input: Agent.Input,
    options?: SequentialOptions
  ): Effect.Effect<Array<Agent.RunResult>, AgentError, Model | R>
} = dual((args) => Array.isArray(args[0]), internal.sequential)

/**
 * The tool a looping agent calls to stop its loop (ADK's `exit_loop`, the escalate signal).
 * `Orchestrate.loop` adds it to the agent unless `exitTool: false`; the run then finishes its
 * answer and the loop stops.
 *
 * @example
 * ```ts
 * import { Agent, Orchestrate } from "@effect-agents/core"
 *
 * const refiner = Agent.make({
 *   name: "refiner",
 *   instructions: "Improve the draft. When it needs no more work, call exit_loop.",
 *   tools: [Orchestrate.exitLoop]
 * })
 * ```
 * @since 0.1.0
 */
export const exitLoop: Tool.Tool<"exit_loop", { readonly reason?: string | undefined }, string> = internal.exitLoop

/**
 * @since 0.1.0
 */
export interface LoopOptions {
  /** Iterations allowed before `MaxIterationsExceeded`. */
  readonly maxIterations: number
  /** Stop after an iteration whose result satisfies this. */
  readonly until?: ((result: Agent.RunResult, iteration: number) => boolean) | undefined
  /** Give the agent the `exit_loop` tool and stop when it calls it. Default `true`. */
  readonly exitTool?: boolean | undefined
  /** Also pass the previous iteration's history. Default `false`. */
  readonly history?: boolean | undefined
  /** Build the next iteration's input from the result of `iteration` (overrides `history`). Default: its answer's text. */
  readonly next?: ((previous: Agent.RunResult, iteration: number) => Agent.Input) | undefined
  /** Prefix of the runs' path (`name/agent`). */
  readonly name?: string | undefined
}

/**
 * How a loop ended.
 *
 * @since 0.1.0
 */
export interface LoopResult {
  readonly last: Agent.RunResult
  /** Every iteration's result, in order. */
  readonly results: ReadonlyArray<Agent.RunResult>
  readonly iterations: number
  /** `exit-tool`: the agent called `exit_loop`; `until`: the predicate held. */
  readonly stoppedBy: "exit-tool" | "until"
}

/**
 * Run an agent again and again (ADK's `LoopAgent`): each iteration's answer is the next one's
 * prompt, until the agent calls `exit_loop` or `until` holds. More than `maxIterations`
 * iterations is a `MaxIterationsExceeded` failure.
 *
 * @example
 * ```ts
 * import { Agent, Orchestrate } from "@effect-agents/core"
 * declare const refiner: Agent.Agent
 *
 * const polished = Orchestrate.loop(refiner, "Draft: fibers are threads", {
 *   maxIterations: 5,
 *   until: (result) => result.text.includes("FINAL")
 * })
 * ```
 * @since 0.1.0
 */
export const loop: {
  (
    input: Agent.Input,
    options: LoopOptions
  ): <R>(agent: Agent.Agent<R>) => Effect.Effect<LoopResult, AgentError | MaxIterationsExceeded, Model | R>
  <R>(
    agent: Agent.Agent<R>,
    input: Agent.Input,
    options: LoopOptions
  ): Effect.Effect<LoopResult, AgentError | MaxIterationsExceeded, Model | R>
} = dual(3, internal.loop)
