/**
 * 06 — Limits shared across conversations.
 *
 * Scenario: 50 conversations start at once, all through one model layer limited to 5 calls at
 * a time (`Model.withConcurrency(5)`) and 10 calls per second (`Model.withRateLimit`, Effect's
 * `RateLimiter`, token bucket: a burst of 10, then one call every 100 ms). Each model call takes
 * 400 ms. The limits live in the layer, so every conversation served by it shares them: nothing
 * per conversation has to know about them. `withConcurrency` is applied last (outermost), so a
 * call takes its concurrency slot, then waits for its rate token, then starts.
 *
 * Output: a timeline with one row per 500 ms — calls started, calls in flight at most, and
 * conversations done — then the achieved rate and the checks: never more than 5 calls at
 * once; after the burst of 10, never more than one start per 100 ms on average; and the time
 * the runs spent waiting for a permit (the `Model.waitForPermit` span, read with a tracer).
 *
 * Clock: real time (about 4.5 s); figures vary by a few ms between runs. Offline: the model is
 * `ScriptedModel`. The program checks its own claims and exits 1 if one does not hold.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Agent, Model } from "@effect-agents/core"
import { ScriptedModel } from "@effect-agents/testing"
import { Clock, Console, Effect, Layer, Tracer } from "effect"
import * as Timeline from "./timeline.js"

const conversations = 50
const callMillis = 400
const maxConcurrent = 5
const perSecond = 10

// -----------------------------------------------------------------------------
// the model: scripted, with every call's start and end recorded
// -----------------------------------------------------------------------------

const starts: Array<number> = []
const ends: Array<number> = []
let inFlight = 0
let peak = 0
const peaks = new Map<number, number>()
let t0 = 0
const bucket = (at: number) => Math.floor((at - t0) / 500)

/** The raw model (what a provider would see): 400 ms per call, with each call's start and end recorded. */
const Recorded = Layer.effect(
  Model.Model,
  Effect.map(Model.Model, (model): Model.Model.Service => ({
    generate: (request) =>
      Effect.acquireUseRelease(
        Effect.map(Clock.currentTimeMillis, (now) => {
          starts.push(now)
          inFlight++
          peak = Math.max(peak, inFlight)
          peaks.set(bucket(now), Math.max(peaks.get(bucket(now)) ?? 0, inFlight))
        }),
        () => model.generate(request),
        () =>
          Effect.map(Clock.currentTimeMillis, (now) => {
            inFlight--
            ends.push(now)
          })
      ),
    stream: model.stream
  }))
).pipe(Layer.provide(ScriptedModel.layer(() => ScriptedModel.text("answer", { delay: `${callMillis} millis` }))))

/** The limited model every conversation uses. */
const Limited = Recorded.pipe(
  Model.withRateLimit({ limit: perSecond, interval: "1 second" }),
  Model.withConcurrency(maxConcurrent)
)

// -----------------------------------------------------------------------------
// the program
// -----------------------------------------------------------------------------

/** A tracer that keeps the permit-wait spans. */
const waits: Array<Tracer.Span> = []
const keepWaits = Effect.map(Effect.tracer, (native) =>
  Tracer.make({
    span: (...args) => {
      const span = native.span(...args)
      if (span.name === "Model.waitForPermit") waits.push(span)
      return span
    },
    context: native.context
  }))

const assistant = Agent.make({ name: "assistant", instructions: "Answer briefly." })

const program = Effect.gen(function*() {
  const claims: Array<Timeline.Claim> = []
  const tracer = yield* keepWaits
  t0 = yield* Clock.currentTimeMillis
  const done: Array<number> = []
  yield* Effect.forEach(
    Array.from({ length: conversations }, (_, i) => `question ${i + 1}`),
    (prompt) => Effect.flatMap(Agent.run(assistant, prompt), () => Effect.map(Clock.currentTimeMillis, (now) => done.push(now))),
    { concurrency: "unbounded" }
  ).pipe(Effect.provide(Limited), Effect.withTracer(tracer))
  const total = Math.max(...done) - t0

  yield* Console.log(`${conversations} conversations, one model limited to ${maxConcurrent} calls at once and ${perSecond} calls/s\n`)
  yield* Console.log("     t (s)   started               in flight (max)   conversations done")
  for (let b = 0; b * 500 <= total; b++) {
    const started = starts.filter((s) => bucket(s) === b).length
    const finished = done.filter((d) => d - t0 < (b + 1) * 500).length
    yield* Console.log(
      `${(b / 2).toFixed(1).padStart(6)}–${((b + 1) / 2).toFixed(1).padEnd(4)} ${String(started).padStart(2)} ${"#".repeat(started).padEnd(18)} ${
        String(peaks.get(b) ?? 0).padStart(2)
      }                ${String(finished).padStart(2)}`
    )
  }

  const sorted = starts.slice().sort((a, b) => a - b)
  const first = sorted[0]
  const span = (sorted[sorted.length - 1] - first) / 1000
  // a token bucket allows `perSecond` calls at once, then `perSecond` per second: what its refills paid for
  const steady = (sorted.length - perSecond) / span
  const waited = waits.flatMap((w) => w.status._tag === "Ended" ? [Number(w.status.endTime - w.status.startTime) / 1e6] : [])
  const slowest = Math.max(...waited)
  yield* Console.log(`
Achieved: ${starts.length} calls started over ${span.toFixed(2)} s, ${(starts.length / span).toFixed(1)} calls/s overall
          (beyond the bucket's initial ${perSecond} tokens: ${steady.toFixed(1)} calls/s); all done in ${(total / 1000).toFixed(2)} s.
Peak concurrency: ${peak} calls. Permit waits (Model.waitForPermit spans): ${waits.length}, the longest ${slowest.toFixed(0)} ms.
Without limits the 50 calls would all start at 0 ms and finish at ${callMillis} ms.`)

  // token bucket: after the initial burst, the i-th start comes no sooner than (i - burst + 1) refills of 100 ms
  const refill = 1000 / perSecond
  const earliest = sorted.map((s, i) => i < perSecond ? 0 : s - first - (i - perSecond + 1) * refill)
  claims.push(
    [`never more than ${maxConcurrent} calls at once (peak ${peak})`, peak <= maxConcurrent],
    ["the concurrency limit was reached", peak === maxConcurrent],
    [`after the burst of ${perSecond}, starts are at least ${refill} ms apart on average`, earliest.every((slack) => slack >= -5)],
    [`beyond the initial burst, the rate stays within ${perSecond} calls/s (${steady.toFixed(1)})`, steady <= perSecond * 1.02],
    [`beyond the initial burst, the rate uses most of the ${perSecond} calls/s (${steady.toFixed(1)})`, steady > perSecond * 0.7, "timing"],
    ["every conversation completed", done.length === conversations && ends.length === conversations],
    ["waiting for a permit was traced as Model.waitForPermit spans", waits.length >= 2 * conversations && slowest > 1000]
  )

  yield* Console.log("")
  const held = yield* Timeline.printClaims(claims)
  if (!held) return yield* Effect.die("a claim of this example does not hold")
})

program.pipe(NodeRuntime.runMain)
