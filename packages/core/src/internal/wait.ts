import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import type * as RuntimeFlags from "effect/RuntimeFlags"

/**
 * Waiting with no frame on the fiber's stack.
 *
 * `Effect.async(register)` whose register returns a canceler wraps its Async operation in
 * `Effect.onInterrupt`: an uninterruptible region, a handler, an interruptible region. A fiber
 * waiting in it holds two runtime-flags frames, a handler frame and their closures, ≈ 0.6 KB
 * (heap snapshots of 3,000 waiting conversations): at 100,000 conversations waiting on their
 * model, 60 MB to keep one canceler at hand.
 *
 * An interruptible fiber waiting in an Async operation is resumed, when it is interrupted, by the
 * callback it handed to the operation's register function, which it keeps as its async
 * interruptor. {@link wait} builds the Async operation itself and replaces that interruptor with
 * one that runs the canceler first, then resumes the fiber with its interruption: what
 * `onInterrupt` does (the canceler runs before the fiber goes on), with no frame at all.
 *
 * That reads two internals of Effect 3's runtime: its `EffectPrimitive` class and the fiber's
 * `_asyncInterruptor`. {@link hooked} checks once, by running one such operation, that they are
 * as described; where they are not (another version of Effect), `wait` is `Effect.async` with the
 * canceler in its `onInterrupt`, as before.
 *
 * @internal
 */

/**
 * One wait: {@link wait} sets `resume` (the fiber's callback: it ends the wait with an effect the
 * fiber runs next), then calls `start`. When the fiber is interrupted while it waits, `cancel`
 * runs (synchronous cleanup, then optionally an effect the fiber awaits: a timer's fiber ending)
 * before the fiber goes on with its interruption.
 */
export abstract class Waiter<A, E> {
  resume!: (effect: Effect.Effect<A, E>) => void

  /** Start waiting; `false` when the wait already ended (`resume` was called). */
  abstract start(fiber: Fiber.RuntimeFiber<unknown, unknown>): boolean

  abstract cancel(): Effect.Effect<void> | undefined

  /** The fiber was interrupted: cancel, then resume it with `exit`, its interruption. */
  interrupted(exit: Exit.Exit<A, E>): void {
    const after = this.cancel()
    if (after === undefined) return this.resume(exit)
    Effect.runFork(after).addObserver(() => this.resume(exit))
  }
}

/** The internals `wait` reads (see the module's comment). */
interface Primitive {
  effect_instruction_i0: unknown
  effect_instruction_i1: unknown
}

interface Interruptible {
  _asyncInterruptor: ((exit: Exit.Exit<any, any>) => void) | null
  readonly currentRuntimeFlags?: RuntimeFlags.RuntimeFlags
}

/** Effect's `EffectPrimitive` class, from one of its instances (`flatMap` makes one). */
const Primitive = Object.getPrototypeOf(Effect.flatMap(Effect.void, () => Effect.void)).constructor as new(op: string) => Primitive

/** The fiber running this code (the register of an Async operation runs in its fiber's run loop). */
const currentFiber = (): Fiber.RuntimeFiber<unknown, unknown> => Option.getOrThrow(Fiber.getCurrentFiber())

/** An Async operation whose `register` gets the fiber's resume callback. */
const asyncOperation = <A, E>(register: (resume: (effect: Effect.Effect<A, E>) => void) => void): Effect.Effect<A, E> => {
  const operation = new Primitive("Async")
  operation.effect_instruction_i0 = register
  operation.effect_instruction_i1 = FiberId.none
  return operation as unknown as Effect.Effect<A, E>
}

let hookedOnce: boolean | undefined

/**
 * Whether the runtime is as `wait` expects: an interruptible fiber keeps the callback its Async
 * operation got as its interruptor (checked once, by running one such operation).
 */
export const hooked = (): boolean => hookedOnce ??= probe()

const probe = (): boolean => {
  try {
    let seen = false
    const exit = Effect.runSyncExit(asyncOperation<void, never>((resume) => {
      seen = (currentFiber() as unknown as Interruptible)._asyncInterruptor === (resume as unknown)
      resume(Effect.void)
    }))
    return seen && Exit.isSuccess(exit)
  } catch {
    return false
  }
}

/**
 * Wait for `waiter` to resume the fiber. With {@link hooked}, this holds one Async operation and
 * nothing else on the fiber's stack, and the waiter's `interrupted` is the fiber's interruptor.
 *
 * @internal
 */
export const wait = <A, E>(waiter: Waiter<A, E>): Effect.Effect<A, E> => hooked() ? waitHooked(waiter) : waitAsync(waiter)

/** {@link wait} when {@link hooked}: one Async operation, its waiter's `interrupted` as the fiber's interruptor. @internal */
export const waitHooked = <A, E>(waiter: Waiter<A, E>): Effect.Effect<A, E> =>
  // bound functions, not closures: no context object beside them (a waiting call holds both)
  asyncOperation<A, E>(registerHooked.bind(waiter as Waiter<any, any>))

function registerHooked(this: Waiter<any, any>, resume: (effect: Effect.Effect<any, any>) => void): void {
  this.resume = resume
  const fiber = currentFiber()
  const runtime = fiber as unknown as Interruptible
  // an uninterruptible fiber has no interruptor: nothing to replace
  if (this.start(fiber) && runtime._asyncInterruptor === (resume as unknown)) runtime._asyncInterruptor = this.interrupted.bind(this)
}

/** {@link wait} otherwise: `Effect.async`, the waiter's `cancel` as its canceler. @internal */
export const waitAsync = <A, E>(waiter: Waiter<A, E>): Effect.Effect<A, E> =>
  Effect.async<A, E>((resume) => {
    waiter.resume = resume
    return waiter.start(currentFiber()) ? Effect.suspend(() => waiter.cancel() ?? Effect.void) : undefined
  })

/** The runtime flags `fiber` runs with now (a field of Effect's fiber runtime; the default ones where it has none). */
export const flagsOf = (fiber: Fiber.RuntimeFiber<unknown, unknown>): RuntimeFlags.RuntimeFlags =>
  (fiber as unknown as Interruptible).currentRuntimeFlags ?? Runtime.defaultRuntimeFlags
