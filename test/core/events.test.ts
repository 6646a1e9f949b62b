/**
 * Events: the sequence a run publishes, the tool-call invariant, and the equivalence of
 * `Agent.run` (events collected) and `Agent.stream` (events emitted, plus `TextDelta`s).
 */
import { Agent, AgentError, AgentEvent, Tool } from "@effect-agents/core"
import { LeakCheck, ScriptedModel } from "@effect-agents/testing"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Exit, Fiber, Random, Schema, Stream, TestClock, TestContext } from "effect"
import { ofTag } from "../support/agents.js"

const add = Tool.make("add", {
  description: "Add two numbers",
  parameters: Schema.Struct({ a: Schema.Number, b: Schema.Number }),
  success: Schema.Number,
  handler: ({ a, b }) => Effect.as(Effect.sleep("1 second"), a + b)
})

const math = Agent.make({ name: "math", instructions: "", tools: [add] })

const script = () =>
  ScriptedModel.layer([
    ScriptedModel.callTools([{ name: "add", args: { a: 2, b: 3 } }, { name: "add", args: { a: 1, b: 1 } }], {
      delay: "200 millis"
    }),
    ScriptedModel.text("The sums are 5 and 2", { delay: "300 millis" })
  ])

/** A fresh virtual clock at t = 0 and a fresh seeded `Random` (its state is mutable, so never shared). */
const seeded = <A, E>(self: Effect.Effect<A, E>) =>
  Effect.suspend(() => self.pipe(Effect.withRandom(Random.make("events")), Effect.provide(TestContext.TestContext)))

/** `Agent.run` to its end, under `LeakCheck`, on a fresh virtual clock and a seeded `Random`. */
const runOnce = Effect.gen(function*() {
  const fiber = yield* Effect.fork(LeakCheck.check(Agent.run(math, "Sum 2 + 3 and 1 + 1")))
  yield* TestClock.adjust(1500)
  return yield* Fiber.join(fiber)
}).pipe(Effect.provide(script()), seeded)

/** `Agent.stream` to its end, the same way. */
const streamOnce = Effect.gen(function*() {
  const fiber = yield* Effect.fork(LeakCheck.check(Stream.runCollect(Agent.stream(math, "Sum 2 + 3 and 1 + 1"))))
  yield* TestClock.adjust(1500)
  return Chunk.toReadonlyArray(yield* Fiber.join(fiber))
}).pipe(Effect.provide(script()), seeded)

describe("event sequence", () => {
  it.effect("a run publishes RunStarted, then each turn's model and tool events, then RunCompleted, at their instants", () =>
    Effect.gen(function*() {
      const result = yield* runOnce
      const timeline = result.events.map((e) => `${e.timestamp} t${e.turn} ${e._tag}`)
      const middle = timeline.slice(4, 8).sort()
      assert.deepStrictEqual(timeline.slice(0, 4), [
        "0 t0 RunStarted",
        "0 t1 TurnStarted",
        "0 t1 ModelRequested",
        "200 t1 ModelResponded"
      ])
      assert.deepStrictEqual(middle, [
        "1200 t1 ToolCallSucceeded",
        "1200 t1 ToolCallSucceeded",
        "200 t1 ToolCallStarted",
        "200 t1 ToolCallStarted"
      ])
      assert.deepStrictEqual(timeline.slice(8), [
        "1200 t2 TurnStarted",
        "1200 t2 ModelRequested",
        "1500 t2 ModelResponded",
        "1500 t2 RunCompleted"
      ])
      assert.deepStrictEqual(AgentEvent.invariantViolations(result.events), [])
    }))

  it.effect("every event carries the run id and the agent path; tool events carry their call id", () =>
    Effect.gen(function*() {
      const result = yield* runOnce
      assert.isTrue(result.events.every((e) => e.runId === result.runId && e.agent === "math"))
      const started = ofTag(result.events, "ToolCallStarted")
      assert.deepStrictEqual(started.map((e) => [e.callId, e.tool, e.args]), [
        ["call_1_0", "add", { a: 2, b: 3 }],
        ["call_1_1", "add", { a: 1, b: 1 }]
      ])
      const outputs = ofTag(result.events, "ToolCallSucceeded").map((e) => [e.callId, e.output]).sort()
      assert.deepStrictEqual(outputs, [["call_1_0", 5], ["call_1_1", 2]])
      const responded = ofTag(result.events, "ModelResponded")
      assert.deepStrictEqual(responded.map((e) => [e.functionCalls, e.finishReason]), [
        [["add", "add"], "tool-calls"],
        [[], "stop"]
      ])
      const completed = ofTag(result.events, "RunCompleted")[0]
      assert.strictEqual(completed.text, "The sums are 5 and 2")
      assert.deepStrictEqual(completed.history, result.history)
    }))

  it.effect("a failed run ends with exactly one RunFailed, carrying the error's tag and message", () =>
    Effect.gen(function*() {
      const events: Array<AgentEvent.AgentEvent> = []
      const exit = yield* LeakCheck.check(
        Stream.runForEach(Agent.stream(math, "go"), (e) => Effect.sync(() => events.push(e)))
      ).pipe(Effect.exit)
      assert.isTrue(Exit.isFailure(exit))
      assert.deepStrictEqual(events.map((e) => e._tag), ["RunStarted", "TurnStarted", "ModelRequested", "RunFailed"])
      const failed = events.at(-1) as AgentEvent.RunFailed
      assert.strictEqual(failed.error, "ContentBlocked")
      assert.strictEqual(failed.message, "The model blocked the content (SAFETY).")
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.fail(new AgentError.ContentBlocked({ reason: "SAFETY" }))]))))

  it.effect("events encode to JSON and decode back with the AgentEvent schema", () =>
    Effect.gen(function*() {
      const result = yield* runOnce
      const json = JSON.parse(JSON.stringify(Schema.encodeSync(Schema.Array(AgentEvent.AgentEvent))(result.events)))
      const decoded = Schema.decodeUnknownSync(Schema.Array(AgentEvent.AgentEvent))(json)
      assert.deepStrictEqual(decoded, result.events)
    }))
})

describe("Agent.stream", () => {
  it.effect("emits the same events as Agent.run collects, plus TextDeltas", () =>
    Effect.gen(function*() {
      const collected = yield* runOnce
      const streamed = yield* streamOnce
      const withoutDeltas = streamed.filter((e) => e._tag !== "TextDelta")
      assert.deepStrictEqual(withoutDeltas, collected.events)
      assert.isAbove(ofTag(streamed, "TextDelta").length, 1)
      assert.deepStrictEqual(AgentEvent.invariantViolations(streamed), [])
    }))

  it.effect("TextDeltas arrive in order, between the turn's ModelRequested and ModelResponded, and add up to its text", () =>
    Effect.gen(function*() {
      const streamed = yield* streamOnce
      const lastIndexOf = (tag: AgentEvent.AgentEvent["_tag"]) => streamed.map((e) => e._tag).lastIndexOf(tag)
      const requested = lastIndexOf("ModelRequested")
      const responded = lastIndexOf("ModelResponded")
      const deltas = ofTag(streamed, "TextDelta")
      assert.deepStrictEqual(deltas.map((d) => d.text), ["The ", "sums ", "are ", "5 ", "and ", "2"])
      assert.isTrue(deltas.every((d) => {
        const i = streamed.indexOf(d)
        return i > requested && i < responded && d.turn === 2
      }))
      assert.strictEqual(deltas.map((d) => d.text).join(""), (streamed[responded] as AgentEvent.ModelResponded).text)
    }))

  it.effect("TextDeltas are emitted as the chunks arrive, not when the answer is complete", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(LeakCheck.check(Stream.runCollect(Agent.stream(math, "Count"))))
      yield* TestClock.adjust(1000)
      const streamed = Chunk.toReadonlyArray(yield* Fiber.join(fiber))
      assert.deepStrictEqual(ofTag(streamed, "TextDelta").map((d) => [d.text, d.timestamp]), [
        ["one ", 100],
        ["two ", 200],
        ["three", 300]
      ])
      assert.deepStrictEqual(ofTag(streamed, "ModelResponded").map((e) => [e.text, e.timestamp]), [["one two three", 400]])
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.text("one two three", { chunkDelay: "100 millis" })]))))

  it.effect("a failed run's stream emits RunFailed, then fails with the run's error", () =>
    Effect.gen(function*() {
      const events: Array<AgentEvent.AgentEvent> = []
      const exit = yield* LeakCheck.check(Stream.runForEach(Agent.stream(math, "go"), (e) => Effect.sync(() => events.push(e))))
        .pipe(Effect.exit)
      assert.strictEqual(events.at(-1)?._tag, "RunFailed")
      assert.isTrue(Exit.isFailure(exit))
      assert.deepStrictEqual(Exit.isFailure(exit) && exit.cause._tag === "Fail" && exit.cause.error._tag, "InvalidRequest")
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.fail(new AgentError.InvalidRequest({ detail: "nope" }))]))))
})

describe("AgentEvent.invariantViolations", () => {
  const base = { runId: "r1", agent: "math", turn: 1, timestamp: 0, tool: "add" }
  const started = (callId: string) => new AgentEvent.ToolCallStarted({ ...base, callId, args: {} })
  const succeeded = (callId: string) => new AgentEvent.ToolCallSucceeded({ ...base, callId, output: 1 })
  const interrupted = (callId: string) => new AgentEvent.ToolCallInterrupted({ ...base, callId, reason: "run-interrupted" })

  it("is empty when every started call has exactly one terminal event", () => {
    assert.deepStrictEqual(AgentEvent.invariantViolations([started("c1"), started("c2"), interrupted("c2"), succeeded("c1")]), [])
  })

  it("reports a call that never ended", () => {
    assert.deepStrictEqual(AgentEvent.invariantViolations([started("c1")]), ["call r1/c1 started but never ended"])
  })

  it("reports a call that ended twice", () => {
    assert.deepStrictEqual(AgentEvent.invariantViolations([started("c1"), succeeded("c1"), interrupted("c1")]), [
      "call r1/c1 ended twice (ToolCallInterrupted)"
    ])
  })

  it("reports a terminal event without a start", () => {
    assert.deepStrictEqual(AgentEvent.invariantViolations([succeeded("c9")]), ["call r1/c9 ended (ToolCallSucceeded) without ToolCallStarted"])
  })
})

describe("runs without events", () => {
  it.effect("a run made with events: false builds no event and ends as the same run with events does, at the same instant", () =>
    Effect.gen(function*() {
      const quiet = yield* Effect.gen(function*() {
        const fiber = yield* Effect.fork(LeakCheck.check(Agent.run(math, "Sum 2 + 3 and 1 + 1", { events: false })))
        yield* TestClock.adjust(1499)
        assert.isNull(fiber.unsafePoll())
        yield* TestClock.adjust(1)
        return yield* Fiber.join(fiber)
      }).pipe(Effect.provide(script()), seeded)
      const loud = yield* runOnce
      assert.deepStrictEqual(quiet.events, [])
      assert.isAbove(loud.events.length, 0)
      assert.deepStrictEqual({ ...quiet, events: [] }, { ...loud, events: [] })
    }))
})

describe("events of Agent.run", () => {
  // `Agent.run` records its events as they happen (times as offsets from the run's start) and
  // builds them when it ends; `Agent.stream` builds each at once
  const rewind = Tool.make("rewind", {
    description: "Set the clock back",
    parameters: Schema.Struct({}),
    success: Schema.String,
    handler: () => Effect.as(TestClock.setTime(1.25), "rewound")
  })
  const rewinding = Agent.make({ name: "clock", instructions: "", tools: [rewind] })
  const rewindScript = () => ScriptedModel.layer([ScriptedModel.callTools([{ name: "rewind", args: {} }]), ScriptedModel.text("Done")])
  const far = 2 ** 53

  it.effect("keep the clock's exact times, even when it is set back from far away to a fraction", () =>
    Effect.gen(function*() {
      const collected = yield* Effect.zipRight(TestClock.setTime(far), Agent.run(rewinding, "Rewind")).pipe(
        Effect.provide(rewindScript()),
        seeded
      )
      const streamed = yield* Effect.zipRight(TestClock.setTime(far), Stream.runCollect(Agent.stream(rewinding, "Rewind"))).pipe(
        Effect.provide(rewindScript()),
        seeded
      )
      const times = collected.events.map((event) => [event._tag, event.timestamp])
      assert.deepStrictEqual(times, Chunk.toReadonlyArray(streamed).filter((e) => e._tag !== "TextDelta").map((e) => [e._tag, e.timestamp]))
      assert.deepStrictEqual(times.slice(0, 1), [["RunStarted", far]])
      assert.deepStrictEqual(times.slice(-1), [["RunCompleted", 1.25]])
    }))
})
