import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"

/**
 * `Effect.timeoutFail` with a lazy timer, for the hot path.
 *
 * `self` runs in a child fiber (it must, to be interruptible on its own). If it is already done
 * after one scheduler tick — a cached or in-process answer — no timer is ever armed. Otherwise a
 * timer on the Effect `Clock` (so `TestClock` drives it) races the child; when it fires the child
 * is interrupted, its finalizers run, and the effect fails with `onTimeout()`. The deadline is
 * measured from the start, exactly like `Effect.timeoutFail`, since the tick takes no clock time.
 * Interrupting the caller interrupts the child.
 *
 * @internal
 */
export const timeoutFail = <A, E, R, E2>(
  self: Effect.Effect<A, E, R>,
  duration: Duration.Duration,
  onTimeout: () => E2
): Effect.Effect<A, E | E2, R> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.flatMap(Effect.fork(restore(self)), (fiber) => {
      const settle = (exit: Exit.Exit<A, E>): Effect.Effect<A, E | E2> =>
        Exit.isSuccess(exit) ? Effect.as(fiber.inheritAll, exit.value) : exit
      return restore(
        Effect.flatMap(Effect.yieldNow(), (): Effect.Effect<A, E | E2> => {
          const done = fiber.unsafePoll()
          if (done !== null) return settle(done)
          return Effect.flatMap(Effect.timeoutOption(Fiber.await(fiber), duration), (exit) =>
            Option.isSome(exit)
              ? settle(exit.value)
              : Effect.zipRight(Fiber.interrupt(fiber), Effect.fail(onTimeout())))
        })
      ).pipe(Effect.onInterrupt(() => Fiber.interrupt(fiber)))
    })
  )
