/**
 * The provider-neutral model service. A provider (`@effect-agents/gemini`) or a test double
 * (`@effect-agents/testing`'s `ScriptedModel`) implements it as a `Layer`.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type * as Stream from "effect/Stream"
import type { ModelError } from "./AgentError.js"
import { Content, Part } from "./Content.js"

/**
 * A function the model may call: name, description and plain JSON Schema of its arguments.
 *
 * @since 0.1.0
 */
export const ToolDeclaration = Schema.Struct({
  name: Schema.String,
  description: Schema.String,
  parameters: Schema.Record({ key: Schema.String, value: Schema.Unknown })
})

/**
 * @since 0.1.0
 */
export interface ToolDeclaration extends Schema.Schema.Type<typeof ToolDeclaration> {}

/**
 * @since 0.1.0
 */
export const Usage = Schema.Struct({
  inputTokens: Schema.Number,
  outputTokens: Schema.Number,
  totalTokens: Schema.Number
})

/**
 * @since 0.1.0
 */
export interface Usage extends Schema.Schema.Type<typeof Usage> {}

/**
 * @since 0.1.0
 */
export const emptyUsage: Usage = { inputTokens: 0, outputTokens: 0, totalTokens: 0 }

/**
 * @since 0.1.0
 */
export const FinishReason = Schema.Literal("stop", "tool-calls", "max-tokens", "content-filter", "other", "unknown")

/**
 * @since 0.1.0
 */
export type FinishReason = typeof FinishReason.Type

/**
 * What the run loop sends to the model each turn.
 *
 * @since 0.1.0
 */
export const ModelRequest = Schema.Struct({
  /** Path of the agent making the request, e.g. `triage/math`. */
  agent: Schema.String,
  system: Schema.optional(Schema.String),
  contents: Schema.Array(Content),
  tools: Schema.Array(ToolDeclaration)
})

/**
 * @since 0.1.0
 */
export interface ModelRequest {
  readonly agent: string
  readonly system?: string | undefined
  readonly contents: ReadonlyArray<Content>
  readonly tools: ReadonlyArray<ToolDeclaration>
}

/**
 * A complete model answer: parts (text and function calls, with provider metadata), usage and
 * finish reason.
 *
 * @since 0.1.0
 */
export const ModelResponse = Schema.Struct({
  parts: Schema.Array(Part),
  usage: Usage,
  finishReason: FinishReason
})

/**
 * @since 0.1.0
 */
export interface ModelResponse {
  readonly parts: ReadonlyArray<Part>
  readonly usage: Usage
  readonly finishReason: FinishReason
}

/**
 * One piece of a streamed answer. Text parts are deltas; function calls arrive whole. The last
 * chunk usually carries `usage` and `finishReason`.
 *
 * @since 0.1.0
 */
export interface ModelChunk {
  readonly parts: ReadonlyArray<Part>
  readonly usage?: Usage | undefined
  readonly finishReason?: FinishReason | undefined
}

/**
 * @since 0.1.0
 */
export declare namespace Model {
  /**
   * @since 0.1.0
   */
  export interface Service {
    readonly generate: (request: ModelRequest) => Effect.Effect<ModelResponse, ModelError>
    readonly stream: (request: ModelRequest) => Stream.Stream<ModelChunk, ModelError>
  }
}

/**
 * The model service.
 *
 * @example
 * ```ts
 * import { Model } from "@effect-agents/core"
 * import { Effect, Layer, Stream } from "effect"
 *
 * const Echo = Layer.succeed(Model.Model, {
 *   generate: (req) => Effect.succeed({ parts: req.contents.at(-1)!.parts, usage: Model.emptyUsage, finishReason: "stop" }),
 *   stream: (req) => Stream.make({ parts: req.contents.at(-1)!.parts })
 * })
 * ```
 * @since 0.1.0
 */
export class Model extends Context.Tag("@effect-agents/core/Model")<Model, Model.Service>() {}

/**
 * A `Model` layer from a service value.
 *
 * @since 0.1.0
 */
export const layer = (service: Model.Service): Layer.Layer<Model> => Layer.succeed(Model, service)

/**
 * Assemble streamed chunks into one response: text deltas concatenated (keeping the first
 * text part's metadata), function calls in order, last usage and finish reason.
 *
 * @since 0.1.0
 */
export const collectChunks = (chunks: Iterable<ModelChunk>): ModelResponse => {
  const parts: Array<Part> = []
  let text: string | undefined
  let textMetadata: Record<string, unknown> | undefined
  let usage: Usage = emptyUsage
  let finishReason: FinishReason = "unknown"
  const flush = () => {
    if (text !== undefined) {
      parts.push(textMetadata ? { _tag: "Text", text, metadata: textMetadata } : { _tag: "Text", text })
      text = undefined
      textMetadata = undefined
    }
  }
  for (const chunk of chunks) {
    for (const part of chunk.parts) {
      if (part._tag === "Text") {
        text = (text ?? "") + part.text
        if (part.metadata) textMetadata = { ...textMetadata, ...part.metadata }
      } else {
        flush()
        parts.push(part)
      }
    }
    if (chunk.usage) usage = chunk.usage
    if (chunk.finishReason) finishReason = chunk.finishReason
  }
  flush()
  return { parts, usage, finishReason }
}
