/**
 * Interrupting a run — by its caller (`Fiber.interrupt`), by `Effect.timeout`, by the policy's
 * `runTimeout`, by a stream consumer that stops early — interrupts the model call and every
 * tool call in flight at that instant; their finalizers run and no fiber outlives the run.
 */
import { Agent, AgentError, AgentEvent, Model, Tool } from "@effect-agents/core"
import { LeakCheck, ScriptedModel } from "@effect-agents/testing"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Clock, Effect, Exit, Fiber, Option, Ref, Schema, Stream, TestClock } from "effect"
import { ofTag } from "../support/agents.js"

type Log = Ref.Ref<ReadonlyArray<string>>

const record = (log: Log, what: string) =>
  Effect.flatMap(Clock.currentTimeMillis, (t) => Ref.update(log, (entries) => [...entries, `${what}@${t}`]))

/** A tool holding a resource for `millis`; the log shows when it was released and whether it returned. */
const holder = (name: string, millis: number, log: Log) =>
  Tool.make(name, {
    description: `Holds a resource for ${millis} ms`,
    scoped: true,
    parameters: Schema.Struct({}),
    success: Schema.String,
    handler: () =>
      Effect.gen(function*() {
        yield* Effect.acquireRelease(record(log, `${name} acquired`), () => record(log, `${name} released`))
        yield* Effect.sleep(millis)
        yield* record(log, `${name} returned`)
        return name
      })
  })

class Boom extends Schema.TaggedError<Boom>()("Boom", { message: Schema.String }) {}

/** A model whose every call hangs; the log shows when a call was sent and when it was aborted. */
const hangingModel = (log: Log) =>
  Model.layer({
    generate: () =>
      Effect.zipRight(record(log, "model called"), Effect.never).pipe(Effect.onInterrupt(() => record(log, "model aborted"))),
    stream: () =>
      Stream.fromEffect(
        Effect.zipRight(record(log, "model called"), Effect.never).pipe(Effect.onInterrupt(() => record(log, "model aborted")))
      )
  })

const twoHolders = (log: Log) =>
  Agent.make({ name: "math", instructions: "", tools: [holder("a", 10_000, log), holder("b", 10_000, log)] })

const callBoth = ScriptedModel.layer([ScriptedModel.callTools([{ name: "a" }, { name: "b" }]), ScriptedModel.text("never")])

describe("caller interrupts", () => {
  it.effect("Fiber.interrupt during a model call aborts the call at that instant and leaves no fiber behind", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const leaks = yield* LeakCheck.make
      const agent = Agent.make({ name: "math", instructions: "" })
      const fiber = yield* Effect.fork(leaks.supervise(Agent.run(agent, "go")).pipe(Effect.provide(hangingModel(log))))
      yield* TestClock.adjust(1500)
      const exit = yield* Fiber.interrupt(fiber)
      assert.isTrue(Exit.isInterrupted(exit))
      assert.deepStrictEqual(yield* Ref.get(log), ["model called@0", "model aborted@1500"])
      yield* leaks.assertClean
    }))

  it.effect("Fiber.interrupt during tool calls runs every tool's finalizer at that instant and no late result appears", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const leaks = yield* LeakCheck.make
      const fiber = yield* Effect.fork(leaks.supervise(Agent.run(twoHolders(log), "go")))
      yield* TestClock.adjust(1000)
      const exit = yield* Fiber.interrupt(fiber)
      assert.isTrue(Exit.isInterrupted(exit))
      yield* leaks.assertClean
      yield* TestClock.adjust(20_000)
      const entries = [...(yield* Ref.get(log))].sort()
      assert.deepStrictEqual(entries, ["a acquired@0", "a released@1000", "b acquired@0", "b released@1000"])
      assert.strictEqual((yield* ScriptedModel.ScriptedModel.pipe(Effect.flatMap((m) => m.requests))).length, 1)
    }).pipe(Effect.provide(callBoth)))

  it.effect("Fiber.interrupt during a single tool call (run in the run's own fiber) releases its resource", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const leaks = yield* LeakCheck.make
      const fiber = yield* Effect.fork(leaks.supervise(Agent.run(twoHolders(log), "go")))
      yield* TestClock.adjust(250)
      assert.isTrue(Exit.isInterrupted(yield* Fiber.interrupt(fiber)))
      yield* leaks.assertClean
      assert.deepStrictEqual(yield* Ref.get(log), ["a acquired@0", "a released@250"])
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.callTools([{ name: "a" }])]))))

  it.effect("Effect.timeout around a run interrupts its tool calls at the deadline", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const fiber = yield* Effect.fork(LeakCheck.check(Agent.run(twoHolders(log), "go").pipe(Effect.timeout("2 seconds"))))
      yield* TestClock.adjust(20_000)
      const exit = yield* Fiber.await(fiber)
      assert.isTrue(Exit.isFailure(exit) && Cause.isTimeoutException(Option.getOrThrow(Cause.failureOption(exit.cause))))
      const entries = [...(yield* Ref.get(log))].sort()
      assert.deepStrictEqual(entries, ["a acquired@0", "a released@2000", "b acquired@0", "b released@2000"])
    }).pipe(Effect.provide(callBoth)))

  it.effect("a stream consumer that stops early interrupts the run and its tool calls", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      // stop at the first ToolCallStarted
      const fiber = yield* Effect.fork(LeakCheck.check(
        Agent.stream(twoHolders(log), "go").pipe(
          Stream.takeUntil((e) => e._tag === "ToolCallStarted"),
          Stream.runCollect
        )
      ))
      yield* TestClock.adjust(20_000)
      const events = Array.from(yield* Fiber.join(fiber))
      assert.deepStrictEqual(events.map((e) => e._tag), ["RunStarted", "TurnStarted", "ModelRequested", "ModelResponded", "ToolCallStarted"])
      const entries = yield* Ref.get(log)
      const acquired = entries.filter((e) => e.includes("acquired")).map((e) => e.replace("acquired", "released")).sort()
      const released = entries.filter((e) => e.includes("released")).sort()
      assert.include(entries, "a acquired@0")
      assert.deepStrictEqual(released, acquired, "every resource acquired was released at t = 0")
      assert.isFalse(entries.some((e) => e.includes("returned")))
    }).pipe(Effect.provide(callBoth)))
})

describe("run deadlines", () => {
  it.effect("policy runTimeout fails the run with RunTimeout at the deadline, every started call ending run-interrupted", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const agent = twoHolders(log).pipe(Agent.withPolicy({ runTimeout: "3 seconds" }))
      const events: Array<AgentEvent.AgentEvent> = []
      const fiber = yield* Effect.fork(
        LeakCheck.check(Stream.runForEach(Agent.stream(agent, "go"), (e) => Effect.sync(() => events.push(e))))
      )
      yield* TestClock.adjust(20_000)
      const exit = yield* Fiber.await(fiber)
      assert.isTrue(Exit.isFailure(exit))
      const error = Exit.isFailure(exit) ? Option.getOrThrow(Cause.failureOption(exit.cause)) : undefined
      assert.instanceOf(error, AgentError.RunTimeout)
      assert.strictEqual(
        (error as AgentError.RunTimeout).message,
        "Agent \"math\" did not finish within 3s (policy.runTimeout); the run was interrupted."
      )
      const interrupted = ofTag(events, "ToolCallInterrupted").map((e) => [e.tool, e.reason, e.timestamp])
      assert.deepStrictEqual(interrupted.sort(), [["a", "run-interrupted", 3000], ["b", "run-interrupted", 3000]])
      assert.deepStrictEqual(ofTag(events, "RunFailed").map((e) => [e.error, e.timestamp]), [["RunTimeout", 3000]])
      assert.deepStrictEqual(AgentEvent.invariantViolations(events), [])
      const entries = [...(yield* Ref.get(log))].sort()
      assert.deepStrictEqual(entries, ["a acquired@0", "a released@3000", "b acquired@0", "b released@3000"])
    }).pipe(Effect.provide(callBoth)))

  it.effect("policy runTimeout also interrupts a model call in flight", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const agent = Agent.make({ name: "math", instructions: "", policy: { runTimeout: "3 seconds" } })
      const fiber = yield* Effect.fork(LeakCheck.check(Agent.run(agent, "go")).pipe(Effect.provide(hangingModel(log))))
      yield* TestClock.adjust(20_000)
      const exit = yield* Fiber.await(fiber)
      assert.isTrue(Exit.isFailure(exit))
      const error = Exit.isFailure(exit) ? Option.getOrThrow(Cause.failureOption(exit.cause)) : undefined
      assert.instanceOf(error, AgentError.RunTimeout)
      assert.deepStrictEqual(yield* Ref.get(log), ["model called@0", "model aborted@3000"])
    }))

  it.effect("a sub-agent run interrupted by its caller ends each of its started calls with run-interrupted", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const sub = Agent.make({ name: "sub", instructions: "", tools: [holder("a", 10_000, log), holder("b", 10_000, log)] })
      const bad = Tool.make("bad", {
        description: "Fails after 500 ms",
        parameters: Schema.Struct({}),
        handler: () => Effect.zipRight(Effect.sleep(500), Effect.fail(new Boom({ message: "bad broke" })))
      })
      const parent = Agent.make({ name: "parent", instructions: "", tools: [Agent.asTool(sub), bad] })
      const events: Array<AgentEvent.AgentEvent> = []
      const fiber = yield* Effect.fork(
        LeakCheck.check(Stream.runForEach(Agent.stream(parent, "go"), (e) => Effect.sync(() => events.push(e))))
      )
      yield* TestClock.adjust(20_000)
      const exit = yield* Fiber.await(fiber)
      assert.isTrue(Exit.isFailure(exit))
      const ends = ofTag(events, "ToolCallInterrupted").map((e) => [e.agent, e.tool, e.reason, e.timestamp])
      assert.deepStrictEqual(ends.sort(), [
        ["parent", "sub", "sibling-failed", 500],
        ["parent/sub", "a", "run-interrupted", 500],
        ["parent/sub", "b", "run-interrupted", 500]
      ])
      assert.deepStrictEqual(AgentEvent.invariantViolations(events), [])
      const entries = [...(yield* Ref.get(log))].sort()
      assert.deepStrictEqual(entries, ["a acquired@0", "a released@500", "b acquired@0", "b released@500"])
    }).pipe(Effect.provide(ScriptedModel.layer([
      ScriptedModel.callTools([{ name: "sub", args: { input: "hold both" } }, { name: "bad" }]),
      ScriptedModel.callTools([{ name: "a" }, { name: "b" }])
    ]))))
})
