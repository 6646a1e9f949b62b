/**
 * Fault 04 — a model call hangs, times out and is retried.
 *
 * Fault: the model is wrapped with `FaultInjection.model([FaultInjection.hang({ calls: [1] })])`:
 * its first call never answers. Each call also holds a connection from a pool (a scoped
 * resource around the model call, with a finalizer), as an HTTP client would.
 *
 * The policy says `modelTimeout: "2 seconds"` and retries on `Schedule.spaced("500 millis")`.
 * At t=2000 the hung call is interrupted: its connection goes back to the pool at that same
 * instant (nothing is left waiting on a dead socket), `RetryScheduled` announces the retry
 * after `ModelTimeout`, attempt 2 starts at t=2500, answers 300 ms later, and the run completes
 * at t=2800.
 *
 * Clock: virtual (`TestClock`), so every figure is an exact instant in ms. Offline
 * (`ScriptedModel`). The program checks its claims, exits 1 if one does not hold, and ends
 * with `outcome=… finalizers=… leaked fibers=…`.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Agent, type AgentEvent, Model } from "@effect-agents/core"
import { FaultInjection, LeakCheck, ScriptedModel } from "@effect-agents/testing"
import { Console, Effect, Either, Exit, Fiber, Layer, Schedule, Stream, TestClock, TestContext } from "effect"
import * as Timeline from "../timeline.js"

const timeline = Timeline.make({ who: 10, what: 18 })

const finalizers: Array<string> = []

/** Each model call holds a pooled connection for as long as it runs, released however it ends. */
const withConnection = Layer.effect(
  Model.Model,
  Effect.map(Model.Model, (model): Model.Model.Service => {
    let n = 0
    const connection = Effect.acquireRelease(Effect.sync(() => ++n), (id, exit) =>
      Effect.sync(() => finalizers.push(`connection ${id}`)).pipe(
        Effect.zipRight(
          timeline.note("pool", `  connection ${id}`, Exit.isInterrupted(exit) ? "back to the pool: its call was interrupted" : "back to the pool: call done")
        )
      ))
    return {
      generate: (request) => Effect.scoped(Effect.zipRight(connection, model.generate(request))),
      stream: (request) => Stream.unwrapScoped(Effect.as(connection, model.stream(request)))
    }
  })
)

const model = withConnection.pipe(
  Layer.provide(FaultInjection.model([FaultInjection.hang({ calls: [1] })], { seed: 1 })),
  Layer.provide(ScriptedModel.layer(() => ScriptedModel.text("Paris is the capital of France.", { delay: "300 millis" })))
)

const geo = Agent.make({
  name: "geography",
  instructions: "Answer geography questions.",
  policy: { modelTimeout: "2 seconds", modelRetry: Schedule.spaced("500 millis").pipe(Schedule.intersect(Schedule.recurs(3))) }
})

const program = Effect.gen(function*() {
  const leaks = yield* LeakCheck.make
  const events: Array<AgentEvent.AgentEvent> = []
  yield* Console.log(timeline.header)
  const fiber = yield* Agent.stream(geo, "What is the capital of France?").pipe(
    Stream.runForEach((event) => {
      events.push(event)
      return timeline.printEvent(event)
    }),
    Effect.either,
    leaks.supervise,
    Effect.provide(model),
    Effect.fork
  )
  yield* TestClock.adjust("1 minute")
  const outcome = yield* Fiber.join(fiber)
  const leaked = (yield* leaks.live).length

  yield* Console.log("")
  const at = (tag: AgentEvent.AgentEvent["_tag"]) => events.filter((e) => e._tag === tag).map((e) => e.timestamp).join()
  const retry = events.find((e): e is AgentEvent.RetryScheduled => e._tag === "RetryScheduled")
  const claims: Array<[string, boolean]> = [
    ["the hung call was interrupted by modelTimeout and retried after 500 ms", retry?.error === "ModelTimeout" && retry.timestamp === 2000 && retry.delayMillis === 500],
    ["both connections went back to the pool, the hung one at t=2000", finalizers.length === 2],
    ["attempt 2 started at t=2500", at("ModelRequested") === "0,2500"],
    ["the run completed at t=2800", Either.isRight(outcome) && at("RunCompleted") === "2800"]
  ]
  const held = yield* Timeline.printClaims(claims)
  yield* Console.log(
    `outcome=${Either.isRight(outcome) ? "completed" : outcome.left._tag} finalizers=${finalizers.length} leaked fibers=${leaked}`
  )
  if (!held || leaked > 0) return yield* Effect.die("a claim of this example does not hold")
})

program.pipe(Effect.provide(TestContext.TestContext), NodeRuntime.runMain)
