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
  readonly text: ReadonlyArray<string>
  readonly calls: ReadonlyArray<CallSpec>
  readonly finishReason: string
  readonly thoughtSignature?: string | undefined
  readonly promptTokens?: number | undefined
  readonly outputTokens?: number | undefined
}

export type Json = Record<string, unknown>

const estimateTokens = (text: string): number => Math.max(1, Math.ceil(text.length / 4))

export const usageMetadata = (promptTokens: number, outputTokens: number): Json => ({
  promptTokenCount: promptTokens,
  candidatesTokenCount: outputTokens,
  totalTokenCount: promptTokens + outputTokens
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
  reply.outputTokens ?? estimateTokens(reply.text.join("")) + 12 * reply.calls.length

const envelope = (model: string, responseId: string, candidate: Json | undefined, usage: Json | undefined): Json => ({
  ...(candidate !== undefined ? { candidates: [candidate] } : {}),
  ...(usage !== undefined ? { usageMetadata: usage } : {}),
  modelVersion: model,
  responseId
})

const candidate = (parts: ReadonlyArray<GenAI.Part>, finishReason: string | undefined): Json => ({
  ...(parts.length > 0 ? { content: { role: "model", parts } } : {}),
  ...(finishReason !== undefined ? { finishReason } : {}),
  index: 0
})

/** The body of a unary `generateContent` answer. */
export const replyBody = (reply: ReplySpec, model: string, responseId: string, promptTokens: number): Json => {
  const parts: Array<GenAI.Part> = []
  const text = reply.text.join("")
  if (reply.text.length > 0) parts.push(textPart(text, reply.thoughtSignature))
  for (const call of reply.calls) parts.push(callPart(call))
  return envelope(
    model,
    responseId,
    candidate(parts, reply.finishReason),
    usageMetadata(reply.promptTokens ?? promptTokens, outputTokensOf(reply))
  )
}

/**
 * The SSE events of a `streamGenerateContent` answer: one event per text piece, the function
 * calls whole in one event, finish reason and usage on the last event.
 */
export const replyEvents = (reply: ReplySpec, model: string, responseId: string, promptTokens: number): Array<Json> => {
  const pieces: Array<Array<GenAI.Part>> = reply.text.map((text, i) => [
    textPart(text, i === reply.text.length - 1 ? reply.thoughtSignature : undefined)
  ])
  if (reply.calls.length > 0) pieces.push(reply.calls.map(callPart))
  if (pieces.length === 0) pieces.push([])
  const usage = usageMetadata(reply.promptTokens ?? promptTokens, outputTokensOf(reply))
  return pieces.map((parts, i) => {
    const last = i === pieces.length - 1
    return envelope(model, responseId, candidate(parts, last ? reply.finishReason : undefined), last ? usage : undefined)
  })
}

/** Partial text events sent before a fault (a dropped connection or a hang). */
export const textEvents = (text: ReadonlyArray<string>, model: string, responseId: string): Array<Json> =>
  text.map((piece) => envelope(model, responseId, candidate([{ text: piece }], undefined), undefined))

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
