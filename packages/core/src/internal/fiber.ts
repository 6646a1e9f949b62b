import * as Cause from "effect/Cause"
import type * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Runtime from "effect/Runtime"
import * as RuntimeFlags from "effect/RuntimeFlags"
import type * as Tracer from "effect/Tracer"

/**
 * Child fibers for the hot path.
 *
 * `Effect.fork` schedules the child: it first runs on a later scheduler tick, and joining it
 * costs another. The fibers here start *immediately*, in the caller's stack, and run until they
 * finish or first suspend, so an in-process effect (a cached answer, a pure tool) is done before
 * the caller looks at it, with no scheduler round trip (measured on the 2-core machine: ≈ 2.5 µs
 * against ≈ 14 µs for `fork` + `join`). They inherit the caller's context, `FiberRef`s (so its
 * supervisor, clock and services) and runtime flags, except `RuntimeMetrics`: they are the run
 * loop's own plumbing and are not counted in Effect's fiber metrics.
 *
 * They are not attached to the caller's scope, so every user here interrupts and awaits them
 * itself when the caller is interrupted; `LeakCheck` checks it in the tests.
 *
 * @internal
 */
const runtimeOf = <R>(parent: Fiber.RuntimeFiber<unknown, unknown>, flags: RuntimeFlags.RuntimeFlags): Runtime.Runtime<R> =>
  Runtime.make({
    context: parent.currentContext as Context.Context<R>,
    fiberRefs: parent.getFiberRefs(),
    runtimeFlags: RuntimeFlags.disable(flags, RuntimeFlags.RuntimeMetrics)
  })

/**
 * `Effect.timeoutFail` for the hot path: `self` runs in a child fiber started immediately. When
 * it is done at once, that is the result and no timer is ever armed. Otherwise a timer on the
 * Effect `Clock` (so `TestClock` drives it) races it; when it fires first the child is
 * interrupted, its finalizers run, and the effect fails with `onTimeout()`. The deadline counts
 * from the start, like `Effect.timeoutFail`. The child starts inside an uninterruptible region,
 * so the caller cannot be interrupted before it watches the child; interrupting the caller then
 * interrupts and awaits the child.
 *
 * @internal
 */
export const timeoutFail = <A, E, R, E2>(
  self: Effect.Effect<A, E, R>,
  duration: Duration.Duration,
  onTimeout: () => E2
): Effect.Effect<A, E | E2, R> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.withFiberRuntime<A, E | E2, R>((parent, status) => {
      const child = Runtime.runFork(runtimeOf<R>(parent, status.runtimeFlags), restore(self))
      const done = child.unsafePoll()
      if (done !== null) return done
      return restore(
        Effect.flatMap(Effect.timeoutOption(Fiber.await(child), duration), (exit): Effect.Effect<A, E | E2> =>
          exit._tag === "Some"
            ? exit.value
            : Effect.zipRight(Fiber.interrupt(child), Effect.fail(onTimeout())))
      ).pipe(Effect.onInterrupt(() => Fiber.interrupt(child)))
    })
  )

/**
 * `Effect.forEach(items, f, { concurrency })` with fail-fast TaskGroup semantics, for the hot
 * path: at most `concurrency` child fibers (workers), each started immediately, take the items
 * in order. A worker takes the next item as soon as it is done with one, and a worker starts
 * only while items remain: items that complete in process all run in the first worker, items
 * that wait each get a worker of their own, up to `concurrency`.
 *
 * The first item that does not succeed stops the group: no further item starts and every
 * running sibling is interrupted at that instant (its finalizers run). The effect ends when
 * every worker has ended: with the results in item order, or with the causes of every item that
 * failed (`Cause.parallel`), without the interruptions the group itself caused. Interrupting the
 * caller interrupts and awaits every worker.
 *
 * Since a worker runs at once, an item can fail before the workers after it have started. The
 * items those workers would have started at that instant are handed to `onSkipped`, so a caller
 * can account for them as interrupted; items still waiting for a free worker are not.
 *
 * @internal
 */
export const forEachConcurrent = <A, B, E, R>(
  items: ReadonlyArray<A>,
  f: (item: A, index: number) => Effect.Effect<B, E, R>,
  concurrency: number | "unbounded",
  onSkipped: (item: A, index: number) => void
): Effect.Effect<Array<B>, E, R> =>
  Effect.withFiberRuntime<Array<B>, E, R>((parent, status) => {
    const runtime = runtimeOf<R>(parent, status.runtimeFlags)
    const parentId = parent.id()
    return Effect.async<Array<B>, E>((resume) => {
      const n = items.length
      const results = new Array<B>(n)
      const live = new Set<Fiber.RuntimeFiber<void, E>>()
      let next = 0
      let stopped = false
      let starting = true
      let settled = false
      let cause: Cause.Cause<E> | undefined
      const work: Effect.Effect<void, E, R> = Effect.suspend(() => {
        if (stopped || next >= n) return Effect.void
        const i = next++
        return Effect.flatMap(f(items[i]!, i), (b) => {
          results[i] = b
          return work
        })
      })
      const settle = () => {
        if (settled || starting || live.size > 0) return
        settled = true
        resume(cause === undefined ? Effect.succeed(results) : Effect.failCause(cause))
      }
      const onExit = (fiber: Fiber.RuntimeFiber<void, E>) => (exit: Exit.Exit<void, E>) => {
        live.delete(fiber)
        if (exit._tag === "Failure" && !(stopped && Cause.isInterruptedOnly(exit.cause))) {
          cause = cause === undefined ? exit.cause : Cause.parallel(cause, exit.cause)
          if (!stopped) {
            stopped = true
            for (const sibling of live) sibling.unsafeInterruptAsFork(parentId)
          }
        }
        settle()
      }
      const workers = Math.min(n, concurrency === "unbounded" ? n : Math.max(1, concurrency))
      // a worker that found every item taken would end at once: none is started then
      for (let w = 0; w < workers && !stopped && next < n; w++) {
        const fiber = Runtime.runFork(runtime, work)
        live.add(fiber)
        fiber.addObserver(onExit(fiber))
      }
      starting = false
      if (stopped) {
        for (let i = next; i < workers; i++) onSkipped(items[i]!, i)
      }
      settle()
      return Effect.suspend(() => {
        settled = true
        stopped = true
        return Fiber.interruptAll(Array.from(live))
      })
    })
  })

let nativeTracer: Tracer.Tracer | undefined

/**
 * Whether spans made in the current fiber go anywhere. Effect's built-in tracer only keeps spans
 * in memory for `Effect.currentSpan`; any other (OpenTelemetry, a test's recording tracer)
 * exports them.
 *
 * @internal
 */
export const tracing = (fiber: Fiber.RuntimeFiber<unknown, unknown>): boolean => {
  nativeTracer ??= Effect.runSync(Effect.tracer)
  return fiber.currentTracer !== nativeTracer
}
