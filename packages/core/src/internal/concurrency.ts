import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberId from "effect/FiberId"
import type * as Scope from "effect/Scope"
import type { Semaphore } from "./semaphore.js"

/**
 * Take one permit of `semaphore` for the lifetime of the current scope (released by a scope
 * finalizer, so it is held until every resource acquired after it has been released). Waiting is
 * interruptible, first come first served, and traced as a span named `span`.
 */
export const permitScoped = (
  semaphore: Semaphore,
  span: string,
  attributes: Record<string, unknown>
): Effect.Effect<void, never, Scope.Scope> => Effect.withSpan(semaphore.permitScoped, span, { attributes })

/**
 * Race every effect: the first success wins and the others are interrupted (their finalizers
 * have run when this returns). When all fail, `onAllFailed` turns every cause, in input order,
 * into the race's failure.
 */
export const raceIndexed = <A, E, R, E2>(
  effects: ReadonlyArray<Effect.Effect<A, E, R>>,
  onAllFailed: (causes: ReadonlyArray<Cause.Cause<E>>) => Cause.Cause<E2>
): Effect.Effect<A, E2, R> =>
  Effect.suspend(() => {
    if (effects.length === 0) return Effect.dieMessage("race: there is nothing to race")
    const causes: Array<Cause.Cause<E>> = new Array(effects.length).fill(Cause.empty)
    return Effect.raceAll(
      effects.map((effect, i) => Effect.tapErrorCause(effect, (cause) => Effect.sync(() => causes[i] = cause)))
    ).pipe(
      Effect.catchAllCause((cause) =>
        Cause.isInterruptedOnly(cause) ? Effect.failCause(cause as Cause.Cause<never>) : Effect.failCause(onAllFailed(causes))
      )
    )
  })

/**
 * Hedge `self`: start a copy, and another one each time `after` passes without an answer (or at
 * once when the latest copy fails), up to `attempts` copies; the first success wins and the
 * others are interrupted. When every copy fails, `onAllFailed` receives their causes in start order.
 */
export const hedge = <A, E, R, E2>(
  self: Effect.Effect<A, E, R>,
  options: { readonly after: Duration.DurationInput; readonly attempts?: number | undefined },
  onAllFailed: (causes: ReadonlyArray<Cause.Cause<E>>) => Cause.Cause<E2>
): Effect.Effect<A, E2, R> =>
  Effect.suspend(() => {
    const attempts = Math.max(1, options.attempts ?? 2)
    const after = Duration.decode(options.after)
    const started = Array.from({ length: attempts }, () => Deferred.unsafeMake<void>(FiberId.none))
    const failed = Array.from({ length: attempts }, () => Deferred.unsafeMake<void>(FiberId.none))
    const copies = started.map((_, i) => {
      const copy = Effect.zipRight(
        Deferred.succeed(started[i]!, undefined),
        Effect.onError(self, () => Deferred.succeed(failed[i]!, undefined))
      )
      return i === 0 ? copy : Effect.zipRight(
        Effect.zipRight(Deferred.await(started[i - 1]!), Effect.raceFirst(Effect.sleep(after), Deferred.await(failed[i - 1]!))),
        copy
      )
    })
    return raceIndexed(copies, onAllFailed)
  })
