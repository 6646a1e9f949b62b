/**
 * Check that no fiber outlives a run.
 *
 * `LeakCheck` is built on a tracking `Supervisor`: every fiber forked while the checked effect
 * runs is tracked until it ends. When the effect is over, any tracked fiber still alive has
 * leaked.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Schema from "effect/Schema"
import * as Supervisor from "effect/Supervisor"

/**
 * Fibers started by a checked effect were still alive after it ended.
 *
 * @since 0.1.0
 */
export class FiberLeak extends Schema.TaggedError<FiberLeak>()("FiberLeak", {
  fibers: Schema.Array(Schema.String)
}) {
  override get message() {
    return `${this.fibers.length} fiber(s) outlived the checked effect: ${this.fibers.join(", ")}`
  }
}

/**
 * @since 0.1.0
 */
export interface LeakCheck {
  /** Run an effect under the tracking supervisor (several effects may share one check). */
  readonly supervise: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** Tracked fibers still alive now. */
  readonly live: Effect.Effect<ReadonlyArray<Fiber.RuntimeFiber<unknown, unknown>>>
  /** Fail with `FiberLeak` if any tracked fiber is alive. */
  readonly assertClean: Effect.Effect<void, FiberLeak>
}

/**
 * A fresh leak check, for effects that are forked and interrupted by the test itself.
 *
 * @example
 * ```ts
 * import { LeakCheck } from "@effect-agents/testing"
 * import { Effect, Fiber } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const leaks = yield* LeakCheck.make
 *   const fiber = yield* Effect.fork(leaks.supervise(Effect.never))
 *   yield* Fiber.interrupt(fiber)
 *   yield* leaks.assertClean
 * })
 * ```
 * @since 0.1.0
 */
export const make: Effect.Effect<LeakCheck> = Effect.map(Supervisor.track, (supervisor) => {
  const live = Effect.map(supervisor.value, (fibers) => fibers as ReadonlyArray<Fiber.RuntimeFiber<unknown, unknown>>)
  return {
    supervise: (self) => Effect.supervised(self, supervisor),
    live,
    assertClean: Effect.flatMap(live, (fibers) =>
      fibers.length === 0
        ? Effect.void
        : Effect.fail(new FiberLeak({ fibers: fibers.map((fiber) => FiberId.threadName(fiber.id())) })))
  }
})

/**
 * Run an effect and fail with `FiberLeak` if any fiber it started is still alive when it ends,
 * whether it succeeded or failed. The effect's own outcome is kept otherwise.
 *
 * @example
 * ```ts
 * import { Agent } from "@effect-agents/core"
 * import { LeakCheck } from "@effect-agents/testing"
 * declare const math: Agent.Agent
 *
 * const checked = LeakCheck.check(Agent.run(math, "What is 2 + 3?"))
 * ```
 * @since 0.1.0
 */
export const check = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | FiberLeak, R> =>
  Effect.flatMap(make, (leaks) =>
    Effect.flatMap(Effect.exit(leaks.supervise(self)), (exit) => Effect.zipRight(leaks.assertClean, exit)))
