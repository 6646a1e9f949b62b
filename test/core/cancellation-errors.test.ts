/**
 * No error is lost while things are being cancelled: a sibling's cleanup that dies, a timed-out
 * call's cleanup, workers interrupted by the caller, a failure at the instant the caller
 * interrupts. A call cancelled on its own is not a group failure. What a handler sets in its
 * fiber behaves the same for one call or several.
 */
import { Agent, AgentError, AgentEvent, Model, Orchestrate, Tool } from "@effect-agents/core"
import { LeakCheck, ScriptedModel } from "@effect-agents/testing"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Clock, Deferred, type Duration, Effect, Exit, Fiber, FiberRef, Option, Ref, Schema, Stream, TestClock } from "effect"
import { ofTag, responsesOf, runFor } from "../support/agents.js"

const NoArgs = Schema.Struct({})

class Boom extends Schema.TaggedError<Boom>()("Boom", { message: Schema.String }) {}

type Log = Ref.Ref<ReadonlyArray<string>>

const record = (log: Log, what: string) =>
  Effect.flatMap(Clock.currentTimeMillis, (t) => Ref.update(log, (entries) => [...entries, `${what}@${t}`]))

/**
 * The exact structure of a cause, as text: `Then(a, b)` is sequential, `Both(a, b)` parallel,
 * `Fail(tag: message)`, `Die(message)`, `Interrupt`. `Empty` nodes are left out, and so is an
 * interruption repeated after a cause that already holds it: the fiber runtime appends a
 * fiber's interruption again each time its cause leaves an uninterruptible region.
 */
const shape = (cause: Cause.Cause<unknown>): string => render(simplify(cause))

const simplify = (cause: Cause.Cause<unknown>): Cause.Cause<unknown> =>
  Cause.match(cause, {
    onEmpty: Cause.empty,
    onFail: (error) => Cause.fail(error),
    onDie: (defect) => Cause.die(defect),
    onInterrupt: (fiberId) => Cause.interrupt(fiberId),
    onSequential: (left, right) =>
      Cause.isEmpty(left)
        ? right
        : Cause.isEmpty(right) || (Cause.isInterruptedOnly(right) && isSubset(Cause.interruptors(right), Cause.interruptors(left)))
        ? left
        : Cause.sequential(left, right),
    onParallel: (left, right) => Cause.isEmpty(left) ? right : Cause.isEmpty(right) ? left : Cause.parallel(left, right)
  })

const isSubset = <A>(small: Iterable<A>, big: Iterable<A>) => {
  const all = Array.from(big, (a) => JSON.stringify(a))
  return Array.from(small).every((a) => all.includes(JSON.stringify(a)))
}

const render = (cause: Cause.Cause<unknown>): string =>
  Cause.match(cause, {
    onEmpty: "Empty",
    onFail: (error) => `Fail(${labelOf(error)})`,
    onDie: (defect) => `Die(${AgentError.describeError(defect)})`,
    onInterrupt: () => "Interrupt",
    onSequential: (left, right) => `Then(${left}, ${right})`,
    onParallel: (left, right) => `Both(${left}, ${right})`
  })

const labelOf = (error: unknown): string =>
  typeof error === "object" && error !== null && "_tag" in error
    ? `${String(error._tag)}: ${AgentError.describeError(error)}`
    : AgentError.describeError(error)

/** The `ToolCallFailed` a cause holds (there must be exactly one failure). */
const toolCallFailedIn = (cause: Cause.Cause<unknown>): AgentError.ToolCallFailed => {
  const failures = Array.from(Cause.failures(cause))
  assert.strictEqual(failures.length, 1, Cause.pretty(cause))
  assert.instanceOf(failures[0], AgentError.ToolCallFailed)
  return failures[0] as AgentError.ToolCallFailed
}

/**
 * Run `agent` on "go" under `LeakCheck`, advancing the clock by `millis`: its exit, whole (an
 * `Agent.stream` consumer would see Effect's `Stream` drop a defect that sits beside a failure),
 * and every event it published (`Orchestrate.settle` with `onEvent`).
 */
const settleFor = <R>(agent: Agent.Agent<R>, millis: number) =>
  Effect.gen(function*() {
    const events: Array<AgentEvent.AgentEvent> = []
    const fiber = yield* Effect.fork(
      LeakCheck.check(Orchestrate.settle(agent, ["go"], { onEvent: (event) => Effect.sync(() => events.push(event)) }))
    )
    yield* TestClock.adjust(millis)
    const [exit] = yield* Fiber.join(fiber)
    assert.deepStrictEqual(AgentEvent.invariantViolations(events), [])
    return { events, exit: exit! }
  })

const failureOf = (exit: Exit.Exit<unknown, unknown>): Cause.Cause<unknown> => {
  if (Exit.isSuccess(exit)) throw new Error("expected the run to fail")
  return exit.cause
}

const terminals = (events: ReadonlyArray<AgentEvent.AgentEvent>) =>
  events.filter(AgentEvent.isToolCallTerminal).map((e) =>
    [e.tool, e._tag === "ToolCallInterrupted" ? e.reason : e._tag === "ToolCallFailed" ? e.kind : "succeeded", e.timestamp]
  )

/** A scoped tool holding a resource whose release records, then dies. */
const dyingRelease = (name: string, millis: number, log: Log) =>
  Tool.make(name, {
    description: `Holds a resource for ${millis} ms; its release crashes`,
    scoped: true,
    parameters: NoArgs,
    success: Schema.String,
    handler: () =>
      Effect.acquireRelease(record(log, `${name} acquired`), () =>
        Effect.zipRight(record(log, `${name} released`), Effect.die(new Error(`${name} release crashed`)))).pipe(
          Effect.zipRight(Effect.sleep(millis)),
          Effect.as(name)
        )
  })

/** A tool whose handler, when interrupted, cleans up and dies doing it. */
const dyingCleanup = (name: string, millis: number, log: Log, options?: { readonly timeout?: Duration.DurationInput }) =>
  Tool.make(name, {
    description: `Works ${millis} ms; its cleanup on interruption crashes`,
    parameters: NoArgs,
    timeout: options?.timeout,
    handler: () =>
      Effect.sleep(millis).pipe(
        Effect.onInterrupt(() => Effect.zipRight(record(log, `${name} cleanup`), Effect.die(new Error(`${name} cleanup crashed`))))
      )
  })

const failing = (name: string, millis: number) =>
  Tool.make(name, {
    description: `Fails after ${millis} ms`,
    parameters: NoArgs,
    handler: () => Effect.zipRight(Effect.sleep(millis), Effect.fail(new Boom({ message: `${name} broke` })))
  })

const sleeper = (name: string, millis: number) =>
  Tool.make(name, {
    description: `Answers after ${millis} ms`,
    parameters: NoArgs,
    success: Schema.String,
    handler: () => Effect.as(Effect.sleep(millis), name)
  })

describe("errors raised during cancellation are kept", () => {
  it.effect("a sibling whose release dies while fail-fast interrupts it: ToolCallFailed.cause holds the failure beside the defect", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const agent = Agent.make({ name: "ops", instructions: "", tools: [failing("bad", 100), dyingRelease("leaky", 10_000, log)] })
      const { events, exit } = yield* settleFor(agent, 100)
      const cause = failureOf(exit)
      assert.strictEqual(shape(cause), "Fail(ToolCallFailed: Tool call failed: bad (call_1_0): bad broke; defect: leaky release crashed)")
      const error = toolCallFailedIn(cause)
      assert.deepStrictEqual(error.calls, [{ tool: "bad", callId: "call_1_0" }])
      assert.strictEqual(shape(error.cause), "Both(Fail(Boom: bad broke), Die(leaky release crashed))")
      assert.deepStrictEqual(yield* Ref.get(log), ["leaky acquired@0", "leaky released@100"])
      assert.deepStrictEqual(terminals(events), [["bad", "failure", 100], ["leaky", "sibling-failed", 100]])
      assert.deepStrictEqual(ofTag(events, "RunFailed").map((e) => [e.error, e.timestamp]), [["ToolCallFailed", 100]])
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.callTools([{ name: "bad" }, { name: "leaky" }])]))))

  it.effect("a tool whose cleanup dies when its timeout fires: the call's cause holds ToolTimeout, then the defect", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const agent = Agent.make({ name: "ops", instructions: "", tools: [dyingCleanup("slow", 10_000, log, { timeout: "1 second" })] })
      const { events, exit } = yield* settleFor(agent, 1000)
      const error = toolCallFailedIn(failureOf(exit))
      assert.strictEqual(
        shape(error.cause),
        "Then(Fail(ToolTimeout: Tool \"slow\" (call call_1_0) timed out after 1s and was interrupted.), Die(slow cleanup crashed))"
      )
      assert.deepStrictEqual(yield* Ref.get(log), ["slow cleanup@1000"])
      assert.deepStrictEqual(terminals(events), [["slow", "timeout", 1000]])
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.callTools([{ name: "slow" }])]))))

  it.effect("a model call whose cleanup dies when modelTimeout fires fails the run with ModelTimeout, then the defect, and is not retried", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const hanging = Effect.zipRight(record(log, "model called"), Effect.never).pipe(
        Effect.onInterrupt(() => Effect.zipRight(record(log, "connection closed"), Effect.die(new Error("connection close crashed"))))
      )
      const agent = Agent.make({ name: "ops", instructions: "", policy: { modelTimeout: "2 seconds" } })
      // `Agent.run`: the model is called with `generate` (a streamed call's defect is dropped by Effect's `Stream`)
      const fiber = yield* Effect.fork(LeakCheck.check(Agent.run(agent, "go")).pipe(
        Effect.provide(Model.layer({ generate: () => hanging, stream: () => Stream.fromEffect(hanging) }))
      ))
      yield* TestClock.adjust(10_000)
      assert.strictEqual(
        shape(failureOf(yield* Fiber.await(fiber))),
        "Then(Fail(ModelTimeout: The model call was interrupted after 2s (policy.modelTimeout).), Die(connection close crashed))"
      )
      // one call, closed at the deadline, never retried
      assert.deepStrictEqual(yield* Ref.get(log), ["model called@0", "connection closed@2000"])
    }))

  it.effect("a run whose tool cleanup dies when runTimeout fires fails with RunTimeout, then the defect", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const agent = Agent.make({
        name: "ops",
        instructions: "",
        tools: [dyingCleanup("slow", 10_000, log)],
        policy: { runTimeout: "3 seconds" }
      })
      const { events, exit } = yield* settleFor(agent, 3000)
      assert.strictEqual(
        shape(failureOf(exit)),
        "Then(Fail(RunTimeout: Agent \"ops\" did not finish within 3s (policy.runTimeout); the run was interrupted.), Die(slow cleanup crashed))"
      )
      assert.deepStrictEqual(yield* Ref.get(log), ["slow cleanup@3000"])
      assert.deepStrictEqual(terminals(events), [["slow", "run-interrupted", 3000]])
      assert.deepStrictEqual(ofTag(events, "RunFailed").map((e) => [e.error, e.timestamp]), [["RunTimeout", 3000]])
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.callTools([{ name: "slow" }])]))))

  it.effect("the caller interrupting a run whose two in-flight calls have dying releases: the run's cause is the interruption, then both defects", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const agent = Agent.make({ name: "ops", instructions: "", tools: [dyingRelease("a", 10_000, log), dyingRelease("b", 10_000, log)] })
      const leaks = yield* LeakCheck.make
      const fiber = yield* Effect.fork(leaks.supervise(Agent.run(agent, "go")))
      yield* TestClock.adjust(1000)
      const exit = yield* Fiber.interrupt(fiber)
      assert.strictEqual(shape(failureOf(exit)), "Then(Interrupt, Both(Die(a release crashed), Die(b release crashed)))")
      assert.deepStrictEqual(yield* Ref.get(log), ["a acquired@0", "b acquired@0", "a released@1000", "b released@1000"])
      yield* leaks.assertClean
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.callTools([{ name: "a" }, { name: "b" }])]))))

  it.effect("a tool failing at the instant the caller interrupts: the run's cause holds the interruption and the ToolCallFailed", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const caller = yield* Effect.fiberId
      const run = yield* Deferred.make<Fiber.RuntimeFiber<unknown, unknown>>()
      // at t = 100 the caller interrupts the run, and in the same instant `bad` fails
      const bad = Tool.make("bad", {
        description: "Fails at t = 100 ms, as the caller interrupts the run",
        parameters: NoArgs,
        handler: () =>
          Effect.sleep(100).pipe(
            Effect.zipRight(Deferred.await(run)),
            Effect.tap((fiber) => Effect.sync(() => fiber.unsafeInterruptAsFork(caller))),
            Effect.zipRight(Effect.fail(new Boom({ message: "bad broke" })))
          )
      })
      const agent = Agent.make({ name: "ops", instructions: "", tools: [bad, dyingRelease("slow", 10_000, log)] })
      const leaks = yield* LeakCheck.make
      const fiber = yield* Effect.fork(leaks.supervise(Agent.run(agent, "go")))
      yield* Deferred.succeed(run, fiber)
      yield* TestClock.adjust(100)
      const cause = failureOf(yield* Fiber.await(fiber))
      assert.strictEqual(
        shape(cause),
        "Then(Interrupt, Fail(ToolCallFailed: Tool call failed: bad (call_1_0): bad broke; defect: slow release crashed))"
      )
      assert.deepStrictEqual(Array.from(Cause.interruptors(cause)), [caller])
      assert.strictEqual(shape(toolCallFailedIn(cause).cause), "Both(Fail(Boom: bad broke), Die(slow release crashed))")
      assert.deepStrictEqual(yield* Ref.get(log), ["slow acquired@0", "slow released@100"])
      yield* leaks.assertClean
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.callTools([{ name: "bad" }, { name: "slow" }])]))))
})

describe("a call cancelled on its own is not a group failure", () => {
  const selfCancelling = Tool.make("flaky", {
    description: "Gives up after 100 ms by interrupting itself",
    parameters: NoArgs,
    handler: () => Effect.zipRight(Effect.sleep(100), Effect.interrupt)
  })

  for (const toolFailure of ["fail-fast", "report"] as const) {
    it.effect(`under ${toolFailure}, a handler ending with Effect.interrupt ends cancelled, the model is told, its sibling and the run go on`, () =>
      Effect.gen(function*() {
        const agent = Agent.make({
          name: "ops",
          instructions: "",
          tools: [selfCancelling, sleeper("slow", 1000)],
          policy: { toolFailure }
        })
        const result = yield* runFor(agent, "go", 1000)
        assert.deepStrictEqual(terminals(result.events), [["flaky", "cancelled", 100], ["slow", "succeeded", 1000]])
        assert.deepStrictEqual(yield* responsesOf(1), [
          {
            _tag: "FunctionResponse",
            id: "call_1_0",
            name: "flaky",
            output: "Tool \"flaky\" (call call_1_0) was cancelled before it finished; it has no result.",
            isError: true
          },
          { _tag: "FunctionResponse", id: "call_1_1", name: "slow", output: "slow", isError: false }
        ])
        assert.strictEqual(result.text, "flaky was cancelled")
        assert.deepStrictEqual(ofTag(result.events, "RunCompleted").map((e) => e.timestamp), [1000])
      }).pipe(Effect.provide(ScriptedModel.layer([
        ScriptedModel.callTools([{ name: "flaky" }, { name: "slow" }]),
        ScriptedModel.text("flaky was cancelled")
      ]))))
  }

  it.effect("a call interrupted by something other than its group or its run (a fiber it joins) ends cancelled and the run goes on", () =>
    Effect.gen(function*() {
      const upstream = yield* Effect.fork(Effect.never)
      const waiting = Tool.make("wait_upstream", {
        description: "Waits for an upstream job",
        parameters: NoArgs,
        handler: () => Fiber.join(upstream)
      })
      yield* Effect.fork(Effect.zipRight(Effect.sleep(250), Fiber.interrupt(upstream)))
      const agent = Agent.make({ name: "ops", instructions: "", tools: [waiting] })
      const result = yield* runFor(agent, "go", 250)
      assert.deepStrictEqual(terminals(result.events), [["wait_upstream", "cancelled", 250]])
      assert.strictEqual(result.text, "upstream gone")
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.callTools([{ name: "wait_upstream" }]), ScriptedModel.text("upstream gone")]))))
})

describe("what a handler sets in its fiber", () => {
  const mark = FiberRef.unsafeMake("unset")
  const marking = Tool.make("mark", {
    description: "Sets a FiberRef and reports the current span",
    parameters: NoArgs,
    success: Schema.String,
    handler: () =>
      Effect.zipRight(
        FiberRef.set(mark, "set by a handler"),
        Effect.map(Effect.option(Effect.currentSpan), Option.match({ onNone: () => "no span", onSome: (span) => span.name }))
      )
  })
  const agent = Agent.make({ name: "ops", instructions: "", tools: [marking] })

  /** Run with the model calling `mark` `n` times at once; what the handlers saw and what the caller sees after. */
  const runWith = (n: number) =>
    Effect.gen(function*() {
      const result = yield* LeakCheck.check(Agent.run(agent, "go")).pipe(Effect.withSpan("request"))
      const seen = ofTag(result.events, "ToolCallSucceeded").map((e) => e.output)
      return { seen, after: yield* FiberRef.get(mark) }
    }).pipe(
      Effect.locally(mark, "unset"),
      Effect.provide(ScriptedModel.layer([
        ScriptedModel.callTools(Array.from({ length: n }, () => ({ name: "mark" }))),
        ScriptedModel.text("ok")
      ]))
    )

  it.effect("a FiberRef or span set inside a tool handler behaves the same whether the model made one call or several", () =>
    Effect.gen(function*() {
      const one = yield* runWith(1)
      const several = yield* runWith(3)
      assert.deepStrictEqual(one, { seen: ["request"], after: "set by a handler" })
      assert.deepStrictEqual(several, { seen: ["request", "request", "request"], after: "set by a handler" })
    }))
})
