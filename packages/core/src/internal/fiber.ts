import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Runtime from "effect/Runtime"
import * as RuntimeFlags from "effect/RuntimeFlags"
import * as RuntimeFlagsPatch from "effect/RuntimeFlagsPatch"
import type * as Tracer from "effect/Tracer"
import { parallel, sequential, withoutInterruptions } from "./cause.js"

/**
 * Child fibers for the hot path.
 *
 * `Effect.fork` schedules the child: it first runs on a later scheduler tick, and joining it
 * costs another. The fibers here start *immediately*, in the caller's stack, and run until they
 * finish or first suspend, so an in-process effect (a cached answer, a pure tool) is done before
 * the caller looks at it, with no scheduler round trip. Measured on the compiled bench runs
 * (instructions per run under callgrind, zero-latency model): with `Effect.timeoutFail` for the
 * model calls, a run with one tool call costs 974,000 instead of 643,000; with
 * `Effect.forEach(..., { concurrency })` for the tool calls, a run with eight costs 1,897,000
 * instead of 923,000. So both combinators below stay hand-written.
 *
 * They keep every child exit as Effect's combinators do, and more: a child's failure, or a defect
 * its finalizers raised while it was being interrupted, is merged into the caller's cause (Effect's
 * `timeout` and `forEach` drop the exits of the children they interrupt; no error may be lost
 * here). Only the interruptions the combinator itself caused are left out. A child that
 * succeeds is joined back: its `FiberRef` changes are merged into the caller, as `Fiber.join`
 * does (a model call opts out: see `modelCall.ts`).
 *
 * The children inherit the caller's context, `FiberRef`s (so its supervisor, clock and services)
 * and runtime flags, except `RuntimeMetrics`: they are the run loop's own plumbing and are not
 * counted in Effect's fiber metrics. They are not attached to the caller's scope, so every user
 * here interrupts and awaits them itself when the caller is interrupted; `LeakCheck` checks it
 * in the tests.
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
 * Join a finished child back into the running fiber, as `Fiber.join` does: its `FiberRef`
 * changes are merged into the caller's (`Fiber.inheritAll`). The child ran with
 * `RuntimeMetrics` off; a caller that had it on keeps it.
 */
const inherit = (child: Fiber.RuntimeFiber<unknown, unknown>, callerFlags: RuntimeFlags.RuntimeFlags): Effect.Effect<void> =>
  RuntimeFlags.runtimeMetrics(callerFlags)
    ? Effect.zipRight(Fiber.inheritAll(child), Effect.patchRuntimeFlags(RuntimeFlagsPatch.enable(RuntimeFlags.RuntimeMetrics)))
    : Fiber.inheritAll(child)

/**
 * `Effect.timeoutFail` for the hot path: an `Exit` (an effect already done) is the result as it
 * is. Otherwise `self` runs in a child fiber started immediately; when it is done at once, that
 * is the result and no timer is ever armed. Otherwise one timer on the Effect `Clock` (so
 * `TestClock` drives it) races it; when it fires first the child is
 * interrupted, its finalizers run, and the effect fails with `onTimeout()` followed by whatever
 * the child raised while being interrupted (a finalizer that died). The deadline counts from the
 * start, like `Effect.timeoutFail`. The child starts inside an uninterruptible region, so the
 * caller cannot be interrupted before it watches the child; interrupting the caller then
 * interrupts and awaits the child, and the caller's cause holds its interruption followed by
 * what the child raised. A child that succeeds is joined back (its `FiberRef` changes merged
 * into the caller, as `Effect.timeoutFail` does) unless `join: false`.
 *
 * The caller waits for the first of two callbacks (the child's exit observer, the timer) in one
 * `Effect.async`: no fiber besides the child. `Effect.timeoutOption(Fiber.await(child))` forks two
 * more (a race of the await and the sleep) and costs ≈ 4× the CPU of the wait itself at real
 * latency; see {@link armTimer}.
 *
 * @internal
 */
export const timeoutFail = <A, E, R, E2>(
  self: Effect.Effect<A, E, R>,
  duration: Duration.Duration,
  onTimeout: () => E2,
  options?: { readonly join?: boolean | undefined }
): Effect.Effect<A, E | E2, R> =>
  // already done (a cached answer, `Effect.succeed`): no fiber, no timer
  Exit.isExit(self) ? self : Effect.uninterruptibleMask((restore) =>
    Effect.withFiberRuntime<A, E | E2, R>((parent, status) => {
      const runtime = runtimeOf<R>(parent, status.runtimeFlags)
      const child = Runtime.runFork(runtime, restore(self))
      const join = options?.join !== false
      const joined = (exit: Exit.Exit<A, E>): Effect.Effect<A, E> =>
        join && exit._tag === "Success" ? Effect.zipRight(inherit(child, status.runtimeFlags), exit) : exit
      const done = child.unsafePoll()
      if (done !== null) return joined(done)
      /** Interrupt the child and fail with `first`, then what the child raised besides its interruption. */
      const stop = (first: Cause.Cause<E | E2>) =>
        Effect.flatMap(Fiber.interrupt(child), (exit) =>
          Effect.failCause(Exit.isFailure(exit) ? sequential(first, withoutInterruptions(exit.cause)) : first))
      let timer: Timer | undefined
      /** The child's exit, or `undefined` when the timer fired first. */
      const first = Effect.async<Exit.Exit<A, E> | undefined>((resume) => {
        const observer = (exit: Exit.Exit<A, E>) => {
          timer!.cancel()
          resume(Effect.succeed(exit))
        }
        // the child is suspended: it cannot end before the timer is armed; the timer can fire at once (a zero
        // duration on another clock), so the observer is in place first
        child.addObserver(observer)
        timer = armTimer(parent, runtime, duration, () => {
          child.removeObserver(observer)
          resume(Effect.succeed(undefined))
        })
        return Effect.suspend(() => {
          child.removeObserver(observer)
          timer!.cancel()
          return timer!.settled ?? Effect.void
        })
      })
      return Effect.matchCauseEffect(restore(first), {
        onSuccess: (exit): Effect.Effect<A, E | E2> =>
          exit === undefined
            ? stop(Cause.fail(onTimeout()))
            : timer!.settled === undefined
            ? joined(exit)
            : Effect.zipRight(timer!.settled, joined(exit)),
        onFailure: stop
      })
    })
  )

/**
 * A timer armed by {@link armTimer}: `cancel` stops it (once fired, nothing); `settled`, when
 * there is one, ends when nothing of the timer runs any more.
 */
interface Timer {
  readonly cancel: () => void
  readonly settled: Effect.Effect<void> | undefined
}

let defaultClock: Clock.Clock | undefined

/**
 * Call `fire` once `duration` has passed on the fiber's `Clock`. On Effect's default clock that
 * is one `setTimeout`, as `Clock.sleep` arms (none beyond 2^31 - 1 ms, which Effect treats as
 * never): no fiber. On another clock (`TestClock`) its `sleep` runs in a fiber of its own, which
 * `cancel` interrupts and `settled` awaits, so that no fiber outlives the call (`LeakCheck`).
 */
const armTimer = <R>(
  parent: Fiber.RuntimeFiber<unknown, unknown>,
  runtime: Runtime.Runtime<R>,
  duration: Duration.Duration,
  fire: () => void
): Timer => {
  const clock = Context.get(parent.currentDefaultServices, Clock.Clock)
  defaultClock ??= Effect.runSync(Effect.clock)
  if (clock.constructor === defaultClock.constructor) {
    const millis = Duration.toMillis(duration)
    if (!(millis <= maxTimerMillis)) return { cancel: () => {}, settled: undefined }
    const handle = setTimeout(fire, millis)
    return { cancel: () => clearTimeout(handle), settled: undefined }
  }
  // the runtime's flags are the caller's inside its uninterruptible region
  const sleeper = Runtime.runFork(runtime, Effect.interruptible(clock.sleep(duration)))
  const observer = (exit: Exit.Exit<void>) => {
    if (exit._tag === "Success") fire()
  }
  sleeper.addObserver(observer)
  return {
    cancel: () => {
      sleeper.removeObserver(observer)
      sleeper.unsafeInterruptAsFork(parent.id())
    },
    settled: Effect.asVoid(Fiber.await(sleeper))
  }
}

/** The longest delay a JS timer takes (Effect's `Clock` treats a longer one as never). */
const maxTimerMillis = 2 ** 31 - 1

/**
 * `Effect.forEach(items, f, { concurrency })` with fail-fast TaskGroup semantics, for the hot
 * path: at most `concurrency` child fibers (workers), each started immediately, take the items
 * in order. A worker takes the next item as soon as it is done with one, and a worker starts
 * only while items remain: items that complete in process all run in the first worker, items
 * that wait each get a worker of their own, up to `concurrency`.
 *
 * The first item that does not succeed stops the group: no further item starts and every
 * running sibling is interrupted at that instant (its finalizers run). The effect ends when
 * every worker has ended: with the results in item order (the workers' `FiberRef`s joined back,
 * as `Effect.forEach` does), or with the causes of every item that failed and whatever the
 * interrupted siblings raised (a finalizer that died), beside each other (`Cause.parallel`),
 * without the interruptions the group itself caused. Interrupting the caller stops the group
 * the same way and awaits every worker; the caller's cause is its interruption followed by what
 * the workers raised.
 *
 * Every item the group stops before it began (a worker would have started it, or it was waiting
 * for a free worker) is handed to `onStopped` at the instant the group stops, so a caller can
 * account for it as interrupted.
 *
 * Joining a worker back costs ≈ 41,000 instructions (callgrind), ≈ 4 % of a run with eight tool
 * calls that all run in one worker; it is what makes a handler's `FiberRef` changes reach the
 * caller as they do when a single call runs in the caller's own fiber.
 *
 * @internal
 */
export const forEachConcurrent = <A, B, E, R>(
  items: ReadonlyArray<A>,
  f: (item: A, index: number) => Effect.Effect<B, E, R>,
  concurrency: number | "unbounded",
  onStopped: (item: A, index: number) => void
): Effect.Effect<Array<B>, E, R> =>
  Effect.withFiberRuntime<Array<B>, E, R>((parent, status) => {
    const runtime = runtimeOf<R>(parent, status.runtimeFlags)
    const parentId = parent.id()
    const n = items.length
    const results = new Array<B>(n)
    const live = new Set<Fiber.RuntimeFiber<void, E>>()
    const ended: Array<Fiber.RuntimeFiber<void, E>> = []
    let next = 0
    let starting = true
    let stopped = false
    /** What the workers raised, without the interruptions the group caused. */
    let raised: Cause.Cause<E> = Cause.empty
    /** Called when the last worker has ended (while someone waits for it). */
    let onEmpty: (() => void) | undefined

    /** No further item starts (each is handed to `onStopped`); every running worker is interrupted. */
    const stop = () => {
      if (stopped) return
      stopped = true
      for (; next < n; next++) onStopped(items[next]!, next)
      for (const worker of live) worker.unsafeInterruptAsFork(parentId)
    }
    const work: Effect.Effect<void, E, R> = Effect.suspend(() => {
      if (stopped || next >= n) return Effect.void
      const i = next++
      return Effect.flatMap(f(items[i]!, i), (b) => {
        results[i] = b
        return work
      })
    })
    const onExit = (worker: Fiber.RuntimeFiber<void, E>) => (exit: Exit.Exit<void, E>) => {
      live.delete(worker)
      ended.push(worker)
      if (exit._tag === "Failure") {
        raised = parallel(raised, withoutInterruptions(exit.cause))
        stop()
      }
      if (!starting && live.size === 0) onEmpty?.()
    }
    const workers = Math.min(n, concurrency === "unbounded" ? n : Math.max(1, concurrency))
    // a worker that found every item taken would end at once: none is started then
    for (let w = 0; w < workers && !stopped && next < n; w++) {
      const worker = Runtime.runFork(runtime, work)
      live.add(worker)
      worker.addObserver(onExit(worker))
    }
    starting = false

    const allEnded = Effect.async<void>((resume) => {
      if (live.size === 0) return resume(Effect.void)
      onEmpty = () => resume(Effect.void)
    })
    const outcome = (): Effect.Effect<Array<B>, E> => {
      if (stopped) return Effect.failCause(raised)
      let joined: Effect.Effect<void> = Effect.void
      for (const worker of ended) joined = Effect.zipRight(joined, inherit(worker, status.runtimeFlags))
      return Effect.as(joined, results)
    }
    if (live.size === 0) return outcome()
    return Effect.uninterruptibleMask((restore) =>
      Effect.matchCauseEffect(restore(allEnded), {
        onSuccess: outcome,
        onFailure: (interruption) => {
          stop()
          return Effect.zipRight(allEnded, Effect.suspend(() => Effect.failCause(sequential(interruption, raised))))
        }
      })
    )
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
