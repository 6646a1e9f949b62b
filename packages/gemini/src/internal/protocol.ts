/**
 * The Gemini REST protocol as the emulator speaks it: response bodies, error bodies and SSE
 * framing, shaped like the real `generativelanguage.googleapis.com` answers.
 */
import type * as GenAI from "@google/genai"

/** A function call the emulator answers with. */
export interface CallSpec {
  readonly name: string
  readonly args?: Record<string, unknown> | undefined
  readonly id?: string | undefined
  readonly thoughtSignature?: string | undefined
}

/** What one scripted answer contains. */
export interface ReplySpec {
  readonly thoughts: ReadonlyArray<string>
  readonly text: ReadonlyArray<string>
  readonly parts: ReadonlyArray<GenAI.Part>
  readonly calls: ReadonlyArray<CallSpec>
  readonly finishReason: string
  readonly finishMessage?: string | undefined
  readonly thoughtSignature?: string | undefined
  readonly trailingSignature?: string | undefined
  readonly safetyRatings?: ReadonlyArray<GenAI.SafetyRating> | undefined
  readonly extraCandidates?: ReadonlyArray<ReadonlyArray<GenAI.Part>> | undefined
  readonly usage?: UsageSpec | undefined
}

/** Token counts of a scripted answer; what is not given is estimated. */
export interface UsageSpec {
  readonly promptTokens?: number | undefined
  readonly outputTokens?: number | undefined
  readonly thoughtsTokens?: number | undefined
  readonly cachedTokens?: number | undefined
}

export type Json = Record<string, unknown>

const estimateTokens = (text: string): number => Math.max(1, Math.ceil(text.length / 4))

export const usageMetadata = (promptTokens: number, outputTokens: number, usage?: UsageSpec): Json => ({
  promptTokenCount: promptTokens,
  candidatesTokenCount: outputTokens,
  ...(usage?.cachedTokens !== undefined ? { cachedContentTokenCount: usage.cachedTokens } : {}),
  ...(usage?.thoughtsTokens !== undefined ? { thoughtsTokenCount: usage.thoughtsTokens } : {}),
  totalTokenCount: promptTokens + outputTokens + (usage?.thoughtsTokens ?? 0)
})

/** A rough, deterministic token count of a request body (4 characters a token). */
export const promptTokensOf = (body: unknown): number => {
  const contents = typeof body === "object" && body !== null ? (body as { contents?: unknown }).contents : undefined
  return estimateTokens(JSON.stringify(contents ?? ""))
}

const callPart = (call: CallSpec): GenAI.Part => ({
  functionCall: {
    ...(call.id !== undefined ? { id: call.id } : {}),
    name: call.name,
    args: call.args ?? {}
  },
  ...(call.thoughtSignature !== undefined ? { thoughtSignature: call.thoughtSignature } : {})
})

const textPart = (text: string, thoughtSignature: string | undefined): GenAI.Part =>
  thoughtSignature !== undefined ? { text, thoughtSignature } : { text }

const outputTokensOf = (reply: ReplySpec): number =>
  reply.usage?.outputTokens ?? estimateTokens(reply.text.join("")) + 12 * reply.calls.length

const envelope = (model: string, responseId: string, candidates: ReadonlyArray<Json>, usage: Json | undefined): Json => ({
  ...(candidates.length > 0 ? { candidates } : {}),
  ...(usage !== undefined ? { usageMetadata: usage } : {}),
  modelVersion: model,
  responseId
})

const candidate = (
  parts: ReadonlyArray<GenAI.Part>,
  finish: Pick<ReplySpec, "finishReason" | "finishMessage" | "safetyRatings"> | undefined,
  index = 0
): Json => ({
  ...(parts.length > 0 ? { content: { role: "model", parts } } : {}),
  ...(finish !== undefined ? { finishReason: finish.finishReason } : {}),
  ...(finish?.finishMessage !== undefined ? { finishMessage: finish.finishMessage } : {}),
  ...(finish?.safetyRatings !== undefined ? { safetyRatings: finish.safetyRatings } : {}),
  index
})

const extraCandidatesOf = (reply: ReplySpec): Array<Json> =>
  (reply.extraCandidates ?? []).map((parts, i) => candidate(parts, reply, i + 1))

/**
 * The parts of an answer, each group streamed as one SSE event: thought summaries, text pieces
 * (the signature on the last one), raw parts one by one, the function calls together, and a
 * trailing signature on an empty text part.
 */
const partGroups = (reply: ReplySpec): Array<Array<GenAI.Part>> => {
  const groups: Array<Array<GenAI.Part>> = reply.thoughts.map((text) => [{ text, thought: true }])
  reply.text.forEach((text, i) => groups.push([textPart(text, i === reply.text.length - 1 ? reply.thoughtSignature : undefined)]))
  for (const part of reply.parts) groups.push([part])
  if (reply.calls.length > 0) groups.push(reply.calls.map(callPart))
  if (reply.trailingSignature !== undefined) groups.push([{ text: "", thoughtSignature: reply.trailingSignature }])
  return groups
}

/** The body of a unary `generateContent` answer: the text pieces joined, as Gemini does. */
export const replyBody = (reply: ReplySpec, model: string, responseId: string, promptTokens: number): Json => {
  const parts: Array<GenAI.Part> = reply.thoughts.map((text) => ({ text, thought: true }))
  if (reply.text.length > 0) parts.push(textPart(reply.text.join(""), reply.thoughtSignature))
  parts.push(...reply.parts, ...reply.calls.map(callPart))
  if (reply.trailingSignature !== undefined) parts.push({ text: "", thoughtSignature: reply.trailingSignature })
  return envelope(
    model,
    responseId,
    [candidate(parts, reply), ...extraCandidatesOf(reply)],
    usageMetadata(reply.usage?.promptTokens ?? promptTokens, outputTokensOf(reply), reply.usage)
  )
}

/** The SSE events of a `streamGenerateContent` answer; finish reason and usage on the last event. */
export const replyEvents = (reply: ReplySpec, model: string, responseId: string, promptTokens: number): Array<Json> => {
  const groups = partGroups(reply)
  if (groups.length === 0) groups.push([])
  const usage = usageMetadata(reply.usage?.promptTokens ?? promptTokens, outputTokensOf(reply), reply.usage)
  return groups.map((parts, i) => {
    const last = i === groups.length - 1
    return envelope(
      model,
      responseId,
      last ? [candidate(parts, reply), ...extraCandidatesOf(reply)] : [candidate(parts, undefined)],
      last ? usage : undefined
    )
  })
}

/** Partial text events sent before a fault (a dropped connection or a hang). */
export const textEvents = (text: ReadonlyArray<string>, model: string, responseId: string): Array<Json> =>
  text.map((piece) => envelope(model, responseId, [candidate([{ text: piece }], undefined)], undefined))

/** A `google.rpc.Status` error body, as Google APIs send it. */
export const errorBody = (code: number, status: string, message: string, details?: ReadonlyArray<Json>): Json => ({
  error: { code, message, status, ...(details !== undefined && details.length > 0 ? { details } : {}) }
})

/** Canonical `google.rpc.Code` names of HTTP statuses. */
export const statusName = (code: number): string => {
  switch (code) {
    case 400:
      return "INVALID_ARGUMENT"
    case 401:
      return "UNAUTHENTICATED"
    case 403:
      return "PERMISSION_DENIED"
    case 404:
      return "NOT_FOUND"
    case 429:
      return "RESOURCE_EXHAUSTED"
    case 500:
      return "INTERNAL"
    case 501:
      return "NOT_IMPLEMENTED"
    case 503:
      return "UNAVAILABLE"
    case 504:
      return "DEADLINE_EXCEEDED"
    default:
      return code >= 500 ? "INTERNAL" : "FAILED_PRECONDITION"
  }
}

/** A protobuf `Duration` in its JSON form (`"7s"`, `"0.250s"`). */
export const protoDuration = (millis: number): string =>
  millis % 1000 === 0 ? `${millis / 1000}s` : `${(millis / 1000).toFixed(3)}s`

const encoder = new TextEncoder()

/** One server-sent event, framed like Google's (`data: {json}\r\n\r\n`). */
export const sse = (event: Json): Uint8Array => encoder.encode(`data: ${JSON.stringify(event)}\r\n\r\n`)

/** A body that is not JSON: the start of an answer cut in the middle of a string. */
export const malformedJson = `{"candidates": [{"content": {"role": "model", "parts": [{"text": "The answ`

/** An SSE event whose data is not JSON. */
export const malformedEvent: Uint8Array = encoder.encode(`data: ${malformedJson}\r\n\r\n`)
