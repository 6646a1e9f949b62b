/**
 * Scoped background work: fire-and-forget effects (audit logging, cache warming) started from a
 * tool or a run, that never lose their failure and never outlive their scope.
 *
 * The asyncio guide's recipe is to keep a reference to each task in a set, so it is not garbage
 * collected, and to add a done callback that drops it from the set — and, if you remember, looks
 * at its exception. `Background` is that pattern done right:
 *
 * - **the set** is a `FiberSet` owned by a `Scope` (the layer's, or a run's): a task is tracked
 *   from the moment it starts and removed when it ends;
 * - **the done callback** is built in and cannot be forgotten: every failure (typed error or
 *   defect; not an interruption) is logged at `Error` level with the task's name, and handed to
 *   the `onFailure` handler when one is configured;
 * - **the end of the scope** ends the work: when the scope closes (application shutdown, end of
 *   the run the layer was provided to), tasks still running get `gracePeriod` to finish, then are
 *   interrupted and their finalizers run. Nothing keeps running after the scope, and nothing is
 *   destroyed silently while pending.
 *
 * A task runs detached from the fiber that started it: a tool call that forks an audit write and
 * returns is not slowed down by it, and interrupting that tool call does not cancel the write.
 *
 * @since 0.1.0
 */
import type * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/background.js"

/**
 * A background task's failure, as given to `onFailure`.
 *
 * @since 0.1.0
 */
export interface Failure {
  /** The task's name (`ForkOptions.name`, default `"background"`). */
  readonly task: string
  readonly cause: Cause.Cause<unknown>
  /** `Clock` milliseconds when the task was started. */
  readonly startedAt: number
  /** `Clock` milliseconds when it failed. */
  readonly failedAt: number
}

/**
 * A task forked after its `Background` service's scope had closed: it was never started. This is
 * a bug in the caller (the service outlived its scope), so `fork` dies with it; it is also
 * logged and handed to `onFailure` like any failed task.
 *
 * @since 0.1.0
 * @category errors
 */
export class BackgroundClosed extends Schema.TaggedError<BackgroundClosed>()("BackgroundClosed", {
  task: Schema.String
}) {
  override get message() {
    return `Background task "${this.task}" was not started: the scope of its Background service has closed. ` +
      `Fork it while the scope is open, or provide Background.layer to a scope that lives as long as the work.`
  }
}

/**
 * @since 0.1.0
 */
export interface Options {
  /** Called with every failure, after it has been logged. A failing handler is logged too. */
  readonly onFailure?: ((failure: Failure) => Effect.Effect<void>) | undefined
  /**
   * When the scope closes, running tasks get this long to finish before being interrupted. Default: none.
   * A finite duration `>= 0`; anything else throws an `IllegalArgumentException` when the service is made.
   */
  readonly gracePeriod?: Duration.DurationInput | undefined
}

/**
 * @since 0.1.0
 */
export interface ForkOptions {
  /** Names the task in logs and failures. */
  readonly name?: string | undefined
}

/**
 * @since 0.1.0
 */
export declare namespace Background {
  /**
   * @since 0.1.0
   */
  export interface Service {
    /**
     * Start `effect` in the background, tied to the service's scope. After the scope has closed
     * this dies with `BackgroundClosed` (also logged and given to `onFailure`): the task never runs.
     */
    readonly fork: <A, E, R>(effect: Effect.Effect<A, E, R>, options?: ForkOptions) => Effect.Effect<Fiber.RuntimeFiber<A, E>, never, R>
    /** Wait until no task is running. */
    readonly awaitIdle: Effect.Effect<void>
    /** Tasks running now. */
    readonly size: Effect.Effect<number>
  }
}

/**
 * The background-work service.
 *
 * @since 0.1.0
 */
export class Background extends Context.Tag("@effect-agents/core/Background")<Background, Background.Service>() {}

/**
 * A background-work service tied to the current `Scope`: closing the scope ends every task
 * (after `gracePeriod`).
 *
 * @example
 * ```ts
 * import { Background } from "@effect-agents/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const background = yield* Background.make()
 *   yield* background.fork(Effect.log("warming the cache"), { name: "cache-warmer" })
 * }))
 * ```
 * @since 0.1.0
 */
export const make: (options?: Options) => Effect.Effect<Background.Service, never, Scope.Scope> = internal.make

/**
 * The `Background` service as a layer: its tasks live as long as the layer. Provide it to the
 * application for process-wide work, or to one run for work that must end with the run.
 *
 * @example
 * ```ts
 * import { Agent, Background } from "@effect-agents/core"
 * import { Effect } from "effect"
 * declare const agent: Agent.Agent<Background.Background>
 *
 * const program = Agent.run(agent, "hello").pipe(
 *   Effect.provide(Background.layer({
 *     gracePeriod: "2 seconds",
 *     onFailure: (failure) => Effect.logWarning(`${failure.task} failed`)
 *   }))
 * )
 * ```
 * @since 0.1.0
 */
export const layer = (options?: Options): Layer.Layer<Background> => Layer.scoped(Background, make(options))

/**
 * Start an effect in the background of the `Background` service in context, for example from a
 * tool handler; returns at once with the task's fiber.
 *
 * @example
 * ```ts
 * import { Background, Tool } from "@effect-agents/core"
 * import { Effect, Schema } from "effect"
 * declare const writeAudit: (entry: string) => Effect.Effect<void, Error>
 *
 * const lookup = Tool.make("lookup", {
 *   description: "Look up a customer",
 *   parameters: Schema.Struct({ id: Schema.String }),
 *   handler: ({ id }) =>
 *     Effect.as(writeAudit(`lookup ${id}`).pipe(Background.fork({ name: "audit" })), `customer ${id}`)
 * })
 * ```
 * @since 0.1.0
 */
export const fork: {
  (options?: ForkOptions): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<Fiber.RuntimeFiber<A, E>, never, Background | R>
  <A, E, R>(self: Effect.Effect<A, E, R>, options?: ForkOptions): Effect.Effect<Fiber.RuntimeFiber<A, E>, never, Background | R>
} = dual(
  (args) => Effect.isEffect(args[0]),
  <A, E, R>(self: Effect.Effect<A, E, R>, options?: ForkOptions) =>
    Effect.flatMap(Background, (background) => background.fork(self, options))
)

/**
 * Wait until the `Background` service in context runs no task.
 *
 * @since 0.1.0
 */
export const awaitIdle: Effect.Effect<void, never, Background> = Effect.flatMap(Background, (background) => background.awaitIdle)
