/**
 * Fault 03 — a storm of 429s, ridden out with backoff.
 *
 * Fault: the model is wrapped with `FaultInjection.model`. Its first two calls answer a bare
 * 429 (no retry delay); the third a 429 whose server asks to wait 1.5 s; the fourth goes
 * through. The agent's policy retries retryable model errors on
 * `Schedule.exponential("200 millis")` (no jitter, so the figures are exact; add
 * `Schedule.jittered` in production), at most 5 times.
 *
 * The timeline shows each `RetryScheduled` with its delay: 200 ms then 400 ms from the
 * schedule, then the server's 1500 ms, which wins over the schedule's 800 ms. The model then
 * asks for `fx_rate` (which holds a pooled HTTP connection) and answers: the run completes
 * at t = 200 + 400 + 1500 + 100 (tool) = 2200 ms.
 *
 * Clock: virtual (`TestClock`), so every figure is an exact instant in ms. Offline
 * (`ScriptedModel`). The program checks its claims, exits 1 if one does not hold, and ends
 * with `outcome=… finalizers=… leaked fibers=…`.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Agent, type AgentEvent, Tool } from "@effect-agents/core"
import { FaultInjection, LeakCheck, ScriptedModel } from "@effect-agents/testing"
import { Console, Effect, Either, Exit, Fiber, Layer, Schedule, Schema, Stream, TestClock, TestContext } from "effect"
import * as Timeline from "../timeline.js"

const timeline = Timeline.make({ who: 6, what: 18 })

const finalizers: Array<string> = []

const fxRate = Tool.make("fx_rate", {
  description: "Exchange rate between two currencies",
  scoped: true,
  parameters: Schema.Struct({ from: Schema.String, to: Schema.String }),
  handler: ({ from, to }) =>
    Effect.acquireRelease(Effect.void, (_, exit) =>
      Effect.sync(() => finalizers.push(`fx_rate: connection back to the pool (${Exit.isSuccess(exit) ? "done" : "interrupted"})`))).pipe(
        Effect.zipRight(Effect.sleep("100 millis")),
        Effect.as({ pair: `${from}/${to}`, rate: 1.08 })
      )
})

const treasurer = Agent.make({
  name: "fx",
  instructions: "Answer currency questions with fx_rate.",
  tools: [fxRate],
  policy: { modelRetry: Schedule.exponential("200 millis").pipe(Schedule.intersect(Schedule.recurs(5))) }
})

// by turn, so that every retry of turn 1 gets the same answer
const script = ScriptedModel.byPrompt({
  "How many dollars is 100 euros?": [
    ScriptedModel.callTools([{ name: "fx_rate", args: { from: "EUR", to: "USD" } }]),
    ScriptedModel.text("100 EUR is 108 USD.")
  ]
})

const storm = FaultInjection.model([
  FaultInjection.rateLimited({ calls: [1, 2] }),
  FaultInjection.rateLimited({ calls: [3], retryAfter: "1500 millis" })
], { seed: 1 }).pipe(Layer.provideMerge(ScriptedModel.layer(script)))

const program = Effect.gen(function*() {
  const leaks = yield* LeakCheck.make
  const events: Array<AgentEvent.AgentEvent> = []
  yield* Console.log(timeline.header)
  const fiber = yield* Effect.gen(function*() {
    const outcome = yield* Agent.stream(treasurer, "How many dollars is 100 euros?").pipe(
      Stream.runForEach((event) => {
        events.push(event)
        return timeline.printEvent(event)
      }),
      Effect.either
    )
    const fired = yield* Effect.flatMap(FaultInjection.ModelFaults, (faults) => faults.fired)
    return { outcome, fired }
  }).pipe(leaks.supervise, Effect.provide(storm), Effect.fork)
  yield* TestClock.adjust("1 minute")
  const { fired, outcome } = yield* Fiber.join(fiber)
  const leaked = (yield* leaks.live).length

  yield* Console.log("")
  for (const f of fired) yield* Console.log(`fault fired: model call ${f.call} at t=${f.at}: ${f.kind} (${f.detail})`)
  for (const f of finalizers) yield* Console.log(`finalizer: ${f}`)
  const delays = events.flatMap((e) => e._tag === "RetryScheduled" ? [e.delayMillis] : [])
  const claims: Array<[string, boolean]> = [
    ["three 429s were retried: 200 and 400 ms from the schedule, then the server's 1500 ms", delays.join() === "200,400,1500"],
    ["the fourth attempt went through", events.some((e) => e._tag === "ModelRequested" && e.attempt === 4) && fired.length === 3],
    ["the run completed at 200 + 400 + 1500 + 100 = 2200 ms", Either.isRight(outcome) && events.at(-1)?.timestamp === 2200],
    ["the pooled connection went back to the pool", finalizers.length === 1]
  ]
  const held = yield* Timeline.printClaims(claims)
  yield* Console.log(
    `outcome=${Either.isRight(outcome) ? "completed" : outcome.left._tag} finalizers=${finalizers.length} leaked fibers=${leaked}`
  )
  if (!held || leaked > 0) return yield* Effect.die("a claim of this example does not hold")
})

program.pipe(Effect.provide(TestContext.TestContext), NodeRuntime.runMain)
