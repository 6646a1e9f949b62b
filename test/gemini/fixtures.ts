/**
 * Shared fixtures of the Gemini tests: a math agent, and a way to run a program against a fresh
 * `GeminiEmulator` through the real `@google/genai` SDK (`Gemini.layer`) on loopback.
 */
import { Agent, AgentEvent, type Model, Tool } from "@effect-agents/core"
import { Gemini, GeminiEmulator } from "@effect-agents/gemini"
import type * as GenAI from "@google/genai"
import { Effect, Layer, Redacted, Schedule, Schema } from "effect"

/** A code execution part and its result, as Gemini sends them with the code execution tool. */
export const code = { executableCode: { language: "PYTHON" as GenAI.Language, code: "print(2 + 3)" } }
export const result = { codeExecutionResult: { outcome: "OUTCOME_OK" as GenAI.Outcome, output: "5\n" } }

/** A distinctive fake key: no test output may ever contain it. */
export const API_KEY = "AIzaFAKE-e2e-7f3a9c1d-do-not-print"

export const MODEL = "gemini-emulated"

const Pair = Schema.Struct({ a: Schema.Number, b: Schema.Number })

export const add = Tool.make("add", {
  description: "Add two numbers",
  parameters: Pair,
  success: Schema.Number,
  // slower than multiply, so completion order differs from call order
  handler: ({ a, b }) => Effect.as(Effect.sleep("30 millis"), a + b)
})

export const multiply = Tool.make("multiply", {
  description: "Multiply two numbers",
  parameters: Pair,
  success: Schema.Number,
  handler: ({ a, b }) => Effect.succeed(a * b)
})

export const divide = Tool.make("divide", {
  description: "Divide a by b",
  parameters: Pair,
  success: Schema.Number,
  handler: ({ a, b }) => b === 0 ? Effect.fail("division by zero") : Effect.succeed(a / b)
})

export const math = Agent.make({
  name: "math",
  instructions: "Use the tools for every calculation.",
  tools: [add, multiply, divide],
  policy: {
    toolFailure: "report",
    modelRetry: Schedule.spaced("20 millis").pipe(Schedule.intersect(Schedule.recurs(3)))
  }
})

/** How a test's `Gemini.layer` and emulator differ from the defaults. */
export interface Setup {
  readonly clientKey?: string
  readonly model?: string
  readonly generationConfig?: Gemini.GenerationConfig
  readonly builtInTools?: Gemini.BuiltInTools
  readonly emulator?: Omit<GeminiEmulator.Options, "script" | "apiKey">
}

/** The real Gemini layer pointed at an emulator. */
export const geminiFor = (emulator: GeminiEmulator.Emulator, setup: Setup = {}): Layer.Layer<Model.Model> =>
  Layer.orDie(Gemini.layer({
    model: setup.model ?? MODEL,
    apiKey: Redacted.make(setup.clientKey ?? API_KEY),
    baseUrl: emulator.baseUrl,
    generationConfig: setup.generationConfig ?? { temperature: 0 },
    builtInTools: setup.builtInTools
  }))

/** Run `f` against a fresh emulator playing `script`; the emulator stops when `f` ends. */
export const withEmulator = <A, E>(
  script: GeminiEmulator.Script,
  f: (emulator: GeminiEmulator.Emulator) => Effect.Effect<A, E, Model.Model>,
  setup?: Setup
): Effect.Effect<A, E> =>
  Effect.scoped(Effect.gen(function*() {
    const emulator = yield* GeminiEmulator.make({ ...setup?.emulator, script, apiKey: API_KEY })
    return yield* Effect.provide(f(emulator), geminiFor(emulator, setup))
  }))

/** POST a raw JSON body to an emulator, as a client other than the SDK would. */
export const post = (
  emulator: GeminiEmulator.Emulator,
  body: unknown,
  options?: { readonly path?: string; readonly headers?: Record<string, string> }
) =>
  Effect.promise(async () => {
    const response = await fetch(`${emulator.baseUrl}${options?.path ?? `/v1beta/models/${MODEL}:generateContent`}`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-goog-api-key": API_KEY, ...options?.headers },
      body: typeof body === "string" ? body : JSON.stringify(body)
    })
    const json = await response.json() as { readonly error?: { readonly status: string; readonly message: string; readonly details?: ReadonlyArray<Record<string, unknown>> } }
    return { status: response.status, error: json.error, body: json as Record<string, unknown> }
  })

/** One model request, as the run loop would send it. */
export const request = (prompt: string): Model.ModelRequest => ({
  agent: "test",
  contents: [{ role: "user", parts: [{ _tag: "Text", text: prompt }] }],
  tools: []
})

export const ofTag = <T extends AgentEvent.AgentEvent["_tag"]>(events: ReadonlyArray<AgentEvent.AgentEvent>, tag: T) =>
  events.filter((e): e is Extract<AgentEvent.AgentEvent, { _tag: T }> => e._tag === tag)

/** The Gemini parts of request `index`'s content number `content`. */
export const partsOf = (requests: ReadonlyArray<GeminiEmulator.RecordedRequest>, index: number, content: number) =>
  requests[index].body.contents?.[content]?.parts ?? []
