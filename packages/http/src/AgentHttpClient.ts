/**
 * A typed client of the `AgentHttp` routes, on `@effect/platform`'s `HttpClient`.
 *
 * `stream` turns a run's Server-Sent Events (or NDJSON) back into a `Stream` of `AgentEvent`s,
 * decoded with the same Schemas the server encoded them with. When the connection drops before
 * the run's last frame, it reconnects with `Last-Event-ID` (on the `reconnect` schedule) and
 * goes on from the next frame: the server keeps a live run's last frames for that, so nothing is
 * missed or repeated. Interrupting the stream closes the connection, which interrupts the run on
 * the server.
 *
 * Like `Agent.stream`, the stream ends after `RunCompleted`, and fails after emitting `RunFailed`
 * (with `RemoteRunFailed`). A run the server interrupted fails with `RemoteRunInterrupted`; a
 * refused request with the server's error (`BadRunRequest`, `ConversationBusy`, ...).
 *
 * @since 0.1.0
 */
import type { Agent, AgentEvent } from "@effect-agents/core"
import * as Sse from "@effect/experimental/Sse"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as ParseResult from "effect/ParseResult"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Frames from "./internal/frames.js"
import * as Protocol from "./Protocol.js"

/**
 * The run failed on the server: the stream emitted its `RunFailed` event, then failed with this.
 *
 * @since 0.1.0
 * @category errors
 */
export class RemoteRunFailed extends Schema.TaggedError<RemoteRunFailed>()("RemoteRunFailed", {
  runId: Schema.String,
  agent: Schema.String,
  error: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `The run ${this.runId} of agent "${this.agent}" failed with ${this.error}: ${this.detail}`
  }
}

/**
 * The server interrupted the run (`client-disconnected`, `server-shutdown`).
 *
 * @since 0.1.0
 * @category errors
 */
export class RemoteRunInterrupted extends Schema.TaggedError<RemoteRunInterrupted>()("RemoteRunInterrupted", {
  runId: Schema.String,
  reason: Protocol.InterruptionReason
}) {
  override get message() {
    return `The server interrupted the run ${this.runId}: ${this.reason}`
  }
}

/**
 * The connection ended before the run's last frame and could not be resumed (the `reconnect`
 * schedule gave up, or the run id was not known yet).
 *
 * @since 0.1.0
 * @category errors
 */
export class ConnectionLost extends Schema.TaggedError<ConnectionLost>()("ConnectionLost", {
  runId: Schema.optional(Schema.String),
  lastEventId: Schema.Number
}) {
  override get message() {
    return this.runId === undefined
      ? "The connection ended before the run started; nothing to resume."
      : `The connection to run ${this.runId} ended after frame ${this.lastEventId} and could not be resumed.`
  }
}

/**
 * The server answered something that is not the protocol: a frame that does not decode, frames
 * out of order, an unexpected status.
 *
 * @since 0.1.0
 * @category errors
 */
export class MalformedResponse extends Schema.TaggedError<MalformedResponse>()("MalformedResponse", {
  detail: Schema.String
}) {
  override get message() {
    return `The server's answer is not the AgentHttp protocol: ${this.detail}`
  }
}

/**
 * Every way a client call can fail.
 *
 * @since 0.1.0
 * @category errors
 */
export type ClientError =
  | Protocol.HttpRunError
  | RemoteRunFailed
  | RemoteRunInterrupted
  | ConnectionLost
  | MalformedResponse
  | HttpClientError.HttpClientError

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Where the routes are mounted, e.g. `http://127.0.0.1:3000/agents`. */
  readonly baseUrl: string
  /** The wire format of streams. Default `"sse"`. */
  readonly format?: "sse" | "ndjson" | undefined
  /** When to reconnect after a dropped connection. Default: 5 times, 100 ms apart doubling (≈ 3 s). */
  readonly reconnect?: Schedule.Schedule<unknown, unknown> | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** Start a run and stream its events. */
  readonly stream: (request: Protocol.RunRequest) => Stream.Stream<AgentEvent.AgentEvent, ClientError>
  /** Start a run and wait for its result (`Accept: application/json`). */
  readonly run: (request: Protocol.RunRequest) => Effect.Effect<Agent.RunResult<unknown>, ClientError>
  /** Reconnect to a live run: its events after frame `lastEventId` (`0`: all the server still keeps). */
  readonly resume: (runId: string, lastEventId: number) => Stream.Stream<AgentEvent.AgentEvent, ClientError>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class AgentHttpClient extends Context.Tag("@effect-agents/http/AgentHttpClient")<AgentHttpClient, Service>() {}

const defaultReconnect = Schedule.exponential("100 millis").pipe(Schedule.intersect(Schedule.recurs(5)))

/** Where a stream is: the run it follows, the last frame received, and the last frame if it came. */
interface Cursor {
  runId: string | undefined
  lastEventId: number
  last: Protocol.Frame | undefined
}

/**
 * A client of the routes at `baseUrl`.
 *
 * @example
 * ```ts
 * import { AgentHttpClient } from "@effect-agents/http"
 * import { FetchHttpClient } from "@effect/platform"
 * import { Console, Effect, Stream } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const client = yield* AgentHttpClient.make({ baseUrl: "http://127.0.0.1:3000/agents" })
 *   yield* client.stream({ agent: "math", prompt: "What is 2 + 3?" }).pipe(
 *     Stream.runForEach((event) => Console.log(event._tag))
 *   )
 * }).pipe(Effect.provide(FetchHttpClient.layer))
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<Service, never, HttpClient.HttpClient> =>
  Effect.map(HttpClient.HttpClient, (client): Service => {
    const format = options.format ?? "sse"
    const reconnect = options.reconnect ?? defaultReconnect
    const base = options.baseUrl.replace(/\/+$/, "")

    const send = (request: HttpClientRequest.HttpClientRequest) =>
      Effect.flatMap(client.execute(request), (response) =>
        response.status >= 200 && response.status < 300 ? Effect.succeed(response) : Effect.flatMap(errorBody(response), Effect.fail))

    const startRequest = (request: Protocol.RunRequest, accept: string) =>
      HttpClientRequest.post(`${base}/runs`).pipe(
        HttpClientRequest.setHeader("accept", accept),
        HttpClientRequest.bodyUnsafeJson(request)
      )

    const resumeRequest = (cursor: Cursor) =>
      HttpClientRequest.get(`${base}/runs/${encodeURIComponent(cursor.runId ?? "")}/events`).pipe(
        HttpClientRequest.setHeaders({ "accept": Protocol.mediaTypes[format], "last-event-id": String(cursor.lastEventId) })
      )

    /** The frames of one connection; a connection that ends before the run's last frame fails with `ConnectionLost`. */
    const connection = (cursor: Cursor, request: Effect.Effect<HttpClientRequest.HttpClientRequest>) =>
      Stream.unwrap(Effect.map(Effect.flatMap(request, send), (response) => {
        cursor.runId ??= response.headers["x-run-id"]
        const parse = parser(format, cursor)
        return response.stream.pipe(
          Stream.decodeText(),
          Stream.mapConcatEffect(parse),
          Stream.concat(Stream.suspend(() =>
            cursor.last === undefined
              ? Stream.fail(new ConnectionLost({ runId: cursor.runId, lastEventId: cursor.lastEventId }))
              : Stream.empty
          ))
        )
      }))

    /** Follow a run across reconnects, then end or fail the way the run ended. */
    const follow = (cursor: Cursor, first: Effect.Effect<HttpClientRequest.HttpClientRequest>) => {
      const request = Effect.suspend(() => cursor.runId === undefined ? first : Effect.succeed(resumeRequest(cursor)))
      const retried = connection(cursor, request).pipe(
        Stream.retry(Schedule.whileInput(reconnect, (error: ClientError) => cursor.runId !== undefined && reconnectable(error)))
      )
      return Stream.concat(
        Stream.filter(retried, Protocol.isAgentEvent),
        Stream.suspend((): Stream.Stream<never, ClientError> => {
          const last = cursor.last
          switch (last?._tag) {
            case "RunFailed":
              return Stream.fail(new RemoteRunFailed({ runId: last.runId, agent: last.agent, error: last.error, detail: last.message }))
            case "RunInterrupted":
              return Stream.fail(new RemoteRunInterrupted({ runId: last.runId, reason: last.reason }))
            case "RunNotStarted":
              return Stream.fail(last)
            default:
              return Stream.empty
          }
        })
      )
    }

    return {
      stream: (request) =>
        Stream.suspend(() =>
          follow({ runId: undefined, lastEventId: 0, last: undefined }, Effect.succeed(startRequest(request, Protocol.mediaTypes[format])))
        ),
      resume: (runId, lastEventId) =>
        Stream.suspend(() => {
          const cursor: Cursor = { runId, lastEventId, last: undefined }
          return follow(cursor, Effect.sync(() => resumeRequest(cursor)))
        }),
      run: (request) =>
        Effect.flatMap(send(startRequest(request, Protocol.mediaTypes.json)), (response) =>
          Effect.flatMap(response.json, decodeResult).pipe(
            Effect.map((result) => ({ ...result, output: result.output === undefined ? result.text : result.output })),
            Effect.catchTag("ParseError", (error) =>
              Effect.fail(new MalformedResponse({ detail: ParseResult.TreeFormatter.formatErrorSync(error) })))
          ))
    }
  })

/**
 * The client as a layer.
 *
 * @example
 * ```ts
 * import { AgentHttpClient } from "@effect-agents/http"
 * import { FetchHttpClient } from "@effect/platform"
 * import { Layer } from "effect"
 *
 * const ClientLive = AgentHttpClient.layer({ baseUrl: "http://127.0.0.1:3000/agents" }).pipe(
 *   Layer.provide(FetchHttpClient.layer)
 * )
 * ```
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<AgentHttpClient, never, HttpClient.HttpClient> =>
  Layer.effect(AgentHttpClient, make(options))

// -----------------------------------------------------------------------------
// internals
// -----------------------------------------------------------------------------

/** Whether a frame is the last of the run: a sub-agent's (`Agent.asTool`) `RunCompleted` has another run id. */
const endsRun = (frame: Protocol.Frame, runId: string | undefined): boolean => {
  switch (frame._tag) {
    case "RunCompleted":
    case "RunFailed":
    case "RunInterrupted":
      return frame.runId === runId
    case "RunNotStarted":
      return true
    default:
      return false
  }
}

/** A dropped connection is worth a reconnect; an answer of the server is not. */
const reconnectable = (error: ClientError): boolean =>
  error._tag === "ConnectionLost" || error._tag === "RequestError" || error._tag === "ResponseError"

/**
 * A parser of one connection's text: complete frames out, decoded and checked, the cursor
 * advanced past each. SSE frames carry their number (`id:`); NDJSON frames are numbered in order.
 */
const parser = (format: "sse" | "ndjson", cursor: Cursor) => {
  let raw: Array<{ readonly id: string | undefined; readonly event: string; readonly data: string }> = []
  let feed: (text: string) => Sse.SseError | undefined
  if (format === "sse") {
    const sse = Sse.makeParser((event) => {
      if (event._tag === "Event") raw.push(event)
    })
    feed = (text) => sse.feed(text)
  } else {
    let pending = ""
    feed = (text) => {
      const lines = (pending + text).split("\n")
      pending = lines.pop() ?? ""
      for (const line of lines) if (line.trim() !== "") raw.push({ id: undefined, event: "", data: line })
      return undefined
    }
  }
  return (text: string): Effect.Effect<ReadonlyArray<Protocol.Frame>, MalformedResponse> => {
    const error = feed(text)
    if (error !== undefined) return Effect.fail(new MalformedResponse({ detail: error.message }))
    const parsed = raw
    raw = []
    const frames: Array<Protocol.Frame> = []
    for (const { data, event, id } of parsed) {
      const seq = id === undefined ? cursor.lastEventId + 1 : Number(id)
      if (seq !== cursor.lastEventId + 1) {
        return Effect.fail(new MalformedResponse({ detail: `frame ${id} came after frame ${cursor.lastEventId}` }))
      }
      const decoded = Frames.decode(data)
      if (Either.isLeft(decoded)) {
        return Effect.fail(new MalformedResponse({ detail: `frame ${seq}: ${ParseResult.TreeFormatter.formatErrorSync(decoded.left)}` }))
      }
      const frame = decoded.right
      if (format === "sse" && event !== frame._tag) {
        return Effect.fail(new MalformedResponse({ detail: `frame ${seq} is named "${event}" but holds a ${frame._tag}` }))
      }
      cursor.lastEventId = seq
      if (frame._tag === "RunStarted" && seq === 1) cursor.runId ??= frame.runId
      if (endsRun(frame, cursor.runId)) cursor.last = frame
      frames.push(frame)
    }
    return Effect.succeed(frames)
  }
}

const decodeErrorBody = Schema.decodeUnknown(Schema.Union(
  Protocol.HttpRunError,
  Protocol.Frame
))

/** The typed error of a refused request, or of a JSON run that did not complete. */
const errorBody = (response: HttpClientResponse.HttpClientResponse): Effect.Effect<ClientError> =>
  Effect.map(Effect.either(Effect.flatMap(response.json, decodeErrorBody)), (decoded): ClientError => {
    if (Either.isLeft(decoded)) return new MalformedResponse({ detail: `HTTP ${response.status} without a protocol error body` })
    const body = decoded.right
    switch (body._tag) {
      case "RunFailed":
        return new RemoteRunFailed({ runId: body.runId, agent: body.agent, error: body.error, detail: body.message })
      case "RunInterrupted":
        return new RemoteRunInterrupted({ runId: body.runId, reason: body.reason })
      case "BadRunRequest":
      case "ConversationBusy":
      case "RunNotFound":
      case "EventsExpired":
      case "RunNotStarted":
      case "InternalServerError":
        return body
      default:
        return new MalformedResponse({ detail: `HTTP ${response.status} with a ${body._tag} frame` })
    }
  })

const decodeResult = Schema.decodeUnknown(Protocol.RunResult)
