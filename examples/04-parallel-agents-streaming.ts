/**
 * 04 — Parallel agents that stream.
 *
 * Scenario: a trip planner asks three specialists at once — `weather` answers straight away,
 * `hotels` and `flights` first call a search tool (500 ms and 900 ms). `Orchestrate.parallel`
 * runs them concurrently and emits every event the moment it happens, tagged with the agent's
 * path. The asyncio recipe in the ADK guide ("parallel_agents") cannot yield inside its
 * `TaskGroup`, so it buffers every event until the slowest agent is done: its consumer sees
 * nothing for ~1.7 s, then everything at once. Here the weather answer is printed at ~0.5 s,
 * while the flight search is still running.
 *
 * Part 2 adds a fourth specialist, `cars`, whose model call fails at ~600 ms. Under `settle-all`
 * (`Orchestrate.settle`, the effectful form) the other runs go on, and the outcomes come back in
 * input order. Part 3 runs the same group under `fail-fast` (the default): the failure interrupts
 * the searches in flight (their `ToolCallInterrupted` events arrive), and the stream fails.
 *
 * Clock: real time with short scripted delays (the program takes about 4 s); figures are
 * milliseconds since each part started, so they may vary by a few ms. Offline: the model is
 * `ScriptedModel`. The program checks its own claims and exits 1 if one does not hold.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Agent, AgentError, type AgentEvent, type Model, Orchestrate, Tool } from "@effect-agents/core"
import { ScriptedModel } from "@effect-agents/testing"
import { Cause, Clock, Console, Effect, Either, Exit, Schema, Stream } from "effect"
import * as Timeline from "./timeline.js"

// -----------------------------------------------------------------------------
// timeline
// -----------------------------------------------------------------------------

/** Real clock: each part sets the time origin when it starts. */
const timeline = Timeline.make({ who: 9, what: 20 })

/** The shared detail, except that a model answer's text is not repeated: its `TextDelta`s showed it. */
const detail = (event: AgentEvent.AgentEvent): string =>
  event._tag === "ModelResponded" && event.functionCalls.length === 0 ? "" : Timeline.describeEvent(event)

interface Received {
  readonly at: number
  readonly event: AgentEvent.AgentEvent
}

/** Print an event the moment it is received, and keep when that was. */
const print = (received: Array<Received>) => (event: AgentEvent.AgentEvent) =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => {
    received.push({ at: now - timeline.start, event })
    if (event._tag === "TurnStarted" || event._tag === "ModelRequested") return Effect.void
    return Console.log(timeline.row(now, event.agent, event._tag, detail(event)))
  })

// -----------------------------------------------------------------------------
// the specialists
// -----------------------------------------------------------------------------

const search = (name: string, millis: number, result: string) =>
  Tool.make(name, {
    description: `Search (${millis} ms)`,
    parameters: Schema.Struct({ city: Schema.String }),
    handler: () => Effect.as(Effect.sleep(millis), result)
  })

const weather = Agent.make({ name: "weather", instructions: "Give the forecast." })
const hotels = Agent.make({
  name: "hotels",
  instructions: "Find a hotel.",
  tools: [search("search_hotels", 500, "Hotel Lumière, 120 EUR")]
})
const flights = Agent.make({
  name: "flights",
  instructions: "Find a flight.",
  tools: [search("search_flights", 900, "AF1234, Friday, 180 EUR")]
})
const cars = Agent.make({ name: "cars", instructions: "Find a rental car." })

const question = "Plan a weekend in Lyon."
const chunks = { chunkDelay: "40 millis" } as const

/** Each specialist's model turns, keyed by the requesting agent's path. */
const script: ScriptedModel.Script = (request: Model.ModelRequest) => {
  const turn = request.contents.filter((c) => c.role === "model").length
  switch (request.agent) {
    case "weather":
      return ScriptedModel.text("Sunny, 24 °C all weekend.", { delay: "300 millis", ...chunks })
    case "hotels":
      return turn === 0
        ? ScriptedModel.callTools([{ name: "search_hotels", args: { city: "Lyon" } }], { delay: "200 millis" })
        : ScriptedModel.text("Hotel Lumière, 120 EUR a night.", { delay: "200 millis", ...chunks })
    case "flights":
      return turn === 0
        ? ScriptedModel.callTools([{ name: "search_flights", args: { city: "Lyon" } }], { delay: "300 millis" })
        : ScriptedModel.text("AF1234 on Friday, 180 EUR.", { delay: "300 millis", ...chunks })
    default:
      return ScriptedModel.fail(new AgentError.ContentBlocked({ reason: "the rental prompt was flagged" }), { delay: "600 millis" })
  }
}

// -----------------------------------------------------------------------------
// the program
// -----------------------------------------------------------------------------

const program = Effect.gen(function*() {
  const claims: Array<Timeline.Claim> = []

  // one silent run first, so that JIT compilation does not skew the first timeline
  yield* Orchestrate.parallel([weather, hotels], "warm-up").pipe(
    Stream.runDrain,
    Effect.provide(ScriptedModel.layer((request) =>
      request.agent === "hotels" && request.contents.length === 1
        ? ScriptedModel.callTools([{ name: "search_hotels", args: { city: "Lyon" } }])
        : ScriptedModel.text("ok")
    ))
  )

  yield* Console.log(`Part 1 — Orchestrate.parallel([weather, hotels, flights], ...): events as they happen\n\n${timeline.header}`)
  const received: Array<Received> = []
  timeline.start = yield* Clock.currentTimeMillis
  yield* Orchestrate.parallel([weather, hotels, flights], question).pipe(Stream.runForEach(print(received)))
  const doneAt = (agent: string) => received.find((r) => r.event.agent === agent && r.event._tag === "RunCompleted")?.at ?? NaN
  const indexOf = (agent: string, tag: string) => received.findIndex((r) => r.event.agent === agent && r.event._tag === tag)
  const lag = Math.max(...received.map((r) => r.at - (r.event.timestamp - timeline.start)))
  yield* Console.log(`
weather answered at ${doneAt("weather")} ms, hotels at ${doneAt("hotels")} ms, flights at ${doneAt("flights")} ms.
The asyncio recipe would have printed nothing before ~${doneAt("flights")} ms, then all ${received.length} events at once.`)
  claims.push(
    [
      "weather's RunCompleted arrived while flights was still searching",
      indexOf("weather", "RunCompleted") < indexOf("flights", "ToolCallSucceeded")
    ],
    [`...about ${doneAt("flights") - doneAt("weather")} ms before flights finished`, doneAt("flights") - doneAt("weather") > 800, "timing"],
    [`every event reached the consumer within ${lag} ms of happening (nothing buffered)`, lag < 100, "timing"],
    ["events of the three agents interleave", new Set(received.slice(0, 12).map((r) => r.event.agent)).size === 3]
  )

  yield* Console.log(`\nPart 2 — Orchestrate.settle([flights, hotels, cars], ...): settle-all, outcomes in input order\n\n${timeline.header}`)
  const settled: Array<Received> = []
  timeline.start = yield* Clock.currentTimeMillis
  const exits = yield* Orchestrate.settle([flights, hotels, cars], question, {
    onEvent: (event) => event._tag === "RunCompleted" || event._tag === "RunFailed" ? print(settled)(event) : Effect.void
  })
  yield* Console.log("\nOutcomes, in input order:")
  for (const [i, exit] of exits.entries()) {
    const agent = [flights, hotels, cars][i].name
    yield* Console.log(
      `  ${agent.padEnd(8)} ${
        Exit.match(exit, { onSuccess: (r) => `ok      ${JSON.stringify(r.text)}`, onFailure: (c) => `failed  ${Cause.squash(c)}` })
      }`
    )
  }
  claims.push(
    ["settle returns the outcomes in input order", exits.map((e) => Exit.isSuccess(e) ? e.value.agent : "failed").join() === "flights,hotels,failed"],
    ["the failure (at ~600 ms) did not stop the other runs", settled.map((r) => r.event.agent).join() === "cars,hotels,flights"]
  )

  yield* Console.log(`\nPart 3 — Orchestrate.parallel([flights, hotels, cars], ...): fail-fast\n\n${timeline.header}`)
  const failFast: Array<Received> = []
  timeline.start = yield* Clock.currentTimeMillis
  const outcome = yield* Orchestrate.parallel([flights, hotels, cars], question).pipe(
    Stream.runForEach(print(failFast)),
    Effect.either
  )
  const interrupted = failFast.filter((r) => r.event._tag === "ToolCallInterrupted")
  const failedAt = failFast.find((r) => r.event._tag === "RunFailed")?.at ?? NaN
  yield* Console.log(`\nThe stream failed with ${Either.isLeft(outcome) ? outcome.left._tag : "nothing"}.`)
  claims.push(
    ["under fail-fast the stream fails with the first error", Either.isLeft(outcome) && outcome.left._tag === "ContentBlocked"],
    ["both searches in flight were interrupted", interrupted.length === 2],
    ["... at the failure (within 50 ms)", interrupted.every((r) => r.at - failedAt < 50), "timing"],
    ["no run completed after the failure", !failFast.some((r) => r.event._tag === "RunCompleted")]
  )

  yield* Console.log("")
  const held = yield* Timeline.printClaims(claims)
  if (!held) return yield* Effect.die("a claim of this example does not hold")
})

program.pipe(Effect.provide(ScriptedModel.layer(script)), NodeRuntime.runMain)
