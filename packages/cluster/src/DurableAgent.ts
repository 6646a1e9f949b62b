/**
 * Durable runs: `Agent.run`'s turn loop as an `@effect/workflow` Workflow.
 *
 * The loop is core's own; only what it calls is journaled. Each model call is an Activity: a
 * replay after a crash reads the recorded response and never calls the model again. Each tool
 * call is an Activity journaled with its outcome; a tool says how a crash in the middle of a call
 * is handled with `durability`:
 *
 * - `"at-most-once"` (the default): a call that had started but has no journaled outcome is not
 *   run again; the model reads the error "the outcome of this call is unknown; it was not retried"
 *   (`ToolOutcomeUnknown`), whatever the `toolFailure` policy;
 * - `"idempotent"`: such a call runs again.
 *
 * TaskGroup semantics stay: a failing tool interrupts its siblings, and their outcomes are
 * journaled as they end. Approvals (`needsApproval` tools) wait on a `DurableDeferred`: the
 * process may stop while a human decides, and `DurableAgent.decide` resumes the run wherever it
 * is owned. A journal written by an agent whose tools or output schema have changed is not
 * resumed: the run ends with `JournalMismatch`.
 *
 * Not journaled: events (they are published again on replay), tools made by `Agent.asTool` (their
 * model calls are journaled, their own tools run again on replay) and tools from toolsets.
 *
 * @since 0.1.0
 */
import { Agent, AgentError, Approvals, Content, type Model as ModelModule, Model } from "@effect-agents/core"
import * as Workflow from "@effect/workflow/Workflow"
import { WorkflowEngine, WorkflowInstance } from "@effect/workflow/WorkflowEngine"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Layer from "effect/Layer"
import * as Random from "effect/Random"
import * as Schema from "effect/Schema"
import { ConversationIdInvalid, type DurableError, JournalMismatch, RunCancelled, RunError, RunFailed } from "./DurableError.js"
import * as journal from "./internal/journal.js"

/**
 * What a run journals as its result: the `RunResult` without its events, the output encoded.
 *
 * @since 0.1.0
 * @category schemas
 */
export const JournaledResult = Schema.Struct({
  runId: Schema.String,
  agent: Schema.String,
  text: Schema.String,
  output: Schema.Unknown,
  history: Content.History,
  usage: Model.Usage,
  turns: Schema.Number
})

const Payload = Schema.Struct({
  conversationId: Schema.String,
  runId: Schema.String,
  prompt: Schema.String,
  history: Content.History,
  /** The shape of the agent that started the run (see `JournalMismatch`). */
  fingerprint: Schema.String
})

/**
 * The durable form of an agent: its workflow and its journaled copy.
 *
 * @since 0.1.0
 * @category models
 */
export interface Durable<R, A> {
  readonly agent: Agent.Agent<R, A>
  readonly workflow: Workflow.Workflow<string, typeof Payload, typeof JournaledResult, typeof RunError>
  /** The agent whose tools (and handoff targets' tools) are journaled. */
  readonly journaled: Agent.Agent<R, A>
  readonly fingerprint: string
}

const durables = new WeakMap<Agent.Any, Durable<any, any>>()

/**
 * The durable form of an agent, built once per agent value. Its workflow is named
 * `effect-agents/{agent name}`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const durable = <R, A>(agent: Agent.Agent<R, A>): Durable<R, A> => {
  let found = durables.get(agent)
  if (found === undefined) {
    found = {
      agent,
      workflow: Workflow.make({
        name: `effect-agents/${agent.name}`,
        payload: Payload,
        success: JournaledResult,
        error: RunError,
        idempotencyKey: (payload) => `${payload.conversationId}/${payload.runId}`
      }),
      journaled: Agent.mapTools(agent, journal.journaledTool),
      fingerprint: journal.fingerprint(agent)
    }
    durables.set(agent, found)
  }
  return found
}

const nonce = (): string => `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 12)}`

/** The workflow body: the core run of the journaled agent, with the durable model and approvals. */
const body = <R, A>(self: Durable<R, A>) =>
(
  payload: typeof Payload.Type,
  executionId: string
): Effect.Effect<typeof JournaledResult.Type, typeof RunError.Type, any> =>
  Effect.withFiberRuntime((fiber) =>
    Effect.gen(function*() {
      if (payload.fingerprint !== self.fingerprint) {
        return yield* new JournalMismatch({
          executionId,
          detail: `the agent "${self.agent.name}" has other tools, tool schemas or output schema than when the run was journaled`
        })
      }
      const instance = yield* WorkflowInstance
      const engine = yield* WorkflowEngine
      const execution: journal.Execution = {
        executionId,
        workflowName: self.workflow.name,
        nonce: nonce(),
        occurrences: new Map(),
        instance,
        engine,
        root: fiber,
        cancelled: yield* journal.interruptRequested(engine, instance),
        mismatch: undefined
      }
      const model = yield* Model.Model
      const exit = yield* Effect.exit(
        Agent.run(self.journaled, { prompt: payload.prompt, history: payload.history }).pipe(
          Effect.provideService(Model.Model, journal.durableModel(model, execution)),
          Effect.provideService(Approvals.Approvals, journal.durableApprovals(execution)),
          Effect.provideService(journal.CurrentExecution, execution),
          // the run id (and anything else drawn at random by the loop) is the same on every replay
          Effect.withRandom(Random.make(executionId))
        )
      )
      if (execution.mismatch !== undefined) return yield* execution.mismatch
      if (Exit.isSuccess(exit)) {
        const result = exit.value
        const output = self.agent.output === undefined
          ? result.output
          : yield* Effect.orDie(Schema.encodeUnknown(self.agent.output)(result.output))
        return {
          runId: result.runId,
          agent: result.agent,
          text: result.text,
          output,
          history: result.history,
          usage: result.usage,
          turns: result.turns
        }
      }
      // suspended (an approval, a cancel) or interrupted: the engine decides what it is
      if (Cause.isInterruptedOnly(exit.cause)) return yield* Effect.failCause(exit.cause as Cause.Cause<never>)
      const failure = Cause.failureOption(exit.cause)
      return yield* new RunFailed({
        executionId,
        error: failure._tag === "Some" ? failure.value._tag : "Defect",
        detail: AgentError.describeError(failure._tag === "Some" ? failure.value : Cause.squash(exit.cause))
      })
    })
  )

/**
 * Register the agent's workflow with the engine (`WorkflowEngine`, e.g. from `Durable.layerSqlite`).
 * The runner that executes durable runs of the agent needs this layer, a `Model` and the agent's
 * requirements.
 *
 * @example
 * ```ts
 * import { Durable, DurableAgent } from "@effect-agents/cluster"
 * import { Agent } from "@effect-agents/core"
 * import { ScriptedModel } from "@effect-agents/testing"
 * import { Layer } from "effect"
 * declare const math: Agent.Agent
 *
 * const Runner = DurableAgent.layer(math).pipe(
 *   Layer.provideMerge(Durable.layerSqlite({ filename: "agents.db" })),
 *   Layer.provide(ScriptedModel.layer([ScriptedModel.text("hi")]))
 * )
 * ```
 * @since 0.1.0
 * @category layers
 */
export const layer = <R, A>(agent: Agent.Agent<R, A>): Layer.Layer<never, never, WorkflowEngine | ModelModule.Model | R> => {
  const self = durable(agent)
  return self.workflow.toLayer(body(self)) as Layer.Layer<never, never, WorkflowEngine | ModelModule.Model | R>
}

/**
 * Options of {@link run}.
 *
 * @since 0.1.0
 * @category models
 */
export interface RunOptions {
  /** The conversation the run belongs to: a safe string (see `ConversationIdInvalid`). */
  readonly conversationId: string
  /**
   * Which run of the conversation: runs with the same conversation id and run id are the same
   * run (resumed, or its journaled result returned). Default: derived from the input, so the same
   * prompt on the same history is the same run.
   */
  readonly runId?: string | undefined
}

const safeId = /^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$/

/**
 * Check a conversation id: 1 to 128 characters among letters, digits and `_ . : @ -`, starting
 * with a letter or a digit.
 *
 * @since 0.1.0
 * @category validation
 */
export const checkConversationId = (conversationId: unknown): Effect.Effect<string, ConversationIdInvalid> =>
  typeof conversationId === "string" && safeId.test(conversationId)
    ? Effect.succeed(conversationId)
    : Effect.fail(new ConversationIdInvalid({ conversationId: String(conversationId) }))

/**
 * The workflow payload of a run of `self` on `input` (its journal key is the conversation id and
 * the run id).
 *
 * @since 0.1.0
 * @category constructors
 */
export const payloadOf = (
  self: Durable<any, any>,
  input: Agent.Input,
  options: RunOptions
): typeof Payload.Type => {
  const prompt = typeof input === "string" ? input : input.prompt
  const history = typeof input === "string" ? [] : input.history ?? []
  return {
    conversationId: options.conversationId,
    runId: options.runId ?? `${history.length}-${journal.hash(JSON.stringify([prompt, history]))}`,
    prompt,
    history,
    fingerprint: self.fingerprint
  }
}

/**
 * The execution id of a run: the key of its journal.
 *
 * @since 0.1.0
 * @category accessors
 */
export const executionId = <R, A>(agent: Agent.Agent<R, A>, input: Agent.Input, options: RunOptions): Effect.Effect<string> => {
  const self = durable(agent)
  return self.workflow.executionId(payloadOf(self, input, options))
}

/**
 * The journaled result of a run, as a `RunResult` (without events: they are not journaled).
 *
 * @since 0.1.0
 * @category constructors
 */
export const resultOf = <A>(agent: Agent.Agent<any, A>, journaled: typeof JournaledResult.Type): Effect.Effect<Agent.RunResult<A>> =>
  Effect.map(
    agent.output === undefined ? Effect.succeed(journaled.output) : Effect.orDie(Schema.decodeUnknown(agent.output)(journaled.output)),
    (output) => ({ ...journaled, output: output as A, events: [] })
  )

/**
 * Run a conversation to its final answer, durably: the run is journaled, a crash resumes it
 * where the journal ends (on whichever runner owns it), and calling `run` again with the same
 * conversation and run id returns the journaled result. Needs a `WorkflowEngine` on which
 * {@link layer} registered the agent. `RunResult.events` is empty: events are not journaled.
 *
 * @example
 * ```ts
 * import { DurableAgent } from "@effect-agents/cluster"
 * import { Agent } from "@effect-agents/core"
 * declare const math: Agent.Agent
 *
 * const answer = DurableAgent.run(math, "What is 2 + 3?", { conversationId: "user-42" })
 * ```
 * @since 0.1.0
 * @category running
 */
export const run = <R, A>(
  agent: Agent.Agent<R, A>,
  input: Agent.Input,
  options: RunOptions
): Effect.Effect<Agent.RunResult<A>, DurableError, WorkflowEngine> =>
  Effect.flatMap(checkConversationId(options.conversationId), () => {
    const self = durable(agent)
    const payload = payloadOf(self, input, options)
    return Effect.flatMap(
      Effect.catchAllCause(self.workflow.execute(payload), (cause) =>
        Cause.isInterruptedOnly(cause)
          ? Effect.flatMap(self.workflow.executionId(payload), (executionId) => Effect.fail(new RunCancelled({ executionId })))
          : Effect.failCause(cause)),
      (journaled) => resultOf(agent, journaled)
    )
  })

/**
 * Decide on a call waiting for approval in a durable run (the `callId` of its
 * `ApprovalRequested`). The decision is journaled; the run resumes on whichever runner owns it,
 * even if the process that started it is gone.
 *
 * @since 0.1.0
 * @category approvals
 */
export const decide = <R, A>(
  agent: Agent.Agent<R, A>,
  executionId: string,
  callId: string,
  decision: Approvals.Decision
): Effect.Effect<void, never, WorkflowEngine> =>
  Effect.flatMap(WorkflowEngine, (engine) =>
    engine.deferredDone(journal.approvalDeferred(callId), {
      workflowName: durable(agent).workflow.name,
      executionId,
      deferredName: journal.approvalDeferred(callId).name,
      exit: Exit.succeed(decision)
    }))

/**
 * Cancel a durable run: the interruption is journaled, the run stops at its next model or tool
 * call (a call in flight finishes and is journaled first), and it is never resumed.
 *
 * @since 0.1.0
 * @category running
 */
export const cancel = <R, A>(agent: Agent.Agent<R, A>, executionId: string): Effect.Effect<void, never, WorkflowEngine> =>
  durable(agent).workflow.interrupt(executionId)
