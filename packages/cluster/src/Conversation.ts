/**
 * Conversations as cluster entities: `Conversation/{agent name}`, keyed by conversation id.
 *
 * One entity per conversation, wherever it runs: its runs are serialised (one writer), each a
 * durable run of the agent (`DurableAgent`) on the same sharding (`ClusterWorkflowEngine`), and
 * its history is kept in the cluster's SQL database (table `effect_agents_conversations`), saved
 * when a run completes. `send` is a persisted message: a runner that dies mid-run is replaced,
 * the message is delivered again, and the journaled run resumes where it stopped.
 *
 * A run that fails, is cancelled or cannot be resumed (`JournalMismatch`) leaves the history as
 * it was; the next `send` starts a new run.
 *
 * @since 0.1.0
 */
import { type Agent, type Approvals, Content, Model } from "@effect-agents/core"
import * as ClusterSchema from "@effect/cluster/ClusterSchema"
import * as Entity from "@effect/cluster/Entity"
import type { Sharding } from "@effect/cluster/Sharding"
import * as Rpc from "@effect/rpc/Rpc"
import * as SqlClient from "@effect/sql/SqlClient"
import type { WorkflowEngine } from "@effect/workflow/WorkflowEngine"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as DurableAgent from "./DurableAgent.js"
import { type ConversationIdInvalid, RunCancelled, RunError, RunFailed } from "./DurableError.js"

/**
 * The answer to a `send`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Reply = Schema.Struct({
  /** The journal of the run (for `DurableAgent.decide` and logs). */
  executionId: Schema.String,
  agent: Schema.String,
  text: Schema.String,
  /** The final answer, encoded with the agent's `output` Schema (the text for a text agent). */
  output: Schema.Unknown,
  turns: Schema.Number,
  usage: Model.Usage
})

/**
 * @since 0.1.0
 * @category models
 */
export interface Reply extends Schema.Schema.Type<typeof Reply> {}

const Send = Rpc.make("send", { payload: { prompt: Schema.String }, success: Reply, error: RunError })
  .annotate(ClusterSchema.Persisted, true)
const GetHistory = Rpc.make("history", { success: Content.History })
const Cancel = Rpc.make("cancel", { success: Schema.Boolean })
const Running = Rpc.make("running", { success: Schema.OptionFromNullOr(Schema.String) })
const Decide = Rpc.make("decide", {
  payload: { callId: Schema.String, approve: Schema.Boolean, reason: Schema.optional(Schema.String) },
  success: Schema.Boolean
})

const entities = new WeakMap<Agent.Any, ReturnType<typeof makeEntity>>()
const makeEntity = (name: string) => Entity.make(`Conversation/${name}`, [Send, GetHistory, Cancel, Decide, Running])

/**
 * The entity of an agent's conversations, made once per agent value.
 *
 * @since 0.1.0
 * @category constructors
 */
export const entity = (agent: Agent.Any) => {
  let found = entities.get(agent)
  if (found === undefined) {
    found = makeEntity(agent.name)
    entities.set(agent, found)
  }
  return found
}

const table = "effect_agents_conversations"

const StoredHistory = Schema.parseJson(Content.History)

/** Create the history table once (several runners may race: a failed creation is retried). */
const migrate = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  sql.unsafe(
    `CREATE TABLE IF NOT EXISTS ${table} (kind TEXT NOT NULL, id TEXT NOT NULL, history TEXT NOT NULL, ` +
      `running TEXT, PRIMARY KEY (kind, id))`
  ).pipe(Effect.retry(Schedule.recurs(3)), Effect.orDie))

/**
 * The runner side of an agent's conversations: registers the entity and the agent's workflow.
 * Needs a sharding with its SQL database and `WorkflowEngine` (`Durable.layerSqlite` or
 * `Durable.layerRunner`), a `Model` and the agent's requirements.
 *
 * @example
 * ```ts
 * import { Conversation, Durable } from "@effect-agents/cluster"
 * import { Agent } from "@effect-agents/core"
 * import { Layer } from "effect"
 * declare const math: Agent.Agent
 *
 * const Runner = Conversation.layer(math).pipe(Layer.provideMerge(Durable.layerSqlite({ filename: "agents.db" })))
 * ```
 * @since 0.1.0
 * @category layers
 */
export const layer = <R, A>(
  agent: Agent.Agent<R, A>
): Layer.Layer<never, never, Sharding | WorkflowEngine | SqlClient.SqlClient | Model.Model | R> => {
  const self = DurableAgent.durable(agent)
  const kind = agent.name
  const handlers = Effect.gen(function*() {
    const address = yield* Entity.CurrentAddress
    const conversationId = address.entityId
    const sql = yield* SqlClient.SqlClient
    const lock = yield* Effect.makeSemaphore(1)
    let running: string | undefined

    /** The stored history, and the journal of the run in progress (`running`), if any. */
    const load = Effect.flatMap(
      sql<{ history: string; running: string | null }>`SELECT history, running FROM ${sql(table)} WHERE kind = ${kind} AND id = ${conversationId}`,
      (rows) =>
        rows.length === 0
          ? Effect.succeed({ history: [] as Content.History, running: undefined })
          : Effect.map(Schema.decode(StoredHistory)(rows[0]!.history), (history) => ({ history, running: rows[0]!.running ?? undefined }))
    ).pipe(Effect.orDie)

    const save = (history: Content.History, running: string | undefined) =>
      Effect.flatMap(Schema.encode(StoredHistory)(history), (text) =>
        sql`INSERT INTO ${sql(table)} (kind, id, history, running) VALUES (${kind}, ${conversationId}, ${text}, ${running ?? null})
            ON CONFLICT (kind, id) DO UPDATE SET history = excluded.history, running = excluded.running`).pipe(Effect.orDie)

    /** The run in progress: in this process, or stored by a process that stopped before it ended. */
    const current = Effect.suspend(() => running !== undefined ? Effect.succeed(running) : Effect.map(load, (state) => state.running))

    return entity(agent).of({
      // the run of a message is keyed by the message: a message delivered again (its runner died) resumes
      // the same journaled run, and one whose run had ended returns its journaled result, saved again as is
      send: (request) =>
        lock.withPermits(1)(Effect.gen(function*() {
          const state = yield* load
          const input = DurableAgent.payloadOf(self, { prompt: request.payload.prompt, history: state.history }, {
            conversationId,
            runId: String(request.requestId)
          })
          const executionId = yield* self.workflow.executionId(input)
          running = executionId
          yield* save(state.history, executionId)
          const exit = yield* Effect.exit(self.workflow.execute(input)).pipe(Effect.ensuring(Effect.sync(() => running = undefined)))
          if (Exit.isSuccess(exit)) {
            const result = exit.value
            yield* save(result.history, undefined)
            return { executionId, agent: result.agent, text: result.text, output: result.output, turns: result.turns, usage: result.usage }
          }
          // the run is over, whatever ended it (a defect too: a message that always dies would be
          // delivered again and again): the history stays as it was
          yield* save(state.history, undefined)
          const failure = Cause.failureOption(exit.cause)
          return yield* Effect.fail(
            failure._tag === "Some"
              ? failure.value
              : Cause.isInterruptedOnly(exit.cause)
              ? new RunCancelled({ executionId })
              : new RunFailed({ executionId, error: "Defect", detail: Cause.pretty(exit.cause) })
          )
        })),
      history: () => Effect.map(load, (state) => state.history),
      running: () => Effect.map(current, Option.fromNullable),
      cancel: () =>
        Effect.flatMap(current, (executionId) =>
          executionId === undefined ? Effect.succeed(false) : Effect.as(self.workflow.interrupt(executionId), true)),
      decide: ({ payload }) =>
        Effect.flatMap(current, (executionId) =>
          executionId === undefined
            ? Effect.succeed(false)
            : Effect.as(
              DurableAgent.decide(agent, executionId, payload.callId, { approve: payload.approve, reason: payload.reason }),
              true
            ))
    })
  })
  return Layer.mergeAll(
    entity(agent).toLayer(handlers, { concurrency: "unbounded" }),
    DurableAgent.layer(agent),
    Layer.effectDiscard(migrate)
  ) as Layer.Layer<never, never, Sharding | WorkflowEngine | SqlClient.SqlClient | Model.Model | R>
}

const client = (agent: Agent.Any, conversationId: string) =>
  Effect.flatMap(DurableAgent.checkConversationId(conversationId), (id) => Effect.map(entity(agent).client, (make) => make(id)))

/**
 * Send a prompt to a conversation and wait for the answer. Runs of one conversation are
 * serialised: a second `send` waits for the first. A crash in between is survived: the message
 * is delivered again and the journaled run resumes.
 *
 * @example
 * ```ts
 * import { Conversation } from "@effect-agents/cluster"
 * import { Agent } from "@effect-agents/core"
 * declare const math: Agent.Agent
 *
 * const reply = Conversation.send(math, "user-42", "What is 2 + 3?")
 * ```
 * @since 0.1.0
 * @category running
 */
export const send = (
  agent: Agent.Any,
  conversationId: string,
  prompt: string
): Effect.Effect<Reply, typeof RunError.Type | ConversationIdInvalid, Sharding> =>
  Effect.flatMap(client(agent, conversationId), (conversation) =>
    Effect.catchIf(
      conversation.send({ prompt }),
      (error): error is Exclude<typeof error, typeof RunError.Type> =>
        error._tag !== "RunFailed" && error._tag !== "RunCancelled" && error._tag !== "JournalMismatch",
      Effect.die
    ))

/**
 * The stored history of a conversation (empty for a new one): the history of its last completed run.
 *
 * @since 0.1.0
 * @category accessors
 */
export const history = (agent: Agent.Any, conversationId: string): Effect.Effect<Content.History, ConversationIdInvalid, Sharding> =>
  Effect.flatMap(client(agent, conversationId), (conversation) => Effect.orDie(conversation.history()))

/**
 * Cancel the run in progress of a conversation, if any (`false` when none is; a run whose runner
 * stopped counts as in progress). The cancel is journaled: the run stops at its next model or tool
 * call, `send` fails with `RunCancelled`, and a restart does not resume it.
 *
 * @since 0.1.0
 * @category running
 */
export const cancel = (agent: Agent.Any, conversationId: string): Effect.Effect<boolean, ConversationIdInvalid, Sharding> =>
  Effect.flatMap(client(agent, conversationId), (conversation) => Effect.orDie(conversation.cancel()))

/**
 * Decide on a call waiting for approval in the conversation's run in progress (also when its
 * runner stopped and the run waits to be resumed; `false` when no run is in progress). The
 * decision is journaled; the run resumes wherever it is owned.
 *
 * @since 0.1.0
 * @category approvals
 */
export const decide = (
  agent: Agent.Any,
  conversationId: string,
  callId: string,
  decision: Approvals.Decision
): Effect.Effect<boolean, ConversationIdInvalid, Sharding> =>
  Effect.flatMap(client(agent, conversationId), (conversation) =>
    Effect.orDie(conversation.decide(decision.reason === undefined
      ? { callId, approve: decision.approve }
      : { callId, approve: decision.approve, reason: decision.reason })))

/**
 * The journal (workflow execution id) of the conversation's run in progress, if any: to follow it
 * with `DurableAgent.durable(agent).workflow.poll`, or decide with `DurableAgent.decide`.
 *
 * @since 0.1.0
 * @category accessors
 */
export const running = (
  agent: Agent.Any,
  conversationId: string
): Effect.Effect<Option.Option<string>, ConversationIdInvalid, Sharding> =>
  Effect.flatMap(client(agent, conversationId), (conversation) => Effect.orDie(conversation.running()))
