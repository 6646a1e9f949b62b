/**
 * Parallel agents that stream: events flow out as each run produces them (never buffered until
 * the slowest run ends), tagged with the run's path; `fail-fast` or `settle-all`; and the
 * effectful `settle`, whose outcomes come back in input order.
 */
import { Agent, AgentError, AgentEvent, Orchestrate, Tool } from "@effect-agents/core"
import type { Model } from "@effect-agents/core"
import { LeakCheck, ScriptedModel } from "@effect-agents/testing"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Clock, Effect, Exit, Fiber, Option, Ref, Schema, Stream, TestClock } from "effect"

type Log = Ref.Ref<ReadonlyArray<string>>

const record = (log: Log, what: string) =>
  Effect.flatMap(Clock.currentTimeMillis, (t) => Ref.update(log, (entries) => [...entries, `${what}@${t}`]))

/** A tool that sleeps `millis`; its finalizer records when it ran. */
const sleeper = (name: string, millis: number, log?: Log) =>
  Tool.make(name, {
    description: `Sleeps ${millis} ms`,
    scoped: true,
    parameters: Schema.Struct({}),
    success: Schema.String,
    handler: () =>
      Effect.gen(function*() {
        if (log !== undefined) yield* Effect.addFinalizer(() => record(log, `${name} finalized`))
        yield* Effect.sleep(millis)
        return name
      })
  })

const modelTurn = (request: Model.ModelRequest) => request.contents.filter((c) => c.role === "model").length

/** A script keyed by the requesting run's path, one step per model turn. */
const byPath = (scripts: Readonly<Record<string, ReadonlyArray<ScriptedModel.Step>>>): ScriptedModel.Script => (request) => {
  const step = scripts[request.agent]?.[modelTurn(request)]
  if (step === undefined) throw new Error(`no scripted step for ${request.agent}, turn ${modelTurn(request) + 1}`)
  return step
}

interface Received {
  readonly at: number
  readonly event: AgentEvent.AgentEvent
}

/** Consume a stream in a fiber under `LeakCheck`, noting the virtual instant each event is received. */
const consume = <E>(stream: Stream.Stream<AgentEvent.AgentEvent, E, Model.Model>) =>
  Effect.gen(function*() {
    const received: Array<Received> = []
    const fiber = yield* Effect.fork(LeakCheck.check(Stream.runForEach(stream, (event) =>
      Effect.map(Clock.currentTimeMillis, (at) => {
        received.push({ at, event })
      }))))
    return { received, fiber }
  })

const find = (received: ReadonlyArray<Received>, agent: string, tag: AgentEvent.AgentEvent["_tag"]) =>
  received.find((r) => r.event.agent === agent && r.event._tag === tag)

const fast = Agent.make({ name: "fast", instructions: "Answer at once." })
const slow = (log?: Log) => Agent.make({ name: "slow", instructions: "Search first.", tools: [sleeper("search", 5000, log)] })

const script = byPath({
  fast: [ScriptedModel.text("fast answer", { delay: "1 second" })],
  slow: [
    ScriptedModel.callTools([{ name: "search" }], { delay: "500 millis" }),
    ScriptedModel.text("slow answer", { delay: "500 millis" })
  ]
})

describe("Orchestrate.parallel", () => {
  it.effect("the fast agent's RunCompleted arrives at its own instant while the slow agent still works", () =>
    Effect.gen(function*() {
      const { fiber, received } = yield* consume(Orchestrate.parallel([fast, slow()], "Question?"))
      yield* TestClock.adjust(1000)
      const fastDone = find(received, "fast", "RunCompleted")
      assert.strictEqual(fastDone?.at, 1000, "fast's RunCompleted is received at t = 1000")
      assert.strictEqual(fastDone?.event.timestamp, 1000)
      assert.isDefined(find(received, "slow", "ToolCallStarted"), "slow is in its tool call")
      assert.isUndefined(find(received, "slow", "RunCompleted"), "slow has not finished at t = 1000")

      yield* TestClock.adjust(5000)
      yield* Fiber.join(fiber)
      assert.strictEqual(find(received, "slow", "RunCompleted")?.at, 6000)
      // every event is received at the instant it happened: nothing is buffered
      for (const { at, event } of received) assert.strictEqual(at, event.timestamp, `${event.agent} ${event._tag}`)
      assert.deepStrictEqual(AgentEvent.invariantViolations(received.map((r) => r.event)), [])
    }).pipe(Effect.provide(ScriptedModel.layer(script))))

  it.effect("events are tagged with each run's path and text arrives as deltas", () =>
    Effect.gen(function*() {
      const { fiber, received } = yield* consume(Orchestrate.parallel([fast, slow()], "Question?", { name: "team" }))
      yield* TestClock.adjust(6000)
      yield* Fiber.join(fiber)
      const paths = new Set(received.map((r) => r.event.agent))
      assert.deepStrictEqual([...paths].sort(), ["team/fast", "team/slow"])
      const deltas = received.filter((r) => r.event.agent === "team/fast" && r.event._tag === "TextDelta")
      assert.deepStrictEqual(deltas.map((r) => (r.event as AgentEvent.TextDelta).text).join(""), "fast answer")
    }).pipe(Effect.provide(ScriptedModel.layer(byPath({
      "team/fast": [ScriptedModel.text("fast answer", { delay: "1 second" })],
      "team/slow": [
        ScriptedModel.callTools([{ name: "search" }], { delay: "500 millis" }),
        ScriptedModel.text("slow answer", { delay: "500 millis" })
      ]
    })))))

  it.effect("one agent on several inputs numbers its runs math#1, math#2 in input order", () =>
    Effect.gen(function*() {
      const math = Agent.make({ name: "math", instructions: "Compute." })
      const { fiber, received } = yield* consume(Orchestrate.parallel(math, ["2 + 3?", "4 * 5?"]))
      yield* TestClock.adjust(1000)
      yield* Fiber.join(fiber)
      const started = received.filter((r) => r.event._tag === "RunStarted").map((r) => r.event as AgentEvent.RunStarted)
      assert.deepStrictEqual(started.map((e) => [e.agent, e.input]), [["math#1", "2 + 3?"], ["math#2", "4 * 5?"]])
      const completed = received.filter((r) => r.event._tag === "RunCompleted")
      assert.deepStrictEqual(completed.map((r) => [r.event.agent, r.at]), [["math#2", 300], ["math#1", 1000]])
    }).pipe(Effect.provide(ScriptedModel.layer(byPath({
      "math#1": [ScriptedModel.text("5", { delay: "1 second" })],
      "math#2": [ScriptedModel.text("20", { delay: "300 millis" })]
    })))))

  it.effect("fail-fast: the first failure interrupts the other runs, runs their finalizers and fails the stream", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const broken = Agent.make({ name: "broken", instructions: "Fail." })
      const { fiber, received } = yield* consume(Orchestrate.parallel([broken, slow(log)], "Question?"))
      yield* TestClock.adjust(2000)
      const exit = yield* Fiber.await(fiber)
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) {
        const failure = Cause.failureOption(exit.cause)
        assert.isTrue(Option.isSome(failure) && failure.value instanceof AgentError.InvalidRequest, Cause.pretty(exit.cause))
      }
      assert.deepStrictEqual(yield* Ref.get(log), ["search finalized@1000"])
      assert.strictEqual(find(received, "broken", "RunFailed")?.at, 1000)
      const interrupted = find(received, "slow", "ToolCallInterrupted")
      assert.strictEqual(interrupted?.at, 1000)
      assert.strictEqual((interrupted?.event as AgentEvent.ToolCallInterrupted).reason, "run-interrupted")
      assert.isUndefined(find(received, "slow", "RunCompleted"))
      assert.deepStrictEqual(AgentEvent.invariantViolations(received.map((r) => r.event)), [])
    }).pipe(Effect.provide(ScriptedModel.layer(byPath({
      broken: [ScriptedModel.fail(new AgentError.InvalidRequest({ detail: "bad request" }), { delay: "1 second" })],
      slow: [
        ScriptedModel.callTools([{ name: "search" }], { delay: "500 millis" }),
        ScriptedModel.text("slow answer", { delay: "500 millis" })
      ]
    })))))

  it.effect("settle-all: a failing run shows as its RunFailed event and the others go to their end", () =>
    Effect.gen(function*() {
      const broken = Agent.make({ name: "broken", instructions: "Fail." })
      const { fiber, received } = yield* consume(Orchestrate.parallel([broken, slow()], "Question?", { mode: "settle-all" }))
      yield* TestClock.adjust(6000)
      const exit = yield* Fiber.await(fiber)
      assert.isTrue(Exit.isSuccess(exit), "the stream itself does not fail")
      assert.strictEqual(find(received, "broken", "RunFailed")?.at, 1000)
      assert.strictEqual((find(received, "broken", "RunFailed")?.event as AgentEvent.RunFailed).error, "InvalidRequest")
      assert.strictEqual(find(received, "slow", "RunCompleted")?.at, 6000)
    }).pipe(Effect.provide(ScriptedModel.layer(byPath({
      broken: [ScriptedModel.fail(new AgentError.InvalidRequest({ detail: "bad request" }), { delay: "1 second" })],
      slow: [
        ScriptedModel.callTools([{ name: "search" }], { delay: "500 millis" }),
        ScriptedModel.text("slow answer", { delay: "500 millis" })
      ]
    })))))

  it.effect("the stream's type says settle-all never fails", () =>
    Effect.gen(function*() {
      const stream: Stream.Stream<AgentEvent.AgentEvent, never, Model.Model> = Orchestrate.parallel(
        [fast],
        "Question?",
        { mode: "settle-all" }
      )
      const fiber = yield* Effect.fork(LeakCheck.check(Stream.runCollect(stream)))
      yield* TestClock.adjust(1000)
      const events = yield* Fiber.join(fiber)
      assert.strictEqual(Array.from(events).at(-1)?._tag, "RunCompleted")
    }).pipe(Effect.provide(ScriptedModel.layer(script))))
})

describe("Orchestrate.settle", () => {
  const threeWay = byPath({
    slow: [ScriptedModel.text("slow answer", { delay: "2 seconds" })],
    broken: [ScriptedModel.fail(new AgentError.InvalidRequest({ detail: "bad request" }), { delay: "500 millis" })],
    fast: [ScriptedModel.text("fast answer", { delay: "1 second" })]
  })
  const agents = [
    Agent.make({ name: "slow", instructions: "" }),
    Agent.make({ name: "broken", instructions: "" }),
    Agent.make({ name: "fast", instructions: "" })
  ]

  it.effect("returns every outcome in input order, whatever the completion order", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(LeakCheck.check(Orchestrate.settle(agents, "Question?")))
      yield* TestClock.adjust(2000)
      const exits = yield* Fiber.join(fiber)
      assert.strictEqual(exits.length, 3)
      const [first, second, third] = exits
      assert.isTrue(Exit.isSuccess(first) && first.value.text === "slow answer")
      assert.isTrue(Exit.isFailure(second))
      if (Exit.isFailure(second)) {
        const failure = Cause.failureOption(second.cause)
        assert.isTrue(Option.isSome(failure) && failure.value._tag === "InvalidRequest")
      }
      assert.isTrue(Exit.isSuccess(third) && third.value.text === "fast answer")
    }).pipe(Effect.provide(ScriptedModel.layer(threeWay))))

  it.effect("onEvent sees every event as it happens, before the outcomes are returned", () =>
    Effect.gen(function*() {
      const seen: Array<string> = []
      const fiber = yield* Effect.fork(LeakCheck.check(Orchestrate.settle(agents, "Question?", {
        onEvent: (event) =>
          Effect.map(Clock.currentTimeMillis, (t) => {
            if (event._tag === "RunCompleted" || event._tag === "RunFailed") seen.push(`${event.agent} ${event._tag}@${t}`)
          })
      })))
      yield* TestClock.adjust(1000)
      assert.deepStrictEqual(seen, ["broken RunFailed@500", "fast RunCompleted@1000"])
      yield* TestClock.adjust(1000)
      const exits = yield* Fiber.join(fiber)
      assert.deepStrictEqual(seen, ["broken RunFailed@500", "fast RunCompleted@1000", "slow RunCompleted@2000"])
      assert.deepStrictEqual(exits.map(Exit.isSuccess), [true, false, true])
    }).pipe(Effect.provide(ScriptedModel.layer(threeWay))))
})
