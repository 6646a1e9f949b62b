/**
 * How an agent runs: turn and handoff limits, what a failing tool does to its siblings, tool
 * concurrency, and the model-call timeout and retry schedule.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Schedule from "effect/Schedule"
import type { ModelError } from "./AgentError.js"
import * as validate from "./internal/validate.js"

/**
 * - `fail-fast`: asyncio `TaskGroup`. The first failure interrupts every sibling of its
 *   tool-call group and fails the run with `ToolCallFailed`.
 * - `report`: `gather(return_exceptions=True)`. Each failure goes back to the model as an error
 *   function response; siblings go on.
 *
 * @since 0.1.0
 */
export type ToolFailure = "fail-fast" | "report"

/**
 * A resolved policy.
 *
 * @since 0.1.0
 */
export interface Policy {
  /** Model turns an agent may take before `MaxTurnsExceeded`. Default 10. */
  readonly maxTurns: number
  /** Handoffs a run may make before `HandoffLimitExceeded`. Default 5. */
  readonly maxHandoffs: number
  /** Default `fail-fast`. */
  readonly toolFailure: ToolFailure
  /** Tool calls of one model response that run at once. Default 8. */
  readonly toolConcurrency: number | "unbounded"
  /** Timeout of one model call attempt. Default 60 seconds. */
  readonly modelTimeout: Duration.Duration
  /** When to retry a retryable model error (429, 5xx, timeouts). A server-supplied retry delay wins over the schedule's delay. */
  readonly modelRetry: Schedule.Schedule<unknown, ModelError>
  /** Deadline of a whole run (`RunTimeout`). Default none. */
  readonly runTimeout: Duration.Duration | undefined
  /** Token budget of a whole run (`BudgetExceeded`). Default none. */
  readonly maxTokens: number | undefined
  /**
   * Longest tool output (in characters of its JSON text) sent back to the model; a longer one
   * is cut, with a note saying so the model can read. Default none.
   */
  readonly maxToolOutputChars: number | undefined
  /**
   * How long a call of a tool made with `needsApproval` waits for a decision; past it the call is
   * denied (the model reads that no decision came in time). Default none (it waits until decided
   * or interrupted).
   */
  readonly approvalTimeout: Duration.Duration | undefined
  /**
   * How many times an answer that does not decode with the agent's `output` Schema goes back to
   * the model with the Schema error before the run fails with `OutputInvalid`. Default 2.
   */
  readonly maxOutputRetries: number
  /**
   * How long one guardrail may take to decide (see `Guardrail`); past it the guardrail trips, or
   * passes when made with `onTimeout: "pass"`. Default none.
   */
  readonly guardrailTimeout: Duration.Duration | undefined
}

/**
 * Policy options; every field is optional. Values are checked when the policy is made
 * (`Policy.make`, `Agent.make`, `Agent.withPolicy`):
 *
 * - `maxTurns`, `maxHandoffs`, `maxTokens`, `maxToolOutputChars`: positive integers;
 * - `toolConcurrency`: a positive integer or `"unbounded"`;
 * - `modelTimeout`, `runTimeout`, `approvalTimeout`, `guardrailTimeout`: finite durations `>= 0` (`NaN`, negative and infinite ones are refused);
 * - `maxOutputRetries`: an integer `>= 0`;
 * - `toolFailure`: `"fail-fast"` or `"report"`; `modelRetry`: a `Schedule`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly maxTurns?: number | undefined
  readonly maxHandoffs?: number | undefined
  readonly toolFailure?: ToolFailure | undefined
  readonly toolConcurrency?: number | "unbounded" | undefined
  readonly modelTimeout?: Duration.DurationInput | undefined
  readonly modelRetry?: Schedule.Schedule<unknown, ModelError> | undefined
  readonly runTimeout?: Duration.DurationInput | undefined
  readonly maxTokens?: number | undefined
  readonly maxToolOutputChars?: number | undefined
  readonly approvalTimeout?: Duration.DurationInput | undefined
  readonly maxOutputRetries?: number | undefined
  readonly guardrailTimeout?: Duration.DurationInput | undefined
}

/**
 * Exponential backoff from 500 ms, jittered, at most 4 retries.
 *
 * @since 0.1.0
 */
export const defaultModelRetry: Schedule.Schedule<unknown, ModelError> = Schedule.exponential("500 millis").pipe(
  Schedule.jittered,
  Schedule.intersect(Schedule.recurs(4))
)

/**
 * @since 0.1.0
 */
export const defaults: Policy = {
  maxTurns: 10,
  maxHandoffs: 5,
  toolFailure: "fail-fast",
  toolConcurrency: 8,
  modelTimeout: Duration.seconds(60),
  modelRetry: defaultModelRetry,
  runTimeout: undefined,
  maxTokens: undefined,
  maxToolOutputChars: undefined,
  approvalTimeout: undefined,
  maxOutputRetries: 2,
  guardrailTimeout: undefined
}

const toolFailures: ReadonlyArray<ToolFailure> = ["fail-fast", "report"]

/**
 * Resolve options on top of a base policy (the defaults unless given).
 *
 * Throws an `IllegalArgumentException` naming the field, the value and the rule when a value is
 * out of range (`Invalid policy: maxTurns must be a positive integer, got NaN`): a bad value
 * fails where it is written, never as a silently wrong run.
 *
 * @example
 * ```ts
 * import { Policy } from "@effect-agents/core"
 *
 * const policy = Policy.make({ maxTurns: 4, toolFailure: "report" })
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}, base: Policy = defaults): Policy => {
  const subject = "policy"
  if (options.maxTurns !== undefined) validate.positiveInteger(subject, "maxTurns", options.maxTurns)
  if (options.maxHandoffs !== undefined) validate.positiveInteger(subject, "maxHandoffs", options.maxHandoffs)
  if (options.toolFailure !== undefined) validate.oneOf(subject, "toolFailure", options.toolFailure, toolFailures)
  if (options.toolConcurrency !== undefined) validate.concurrency(subject, "toolConcurrency", options.toolConcurrency)
  if (options.modelRetry !== undefined && !Schedule.isSchedule(options.modelRetry)) {
    throw validate.invalid(subject, `modelRetry must be a Schedule, got ${validate.show(options.modelRetry)}`)
  }
  if (options.maxTokens !== undefined) validate.positiveInteger(subject, "maxTokens", options.maxTokens)
  if (options.maxOutputRetries !== undefined && !(Number.isInteger(options.maxOutputRetries) && options.maxOutputRetries >= 0)) {
    throw validate.invalid(subject, `maxOutputRetries must be an integer >= 0, got ${validate.show(options.maxOutputRetries)}`)
  }
  if (options.maxToolOutputChars !== undefined) {
    validate.positiveInteger(subject, "maxToolOutputChars", options.maxToolOutputChars)
  }
  /** A duration option, validated, or the base policy's. */
  const durationOf = <K extends "modelTimeout" | "runTimeout" | "approvalTimeout" | "guardrailTimeout">(name: K): Policy[K] =>
    options[name] !== undefined ? validate.duration(subject, name, options[name]) as Policy[K] : base[name]
  return {
    maxTurns: options.maxTurns ?? base.maxTurns,
    maxHandoffs: options.maxHandoffs ?? base.maxHandoffs,
    toolFailure: options.toolFailure ?? base.toolFailure,
    toolConcurrency: options.toolConcurrency ?? base.toolConcurrency,
    modelTimeout: durationOf("modelTimeout"),
    modelRetry: options.modelRetry ?? base.modelRetry,
    runTimeout: durationOf("runTimeout"),
    maxTokens: options.maxTokens ?? base.maxTokens,
    maxToolOutputChars: options.maxToolOutputChars ?? base.maxToolOutputChars,
    approvalTimeout: durationOf("approvalTimeout"),
    maxOutputRetries: options.maxOutputRetries ?? base.maxOutputRetries,
    guardrailTimeout: durationOf("guardrailTimeout")
  }
}
