/**
 * 08 — Blocking and CPU-heavy tools on worker threads (asyncio's `to_thread`).
 *
 * Scenario: an analyst agent calls `count_primes` (counting the primes below 1.5 million by trial
 * division, half a second of pure computation or more) while three chat conversations run beside it,
 * each a few quick model turns with a quick tool.
 *
 * Part 1 runs `count_primes` as `WorkerTool.make`: the function runs on a thread of a worker pool
 * (`@effect/platform` `Worker.makePool` on `NodeWorker`). The timeline shows the chats' events
 * going on while the worker computes (its progress arrives on a BroadcastChannel), and the
 * event loop's longest stall stays a few milliseconds.
 *
 * Part 2 runs the same function as `Tool.fromSync`, on the event loop: every conversation stops
 * for the whole computation. The measured stall is printed, and the gap in the chats' events.
 *
 * Part 3 asks for a much longer count beside a quota check that fails at 600 ms, under
 * `fail-fast`: the failing sibling interrupts `count_primes`, which terminates its worker thread
 * at that instant (its progress stops: a promise could only have been abandoned, still
 * computing) and the pool starts a replacement.
 *
 * Clock: real time (threads are real); figures are milliseconds since each part started and vary
 * with the machine. Offline: the model is `ScriptedModel` with 120–150 ms per answer; the events shown are the
 * chats' tool results and ends, and everything about `count_primes`. The program
 * checks its own claims and exits 1 if one does not hold.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Agent, AgentError, type AgentEvent, Tool } from "@effect-agents/core"
import { WorkerTool } from "@effect-agents/node"
import { ScriptedModel } from "@effect-agents/testing"
import { Cause, Clock, Console, Effect, Either, Fiber, Schema, Stream } from "effect"
import { BroadcastChannel } from "node:worker_threads"
import { countPrimes as countPrimesHere } from "./fixtures/primes.mjs"
import * as Timeline from "./timeline.js"

const timeline = Timeline.make({ who: 12, what: 20 })

// -----------------------------------------------------------------------------
// tools and agents
// -----------------------------------------------------------------------------

const PrimesArgs = Schema.Struct({ below: Schema.Int, label: Schema.String })
const description = "Count the prime numbers below a bound"

/** The CPU-heavy tool on the worker pool. */
const countPrimes = WorkerTool.make("count_primes", {
  description,
  parameters: PrimesArgs,
  success: Schema.Number,
  module: new URL("./fixtures/primes.mjs", import.meta.url),
  export: "countPrimes"
})

/** The same function on the event loop. */
const countPrimesInline = Tool.fromSync("count_primes", {
  description,
  parameters: PrimesArgs,
  success: Schema.Number,
  handler: countPrimesHere
})

class QuotaExceeded extends Schema.TaggedError<QuotaExceeded>()("QuotaExceeded", {}) {
  override get message() {
    return "the compute quota is used up"
  }
}

const checkQuota = Tool.make("check_quota", {
  description: "Check the compute quota",
  parameters: Schema.Struct({}),
  handler: () => Effect.zipRight(Effect.sleep("600 millis"), Effect.fail(new QuotaExceeded()))
})

const lookup = Tool.make("lookup", {
  description: "Look a word up",
  parameters: Schema.Struct({ word: Schema.String }),
  success: Schema.String,
  handler: ({ word }) => Effect.as(Effect.sleep("20 millis"), `${word}: found`)
})

const chat = Agent.make({ name: "chat", instructions: "Answer with the lookup tool.", tools: [lookup] })
const analyst = (tool: typeof countPrimes | typeof countPrimesInline) =>
  Agent.make({ name: "analyst", instructions: "Count with the tools.", tools: [tool, checkQuota] })

const chats = ["chat-1", "chat-2", "chat-3"]

/** Each chat: five quick turns, each a model answer (120 ms) and a lookup. */
const chatScript = (name: string) => [
  ...Array.from({ length: 5 }, (_, turn) =>
    ScriptedModel.callTools([{ name: "lookup", args: { word: `${name}-${turn + 1}` } }], { delay: "120 millis" })),
  ScriptedModel.text(`${name} done`, { delay: "120 millis" })
]

const model = (heavy: ReadonlyArray<ScriptedModel.Call>) =>
  ScriptedModel.layer(ScriptedModel.byPrompt({
    ...Object.fromEntries(chats.map((name) => [name, chatScript(name)])),
    analyst: [ScriptedModel.callTools(heavy, { delay: "150 millis" }), ScriptedModel.text("counted", { delay: "150 millis" })]
  }))

// -----------------------------------------------------------------------------
// watching: the agents' events, the worker's progress, the event loop's stalls
// -----------------------------------------------------------------------------

/** Events worth a line: the chats' tool results and ends, everything about count_primes. */
const shown = (event: AgentEvent.AgentEvent): boolean =>
  event._tag === "RunCompleted" || event._tag === "RunFailed" ||
  ("tool" in event && (event._tag !== "ToolCallStarted" || event.tool !== "lookup"))

/** Run one conversation, printing its events as they happen, labelled with its name. */
const conversation = (agent: Agent.Agent<WorkerTool.Pool>, name: string, events: Array<readonly [string, AgentEvent.AgentEvent]>) =>
  Agent.stream(agent, name).pipe(
    Stream.runForEach((event) => {
      events.push([name, event])
      return shown(event) ? Console.log(timeline.row(event.timestamp, name, event._tag, Timeline.describeEvent(event))) : Effect.void
    }),
    Effect.either
  )

/** Print the worker's progress messages; returns when each arrived. */
const watchProgress = () => {
  const seen: Array<number> = []
  const channel = new BroadcastChannel("primes-progress")
  channel.onmessage = (message) => {
    const { label, percent } = (message as { data: { label: string; percent: number } }).data
    seen.push(Date.now())
    timeline.noteNow("count_primes", "progress", `${label}: ${percent} %`)
  }
  return { seen, close: () => channel.close() }
}

/** A fiber ticking every 10 ms; `maxLag` is the longest it waited beyond that. */
const watchEventLoop = Effect.gen(function*() {
  const lag = { max: 0 }
  let last = yield* Clock.currentTimeMillis
  const fiber = yield* Effect.fork(Effect.forever(Effect.gen(function*() {
    yield* Effect.sleep("10 millis")
    const now = yield* Clock.currentTimeMillis
    lag.max = Math.max(lag.max, now - last - 10)
    last = now
  })))
  return { lag, stop: Fiber.interrupt(fiber) }
})

/** One part: the analyst beside the three chats; the events, the analyst's outcome, the longest stall. */
const part = (agent: Agent.Agent<WorkerTool.Pool>, heavy: ReadonlyArray<ScriptedModel.Call>, withChats: boolean) =>
  Effect.gen(function*() {
    timeline.start = yield* Clock.currentTimeMillis
    yield* Console.log(timeline.header)
    const events: Array<readonly [string, AgentEvent.AgentEvent]> = []
    const progress = watchProgress()
    const loop = yield* watchEventLoop
    const [outcome] = yield* Effect.all([
      conversation(agent, "analyst", events),
      ...(withChats ? chats.map((name) => conversation(chat, name, events)) : [])
    ], { concurrency: "unbounded" }).pipe(Effect.provide(model(heavy)))
    yield* loop.stop
    // progress messages already posted arrive within a few milliseconds; none may come after
    yield* Effect.sleep("250 millis")
    progress.close()
    return { events, outcome: outcome!, maxLag: loop.lag.max, progress: progress.seen }
  })

/** When the analyst's count_primes started and ended, and how many chat events came in between. */
const heavyWindow = (events: ReadonlyArray<readonly [string, AgentEvent.AgentEvent]>) => {
  const ofHeavy = events.filter(([name, e]) => name === "analyst" && "tool" in e && e.tool === "count_primes").map(([, e]) => e)
  const from = ofHeavy.find((e) => e._tag === "ToolCallStarted")?.timestamp ?? NaN
  const to = ofHeavy.find((e) => e._tag !== "ToolCallStarted")?.timestamp ?? NaN
  const chatTimes = events.filter(([name]) => name !== "analyst").map(([, e]) => e.timestamp)
  const during = chatTimes.filter((t) => t > from && t < to).length
  // the longest silence of the chats around the computation
  let gap = 0
  const sorted = [...chatTimes].sort((a, b) => a - b)
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]! >= from && sorted[i - 1]! <= to) gap = Math.max(gap, sorted[i]! - sorted[i - 1]!)
  }
  return { from, to, took: to - from, during, gap }
}

// -----------------------------------------------------------------------------
// the program
// -----------------------------------------------------------------------------

const heavyCall = [{ name: "count_primes", args: { below: 1_500_000, label: "1.5 M" } }]

const program = Effect.gen(function*() {
  const claims: Array<Timeline.Claim> = []
  const pool = yield* WorkerTool.Pool

  yield* Console.log("Part 1 — count_primes on a worker thread (WorkerTool.make), beside three chats\n")
  const onWorker = yield* part(analyst(countPrimes), heavyCall, true)
  const w = heavyWindow(onWorker.events)
  yield* Console.log(
    `\ncount_primes took ${w.took} ms on its worker; meanwhile the chats published ${w.during} events, ` +
      `their longest silence was ${w.gap} ms and the event loop's longest stall ${onWorker.maxLag} ms.\n`
  )
  claims.push(
    ["part 1: the analyst's run completed", Either.isRight(onWorker.outcome)],
    [`part 1: the chats went on during the computation (${w.during} events)`, w.during >= 6],
    [`part 1: the event loop never stalled for 150 ms (longest ${onWorker.maxLag} ms)`, onWorker.maxLag < 150, "timing"]
  )

  yield* Console.log("Part 2 — the same function as Tool.fromSync, on the event loop\n")
  const inline = yield* part(analyst(countPrimesInline), heavyCall, true)
  const i = heavyWindow(inline.events)
  yield* Console.log(
    `\ncount_primes took ${i.took} ms on the event loop: every conversation stalled for ${inline.maxLag} ms ` +
      `(the chats published ${i.during} events meanwhile; their longest silence was ${i.gap} ms).\n`
  )
  claims.push(
    ["part 2: the chats published nothing during the computation", i.during === 0],
    [`part 2: the event loop stalled for most of the computation (${inline.maxLag} of ${i.took} ms)`, inline.maxLag >= 0.8 * i.took]
  )

  yield* Console.log("Part 3 — a long count beside a quota check that fails at 600 ms (fail-fast)\n")
  const before = yield* pool.stats
  const interrupted = yield* part(
    analyst(countPrimes),
    [{ name: "count_primes", args: { below: 5_000_000, label: "5 M" } }, { name: "check_quota", args: {} }],
    false
  )
  // the pool closes the stopped worker and starts its replacement in the background
  const after = yield* pool.stats.pipe(
    Effect.tap(Effect.sleep("20 millis")),
    Effect.repeat({ until: (stats) => stats.started > before.started }),
    Effect.timeoutTo({ duration: "5 seconds", onSuccess: Effect.succeed, onTimeout: () => pool.stats }),
    Effect.flatten
  )
  const replacedAt = (yield* Clock.currentTimeMillis) - timeline.start
  const stoppedAt = interrupted.events.find(([, e]) => e._tag === "ToolCallInterrupted")?.[1]
  yield* Console.log("")
  if (Either.isLeft(interrupted.outcome) && interrupted.outcome.left instanceof AgentError.ToolCallFailed) {
    for (const failure of Cause.failures(interrupted.outcome.left.cause)) {
      yield* Console.log(`The run failed with ToolCallFailed: ${AgentError.describeError(failure)}`)
    }
  }
  const lastProgress = interrupted.progress.at(-1)
  yield* Console.log(
    `count_primes was interrupted at ${stoppedAt ? stoppedAt.timestamp - timeline.start : "?"} ms; its worker was terminated then ` +
      `(workers terminated: ${after.terminated - before.terminated}), and the pool had started a replacement by ${replacedAt} ms; ` +
      `its last progress message came ${lastProgress === undefined ? "never" : `at ${lastProgress - timeline.start} ms`}.`
  )
  claims.push(
    ["part 3: the run failed with ToolCallFailed", Either.isLeft(interrupted.outcome) && interrupted.outcome.left._tag === "ToolCallFailed"],
    [
      "part 3: count_primes ended as interrupted because its sibling failed",
      stoppedAt !== undefined && stoppedAt._tag === "ToolCallInterrupted" && stoppedAt.reason === "sibling-failed"
    ],
    ["part 3: its worker thread was terminated, and a replacement started", after.terminated - before.terminated === 1 && after.started > before.started],
    [
      "part 3: the computation stopped then: no progress message after the interruption",
      stoppedAt !== undefined && interrupted.progress.every((t) => t <= stoppedAt.timestamp + 5)
    ]
  )

  yield* Console.log(`
asyncio.to_thread(count_primes, ...) frees the event loop too, but cancelling the awaiting task does not
stop the thread: the computation runs to its end in the background. A worker tool's thread is terminated
when its call is interrupted, so a runaway computation really stops.
`)
  const held = yield* Timeline.printClaims(claims)
  if (!held) return yield* Effect.die("a claim of this example does not hold")
})

program.pipe(
  Effect.provide(WorkerTool.layerPool({ tools: [countPrimes], size: 1 })),
  NodeRuntime.runMain
)
