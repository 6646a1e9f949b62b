/**
 * 11 — A durable conversation that outlives its process (`@effect-agents/cluster`).
 *
 * Scenario: a support agent refunds an order. It looks the order up (an idempotent tool), then
 * calls `refund`, an at-most-once tool that needs a human's approval. The run is a durable
 * workflow journaled in a SQLite file: each model call and each tool call is recorded as it
 * ends.
 *
 * Runner 1 starts the conversation; the run waits for approval, and the runner stops (as a
 * deploy or a crash would stop it) while nobody has decided yet. Runner 2 starts on the same file:
 * the human approves, the run resumes where the journal ends (the model is not asked again for
 * the turns already journaled, the lookup does not run again), the refund runs once, and the
 * conversation goes on with a follow-up question.
 *
 * Clock: real time, milliseconds since start. Offline: the model is `ScriptedModel` (one script
 * shared by both runners, so its request count spans the restart); the journal is a SQLite file in
 * a temporary directory. The program checks its own claims and exits 1 if one does not hold.
 */
import { Conversation, Durable, DurableAgent } from "@effect-agents/cluster"
import { Agent, Model, Tool } from "@effect-agents/core"
import { ScriptedModel } from "@effect-agents/testing"
import { Console, Effect, Layer, Logger, LogLevel, Option, Schema } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const started = Date.now()
const say = (who: string, what: string) => Console.log(`${String(Date.now() - started).padStart(6)} ms  ${who.padEnd(10)} ${what}`)

// -----------------------------------------------------------------------------
// the agent
// -----------------------------------------------------------------------------

const ran = { lookups: 0, refunds: 0 }

const lookupOrder = Tool.make("lookup_order", {
  description: "Look an order up",
  parameters: Schema.Struct({ order: Schema.Number }),
  success: Schema.Struct({ order: Schema.Number, cents: Schema.Number }),
  durability: "idempotent",
  handler: ({ order }) => Effect.as(Effect.sync(() => ran.lookups++), { order, cents: 1999 })
})

const refund = Tool.make("refund", {
  description: "Refund an order (a human approves each refund)",
  parameters: Schema.Struct({ order: Schema.Number, cents: Schema.Number }),
  success: Schema.Struct({ refunded: Schema.Number }),
  // at-most-once is the default: after a crash mid-refund the model is told the outcome is unknown
  needsApproval: true,
  handler: ({ cents }) => Effect.as(Effect.sync(() => ran.refunds++), { refunded: cents })
})

const support = Agent.make({
  name: "support",
  instructions: "Look the order up, then refund it.",
  tools: [lookupOrder, refund]
})

const script = [
  ScriptedModel.callTools([{ name: "lookup_order", args: { order: 7 }, id: "lookup-1" }]),
  ScriptedModel.callTools([{ name: "refund", args: { order: 7, cents: 1999 }, id: "refund-1" }]),
  ScriptedModel.text("Order 7 is refunded: 19.99 €."),
  ScriptedModel.text("You're welcome; the money is back within 3 days.")
]

// -----------------------------------------------------------------------------
// the program
// -----------------------------------------------------------------------------

const check = (claim: string, holds: boolean) =>
  holds ? say("check", `✓ ${claim}`) : Effect.zipRight(say("check", `✗ ${claim}`), Effect.sync(() => process.exitCode = 1))

const program = Effect.gen(function*() {
  const dir = mkdtempSync(join(tmpdir(), "durable-example-"))
  yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
  const filename = join(dir, "journal.db")
  const model = yield* ScriptedModel.make(script)
  // a runner: the conversation entity and the agent's workflow, on the SQLite journal
  const runner = Conversation.layer(support).pipe(
    Layer.provideMerge(Durable.layerSqlite({ filename })),
    Layer.provide(Layer.succeed(Model.Model, model))
  )

  yield* say("runner 1", `starts; journal ${filename}`)
  yield* Effect.gen(function*() {
    yield* Effect.fork(Conversation.send(support, "customer-7", "Please refund order 7."))
    yield* say("customer", `"Please refund order 7."`)
    // the run's journal: it is suspended while it waits for the decision
    for (;;) {
      const executionId = yield* Conversation.running(support, "customer-7")
      const result = Option.isSome(executionId) ? yield* DurableAgent.durable(support).workflow.poll(executionId.value) : undefined
      if (result?._tag === "Suspended") break
      yield* Effect.sleep("20 millis")
    }
    yield* say("runner 1", `the run waits for approval of refund-1 (lookups run: ${ran.lookups}, refunds: ${ran.refunds})`)
    yield* say("runner 1", "stops before anyone decides")
  }).pipe(Effect.provide(runner), Effect.scoped)

  const before = (yield* model.requests).length
  yield* say("runner 2", "starts on the same journal")
  const reply = yield* Effect.gen(function*() {
    yield* Conversation.decide(support, "customer-7", "refund-1", { approve: true })
    yield* say("human", "approves refund-1")
    // the follow-up waits for the resumed run: runs of one conversation are serialised
    const reply = yield* Conversation.send(support, "customer-7", "Thanks! When will I get it?")
    const history = yield* Conversation.history(support, "customer-7")
    for (const content of history) {
      for (const part of content.parts) {
        const shown = part._tag === "Text"
          ? JSON.stringify(part.text)
          : part._tag === "FunctionCall"
          ? `${part.name}(${JSON.stringify(part.args)})`
          : `${part.name} → ${JSON.stringify(part.output)}`
        yield* say(content.role === "user" ? "  user" : "  model", shown)
      }
    }
    return reply
  }).pipe(Effect.provide(runner), Effect.scoped)

  const requests = (yield* model.requests).length
  yield* say("runner 2", `answer: "${reply.text}"`)
  yield* check(`runner 1 asked the model ${before} times (turns 1-2); runner 2 asked only for turns 3 and 4 (${requests - before})`, before === 2 && requests === 4)
  yield* check(`the lookup ran once across the restart (${ran.lookups})`, ran.lookups === 1)
  yield* check(`the refund ran once, after the approval (${ran.refunds})`, ran.refunds === 1)
})

// the cluster logs its shutdown steps as warnings; this timeline shows errors only
Effect.runPromise(Effect.scoped(program).pipe(Logger.withMinimumLogLevel(LogLevel.Error))).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
