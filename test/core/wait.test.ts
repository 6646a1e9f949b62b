/**
 * Waiting with no frame (`internal/wait.ts`): a Promise model call waits in one Async operation
 * whose canceler is the fiber's interruptor, instead of `Effect.async`'s `onInterrupt` region.
 * Both ways (`waitHooked`, and `waitAsync` for a runtime without the internals it reads) behave
 * the same: the waiter's outcome is the effect's; an interrupted wait runs its canceler, and
 * awaits the canceler's effect, before the fiber goes on; an uninterruptible wait is never cut.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, type Fiber as FiberType } from "effect"
import * as wait from "../../packages/core/src/internal/wait.js"

/** A waiter that records what happens to it; `resumeWith` ends the wait from outside. */
class Recording extends wait.Waiter<string, string> {
  readonly log: Array<string> = []
  fiber: FiberType.RuntimeFiber<unknown, unknown> | undefined

  constructor(private readonly onCancel?: () => Effect.Effect<void> | undefined, private readonly sync?: Effect.Effect<string, string>) {
    super()
  }

  start(fiber: FiberType.RuntimeFiber<unknown, unknown>): boolean {
    this.fiber = fiber
    this.log.push("start")
    if (this.sync === undefined) return true
    this.resume(this.sync)
    return false
  }

  cancel(): Effect.Effect<void> | undefined {
    this.log.push("cancel")
    return this.onCancel?.()
  }

  resumeWith(effect: Effect.Effect<string, string>): void {
    this.resume(effect)
  }
}

const ways = [["hooked", wait.waitHooked], ["Effect.async", wait.waitAsync]] as const

describe("wait", () => {
  it("the installed Effect runtime is the one the frame-free wait is written for", () => {
    // reads Effect internals (see wait.ts): if an Effect upgrade changes them, this fails, and
    // waits fall back to Effect.async (correct, ≈ 0.6 KB more per waiting conversation)
    assert.isTrue(wait.hooked())
  })

  for (const [name, waitWith] of ways) {
    describe(name, () => {
      it.effect("ends with what the waiter resumes it with, a success or a failure", () =>
        Effect.gen(function*() {
          const succeeding = new Recording()
          const a = yield* Effect.fork(waitWith(succeeding))
          yield* Effect.yieldNow()
          succeeding.resumeWith(Effect.succeed("done"))
          assert.deepStrictEqual(yield* Fiber.await(a), Exit.succeed("done"))

          const failing = new Recording()
          const b = yield* Effect.fork(waitWith(failing))
          yield* Effect.yieldNow()
          failing.resumeWith(Effect.fail("boom"))
          assert.deepStrictEqual(yield* Fiber.await(b), Exit.fail("boom"))
          assert.deepStrictEqual([...succeeding.log, ...failing.log], ["start", "start"])
        }))

      it.effect("a waiter that ends while it starts is never cancelled", () =>
        Effect.gen(function*() {
          const waiter = new Recording(undefined, Effect.succeed("at once"))
          assert.strictEqual(yield* waitWith(waiter), "at once")
          assert.deepStrictEqual(waiter.log, ["start"])
        }))

      it.effect("interrupting a waiting fiber runs the canceler before the fiber goes on with its interruption", () =>
        Effect.gen(function*() {
          const order: Array<string> = []
          const waiter = new Recording(() => {
            order.push("cancel")
            return undefined
          })
          const fiber = yield* Effect.fork(Effect.onInterrupt(waitWith(waiter), () => Effect.sync(() => order.push("interrupted"))))
          yield* Effect.yieldNow()
          const exit = yield* Fiber.interrupt(fiber)
          assert.isTrue(Exit.isInterrupted(exit))
          assert.deepStrictEqual(order, ["cancel", "interrupted"])
        }))

      it.effect("the canceler's effect is awaited before the interrupted fiber goes on", () =>
        Effect.gen(function*() {
          const release = yield* Deferred.make<void>()
          const order: Array<string> = []
          const waiter = new Recording(() => Effect.zipRight(Deferred.await(release), Effect.sync(() => order.push("cleaned up"))))
          const fiber = yield* Effect.fork(Effect.onInterrupt(waitWith(waiter), () => Effect.sync(() => order.push("interrupted"))))
          yield* Effect.yieldNow()
          yield* Fiber.interruptFork(fiber)
          yield* Effect.yieldNow()
          assert.isNull(fiber.unsafePoll())
          assert.deepStrictEqual(order, [])
          yield* Deferred.succeed(release, undefined)
          assert.isTrue(Exit.isInterrupted(yield* Fiber.await(fiber)))
          assert.deepStrictEqual(order, ["cleaned up", "interrupted"])
        }))

      it.effect("an uninterruptible wait is not cut: it ends when its waiter resumes it, then the interruption takes effect", () =>
        Effect.gen(function*() {
          const waiter = new Recording()
          const got: Array<string> = []
          const fiber = yield* Effect.fork(Effect.uninterruptible(Effect.tap(waitWith(waiter), (value) => got.push(value))))
          yield* Effect.yieldNow()
          yield* Fiber.interruptFork(fiber)
          yield* Effect.yieldNow()
          assert.isNull(fiber.unsafePoll())
          waiter.resumeWith(Effect.succeed("finished"))
          assert.isTrue(Exit.isInterrupted(yield* Fiber.await(fiber)))
          assert.deepStrictEqual(got, ["finished"])
          assert.deepStrictEqual(waiter.log, ["start"])
        }))
    })
  }

  it.effect("a fiber waiting hooked holds no frame for its canceler, where Effect.async holds an onInterrupt region", () =>
    Effect.gen(function*() {
      // `_stack` is the fiber runtime's continuation stack (an Effect internal, as in wait.ts)
      const depth = (fiber: FiberType.RuntimeFiber<unknown, unknown>) => (fiber as unknown as { readonly _stack: ReadonlyArray<unknown> })._stack.length
      const bare = yield* Effect.fork(Effect.async<never>((_resume) => {}))
      const hooked = new Recording()
      const viaHook = yield* Effect.fork(wait.waitHooked(hooked))
      const viaAsync = yield* Effect.fork(wait.waitAsync(new Recording()))
      yield* Effect.yieldNow()
      assert.strictEqual(depth(viaHook), depth(bare))
      assert.isAbove(depth(viaAsync), depth(bare))
      hooked.resumeWith(Effect.succeed("done"))
      yield* Fiber.join(viaHook)
      yield* Fiber.interrupt(bare)
      yield* Fiber.interrupt(viaAsync)
    }))
})
