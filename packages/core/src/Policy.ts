/**
 * How an agent runs: turn and handoff limits, what a failing tool does to its siblings, tool
 * concurrency, and the model-call timeout and retry schedule.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Schedule from "effect/Schedule"
import type { ModelError } from "./AgentError.js"

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
}

/**
 * Policy options; every field is optional.
 *
 * @since 0.1.0
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
  maxToolOutputChars: undefined
}

/**
 * Resolve options on top of a base policy (the defaults unless given).
 *
 * @example
 * ```ts
 * import { Policy } from "@effect-agents/core"
 *
 * const policy = Policy.make({ maxTurns: 4, toolFailure: "report" })
 * ```
 * @since 0.1.0
 */
export const make = (options: Options = {}, base: Policy = defaults): Policy => ({
  maxTurns: options.maxTurns ?? base.maxTurns,
  maxHandoffs: options.maxHandoffs ?? base.maxHandoffs,
  toolFailure: options.toolFailure ?? base.toolFailure,
  toolConcurrency: options.toolConcurrency ?? base.toolConcurrency,
  modelTimeout: options.modelTimeout !== undefined ? Duration.decode(options.modelTimeout) : base.modelTimeout,
  modelRetry: options.modelRetry ?? base.modelRetry,
  runTimeout: options.runTimeout !== undefined ? Duration.decode(options.runTimeout) : base.runTimeout,
  maxTokens: options.maxTokens ?? base.maxTokens,
  maxToolOutputChars: options.maxToolOutputChars ?? base.maxToolOutputChars
})
