/**
 * Limits under load: many waiters on a semaphore or a rate limiter, Effect's against ours.
 *
 * - **semaphore**: `w` fibers wait on 5 permits (held by the bench, then released at once); 10 % of
 *   the waiters, picked by a seeded generator, are interrupted while waiting; each waiter holds its
 *   permit for one `yieldNow`. Figures: CPU and wall time from the release until every waiter is
 *   done, fiber wake-ups (a `Supervisor` counts every resumption of a waiter's fiber), retained
 *   heap per waiter while they wait, and whether permits went out in arrival order.
 * - **rate limiter**: `w` fibers wait on a token bucket of 1,000 tokens per second (one token per
 *   millisecond), once its first burst and a second more have been served; figures: CPU
 *   used during the next second of real time while they wait, and the tokens served in it (1,000
 *   expected).
 * - **Model.withConcurrency(5)**: `w` conversations at once through the public API, the model
 *   answering after one `yieldNow`.
 *
 * Effect's implementations do O(w) work per release (they wake every waiter), so they stop at the
 * size where one run exceeds a budget (20 s of CPU); ours run up to 100,000 waiters.
 *
 *   npm run bench:limits            # options after --: --quick (smaller sizes)
 */
import { Agent, Model } from "@effect-agents/core"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as RateLimiter from "effect/RateLimiter"
import * as Stream from "effect/Stream"
import * as Supervisor from "effect/Supervisor"
import { parseArgs } from "node:util"
import * as rateLimiter from "../packages/core/src/internal/rateLimiter.js"
import * as semaphore from "../packages/core/src/internal/semaphore.js"
import { collectGarbage, mulberry32 } from "./shapes/measure.js"

const { values: flags } = parseArgs({ options: { quick: { type: "boolean" } } })
const sizes = flags.quick ? [1_000, 2_000, 10_000, 100_000] : [1_000, 2_000, 5_000, 10_000, 20_000, 100_000]
const budgetMillis = 20_000

/** Counts every resumption of the fibers it supervises: a waiter woken for nothing counts too. */
class WakeUps extends Supervisor.AbstractSupervisor<number> {
  count = 0
  get value() {
    return Effect.sync(() => this.count)
  }
  override onResume() {
    this.count++
  }
}

interface Permits {
  readonly takeAll: Effect.Effect<void>
  readonly releaseAll: Effect.Effect<void>
  readonly withPermit: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
}

const permits = 5

const implementations: ReadonlyArray<{ readonly name: string; readonly make: () => Permits }> = [
  {
    name: "Effect.makeSemaphore",
    make: () => {
      const s = Effect.runSync(Effect.makeSemaphore(permits))
      return { takeAll: Effect.asVoid(s.take(permits)), releaseAll: Effect.asVoid(s.release(permits)), withPermit: s.withPermits(1) }
    }
  },
  {
    name: "fair semaphore (ours)",
    make: () => {
      const s = semaphore.unsafeMake(permits)
      return {
        takeAll: Effect.repeatN(s.take, permits - 1),
        releaseAll: Effect.sync(() => s.release(permits)),
        withPermit: s.withPermit
      }
    }
  }
]

const semaphoreRun = (make: () => Permits, waiters: number) =>
  Effect.gen(function*() {
    const s = make()
    const wakeUps = new WakeUps()
    const random = mulberry32(42)
    const acquired: Array<number> = []
    let queued = 0
    const heapBefore = collectGarbage()
    yield* s.takeAll
    const fibers: Array<Fiber.RuntimeFiber<void>> = []
    for (let i = 0; i < waiters; i++) {
      fibers.push(
        yield* Effect.fork(Effect.supervised(
          Effect.zipRight(
            Effect.sync(() => queued++),
            s.withPermit(Effect.zipRight(Effect.sync(() => acquired.push(i)), Effect.yieldNow()))
          ),
          wakeUps
        ))
      )
    }
    while (queued < waiters) yield* Effect.yieldNow()
    yield* Effect.yieldNow()
    const heap = (collectGarbage() - heapBefore) / waiters
    const interrupted = fibers.filter(() => random() < 0.1)
    yield* Effect.forEach(interrupted, Fiber.interrupt, { discard: true })
    const wakeUpsBefore = wakeUps.count
    const cpu = process.cpuUsage()
    const wall = performance.now()
    yield* s.releaseAll
    yield* Fiber.awaitAll(fibers)
    const used = process.cpuUsage(cpu)
    const inOrder = acquired.every((n, i) => i === 0 || acquired[i - 1]! < n)
    return {
      cpuMillis: (used.user + used.system) / 1000,
      wallMillis: performance.now() - wall,
      wakeUps: wakeUps.count - wakeUpsBefore,
      served: acquired.length,
      interrupted: interrupted.length,
      heapPerWaiter: heap,
      inOrder
    }
  })

const tokenBucket = { limit: 1000, interval: "1 second" } as const

const rateLimiters: ReadonlyArray<{ readonly name: string; readonly make: typeof RateLimiter.make }> = [
  { name: "effect/RateLimiter", make: RateLimiter.make },
  { name: "rate limiter (ours)", make: rateLimiter.make }
]

/** CPU used in one second of real time while `waiters` wait on a token bucket of 1,000 per second, and tokens served. */
const rateLimiterRun = (make: typeof RateLimiter.make, waiters: number) =>
  Effect.scoped(Effect.gen(function*() {
    const limiter = yield* make(tokenBucket)
    let served = 0
    const fibers: Array<Fiber.RuntimeFiber<unknown>> = []
    for (let i = 0; i < waiters + 2 * tokenBucket.limit; i++) fibers.push(yield* Effect.fork(limiter(Effect.sync(() => served++))))
    // a second for the bucket to settle (the fork loop above may have delayed the refill, which then catches
    // up); `waiters` still wait after it: the first burst and that second served the 2 × 1,000 forked beyond them
    yield* Effect.sleep("1 second")
    const cpu = process.cpuUsage()
    const before = served
    yield* Effect.sleep("1 second")
    const used = process.cpuUsage(cpu)
    const tokens = served - before
    yield* Effect.forEach(fibers, Fiber.interrupt, { discard: true })
    return { cpuMillis: (used.user + used.system) / 1000, tokens }
  }))

const agent = Agent.make({ name: "agent", instructions: "" })
const done: Model.ModelResponse = { parts: [{ _tag: "Text", text: "done" }], usage: Model.emptyUsage, finishReason: "stop" }
const yieldingModel: Model.Model.Service = {
  generate: () => Effect.as(Effect.yieldNow(), done),
  stream: () => Stream.make(done)
}

/** `waiters` conversations at once through `Model.withConcurrency(5)`, the model answering after a `yieldNow`. */
const withConcurrencyRun = (waiters: number) =>
  Effect.gen(function*() {
    const cpu = process.cpuUsage()
    const wall = performance.now()
    yield* Effect.forEach(Array.from({ length: waiters }, (_, i) => `conversation ${i}`), (p) => Agent.run(agent, p), {
      concurrency: "unbounded",
      discard: true
    }).pipe(
      Effect.provide(Model.layer(yieldingModel).pipe(Model.withConcurrency(5)))
    )
    const used = process.cpuUsage(cpu)
    return { cpuMillis: (used.user + used.system) / 1000, wallMillis: performance.now() - wall }
  })

const fixed = (n: number, digits = 0) => n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits })

const main = Effect.gen(function*() {
  console.log(`Limits under load — Node ${process.version}; ${permits} permits; 10 % of waiters interrupted while waiting\n`)
  console.log("semaphore: from the release until every waiter is done")
  console.log(
    ["implementation".padEnd(24), "waiters".padStart(9), "CPU ms".padStart(10), "wall ms".padStart(10), "wake-ups".padStart(13),
      "per waiter".padStart(11), "heap B/waiter".padStart(14), "FIFO".padStart(6)].join("")
  )
  for (const impl of implementations) {
    for (const w of sizes) {
      const r = yield* semaphoreRun(impl.make, w)
      console.log([
        impl.name.padEnd(24),
        fixed(w).padStart(9),
        fixed(r.cpuMillis).padStart(10),
        fixed(r.wallMillis).padStart(10),
        fixed(r.wakeUps).padStart(13),
        fixed(r.wakeUps / w, 1).padStart(11),
        fixed(r.heapPerWaiter).padStart(14),
        (r.inOrder ? "yes" : "no").padStart(6)
      ].join(""))
      if (r.served + r.interrupted !== w) console.log(`  !! ${w - r.served - r.interrupted} waiters neither served nor interrupted`)
      if (r.cpuMillis * 4 > budgetMillis) {
        console.log(`  (stopping here: the next size would exceed ${budgetMillis / 1000} s)`)
        break
      }
    }
  }
  console.log("\nrate limiter: token bucket of 1,000 per second; one second of real time while the waiters wait")
  console.log(["implementation".padEnd(24), "waiters".padStart(9), "CPU ms / s".padStart(12), "tokens / s".padStart(12)].join(""))
  for (const impl of rateLimiters) {
    for (const w of sizes) {
      const r = yield* rateLimiterRun(impl.make, w)
      console.log([impl.name.padEnd(24), fixed(w).padStart(9), fixed(r.cpuMillis).padStart(12), fixed(r.tokens).padStart(12)].join(""))
      if (r.cpuMillis > 900 && w >= 10_000) {
        console.log("  (stopping here: one second of waiting already takes a whole core)")
        break
      }
    }
  }
  console.log("\nModel.withConcurrency(5): conversations at once, model answering after a yieldNow")
  console.log(["conversations".padStart(14), "CPU ms".padStart(10), "wall ms".padStart(10), "CPU µs/conv".padStart(13)].join(""))
  for (const w of flags.quick ? [1_000, 10_000] : [1_000, 10_000, 100_000]) {
    const r = yield* withConcurrencyRun(w)
    console.log([fixed(w).padStart(14), fixed(r.cpuMillis).padStart(10), fixed(r.wallMillis).padStart(10), fixed((r.cpuMillis * 1000) / w, 1).padStart(13)].join(""))
  }
})

Effect.runPromise(main).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
