/**
 * The backend of the live timeline page: three demo agents served by `AgentHttp` under `/api`,
 * and the page itself (plain HTML and one small script) from the same `HttpRouter`.
 *
 * Offline, `GeminiEmulator` answers from `script` below (the real `@google/genai` SDK talks to it
 * over loopback); with `GEMINI_API_KEY` set, `main.ts` puts the real Gemini API behind the same
 * agents. A helper module: `main.ts` runs it, the browser test serves it on a free port.
 */
import { Agent, Tool } from "@effect-agents/core"
import { GeminiEmulator } from "@effect-agents/gemini"
import { AgentHttp, type Protocol } from "@effect-agents/http"
import { HttpRouter, HttpServerResponse } from "@effect/platform"
import { Effect, Schema } from "effect"
import { readFileSync } from "node:fs"

// -----------------------------------------------------------------------------
// agents
// -----------------------------------------------------------------------------

/** A tool that answers after `millis`, or fails after `millis` when `fails` is set. */
const service = (name: string, description: string, millis: number, fails?: string) =>
  Tool.make(name, {
    description,
    parameters: Schema.Struct({ city: Schema.String }),
    success: Schema.String,
    handler: ({ city }) =>
      Effect.zipRight(Effect.sleep(millis), fails === undefined ? Effect.succeed(`${name} for ${city}: ok`) : Effect.fail(fails))
  })

const Pair = Schema.Struct({ a: Schema.Number, b: Schema.Number })

const arithmetic = (name: string, f: (a: number, b: number) => number) =>
  Tool.make(name, {
    description: `${name} two numbers`,
    parameters: Pair,
    success: Schema.Number,
    handler: ({ a, b }) => Effect.as(Effect.sleep("400 millis"), f(a, b))
  })

/** Books a trip with three services at once; the hotel service is down, so the group fails fast. */
const travel = Agent.make({
  name: "travel",
  description: "Plans trips",
  instructions: "Check the weather, flights and hotels in parallel, then propose a plan.",
  tools: [
    service("weather", "The forecast for a city", 900),
    service("flights", "Flights to a city", 1600),
    service("hotels", "Hotels in a city", 500, "the hotel API answered 503 Service Unavailable")
  ],
  policy: { toolFailure: "fail-fast" }
})

const math = Agent.make({
  name: "math",
  description: "Does arithmetic",
  instructions: "Use the tools for every calculation.",
  tools: [arithmetic("add", (a, b) => a + b), arithmetic("multiply", (a, b) => a * b)]
})

const researcher = Agent.make({
  name: "researcher",
  instructions: "Research the question with the search tool; answer in two sentences.",
  tools: [service("search", "Search the web", 700)]
})

const writer = Agent.make({ name: "writer", instructions: "Write a short note." })

/** Delegates to two sub-agents at once: their lanes appear under the coordinator's. */
const coordinator = Agent.make({
  name: "coordinator",
  description: "Delegates research and writing",
  instructions: "Ask the researcher and the writer in parallel, then combine their answers.",
  tools: [Agent.asTool(researcher), Agent.asTool(writer)]
})

/** Refunds an order only once a person approves it on the page (`needsApproval`). */
const refund = Tool.make("refund", {
  description: "Refund an order",
  parameters: Schema.Struct({ order: Schema.String }),
  success: Schema.String,
  needsApproval: true,
  handler: ({ order }) => Effect.as(Effect.sleep("300 millis"), `refunded ${order}`)
})

const support = Agent.make({
  name: "support",
  description: "Handles refunds",
  instructions: "Refund the order when asked; say what happened.",
  tools: [refund]
})

/** The agents clients may run, by name. */
export const agents = { travel, math, coordinator, support }

// -----------------------------------------------------------------------------
// the offline script
// -----------------------------------------------------------------------------

/** The demo scenarios the page offers as buttons. */
export const scenarios: ReadonlyArray<{ readonly label: string; readonly agent: keyof typeof agents; readonly prompt: string }> = [
  { label: "Trip (a parallel tool fails)", agent: "travel", prompt: "Plan a weekend in Lisbon" },
  { label: "Arithmetic", agent: "math", prompt: "What is (2 + 3) * 4?" },
  { label: "Sub-agents", agent: "coordinator", prompt: "Write a note about Lisbon's trams" },
  { label: "Refund (needs approval)", agent: "support", prompt: "Refund order 1234" }
]

const think = { delay: "400 millis" } as const

const steps: Record<string, ReadonlyArray<GeminiEmulator.Step>> = {
  "Plan a weekend in Lisbon": [
    GeminiEmulator.callTools([
      { name: "weather", args: { city: "Lisbon" } },
      { name: "flights", args: { city: "Lisbon" } },
      { name: "hotels", args: { city: "Lisbon" } }
    ], think)
  ],
  "What is (2 + 3) * 4?": [
    GeminiEmulator.callTools([{ name: "add", args: { a: 2, b: 3 } }], think),
    GeminiEmulator.callTools([{ name: "multiply", args: { a: 5, b: 4 } }], think),
    GeminiEmulator.text(["(2 + 3) * 4 ", "= 5 * 4 ", "= 20."], { ...think, chunkDelay: "150 millis" })
  ],
  "Write a note about Lisbon's trams": [
    GeminiEmulator.callTools([
      { name: "researcher", args: { input: "History of Lisbon's trams" } },
      { name: "writer", args: { input: "A friendly note about riding tram 28" } }
    ], think),
    GeminiEmulator.text(["Lisbon's trams date from 1873; ", "tram 28 is the one to ride."], { ...think, chunkDelay: "150 millis" })
  ],
  "History of Lisbon's trams": [
    GeminiEmulator.callTools([{ name: "search", args: { city: "Lisbon" } }], think),
    GeminiEmulator.text("Horse-drawn from 1873, electric from 1901.", think)
  ],
  "Refund order 1234": [
    GeminiEmulator.callTools([{ name: "refund", args: { order: "1234" } }], think),
    GeminiEmulator.text("Done: order 1234 is refunded (or the refund was denied, as the tool said).", think)
  ],
  "A friendly note about riding tram 28": [
    GeminiEmulator.text(["Hop on tram 28 ", "early, before the crowds."], { delay: "900 millis", chunkDelay: "200 millis" })
  ]
}

const textOf = (content: { readonly parts?: ReadonlyArray<{ readonly text?: string | undefined }> | undefined }) =>
  content.parts?.find((part) => typeof part.text === "string")?.text

/**
 * The emulator's answer to a request: the steps of the run's prompt (the last user message with
 * text), one per model turn since that prompt, so conversations continue across runs. Prompts
 * without a script get a short text answer.
 */
export const script: GeminiEmulator.Script = (request) => {
  const contents = request.body.contents ?? []
  let start = 0
  let prompt = ""
  contents.forEach((content, i) => {
    const text = content.role === "user" ? textOf(content) : undefined
    if (text !== undefined) {
      start = i
      prompt = text
    }
  })
  const turn = contents.slice(start + 1).filter((content) => content.role === "model").length
  return steps[prompt]?.[turn] ??
    GeminiEmulator.text(["This is the offline emulator: ", `it has no script for "${prompt}". `, "Set GEMINI_API_KEY for real answers."], {
      ...think,
      chunkDelay: "120 millis"
    })
}

// -----------------------------------------------------------------------------
// the routes
// -----------------------------------------------------------------------------

const page = readFileSync(new URL("./index.html", import.meta.url), "utf8")
const code = readFileSync(new URL("./timeline.js", import.meta.url), "utf8")

/**
 * The page, its script, the scenarios, and the run routes under `/api`. Runs live in the current
 * scope; `onOutcome` sees how each ended (the server logs interruptions and failures itself).
 */
export const makeApp = (options?: { readonly onOutcome?: (outcome: Protocol.Outcome) => Effect.Effect<void> }) =>
  Effect.map(
    AgentHttp.router({ agents, onOutcome: options?.onOutcome, reconnectWindow: "2 seconds" }),
    (runs) =>
      HttpRouter.empty.pipe(
        HttpRouter.get("/", HttpServerResponse.html(page)),
        HttpRouter.get("/timeline.js", HttpServerResponse.text(code, { contentType: "text/javascript" })),
        HttpRouter.get("/scenarios", HttpServerResponse.unsafeJson({ agents: Object.keys(agents), scenarios })),
        HttpRouter.mount("/api", runs)
      )
  )
