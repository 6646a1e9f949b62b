/**
 * Soak: many concurrent conversations on `ScriptedModel` with 10% seeded faults of every kind,
 * in virtual time. Every conversation must end with a terminal outcome (`RunCompleted` or
 * `RunFailed` matching its exit), no fiber may outlive the soak, every tool-call invariant must
 * hold and every resource a tool acquired must be released. Prints the count per outcome.
 *
 *   npm run example -- bench/soak.ts [conversations=10000] [seed=42]
 *
 * Virtual time: `TestClock` drives the clock. Its `adjust` wakes sleepers one at a time (a few
 * real milliseconds each, to let fibers settle), which is fine for a test but not for 10,000
 * conversations sleeping at overlapping instants; `coalescedTestClock` makes every fiber that
 * sleeps until the same instant share one `TestClock` sleep, so the cost grows with the number
 * of distinct instants, not with the number of sleeping fibers.
 */
import { Agent, type AgentError, AgentEvent, type Model, Orchestrate, type Policy, Tool } from "@effect-agents/core"
import { FaultInjection, LeakCheck, ScriptedModel } from "@effect-agents/testing"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as FiberRef from "effect/FiberRef"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Supervisor from "effect/Supervisor"
import * as TestClock from "effect/TestClock"
import * as TestContext from "effect/TestContext"
import { pathToFileURL } from "node:url"

/**
 * A `Clock` over a `TestClock` where all fibers sleeping until the same instant share one
 * `TestClock` sleep (run by an unsupervised daemon waker). Time still moves only with
 * `TestClock.adjust`.
 */
export const coalescedTestClock = (testClock: TestClock.TestClock): Clock.Clock => {
  const gates = new Map<number, Deferred.Deferred<void>>()
  const waker = (end: number, millis: number, gate: Deferred.Deferred<void>) =>
    testClock.sleep(Duration.millis(millis)).pipe(
      Effect.zipRight(Effect.sync(() => gates.delete(end))),
      Effect.zipRight(Deferred.succeed(gate, undefined)),
      Effect.forkDaemon,
      // the waker belongs to the clock, not to the program a leak check supervises
      Effect.locally(FiberRef.currentSupervisor, Supervisor.none)
    )
  return {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    unsafeCurrentTimeMillis: () => testClock.unsafeCurrentTimeMillis(),
    currentTimeMillis: testClock.currentTimeMillis,
    unsafeCurrentTimeNanos: () => testClock.unsafeCurrentTimeNanos(),
    currentTimeNanos: testClock.currentTimeNanos,
    sleep: (duration) =>
      Effect.suspend(() => {
        const millis = Duration.toMillis(duration)
        if (millis <= 0) return Effect.void
        const end = testClock.unsafeCurrentTimeMillis() + millis
        const existing = gates.get(end)
        if (existing !== undefined) return Deferred.await(existing)
        const gate = Deferred.unsafeMake<void>(FiberId.none)
        gates.set(end, gate)
        return Effect.zipRight(waker(end, millis, gate), Deferred.await(gate))
      })
  }
}

/** Every fault kind, one of which fires on `probability` of the calls. */
const allFaults = (probability: number) =>
  FaultInjection.oneOf<never>([
    FaultInjection.fail(),
    FaultInjection.defect(),
    FaultInjection.hang(),
    FaultInjection.latency("2 seconds"),
    FaultInjection.rateLimited({ retryAfter: "3 seconds" }),
    FaultInjection.unavailable(),
    FaultInjection.streamCut({ afterChunks: 1 }),
    FaultInjection.malformed()
  ], { probability })

export interface Options {
  readonly conversations: number
  readonly seed: number
  /** Share of model and tool calls that get a fault. Default 0.1. */
  readonly faultRate?: number | undefined
}

export interface Report {
  readonly conversations: number
  /** Count per outcome: `completed`, an error tag, `defect`, `interrupted`, `unfinished`. */
  readonly outcomes: Readonly<Record<string, number>>
  /** Faults that fired, per target and kind (`model:hang`, `lookup:fail`...). */
  readonly faults: Readonly<Record<string, number>>
  /** Calls per target (`model`, `lookup`, `slow`). */
  readonly calls: Readonly<Record<string, number>>
  readonly leakedFibers: number
  readonly brokenInvariants: ReadonlyArray<string>
  readonly acquired: number
  readonly released: number
  readonly events: number
  /** Virtual time (ms) from the start of the soak to the end of its last conversation. */
  readonly virtualMillis: number
}

const outcomeOf = (exit: Exit.Exit<unknown, unknown>): string => {
  if (Exit.isSuccess(exit)) return "completed"
  const failure = Cause.failureOption(exit.cause)
  if (Option.isSome(failure)) return (failure.value as { readonly _tag: string })._tag
  return Cause.isDie(exit.cause) ? "defect" : "interrupted"
}

const count = (record: Record<string, number>, key: string) => {
  record[key] = (record[key] ?? 0) + 1
}

/**
 * The soak program. It needs a `TestClock` (provide `TestContext.TestContext`); it drives the
 * clock itself, and fails only on a setup error, never on a broken expectation: the report
 * says what happened.
 */
export const soak = (options: Options): Effect.Effect<Report, never, never> =>
  Effect.gen(function*() {
    const testClock = yield* TestClock.testClock()
    const start = testClock.unsafeCurrentTimeMillis()
    const rate = options.faultRate ?? 0.1
    const resources = { acquired: 0, released: 0 }
    const hold = Effect.acquireRelease(
      Effect.sync(() => {
        resources.acquired++
      }),
      () =>
        Effect.sync(() => {
          resources.released++
        })
    )
    const lookup = FaultInjection.tool(
      Tool.make("lookup", {
        description: "Look a fact up",
        scoped: true,
        parameters: Schema.Struct({ query: Schema.String }),
        success: Schema.String,
        timeout: "10 seconds",
        handler: ({ query }) => Effect.zipRight(hold, Effect.as(Effect.sleep("1 second"), `facts about ${query}`))
      }),
      [allFaults(rate)],
      { seed: options.seed + 1 }
    )
    const slow = FaultInjection.tool(
      Tool.make("slow", {
        description: "A slow computation",
        scoped: true,
        parameters: Schema.Struct({}),
        success: Schema.String,
        timeout: "10 seconds",
        handler: () => Effect.zipRight(hold, Effect.as(Effect.sleep("3 seconds"), "computed"))
      }),
      [allFaults(rate)],
      { seed: options.seed + 2 }
    )
    const policy = (toolFailure: Policy.ToolFailure): Policy.Options => ({
      toolFailure,
      maxTurns: 4,
      modelTimeout: "30 seconds",
      modelRetry: Schedule.exponential("1 second").pipe(Schedule.intersect(Schedule.recurs(2)))
    })
    const agents = [
      Agent.make({ name: "strict", instructions: "Use the tools.", tools: [lookup, slow], policy: policy("fail-fast") }),
      Agent.make({ name: "lenient", instructions: "Use the tools.", tools: [lookup, slow], policy: policy("report") })
    ]
    // turn 1: call both tools; turn 2: answer. By turn, so a retried request gets the same step.
    const script: ScriptedModel.Script = (request) =>
      request.contents.some((content) => content.role === "model")
        ? ScriptedModel.text("Here is the answer.", { delay: "500 millis", usage: { inputTokens: 20, outputTokens: 5 } })
        : ScriptedModel.callTools(
          [{ name: "lookup", args: { query: request.agent } }, { name: "slow" }],
          { text: "Let me check.", delay: "500 millis", usage: { inputTokens: 10, outputTokens: 5 } }
        )
    const model: Layer.Layer<Model.Model | FaultInjection.ModelFaults> = FaultInjection.model([allFaults(rate)], {
      seed: options.seed
    }).pipe(Layer.provide(ScriptedModel.layer(script)))

    // one log of events per conversation; a run's RunStarted names its input, hence its conversation
    const logs: Array<Array<AgentEvent.AgentEvent>> = Array.from({ length: options.conversations }, () => [])
    const conversationOf = new Map<string, number>()
    const onEvent = (event: AgentEvent.AgentEvent) =>
      Effect.sync(() => {
        if (event._tag === "RunStarted") conversationOf.set(event.runId, Number(event.input.slice("question ".length)))
        logs[conversationOf.get(event.runId)!].push(event)
      })
    // even conversations go to the strict agent, odd ones to the lenient one, all at once
    const inputs = (parity: number) => logs.flatMap((_, i) => i % 2 === parity ? [`question ${i}`] : [])
    const all = Effect.map(
      Effect.all([0, 1].map((parity) => Orchestrate.settle(agents[parity], inputs(parity), { onEvent })), {
        concurrency: "unbounded"
      }),
      ([even, odd]) => logs.map((_, i) => i % 2 === 0 ? even[i / 2] : odd[(i - 1) / 2])
    )

    const context = yield* Layer.build(model)
    const leaks = yield* LeakCheck.make
    const fiber = yield* all.pipe(
      leaks.supervise,
      Effect.provide(context),
      Effect.withClock(coalescedTestClock(testClock)),
      Effect.fork
    )
    // drive virtual time until every conversation is over (or 1 virtual hour passed)
    let exits: Option.Option<Exit.Exit<ReadonlyArray<Exit.Exit<unknown, AgentError.AgentError>>>> = Option.none()
    for (let minute = 0; minute < 60 && Option.isNone(exits); minute++) {
      // TestClock warns when fibers take more than 5 real seconds to settle after a wake-up;
      // starting thousands of conversations at once legitimately does
      yield* TestClock.adjust("1 minute").pipe(Logger.withMinimumLogLevel(LogLevel.Error))
      exits = yield* Fiber.poll(fiber)
    }
    if (Option.isNone(exits)) yield* Fiber.interrupt(fiber)
    const leaked = (yield* leaks.live).length

    const outcomes: Record<string, number> = {}
    const brokenInvariants: Array<string> = []
    let virtualMillis = 0
    let events = 0
    const results = Option.isSome(exits) && Exit.isSuccess(exits.value) ? exits.value.value : undefined
    logs.forEach((log, i) => {
      events += log.length
      const exit = results?.[i]
      const outcome = exit === undefined ? "unfinished" : outcomeOf(exit)
      count(outcomes, outcome)
      const last = log.at(-1)
      const terminals = log.filter((e) => e._tag === "RunCompleted" || e._tag === "RunFailed").length
      const expected = outcome === "completed" ? "RunCompleted" : "RunFailed"
      if (terminals !== 1 || last?._tag !== expected) {
        brokenInvariants.push(`conversation ${i} (${outcome}) ends with ${last?._tag} after ${terminals} terminal event(s)`)
      } else if (last._tag === "RunFailed" && last.error !== (outcome === "defect" ? "Defect" : outcome)) {
        brokenInvariants.push(`conversation ${i} failed with ${outcome} but RunFailed says ${last.error}`)
      }
      for (const violation of AgentEvent.invariantViolations(log)) brokenInvariants.push(`conversation ${i}: ${violation}`)
      if (last !== undefined) virtualMillis = Math.max(virtualMillis, last.timestamp - start)
    })

    const faults: Record<string, number> = {}
    const calls: Record<string, number> = {}
    for (const injector of [Context.get(context, FaultInjection.ModelFaults), lookup.faults, slow.faults]) {
      for (const fired of yield* injector.fired) count(faults, `${fired.target}:${fired.kind}`)
      calls[injector.target] = yield* injector.calls
    }
    return {
      conversations: options.conversations,
      outcomes,
      faults,
      calls,
      leakedFibers: leaked,
      brokenInvariants,
      acquired: resources.acquired,
      released: resources.released,
      events,
      virtualMillis
    }
  }).pipe(Effect.scoped, Effect.orDie)

const sorted = (record: Readonly<Record<string, number>>) =>
  Object.entries(record).sort(([a, x], [b, y]) => y - x || a.localeCompare(b))

/** Print a report. */
export const print = (report: Report, realMillis: number) => {
  console.log(`conversations: ${report.conversations}, events: ${report.events}, virtual time: ${report.virtualMillis} ms, real time: ${realMillis} ms`)
  console.log("outcomes:")
  for (const [outcome, n] of sorted(report.outcomes)) console.log(`  ${outcome.padEnd(20)} ${n}`)
  const calls = Object.values(report.calls).reduce((a, b) => a + b, 0)
  const fired = Object.values(report.faults).reduce((a, b) => a + b, 0)
  console.log(`faults fired: ${fired} on ${calls} calls (${(100 * fired / calls).toFixed(1)}%)`)
  for (const [fault, n] of sorted(report.faults)) console.log(`  ${fault.padEnd(20)} ${n}`)
  console.log(`resources: ${report.acquired} acquired, ${report.released} released`)
  console.log(`leaked fibers=${report.leakedFibers} broken invariants=${report.brokenInvariants.length}`)
  for (const violation of report.brokenInvariants.slice(0, 10)) console.log(`  ${violation}`)
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const conversations = Number(process.argv[2] ?? 10_000)
  const seed = Number(process.argv[3] ?? 42)
  const started = Date.now()
  const report = await Effect.runPromise(soak({ conversations, seed }).pipe(Effect.provide(TestContext.TestContext)))
  print(report, Date.now() - started)
  const ok = report.leakedFibers === 0 && report.brokenInvariants.length === 0 && report.acquired === report.released &&
    (report.outcomes.unfinished ?? 0) === 0 && (report.outcomes.interrupted ?? 0) === 0
  process.exitCode = ok ? 0 : 1
}
