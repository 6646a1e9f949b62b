/**
 * A deterministic `Model` for tests and offline demos.
 *
 * Each model request consumes one step of a script. A step can wait (`Effect.sleep`, so
 * `TestClock.adjust` drives it), answer with text, call tools (several at once), fail with any
 * `ModelError`, hang, or be computed from the request. Every request is recorded.
 *
 * Like the wire, it refuses a request carrying a function response that JSON cannot carry (a
 * circular object, a `bigint`, a function or a symbol): the request fails with a non-retryable
 * `InvalidRequest`, as the Gemini SDK fails on serializing it, and consumes no step. (The SDK
 * drops functions and symbols silently; refusing them keeps a test from passing on an output the
 * model would never see.)
 *
 * @since 0.1.0
 */
import { AgentError, type Content, Model } from "@effect-agents/core"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"

/**
 * A function call the scripted model makes. Without `id`, the id is `call_<turn>_<index>`.
 *
 * @since 0.1.0
 */
export interface Call {
  readonly name: string
  readonly args?: unknown
  readonly id?: string | undefined
  readonly metadata?: Content.Metadata | undefined
}

/**
 * One scripted answer.
 *
 * @since 0.1.0
 */
export interface Step {
  /** Wait this long (on the Effect `Clock`) before answering. */
  readonly delay?: Duration.DurationInput | undefined
  readonly text?: string | undefined
  readonly calls?: ReadonlyArray<Call> | undefined
  /** Fail with this error (after `delay`; when streaming, after `failAfterChunks` text chunks). */
  readonly error?: AgentError.ModelError | undefined
  /** When streaming with `error`: how many text chunks arrive before the stream breaks. */
  readonly failAfterChunks?: number | undefined
  /** Never answer (until interrupted). */
  readonly hang?: boolean | undefined
  readonly usage?: Partial<Model.Usage> | undefined
  readonly finishReason?: Model.FinishReason | undefined
  /** Provider metadata put on the text part. */
  readonly metadata?: Content.Metadata | undefined
  /** When streaming: wait this long between chunks. */
  readonly chunkDelay?: Duration.DurationInput | undefined
  /**
   * Structured output: answer with this value as JSON text. The request must carry an output
   * schema (`ModelRequest.output`, sent for agents made with `output`); otherwise it is a defect.
   */
  readonly output?: unknown
}

/**
 * A script: steps consumed in order by all requests, or a function choosing the step of each
 * request (`index` counts requests from 0).
 *
 * @since 0.1.0
 */
export type Script =
  | ReadonlyArray<Step | ((request: Model.ModelRequest) => Step)>
  | ((request: Model.ModelRequest, index: number) => Step)

/**
 * @since 0.1.0
 */
export declare namespace ScriptedModel {
  /**
   * @since 0.1.0
   */
  export interface Service {
    /** Every request received, in arrival order. */
    readonly requests: Effect.Effect<ReadonlyArray<Model.ModelRequest>>
  }
}

/**
 * Access to what the scripted model received.
 *
 * @since 0.1.0
 */
export class ScriptedModel extends Context.Tag("@effect-agents/testing/ScriptedModel")<
  ScriptedModel,
  ScriptedModel.Service
>() {}

/**
 * @example
 * ```ts
 * import { ScriptedModel } from "@effect-agents/testing"
 *
 * const step = ScriptedModel.text("5", { delay: "1 second" })
 * ```
 * @since 0.1.0
 */
export const text = (text: string, options?: Omit<Step, "text">): Step => ({ ...options, text })

/**
 * A step calling tools at once.
 *
 * @example
 * ```ts
 * import { ScriptedModel } from "@effect-agents/testing"
 *
 * const step = ScriptedModel.callTools([{ name: "add", args: { a: 2, b: 3 } }, { name: "multiply", args: { a: 3, b: 4 } }])
 * ```
 * @since 0.1.0
 */
export const callTools = (calls: ReadonlyArray<Call>, options?: Omit<Step, "calls">): Step => ({ ...options, calls })

/**
 * @since 0.1.0
 */
export const fail = (error: AgentError.ModelError, options?: Omit<Step, "error">): Step => ({ ...options, error })

/**
 * A step answering a structured-output request with `value` as its JSON text (see `Step.output`).
 *
 * @example
 * ```ts
 * import { ScriptedModel } from "@effect-agents/testing"
 *
 * const step = ScriptedModel.json({ city: "Paris", days: 3 }, { delay: "1 second" })
 * ```
 * @since 0.1.0
 */
export const json = (value: unknown, options?: Omit<Step, "output" | "text">): Step => ({ ...options, output: value })

/**
 * A step that never answers.
 *
 * @since 0.1.0
 */
export const hang: Step = { hang: true }

/**
 * A script for concurrent conversations: each conversation (keyed by its first user message)
 * follows its own list of steps, one per model turn. Deterministic however requests interleave.
 *
 * @example
 * ```ts
 * import { ScriptedModel } from "@effect-agents/testing"
 *
 * const script = ScriptedModel.byPrompt({
 *   "What is 2 + 3?": [ScriptedModel.callTools([{ name: "add", args: { a: 2, b: 3 } }]), ScriptedModel.text("5")]
 * })
 * ```
 * @since 0.1.0
 */
export const byPrompt = (
  conversations: Readonly<Record<string, ReadonlyArray<Step | ((request: Model.ModelRequest) => Step)>>>
): Script =>
(request) => {
  const prompt = firstUserText(request.contents)
  const steps = conversations[prompt]
  if (steps === undefined) {
    throw new Error(`ScriptedModel.byPrompt: no script for the conversation starting with ${JSON.stringify(prompt)}`)
  }
  const turn = modelTurns(request.contents)
  const step = steps[turn]
  if (step === undefined) {
    throw new Error(`ScriptedModel.byPrompt: the script for ${JSON.stringify(prompt)} has ${steps.length} steps; turn ${turn + 1} was requested`)
  }
  return typeof step === "function" ? step(request) : step
}

const firstUserText = (contents: ReadonlyArray<Content.Content>): string => {
  for (const content of contents) {
    if (content.role === "user") {
      for (const part of content.parts) if (part._tag === "Text") return part.text
    }
  }
  return ""
}

const modelTurns = (contents: ReadonlyArray<Content.Content>): number => {
  let n = 0
  for (const content of contents) if (content.role === "model") n++
  return n
}

const usageOf = (step: Step): Model.Usage => {
  const input = step.usage?.inputTokens ?? 0
  const output = step.usage?.outputTokens ?? 0
  return { inputTokens: input, outputTokens: output, totalTokens: step.usage?.totalTokens ?? input + output }
}

const partsOf = (step: Step, request: Model.ModelRequest): Array<Content.Part> => {
  const parts: Array<Content.Part> = []
  if (step.text !== undefined) {
    parts.push(step.metadata ? { _tag: "Text", text: step.text, metadata: step.metadata } : { _tag: "Text", text: step.text })
  }
  if (step.calls !== undefined && step.calls.length > 0) {
    const turn = modelTurns(request.contents) + 1
    for (let i = 0; i < step.calls.length; i++) {
      const call = step.calls[i]!
      const id = call.id ?? `call_${turn}_${i}`
      const args = call.args ?? {}
      parts.push(
        call.metadata
          ? { _tag: "FunctionCall", id, name: call.name, args, metadata: call.metadata }
          : { _tag: "FunctionCall", id, name: call.name, args }
      )
    }
  }
  return parts
}

const finishOf = (step: Step): Model.FinishReason =>
  step.finishReason ?? (step.calls !== undefined && step.calls.length > 0 ? "tool-calls" : "stop")

const refuseUnsendable = (key: string, value: unknown): unknown => {
  if (typeof value === "function" || typeof value === "symbol") {
    throw new TypeError(`a ${typeof value}${key === "" ? "" : ` (at key "${key}")`} cannot be sent as JSON`)
  }
  return value
}

/**
 * The `InvalidRequest` the wire would fail `request` with when a function response cannot be sent
 * as JSON. `checked` keeps responses already found sendable (history is re-sent every turn).
 */
const unsendable = (request: Model.ModelRequest, checked: WeakSet<object>): AgentError.InvalidRequest | undefined => {
  for (const content of request.contents) {
    for (const part of content.parts) {
      if (part._tag !== "FunctionResponse") continue
      const output: unknown = part.output
      if (
        output === null || output === undefined || typeof output === "string" || typeof output === "number" ||
        typeof output === "boolean" || checked.has(part)
      ) continue
      try {
        JSON.stringify(output, refuseUnsendable)
      } catch (error) {
        return new AgentError.InvalidRequest({
          detail: `the function response of "${part.name}" (call ${part.id}) cannot be sent as JSON: ${
            error instanceof Error ? error.message : String(error)
          }`
        })
      }
      checked.add(part)
    }
  }
  return undefined
}

/** A structured-output step as its JSON text, refused when the request asked for no output schema. */
const withOutput = (step: Step, request: Model.ModelRequest, i: number): Step => {
  if (step.output === undefined) return step
  if (request.output === undefined) {
    throw new Error(
      `ScriptedModel: request ${i + 1} (agent "${request.agent}") has no output schema, but its step answers with output; ` +
        `make the agent with Agent.make({ output: Schema })`
    )
  }
  return { ...step, text: JSON.stringify(step.output) }
}

/** Split text into word-sized chunks, keeping the spaces. */
const chunkText = (text: string): Array<string> => text.match(/\S+\s*|\s+/g) ?? [text]

/**
 * Build the model service for a script, without a layer.
 *
 * @since 0.1.0
 */
export const make = (script: Script): Effect.Effect<Model.Model.Service & ScriptedModel.Service> =>
  Effect.sync(() => {
    const requests: Array<Model.ModelRequest> = []
    const sendable = new WeakSet<object>()
    let index = 0
    const next = (request: Model.ModelRequest): Step => {
      requests.push(request)
      const i = index++
      if (typeof script === "function") return withOutput(script(request, i), request, i)
      const step = script[i]
      if (step === undefined) {
        throw new Error(`ScriptedModel: the script has ${script.length} steps; request ${i + 1} was made`)
      }
      return withOutput(typeof step === "function" ? step(request) : step, request, i)
    }
    const answer = (step: Step, request: Model.ModelRequest): Effect.Effect<Model.ModelResponse, AgentError.ModelError> => {
      if (step.hang) return Effect.never
      if (step.error !== undefined) return Effect.fail(step.error)
      return Effect.succeed({ parts: partsOf(step, request), usage: usageOf(step), finishReason: finishOf(step) })
    }
    const generate = (request: Model.ModelRequest): Effect.Effect<Model.ModelResponse, AgentError.ModelError> =>
      Effect.suspend(() => {
        const refused = unsendable(request, sendable)
        if (refused !== undefined) return Effect.fail(refused)
        const step = next(request)
        return step.delay === undefined ? answer(step, request) : Effect.zipRight(Effect.sleep(step.delay), answer(step, request))
      })
    const stream = (request: Model.ModelRequest): Stream.Stream<Model.ModelChunk, AgentError.ModelError> =>
      Stream.unwrap(Effect.suspend(() => {
        const refused = unsendable(request, sendable)
        if (refused !== undefined) return Effect.fail(refused)
        const step = next(request)
        const pause = step.chunkDelay
        const texts = step.text !== undefined ? chunkText(step.text) : []
        const chunks: Array<Model.ModelChunk> = texts.map((t, i) => ({
          parts: [i === 0 && step.metadata ? { _tag: "Text", text: t, metadata: step.metadata } : { _tag: "Text", text: t }]
        }))
        const calls = partsOf({ ...step, text: undefined }, request)
        chunks.push({ parts: calls, usage: usageOf(step), finishReason: finishOf(step) })
        let body: Stream.Stream<Model.ModelChunk, AgentError.ModelError>
        if (step.hang) {
          body = Stream.never
        } else if (step.error !== undefined) {
          body = Stream.concat(Stream.fromIterable(chunks.slice(0, step.failAfterChunks ?? 0)), Stream.fail(step.error))
        } else {
          body = Stream.fromIterable(chunks)
        }
        if (pause !== undefined) body = Stream.tap(body, () => Effect.sleep(pause))
        return Effect.succeed(step.delay === undefined ? body : Stream.concat(Stream.execute(Effect.sleep(step.delay)), body))
      }))
    return { generate, stream, requests: Effect.sync(() => requests.slice()) }
  })

/**
 * A `Model` layer playing the script, plus the `ScriptedModel` service to read the requests.
 *
 * @example
 * ```ts
 * import { Agent } from "@effect-agents/core"
 * import { ScriptedModel } from "@effect-agents/testing"
 * import { Effect } from "effect"
 * declare const math: Agent.Agent
 *
 * const program = Agent.run(math, "What is 2 + 3?").pipe(
 *   Effect.provide(ScriptedModel.layer([
 *     ScriptedModel.callTools([{ name: "add", args: { a: 2, b: 3 } }], { delay: "1 second" }),
 *     ScriptedModel.text("2 + 3 = 5")
 *   ]))
 * )
 * ```
 * @since 0.1.0
 */
export const layer = (script: Script): Layer.Layer<Model.Model | ScriptedModel> =>
  Layer.effectContext(Effect.map(make(script), (service) =>
    Context.make(Model.Model, { generate: service.generate, stream: service.stream }).pipe(
      Context.add(ScriptedModel, { requests: service.requests })
    )))
