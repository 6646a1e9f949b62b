/**
 * Typed failures of model calls and agent runs.
 *
 * Model errors know whether a retry can help (`retryable`); the run loop retries only those.
 * Defects stay defects.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Schema from "effect/Schema"
import * as internal from "./internal/cause.js"

/**
 * The provider refused the request for quota reasons (HTTP 429). Retryable; `retryAfter` is
 * the delay the server asked for, when it gave one.
 *
 * @since 0.1.0
 */
export class RateLimited extends Schema.TaggedError<RateLimited>()("RateLimited", {
  retryAfter: Schema.optional(Schema.DurationFromSelf),
  detail: Schema.optionalWith(Schema.String, { default: () => "" })
}) {
  readonly retryable = true
  override get message() {
    const after = this.retryAfter ? `; the server asks to retry in ${Duration.format(this.retryAfter)}` : ""
    return `The model rate-limited the request (429)${after}.${this.detail ? ` ${this.detail}` : ""}`
  }
}

/**
 * The provider is unreachable or failing (HTTP 5xx, a dropped connection, a stream cut
 * mid-way). Retryable.
 *
 * @since 0.1.0
 */
export class ModelUnavailable extends Schema.TaggedError<ModelUnavailable>()("ModelUnavailable", {
  status: Schema.optional(Schema.Number),
  detail: Schema.String
}) {
  readonly retryable = true
  override get message() {
    return `The model is unavailable${this.status ? ` (HTTP ${this.status})` : ""}: ${this.detail}`
  }
}

/**
 * The provider rejected the request as invalid (HTTP 400). Not retryable: fix the request.
 *
 * @since 0.1.0
 */
export class InvalidRequest extends Schema.TaggedError<InvalidRequest>()("InvalidRequest", {
  status: Schema.optional(Schema.Number),
  detail: Schema.String
}) {
  readonly retryable = false
  override get message() {
    return `The model rejected the request as invalid${this.status ? ` (HTTP ${this.status})` : ""}: ${this.detail}`
  }
}

/**
 * The provider refused the credentials (HTTP 401/403). Not retryable. The key itself is never
 * part of the message.
 *
 * @since 0.1.0
 */
export class AuthenticationFailed extends Schema.TaggedError<AuthenticationFailed>()("AuthenticationFailed", {
  status: Schema.optional(Schema.Number),
  detail: Schema.String
}) {
  readonly retryable = false
  override get message() {
    return `The model refused the credentials${this.status ? ` (HTTP ${this.status})` : ""}: ${this.detail}`
  }
}

/**
 * The prompt or the answer was blocked by the provider's safety filters. Not retryable.
 *
 * @since 0.1.0
 */
export class ContentBlocked extends Schema.TaggedError<ContentBlocked>()("ContentBlocked", {
  reason: Schema.String
}) {
  readonly retryable = false
  override get message() {
    return `The model blocked the content (${this.reason}).`
  }
}

/**
 * The provider answered with something that is not a usable response. Not retryable by
 * default.
 *
 * @since 0.1.0
 */
export class MalformedResponse extends Schema.TaggedError<MalformedResponse>()("MalformedResponse", {
  detail: Schema.String
}) {
  readonly retryable = false
  override get message() {
    return `The model returned a malformed response: ${this.detail}`
  }
}

/**
 * A model call took longer than the policy's `modelTimeout`; the call was interrupted.
 * Retryable.
 *
 * @since 0.1.0
 */
export class ModelTimeout extends Schema.TaggedError<ModelTimeout>()("ModelTimeout", {
  after: Schema.DurationFromSelf
}) {
  readonly retryable = true
  override get message() {
    return `The model call was interrupted after ${Duration.format(this.after)} (policy.modelTimeout).`
  }
}

/**
 * The model answered, but with nothing the run can use: no parts (or only thoughts), or a
 * function call it could not form (`finishReason` names which). Transient in practice, so
 * retryable: the run retries it on `policy.modelRetry`, then fails with it.
 *
 * @since 0.1.0
 */
export class UnusableResponse extends Schema.TaggedError<UnusableResponse>()("UnusableResponse", {
  finishReason: Schema.String,
  detail: Schema.String
}) {
  readonly retryable = true
  override get message() {
    return `The model returned no usable answer (${this.finishReason}): ${this.detail}`
  }
}

/**
 * The model's answer was cut at its output token limit. Not retryable: raise the limit, or ask
 * for a shorter answer. `partialText` is the text that arrived before the cut.
 *
 * @since 0.1.0
 */
export class OutputTruncated extends Schema.TaggedError<OutputTruncated>()("OutputTruncated", {
  partialText: Schema.String,
  detail: Schema.String
}) {
  readonly retryable = false
  override get message() {
    return `The model's answer was cut at its output token limit after ${this.partialText.length} characters: ${this.detail}`
  }
}

/**
 * Every way a model call can fail.
 *
 * @since 0.1.0
 */
export type ModelError =
  | RateLimited
  | ModelUnavailable
  | InvalidRequest
  | AuthenticationFailed
  | ContentBlocked
  | MalformedResponse
  | ModelTimeout
  | UnusableResponse
  | OutputTruncated

/**
 * @since 0.1.0
 */
export const ModelError = Schema.Union(
  RateLimited,
  ModelUnavailable,
  InvalidRequest,
  AuthenticationFailed,
  ContentBlocked,
  MalformedResponse,
  ModelTimeout,
  UnusableResponse,
  OutputTruncated
)

/**
 * @since 0.1.0
 */
export const isModelError = (u: unknown): u is ModelError =>
  typeof u === "object" && u !== null && "_tag" in u && "retryable" in u &&
  modelErrorTags.has((u as { _tag: string })._tag)

const modelErrorTags = new Set([
  "RateLimited",
  "ModelUnavailable",
  "InvalidRequest",
  "AuthenticationFailed",
  "ContentBlocked",
  "MalformedResponse",
  "ModelTimeout",
  "UnusableResponse",
  "OutputTruncated"
])

/**
 * A tool call ran past its declared `timeout` and was interrupted. Its late result, if any,
 * is discarded.
 *
 * @since 0.1.0
 */
export class ToolTimeout extends Schema.TaggedError<ToolTimeout>()("ToolTimeout", {
  tool: Schema.String,
  callId: Schema.String,
  after: Schema.DurationFromSelf
}) {
  override get message() {
    return `Tool "${this.tool}" (call ${this.callId}) timed out after ${Duration.format(this.after)} and was interrupted.`
  }
}

/**
 * A handler produced a value its `success` Schema does not accept, or whose encoded form cannot
 * be sent to the model as JSON (a cycle, a `bigint`, a function).
 *
 * @since 0.1.0
 */
export class ToolResultInvalid extends Schema.TaggedError<ToolResultInvalid>()("ToolResultInvalid", {
  tool: Schema.String,
  callId: Schema.String,
  detail: Schema.String,
  /** `schema`: the `success` Schema rejected the value; `json`: the encoded value cannot be sent as JSON. */
  problem: Schema.optionalWith(Schema.Literal("schema", "json"), { default: () => "schema" as const })
}) {
  override get message() {
    return this.problem === "json"
      ? `Tool "${this.tool}" (call ${this.callId}) returned a value that cannot be sent to the model as JSON: ${this.detail}. ` +
        `Return plain data (strings, finite numbers, booleans, null, arrays and objects, without cycles).`
      : `Tool "${this.tool}" (call ${this.callId}) returned a value that does not match its success schema: ${this.detail}`
  }
}

/**
 * A `Tool.fromPromise` or `Tool.fromSync` handler threw or rejected.
 *
 * @since 0.1.0
 */
export class ToolException extends Schema.TaggedError<ToolException>()("ToolException", {
  tool: Schema.String,
  error: Schema.Unknown
}) {
  override get message() {
    return `Tool "${this.tool}" threw: ${internal.describeError(this.error)}`
  }
}

/**
 * A durable run resumed after a crash and found a call of an `at-most-once` tool that had started
 * but has no recorded result: it was not run again, and the model is told so (always as an error
 * it reads, whatever the `toolFailure` policy). See `@effect-agents/cluster`.
 *
 * @since 0.1.0
 * @category errors
 */
export class ToolOutcomeUnknown extends Schema.TaggedError<ToolOutcomeUnknown>()("ToolOutcomeUnknown", {
  tool: Schema.String,
  callId: Schema.String
}) {
  override get message() {
    return `Tool "${this.tool}" (call ${this.callId}): the outcome of this call is unknown; it was not retried ` +
      `(the run stopped while it ran, and the tool is at-most-once). Check its effect before calling it again.`
  }
}

/**
 * A failed call of a tool-call group, as listed by {@link ToolCallFailed}.
 *
 * @since 0.1.0
 */
export const FailedCall = Schema.Struct({ tool: Schema.String, callId: Schema.String })

/**
 * One or more tool calls failed under the `fail-fast` policy. Every sibling was interrupted
 * when the first failure happened; `cause` holds every real failure (the `ExceptionGroup`
 * analogue: tool errors, `ToolTimeout`s, defects) and every error raised while the siblings
 * were being cancelled (a finalizer that died), never the interruptions of siblings.
 *
 * @since 0.1.0
 */
export class ToolCallFailed extends Schema.TaggedError<ToolCallFailed>()("ToolCallFailed", {
  calls: Schema.Array(FailedCall),
  cause: internal.CauseSchema
}) {
  override get message() {
    const calls = this.calls.map((c) => `${c.tool} (${c.callId})`).join(", ")
    return `Tool call failed: ${calls}: ${internal.describeCause(this.cause)}`
  }
}

/**
 * The conversation needed more model turns than `policy.maxTurns` allows.
 *
 * @since 0.1.0
 */
export class MaxTurnsExceeded extends Schema.TaggedError<MaxTurnsExceeded>()("MaxTurnsExceeded", {
  agent: Schema.String,
  maxTurns: Schema.Number
}) {
  override get message() {
    return `Agent "${this.agent}" reached maxTurns (${this.maxTurns}) without a final answer; raise policy.maxTurns or check for a tool loop.`
  }
}

/**
 * The run handed off more often than `policy.maxHandoffs` allows (usually a cycle).
 *
 * @since 0.1.0
 */
export class HandoffLimitExceeded extends Schema.TaggedError<HandoffLimitExceeded>()("HandoffLimitExceeded", {
  agent: Schema.String,
  target: Schema.String,
  maxHandoffs: Schema.Number
}) {
  override get message() {
    return `Handoff from "${this.agent}" to "${this.target}" refused: the run reached maxHandoffs (${this.maxHandoffs}). Agents may be handing off in a cycle.`
  }
}

/**
 * The whole run took longer than `policy.runTimeout`; everything in flight was interrupted.
 *
 * @since 0.1.0
 */
export class RunTimeout extends Schema.TaggedError<RunTimeout>()("RunTimeout", {
  agent: Schema.String,
  after: Schema.DurationFromSelf
}) {
  override get message() {
    return `Agent "${this.agent}" did not finish within ${Duration.format(this.after)} (policy.runTimeout); the run was interrupted.`
  }
}

/**
 * The run used more tokens than `policy.maxTokens` allows.
 *
 * @since 0.1.0
 */
export class BudgetExceeded extends Schema.TaggedError<BudgetExceeded>()("BudgetExceeded", {
  agent: Schema.String,
  used: Schema.Number,
  maxTokens: Schema.Number
}) {
  override get message() {
    return `Agent "${this.agent}" used ${this.used} tokens, over its budget of ${this.maxTokens} (policy.maxTokens).`
  }
}

/**
 * The agent's final answer did not decode with its `output` Schema, again after going back to
 * the model `retries` times with the Schema error. `detail` is the last Schema error.
 *
 * @since 0.1.0
 * @category errors
 */
export class OutputInvalid extends Schema.TaggedError<OutputInvalid>()("OutputInvalid", {
  agent: Schema.String,
  retries: Schema.Number,
  detail: Schema.String
}) {
  override get message() {
    return `Agent "${this.agent}" answered with output that does not match its output Schema (after ${this.retries} ` +
      `retries): ${this.detail}. Make the instructions describe the expected shape, loosen the Schema, or raise ` +
      `policy.maxOutputRetries.`
  }
}

/**
 * A guardrail tripped (see `Guardrail`): at `stage` `input`, the work it raced was interrupted at
 * that instant; at `output`, the answer was refused (after its feedback retries, if any); at
 * `tool`, a call failed under `fail-fast` (inside `ToolCallFailed`). `info` is what the guardrail
 * tripped with.
 *
 * @since 0.1.0
 * @category errors
 */
export class GuardrailTripped extends Schema.TaggedError<GuardrailTripped>()("GuardrailTripped", {
  guardrail: Schema.String,
  stage: Schema.Literal("input", "output", "tool"),
  info: Schema.Unknown
}) {
  override get message() {
    const what = this.stage === "input"
      ? "The run stopped before acting on its input."
      : this.stage === "output"
      ? "The answer was refused (Guardrail.output's feedback option lets the model answer again)."
      : "The tool call failed (Guardrail.reject answers the model instead)."
    return `Guardrail "${this.guardrail}" tripped on the ${this.stage}: ${internal.describeError(this.info)}. ${what}`
  }
}

/**
 * A guardrail's check failed instead of deciding: the run fails, since a guardrail that cannot
 * decide never counts as a pass. (Not deciding within `policy.guardrailTimeout` is a trip, or a
 * pass with `onTimeout: "pass"`.) `cause` holds what the check failed with.
 *
 * @since 0.1.0
 * @category errors
 */
export class GuardrailFailed extends Schema.TaggedError<GuardrailFailed>()("GuardrailFailed", {
  guardrail: Schema.String,
  stage: Schema.Literal("input", "output", "tool"),
  cause: internal.CauseSchema
}) {
  override get message() {
    return `Guardrail "${this.guardrail}" failed on the ${this.stage} instead of deciding: ${internal.describeCause(this.cause)}. ` +
      `Make its check return Guardrail.pass or Guardrail.trip for every outcome it can handle.`
  }
}

/**
 * Every way a run can fail.
 *
 * @since 0.1.0
 */
export type AgentError =
  | ModelError
  | ToolCallFailed
  | MaxTurnsExceeded
  | HandoffLimitExceeded
  | RunTimeout
  | BudgetExceeded
  | OutputInvalid
  | GuardrailTripped
  | GuardrailFailed

/**
 * A short human-readable description of any error value: its `message`, else its JSON text.
 * It never throws: a value whose `message` getter throws, or that cannot be printed, is
 * described as such.
 *
 * @example
 * ```ts
 * import { AgentError } from "@effect-agents/core"
 *
 * AgentError.describeError(new Error("disk full")) // "disk full"
 * AgentError.describeError({ code: 7 })            // '{"code":7}'
 * ```
 * @since 0.1.0
 * @category utils
 */
export const describeError: (error: unknown) => string = internal.describeError
