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
import { flagsOf, wait, Waiter } from "./wait.js"

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
 * {@link wait}: no fiber besides the child, no frame for the wait's canceler. `Effect.timeoutOption(Fiber.await(child))` forks two
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
      // done as soon as it starts (`Effect.suspend(() => Effect.succeed(…))`, a scripted answer): no
      // fiber either. Otherwise what has started goes on in the child at once, in this same step, so
      // that no interruption can come between the two.
      const started = settle(self)
      return isDone(started) ? started : raced(parent, status.runtimeFlags, restore, started, duration, onTimeout, options?.join !== false)
    })
  )

/**
 * The leading steps of `self` that are plain code (`Effect.suspend`, `Effect.gen` up to its first
 * `yield*`, `Effect.sync`) evaluated now, in the caller's stack, as the fiber about to run `self`
 * would evaluate them first: the result is an `Exit` when `self` is done as soon as it starts, the
 * rest of `self` otherwise. Nothing a fiber does differs for such steps: they are synchronous and
 * see no fiber (their code runs inside the caller's tracer context, which a child inherits). Code
 * that throws is handed back as an effect throwing it again, so that the fiber that runs the rest
 * reports the throw exactly as it reports any other (`Effect.die`, an `InterruptedException`…).
 *
 * This reads the shape of Effect 3's primitives (`_op` "Commit" with `commit`, "Sync" with its
 * thunk), as the fiber's run loop does; any other effect is returned as it is. The test
 * "a model that answers at once and a pure tool call start no fiber at all" fails if that shape
 * ever changes.
 *
 * @internal
 */
export const settle = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => {
  let effect = self as Effect.Effect<A, E, R> & { readonly _op?: unknown; readonly commit?: unknown; readonly effect_instruction_i0?: unknown }
  // a bound on the layers read, so that an effect whose `commit` returns itself cannot loop
  for (let layers = 0; layers < 64 && !Exit.isExit(effect); layers++) {
    const step = effect
    try {
      if (step._op === "Commit" && typeof step.commit === "function") effect = step.commit()
      else if (step._op === "Sync" && typeof step.effect_instruction_i0 === "function") effect = Exit.succeed(step.effect_instruction_i0()) as never
      else break
    } catch (thrown) {
      return Effect.suspend(() => {
        throw thrown
      })
    }
  }
  return effect
}

/**
 * Whether an effect is done: an `Exit` (`Effect.succeed`, `Effect.fail`, a {@link settle}d effect
 * done as soon as it started).
 *
 * @internal
 */
export const isDone = <A, E, R>(effect: Effect.Effect<A, E, R>): effect is Exit.Exit<A, E> => Exit.isExit(effect)

/** {@link timeoutFail} once `self` has started and is not done: the child, the timer and the wait. */
const raced = <A, E, R, E2>(
  parent: Fiber.RuntimeFiber<unknown, unknown>,
  flags: RuntimeFlags.RuntimeFlags,
  restore: <AX, EX, RX>(effect: Effect.Effect<AX, EX, RX>) => Effect.Effect<AX, EX, RX>,
  self: Effect.Effect<A, E, R>,
  duration: Duration.Duration,
  onTimeout: () => E2,
  join: boolean
): Effect.Effect<A, E | E2, R> => {
  const runtime = runtimeOf<R>(parent, flags)
  const child = Runtime.runFork(runtime, restore(self))
  const joined = (exit: Exit.Exit<A, E>): Effect.Effect<A, E> =>
    join && exit._tag === "Success" ? Effect.zipRight(inherit(child, flags), exit) : exit
  const done = child.unsafePoll()
  if (done !== null) return joined(done)
  /** Interrupt the child and fail with `first`, then what the child raised besides its interruption. */
  const stop = (first: Cause.Cause<E | E2>) =>
    Effect.flatMap(Fiber.interrupt(child), (exit) =>
      Effect.failCause(Exit.isFailure(exit) ? sequential(first, withoutInterruptions(exit.cause)) : first))
  const race = new ChildRace(child, runtime, duration)
  const first = wait(race)
  return Effect.matchCauseEffect(restore(first), {
    onSuccess: (exit): Effect.Effect<A, E | E2> => {
      if (exit === undefined) return stop(Cause.fail(onTimeout()))
      const settled = race.timer!.settled
      return settled === undefined ? joined(exit) : Effect.zipRight(settled, joined(exit))
    },
    onFailure: stop
  })
}

/**
 * The wait of {@link timeoutFail}: for the first of the child's exit (its observer) and the timer.
 * It resumes with the exit, or `undefined` when the timer fired first.
 */
class ChildRace<A, E, R> extends Waiter<Exit.Exit<A, E> | undefined, never> {
  timer: Timer | undefined = undefined

  constructor(
    private readonly child: Fiber.RuntimeFiber<A, E>,
    private readonly runtime: Runtime.Runtime<R>,
    private readonly duration: Duration.Duration
  ) {
    super()
  }

  private readonly observer = (exit: Exit.Exit<A, E>): void => {
    this.timer!.cancel()
    this.resume(Exit.succeed(exit))
  }

  start(parent: Fiber.RuntimeFiber<unknown, unknown>): boolean {
    // the child is suspended: it cannot end before the timer is armed; the timer can fire at once (a zero
    // duration on another clock), so the observer is in place first
    this.child.addObserver(this.observer)
    this.timer = armTimer(parent, this.runtime, this.duration, () => {
      this.child.removeObserver(this.observer)
      this.resume(Exit.succeed(undefined))
    })
    return true
  }

  cancel(): Effect.Effect<void> | undefined {
    this.child.removeObserver(this.observer)
    this.timer!.cancel()
    return this.timer!.settled
  }
}

/**
 * A Promise call (`Model.fromPromise`: `evaluate` with an `AbortSignal`, its rejections and
 * throws failed with `onError`, as `Effect.tryPromise` does) bounded by `duration`, with no fiber:
 * the caller waits in one {@link wait} for the first of the promise and one timer (on the
 * fiber's `Clock`, as {@link timeoutFail}). When the timer fires first, the signal is aborted and
 * the effect fails with `onTimeout(duration)` at that instant; interrupting the caller aborts the signal
 * too. A promise that settles after that is ignored, as `Effect.tryPromise` ignores it.
 *
 * @internal
 */
export const promiseTimeout = <A, E, E2>(
  evaluate: (signal: AbortSignal) => PromiseLike<A>,
  onError: (cause: unknown) => E,
  duration: Duration.Duration,
  onTimeout: (duration: Duration.Duration) => E2
): Effect.Effect<A, E | E2> => wait(new PromiseWait(evaluate, onError, duration, onTimeout))

/**
 * The wait of {@link promiseTimeout}, one object: a waiting call holds it, its promise's two
 * callbacks and its timer, no more (≈ 0.2 KB less than the same in closures).
 */
class PromiseWait<A, E, E2> extends Waiter<A, E | E2> {
  private controller: AbortController | undefined = undefined
  private timer: Timer | undefined = undefined
  private ended = false
  private evaluate: ((signal: AbortSignal) => PromiseLike<A>) | undefined

  constructor(
    evaluate: (signal: AbortSignal) => PromiseLike<A>,
    private readonly onError: (cause: unknown) => E,
    private readonly duration: Duration.Duration,
    private readonly onTimeout: (duration: Duration.Duration) => E2
  ) {
    super()
    this.evaluate = evaluate
  }

  start(fiber: Fiber.RuntimeFiber<unknown, unknown>): boolean {
    const evaluate = this.evaluate!
    this.evaluate = undefined
    // a function that takes no signal gets none (≈ 0.7 KB held per waiting call), as with `Effect.tryPromise`
    const controller = evaluate.length >= 1 ? new AbortController() : undefined
    this.controller = controller
    // bound functions, not closures: no context object beside them (a waiting call holds all three)
    try {
      evaluate(controller?.signal as AbortSignal).then(this.succeeded.bind(this), this.failed.bind(this))
    } catch (thrown) {
      this.failed(thrown)
    }
    if (this.ended) return false
    this.timer = armTimer(fiber, undefined, this.duration, this.fire.bind(this))
    return true
  }

  private succeeded(value: A): void {
    this.settled(Exit.succeed(value))
  }

  /** The promise settled first: its outcome, once nothing of the timer runs any more. */
  private settled(outcome: Effect.Effect<A, E>): void {
    if (this.ended) return
    this.ended = true
    const timer = this.timer
    if (timer === undefined) return this.resume(outcome)
    timer.cancel()
    this.resume(timer.settled === undefined ? outcome : Effect.zipRight(timer.settled, outcome))
  }

  // `onError` runs when the failure is taken, so that one that throws is a defect, as in `Effect.tryPromise`
  private failed(cause: unknown): void {
    this.settled(Effect.failSync(() => this.onError(cause)))
  }

  /** The timer fired first. */
  private fire(): void {
    if (this.ended) return
    this.ended = true
    this.controller?.abort()
    this.resume(Effect.fail(this.onTimeout(this.duration)))
  }

  cancel(): Effect.Effect<void> | undefined {
    this.ended = true
    this.controller?.abort()
    this.timer!.cancel()
    return this.timer!.settled
  }
}

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
 * never): no fiber. On another clock (`TestClock`) its `sleep` runs in a fiber of its own (on
 * `runtime`, or one made from the fiber's now), which `cancel` interrupts and `settled` awaits, so
 * that no fiber outlives the call (`LeakCheck`).
 */
const armTimer = <R>(
  parent: Fiber.RuntimeFiber<unknown, unknown>,
  runtime: Runtime.Runtime<R> | undefined,
  duration: Duration.Duration,
  fire: () => void
): Timer => {
  const clock = Context.get(parent.currentDefaultServices, Clock.Clock)
  defaultClock ??= Effect.runSync(Effect.clock)
  if (clock.constructor === defaultClock.constructor) {
    const millis = Duration.toMillis(duration)
    return millis <= maxTimerMillis ? new TimeoutTimer(setTimeout(fire, millis)) : never
  }
  // the runtime's flags are the caller's inside its uninterruptible region
  const sleeper = Runtime.runFork(runtime ?? runtimeOf(parent, flagsOf(parent)), Effect.interruptible(clock.sleep(duration)))
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

/** A `setTimeout` (one object: a waiting call holds it). */
class TimeoutTimer implements Timer {
  constructor(private readonly handle: ReturnType<typeof setTimeout>) {}
  get settled(): undefined {
    return undefined
  }
  cancel(): void {
    clearTimeout(this.handle)
  }
}

/** A timer that never fires (a duration longer than a JS timer takes). */
const never: Timer = { cancel: () => {}, settled: undefined }

/** The longest delay a JS timer takes (Effect's `Clock` treats a longer one as never). */
const maxTimerMillis = 2 ** 31 - 1

/**
 * `Effect.forEach(items, f, { concurrency })` with fail-fast TaskGroup semantics, for the hot
 * path. The caller starts the items in order, in plain code ({@link settle}), while fewer than
 * `concurrency` are running: an item done as soon as it starts (a pure tool) needs no fiber at
 * all; an item that waits goes on in a child fiber of its own (a worker), started at once. Once
 * `concurrency` workers run, the caller stops taking items, and each worker takes the next item
 * left as soon as it is done with one. So a group of pure items runs in no fiber, and items that
 * wait each get a worker, up to `concurrency`.
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
  // items start inside an uninterruptible region, and one that waits goes on in its worker in the
  // same step: no interruption can come between an item's start and the worker that runs it
  Effect.uninterruptibleMask((restore) =>
    Effect.withFiberRuntime<Array<B>, E, R>((parent, status) => {
      // built for the first worker: items done as soon as they start need none
      let runtime: Runtime.Runtime<R> | undefined
      const parentId = parent.id()
      const n = items.length
      const results = new Array<B>(n)
      const live = new Set<Fiber.RuntimeFiber<void, E>>()
      const ended: Array<Fiber.RuntimeFiber<void, E>> = []
      let next = 0
      let starting = true
      let stopped = false
      /** What the items raised, without the interruptions the group caused. */
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
      const workers = concurrency === "unbounded" ? n : Math.max(1, concurrency)
      // the caller takes the items itself while a worker could: an item done as soon as it starts
      // (a pure tool) needs no fiber; one that waits goes on in a worker of its own, which then takes
      // the items left once the caller has stopped taking them
      while (!stopped && next < n && live.size < workers) {
        const i = next++
        const started = settle(f(items[i]!, i))
        if (isDone(started)) {
          if (started._tag === "Success") {
            results[i] = started.value
          } else {
            raised = parallel(raised, withoutInterruptions(started.cause))
            stop()
          }
          continue
        }
        const worker = Runtime.runFork(
          runtime ??= runtimeOf<R>(parent, status.runtimeFlags),
          restore(Effect.flatMap(started, (b) => {
            results[i] = b
            return work
          }))
        )
        live.add(worker)
        worker.addObserver(onExit(worker))
      }
      starting = false

      const outcome = (): Effect.Effect<Array<B>, E> => {
        if (stopped) return Exit.failCause(raised)
        if (ended.length === 0) return Exit.succeed(results)
        let joined: Effect.Effect<void> = Effect.void
        for (const worker of ended) joined = Effect.zipRight(joined, inherit(worker, status.runtimeFlags))
        return Effect.as(joined, results)
      }
      if (live.size === 0) return outcome()
      const allEnded = Effect.async<void>((resume) => {
        if (live.size === 0) return resume(Effect.void)
        onEmpty = () => resume(Effect.void)
      })
      return Effect.matchCauseEffect(restore(allEnded), {
        onSuccess: outcome,
        onFailure: (interruption) => {
          stop()
          return Effect.zipRight(allEnded, Effect.suspend(() => Effect.failCause(sequential(interruption, raised))))
        }
      })
    })
  )

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
