/**
 * The wire format of agent runs over HTTP, as Schemas shared by the server (`AgentHttp`) and the
 * client (`AgentHttpClient`).
 *
 * - `POST /runs` takes a `RunRequest` as JSON.
 * - A run's stream is a sequence of frames numbered from 1: every `AgentEvent` of the run, and at
 *   the end either `RunCompleted`, `RunFailed`, `RunInterrupted` (the run was interrupted: its
 *   client left, or the server shut down; it ends every tool call still open) or `RunNotStarted`
 *   (it failed before it started).
 *   As Server-Sent Events each frame is `id: <number>`, `event: <_tag>`, `data: <the frame
 *   encoded with its Schema, as JSON>`; as NDJSON, one encoded frame per line.
 * - `Accept: application/json` answers the run's `RunResult` (or its `RunFailed`) as one JSON body.
 * - A request the server refuses gets a status and one of the `HttpRunError` bodies.
 *
 * @since 0.1.0
 */
import { AgentEvent, Content, ConversationStore, Model } from "@effect-agents/core"
import * as Schema from "effect/Schema"

/**
 * A conversation id: letters, digits and `. _ : -`, at most 128 characters (it names a stored
 * conversation, a file in the file-system store).
 *
 * @since 0.1.0
 * @category schemas
 */
export const ConversationId = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, {
    message: () => "a conversation id is 1 to 128 letters, digits or . _ : - (starting with a letter or digit)"
  })
)

/**
 * The body of `POST /runs`: which agent (by its name in the server's registry), the prompt, and
 * optionally the conversation to continue.
 *
 * @since 0.1.0
 * @category schemas
 */
export const RunRequest = Schema.Struct({
  agent: Schema.String,
  prompt: Schema.String.pipe(Schema.minLength(1, { message: () => "the prompt must not be empty" })),
  conversationId: Schema.optionalWith(ConversationId, { exact: true })
})

/**
 * @since 0.1.0
 * @category models
 */
export interface RunRequest extends Schema.Schema.Type<typeof RunRequest> {}

/**
 * Why the server interrupted a run.
 *
 * - `client-disconnected`: every client of the run left and none came back within the
 *   server's `reconnectWindow`.
 * - `server-shutdown`: the routes' scope closed (the server stopped).
 *
 * @since 0.1.0
 * @category schemas
 */
export const InterruptionReason = Schema.Literal("client-disconnected", "server-shutdown")

/**
 * @since 0.1.0
 * @category models
 */
export type InterruptionReason = typeof InterruptionReason.Type

/**
 * The run was interrupted by the server: its model call was aborted and its tool calls were
 * interrupted (their finalizers ran). The last frame of such a run, and the outcome handed to
 * `AgentHttp`'s `onOutcome`.
 *
 * @since 0.1.0
 * @category schemas
 */
export class RunInterrupted extends Schema.TaggedClass<RunInterrupted>()("RunInterrupted", {
  runId: Schema.String,
  agent: Schema.String,
  turn: Schema.Number,
  timestamp: Schema.Number,
  reason: InterruptionReason,
  conversationId: Schema.optionalWith(Schema.String, { exact: true })
}) {}

/**
 * The run failed before it started (its conversation could not be loaded, or the agent could
 * not be set up). The only frame of such a stream; `500` in JSON mode.
 *
 * @since 0.1.0
 * @category errors
 */
export class RunNotStarted extends Schema.TaggedError<RunNotStarted>()("RunNotStarted", {
  error: Schema.String,
  message: Schema.String
}) {}

/**
 * The request is not a valid run request (`400`): an unknown agent, a missing or empty prompt,
 * a field of the wrong type, a body that is not JSON or larger than the server accepts.
 *
 * @since 0.1.0
 * @category errors
 */
export class BadRunRequest extends Schema.TaggedError<BadRunRequest>()("BadRunRequest", {
  message: Schema.String
}) {}

/**
 * The body of `POST /runs/:runId/approvals/:callId`: the decision on a call that waits for
 * approval (`ApprovalRequested`); `reason` is what the model reads when the call is denied.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ApprovalDecision = Schema.Struct({
  approve: Schema.Boolean,
  reason: Schema.optional(Schema.String.pipe(Schema.maxLength(2000)))
})

/**
 * @since 0.1.0
 * @category models
 */
export type ApprovalDecision = typeof ApprovalDecision.Type

/**
 * No live run has this id (`404`): it never existed, or it ended longer ago than the server's
 * `reconnectWindow`.
 *
 * @since 0.1.0
 * @category errors
 */
export class RunNotFound extends Schema.TaggedError<RunNotFound>()("RunNotFound", {
  runId: Schema.String
}) {
  override get message() {
    return `No live run has the id "${this.runId}": it never existed, or it ended longer ago than the server's reconnectWindow.`
  }
}

/**
 * A reconnecting client asked for frames the server no longer keeps (`410`): it was away for
 * more than the server's `replay` frames.
 *
 * @since 0.1.0
 * @category errors
 */
export class EventsExpired extends Schema.TaggedError<EventsExpired>()("EventsExpired", {
  runId: Schema.String,
  lastEventId: Schema.Number,
  oldestKept: Schema.Number
}) {
  override get message() {
    return `Run "${this.runId}": frames after ${this.lastEventId} were asked for, but the oldest frame kept is ${this.oldestKept}; ` +
      `raise the server's replay option to let clients reconnect after longer gaps.`
  }
}

/**
 * The server failed unexpectedly (`500`). The details are in the server's log, never in the
 * response.
 *
 * @since 0.1.0
 * @category errors
 */
export class InternalServerError extends Schema.TaggedError<InternalServerError>()("InternalServerError", {
  message: Schema.String
}) {}

/**
 * Every error body the server answers with.
 *
 * @since 0.1.0
 * @category schemas
 */
export const HttpRunError = Schema.Union(
  BadRunRequest,
  ConversationStore.ConversationBusy,
  RunNotFound,
  EventsExpired,
  RunNotStarted,
  InternalServerError
)

/**
 * @since 0.1.0
 * @category models
 */
export type HttpRunError = typeof HttpRunError.Type

/**
 * The HTTP status of each error body.
 *
 * @since 0.1.0
 * @category utils
 */
export const statusOf = (error: HttpRunError): number => {
  switch (error._tag) {
    case "BadRunRequest":
      return 400
    case "ConversationBusy":
      return 409
    case "RunNotFound":
      return 404
    case "EventsExpired":
      return 410
    case "RunNotStarted":
    case "InternalServerError":
      return 500
  }
}

/**
 * One frame of a run's stream.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Frame = Schema.Union(AgentEvent.AgentEvent, RunInterrupted, RunNotStarted)

/**
 * @since 0.1.0
 * @category models
 */
export type Frame = typeof Frame.Type

/**
 * How a run that started ended: the outcome handed to `AgentHttp`'s `onOutcome`.
 *
 * @since 0.1.0
 * @category models
 */
export type Outcome = AgentEvent.RunCompleted | AgentEvent.RunFailed | RunInterrupted

/**
 * Whether a frame is an `AgentEvent` (rather than `RunInterrupted` or `RunNotStarted`).
 *
 * @since 0.1.0
 * @category utils
 */
export const isAgentEvent = (frame: Frame): frame is AgentEvent.AgentEvent =>
  frame._tag !== "RunInterrupted" && frame._tag !== "RunNotStarted"

/**
 * The JSON answer of a completed run (`Accept: application/json`): `Agent.RunResult`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const RunResult = Schema.Struct({
  runId: Schema.String,
  agent: Schema.String,
  text: Schema.String,
  /** The answer of an agent made with `output`, in its encoded (JSON) form; absent for a text answer. */
  output: Schema.optional(Schema.Unknown),
  history: Content.History,
  usage: Model.Usage,
  turns: Schema.Number,
  events: Schema.Array(AgentEvent.AgentEvent)
})

/**
 * The media types the routes speak.
 *
 * @since 0.1.0
 * @category utils
 */
export const mediaTypes = {
  sse: "text/event-stream",
  ndjson: "application/x-ndjson",
  json: "application/json"
} as const

/**
 * @since 0.1.0
 * @category models
 */
export type Format = keyof typeof mediaTypes
