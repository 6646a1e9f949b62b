/**
 * Provider-neutral conversation content: the parts a model reads and writes.
 *
 * Parts keep opaque provider `metadata` (for example Gemini's `thoughtSignature` on
 * function-call parts). The run loop stores model parts in the history unchanged, so a
 * provider gets its metadata back on every later turn.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * Opaque provider data attached to a part; sent back unchanged on later turns.
 *
 * @since 0.1.0
 */
export const Metadata = Schema.Record({ key: Schema.String, value: Schema.Unknown })

/**
 * @since 0.1.0
 */
export type Metadata = typeof Metadata.Type

/**
 * @since 0.1.0
 */
export const TextPart = Schema.TaggedStruct("Text", {
  text: Schema.String,
  metadata: Schema.optional(Metadata)
})

/**
 * @since 0.1.0
 */
export interface TextPart extends Schema.Schema.Type<typeof TextPart> {}

/**
 * A function call requested by the model. `id` pairs it with its response.
 *
 * @since 0.1.0
 */
export const FunctionCallPart = Schema.TaggedStruct("FunctionCall", {
  id: Schema.String,
  name: Schema.String,
  args: Schema.Unknown,
  metadata: Schema.optional(Metadata)
})

/**
 * @since 0.1.0
 */
export interface FunctionCallPart extends Schema.Schema.Type<typeof FunctionCallPart> {}

/**
 * Media bytes sent inline: base64 `data` of an IANA `mimeType` (`image/png`, `application/pdf`).
 *
 * @since 0.1.0
 */
export const InlineData = Schema.Struct({
  mimeType: Schema.String,
  data: Schema.String
})

/**
 * @since 0.1.0
 */
export interface InlineData extends Schema.Schema.Type<typeof InlineData> {}

/**
 * The answer to a function call: the tool's encoded output, or an error message the model
 * can read (`isError: true`). `parts` carries media the tool returned (an image, a PDF) as data
 * the model sees as such, not as JSON text; a tool gives them with {@link toolOutput}.
 *
 * @since 0.1.0
 */
export const FunctionResponsePart = Schema.TaggedStruct("FunctionResponse", {
  id: Schema.String,
  name: Schema.String,
  output: Schema.Unknown,
  isError: Schema.Boolean,
  parts: Schema.optional(Schema.Array(InlineData)),
  metadata: Schema.optional(Metadata)
})

/**
 * @since 0.1.0
 */
export interface FunctionResponsePart extends Schema.Schema.Type<typeof FunctionResponsePart> {}

/**
 * @since 0.1.0
 * @category type ids
 */
export const ToolOutputTypeId: unique symbol = Symbol.for("@effect-agents/core/Content/ToolOutput")

/**
 * A tool result with media: `output` is the function response's JSON as for any result, `parts`
 * the media sent with it as data (`FunctionResponsePart.parts`). Make one with {@link toolOutput}.
 *
 * @since 0.1.0
 * @category models
 */
export interface ToolOutput {
  readonly [ToolOutputTypeId]: typeof ToolOutputTypeId
  readonly output: unknown
  readonly parts: ReadonlyArray<InlineData>
}

/**
 * @since 0.1.0
 * @category guards
 */
export const isToolOutput = (u: unknown): u is ToolOutput => typeof u === "object" && u !== null && ToolOutputTypeId in u

/**
 * A tool result carrying media as data parts: return it from a handler whose `success` Schema
 * is {@link ToolOutput} (or `Schema.Unknown`, as for `Tool.fromJsonSchema`). Gemini receives
 * the parts as `functionResponse.parts[].inlineData`; each part needs a `type/subtype` MIME type
 * and base64 data, or the call fails with `ToolResultInvalid`.
 *
 * @example
 * ```ts
 * import { Content, Tool } from "@effect-agents/core"
 * import { Effect, Schema } from "effect"
 * declare const render: () => string // base64 PNG
 *
 * const chart = Tool.make("chart", {
 *   description: "Draw the sales chart",
 *   parameters: Schema.Struct({}),
 *   success: Content.ToolOutput,
 *   handler: () => Effect.sync(() => Content.toolOutput("the chart is attached", [{ mimeType: "image/png", data: render() }]))
 * })
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const toolOutput = (output: unknown, parts: ReadonlyArray<InlineData>): ToolOutput => ({
  [ToolOutputTypeId]: ToolOutputTypeId,
  output,
  parts
})

/**
 * The `success` Schema of a tool returning {@link toolOutput}: the value passes as it is.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ToolOutput: Schema.Schema<ToolOutput> = Schema.declare(isToolOutput, {
  identifier: "ToolOutput",
  description: "a tool result with media parts (Content.toolOutput)"
})

/**
 * @since 0.1.0
 */
export const Part = Schema.Union(TextPart, FunctionCallPart, FunctionResponsePart)

/**
 * @since 0.1.0
 */
export type Part = TextPart | FunctionCallPart | FunctionResponsePart

/**
 * @since 0.1.0
 */
export const Role = Schema.Literal("user", "model")

/**
 * @since 0.1.0
 */
export type Role = typeof Role.Type

/**
 * One message of a conversation.
 *
 * @since 0.1.0
 */
export const Content = Schema.Struct({
  role: Role,
  parts: Schema.Array(Part)
})

/**
 * @since 0.1.0
 */
export interface Content {
  readonly role: Role
  readonly parts: ReadonlyArray<Part>
}

/**
 * A conversation history, oldest message first.
 *
 * @since 0.1.0
 */
export const History = Schema.Array(Content)

/**
 * @since 0.1.0
 */
export type History = ReadonlyArray<Content>

/**
 * @example
 * ```ts
 * import { Content } from "@effect-agents/core"
 *
 * const message = Content.user("What is 2 + 3?")
 * ```
 * @since 0.1.0
 */
export const user = (text: string): Content => ({ role: "user", parts: [{ _tag: "Text", text }] })

/**
 * @since 0.1.0
 */
export const model = (text: string): Content => ({ role: "model", parts: [{ _tag: "Text", text }] })

/**
 * The concatenated text parts of a list of parts.
 *
 * @since 0.1.0
 */
export const textOf = (parts: ReadonlyArray<Part>): string => {
  let text = ""
  for (const part of parts) {
    if (part._tag === "Text") text += part.text
  }
  return text
}

/**
 * The function calls among a list of parts, in order.
 *
 * @since 0.1.0
 */
export const functionCallsOf = (parts: ReadonlyArray<Part>): ReadonlyArray<FunctionCallPart> => {
  let calls: Array<FunctionCallPart> | undefined
  for (const part of parts) {
    if (part._tag === "FunctionCall") (calls ??= []).push(part)
  }
  return calls ?? []
}
