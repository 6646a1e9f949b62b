/**
 * 03 — Timeouts and retries, declared on tools and on the agent's policy.
 *
 * Scenario: a travel agent prices a booking. The model is flaky: its first two answers are HTTP
 * 503, then it asks for two tools at once:
 *
 * - `lookup_booking` has `timeout: "2 seconds"` but its legacy database needs 3 seconds: the
 *   call is interrupted at exactly its deadline, its late answer is never produced nor reported,
 *   and (with `onFailure: "report"`) the model is told about the timeout;
 * - `get_exchange_rate` has `retry: Schedule.exponential("100 millis")` and succeeds on its third
 *   attempt (the first two fail after 20 ms each).
 *
 * On the next turn the model answers 429 with a server retry delay of 1.5 s, which wins over the
 * policy's own backoff; then it answers.
 *
 * The output is the run's event timeline plus lines from inside the tools. `RetryScheduled`
 * events show each model retry with its delay: 200 ms then 400 ms from the policy's
 * `Schedule.exponential("200 millis")` (no jitter, so the figures are exact; add
 * `Schedule.jittered` in production), then the server's 1500 ms.
 *
 * Clock: virtual. The run is forked and `TestClock.adjust` drives it, so the whole 4.35 s
 * scenario takes milliseconds and every figure is an exact virtual instant in ms. Every model
 * step takes 50 ms. Offline (`ScriptedModel`). The program checks its own claims and exits 1 if
 * one does not hold.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Agent, AgentError, type AgentEvent, Tool } from "@effect-agents/core"
import { ScriptedModel } from "@effect-agents/testing"
import { Console, Duration, Effect, Either, Fiber, Schedule, Schema, Stream, TestClock, TestContext } from "effect"
import * as Timeline from "./timeline.js"

// -----------------------------------------------------------------------------
// timeline
// -----------------------------------------------------------------------------

const timeline = Timeline.make({ who: 7, what: 20 })

/** A line from inside a tool, stamped with the (virtual) clock. */
const note = (who: string, what: string) => timeline.note("travel", `  ${who}`, what)

// -----------------------------------------------------------------------------
// tools
// -----------------------------------------------------------------------------

class RatesBusy extends Schema.TaggedError<RatesBusy>()("RatesBusy", { attempt: Schema.Number }) {
  override get message() {
    return `the rates service is busy (attempt ${this.attempt})`
  }
}

/** What happened inside the tools, for the checks at the end. */
const inside = { lookupAnswered: false, rateAttempts: 0 }

const lookupBooking = Tool.make("lookup_booking", {
  description: "Look a booking up in the legacy database",
  parameters: Schema.Struct({ reference: Schema.String }),
  timeout: "2 seconds",
  onFailure: "report",
  handler: ({ reference }) =>
    Effect.sleep("3 seconds").pipe(
      Effect.zipRight(Effect.sync(() => {
        inside.lookupAnswered = true
        return { reference, nights: 3, room: "double" }
      })),
      Effect.onInterrupt(() => note("lookup_booking", "interrupted at its 2 s deadline; its 3 s answer is never produced"))
    )
})

const getExchangeRate = Tool.make("get_exchange_rate", {
  description: "Current exchange rate between two currencies",
  parameters: Schema.Struct({ from: Schema.String, to: Schema.String }),
  success: Schema.Number,
  retry: Schedule.exponential("100 millis").pipe(Schedule.intersect(Schedule.recurs(4))),
  handler: () =>
    Effect.gen(function*() {
      const attempt = ++inside.rateAttempts
      yield* Effect.sleep("20 millis")
      if (attempt < 3) {
        yield* note("get_exchange_rate", `attempt ${attempt} failed: the rates service is busy`)
        return yield* Effect.fail(new RatesBusy({ attempt }))
      }
      yield* note("get_exchange_rate", `attempt ${attempt} succeeded`)
      return 1.08
    })
})

const travel = Agent.make({
  name: "travel",
  instructions: "Price bookings with the tools.",
  tools: [lookupBooking, getExchangeRate],
  policy: {
    modelRetry: Schedule.exponential("200 millis").pipe(Schedule.intersect(Schedule.recurs(4))),
    modelTimeout: "30 seconds"
  }
})

const latency = { delay: "50 millis" } as const
const model = ScriptedModel.layer([
  ScriptedModel.fail(new AgentError.ModelUnavailable({ status: 503, detail: "overloaded" }), latency),
  ScriptedModel.fail(new AgentError.ModelUnavailable({ status: 503, detail: "overloaded" }), latency),
  ScriptedModel.callTools([
    { name: "lookup_booking", args: { reference: "BK-2291" } },
    { name: "get_exchange_rate", args: { from: "EUR", to: "USD" } }
  ], latency),
  ScriptedModel.fail(new AgentError.RateLimited({ retryAfter: Duration.millis(1500), detail: "per-minute quota" }), latency),
  ScriptedModel.text("The booking system timed out; at 1.08 USD per EUR I will quote once it is back.", latency)
])

// -----------------------------------------------------------------------------
// the program
// -----------------------------------------------------------------------------

const program = Effect.gen(function*() {
  yield* Console.log(`Virtual time (TestClock): every figure is an exact instant in ms.\n\n${timeline.header}`)
  const events: Array<AgentEvent.AgentEvent> = []
  const run = yield* Agent.stream(travel, "Price booking BK-2291 in USD.").pipe(
    Stream.runForEach((event) => {
      events.push(event)
      return timeline.printEvent(event)
    }),
    Effect.either,
    Effect.fork
  )
  // drive virtual time well past the end of the scenario (and past lookup_booking's 3 s)
  yield* TestClock.adjust("10 seconds")
  const outcome = yield* Fiber.join(run)
  const requests = yield* Effect.flatMap(ScriptedModel.ScriptedModel, (scripted) => scripted.requests)

  const received = requests[4]?.contents.at(-1)?.parts ?? []
  yield* Console.log("\nWhat the model received on turn 2 (the tool results, in call order):")
  for (const part of received) {
    if (part._tag === "FunctionResponse") {
      yield* Console.log(`  ${part.name.padEnd(18)} ${part.isError ? `error: ${String(part.output)}` : Timeline.show(part.output)}`)
    }
  }

  const at = (tag: AgentEvent.AgentEvent["_tag"], predicate: (e: any) => boolean = () => true) =>
    events.filter((e) => e._tag === tag && predicate(e)).map((e) => e.timestamp)
  const retries = events.filter((e): e is AgentEvent.RetryScheduled => e._tag === "RetryScheduled")
  const claims: Array<[string, boolean]> = [
    ["the run completed", Either.isRight(outcome)],
    [
      "the model retries were announced with delays 200 ms, 400 ms (policy) and 1500 ms (server)",
      retries.map((e) => `${e.timestamp}+${e.delayMillis}`).join() === "50+200,300+400,2800+1500"
    ],
    [
      "lookup_booking was interrupted at exactly 750 + 2000 = 2750 ms",
      at("ToolCallInterrupted", (e) => e.tool === "lookup_booking" && e.reason === "timeout").join() === "2750"
    ],
    [
      "its late answer (due at 3750 ms) was never produced nor reported",
      !inside.lookupAnswered && at("ToolCallSucceeded", (e) => e.tool === "lookup_booking").length === 0
    ],
    [
      "get_exchange_rate succeeded on its 3rd attempt, at 750 + 20 + 100 + 20 + 200 + 20 = 1110 ms",
      inside.rateAttempts === 3 && at("ToolCallSucceeded", (e) => e.tool === "get_exchange_rate").join() === "1110"
    ],
    [
      "the model was told about the timeout",
      received.some((p) => p._tag === "FunctionResponse" && p.name === "lookup_booking" && p.isError)
    ],
    ["the answer came at 2750 + 50 + 1500 + 50 = 4350 ms", at("RunCompleted").join() === "4350"]
  ]
  yield* Console.log("")
  const held = yield* Timeline.printClaims(claims)
  if (!held) return yield* Effect.die("a claim of this example does not hold")
})

program.pipe(
  Effect.provide(model),
  Effect.provide(TestContext.TestContext),
  NodeRuntime.runMain
)
