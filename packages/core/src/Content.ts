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
 * The answer to a function call: the tool's encoded output, or an error message the model
 * can read (`isError: true`).
 *
 * @since 0.1.0
 */
export const FunctionResponsePart = Schema.TaggedStruct("FunctionResponse", {
  id: Schema.String,
  name: Schema.String,
  output: Schema.Unknown,
  isError: Schema.Boolean,
  metadata: Schema.optional(Metadata)
})

/**
 * @since 0.1.0
 */
export interface FunctionResponsePart extends Schema.Schema.Type<typeof FunctionResponsePart> {}

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
