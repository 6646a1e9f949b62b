import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import type * as Scope from "effect/Scope"
import * as Background from "../Background.js"
import * as validate from "./validate.js"

export const make = (options?: Background.Options): Effect.Effect<Background.Background.Service, never, Scope.Scope> => {
  const gracePeriod = options?.gracePeriod !== undefined
    ? validate.duration("Background options", "gracePeriod", options.gracePeriod)
    : undefined
  return Effect.gen(function*() {
    // registered first, so it runs last: whatever still runs when the scope closes is interrupted
    const set = yield* FiberSet.make<unknown, unknown>()
    // runs just before the set closes (after any grace period): from then on a fork is refused
    let closed = false
    yield* Effect.addFinalizer(() => Effect.sync(() => closed = true))
    if (gracePeriod !== undefined) {
      // runs before the set's finalizer: running tasks get `gracePeriod` to finish (finalizers are
      // uninterruptible: the wait must be made interruptible for the timeout to cut it short)
      yield* Effect.addFinalizer(() =>
        Effect.ignore(Effect.timeout(Effect.interruptible(FiberSet.awaitEmpty(set)), gracePeriod))
      )
    }
    const onFailure = options?.onFailure
    const report = (task: string, startedAt: number, cause: Cause.Cause<unknown>) =>
      Effect.gen(function*() {
        const failedAt = yield* Clock.currentTimeMillis
        yield* Effect.annotateLogs(Effect.logError(`Background task "${task}" failed`, cause), {
          "background.task": task,
          "background.startedAt": startedAt
        })
        if (onFailure !== undefined) {
          yield* Effect.catchAllCause(
            onFailure({ task, cause, startedAt, failedAt }),
            (handlerCause) => Effect.logError(`The onFailure handler of background task "${task}" failed`, handlerCause)
          )
        }
      })
    return {
      fork: <A, E, R>(effect: Effect.Effect<A, E, R>, forkOptions?: Background.ForkOptions) =>
        Effect.flatMap(Clock.currentTimeMillis, (startedAt) => {
          const task = forkOptions?.name ?? "background"
          if (closed) {
            // `FiberSet.run` would return an interrupted fiber and never run the task: say so instead
            const cause = Cause.die(new Background.BackgroundClosed({ task }))
            return Effect.zipRight(report(task, startedAt, cause), Effect.failCause(cause))
          }
          return FiberSet.run(
            set,
            Effect.onError(effect, (cause) => Cause.isInterruptedOnly(cause) ? Effect.void : report(task, startedAt, cause))
          )
        }),
      awaitIdle: FiberSet.awaitEmpty(set),
      size: FiberSet.size(set)
    }
  })
}
