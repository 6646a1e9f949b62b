/**
 * The errors of durable runs and conversations.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * A journaled run cannot be resumed by this code: the agent's tools or output changed (their
 * schemas, or the tools themselves) since the run was journaled, or a journaled value no longer
 * decodes. The run is ended with this error, once; it is never retried.
 *
 * @since 0.1.0
 * @category errors
 */
export class JournalMismatch extends Schema.TaggedError<JournalMismatch>()("JournalMismatch", {
  executionId: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `The journaled run ${this.executionId} does not match the code resuming it: ${this.detail}. ` +
      `The run was ended; send the prompt again to start a new run with the current agent.`
  }
}

/**
 * A durable run ended with an `AgentError` (or a defect): its tag and message, as journaled.
 *
 * @since 0.1.0
 * @category errors
 */
export class RunFailed extends Schema.TaggedError<RunFailed>()("RunFailed", {
  executionId: Schema.String,
  /** The `_tag` of the `AgentError` the run failed with, or `Defect`. */
  error: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `The durable run ${this.executionId} failed with ${this.error}: ${this.detail}`
  }
}

/**
 * The run was cancelled (`Conversation.cancel`, or the workflow was interrupted): journaled as
 * such, it is not resumed.
 *
 * @since 0.1.0
 * @category errors
 */
export class RunCancelled extends Schema.TaggedError<RunCancelled>()("RunCancelled", {
  executionId: Schema.String
}) {
  override get message() {
    return `The durable run ${this.executionId} was cancelled; it will not be resumed. Send a new prompt to continue.`
  }
}

/**
 * A conversation id that is not a safe string: 1 to 128 characters among letters, digits and
 * `_ . : @ -`, starting with a letter or a digit.
 *
 * @since 0.1.0
 * @category errors
 */
export class ConversationIdInvalid extends Schema.TaggedError<ConversationIdInvalid>()("ConversationIdInvalid", {
  conversationId: Schema.String
}) {
  override get message() {
    return `The conversation id ${JSON.stringify(this.conversationId.slice(0, 160))} is refused: use 1 to 128 characters ` +
      `among letters, digits and _ . : @ - (starting with a letter or a digit).`
  }
}

/**
 * What a durable run can fail with.
 *
 * @since 0.1.0
 * @category errors
 */
export type DurableError = JournalMismatch | RunFailed | RunCancelled | ConversationIdInvalid

/**
 * The schema of the errors a journaled run ends with.
 *
 * @since 0.1.0
 * @category schemas
 */
export const RunError = Schema.Union(JournalMismatch, RunFailed, RunCancelled)
