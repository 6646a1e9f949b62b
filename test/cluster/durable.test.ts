/**
 * Durable runs in one process, on the embedded engine (SQLite in a temporary directory): what is
 * journaled and replayed, TaskGroup semantics, approvals across a runner restart, a journal the
 * resuming code no longer matches, and conversation ids refused at the door.
 */
import { Conversation, Durable, DurableAgent } from "@effect-agents/cluster"
import { Agent, AgentError, Tool } from "@effect-agents/core"
import { LeakCheck, ScriptedModel } from "@effect-agents/testing"
import { assert, describe, it } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import { Cause, Effect, Exit, Fiber, Layer, Schema } from "effect"
import { join } from "node:path"
import { workDir } from "./support.js"

interface Counter {
  readonly calls: Array<string>
  readonly note: (what: string) => Effect.Effect<void>
}

const counter = (): Counter => {
  const calls: Array<string> = []
  return { calls, note: (what) => Effect.sync(() => void calls.push(what)) }
}

const mathAgent = (log: Counter) => {
  const add = Tool.make("add", {
    description: "Add two numbers",
    parameters: Schema.Struct({ a: Schema.Number, b: Schema.Number }),
    success: Schema.Number,
    handler: ({ a, b }) => Effect.as(log.note(`add ${a} ${b}`), a + b)
  })
  return Agent.make({ name: "math", instructions: "Use the tools.", tools: [add] })
}

const mathScript = [ScriptedModel.callTools([{ name: "add", args: { a: 2, b: 3 } }]), ScriptedModel.text("2 + 3 = 5")]

/** The embedded engine on `file`, with `agent` registered and `script` as the model. */
const embedded = <R, A>(agent: Agent.Agent<R, A>, file: string, script: ScriptedModel.Script) =>
  Conversation.layer(agent).pipe(
    Layer.provideMerge(Durable.layerSqlite({ filename: file })),
    Layer.provideMerge(ScriptedModel.layer(script))
  )

/** Wait until the workflow of `executionId` has suspended (it waits for a decision). */
const suspended = (agent: Agent.Any, executionId: string) =>
  Effect.gen(function*() {
    for (;;) {
      const result = yield* DurableAgent.durable(agent).workflow.poll(executionId)
      if (result !== undefined && result._tag === "Suspended") return
      yield* Effect.sleep("50 millis")
    }
  })

describe("durable runs", () => {
  it.scopedLive("a durable run answers like Agent.run, and running it again returns the journal without calling the model or the tool", () =>
    Effect.gen(function*() {
      const dir = yield* workDir
      const log = counter()
      const agent = mathAgent(log)
      const plain = yield* Agent.run(agent, "2 + 3?").pipe(Effect.provide(ScriptedModel.layer(mathScript)))
      log.calls.length = 0

      yield* Effect.gen(function*() {
        const first = yield* DurableAgent.run(agent, "2 + 3?", { conversationId: "c-1" })
        const again = yield* LeakCheck.check(DurableAgent.run(agent, "2 + 3?", { conversationId: "c-1" }))
        const model = yield* ScriptedModel.ScriptedModel
        assert.strictEqual(first.text, plain.text)
        assert.deepStrictEqual(first.history, plain.history)
        assert.strictEqual(first.turns, 2)
        assert.deepStrictEqual(again, first)
        assert.strictEqual((yield* model.requests).length, 2)
        assert.deepStrictEqual(log.calls, ["add 2 3"])
      }).pipe(Effect.provide(embedded(agent, join(dir, "journal.db"), mathScript)))
    }))

  it.scopedLive("a durable run leaves no fiber of its own behind (once the engine's clients exist)", () =>
    Effect.gen(function*() {
      const dir = yield* workDir
      const agent = mathAgent(counter())
      yield* Effect.gen(function*() {
        yield* DurableAgent.run(agent, "2 + 3?", { conversationId: "warm-up" })
        const result = yield* LeakCheck.check(DurableAgent.run(agent, "2 + 3?", { conversationId: "checked" }))
        assert.strictEqual(result.text, "2 + 3 = 5")
      }).pipe(Effect.provide(embedded(agent, join(dir, "journal.db"), [...mathScript, ...mathScript])))
    }))

  it.scopedLive("a failing tool still interrupts its running siblings, the journal records the interruption, and the run fails with ToolCallFailed", () =>
    Effect.gen(function*() {
      const dir = yield* workDir
      const log = counter()
      const agent = Agent.make({
        name: "group",
        instructions: "Call both.",
        tools: [
          Tool.make("boom", {
            description: "Fails",
            parameters: Schema.Struct({}),
            durability: "idempotent",
            handler: () => Effect.zipRight(Effect.sleep("100 millis"), Effect.fail(new AgentError.ToolException({ tool: "boom", error: "boom" })))
          }),
          Tool.make("slow", {
            description: "Takes a minute",
            parameters: Schema.Struct({}),
            handler: () => Effect.onInterrupt(Effect.zipRight(Effect.sleep("60 seconds"), log.note("slow done")), () => log.note("slow interrupted"))
          })
        ]
      })
      const script = [ScriptedModel.callTools([{ name: "slow", args: {} }, { name: "boom", args: {} }])]
      const started = Date.now()
      const { exit, journaled } = yield* Effect.gen(function*() {
        const exit = yield* Effect.exit(DurableAgent.run(agent, "go", { conversationId: "g-1" }))
        // the outcomes the journal holds for the two calls
        const sql = yield* SqlClient.SqlClient
        const rows = yield* sql<{ payload: string }>`SELECT r.payload FROM cluster_replies r JOIN cluster_messages m
          ON r.request_id = m.id WHERE m.tag = 'activity' AND m.payload LIKE '%tool/group/1/%'`
        return { exit, journaled: rows.map((row) => JSON.parse(row.payload)) }
      }).pipe(Effect.provide(embedded(agent, join(dir, "journal.db"), script)))
      const outcomes = JSON.stringify(journaled)
      assert.include(outcomes, `"_tag":"Interrupted"`)
      assert.include(outcomes, `"message":"Tool \\"boom\\" threw: boom"`)
      assert.isTrue(Exit.isFailure(exit))
      const error = Cause.failureOption((exit as Exit.Failure<unknown, any>).cause)
      assert.strictEqual(error._tag === "Some" && error.value._tag, "RunFailed")
      assert.strictEqual(error._tag === "Some" && error.value.error, "ToolCallFailed")
      assert.deepStrictEqual(log.calls, ["slow interrupted"])
      assert.isBelow(Date.now() - started, 20_000)
    }))

  it.scopedLive("an unsafe conversation id is refused before anything runs", () =>
    Effect.gen(function*() {
      const dir = yield* workDir
      const agent = mathAgent(counter())
      yield* Effect.gen(function*() {
        for (const id of ["../etc/passwd", "", "a b", "x".repeat(129), "conversation\u0000"]) {
          const run = yield* Effect.flip(DurableAgent.run(agent, "2 + 3?", { conversationId: id }))
          assert.strictEqual(run._tag, "ConversationIdInvalid")
          const sent = yield* Effect.flip(Conversation.send(agent, id, "2 + 3?"))
          assert.strictEqual(sent._tag, "ConversationIdInvalid")
        }
        const model = yield* ScriptedModel.ScriptedModel
        assert.strictEqual((yield* model.requests).length, 0)
      }).pipe(Effect.provide(embedded(agent, join(dir, "journal.db"), mathScript)))
    }))
})

const deletion = (log: Counter, withForce: boolean) =>
  Agent.make({
    name: "files",
    instructions: "Delete when asked.",
    tools: [
      Tool.make("delete", {
        description: "Delete a file",
        parameters: withForce ? Schema.Struct({ path: Schema.String, force: Schema.Boolean }) : Schema.Struct({ path: Schema.String }),
        needsApproval: true,
        handler: () => Effect.as(log.note("deleted"), "deleted")
      })
    ]
  })

const deleteScript = [ScriptedModel.callTools([{ name: "delete", args: { path: "a.txt" }, id: "del-1" }]), ScriptedModel.text("Deleted a.txt.")]

/** Start a run that waits for approval, then stop the runner (its layer) while it waits. */
const startAndStop = (agent: Agent.Any, file: string) =>
  Effect.gen(function*() {
    const executionId = yield* DurableAgent.executionId(agent, "Delete a.txt", { conversationId: "files-1" })
    yield* Effect.gen(function*() {
      const fiber = yield* Effect.fork(DurableAgent.run(agent, "Delete a.txt", { conversationId: "files-1" }))
      yield* suspended(agent, executionId)
      yield* Fiber.interrupt(fiber)
    }).pipe(Effect.provide(embedded(agent, file, deleteScript)))
    return executionId
  })

describe("durable approvals", () => {
  it.scopedLive("a call waiting for approval survives a runner restart: the decision resumes the run on the new runner", () =>
    Effect.gen(function*() {
      const dir = yield* workDir
      const file = join(dir, "journal.db")
      const log = counter()
      const agent = deletion(log, false)
      const executionId = yield* startAndStop(agent, file)
      assert.deepStrictEqual(log.calls, [])

      const result = yield* Effect.gen(function*() {
        yield* DurableAgent.decide(agent, executionId, "del-1", { approve: true })
        const result = yield* DurableAgent.run(agent, "Delete a.txt", { conversationId: "files-1" })
        const model = yield* ScriptedModel.ScriptedModel
        // the first model call was journaled before the restart: only the second is asked for
        assert.strictEqual((yield* model.requests).length, 1)
        return result
      }).pipe(Effect.provide(embedded(agent, file, deleteScript.slice(1))))
      assert.strictEqual(result.text, "Deleted a.txt.")
      assert.deepStrictEqual(log.calls, ["deleted"])
    }))

  it.scopedLive("a journal written by an agent whose tool schema changed ends the run with JournalMismatch, once, without a crash loop", () =>
    Effect.gen(function*() {
      const dir = yield* workDir
      const file = join(dir, "journal.db")
      const log = counter()
      const before = deletion(log, false)
      const executionId = yield* startAndStop(before, file)

      const after = deletion(log, true)
      yield* Effect.gen(function*() {
        yield* DurableAgent.decide(after, executionId, "del-1", { approve: true })
        // the new agent computes the same journal key: same conversation, same input
        const first = yield* Effect.flip(DurableAgent.run(after, "Delete a.txt", { conversationId: "files-1" }))
        assert.strictEqual(first._tag, "JournalMismatch")
        const again = yield* Effect.flip(DurableAgent.run(after, "Delete a.txt", { conversationId: "files-1" }))
        assert.deepStrictEqual(again, first)
        const model = yield* ScriptedModel.ScriptedModel
        assert.strictEqual((yield* model.requests).length, 0)
      }).pipe(Effect.provide(embedded(after, file, deleteScript)))
      assert.deepStrictEqual(log.calls, [])
    }))
})
