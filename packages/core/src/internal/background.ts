import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import type * as Scope from "effect/Scope"
import type * as Background from "../Background.js"

export const make = (options?: Background.Options): Effect.Effect<Background.Background.Service, never, Scope.Scope> =>
  Effect.gen(function*() {
    // registered first, so it runs last: whatever still runs when the scope closes is interrupted
    const set = yield* FiberSet.make<unknown, unknown>()
    const gracePeriod = options?.gracePeriod
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
          return FiberSet.run(
            set,
            Effect.onError(effect, (cause) => Cause.isInterruptedOnly(cause) ? Effect.void : report(task, startedAt, cause))
          )
        }),
      awaitIdle: FiberSet.awaitEmpty(set),
      size: FiberSet.size(set)
    }
  })
