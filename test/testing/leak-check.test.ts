/**
 * LeakCheck: a supervisor-based check that no fiber started by an effect outlives it.
 */
import { LeakCheck } from "@effect-agents/testing"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Option, TestClock } from "effect"

const leakOf = (exit: Exit.Exit<unknown, unknown>): LeakCheck.FiberLeak => {
  assert.isTrue(Exit.isFailure(exit))
  const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
  assert.isTrue(Option.isSome(failure) && failure.value instanceof LeakCheck.FiberLeak)
  return Option.getOrThrow(failure) as LeakCheck.FiberLeak
}

describe("LeakCheck.check", () => {
  it.effect("passes an effect whose forked fibers all ended, and keeps its value", () =>
    Effect.gen(function*() {
      const value = yield* LeakCheck.check(Effect.gen(function*() {
        const a = yield* Effect.fork(Effect.as(Effect.sleep("1 second"), 1))
        const b = yield* Effect.fork(Effect.succeed(2))
        yield* TestClock.adjust("1 second")
        return (yield* Fiber.join(a)) + (yield* Fiber.join(b))
      }))
      assert.strictEqual(value, 3)
    }))

  it.effect("passes an effect that interrupts the fibers it forked", () =>
    Effect.gen(function*() {
      yield* LeakCheck.check(Effect.flatMap(Effect.fork(Effect.never), Fiber.interrupt))
    }))

  it.effect("fails with FiberLeak when a forked child fiber is left running", () =>
    Effect.gen(function*() {
      let leaked: Fiber.RuntimeFiber<never> | undefined
      const exit = yield* LeakCheck.check(
        Effect.map(Effect.fork(Effect.never), (fiber) => {
          leaked = fiber
        })
      ).pipe(Effect.exit)
      const leak = leakOf(exit)
      assert.deepStrictEqual(leak.fibers, [`#${leaked!.id().id}`])
      assert.strictEqual(leak.message, `1 fiber(s) outlived the checked effect: #${leaked!.id().id}`)
      yield* Fiber.interrupt(leaked!)
    }))

  it.effect("fails with FiberLeak when a daemon fiber is left running", () =>
    Effect.gen(function*() {
      let leaked: Fiber.RuntimeFiber<void> | undefined
      const exit = yield* LeakCheck.check(
        Effect.map(Effect.forkDaemon(Effect.sleep("1 hour")), (fiber) => {
          leaked = fiber
        })
      ).pipe(Effect.exit)
      assert.strictEqual(leakOf(exit).fibers.length, 1)
      yield* Fiber.interrupt(leaked!)
    }))

  it.effect("reports a leak even when the checked effect failed", () =>
    Effect.gen(function*() {
      let leaked: Fiber.RuntimeFiber<never> | undefined
      const exit = yield* LeakCheck.check(
        Effect.flatMap(Effect.fork(Effect.never), (fiber) => {
          leaked = fiber
          return Effect.fail("boom")
        })
      ).pipe(Effect.exit)
      assert.strictEqual(leakOf(exit).fibers.length, 1)
      yield* Fiber.interrupt(leaked!)
    }))

  it.effect("keeps the checked effect's own failure when nothing leaked", () =>
    Effect.gen(function*() {
      const exit = yield* LeakCheck.check(Effect.fail("boom")).pipe(Effect.exit)
      assert.deepStrictEqual(exit, Exit.fail("boom"))
    }))
})

describe("LeakCheck.make", () => {
  it.effect("tracks the fibers forked inside supervise while they run, and is clean once they are interrupted", () =>
    Effect.gen(function*() {
      const leaks = yield* LeakCheck.make
      const fiber = yield* Effect.fork(leaks.supervise(
        Effect.zip(Effect.fork(Effect.never), Effect.never)
      ))
      yield* TestClock.adjust("1 second")
      // the fiber forked inside `supervise` is tracked; the test's own fork is not
      assert.strictEqual((yield* leaks.live).length, 1)
      assert.isTrue(Exit.isFailure(yield* Effect.exit(leaks.assertClean)))
      yield* Fiber.interrupt(fiber)
      assert.strictEqual((yield* leaks.live).length, 0)
      yield* leaks.assertClean
    }))

  it.effect("does not track fibers started outside supervise", () =>
    Effect.gen(function*() {
      const leaks = yield* LeakCheck.make
      const outside = yield* Effect.fork(Effect.never)
      yield* leaks.assertClean
      yield* Fiber.interrupt(outside)
    }))
})
