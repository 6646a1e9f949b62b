/**
 * Model calls under the agent's policy: retries on retryable errors only, on the schedule's
 * exact delays (or the server's), a timeout per attempt, and the turn limit.
 */
import { Agent, AgentError, AgentEvent, Policy, Tool } from "@effect-agents/core"
import { LeakCheck, ScriptedModel } from "@effect-agents/testing"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Duration, Effect, Exit, Fiber, Option, Random, Schedule, Schema, TestClock, TestContext } from "effect"
import { ofTag, runFor, streamFor } from "../support/agents.js"

/** `Agent.stream` under `LeakCheck`, driving the clock by `millis`: every event, and the exit, even when the run fails. */
/** `Agent.run` under `LeakCheck`, driving the virtual clock by `millis`. */
const failureOf = (exit: Exit.Exit<unknown, unknown>): unknown => {
  if (Exit.isSuccess(exit)) throw new Error("expected the run to fail")
  return Option.getOrThrowWith(Cause.failureOption(exit.cause), () => new Error(Cause.pretty(exit.cause)))
}

const requestCount = ScriptedModel.ScriptedModel.pipe(Effect.flatMap((m) => m.requests), Effect.map((r) => r.length))

const unavailable = (detail: string) => new AgentError.ModelUnavailable({ status: 503, detail })

/** 100 ms, 200 ms, 400 ms, …: no jitter, so the delays are exact. */
const exponential = Schedule.exponential("100 millis").pipe(Schedule.intersect(Schedule.recurs(4)))

const plain = (policy: Policy.Options) =>
  Agent.make({ name: "math", instructions: "Answer.", policy })

describe("model retries", () => {
  it.effect("a 503 twice then success is retried on the schedule's exact delays", () =>
    Effect.gen(function*() {
      const result = yield* runFor(plain({ modelRetry: exponential }), "go", 300)
      const retries = ofTag(result.events, "RetryScheduled")
      assert.deepStrictEqual(retries.map((e) => [e.attempt, e.delayMillis, e.timestamp, e.error]), [
        [2, 100, 0, "ModelUnavailable"],
        [3, 200, 100, "ModelUnavailable"]
      ])
      assert.strictEqual(retries[0].message, "The model is unavailable (HTTP 503): overloaded 1")
      const attempts = ofTag(result.events, "ModelRequested").map((e) => [e.attempt, e.timestamp])
      assert.deepStrictEqual(attempts, [[1, 0], [2, 100], [3, 300]])
      assert.strictEqual(result.text, "ok")
      assert.strictEqual(result.turns, 1)
    }).pipe(Effect.provide(ScriptedModel.layer([
      ScriptedModel.fail(unavailable("overloaded 1")),
      ScriptedModel.fail(unavailable("overloaded 2")),
      ScriptedModel.text("ok")
    ]))))

  it.effect("no retry happens before the announced delay has passed", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(LeakCheck.check(Agent.run(plain({ modelRetry: exponential }), "go")))
      yield* TestClock.adjust(99)
      assert.strictEqual(yield* requestCount, 1)
      yield* TestClock.adjust(1)
      assert.strictEqual(yield* requestCount, 2)
      const result = yield* Fiber.join(fiber)
      assert.strictEqual(result.text, "ok")
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.fail(unavailable("overloaded")), ScriptedModel.text("ok")]))))

  const jitteredRun = (seed: number) =>
    runFor(plain({}), "go", 10_000).pipe(
      Effect.provide(ScriptedModel.layer([
        ScriptedModel.fail(unavailable("1")),
        ScriptedModel.fail(unavailable("2")),
        ScriptedModel.fail(unavailable("3")),
        ScriptedModel.text("ok")
      ])),
      Effect.withRandom(Random.make(seed)),
      // a fresh virtual clock at t = 0 for each run, so runs are comparable bit for bit
      Effect.provide(TestContext.TestContext)
    )

  it.effect("the default jittered policy retries at exactly the delays RetryScheduled announced", () =>
    Effect.gen(function*() {
      const result = yield* jitteredRun(7)
      const retries = ofTag(result.events, "RetryScheduled")
      const attempts = ofTag(result.events, "ModelRequested")
      assert.strictEqual(retries.length, 3)
      assert.strictEqual(attempts.length, 4)
      retries.forEach((retry, i) => {
        assert.strictEqual(retry.timestamp, attempts[i].timestamp)
        assert.strictEqual(attempts[i + 1].timestamp, retry.timestamp + retry.delayMillis)
      })
      // exponential from 500 ms, jittered by a factor in [0.8, 1.2]
      const bounds = [[400, 600], [800, 1200], [1600, 2400]]
      retries.forEach((retry, i) => assert.isTrue(retry.delayMillis >= bounds[i][0] && retry.delayMillis <= bounds[i][1]))
    }))

  it.effect("the default jittered policy is deterministic under a fixed seed", () =>
    Effect.gen(function*() {
      const delays = (events: ReadonlyArray<AgentEvent.AgentEvent>) => ofTag(events, "RetryScheduled").map((e) => e.delayMillis)
      const first = delays((yield* jitteredRun(7)).events)
      const again = delays((yield* jitteredRun(7)).events)
      const other = delays((yield* jitteredRun(8)).events)
      assert.deepStrictEqual(again, first)
      assert.notDeepEqual(other, first)
      assert.notDeepEqual(first, [500, 1000, 2000], "the delays are jittered")
    }))

  it.effect("a 400 (InvalidRequest) fails the run at once, without retry", () =>
    Effect.gen(function*() {
      const { events, exit } = yield* streamFor(plain({ modelRetry: exponential }), "go", 10_000)
      const error = failureOf(exit)
      assert.instanceOf(error, AgentError.InvalidRequest)
      assert.strictEqual((error as AgentError.InvalidRequest).detail, "bad schema")
      assert.strictEqual(ofTag(events, "RetryScheduled").length, 0)
      assert.deepStrictEqual(ofTag(events, "ModelRequested").map((e) => e.timestamp), [0])
      assert.deepStrictEqual(ofTag(events, "RunFailed").map((e) => [e.error, e.timestamp]), [["InvalidRequest", 0]])
      assert.strictEqual(yield* requestCount, 1)
    }).pipe(Effect.provide(ScriptedModel.layer([
      ScriptedModel.fail(new AgentError.InvalidRequest({ status: 400, detail: "bad schema" })),
      ScriptedModel.text("never")
    ]))))

  it.effect("a 429 with retryAfter 7 s waits exactly 7 s, whatever the schedule says", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(LeakCheck.check(Agent.run(plain({ modelRetry: exponential }), "go")))
      yield* TestClock.adjust(6999)
      assert.strictEqual(yield* requestCount, 1)
      yield* TestClock.adjust(1)
      const result = yield* Fiber.join(fiber)
      const retries = ofTag(result.events, "RetryScheduled").map((e) => [e.error, e.delayMillis, e.timestamp])
      assert.deepStrictEqual(retries, [["RateLimited", 7000, 0]])
      assert.deepStrictEqual(ofTag(result.events, "ModelRequested").map((e) => [e.attempt, e.timestamp]), [[1, 0], [2, 7000]])
      assert.strictEqual(result.text, "ok")
    }).pipe(Effect.provide(ScriptedModel.layer([
      ScriptedModel.fail(new AgentError.RateLimited({ retryAfter: Duration.seconds(7) })),
      ScriptedModel.text("ok")
    ]))))

  it.effect("a model call longer than modelTimeout fails with ModelTimeout and is retried", () =>
    Effect.gen(function*() {
      const result = yield* runFor(plain({ modelRetry: exponential, modelTimeout: "2 seconds" }), "go", 2100)
      const retries = ofTag(result.events, "RetryScheduled")
      assert.deepStrictEqual(retries.map((e) => [e.error, e.delayMillis, e.timestamp]), [["ModelTimeout", 100, 2000]])
      assert.strictEqual(retries[0].message, "The model call was interrupted after 2s (policy.modelTimeout).")
      assert.deepStrictEqual(ofTag(result.events, "ModelRequested").map((e) => [e.attempt, e.timestamp]), [[1, 0], [2, 2100]])
      assert.strictEqual(result.text, "ok")
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.hang, ScriptedModel.text("ok")]))))

  it.effect("retries stop when the schedule is exhausted and the run fails with the last error", () =>
    Effect.gen(function*() {
      const twice = Schedule.exponential("100 millis").pipe(Schedule.intersect(Schedule.recurs(2)))
      const { events, exit } = yield* streamFor(plain({ modelRetry: twice }), "go", 10_000)
      const error = failureOf(exit)
      assert.instanceOf(error, AgentError.ModelUnavailable)
      assert.strictEqual((error as AgentError.ModelUnavailable).detail, "third")
      assert.deepStrictEqual(ofTag(events, "ModelRequested").map((e) => [e.attempt, e.timestamp]), [[1, 0], [2, 100], [3, 300]])
      assert.strictEqual(ofTag(events, "RetryScheduled").length, 2)
      assert.deepStrictEqual(ofTag(events, "RunFailed").map((e) => [e.error, e.timestamp]), [["ModelUnavailable", 300]])
    }).pipe(Effect.provide(ScriptedModel.layer([
      ScriptedModel.fail(unavailable("first")),
      ScriptedModel.fail(unavailable("second")),
      ScriptedModel.fail(unavailable("third")),
      ScriptedModel.text("never")
    ]))))

  it.effect("a non-retryable error after a retry stops the retries at once", () =>
    Effect.gen(function*() {
      const { events, exit } = yield* streamFor(plain({ modelRetry: exponential }), "go", 10_000)
      assert.instanceOf(failureOf(exit), AgentError.ContentBlocked)
      assert.deepStrictEqual(ofTag(events, "ModelRequested").map((e) => [e.attempt, e.timestamp]), [[1, 0], [2, 100]])
      assert.strictEqual(ofTag(events, "RetryScheduled").length, 1)
    }).pipe(Effect.provide(ScriptedModel.layer([
      ScriptedModel.fail(unavailable("flaky")),
      ScriptedModel.fail(new AgentError.ContentBlocked({ reason: "SAFETY" })),
      ScriptedModel.text("never")
    ]))))
})

describe("turn limit", () => {
  const echo = Tool.make("echo", {
    description: "Echo",
    parameters: Schema.Struct({ text: Schema.String }),
    handler: ({ text }) => Effect.succeed(text)
  })

  it.effect("a model that keeps calling tools stops at maxTurns with MaxTurnsExceeded", () =>
    Effect.gen(function*() {
      const agent = Agent.make({ name: "math", instructions: "", tools: [echo], policy: { maxTurns: 2 } })
      const { events, exit } = yield* streamFor(agent, "go", 0)
      const error = failureOf(exit)
      assert.instanceOf(error, AgentError.MaxTurnsExceeded)
      assert.deepStrictEqual([(error as AgentError.MaxTurnsExceeded).agent, (error as AgentError.MaxTurnsExceeded).maxTurns], [
        "math",
        2
      ])
      assert.strictEqual(
        (error as AgentError.MaxTurnsExceeded).message,
        "Agent \"math\" reached maxTurns (2) without a final answer; raise policy.maxTurns or check for a tool loop."
      )
      assert.strictEqual(ofTag(events, "TurnStarted").length, 2)
      assert.strictEqual(ofTag(events, "ToolCallSucceeded").length, 2)
      assert.strictEqual(yield* requestCount, 2)
      assert.deepStrictEqual(ofTag(events, "RunFailed").map((e) => e.error), ["MaxTurnsExceeded"])
    }).pipe(Effect.provide(ScriptedModel.layer(() => ScriptedModel.callTools([{ name: "echo", args: { text: "again" } }])))))

  it.effect("an answer on the last allowed turn completes the run", () =>
    Effect.gen(function*() {
      const agent = Agent.make({ name: "math", instructions: "", tools: [echo], policy: { maxTurns: 2 } })
      const result = yield* runFor(agent, "go", 0)
      assert.strictEqual(result.turns, 2)
      assert.strictEqual(result.text, "done")
    }).pipe(Effect.provide(ScriptedModel.layer([
      ScriptedModel.callTools([{ name: "echo", args: { text: "once" } }]),
      ScriptedModel.text("done")
    ]))))
})
