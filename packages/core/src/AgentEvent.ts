/**
 * What happens during a run, as data. `Agent.stream` emits these as they happen;
 * `Agent.run` collects them into `RunResult.events`.
 *
 * Every event carries the run id, the agent path (`triage/math`), the turn and a `Clock`
 * timestamp in milliseconds (virtual under `TestClock`). Every `ToolCallStarted` is followed by
 * exactly one terminal event for its call id: `ToolCallSucceeded`, `ToolCallFailed` or
 * `ToolCallInterrupted`.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { History } from "./Content.js"
import { Usage } from "./Model.js"

const base = {
  runId: Schema.String,
  agent: Schema.String,
  turn: Schema.Number,
  timestamp: Schema.Number
}

/**
 * @since 0.1.0
 */
export class RunStarted extends Schema.TaggedClass<RunStarted>()("RunStarted", {
  ...base,
  input: Schema.String
}) {}

/**
 * @since 0.1.0
 */
export class TurnStarted extends Schema.TaggedClass<TurnStarted>()("TurnStarted", base) {}

/**
 * A model call attempt is about to be sent (`attempt` counts from 1).
 *
 * @since 0.1.0
 */
export class ModelRequested extends Schema.TaggedClass<ModelRequested>()("ModelRequested", {
  ...base,
  attempt: Schema.Number
}) {}

/**
 * A piece of streamed model text (only from `Agent.stream`). If the attempt fails and is
 * retried, `TextReset` says to discard the deltas so far; they start again after `RetryScheduled`.
 *
 * @since 0.1.0
 */
export class TextDelta extends Schema.TaggedClass<TextDelta>()("TextDelta", {
  ...base,
  text: Schema.String
}) {}

/**
 * A streamed attempt that had published text failed with a retryable error: consumers discard the
 * `TextDelta`s of this turn received so far, which will never be part of an answer. When a retry
 * follows, it comes before its `RetryScheduled` and the retried attempt's deltas start over; when
 * the retries are spent, `RunFailed` follows. `attempt` is the attempt that failed.
 *
 * @since 0.1.0
 * @category models
 * @example
 * ```ts
 * let partial = ""
 * const onEvent = (event: AgentEvent.AgentEvent) => {
 *   if (event._tag === "TextDelta") partial += event.text
 *   if (event._tag === "TextReset") partial = ""
 * }
 * ```
 */
export class TextReset extends Schema.TaggedClass<TextReset>()("TextReset", {
  ...base,
  attempt: Schema.Number
}) {}

/**
 * @since 0.1.0
 */
export class ModelResponded extends Schema.TaggedClass<ModelResponded>()("ModelResponded", {
  ...base,
  text: Schema.String,
  functionCalls: Schema.Array(Schema.String),
  usage: Usage,
  finishReason: Schema.String
}) {}

/**
 * @since 0.1.0
 */
export class ToolCallStarted extends Schema.TaggedClass<ToolCallStarted>()("ToolCallStarted", {
  ...base,
  callId: Schema.String,
  tool: Schema.String,
  args: Schema.Unknown
}) {}

/**
 * @since 0.1.0
 */
export class ToolCallSucceeded extends Schema.TaggedClass<ToolCallSucceeded>()("ToolCallSucceeded", {
  ...base,
  callId: Schema.String,
  tool: Schema.String,
  output: Schema.Unknown
}) {}

/**
 * Why a tool call failed: the handler failed or died, or the model's call was unusable
 * (unknown tool, arguments rejected by the tool's Schema), or a call that needed approval was
 * denied (`denied`: its handler never ran), or a tool guardrail stopped it (`blocked`: before its
 * handler ran, or with its result withheld from the model).
 *
 * @since 0.1.0
 */
export const FailureKind = Schema.Literal(
  "failure",
  "defect",
  "invalid-arguments",
  "unknown-tool",
  "invalid-result",
  "denied",
  "blocked"
)

/**
 * A tool call failed. `reported: true` means the error went back to the model as a function
 * response and the run goes on; `false` means it failed the run (`fail-fast`).
 *
 * @since 0.1.0
 */
export class ToolCallFailed extends Schema.TaggedClass<ToolCallFailed>()("ToolCallFailed", {
  ...base,
  callId: Schema.String,
  tool: Schema.String,
  kind: FailureKind,
  error: Schema.String,
  reported: Schema.Boolean
}) {}

/**
 * Why a tool call was interrupted.
 *
 * - `sibling-failed`: another call of its group failed under `fail-fast` (also a call the group
 *   stopped before it began: its handler never ran).
 * - `timeout`: it ran past its `timeout`; this counts as its failure.
 * - `run-interrupted`: the run itself was interrupted (caller, timeout, disconnect).
 * - `cancelled`: the call was cancelled on its own (its handler ended with `Effect.interrupt`,
 *   or something other than its group or its run interrupted it). Not a failure of the group:
 *   the model is told the call was cancelled, its siblings go on, and so does the run.
 *
 * @since 0.1.0
 */
export const InterruptReason = Schema.Literal("sibling-failed", "timeout", "run-interrupted", "cancelled")

/**
 * @since 0.1.0
 */
export type InterruptReason = typeof InterruptReason.Type

/**
 * @since 0.1.0
 */
export class ToolCallInterrupted extends Schema.TaggedClass<ToolCallInterrupted>()("ToolCallInterrupted", {
  ...base,
  callId: Schema.String,
  tool: Schema.String,
  reason: InterruptReason
}) {}

/**
 * A call of a tool made with `needsApproval` waits for a decision (see `Approvals`). It follows
 * the call's `ToolCallStarted`; its handler has not run.
 *
 * @since 0.1.0
 */
export class ApprovalRequested extends Schema.TaggedClass<ApprovalRequested>()("ApprovalRequested", {
  ...base,
  callId: Schema.String,
  tool: Schema.String,
  args: Schema.Unknown
}) {}

/**
 * The decision on a call that waited for approval: `approved`, or denied with a `reason` (also
 * when no decision came within `policy.approvalTimeout`). A denied call then ends with
 * `ToolCallFailed{kind: "denied"}`.
 *
 * @since 0.1.0
 */
export class ApprovalDecided extends Schema.TaggedClass<ApprovalDecided>()("ApprovalDecided", {
  ...base,
  callId: Schema.String,
  tool: Schema.String,
  approved: Schema.Boolean,
  reason: Schema.optional(Schema.String)
}) {}

/**
 * Where a guardrail ran (see `Guardrail`).
 *
 * @since 0.1.0
 * @category models
 */
export const GuardrailStage = Schema.Literal("input", "output", "tool")

const guardrailFields = {
  ...base,
  guardrail: Schema.String,
  stage: GuardrailStage,
  /** The tool call a tool guardrail checked. */
  callId: Schema.optional(Schema.String),
  tool: Schema.optional(Schema.String)
}

/**
 * A guardrail began checking.
 *
 * @since 0.1.0
 * @category models
 */
export class GuardrailStarted extends Schema.TaggedClass<GuardrailStarted>()("GuardrailStarted", guardrailFields) {}

/**
 * A guardrail let the work go on, `durationMillis` after it started (also when it timed out with
 * `onTimeout: "pass"`).
 *
 * @since 0.1.0
 * @category models
 */
export class GuardrailPassed extends Schema.TaggedClass<GuardrailPassed>()("GuardrailPassed", {
  ...guardrailFields,
  durationMillis: Schema.Number
}) {}

/**
 * A guardrail stopped the work, `durationMillis` after it started. `action` is what followed:
 * `fail` (the run, or under `report` the tool call, fails), `reject` (a tool call is refused and
 * the model told), `feedback` (the answer goes back to the model with `reason`).
 *
 * @since 0.1.0
 * @category models
 */
export class GuardrailTripped extends Schema.TaggedClass<GuardrailTripped>()("GuardrailTripped", {
  ...guardrailFields,
  durationMillis: Schema.Number,
  reason: Schema.String,
  action: Schema.Literal("fail", "reject", "feedback")
}) {}

/**
 * A failed model call will be retried after `delayMillis`.
 *
 * @since 0.1.0
 */
export class RetryScheduled extends Schema.TaggedClass<RetryScheduled>()("RetryScheduled", {
  ...base,
  attempt: Schema.Number,
  delayMillis: Schema.Number,
  error: Schema.String,
  message: Schema.String
}) {}

/**
 * @since 0.1.0
 */
export class HandoffStarted extends Schema.TaggedClass<HandoffStarted>()("HandoffStarted", {
  ...base,
  callId: Schema.String,
  target: Schema.String
}) {}

/**
 * @since 0.1.0
 */
export class HandoffCompleted extends Schema.TaggedClass<HandoffCompleted>()("HandoffCompleted", {
  ...base,
  target: Schema.String
}) {}

/**
 * @since 0.1.0
 */
export class RunCompleted extends Schema.TaggedClass<RunCompleted>()("RunCompleted", {
  ...base,
  text: Schema.String,
  /** Structured output: the answer's JSON (the encoded form of `RunResult.output`); absent for a text answer. */
  output: Schema.optional(Schema.Unknown),
  usage: Usage,
  history: History
}) {}

/**
 * @since 0.1.0
 */
export class RunFailed extends Schema.TaggedClass<RunFailed>()("RunFailed", {
  ...base,
  error: Schema.String,
  message: Schema.String
}) {}

/**
 * @since 0.1.0
 */
export const AgentEvent = Schema.Union(
  RunStarted,
  TurnStarted,
  ModelRequested,
  TextDelta,
  TextReset,
  ModelResponded,
  ToolCallStarted,
  ToolCallSucceeded,
  ToolCallFailed,
  ToolCallInterrupted,
  ApprovalRequested,
  ApprovalDecided,
  GuardrailStarted,
  GuardrailPassed,
  GuardrailTripped,
  RetryScheduled,
  HandoffStarted,
  HandoffCompleted,
  RunCompleted,
  RunFailed
)

/**
 * @since 0.1.0
 */
export type AgentEvent =
  | RunStarted
  | TurnStarted
  | ModelRequested
  | TextDelta
  | TextReset
  | ModelResponded
  | ToolCallStarted
  | ToolCallSucceeded
  | ToolCallFailed
  | ToolCallInterrupted
  | ApprovalRequested
  | ApprovalDecided
  | GuardrailStarted
  | GuardrailPassed
  | GuardrailTripped
  | RetryScheduled
  | HandoffStarted
  | HandoffCompleted
  | RunCompleted
  | RunFailed

/**
 * Terminal events of a tool call.
 *
 * @since 0.1.0
 */
export type ToolCallTerminal = ToolCallSucceeded | ToolCallFailed | ToolCallInterrupted

/**
 * @since 0.1.0
 */
export const isToolCallTerminal = (event: AgentEvent): event is ToolCallTerminal =>
  event._tag === "ToolCallSucceeded" || event._tag === "ToolCallFailed" || event._tag === "ToolCallInterrupted"

/**
 * Check the tool-call invariant over a list of events: every `ToolCallStarted` has exactly one
 * terminal event for its call id (per run), and no terminal event lacks a start. Returns the
 * violations found (empty when the invariant holds).
 *
 * @since 0.1.0
 */
export const invariantViolations = (events: Iterable<AgentEvent>): ReadonlyArray<string> => {
  const open = new Map<string, number>()
  const violations: Array<string> = []
  for (const event of events) {
    if (event._tag === "ToolCallStarted") {
      const key = `${event.runId}/${event.callId}`
      if (open.has(key)) violations.push(`call ${key} started twice`)
      open.set(key, 0)
    } else if (isToolCallTerminal(event)) {
      const key = `${event.runId}/${event.callId}`
      const seen = open.get(key)
      if (seen === undefined) violations.push(`call ${key} ended (${event._tag}) without ToolCallStarted`)
      else if (seen > 0) violations.push(`call ${key} ended twice (${event._tag})`)
      open.set(key, (seen ?? 0) + 1)
    }
  }
  for (const [key, seen] of open) {
    if (seen === 0) violations.push(`call ${key} started but never ended`)
  }
  return violations
}
