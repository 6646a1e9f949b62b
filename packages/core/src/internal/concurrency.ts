import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberId from "effect/FiberId"
import type * as Scope from "effect/Scope"

/**
 * Take one permit of `semaphore` for the lifetime of the current scope. Waiting is interruptible
 * and traced as a span named `span`; once taken, the permit is released by a scope finalizer, so
 * it is held until every resource acquired after it has been released.
 */
export const permitScoped = (
  semaphore: Effect.Semaphore,
  span: string,
  attributes: Record<string, unknown>
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.zipRight(
      Effect.withSpan(restore(semaphore.take(1)), span, { attributes }),
      Effect.addFinalizer(() => semaphore.release(1))
    )
  )

/** Hold one permit of `semaphore` while `self` runs (see {@link permitScoped}). */
export const withPermit = (semaphore: Effect.Semaphore, span: string, attributes: Record<string, unknown>) =>
<A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, Exclude<R, Scope.Scope>> =>
  Effect.scoped(Effect.zipRight(permitScoped(semaphore, span, attributes), self))

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
