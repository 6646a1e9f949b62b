/**
 * A Gemini REST protocol server for tests and offline demos.
 *
 * `GeminiEmulator` is a real HTTP server (`@effect/platform` `HttpRouter` on
 * `@effect/platform-node`, bound to `127.0.0.1`, port 0) that answers
 * `POST /v1beta/models/{model}:generateContent` and
 * `POST /v1beta/models/{model}:streamGenerateContent?alt=sse` the way the Gemini API does, so the
 * real `@google/genai` SDK (and therefore `Gemini.layer`) can talk to it. It checks the
 * `x-goog-api-key` header, answers from a script, records every request, and injects faults:
 * 429 with a `RetryInfo` delay, 5xx, slow answers, connections dropped mid-stream, blocked prompts,
 * malformed bodies, empty candidates and `MALFORMED_FUNCTION_CALL` finishes.
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
 * A normal answer: text (one SSE event per piece when streaming) and/or function calls.
 *
 * @since 0.1.0
 */
export interface Reply extends StepBase {
  readonly _tag: "Reply"
  readonly text: ReadonlyArray<string>
  readonly calls: ReadonlyArray<FunctionCall>
  /** Gemini finish reason (`STOP`, `MAX_TOKENS`, `SAFETY`, `MALFORMED_FUNCTION_CALL`, ...). */
  readonly finishReason: string
  /** Signature put on the (last) text part. */
  readonly thoughtSignature?: string | undefined
  readonly usage?: { readonly promptTokens?: number | undefined; readonly outputTokens?: number | undefined } | undefined
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
export type Step = Reply | HttpError | Blocked | NoCandidates | MalformedBody | Drop | Hang

/**
 * @since 0.1.0
 */
export interface ReplyOptions extends StepBase {
  /** A string, or several pieces streamed as separate SSE events. */
  readonly text?: string | ReadonlyArray<string> | undefined
  readonly calls?: ReadonlyArray<FunctionCall> | undefined
  readonly finishReason?: string | undefined
  readonly thoughtSignature?: string | undefined
  readonly usage?: Reply["usage"]
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
  text: pieces(options.text),
  calls: options.calls ?? [],
  finishReason: options.finishReason ?? "STOP",
  thoughtSignature: options.thoughtSignature,
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
 * An answer with no content and the given finish reason, e.g. `"SAFETY"` or
 * `"MALFORMED_FUNCTION_CALL"`.
 *
 * @since 0.1.0
 */
export const finish = (finishReason: string, options?: StepBase): Step => reply({ ...options, finishReason })

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
export const blocked = (reason = "SAFETY", options?: StepBase): Step => ({ _tag: "Blocked", reason, delay: options?.delay })

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
  /** Request headers, without `x-goog-api-key` and `authorization`. */
  readonly headers: Readonly<Record<string, string>>
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
  /** Every request received so far, in arrival order. */
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
    if (content.role === "user") {
      for (const part of content.parts ?? []) if (typeof part.text === "string") return part.text
    }
  }
  return ""
}

const json = (status: number, body: unknown) => HttpServerResponse.unsafeJson(body, { status })

const sseOptions = { contentType: "text/event-stream", headers: { "cache-control": "no-cache" } }

/**
 * Start an emulator on `127.0.0.1` (a free port) for the lifetime of the current scope.
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
    const clock = yield* Effect.clock
    const runtime = yield* Effect.runtime<never>()
    const state = yield* SubscriptionRef.make<State>({ requests: [], disconnects: [] })
    const droppedByEmulator = new Set<number>()
    let cursor = 0

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

    const handler = Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const target = (yield* HttpRouter.params)["call"] ?? ""
      const colon = target.lastIndexOf(":")
      const model = target.slice(0, colon)
      const method = target.slice(colon + 1)
      if (colon < 0 || (method !== "generateContent" && method !== "streamGenerateContent")) {
        return json(404, Protocol.errorBody(404, "NOT_FOUND", `Method not found: ${target}`))
      }
      const raw = yield* Effect.orElseSucceed(request.text, () => "")
      const body = Option.getOrUndefined(Option.liftThrowable(JSON.parse)(raw)) as RequestBody | undefined
      const headers: Record<string, string> = {}
      for (const [name, value] of Object.entries(request.headers)) {
        if (!hiddenHeaders.has(name)) headers[name] = value
      }
      const contents = Array.isArray(body?.contents) ? body.contents : []
      const recorded = yield* SubscriptionRef.modify(state, (s): [RecordedRequest, State] => {
        const r: RecordedRequest = {
          index: s.requests.length,
          model,
          method,
          headers,
          body: body ?? {},
          receivedAt: clock.unsafeCurrentTimeMillis(),
          prompt: firstUserText(contents),
          turn: contents.filter((c) => c.role === "model").length
        }
        return [r, { ...s, requests: [...s.requests, r] }]
      })
      const key = request.headers["x-goog-api-key"]
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
      if (key !== apiKey) {
        return json(401, Protocol.errorBody(401, "UNAUTHENTICATED", "Request had invalid authentication credentials."))
      }
      if (body === undefined || typeof body !== "object") {
        return json(400, Protocol.errorBody(400, "INVALID_ARGUMENT", "Invalid JSON payload received."))
      }
      const nodeResponse = NodeHttpServerRequest.toServerResponse(request)
      watchClose(recorded.index, nodeResponse)
      const step = stepFor(recorded)
      if (step.delay !== undefined) yield* Effect.sleep(step.delay)
      return yield* respond(step, recorded, method === "streamGenerateContent", () => {
        droppedByEmulator.add(recorded.index)
        nodeResponse.socket?.destroySoon()
      })
    })

    const router = HttpRouter.empty.pipe(HttpRouter.post("/v1beta/models/:call", handler))

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
      requests: Effect.map(SubscriptionRef.get(state), (s) => s.requests),
      awaitRequest: (index) => awaitState((s) => s.requests[index]),
      disconnects: Effect.map(SubscriptionRef.get(state), (s) => s.disconnects),
      awaitDisconnect: (index) => awaitState((s) => s.disconnects.find((d) => d.request === index))
    } satisfies Emulator
  })

const respond = (
  step: Step,
  request: RecordedRequest,
  streaming: boolean,
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
      const spec: Protocol.ReplySpec = {
        text: step.text,
        calls: step.calls,
        finishReason: step.finishReason,
        thoughtSignature: step.thoughtSignature,
        promptTokens: step.usage?.promptTokens,
        outputTokens: step.usage?.outputTokens
      }
      const promptTokens = Protocol.promptTokensOf(request.body)
      return streaming
        ? Effect.succeed(
          HttpServerResponse.stream(events(Protocol.replyEvents(spec, model, responseId, promptTokens), step.chunkDelay), sseOptions)
        )
        : Effect.succeed(json(200, Protocol.replyBody(spec, model, responseId, promptTokens)))
    }
    case "HttpError":
      return Effect.succeed(json(step.status, step.body))
    case "Blocked":
      return single({
        promptFeedback: { blockReason: step.reason },
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
  }
): Layer.Layer<Model.Model | GeminiEmulator> =>
  Layer.flatMap(layer(options), (context) => {
    const emulator = Context.get(context, GeminiEmulator)
    const model: Layer.Layer<Model.Model, ConfigError.ConfigError> = Gemini.layer({
      model: options.model ?? "gemini-2.5-flash",
      apiKey: emulator.apiKey,
      baseUrl: emulator.baseUrl,
      generationConfig: options.generationConfig
    })
    return Layer.merge(Layer.succeedContext(context), Layer.orDie(model))
  })
