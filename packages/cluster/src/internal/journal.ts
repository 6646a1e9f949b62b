import { type Agent, AgentError, type Approvals, Model, type Tool } from "@effect-agents/core"
import * as ClusterSchema from "@effect/cluster/ClusterSchema"
import { EntityAddress } from "@effect/cluster/EntityAddress"
import { EntityId } from "@effect/cluster/EntityId"
import { EntityType } from "@effect/cluster/EntityType"
import * as MessageStorage from "@effect/cluster/MessageStorage"
import * as Sharding from "@effect/cluster/Sharding"
import * as Activity from "@effect/workflow/Activity"
import * as DurableDeferred from "@effect/workflow/DurableDeferred"
import * as Workflow from "@effect/workflow/Workflow"
import { WorkflowEngine, WorkflowInstance } from "@effect/workflow/WorkflowEngine"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as ParseResult from "effect/ParseResult"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { JournalMismatch } from "../DurableError.js"

/**
 * The journal of a durable run: the `Model` service and the agent's tools wrapped so that each
 * model call and each tool call is a journaled step (an `@effect/workflow` Activity whose
 * execution waits for the call, which runs in the run's own fiber), and approvals wait on a
 * `DurableDeferred`. The run loop itself is core's, unchanged.
 *
 * Activity names are deterministic across replays:
 * - a model call: `model/{agent path}/{contents length}/{hash of the last content}/{n}`, `n`
 *   counting identical keys (the attempts of one turn) in order; two sub-agent runs (`asTool`)
 *   of one agent on the same input at once would share keys;
 * - a tool call: `tool/{agent path}/{turn}/{call id}`, the call id coming from the journaled
 *   model response; an at-most-once tool also journals `…/started` right before its handler runs.
 *
 * @internal
 */

/** One execution (one attempt of the workflow body): what the wrappers need to journal its steps. */
export interface Execution {
  readonly executionId: string
  readonly workflowName: string
  /** Fresh for each attempt of the body: a `started` marker holding another value was written before a restart. */
  readonly nonce: string
  readonly occurrences: Map<string, number>
  readonly instance: WorkflowInstance["Type"]
  readonly engine: WorkflowEngine["Type"]
  /** The fiber of the workflow body: interrupting it suspends the whole run. */
  readonly root: Fiber.RuntimeFiber<unknown, unknown>
  /** Whether the run was asked to stop (see `interruptRequested`). */
  readonly cancelled: Effect.Effect<boolean>
  mismatch: JournalMismatch | undefined
}

/** The execution a tool call belongs to, provided around the run by the workflow body. */
export class CurrentExecution extends Context.Tag("@effect-agents/cluster/CurrentExecution")<CurrentExecution, Execution>() {}

/** FNV-1a, 32 bits, as 8 hex digits: short deterministic keys. */
export const hash = (text: string): string => {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return (h >>> 0).toString(16).padStart(8, "0")
}

const nth = (execution: Execution, key: string): string => {
  const n = (execution.occurrences.get(key) ?? 0) + 1
  execution.occurrences.set(key, n)
  return `${key}/${n}`
}

/** Stop the run on a value the journal holds that this code cannot read: the run ends with `JournalMismatch`. */
const mismatch = (execution: Execution, detail: string): Effect.Effect<never> => {
  execution.mismatch ??= new JournalMismatch({ executionId: execution.executionId, detail })
  return Effect.die(execution.mismatch)
}

/**
 * Suspend the whole run: the workflow ends this attempt as `Suspended` (once running activities
 * are journaled) and is resumed by the engine when a deferred it waits for is done.
 */
const suspend = (execution: Execution): Effect.Effect<never> =>
  Effect.suspend(() => {
    execution.instance.suspended = true
    execution.root.unsafeInterruptAsFork(execution.root.id())
    return Effect.never
  })

/** The engine's interrupt signal (the name `ClusterWorkflowEngine` journals `Workflow.interrupt` under). */
const InterruptSignal = DurableDeferred.make("Workflow/InterruptSignal")

/**
 * Whether the run was asked to stop (`Workflow.interrupt`). On `ClusterWorkflowEngine` the signal
 * is a message to the workflow's entity, which handles it only after the running attempt ends:
 * its request is looked up in the message storage. Elsewhere, the signal's journaled result.
 */
export const interruptRequested = (
  engine: WorkflowEngine["Type"],
  instance: WorkflowInstance["Type"]
): Effect.Effect<Effect.Effect<boolean>, never, never> =>
  Effect.map(
    Effect.all([Effect.serviceOption(MessageStorage.MessageStorage), Effect.serviceOption(Sharding.Sharding)]),
    ([storage, sharding]) => {
      const signalled = Effect.map(
        Effect.provideService(engine.deferredResult(InterruptSignal), WorkflowInstance, instance),
        (signal) => signal !== undefined
      )
      if (storage._tag === "None" || sharding._tag === "None") return signalled
      const entityId = EntityId.make(instance.executionId)
      const address = new EntityAddress({
        entityType: EntityType.make(`Workflow/${instance.workflow.name}`),
        entityId,
        shardId: sharding.value.getShardId(entityId, Context.get(instance.workflow.annotations, ClusterSchema.ShardGroup)(entityId))
      })
      return storage.value.requestIdForPrimaryKey({ address, tag: "deferred", id: InterruptSignal.name }).pipe(
        Effect.map((id) => id._tag === "Some"),
        Effect.orElse(() => signalled)
      )
    }
  )

/**
 * A cancelled run stops at its next step: every model and tool call checks the signal first and
 * suspends the run when it is there; the engine then ends the run as interrupted, journaled, so
 * it is never resumed.
 */
export const checkCancelled = (execution: Execution): Effect.Effect<void> =>
  Effect.flatMap(execution.cancelled, (cancelled) => cancelled ? suspend(execution) : Effect.void)

// -----------------------------------------------------------------------------
// one journaled step
// -----------------------------------------------------------------------------

/**
 * A step journaled as the Activity `name`, run in the caller's fiber. When the journal holds the
 * step's outcome, it is returned and `run` never starts. Otherwise the Activity's execution only
 * waits for `run`, which runs here: interruptible like any call of the run loop (a failing
 * sibling, a timeout, a cancel stop it at once), its outcome journaled by the Activity, an
 * interruption as `onInterrupt`. A crash before the outcome is journaled leaves no trace: a
 * replay runs the step again (at-most-once tools guard against that with a `started` marker).
 */
const step = <A, I>(
  execution: Execution,
  name: string,
  schema: Schema.Schema<A, I>,
  run: Effect.Effect<A>,
  onInterrupt: A
): Effect.Effect<A> =>
  Effect.gen(function*() {
    const needed = yield* Deferred.make<void>()
    const outcome = yield* Deferred.make<A>()
    const activity = Activity.make({
      name,
      success: schema,
      execute: Effect.zipRight(Deferred.succeed(needed, undefined), Deferred.await(outcome))
    })
    // the journal write goes on by itself: a caller interrupted after its outcome is known still journals it
    const journal = yield* Effect.forkDaemon(
      activity.pipe(Effect.provideService(WorkflowInstance, execution.instance), Effect.provideService(WorkflowEngine, execution.engine))
    )
    const runsHere = yield* Effect.race(Effect.as(Deferred.await(needed), true), Effect.as(Fiber.await(journal), false))
    if (runsHere) {
      yield* Effect.onInterrupt(
        Effect.flatMap(run, (value) => Deferred.succeed(outcome, value)),
        () => Deferred.succeed(outcome, onInterrupt)
      )
    }
    return yield* Fiber.join(journal)
  }).pipe(Effect.orDie)

// -----------------------------------------------------------------------------
// model calls
// -----------------------------------------------------------------------------

const encodeResponse = Schema.encode(Model.ModelResponse)
const decodeResponse = ParseResult.decodeUnknownEither(Model.ModelResponse)

/** A model error as JSON: its fields, durations as milliseconds. */
const JournaledModelError = Schema.Struct({ tag: Schema.String, fields: Schema.Record({ key: Schema.String, value: Schema.Unknown }) })

/** What a model call ended with, as journaled. */
const ModelOutcome = Schema.Union(
  Schema.TaggedStruct("Response", { response: Schema.Unknown }),
  Schema.TaggedStruct("Error", { error: JournaledModelError }),
  Schema.TaggedStruct("Interrupted", {})
)
type ModelOutcome = typeof ModelOutcome.Type

const modelErrors: Record<string, new(fields: any) => AgentError.ModelError> = {
  RateLimited: AgentError.RateLimited,
  ModelUnavailable: AgentError.ModelUnavailable,
  InvalidRequest: AgentError.InvalidRequest,
  AuthenticationFailed: AgentError.AuthenticationFailed,
  ContentBlocked: AgentError.ContentBlocked,
  MalformedResponse: AgentError.MalformedResponse,
  ModelTimeout: AgentError.ModelTimeout,
  UnusableResponse: AgentError.UnusableResponse,
  OutputTruncated: AgentError.OutputTruncated
}

const journalModelError = (error: AgentError.ModelError): typeof JournaledModelError.Type => {
  const fields: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(error)) {
    if (key === "_tag" || key === "retryable") continue
    fields[key] = Duration.isDuration(value) ? { "~millis": Duration.toMillis(value) } : value
  }
  return { tag: error._tag, fields }
}

const modelErrorOf = (journaled: typeof JournaledModelError.Type): AgentError.ModelError | undefined => {
  const Class = modelErrors[journaled.tag]
  if (Class === undefined) return undefined
  const fields: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(journaled.fields)) {
    fields[key] = Predicate.hasProperty(value, "~millis") ? Duration.millis(value["~millis"] as number) : value
  }
  return new Class(fields)
}

/**
 * The model of a durable run: each call is a journaled step (its response or error); a replay
 * reads it instead of calling the model. A call interrupted before it answered (its timeout, say)
 * replays as a retryable `ModelUnavailable`, so the run takes the same path again. A streamed
 * call is journaled whole and replayed as one chunk.
 */
export const durableModel = (model: Model.Model.Service, execution: Execution): Model.Model.Service => {
  const generate = (request: Model.ModelRequest): Effect.Effect<Model.ModelResponse, AgentError.ModelError> =>
    Effect.suspend(() => {
      const last = request.contents[request.contents.length - 1]
      const name = nth(execution, `model/${request.agent}/${request.contents.length}/${hash(JSON.stringify(last ?? null))}`)
      const call = Effect.matchEffect(model.generate(request), {
        onFailure: (error) => Effect.succeed<ModelOutcome>({ _tag: "Error", error: journalModelError(error) }),
        onSuccess: (response) => Effect.map(Effect.orDie(encodeResponse(response)), (json): ModelOutcome => ({ _tag: "Response", response: json }))
      })
      return Effect.zipRight(checkCancelled(execution), step(execution, name, ModelOutcome, call, { _tag: "Interrupted" })).pipe(
        Effect.flatMap((outcome): Effect.Effect<Model.ModelResponse, AgentError.ModelError> => {
          switch (outcome._tag) {
            case "Response": {
              const decoded = decodeResponse(outcome.response)
              return Either.isRight(decoded)
                ? Effect.succeed(decoded.right)
                : mismatch(execution, `the journaled model response ${name} does not decode: ${ParseResult.TreeFormatter.formatIssueSync(decoded.left)}`)
            }
            case "Error": {
              const error = modelErrorOf(outcome.error)
              return error === undefined ? mismatch(execution, `the journaled model error ${outcome.error.tag} is unknown`) : Effect.fail(error)
            }
            case "Interrupted":
              return Effect.fail(new AgentError.ModelUnavailable({ detail: `the call ${name} was interrupted before it answered` }))
          }
        })
      )
    })
  return {
    generate,
    stream: (request) =>
      Stream.map(
        Stream.fromEffect(generate(request)),
        (response): Model.ModelChunk => ({ parts: response.parts, usage: response.usage, finishReason: response.finishReason })
      ),
    info: model.info
  }
}

// -----------------------------------------------------------------------------
// tool calls
// -----------------------------------------------------------------------------

/** What a tool call ended with, as journaled: its encoded result, its failure's message, an unknown outcome, an interruption. */
const Outcome = Schema.Union(
  Schema.TaggedStruct("Success", { value: Schema.Unknown }),
  Schema.TaggedStruct("Failure", { message: Schema.String, timeoutMillis: Schema.optional(Schema.Number) }),
  Schema.TaggedStruct("Unknown", {}),
  Schema.TaggedStruct("Interrupted", {})
)
type Outcome = typeof Outcome.Type

/**
 * A tool failure read back from the journal: the model reads the same message as when it
 * happened (a replay cannot rebuild the handler's own error value).
 *
 * @internal
 */
export class JournaledToolFailure extends Schema.TaggedError<JournaledToolFailure>()("JournaledToolFailure", {
  tool: Schema.String,
  callId: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return this.detail
  }
}

/** The handler with the tool's own retry, timeout and scope (the run loop sees the journaled copy without them). */
const withPolicies = (tool: Tool.Any, params: unknown, call: Tool.Call | undefined): Effect.Effect<unknown, unknown, any> => {
  let effect: Effect.Effect<unknown, unknown, any> = Effect.suspend(() => tool.handler(params, call))
  if (tool.scoped) effect = Effect.scoped(effect)
  if (tool.retry !== undefined) effect = Effect.retry(effect, tool.retry)
  const timeout = tool.timeout
  if (timeout !== undefined) {
    effect = Effect.timeoutFail(effect, {
      duration: timeout,
      onTimeout: () => new AgentError.ToolTimeout({ tool: tool.name, callId: call?.id ?? "", after: timeout })
    })
  }
  return effect
}

/** A failed (not interrupted) handler's outcome: the message the model reads. */
const failureOf = (tool: Tool.Any, cause: Cause.Cause<unknown>): Outcome => {
  const failure = Cause.failureOption(cause)
  if (failure._tag === "Some") {
    const error = failure.value
    return error instanceof AgentError.ToolTimeout
      ? { _tag: "Failure", message: error.message, timeoutMillis: Duration.toMillis(error.after) }
      : { _tag: "Failure", message: AgentError.describeError(error) }
  }
  return Cause.isInterruptedOnly(cause)
    ? { _tag: "Failure", message: `Tool "${tool.name}" was cancelled before it finished; it has no result.` }
    : { _tag: "Failure", message: `Tool "${tool.name}" crashed: ${AgentError.describeError(Cause.squash(cause))}` }
}

/**
 * A copy of `tool` whose calls, in a durable run, are journaled steps: the handler (with its
 * retry, timeout and scope) runs once and its outcome is journaled; a replay reads the outcome.
 * An at-most-once call that started before a restart but has no journaled outcome is not run
 * again: it fails with `ToolOutcomeUnknown`, which the model reads.
 */
export const journaledTool = (tool: Tool.Any): Tool.Any => {
  const encode = Schema.encodeUnknown(tool.success)
  const decode = ParseResult.decodeUnknownEither(tool.success)
  const handler = (params: unknown, call?: Tool.Call): Effect.Effect<unknown, unknown, any> =>
    Effect.flatMap(Effect.serviceOption(CurrentExecution), (current) => {
      if (current._tag === "None" || call === undefined) return withPolicies(tool, params, call)
      const execution = current.value
      const name = `tool/${call.agent}/${call.turn}/${call.id}`
      // a handler interrupted from outside (its group, its run) ends its `step`, which journals that
      const run = Effect.catchAllCause(
        Effect.map(Effect.flatMap(withPolicies(tool, params, call), encode), (value): Outcome => ({ _tag: "Success", value })),
        (cause) => Effect.succeed(failureOf(tool, cause))
      ) as Effect.Effect<Outcome>
      // at most once: once the journal is known to hold no outcome, a `started` marker is journaled right
      // before the handler runs; a marker from an earlier attempt means it may have run: its outcome is unknown
      const once = tool.durability === "idempotent" ? run : Effect.flatMap(
        step(execution, `${name}/started`, Schema.String, Effect.succeed(execution.nonce), execution.nonce),
        (nonce) => nonce === execution.nonce ? run : Effect.succeed<Outcome>({ _tag: "Unknown" })
      )
      const outcome = step(execution, name, Outcome, once, { _tag: "Interrupted" })
      return Effect.zipRight(checkCancelled(execution), outcome).pipe(
        Effect.flatMap((outcome): Effect.Effect<unknown, unknown> => {
          switch (outcome._tag) {
            case "Success": {
              const decoded = decode(outcome.value)
              return Either.isRight(decoded)
                ? Effect.succeed(decoded.right)
                : mismatch(
                  execution,
                  `the journaled result of tool "${tool.name}" (${name}) does not decode: ${ParseResult.TreeFormatter.formatIssueSync(decoded.left)}`
                )
            }
            case "Failure":
              return Effect.fail(
                outcome.timeoutMillis !== undefined
                  ? new AgentError.ToolTimeout({ tool: tool.name, callId: call.id, after: Duration.millis(outcome.timeoutMillis) })
                  : new JournaledToolFailure({ tool: tool.name, callId: call.id, detail: outcome.message })
              )
            case "Unknown":
              return Effect.fail(new AgentError.ToolOutcomeUnknown({ tool: tool.name, callId: call.id }))
            case "Interrupted":
              return Effect.interrupt
          }
        })
      )
    })
  // retry, timeout and scope run inside the step; the run loop sees a plain handler
  return Object.assign(Object.create(Object.getPrototypeOf(tool)), tool, {
    handler,
    retry: undefined,
    timeout: undefined,
    scoped: false
  }) as Tool.Any
}

// -----------------------------------------------------------------------------
// approvals
// -----------------------------------------------------------------------------

const Decision = Schema.Struct({ approve: Schema.Boolean, reason: Schema.optional(Schema.String) })

/** The deferred holding the decision on a call of a durable run. */
export const approvalDeferred = (callId: string) => DurableDeferred.make(`approval/${callId}`, { success: Decision })

/**
 * Approvals of a durable run: a call waits on a `DurableDeferred`. Without a journaled decision
 * the whole run suspends (its running activities finish and are journaled first); the decision,
 * from any process, resumes it on whichever runner owns it.
 */
export const durableApprovals = (execution: Execution): Approvals.Service => ({
  request: (_runId, callId) =>
    Effect.flatMap(
      Workflow.wrapActivityResult(execution.engine.deferredResult(approvalDeferred(callId)), Predicate.isUndefined).pipe(
        Effect.provideService(WorkflowInstance, execution.instance)
      ),
      (exit) => exit === undefined ? suspend(execution) : Effect.orDie(exit)
    ),
  decide: (_runId, callId, decision) =>
    execution.engine.deferredDone(approvalDeferred(callId), {
      workflowName: execution.workflowName,
      executionId: execution.executionId,
      deferredName: approvalDeferred(callId).name,
      exit: Exit.succeed(decision)
    }),
  pending: Effect.succeed([])
})

// -----------------------------------------------------------------------------
// what a journal depends on
// -----------------------------------------------------------------------------

/**
 * The shape of an agent a journal depends on: per agent reachable by handoffs, its name and
 * output schema, its tools' names, declarations, success schemas and durability. A run journaled
 * under one fingerprint is not resumed under another (`JournalMismatch`).
 */
export const fingerprint = (agent: Agent.Any): string => {
  const seen = new Set<Agent.Any>()
  const parts: Array<string> = []
  const visit = (agent: Agent.Any) => {
    if (seen.has(agent)) return
    seen.add(agent)
    parts.push(`agent ${agent.name} ${agent.output === undefined ? "text" : String(agent.output.ast)}`)
    for (const tool of agent.tools) {
      parts.push(`tool ${tool.name} ${JSON.stringify(tool.declaration.parameters)} ${String(tool.success.ast)} ${tool.durability}`)
    }
    for (const handoff of agent.handoffs) visit(handoff.target())
  }
  visit(agent)
  return hash(parts.join("\n"))
}
