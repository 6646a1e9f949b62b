/**
 * The fair semaphore behind `Model.withConcurrency` and a tool's `concurrency`, and the rate
 * limiter behind `Model.withRateLimit`: first come, first served; one wake-up per permit handed
 * over (so 100,000 waiters cost linear work); no permit ever lost to an interrupted waiter.
 *
 * Work is counted, not timed: a `Supervisor` counts every resumption of the waiters' fibers, so a
 * semaphore that wakes every waiter on each release (quadratic) fails the count.
 */
import { LeakCheck } from "@effect-agents/testing"
import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Exit, Fiber, FiberId, Supervisor, TestClock } from "effect"
import * as rateLimiter from "../../packages/core/src/internal/rateLimiter.js"
import * as semaphore from "../../packages/core/src/internal/semaphore.js"

/** Counts every resumption of the fibers it supervises (a start, a wake-up, a yield). */
class Resumptions extends Supervisor.AbstractSupervisor<number> {
  count = 0
  get value() {
    return Effect.sync(() => this.count)
  }
  override onResume() {
    this.count++
  }
}

/** A seeded generator, so that the "random" interrupts are the same on every run. */
const seeded = (seed: number) => () => {
  seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648
  return seed / 2_147_483_648
}

/** Let every forked fiber run until it waits. */
const settle = Effect.repeatN(Effect.yieldNow(), 10)

interface Permits {
  readonly takeAll: Effect.Effect<void>
  readonly releaseAll: Effect.Effect<void>
  readonly withPermit: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
}

const ours = (permits: number): Permits => {
  const s = semaphore.unsafeMake(permits)
  return { takeAll: Effect.repeatN(s.take, permits - 1), releaseAll: Effect.sync(() => s.release(permits)), withPermit: s.withPermit }
}

const effects = (permits: number): Permits => {
  const s = Effect.runSync(Effect.makeSemaphore(permits))
  return { takeAll: Effect.asVoid(s.take(permits)), releaseAll: Effect.asVoid(s.release(permits)), withPermit: s.withPermits(1) }
}

/**
 * `waiters` fibers queue on 5 taken permits; a seeded tenth of them is interrupted while waiting;
 * then the permits are released and every waiter holds a permit for one `yieldNow`. Returns how
 * often the waiters' fibers were resumed after the release, the order in which permits went out,
 * and how many waiters were interrupted.
 */
const stampede = (make: (permits: number) => Permits, waiters: number) =>
  Effect.gen(function*() {
    const permits = make(5)
    const resumptions = new Resumptions()
    const served: Array<number> = []
    yield* permits.takeAll
    const fibers = yield* Effect.forEach(
      Array.from({ length: waiters }, (_, i) => i),
      (i) => Effect.fork(Effect.supervised(permits.withPermit(Effect.zipRight(Effect.sync(() => served.push(i)), Effect.yieldNow())), resumptions))
    )
    yield* settle
    const random = seeded(7)
    const interrupted = fibers.filter(() => random() < 0.1)
    yield* Effect.forEach(interrupted, Fiber.interrupt, { discard: true })
    const before = resumptions.count
    yield* permits.releaseAll
    yield* Fiber.awaitAll(fibers)
    return { resumptions: resumptions.count - before, served, interrupted: interrupted.length }
  })

const increasing = (xs: ReadonlyArray<number>) => xs.every((x, i) => i === 0 || xs[i - 1]! < x)

describe("fair semaphore", () => {
  it.effect("waiters get permits in arrival order, one permit-holding time apart", () =>
    Effect.gen(function*() {
      const s = semaphore.unsafeMake(1)
      const got: Array<string> = []
      const fiber = yield* Effect.fork(LeakCheck.check(Effect.forEach(["a", "b", "c", "d"], (name) =>
        s.withPermit(Effect.zipRight(
          Effect.flatMap(Clock.currentTimeMillis, (t) => Effect.sync(() => got.push(`${name}@${t}`))),
          Effect.sleep("1 second")
        )), { concurrency: "unbounded", discard: true })))
      yield* TestClock.adjust(4000)
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(got, ["a@0", "b@1000", "c@2000", "d@3000"])
      assert.strictEqual(s.available, 1)
    }))

  it.effect("a waiter interrupted while waiting leaves the queue at once and takes no permit", () =>
    Effect.gen(function*() {
      const s = semaphore.unsafeMake(1)
      const holder = yield* Effect.fork(s.withPermit(Effect.sleep("1 second")))
      const impatient = yield* Effect.fork(s.withPermit(Effect.never))
      const patient = yield* Effect.fork(s.withPermit(Clock.currentTimeMillis))
      yield* settle
      assert.strictEqual(s.waiting, 2)
      yield* Fiber.interrupt(impatient)
      assert.strictEqual(s.waiting, 1)
      yield* TestClock.adjust(1000)
      yield* Fiber.join(holder)
      assert.strictEqual(yield* Fiber.join(patient), 1000)
      assert.deepStrictEqual([s.available, s.waiting], [1, 0])
    }))

  it.effect("a permit handed to a waiter already told to stop goes on to the next waiter", () =>
    Effect.gen(function*() {
      const s = semaphore.unsafeMake(1)
      const ran: Array<string> = []
      yield* s.take
      const first = yield* Effect.fork(s.withPermit(Effect.sync(() => ran.push("first"))))
      const second = yield* Effect.fork(s.withPermit(Effect.sync(() => ran.push("second"))))
      yield* settle
      // the interruption reaches `first` before the permit does, in the same instant
      yield* Effect.sync(() => {
        first.unsafeInterruptAsFork(FiberId.none)
        s.release(1)
      })
      const firstExit = yield* Fiber.await(first)
      yield* Fiber.join(second)
      assert.isTrue(Exit.isInterrupted(firstExit))
      assert.deepStrictEqual(ran, ["second"])
      assert.deepStrictEqual([s.available, s.waiting], [1, 0])
    }))

  it.effect("a waiter interrupted just after its permit arrived gives it back when it stops", () =>
    Effect.gen(function*() {
      const s = semaphore.unsafeMake(1)
      yield* s.take
      const first = yield* Effect.fork(s.withPermit(Effect.never))
      const second = yield* Effect.fork(s.withPermit(Effect.void))
      yield* settle
      // the permit reaches `first` before the interruption does, in the same instant
      yield* Effect.sync(() => {
        s.release(1)
        first.unsafeInterruptAsFork(FiberId.none)
      })
      assert.isTrue(Exit.isInterrupted(yield* Fiber.await(first)))
      yield* Fiber.join(second)
      assert.deepStrictEqual([s.available, s.waiting], [1, 0])
    }))

  it.effect("a permit taken for a scope is held until the scope closes", () =>
    Effect.gen(function*() {
      const s = semaphore.unsafeMake(1)
      const fiber = yield* Effect.fork(Effect.scoped(Effect.zipRight(s.permitScoped, Effect.sleep("1 second"))))
      const next = yield* Effect.fork(Effect.zipRight(Effect.scoped(s.permitScoped), Clock.currentTimeMillis))
      yield* TestClock.adjust(1000)
      yield* Fiber.join(fiber)
      assert.strictEqual(yield* Fiber.join(next), 1000)
      assert.strictEqual(s.available, 1)
    }))

  it.effect("100,000 waiters with random interrupts: served in arrival order, each woken once, no permit lost", () =>
    Effect.gen(function*() {
      const waiters = 100_000
      const { interrupted, resumptions, served } = yield* stampede(ours, waiters)
      assert.strictEqual(served.length + interrupted, waiters)
      assert.isTrue(increasing(served), "permits went out in arrival order")
      // one resumption when its permit arrives, one after its `yieldNow`
      assert.isAtMost(resumptions, 2 * served.length)
    }), 120_000)

  it.effect("the same count catches Effect's Semaphore waking every waiter on each release (why ours exists)", () =>
    Effect.gen(function*() {
      const waiters = 500
      const { resumptions, served } = yield* stampede(effects, waiters)
      assert.isAbove(resumptions, 10 * served.length, "if this fails, Effect's Semaphore no longer wakes every waiter: consider dropping ours")
    }))
})

describe("fair rate limiter", () => {
  it.effect("20,000 waiters on a fixed window are served in arrival order, 5,000 per window, each woken once", () =>
    Effect.gen(function*() {
      const waiters = 20_000
      const limited = yield* rateLimiter.make({ limit: 5_000, interval: "1 second", algorithm: "fixed-window" })
      const resumptions = new Resumptions()
      const served: Array<number> = []
      const at: Array<number> = []
      const fibers = yield* Effect.forEach(Array.from({ length: waiters }, (_, i) => i), (i) =>
        Effect.fork(Effect.supervised(
          limited(Effect.flatMap(Clock.currentTimeMillis, (t) => Effect.sync(() => served.push(i) && at.push(t)))),
          resumptions
        )))
      yield* settle
      const random = seeded(11)
      const interrupted = fibers.filter((_, i) => i >= 5_000 && random() < 0.1)
      yield* Effect.forEach(interrupted, Fiber.interrupt, { discard: true })
      const before = resumptions.count
      yield* TestClock.adjust(10_000)
      yield* Fiber.awaitAll(fibers)
      assert.strictEqual(served.length + interrupted.length, waiters)
      assert.isTrue(increasing(served), "tokens went out in arrival order")
      assert.deepStrictEqual([at[0], at[4_999], at[5_000], at[9_999], at[10_000]], [0, 0, 1000, 1000, 2000])
      assert.isAtMost(resumptions.count - before, served.length)
    }).pipe(Effect.scoped), 60_000)

  it.effect("a waiter interrupted while waiting for a token takes none with it", () =>
    Effect.gen(function*() {
      const limited = yield* rateLimiter.make({ limit: 1, interval: "1 second" })
      yield* limited(Effect.void)
      const impatient = yield* Effect.fork(limited(Effect.void))
      const patient = yield* Effect.fork(limited(Clock.currentTimeMillis))
      yield* settle
      yield* Fiber.interrupt(impatient)
      yield* TestClock.adjust(1000)
      assert.strictEqual(yield* Fiber.join(patient), 1000)
    }).pipe(Effect.scoped))
})
