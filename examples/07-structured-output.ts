/**
 * 07 — Structured output: the final answer is a typed value, decoded with a Schema.
 *
 * Scenario: a trip planner with one tool (`price_hotel`) is made with
 * `output: Trip` (`Schema.Struct({ city, nights, total })`, `nights` a positive integer). The
 * model is Gemini 2.5 served by `GeminiEmulator` (a real HTTP server speaking the Gemini
 * protocol, through the real `@google/genai` SDK). Gemini 2.5 cannot combine JSON mode with
 * function tools, so the layer declares a `final_answer` tool whose parameters are the output
 * schema; its call ends the run, its arguments being the answer.
 *
 * The model prices the hotel, then answers with `nights: 0`: that does not decode, so the Schema
 * error goes back to the model (at most `policy.maxOutputRetries` times, default 2); its next
 * answer decodes, and `RunResult.output` is a `Trip`, typed.
 *
 * The output is the run's event timeline, the typed value, and the program's checks of its own
 * claims. Clock: real (milliseconds since the run started). Offline. Exits 1 if a claim fails.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Agent, Content, Tool } from "@effect-agents/core"
import { GeminiEmulator } from "@effect-agents/gemini"
import { Console, Effect, Schema } from "effect"
import * as Timeline from "./timeline.js"

const Trip = Schema.Struct({
  city: Schema.String,
  nights: Schema.Int.pipe(Schema.positive()),
  total: Schema.Number
})

const priceHotel = Tool.fromSync("price_hotel", {
  description: "The price of one night at the hotel of a city, in euros",
  parameters: Schema.Struct({ city: Schema.String }),
  success: Schema.Number,
  handler: ({ city }) => city === "Lisbon" ? 120 : 150
})

const planner = Agent.make({
  name: "planner",
  instructions: "Plan the trip. Price the hotel with the tool, then give the final answer.",
  tools: [priceHotel],
  output: Trip
})

const script = [
  GeminiEmulator.callTools([{ name: "price_hotel", args: { city: "Lisbon" }, id: "c1" }]),
  GeminiEmulator.callTools([{ name: "final_answer", args: { city: "Lisbon", nights: 0, total: 0 }, id: "c2" }]),
  GeminiEmulator.callTools([{ name: "final_answer", args: { city: "Lisbon", nights: 3, total: 360 }, id: "c3" }])
]

const timeline = Timeline.make({ who: 8, what: 18 })

const program = Effect.gen(function*() {
  const emulator = yield* GeminiEmulator.GeminiEmulator
  const result = yield* Agent.run(planner, "Three nights in Lisbon: what will the hotel cost?")
  timeline.start = result.events[0]!.timestamp
  yield* Console.log(timeline.header)
  for (const event of result.events) yield* timeline.printEvent(event)
  // typed: `trip.nights` is a number, `trip.city` a string
  const trip: typeof Trip.Type = result.output
  yield* Console.log(`\nRunResult.output: ${Timeline.show(trip)} (${trip.nights} nights in ${trip.city})\n`)

  const requests = yield* emulator.requests
  const declared = (requests[0]?.body.tools ?? []).flatMap((tool) => tool.functionDeclarations ?? []).map((d) => d.name)
  const corrections = result.history.filter((content) =>
    content.role === "user" && Content.textOf(content.parts).includes("does not match the required output schema")
  )
  const held = yield* Timeline.printClaims([
    ["the layer declared price_hotel and final_answer (Gemini 2.5: no JSON mode next to tools)", declared.join() === "price_hotel,final_answer"],
    ["the answer with nights: 0 went back to the model once, with the Schema error", corrections.length === 1 && Content.textOf(corrections[0]!.parts).includes("nights")],
    ["the output is the decoded Trip", trip.city === "Lisbon" && trip.nights === 3 && trip.total === 360],
    ["three model requests: the tool call, the refused answer, the accepted one", requests.length === 3]
  ])
  if (!held) return yield* Effect.die("a claim of this example does not hold")
})

program.pipe(
  Effect.provide(GeminiEmulator.layerModel({ script, apiKey: "emulated-key" })),
  NodeRuntime.runMain
)
