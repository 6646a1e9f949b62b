/**
 * Agent runs over HTTP: routes to mount on your own `@effect/platform` `HttpRouter`.
 *
 * - `POST /runs` with a `Protocol.RunRequest` body (`{ agent, prompt, conversationId? }`) starts a
 *   run of an agent from the registry you pass and streams its frames as **Server-Sent Events**
 *   (`id:` a per-run sequence number, `event:` the event's tag, `data:` the event encoded with its
 *   Schema), with keep-alive comments while the run is idle; as NDJSON with
 *   `Accept: application/x-ndjson`; or answers its `RunResult` as JSON with
 *   `Accept: application/json`. The response carries the run id in `x-run-id`.
 * - `GET /runs/:runId/events` with `Last-Event-ID` reconnects to a live run: the frames after that
 *   id, then the rest live.
 * - `POST /runs/:runId/approvals/:callId` with a `Protocol.ApprovalDecision` body
 *   (`{ approve, reason? }`) decides on a call of a live run that waits for approval (a tool made
 *   with `needsApproval`; the stream shows `ApprovalRequested`, then `ApprovalDecided`): `204`,
 *   or `404` when no such run is going on. Decisions go to the `Approvals` service of the routes'
 *   environment, `Approvals.global` when none is provided (the one runs use by default).
 *
 * **The client leaving interrupts the run**: when a run's last client disconnects and none
 * reconnects within `reconnectWindow`, the run is interrupted — the model's HTTP request is
 * aborted, tool calls are interrupted and their finalizers run — and its outcome,
 * `RunInterrupted{reason: "client-disconnected"}`, is logged and handed to `onOutcome`, like every
 * run's outcome. With a `conversationId` the run continues a stored conversation
 * (`ConversationStore`, from the routes' environment): its history is saved only when the run
 * completes, and a second run of a busy conversation gets `409`. Bad requests get `400` with a
 * Schema-formatted message; unexpected failures get `500` without details (they go to the log).
 *
 * The `Model` and the services of the agents' tools come from the environment of the routes:
 * provide them to the server as layers.
 *
 * @since 0.1.0
 */
import { type Agent, Approvals, type Model } from "@effect-agents/core"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Mailbox from "effect/Mailbox"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Frames from "./internal/frames.js"
import * as Runs from "./internal/runs.js"
import * as Protocol from "./Protocol.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options<Agents extends Record<string, Agent.Any>> {
  /** The agents clients may run, by the name they send as `agent`. */
  readonly agents: Agents
  /** How long a stream may stay silent before a keep-alive comment is sent (Effect `Clock`). Default 15 seconds. */
  readonly keepAlive?: Duration.DurationInput | undefined
  /** The largest `POST /runs` body accepted, in bytes. Default 64 KiB. */
  readonly maxBodySize?: number | undefined
  /** How many of a run's last frames are kept for clients reconnecting with `Last-Event-ID`. Default 1000. */
  readonly replay?: number | undefined
  /**
   * How long a run whose last client left waits for one to reconnect before it is interrupted
   * (`client-disconnected`); also how long a finished run's last frames stay available. `0`
   * interrupts at once. Default 3 seconds.
   */
  readonly reconnectWindow?: Duration.DurationInput | undefined
  /** Called with the outcome of every run that started (it is also logged when not a success). */
  readonly onOutcome?: ((outcome: Protocol.Outcome) => Effect.Effect<void>) | undefined
}

/**
 * What the routes need from their environment: the `Model` and the services of the agents' tools.
 *
 * @since 0.1.0
 * @category models
 */
export type Requirements<Agents extends Record<string, Agent.Any>> = Model.Model | Agent.Requirements<Agents[keyof Agents]>

const defaults = {
  keepAlive: Duration.seconds(15),
  maxBodySize: 64 * 1024,
  replay: 1000,
  reconnectWindow: Duration.seconds(3)
}

/**
 * The run routes (`POST /runs`, `GET /runs/:runId/events`), to mount on your router. Runs live in
 * the current scope: closing it interrupts the runs still going (`server-shutdown`).
 *
 * @example
 * ```ts
 * import { Agent } from "@effect-agents/core"
 * import { AgentHttp } from "@effect-agents/http"
 * import { HttpRouter } from "@effect/platform"
 * import { Effect } from "effect"
 * declare const math: Agent.Agent
 *
 * const app = Effect.gen(function*() {
 *   const runs = yield* AgentHttp.router({ agents: { math } })
 *   return HttpRouter.empty.pipe(HttpRouter.mount("/agents", runs))
 * })
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const router = <const Agents extends Record<string, Agent.Any>>(
  options: Options<Agents>
): Effect.Effect<HttpRouter.HttpRouter<never, Requirements<Agents>>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const keepAlive = Duration.decode(options.keepAlive ?? defaults.keepAlive)
    const maxBodySize = options.maxBodySize ?? defaults.maxBodySize
    const runs = yield* Runs.make({
      replay: Math.max(1, options.replay ?? defaults.replay),
      reconnectWindow: Duration.decode(options.reconnectWindow ?? defaults.reconnectWindow),
      onOutcome: options.onOutcome ?? (() => Effect.void)
    })
    const names = Object.keys(options.agents)

    const startRun = Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const body = yield* readRunRequest(request, maxBodySize)
      if (!Object.hasOwn(options.agents, body.agent)) {
        return yield* new Protocol.BadRunRequest({
          message: `unknown agent "${body.agent}"; this server runs: ${names.join(", ") || "no agents"}`
        })
      }
      const agent = options.agents[body.agent] as Agent.Agent<Requirements<Agents>>
      const format = formatOf(request)
      const subscription = yield* runs.start(agent, body)
      return format === "json"
        ? yield* resultResponse(subscription)
        : streamResponse(subscription, format, keepAlive)
    })

    const resumeRun = Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const runId = (yield* HttpRouter.params)["runId"] ?? ""
      const lastEventId = yield* lastEventIdOf(request)
      const subscription = yield* runs.resume(runId, lastEventId)
      return streamResponse(subscription, formatOf(request) === "ndjson" ? "ndjson" : "sse", keepAlive)
    })

    const decideApproval = Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const params = yield* HttpRouter.params
      const runId = params["runId"] ?? ""
      if (!runs.isRunning(runId)) return yield* new Protocol.RunNotFound({ runId })
      const decision = yield* readJson(request, maxBodySize, decodeApprovalDecision, "a decision", `{"approve": true}`)
      const approvals = yield* Approvals.current
      yield* approvals.decide(runId, params["callId"] ?? "", decision)
      return HttpServerResponse.empty({ status: 204 })
    })

    return HttpRouter.empty.pipe(
      HttpRouter.post("/runs", handled(startRun)),
      HttpRouter.get("/runs/:runId/events", handled(resumeRun)),
      HttpRouter.post("/runs/:runId/approvals/:callId", handled(decideApproval))
    )
  })

/**
 * Serve the run routes at the root of an `HttpServer`: the simple case. To add routes of your
 * own, mount `router` on your router instead.
 *
 * @example
 * ```ts
 * import { Agent } from "@effect-agents/core"
 * import { Gemini } from "@effect-agents/gemini"
 * import { AgentHttp } from "@effect-agents/http"
 * import { NodeHttpServer, NodeRuntime } from "@effect/platform-node"
 * import { Layer } from "effect"
 * import { createServer } from "node:http"
 * declare const math: Agent.Agent
 *
 * AgentHttp.serve({ agents: { math } }).pipe(
 *   Layer.provide(Gemini.layerConfig({ model: "gemini-2.5-flash" })),
 *   Layer.provide(NodeHttpServer.layer(createServer, { port: 3000 })),
 *   Layer.launch,
 *   NodeRuntime.runMain
 * )
 * ```
 * @since 0.1.0
 * @category layers
 */
export const serve = <const Agents extends Record<string, Agent.Any>>(
  options: Options<Agents>
): Layer.Layer<never, never, HttpServer.HttpServer | Requirements<Agents>> =>
  Layer.scopedDiscard(Effect.flatMap(router(options), HttpServer.serveEffect()))

// -----------------------------------------------------------------------------
// requests
// -----------------------------------------------------------------------------

const decodeRunRequest = Schema.decodeUnknown(Protocol.RunRequest, { errors: "all" })

/** The body as a `RunRequest`, or a `BadRunRequest` saying what is wrong with it. */
const readRunRequest = (request: HttpServerRequest.HttpServerRequest, maxBodySize: number) =>
  readJson(request, maxBodySize, decodeRunRequest, "a run request", `{"agent": "...", "prompt": "..."}`)

const decodeApprovalDecision = Schema.decodeUnknown(Protocol.ApprovalDecision, { errors: "all" })

/** The body decoded by `decode`, or a `BadRunRequest` saying what is wrong with it. */
const readJson = <A>(
  request: HttpServerRequest.HttpServerRequest,
  maxBodySize: number,
  decode: (json: unknown) => Effect.Effect<A, ParseResult.ParseError>,
  what: string,
  example: string
) =>
  Effect.gen(function*() {
    const tooLarge = new Protocol.BadRunRequest({
      message: `the body is larger than ${maxBodySize} bytes, the most this server accepts (its maxBodySize option)`
    })
    const length = Number(request.headers["content-length"] ?? 0)
    if (length > maxBodySize) return yield* tooLarge
    const text = yield* readText(request, maxBodySize, tooLarge)
    const json = yield* Effect.try({
      try: () => JSON.parse(text) as unknown,
      catch: () => new Protocol.BadRunRequest({ message: `the body is not JSON; send ${example}` })
    })
    return yield* decode(json).pipe(
      Effect.mapError((error) =>
        new Protocol.BadRunRequest({
          message: `the body is not ${what}:\n${ParseResult.TreeFormatter.formatErrorSync(error)}`
        })
      )
    )
  })

/**
 * The body as text, or `tooLarge` past `maxBodySize` bytes. A body without `Content-Length` is
 * read on past the limit without being kept, so the client gets its `400` rather than a reset
 * connection (only a body past 16 times the limit is cut off).
 */
const readText = (request: HttpServerRequest.HttpServerRequest, maxBodySize: number, tooLarge: Protocol.BadRunRequest) =>
  request.stream.pipe(
    Stream.runFoldWhile(
      { size: 0, chunks: [] as Array<Uint8Array> },
      (body) => body.size <= 16 * maxBodySize,
      (body, chunk) => {
        body.size += chunk.length
        if (body.size <= maxBodySize) body.chunks.push(chunk)
        return body
      }
    ),
    Effect.mapError(() => new Protocol.BadRunRequest({ message: "the body could not be read" })),
    Effect.flatMap((body) => {
      if (body.size > maxBodySize) return Effect.fail(tooLarge)
      const bytes = new Uint8Array(body.size)
      let offset = 0
      for (const chunk of body.chunks) {
        bytes.set(chunk, offset)
        offset += chunk.length
      }
      return Effect.succeed(new TextDecoder().decode(bytes))
    })
  )

/** The response format the client accepts: SSE unless it asks for NDJSON or JSON. */
const formatOf = (request: HttpServerRequest.HttpServerRequest): Protocol.Format => {
  const accept = request.headers["accept"] ?? ""
  if (accept.includes(Protocol.mediaTypes.ndjson)) return "ndjson"
  if (accept.includes(Protocol.mediaTypes.json) && !accept.includes(Protocol.mediaTypes.sse)) return "json"
  return "sse"
}

/** `Last-Event-ID` (or `?lastEventId=` for a first connection): the last frame the client has. */
const lastEventIdOf = (request: HttpServerRequest.HttpServerRequest) => {
  const raw = request.headers["last-event-id"] ?? new URL(request.url, "http://localhost").searchParams.get("lastEventId") ?? "0"
  const id = Number(raw)
  return Number.isSafeInteger(id) && id >= 0
    ? Effect.succeed(id)
    : Effect.fail(new Protocol.BadRunRequest({ message: `Last-Event-ID must be a frame number (0 or more), got "${raw}"` }))
}

// -----------------------------------------------------------------------------
// responses
// -----------------------------------------------------------------------------

const encodeError = Schema.encodeSync(Protocol.HttpRunError)

const errorResponse = (error: Protocol.HttpRunError) =>
  HttpServerResponse.unsafeJson(encodeError(error), { status: Protocol.statusOf(error) })

/**
 * A route handler whose refusals become their status and error body, and whose unexpected
 * failures become a bare `500` (the cause goes to the log, never to the client).
 */
const handled = <R>(
  handler: Effect.Effect<HttpServerResponse.HttpServerResponse, Protocol.HttpRunError, R>
): Effect.Effect<HttpServerResponse.HttpServerResponse, never, R> =>
  handler.pipe(
    Effect.catchAll((error) => Effect.succeed(errorResponse(error))),
    Effect.catchAllCause((cause) =>
      Cause.isInterruptedOnly(cause) ? Effect.failCause(cause) : Effect.as(
        Effect.logError("an agent HTTP request failed", cause),
        errorResponse(new Protocol.InternalServerError({ message: "The server failed; the details are in its log." }))
      )
    )
  )

const streamHeaders = (format: "sse" | "ndjson", runId: string) => ({
  contentType: Protocol.mediaTypes[format],
  headers: { "cache-control": "no-cache", "x-accel-buffering": "no", "x-run-id": runId }
})

const encoder = new TextEncoder()

/**
 * The frames of a subscription as a response body: each batch of frames written at once, and a
 * keep-alive after `keepAlive` without one (on the Effect `Clock`). It ends after the run's last frame.
 */
const streamResponse = (subscription: Runs.Subscription, format: "sse" | "ndjson", keepAlive: Duration.Duration) => {
  const render = format === "sse" ? Frames.sse : Frames.ndjson
  const idle = Chunk.of(encoder.encode(Frames.keepAlive[format]))
  let ended = false
  const next = Effect.suspend(() =>
    ended ? Effect.fail(Option.none()) : Effect.map(
      Effect.timeoutOption(subscription.frames.takeAll, keepAlive),
      Option.match({
        onNone: () => idle,
        onSome: ([frames, done]) => {
          ended = done
          return Chunk.isEmpty(frames) ? Chunk.empty() : Chunk.of(encoder.encode(render(Chunk.toReadonlyArray(frames))))
        }
      })
    )
  )
  // the retry hint also sends the headers at once, before the first frame
  const head = format === "sse" ? Stream.succeed(encoder.encode(Frames.retryHint)) : Stream.empty
  return HttpServerResponse.stream(Stream.concat(head, Stream.repeatEffectChunkOption(next)), streamHeaders(format, subscription.runId))
}

const encodeResult = Schema.encodeSync(Protocol.RunResult)
const encodeFrame = Schema.encodeSync(Protocol.Frame)

/** The JSON answer: the run's `RunResult` once it completes, or its last frame with a failure status. */
const resultResponse = (subscription: Runs.Subscription) =>
  Effect.map(Stream.runCollect(Mailbox.toStream(subscription.frames)), (chunk) => {
    const frames = Chunk.toReadonlyArray(chunk).map((frame) => frame.value)
    const headers = { "x-run-id": subscription.runId }
    const last = frames[frames.length - 1]
    if (last?._tag !== "RunCompleted") {
      const status = last?._tag === "RunInterrupted" ? 503 : 500
      return HttpServerResponse.unsafeJson(last === undefined ? {} : encodeFrame(last), { status, headers })
    }
    const events = frames.filter(Protocol.isAgentEvent)
    let answeredBy = last.agent
    for (const event of events) if (event._tag === "ModelResponded" && event.runId === last.runId) answeredBy = event.agent
    return HttpServerResponse.unsafeJson(
      encodeResult({
        runId: last.runId,
        agent: answeredBy,
        text: last.text,
        ...(last.output !== undefined ? { output: last.output } : {}),
        history: last.history,
        usage: last.usage,
        turns: last.turn,
        events
      }),
      { headers }
    )
  })
