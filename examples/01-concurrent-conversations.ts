/**
 * One agent, several conversations at once.
 *
 * A single math agent (tools: add, multiply, solve_quadratic) answers four prompts concurrently
 * with `Effect.forEach(prompts, ..., { concurrency: "unbounded" })` — the `asyncio.gather` of the
 * Python course, without threads: while one conversation waits for Gemini, the others make
 * progress. The agent is an immutable value; each conversation has its own history.
 *
 * Output: a live timeline (elapsed ms, conversation, agent path, event) in which the tool calls of
 * different conversations interleave, then each conversation's time, and the total wall time
 * next to the sum of the conversations' times (what running them one after another would cost).
 *
 * Modes:
 * - `GEMINI_API_KEY` set: the real Gemini API (`Gemini.layerConfig`, model `GEMINI_MODEL` or
 *   `gemini-2.5-flash`).
 * - otherwise: the same `@google/genai` SDK talks HTTP to an in-process `GeminiEmulator` on
 *   127.0.0.1 that plays a script for these prompts with 300–800 ms per model call.
 *
 * Run: `npm start` (or `npm run example -- examples/01-concurrent-conversations.ts`). Ctrl-C interrupts every
 * conversation and aborts the HTTP requests in flight.
 */
import { Agent, type AgentEvent, type Model, Tool } from "@effect-agents/core"
import { Gemini, GeminiEmulator } from "@effect-agents/gemini"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Clock, Config, Console, Duration, Effect, Either, Option, Schema, Stream } from "effect"

// -----------------------------------------------------------------------------
// the agent
// -----------------------------------------------------------------------------

const Pair = Schema.Struct({
  a: Schema.Number.annotations({ description: "first operand" }),
  b: Schema.Number.annotations({ description: "second operand" })
})

const add = Tool.make("add", {
  description: "Add two numbers and return the sum.",
  parameters: Pair,
  success: Schema.Number,
  handler: ({ a, b }) => Effect.succeed(a + b)
})

const multiply = Tool.make("multiply", {
  description: "Multiply two numbers and return the product.",
  parameters: Pair,
  success: Schema.Number,
  handler: ({ a, b }) => Effect.succeed(a * b)
})

const solveQuadratic = Tool.make("solve_quadratic", {
  description: "Real roots of a*x^2 + b*x + c = 0 (an empty list when there are none).",
  parameters: Schema.Struct({ a: Schema.Number, b: Schema.Number, c: Schema.Number }),
  success: Schema.Struct({ roots: Schema.Array(Schema.Number) }),
  handler: ({ a, b, c }) => {
    const discriminant = b * b - 4 * a * c
    if (a === 0) return Effect.succeed({ roots: b === 0 ? [] : [-c / b] })
    if (discriminant < 0) return Effect.succeed({ roots: [] })
    const root = Math.sqrt(discriminant)
    const roots = discriminant === 0 ? [-b / (2 * a)] : [(-b + root) / (2 * a), (-b - root) / (2 * a)]
    return Effect.succeed({ roots })
  }
})

const math = Agent.make({
  name: "math",
  instructions: "You are a precise math assistant. Use the tools for every calculation, never compute in your head. " +
    "When independent calculations are needed, call the tools in the same turn. Answer in one short sentence.",
  tools: [add, multiply, solveQuadratic],
  policy: { maxTurns: 8, modelTimeout: "60 seconds" }
})

const prompts = [
  "What is (12 + 30) * 7?",
  "Find the roots of x^2 - 5x + 6 = 0.",
  "What is 3 * 4 + 5 * 6?",
  "Find the roots of 2x^2 + 3x - 2 = 0 and add them together."
]

// -----------------------------------------------------------------------------
// the offline script: what the emulated Gemini answers to each prompt, turn by turn
// -----------------------------------------------------------------------------

/** The outputs of the function responses in the request's last message, in call order. */
const outputsOf = (request: GeminiEmulator.RecordedRequest): ReadonlyArray<any> => {
  const last = request.body.contents?.at(-1)
  return (last?.parts ?? []).map((part) => part.functionResponse?.response?.output)
}

const ms = (millis: number) => Duration.millis(millis)

const script = GeminiEmulator.byPrompt({
  [prompts[0]]: [
    GeminiEmulator.callTools([{ name: "add", args: { a: 12, b: 30 } }], { delay: ms(420) }),
    (r) => GeminiEmulator.callTools([{ name: "multiply", args: { a: outputsOf(r)[0], b: 7 } }], { delay: ms(610) }),
    (r) => GeminiEmulator.text(`(12 + 30) * 7 = ${outputsOf(r)[0]}.`, { delay: ms(380) })
  ],
  [prompts[1]]: [
    GeminiEmulator.callTools([{ name: "solve_quadratic", args: { a: 1, b: -5, c: 6 } }], { delay: ms(540) }),
    (r) => GeminiEmulator.text(`The roots of x^2 - 5x + 6 = 0 are x = ${outputsOf(r)[0].roots.join(" and x = ")}.`, { delay: ms(760) })
  ],
  [prompts[2]]: [
    GeminiEmulator.callTools([{ name: "multiply", args: { a: 3, b: 4 } }, { name: "multiply", args: { a: 5, b: 6 } }], {
      delay: ms(330)
    }),
    (r) => GeminiEmulator.callTools([{ name: "add", args: { a: outputsOf(r)[0], b: outputsOf(r)[1] } }], { delay: ms(470) }),
    (r) => GeminiEmulator.text(`3 * 4 + 5 * 6 = ${outputsOf(r)[0]}.`, { delay: ms(520) })
  ],
  [prompts[3]]: [
    GeminiEmulator.callTools([{ name: "solve_quadratic", args: { a: 2, b: 3, c: -2 } }], { delay: ms(690) }),
    (r) => {
      const [x1, x2] = outputsOf(r)[0].roots
      return GeminiEmulator.callTools([{ name: "add", args: { a: x1, b: x2 } }], { delay: ms(450) })
    },
    (r) => GeminiEmulator.text(`The roots are 0.5 and -2; their sum is ${outputsOf(r)[0]}.`, { delay: ms(800) })
  ]
})

// -----------------------------------------------------------------------------
// the timeline
// -----------------------------------------------------------------------------

const short = (value: unknown): string => {
  const text = typeof value === "string" ? value : JSON.stringify(value)
  return text.length > 70 ? `${text.slice(0, 67)}...` : text
}

const describeEvent = (event: AgentEvent.AgentEvent): string | undefined => {
  switch (event._tag) {
    case "RunStarted":
      return `run started: ${short(event.input)}`
    case "ModelRequested":
      return event.attempt > 1 ? `model call (attempt ${event.attempt})` : "model call"
    case "ModelResponded":
      return event.functionCalls.length > 0
        ? `model asks for ${event.functionCalls.join(", ")}`
        : `model answers: ${short(event.text)}`
    case "ToolCallStarted":
      return `  tool ${event.tool}(${short(event.args)})`
    case "ToolCallSucceeded":
      return `  tool ${event.tool} -> ${short(event.output)}`
    case "ToolCallFailed":
      return `  tool ${event.tool} failed: ${short(event.error)}`
    case "ToolCallInterrupted":
      return `  tool ${event.tool} interrupted (${event.reason})`
    case "RetryScheduled":
      return `retry in ${event.delayMillis} ms after ${event.error}`
    case "RunCompleted":
      return `run completed (${event.usage.totalTokens} tokens)`
    case "RunFailed":
      return `run failed: ${event.error}: ${short(event.message)}`
    default:
      return undefined
  }
}

interface Outcome {
  readonly label: string
  readonly millis: number
  readonly answer: Either.Either<string, string>
}

const conversation = (start: number) => (prompt: string, index: number): Effect.Effect<Outcome, never, Model.Model> => {
  const label = `C${index + 1}`
  let answer = ""
  return Agent.stream(math, prompt).pipe(
    Stream.runForEach((event) => {
      if (event._tag === "RunCompleted") answer = event.text
      const line = describeEvent(event)
      if (line === undefined) return Effect.void
      const elapsed = `${event.timestamp - start} ms`.padStart(8)
      return Console.log(`${elapsed}  ${label.padEnd(4)}${event.agent.padEnd(7)}${line}`)
    }),
    Effect.either,
    Effect.timed,
    Effect.map(([duration, result]): Outcome => ({
      label,
      millis: Math.round(Duration.toMillis(duration)),
      answer: Either.match(result, { onLeft: (error) => Either.left(error.message), onRight: () => Either.right(answer) })
    }))
  )
}

const demo = Effect.gen(function*() {
  const start = yield* Clock.currentTimeMillis
  yield* Console.log(`\n${"elapsed".padStart(8)}  conv agent  event`)
  const outcomes = yield* Effect.forEach(prompts, conversation(start), { concurrency: "unbounded" })
  const wall = (yield* Clock.currentTimeMillis) - start

  yield* Console.log("\nPer conversation:")
  for (const [i, outcome] of outcomes.entries()) {
    const answer = Either.match(outcome.answer, { onLeft: (e) => `FAILED: ${e}`, onRight: (a) => a })
    yield* Console.log(`  ${outcome.label}  ${`${outcome.millis} ms`.padStart(8)}  ${short(prompts[i])}\n${" ".repeat(16)}-> ${answer}`)
  }
  const sum = outcomes.reduce((total, outcome) => total + outcome.millis, 0)
  yield* Console.log(
    `\nTotal wall time: ${wall} ms   Sum of conversation times: ${sum} ms   ` +
      `(${(sum / Math.max(wall, 1)).toFixed(1)}x less than running them one after another)`
  )
  const failed = outcomes.filter((outcome) => Either.isLeft(outcome.answer))
  if (failed.length > 0) {
    return yield* Effect.fail(`${failed.length} conversation(s) failed: ${failed.map((o) => o.label).join(", ")}`)
  }
})

// -----------------------------------------------------------------------------
// live Gemini or the in-process emulator
// -----------------------------------------------------------------------------

const main = Effect.gen(function*() {
  const apiKey = yield* Config.option(Config.redacted("GEMINI_API_KEY"))
  const model = yield* Config.string("GEMINI_MODEL").pipe(Config.withDefault("gemini-2.5-flash"))
  if (Option.isSome(apiKey)) {
    yield* Console.log(`Mode: live Gemini API (model ${model}); GEMINI_API_KEY is set.`)
    return yield* Effect.provide(demo, Gemini.layerConfig({ model }))
  }
  const emulator = yield* GeminiEmulator.make({ script })
  yield* Console.log(
    `Mode: offline (GEMINI_API_KEY is not set): the @google/genai SDK talks to an in-process GeminiEmulator at ` +
      `${emulator.baseUrl}, scripted answers, 300-800 ms per model call. Set GEMINI_API_KEY to use the real Gemini API.`
  )
  return yield* Effect.provide(demo, Gemini.layer({ model, apiKey: emulator.apiKey, baseUrl: emulator.baseUrl }))
}).pipe(Effect.scoped)

NodeRuntime.runMain(main)
