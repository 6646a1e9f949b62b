/**
 * A Gemini REST protocol server for tests and offline demos.
 *
 * `GeminiEmulator` is a real HTTP server (`@effect/platform` `HttpRouter` on
 * `@effect/platform-node`, bound to `127.0.0.1`, port 0) that answers
 * `POST /v1beta/models/{model}:generateContent` and `:streamGenerateContent?alt=sse` the way the
 * Gemini API does (with `x-goog-api-key`), and the Vertex AI paths
 * `/v1beta1/projects/{project}/locations/{location}/publishers/google/models/{model}:...` (with
 * `Authorization: Bearer`), so the real `@google/genai` SDK (and therefore `Gemini.layer`) can
 * talk to it. It refuses what Gemini refuses (see {@link make}), answers from a script, records
 * requests (bounded), and injects faults: 429 with a `RetryInfo` delay, 5xx, slow answers,
 * connections dropped mid-stream, error events mid-stream, blocked prompts, malformed bodies,
 * empty candidates, `MALFORMED_FUNCTION_CALL` and other finishes with their `finishMessage`.
 * Answers can carry thought summaries, signatures (also on a trailing empty part), inline data,
 * executable code and its results, several candidates, safety ratings, and usage with thinking
 * and cached tokens.
 *
 * The server lives in a `Scope`: when the scope closes, every open connection is closed and the
 * port is released.
 *
 * @since 0.1.0
 */
import type { Model } from "@effect-agents/core"
import * as Headers from "@effect/platform/Headers"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import type * as GenAI from "@google/genai"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import * as Http from "node:http"
import * as Gemini from "./Gemini.js"
import * as Protocol from "./internal/protocol.js"
import * as Rules from "./internal/rules.js"

// -----------------------------------------------------------------------------
// script steps
// -----------------------------------------------------------------------------

/**
 * A function call in a scripted answer. Without `id` the answer carries no id, like Gemini 2.x
 * models (`Gemini.layer` then synthesizes one).
 *
 * @since 0.1.0
 */
export interface FunctionCall {
  readonly name: string
  readonly args?: Record<string, unknown> | undefined
  readonly id?: string | undefined
  /** Opaque signature Gemini 3 puts on function-call parts and requires back on later turns. */
  readonly thoughtSignature?: string | undefined
}

interface StepBase {
  /** Wait this long (on the Effect `Clock`) before answering. */
  readonly delay?: Duration.DurationInput | undefined
}

/**
 * Token counts of an answer; what is not given is estimated (4 characters a token).
 *
 * @since 0.1.0
 */
export interface Usage {
  readonly promptTokens?: number | undefined
  readonly outputTokens?: number | undefined
  /** `thoughtsTokenCount`: tokens spent thinking (billed as output). */
  readonly thoughtsTokens?: number | undefined
  /** `cachedContentTokenCount`: the part of the prompt served from a context cache. */
  readonly cachedTokens?: number | undefined
}

/**
 * A normal answer. Its parts come in this order, each group one SSE event when streaming:
 * thought summaries (`thought: true`), text pieces, raw `parts` (inline data, executable code,
 * code execution results, ...), the function calls (together), a trailing empty text part
 * carrying `trailingSignature`.
 *
 * @since 0.1.0
 */
export interface Reply extends StepBase {
  readonly _tag: "Reply"
  readonly thoughts: ReadonlyArray<string>
  readonly text: ReadonlyArray<string>
  readonly parts: ReadonlyArray<GenAI.Part>
  readonly calls: ReadonlyArray<FunctionCall>
  /** Gemini finish reason (`STOP`, `MAX_TOKENS`, `SAFETY`, `MALFORMED_FUNCTION_CALL`, ...). */
  readonly finishReason: string
  readonly finishMessage?: string | undefined
  /** Signature put on the (last) text part. */
  readonly thoughtSignature?: string | undefined
  /** Signature sent on a trailing `{ text: "" }` part, as Gemini does at the end of a stream. */
  readonly trailingSignature?: string | undefined
  readonly safetyRatings?: ReadonlyArray<GenAI.SafetyRating> | undefined
  /** Candidates after the first one (Gemini sends several when `candidateCount` asks for them). */
  readonly extraCandidates?: ReadonlyArray<ReadonlyArray<GenAI.Part>> | undefined
  readonly usage?: Usage | undefined
  /** When streaming: wait this long between SSE events. */
  readonly chunkDelay?: Duration.DurationInput | undefined
}

/**
 * An HTTP error with a `google.rpc.Status` JSON body.
 *
 * @since 0.1.0
 */
export interface HttpError extends StepBase {
  readonly _tag: "HttpError"
  readonly status: number
  readonly body: Record<string, unknown>
}

/**
 * A prompt blocked by safety filters: `promptFeedback.blockReason`, no candidates.
 *
 * @since 0.1.0
 */
export interface Blocked extends StepBase {
  readonly _tag: "Blocked"
  readonly reason: string
  readonly message?: string | undefined
}

/**
 * When streaming: `text` as SSE events, then an error event (`data: {"error": {...}}`), as Gemini
 * sends when it fails mid-stream; otherwise the HTTP error itself.
 *
 * @since 0.1.0
 */
export interface StreamError extends StepBase {
  readonly _tag: "StreamError"
  readonly text: ReadonlyArray<string>
  readonly status: number
  readonly body: Record<string, unknown>
}

/**
 * A 200 answer without candidates.
 *
 * @since 0.1.0
 */
export interface NoCandidates extends StepBase {
  readonly _tag: "NoCandidates"
}

/**
 * A 200 answer whose body is not JSON.
 *
 * @since 0.1.0
 */
export interface MalformedBody extends StepBase {
  readonly _tag: "MalformedBody"
}

/**
 * The connection is dropped: when streaming, after sending `text` as SSE events; otherwise
 * before any answer.
 *
 * @since 0.1.0
 */
export interface Drop extends StepBase {
  readonly _tag: "Drop"
  readonly text: ReadonlyArray<string>
}

/**
 * The request is held open until the client goes away (when streaming, after sending `text`).
 *
 * @since 0.1.0
 */
export interface Hang extends StepBase {
  readonly _tag: "Hang"
  readonly text: ReadonlyArray<string>
}

/**
 * One scripted answer of the emulator.
 *
 * @since 0.1.0
 */
export type Step = Reply | HttpError | Blocked | StreamError | NoCandidates | MalformedBody | Drop | Hang

/**
 * @since 0.1.0
 */
export interface ReplyOptions extends StepBase {
  /** Thought summaries (`thought: true` parts), one SSE event each. */
  readonly thoughts?: string | ReadonlyArray<string> | undefined
  /** A string, or several pieces streamed as separate SSE events. */
  readonly text?: string | ReadonlyArray<string> | undefined
  /** Raw Gemini parts sent as they are: `inlineData`, `executableCode`, `codeExecutionResult`, ... */
  readonly parts?: ReadonlyArray<GenAI.Part> | undefined
  readonly calls?: ReadonlyArray<FunctionCall> | undefined
  readonly finishReason?: string | undefined
  readonly finishMessage?: string | undefined
  readonly thoughtSignature?: string | undefined
  readonly trailingSignature?: string | undefined
  readonly safetyRatings?: ReadonlyArray<GenAI.SafetyRating> | undefined
  readonly extraCandidates?: ReadonlyArray<ReadonlyArray<GenAI.Part>> | undefined
  readonly usage?: Usage | undefined
  readonly chunkDelay?: Duration.DurationInput | undefined
}

const pieces = (text: string | ReadonlyArray<string> | undefined): ReadonlyArray<string> =>
  text === undefined ? [] : typeof text === "string" ? [text] : text

/**
 * A normal answer.
 *
 * @example
 * ```ts
 * import { GeminiEmulator } from "@effect-agents/gemini"
 *
 * const step = GeminiEmulator.reply({
 *   text: "Let me compute that.",
 *   calls: [{ name: "add", args: { a: 2, b: 3 }, id: "call-1", thoughtSignature: "c2lnLTE=" }],
 *   delay: "400 millis"
 * })
 * ```
 * @since 0.1.0
 */
export const reply = (options: ReplyOptions): Step => ({
  _tag: "Reply",
  thoughts: pieces(options.thoughts),
  text: pieces(options.text),
  parts: options.parts ?? [],
  calls: options.calls ?? [],
  finishReason: options.finishReason ?? "STOP",
  finishMessage: options.finishMessage,
  thoughtSignature: options.thoughtSignature,
  trailingSignature: options.trailingSignature,
  safetyRatings: options.safetyRatings,
  extraCandidates: options.extraCandidates,
  usage: options.usage,
  chunkDelay: options.chunkDelay,
  delay: options.delay
})

/**
 * A text answer; several pieces are streamed as separate SSE events.
 *
 * @example
 * ```ts
 * import { GeminiEmulator } from "@effect-agents/gemini"
 *
 * const step = GeminiEmulator.text(["2 + 3 ", "is 5."], { delay: "300 millis" })
 * ```
 * @since 0.1.0
 */
export const text = (text: string | ReadonlyArray<string>, options?: Omit<ReplyOptions, "text">): Step =>
  reply({ ...options, text })

/**
 * An answer calling functions (all in one response, so they run as one tool-call group).
 *
 * @example
 * ```ts
 * import { GeminiEmulator } from "@effect-agents/gemini"
 *
 * const step = GeminiEmulator.callTools([{ name: "add", args: { a: 2, b: 3 } }, { name: "multiply", args: { a: 3, b: 4 } }])
 * ```
 * @since 0.1.0
 */
export const callTools = (calls: ReadonlyArray<FunctionCall>, options?: Omit<ReplyOptions, "calls">): Step =>
  reply({ ...options, calls })

/**
 * An answer with the given finish reason, e.g. `"SAFETY"` or `"MALFORMED_FUNCTION_CALL"`, and no
 * content unless `options` gives some (`MAX_TOKENS` after partial text, say).
 *
 * @example
 * ```ts
 * import { GeminiEmulator } from "@effect-agents/gemini"
 *
 * const cut = GeminiEmulator.finish("MAX_TOKENS", { text: "The answer is", finishMessage: "Output limit reached." })
 * ```
 * @since 0.1.0
 */
export const finish = (finishReason: string, options?: Omit<ReplyOptions, "finishReason">): Step =>
  reply({ ...options, finishReason })

/**
 * An answer that stops with `MALFORMED_FUNCTION_CALL`: the model produced a function call that
 * does not parse.
 *
 * @since 0.1.0
 */
export const malformedFunctionCall = (options?: StepBase): Step => finish("MALFORMED_FUNCTION_CALL", options)

/**
 * An HTTP error with a `google.rpc.Status` body (`status` names default to the canonical code).
 *
 * @example
 * ```ts
 * import { GeminiEmulator } from "@effect-agents/gemini"
 *
 * const step = GeminiEmulator.httpError(400, { message: "Invalid JSON payload received." })
 * ```
 * @since 0.1.0
 */
export const httpError = (
  status: number,
  options?: StepBase & {
    readonly message?: string | undefined
    readonly status?: string | undefined
    readonly details?: ReadonlyArray<Record<string, unknown>> | undefined
  }
): Step => ({
  _tag: "HttpError",
  status,
  body: Protocol.errorBody(
    status,
    options?.status ?? Protocol.statusName(status),
    options?.message ?? `The emulator answered HTTP ${status}.`,
    options?.details
  ),
  delay: options?.delay
})

/**
 * HTTP 429 `RESOURCE_EXHAUSTED`, with a `google.rpc.RetryInfo` `retryDelay` when given.
 *
 * @example
 * ```ts
 * import { GeminiEmulator } from "@effect-agents/gemini"
 *
 * const step = GeminiEmulator.rateLimited({ retryDelay: "7 seconds" })
 * ```
 * @since 0.1.0
 */
export const rateLimited = (options?: StepBase & { readonly retryDelay?: Duration.DurationInput | undefined }): Step =>
  httpError(429, {
    delay: options?.delay,
    message: "You exceeded your current quota, please check your plan and billing details.",
    details: options?.retryDelay === undefined ? [] : [{
      "@type": "type.googleapis.com/google.rpc.RetryInfo",
      retryDelay: Protocol.protoDuration(Duration.toMillis(Duration.decode(options.retryDelay)))
    }]
  })

/**
 * A server failure: 503 `UNAVAILABLE` ("The model is overloaded") by default, or 500/502/504.
 *
 * @since 0.1.0
 */
export const unavailable = (status: 500 | 502 | 503 | 504 = 503, options?: StepBase): Step =>
  httpError(status, {
    delay: options?.delay,
    message: status === 503
      ? "The model is overloaded. Please try again later."
      : "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting"
  })

/**
 * A blocked prompt: `promptFeedback.blockReason` (default `SAFETY`) and no candidates.
 *
 * @since 0.1.0
 */
export const blocked = (reason = "SAFETY", options?: StepBase & { readonly message?: string | undefined }): Step => ({
  _tag: "Blocked",
  reason,
  message: options?.message,
  delay: options?.delay
})

/**
 * Fail mid-stream: when streaming, send `text` as SSE events, then an error event with a
 * `google.rpc.Status` (default 503 `UNAVAILABLE`); a unary call gets the HTTP error.
 *
 * @example
 * ```ts
 * import { GeminiEmulator } from "@effect-agents/gemini"
 *
 * const step = GeminiEmulator.streamError({ text: ["The answer ", "is"], status: 500 })
 * ```
 * @since 0.1.0
 */
export const streamError = (
  options?: StepBase & {
    readonly text?: ReadonlyArray<string> | undefined
    readonly status?: number | undefined
    readonly message?: string | undefined
  }
): Step => {
  const status = options?.status ?? 503
  return {
    _tag: "StreamError",
    text: options?.text ?? [],
    status,
    body: Protocol.errorBody(status, Protocol.statusName(status), options?.message ?? "The model is overloaded. Please try again later."),
    delay: options?.delay
  }
}

/**
 * A 200 answer without candidates.
 *
 * @since 0.1.0
 */
export const noCandidates = (options?: StepBase): Step => ({ _tag: "NoCandidates", delay: options?.delay })

/**
 * A 200 answer whose body (or SSE event) is not JSON.
 *
 * @since 0.1.0
 */
export const malformedBody = (options?: StepBase): Step => ({ _tag: "MalformedBody", delay: options?.delay })

/**
 * Drop the connection: when streaming, after sending `text` as SSE events (the client sees the
 * body end abruptly); otherwise before answering.
 *
 * @example
 * ```ts
 * import { GeminiEmulator } from "@effect-agents/gemini"
 *
 * const step = GeminiEmulator.dropConnection({ text: ["The answer ", "is"] })
 * ```
 * @since 0.1.0
 */
export const dropConnection = (options?: StepBase & { readonly text?: ReadonlyArray<string> | undefined }): Step => ({
  _tag: "Drop",
  text: options?.text ?? [],
  delay: options?.delay
})

/**
 * Hold the request open until the client goes away (when streaming, after sending `text`).
 *
 * @since 0.1.0
 */
export const hang = (options?: StepBase & { readonly text?: ReadonlyArray<string> | undefined }): Step => ({
  _tag: "Hang",
  text: options?.text ?? [],
  delay: options?.delay
})

/**
 * Answer only after `delay` (on the Effect `Clock`).
 *
 * @example
 * ```ts
 * import { GeminiEmulator } from "@effect-agents/gemini"
 *
 * const slow = GeminiEmulator.withDelay(GeminiEmulator.text("5"), "2 seconds")
 * ```
 * @since 0.1.0
 */
export const withDelay: {
  (delay: Duration.DurationInput): (step: Step) => Step
  (step: Step, delay: Duration.DurationInput): Step
} = dual(2, (step: Step, delay: Duration.DurationInput): Step => ({ ...step, delay }))

// -----------------------------------------------------------------------------
// requests and scripts
// -----------------------------------------------------------------------------

/**
 * The JSON body the SDK sends (Gemini REST `GenerateContentRequest`).
 *
 * @since 0.1.0
 */
export interface RequestBody {
  readonly contents?: ReadonlyArray<GenAI.Content> | undefined
  readonly systemInstruction?: GenAI.Content | undefined
  readonly tools?: ReadonlyArray<GenAI.Tool> | undefined
  readonly generationConfig?: Record<string, unknown> | undefined
  readonly [key: string]: unknown
}

/**
 * A request the emulator received.
 *
 * @since 0.1.0
 */
export interface RecordedRequest {
  /** Arrival order, from 0. */
  readonly index: number
  readonly model: string
  readonly method: "generateContent" | "streamGenerateContent"
  /** `gemini`: `/v1beta/models/...` with a key; `vertex`: `/v1beta1/projects/{p}/locations/{l}/publishers/google/models/...`. */
  readonly api: "gemini" | "vertex"
  /** The request path, without the query string. */
  readonly path: string
  /** The credential the request presented, checked against the emulator's: never its value. */
  readonly credential: "api-key" | "access-token" | "none"
  /** Request headers, without `x-goog-api-key` and `authorization`. */
  readonly headers: Readonly<Record<string, string>>
  /** Size of the body in bytes. */
  readonly bytes: number
  /** The parsed body; `{}` when it was not JSON, too large, or beyond `Options.recordBodyBytes` once recorded. */
  readonly body: RequestBody
  /** `Clock` time of arrival, in milliseconds. */
  readonly receivedAt: number
  /** Text of the first user message: the conversation's prompt. */
  readonly prompt: string
  /** Model turns already in `contents` (0 for a conversation's first request). */
  readonly turn: number
}

/**
 * A connection that closed before its answer was complete.
 *
 * @since 0.1.0
 */
export interface Disconnect {
  /** Index of the request whose connection closed. */
  readonly request: number
  /** `Clock` time of the close, in milliseconds. */
  readonly at: number
  /** `client`: the client went away (an aborted request); `emulator`: a scripted `dropConnection`. */
  readonly by: "client" | "emulator"
}

/**
 * Steps consumed in order by all requests, or a function choosing each request's step.
 *
 * @since 0.1.0
 */
export type Script =
  | ReadonlyArray<Step | ((request: RecordedRequest) => Step)>
  | ((request: RecordedRequest) => Step)

/**
 * A script for concurrent conversations: each conversation (keyed by its first user message)
 * follows its own steps, one per model turn, however the requests interleave.
 *
 * @example
 * ```ts
 * import { GeminiEmulator } from "@effect-agents/gemini"
 *
 * const script = GeminiEmulator.byPrompt({
 *   "What is 2 + 3?": [
 *     GeminiEmulator.callTools([{ name: "add", args: { a: 2, b: 3 } }]),
 *     GeminiEmulator.text("2 + 3 = 5")
 *   ]
 * })
 * ```
 * @since 0.1.0
 */
export const byPrompt = (
  conversations: Readonly<Record<string, ReadonlyArray<Step | ((request: RecordedRequest) => Step)>>>
): Script =>
(request) => {
  const steps = conversations[request.prompt]
  if (steps === undefined) {
    return httpError(400, { message: `GeminiEmulator.byPrompt: no script for the prompt ${JSON.stringify(request.prompt)}.` })
  }
  const step = steps[request.turn]
  if (step === undefined) {
    return httpError(400, {
      message: `GeminiEmulator.byPrompt: the script for ${JSON.stringify(request.prompt)} has ${steps.length} steps; turn ${
        request.turn + 1
      } was requested.`
    })
  }
  return typeof step === "function" ? step(request) : step
}

// -----------------------------------------------------------------------------
// the server
// -----------------------------------------------------------------------------

/**
 * @since 0.1.0
 */
export interface Options {
  readonly script: Script
  /** The key the emulator accepts in `x-goog-api-key`. Default `"emulator-key"`. */
  readonly apiKey?: string | undefined
  /** The OAuth access token the emulator accepts as `Authorization: Bearer` on Vertex AI paths. Default `"emulator-token"`. */
  readonly accessToken?: string | undefined
  /** Model names that exist; others get Gemini's 404. Default: any name starting with `gemini-`. */
  readonly models?: ReadonlyArray<string> | undefined
  /**
   * Whether function calls need their thought signatures back (Gemini 3), in which case replies
   * carry one on the first call of each answer unless the script gives it. Default: for model
   * names starting with `gemini-3`.
   */
  readonly thoughtSignatures?: boolean | undefined
  /** Larger bodies are read without being kept and refused with Gemini's 400. Default 20 MiB. */
  readonly maxBodyBytes?: number | undefined
  /** How many requests `requests` keeps (the oldest are dropped first). Default 1000. */
  readonly recordLimit?: number | undefined
  /** Bodies larger than this are recorded as `{}` (scripts still see them whole). Default 1 MiB. */
  readonly recordBodyBytes?: number | undefined
}

/**
 * A running emulator.
 *
 * @since 0.1.0
 */
export interface Emulator {
  /** `http://127.0.0.1:<port>`: pass it as `Gemini.layer({ baseUrl })`. */
  readonly baseUrl: string
  /** The key the emulator accepts. */
  readonly apiKey: Redacted.Redacted<string>
  /** The access token the emulator accepts on Vertex AI paths. */
  readonly accessToken: Redacted.Redacted<string>
  /** The requests received so far (at most `Options.recordLimit`, the latest), in arrival order. */
  readonly requests: Effect.Effect<ReadonlyArray<RecordedRequest>>
  /** Wait until request number `index` (from 0) has arrived. */
  readonly awaitRequest: (index: number) => Effect.Effect<RecordedRequest>
  /** Connections closed before their answer was complete. */
  readonly disconnects: Effect.Effect<ReadonlyArray<Disconnect>>
  /** Wait until the connection of request number `index` closes before its answer is complete. */
  readonly awaitDisconnect: (index: number) => Effect.Effect<Disconnect>
}

/**
 * The emulator as a service, for tests that reach it through a layer.
 *
 * @since 0.1.0
 */
export class GeminiEmulator extends Context.Tag("@effect-agents/gemini/GeminiEmulator")<GeminiEmulator, Emulator>() {}

interface State {
  readonly requests: ReadonlyArray<RecordedRequest>
  readonly disconnects: ReadonlyArray<Disconnect>
}

const hiddenHeaders = new Set(["x-goog-api-key", "authorization"])

const firstUserText = (contents: ReadonlyArray<GenAI.Content>): string => {
  for (const content of contents) {
    if (typeof content === "object" && content !== null && content.role === "user") {
      for (const part of Array.isArray(content.parts) ? content.parts : []) {
        if (typeof part?.text === "string") return part.text
      }
    }
  }
  return ""
}

const json = (status: number, body: unknown) => HttpServerResponse.unsafeJson(body, { status })

const invalid = (message: string, details?: ReadonlyArray<Record<string, unknown>>) =>
  json(400, Protocol.errorBody(400, "INVALID_ARGUMENT", message, details))

const sseOptions = { contentType: "text/event-stream", headers: { "cache-control": "no-cache" } }

const isObject = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

/**
 * Read a request body, keeping at most `limit` bytes: a larger body is read to its end (so the
 * client gets an answer) without being kept. `text` is `undefined` when the body was too large
 * or the client went away.
 */
const readBody = (message: Http.IncomingMessage, limit: number) =>
  Effect.async<{ readonly text: string | undefined; readonly bytes: number }>((resume) => {
    const chunks: Array<Buffer> = []
    let bytes = 0
    const onData = (chunk: Buffer) => {
      bytes += chunk.length
      if (bytes <= limit) chunks.push(chunk)
      else chunks.length = 0
    }
    const finish = (complete: boolean) => () => {
      cleanup()
      resume(Effect.succeed({ text: complete && bytes <= limit ? Buffer.concat(chunks).toString("utf8") : undefined, bytes }))
    }
    const onEnd = finish(true)
    const onClose = finish(false)
    const cleanup = () => {
      message.off("data", onData)
      message.off("end", onEnd)
      message.off("error", onClose)
      message.off("close", onClose)
    }
    message.on("data", onData)
    message.once("end", onEnd)
    message.once("error", onClose)
    message.once("close", onClose)
    return Effect.sync(cleanup)
  })

const parseBody = (text: string | undefined): unknown => {
  if (text === undefined || Rules.nestingOf(text, Rules.maxNesting) > Rules.maxNesting) return undefined
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** What Gemini refuses in a parsed body, as the message of its 400. */
const refusal = (body: Record<string, unknown>, multiTool: boolean, signatures: boolean): string | undefined => {
  const structural = Rules.contentsRule(body)
  if (structural !== undefined) return structural
  const contents = body["contents"] as ReadonlyArray<Record<string, unknown>>
  return Rules.functionResponsesRule(contents) ??
    Rules.functionResponsePartsRule(contents) ??
    (signatures ? Rules.thoughtSignatureRule(contents) : undefined) ??
    Rules.toolsRule(body, multiTool) ??
    Rules.cachedContentRule(body)
}

const apiKeyInvalid = [
  {
    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
    reason: "API_KEY_INVALID",
    domain: "googleapis.com",
    metadata: { service: "generativelanguage.googleapis.com" }
  },
  { "@type": "type.googleapis.com/google.rpc.LocalizedMessage", locale: "en-US", message: "API key not valid. Please pass a valid API key." }
]

/** A signature Gemini 3 would put on a function call, made up from the response id. */
const syntheticSignature = (responseId: string): string => Buffer.from(`emulator-signature:${responseId}`).toString("base64")

/**
 * Start an emulator on `127.0.0.1` (a free port) for the lifetime of the current scope.
 *
 * It refuses what Gemini refuses, with Gemini's status and message: a wrong key (400
 * `API_KEY_INVALID`), a missing one (403), an unknown model (404), a body over the size limit,
 * nested too deeply or not JSON, `contents` entries that are not objects, roles other than `user`
 * and `model`, empty `parts`, parts setting no or several data fields, function responses that do
 * not answer the calls of the turn before, function response media (`functionResponse.parts`)
 * that is not a list of parts each setting one of `inlineData` (a MIME type and base64 data) and
 * `fileData`, a Gemini 3 function call sent back without its thought
 * signature, function declarations whose parameters are not one object schema inside the
 * documented JSON Schema subset, built-in tools next to function declarations before Gemini 3,
 * and `cachedContent` together with a system instruction, tools or tool config.
 *
 * @example
 * ```ts
 * import { Agent } from "@effect-agents/core"
 * import { Gemini, GeminiEmulator } from "@effect-agents/gemini"
 * import { Effect } from "effect"
 * declare const math: Agent.Agent
 *
 * const program = Effect.gen(function*() {
 *   const emulator = yield* GeminiEmulator.make({ script: [GeminiEmulator.text("Hello!")] })
 *   const result = yield* Agent.run(math, "Hi").pipe(
 *     Effect.provide(Gemini.layer({ model: "gemini-2.5-flash", apiKey: emulator.apiKey, baseUrl: emulator.baseUrl }))
 *   )
 *   const requests = yield* emulator.requests
 * }).pipe(Effect.scoped)
 * ```
 * @since 0.1.0
 */
export const make = (options: Options): Effect.Effect<Emulator, never, Scope.Scope> =>
  Effect.gen(function*() {
    const apiKey = options.apiKey ?? "emulator-key"
    const accessToken = options.accessToken ?? "emulator-token"
    const maxBodyBytes = options.maxBodyBytes ?? 20 * 1024 * 1024
    const recordLimit = options.recordLimit ?? 1000
    const recordBodyBytes = options.recordBodyBytes ?? 1024 * 1024
    const modelExists = (model: string) =>
      options.models !== undefined ? options.models.includes(model) : model.startsWith("gemini-")
    const clock = yield* Effect.clock
    const runtime = yield* Effect.runtime<never>()
    const state = yield* SubscriptionRef.make<State>({ requests: [], disconnects: [] })
    const droppedByEmulator = new Set<number>()
    let cursor = 0
    let arrivals = 0

    const scriptedStep = (request: RecordedRequest): Step => {
      const script = options.script
      if (typeof script === "function") return script(request)
      const step = script[cursor++]
      if (step === undefined) {
        return httpError(400, {
          message: `GeminiEmulator: the script has ${script.length} steps; request #${request.index + 1} has none left.`
        })
      }
      return typeof step === "function" ? step(request) : step
    }

    /** A script that throws answers 400 (not retried), so a broken test fails fast and says why. */
    const stepFor = (request: RecordedRequest): Step => {
      try {
        return scriptedStep(request)
      } catch (error) {
        return httpError(400, {
          message: `GeminiEmulator: the script threw on request #${request.index + 1}: ${
            error instanceof Error ? error.message : String(error)
          }`
        })
      }
    }

    const watchClose = (index: number, response: Http.ServerResponse) =>
      response.once("close", () => {
        if (response.writableEnded) return
        const disconnect: Disconnect = {
          request: index,
          at: clock.unsafeCurrentTimeMillis(),
          by: droppedByEmulator.has(index) ? "emulator" : "client"
        }
        Runtime.runFork(runtime)(
          SubscriptionRef.update(state, (s) => ({ ...s, disconnects: [...s.disconnects, disconnect] }))
        )
      })

    /** The credential a request presents, checked; or the refusal Gemini (or Vertex AI) sends. */
    const authenticate = (api: RecordedRequest["api"], headers: Readonly<Record<string, string | undefined>>) => {
      if (api === "vertex") {
        const authorization = headers["authorization"]
        if (authorization === undefined) {
          return json(
            401,
            Protocol.errorBody(
              401,
              "UNAUTHENTICATED",
              "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential."
            )
          )
        }
        return authorization === `Bearer ${accessToken}` ? undefined : json(
          401,
          Protocol.errorBody(
            401,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential."
          )
        )
      }
      const key = headers["x-goog-api-key"]
      if (key === undefined || key.length === 0) {
        return json(
          403,
          Protocol.errorBody(
            403,
            "PERMISSION_DENIED",
            "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API."
          )
        )
      }
      return key === apiKey ? undefined : invalid("API key not valid. Please pass a valid API key.", apiKeyInvalid)
    }

    const handler = (api: RecordedRequest["api"]) =>
      Effect.gen(function*() {
        const receivedAt = clock.unsafeCurrentTimeMillis()
        const request = yield* HttpServerRequest.HttpServerRequest
        const target = (yield* HttpRouter.params)["call"] ?? ""
        const colon = target.lastIndexOf(":")
        const model = target.slice(0, colon)
        const method = target.slice(colon + 1)
        if (colon < 0 || (method !== "generateContent" && method !== "streamGenerateContent")) {
          return json(404, Protocol.errorBody(404, "NOT_FOUND", `Method not found: ${target}`))
        }
        const raw = yield* readBody(NodeHttpServerRequest.toIncomingMessage(request), maxBodyBytes)
        const parsed = parseBody(raw.text)
        const body: RequestBody = isObject(parsed) ? parsed : {}
        const headers: Record<string, string> = {}
        for (const [name, value] of Object.entries(request.headers)) {
          if (!hiddenHeaders.has(name)) headers[name] = value
        }
        const contents = Array.isArray(body.contents) ? body.contents : []
        const credential = request.headers["authorization"] !== undefined
          ? "access-token"
          : request.headers["x-goog-api-key"] !== undefined
          ? "api-key"
          : "none"
        const recorded: RecordedRequest = {
          index: arrivals++,
          model,
          method,
          api,
          path: request.url.split("?")[0]!,
          credential,
          headers,
          bytes: raw.bytes,
          body,
          receivedAt,
          prompt: firstUserText(contents),
          turn: contents.filter((c) => isObject(c) && c["role"] === "model").length
        }
        const kept = raw.bytes > recordBodyBytes ? { ...recorded, body: {} } : recorded
        yield* SubscriptionRef.update(state, (s) => ({
          ...s,
          requests: s.requests.length < recordLimit ? [...s.requests, kept] : [...s.requests.slice(1 - recordLimit), kept]
        }))
        const refusedCredential = authenticate(api, request.headers)
        if (refusedCredential !== undefined) return refusedCredential
        if (!modelExists(model)) {
          return json(
            404,
            Protocol.errorBody(
              404,
              "NOT_FOUND",
              `models/${model} is not found for API version ${
                api === "vertex" ? "v1beta1" : "v1beta"
              }, or is not supported for ${method}. Call ListModels to see the list of available models and their supported methods.`
            )
          )
        }
        if (raw.text === undefined) return invalid(`Request payload size exceeds the limit: ${maxBodyBytes} bytes.`)
        if (!isObject(parsed)) {
          return invalid(
            parsed === undefined && Rules.nestingOf(raw.text, Rules.maxNesting) > Rules.maxNesting
              ? `Invalid JSON payload received. Nesting is deeper than ${Rules.maxNesting} levels.`
              : "Invalid JSON payload received. The body must be a JSON object."
          )
        }
        const generation = model.startsWith("gemini-3")
        const signatures = options.thoughtSignatures ?? generation
        const refused = refusal(parsed, generation, signatures)
        if (refused !== undefined) return invalid(refused)
        const nodeResponse = NodeHttpServerRequest.toServerResponse(request)
        watchClose(recorded.index, nodeResponse)
        const step = stepFor(recorded)
        if (step.delay !== undefined) yield* Effect.sleep(step.delay)
        return yield* respond(step, recorded, method === "streamGenerateContent", signatures, () => {
          droppedByEmulator.add(recorded.index)
          nodeResponse.socket?.destroySoon()
        })
      })

    const router = HttpRouter.empty.pipe(
      HttpRouter.post("/v1beta/models/:call", handler("gemini")),
      HttpRouter.post("/v1beta1/projects/:project/locations/:location/publishers/google/models/:call", handler("vertex")),
      HttpRouter.post("/v1/projects/:project/locations/:location/publishers/google/models/:call", handler("vertex"))
    )

    const nodeServer = Http.createServer()
    const server = yield* Effect.orDie(NodeHttpServer.make(() => nodeServer, { port: 0, host: "127.0.0.1" }))
    yield* Effect.addFinalizer(() => Effect.sync(() => nodeServer.closeAllConnections()))
    // The server's tracing middleware records request headers as span attributes: redact the key.
    const redacted = yield* FiberRef.get(Headers.currentRedactedNames)
    yield* HttpServer.serveEffect(router).pipe(
      Effect.provideService(HttpServer.HttpServer, server),
      Effect.locally(Headers.currentRedactedNames, [...redacted, ...hiddenHeaders])
    )
    const address = server.address
    const baseUrl = address._tag === "TcpAddress" ? `http://127.0.0.1:${address.port}` : `http://unix:${address.path}`

    const awaitState = <A>(select: (s: State) => A | undefined): Effect.Effect<A> =>
      state.changes.pipe(
        Stream.map(select),
        Stream.filter((a): a is A => a !== undefined),
        Stream.runHead,
        Effect.map(Option.getOrThrow)
      )

    return {
      baseUrl,
      apiKey: Redacted.make(apiKey),
      accessToken: Redacted.make(accessToken),
      requests: Effect.map(SubscriptionRef.get(state), (s) => s.requests),
      awaitRequest: (index) => awaitState((s) => s.requests.find((r) => r.index === index)),
      disconnects: Effect.map(SubscriptionRef.get(state), (s) => s.disconnects),
      awaitDisconnect: (index) => awaitState((s) => s.disconnects.find((d) => d.request === index))
    } satisfies Emulator
  })

const respond = (
  step: Step,
  request: RecordedRequest,
  streaming: boolean,
  signatures: boolean,
  drop: () => void
): Effect.Effect<HttpServerResponse.HttpServerResponse> => {
  const responseId = `emulator-${request.index}`
  const model = request.model
  const events = (list: ReadonlyArray<Protocol.Json>, chunkDelay?: Duration.DurationInput) =>
    Stream.fromIterable(list).pipe(
      Stream.zipWithIndex,
      Stream.mapEffect(([event, i]) =>
        chunkDelay !== undefined && i > 0 ? Effect.as(Effect.sleep(chunkDelay), Protocol.sse(event)) : Effect.succeed(Protocol.sse(event))
      )
    )
  const single = (body: Protocol.Json) =>
    Effect.succeed(streaming ? HttpServerResponse.stream(events([body]), sseOptions) : json(200, body))
  switch (step._tag) {
    case "Reply": {
      const [first, ...rest] = step.calls
      // Gemini 3 signs the first function call of each answer
      const calls = signatures && first !== undefined && first.thoughtSignature === undefined
        ? [{ ...first, thoughtSignature: syntheticSignature(responseId) }, ...rest]
        : step.calls
      const spec: Protocol.ReplySpec = { ...step, calls }
      const promptTokens = Protocol.promptTokensOf(request.body)
      return streaming
        ? Effect.succeed(
          HttpServerResponse.stream(events(Protocol.replyEvents(spec, model, responseId, promptTokens), step.chunkDelay), sseOptions)
        )
        : Effect.succeed(json(200, Protocol.replyBody(spec, model, responseId, promptTokens)))
    }
    case "HttpError":
      return Effect.succeed(json(step.status, step.body))
    case "StreamError":
      return streaming
        ? Effect.succeed(
          HttpServerResponse.stream(
            events([...Protocol.textEvents(step.text, model, responseId), step.body]),
            sseOptions
          )
        )
        : Effect.succeed(json(step.status, step.body))
    case "Blocked":
      return single({
        promptFeedback: { blockReason: step.reason, ...(step.message !== undefined ? { blockReasonMessage: step.message } : {}) },
        usageMetadata: Protocol.usageMetadata(Protocol.promptTokensOf(request.body), 0),
        modelVersion: model,
        responseId
      })
    case "NoCandidates":
      return single({
        usageMetadata: Protocol.usageMetadata(Protocol.promptTokensOf(request.body), 0),
        modelVersion: model,
        responseId
      })
    case "MalformedBody":
      return Effect.succeed(
        streaming
          ? HttpServerResponse.stream(Stream.make(Protocol.malformedEvent), sseOptions)
          : HttpServerResponse.text(Protocol.malformedJson, { contentType: "application/json" })
      )
    case "Drop":
      return streaming
        ? Effect.succeed(
          HttpServerResponse.stream(
            events(Protocol.textEvents(step.text, model, responseId)).pipe(
              Stream.concat(Stream.execute(Effect.sync(drop))),
              Stream.concat(Stream.never)
            ),
            sseOptions
          )
        )
        : Effect.zipRight(Effect.sync(drop), Effect.never)
    case "Hang":
      return streaming
        ? Effect.succeed(
          HttpServerResponse.stream(
            events(Protocol.textEvents(step.text, model, responseId)).pipe(Stream.concat(Stream.never)),
            sseOptions
          )
        )
        : Effect.never
  }
}

/**
 * The emulator as a scoped layer.
 *
 * @example
 * ```ts
 * import { GeminiEmulator } from "@effect-agents/gemini"
 *
 * const EmulatorLive = GeminiEmulator.layer({ script: [GeminiEmulator.text("Hello!")] })
 * ```
 * @since 0.1.0
 */
export const layer = (options: Options): Layer.Layer<GeminiEmulator> => Layer.scoped(GeminiEmulator, make(options))

/**
 * An emulator and the real `Gemini.layer` (the `@google/genai` SDK) pointed at it: a `Model`
 * that speaks HTTP to a local, scripted Gemini.
 *
 * @example
 * ```ts
 * import { Agent } from "@effect-agents/core"
 * import { GeminiEmulator } from "@effect-agents/gemini"
 * import { Effect } from "effect"
 * declare const math: Agent.Agent
 *
 * const program = Agent.run(math, "Hi").pipe(
 *   Effect.provide(GeminiEmulator.layerModel({ script: [GeminiEmulator.text("Hello!")] }))
 * )
 * ```
 * @since 0.1.0
 */
export const layerModel = (
  options: Options & {
    readonly model?: string | undefined
    readonly generationConfig?: Gemini.GenerationConfig | undefined
    readonly builtInTools?: Gemini.BuiltInTools | undefined
  }
): Layer.Layer<Model.Model | GeminiEmulator> =>
  Layer.flatMap(layer(options), (context) => {
    const emulator = Context.get(context, GeminiEmulator)
    const model: Layer.Layer<Model.Model, ConfigError.ConfigError> = Gemini.layer({
      model: options.model ?? "gemini-2.5-flash",
      apiKey: emulator.apiKey,
      baseUrl: emulator.baseUrl,
      generationConfig: options.generationConfig,
      builtInTools: options.builtInTools
    })
    return Layer.merge(Layer.succeedContext(context), Layer.orDie(model))
  })
