/**
 * The tool-call group: the function calls of one model response run as one group, with
 * TaskGroup semantics (`fail-fast`) or gather semantics (`report`), answers in call order.
 */
import { Agent, AgentError, AgentEvent, Content, Model, Tool } from "@effect-agents/core"
import { LeakCheck, ScriptedModel } from "@effect-agents/testing"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Clock, Duration, Effect, Exit, Option, Ref, Schedule, Schema, Stream } from "effect"
import { ofTag, runFor, streamFor } from "../support/agents.js"
import { counted } from "../support/fibers.js"

const NoArgs = Schema.Struct({})

class Boom extends Schema.TaggedError<Boom>()("Boom", { message: Schema.String }) {}

type Log = Ref.Ref<ReadonlyArray<string>>

const record = (log: Log, what: string) =>
  Effect.flatMap(Clock.currentTimeMillis, (t) => Ref.update(log, (entries) => [...entries, `${what}@${t}`]))

/** A tool that sleeps then answers its name; with a log, its finalizer records when it ran. */
const sleeper = (name: string, millis: number, options?: {
  readonly log?: Log
  readonly timeout?: Duration.DurationInput
  readonly onFailure?: "fail-fast" | "report"
}) =>
  Tool.make(name, {
    description: `Sleeps ${millis} ms`,
    scoped: true,
    parameters: NoArgs,
    success: Schema.String,
    timeout: options?.timeout,
    onFailure: options?.onFailure,
    handler: () =>
      Effect.gen(function*() {
        const log = options?.log
        if (log !== undefined) yield* Effect.addFinalizer(() => record(log, `${name} finalized`))
        yield* Effect.sleep(millis)
        if (log !== undefined) yield* record(log, `${name} returned`)
        return name
      })
  })

/** A tool that fails with `Boom` after `millis`. */
const failing = (name: string, millis: number, options?: { readonly onFailure?: "fail-fast" | "report" }) =>
  Tool.make(name, {
    description: `Fails after ${millis} ms`,
    parameters: NoArgs,
    onFailure: options?.onFailure,
    handler: () => Effect.zipRight(Effect.sleep(millis), Effect.fail(new Boom({ message: `${name} broke` })))
  })

/** `Agent.run` under `LeakCheck`, driving the virtual clock by `millis`. */
/** `Agent.stream` under `LeakCheck`, driving the clock by `millis`: every event, and the exit, even when the run fails. */
/** The `ToolCallFailed` a failed exit holds. */
const toolCallFailed = (exit: Exit.Exit<unknown, unknown>): AgentError.ToolCallFailed => {
  assert.isTrue(Exit.isFailure(exit))
  if (Exit.isSuccess(exit)) throw new Error("expected a failure")
  assert.isFalse(Cause.isInterrupted(exit.cause), "the run's cause holds no interruption")
  const failure = Cause.failureOption(exit.cause)
  assert.isTrue(Option.isSome(failure) && failure.value instanceof AgentError.ToolCallFailed, Cause.pretty(exit.cause))
  return Option.getOrThrow(failure) as AgentError.ToolCallFailed
}

/** The parts of the last user message the model received in request `index`. */
const responsesOf = (requests: ReadonlyArray<{ readonly contents: ReadonlyArray<Content.Content> }>, index: number) => {
  const last = requests[index].contents.at(-1)!
  assert.strictEqual(last.role, "user")
  return last.parts
}

const terminalOf = (events: ReadonlyArray<AgentEvent.AgentEvent>, tool: string) => {
  const ends = events.filter((e): e is AgentEvent.ToolCallTerminal => AgentEvent.isToolCallTerminal(e) && e.tool === tool)
  assert.strictEqual(ends.length, 1, `one terminal event for ${tool}`)
  return ends[0]
}

describe("tool-call group: concurrency", () => {
  it.effect("three one-second tools of one model response all finish at t = 1 s, not 3 s", () =>
    Effect.gen(function*() {
      const agent = Agent.make({
        name: "math",
        instructions: "",
        tools: [sleeper("a", 1000), sleeper("b", 1000), sleeper("c", 1000)]
      })
      const result = yield* runFor(agent, "go", 1000)
      const ended = ofTag(result.events, "ToolCallSucceeded").map((e) => [e.tool, e.timestamp]).sort()
      assert.deepStrictEqual(ended, [["a", 1000], ["b", 1000], ["c", 1000]])
      assert.deepStrictEqual(ofTag(result.events, "ToolCallStarted").map((e) => e.timestamp), [0, 0, 0])
      assert.deepStrictEqual(ofTag(result.events, "ModelRequested").map((e) => e.timestamp), [0, 1000])
      assert.deepStrictEqual(ofTag(result.events, "RunCompleted").map((e) => e.timestamp), [1000])
      assert.strictEqual(result.text, "done")
      assert.deepStrictEqual(AgentEvent.invariantViolations(result.events), [])
    }).pipe(Effect.provide(ScriptedModel.layer([
      ScriptedModel.callTools([{ name: "a" }, { name: "b" }, { name: "c" }]),
      ScriptedModel.text("done")
    ]))))

  it.effect("toolConcurrency bounds how many calls of a group run at once", () =>
    Effect.gen(function*() {
      const agent = Agent.make({
        name: "math",
        instructions: "",
        tools: [sleeper("a", 1000), sleeper("b", 1000), sleeper("c", 1000)],
        policy: { toolConcurrency: 2 }
      })
      const result = yield* runFor(agent, "go", 2000)
      const started = ofTag(result.events, "ToolCallStarted").map((e) => [e.tool, e.timestamp])
      assert.deepStrictEqual(started, [["a", 0], ["b", 0], ["c", 1000]])
      assert.strictEqual(terminalOf(result.events, "c").timestamp, 2000)
      assert.deepStrictEqual(AgentEvent.invariantViolations(result.events), [])
    }).pipe(Effect.provide(ScriptedModel.layer([
      ScriptedModel.callTools([{ name: "a" }, { name: "b" }, { name: "c" }]),
      ScriptedModel.text("done")
    ]))))

  it.effect("the responses of a group go back to the model in call order, whatever order the calls finish in", () =>
    Effect.gen(function*() {
      const agent = Agent.make({ name: "math", instructions: "", tools: [sleeper("slow", 300), sleeper("fast", 100)] })
      yield* runFor(agent, "go", 300)
      const requests = yield* ScriptedModel.ScriptedModel.pipe(Effect.flatMap((m) => m.requests))
      assert.deepStrictEqual(responsesOf(requests, 1), [
        { _tag: "FunctionResponse", id: "call_1_0", name: "slow", output: "slow", isError: false },
        { _tag: "FunctionResponse", id: "call_1_1", name: "fast", output: "fast", isError: false }
      ])
    }).pipe(Effect.provide(ScriptedModel.layer([
      ScriptedModel.callTools([{ name: "slow" }, { name: "fast" }]),
      ScriptedModel.text("done")
    ]))))
})

describe("tool-call group: fail-fast", () => {
  it.effect("a tool failing at t = 100 ms interrupts its 10 s sibling at t = 100 ms and runs the sibling's finalizer", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const agent = Agent.make({ name: "math", instructions: "", tools: [failing("bad", 100), sleeper("slow", 10_000, { log })] })
      const { events, exit } = yield* streamFor(agent, "go", 100)
      assert.isTrue(Exit.isFailure(exit))
      assert.deepStrictEqual(yield* Ref.get(log), ["slow finalized@100"])
      const sibling = terminalOf(events, "slow")
      assert.strictEqual(sibling._tag, "ToolCallInterrupted")
      assert.strictEqual((sibling as AgentEvent.ToolCallInterrupted).reason, "sibling-failed")
      assert.strictEqual(sibling.timestamp, 100)
      assert.deepStrictEqual(AgentEvent.invariantViolations(events), [])
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.callTools([{ name: "bad" }, { name: "slow" }])]))))

  it.effect("a call failing before its siblings began stops them: each starts and ends as interrupted at that instant, its handler never run", () =>
    Effect.gen(function*() {
      const ran: Array<string> = []
      const instant = Tool.make("instant", {
        description: "Fails at once",
        parameters: NoArgs,
        handler: () => Effect.fail(new Boom({ message: "instant broke" }))
      })
      const watched = (name: string) =>
        Tool.make(name, {
          description: "Records that it ran",
          scoped: true,
          parameters: NoArgs,
          handler: () => Effect.sync(() => ran.push(name))
        })
      const agent = Agent.make({ name: "math", instructions: "", tools: [instant, watched("first"), watched("second")] })
      const { events, exit } = yield* streamFor(agent, "go", 0)
      assert.deepStrictEqual(toolCallFailed(exit).calls, [{ tool: "instant", callId: "call_1_0" }])
      assert.deepStrictEqual(ran, [])
      const ends = events.filter(AgentEvent.isToolCallTerminal).map((e) =>
        [e.tool, e._tag === "ToolCallInterrupted" ? e.reason : e._tag, e.timestamp]
      )
      assert.deepStrictEqual(ends, [["instant", "ToolCallFailed", 0], ["first", "sibling-failed", 0], ["second", "sibling-failed", 0]])
      assert.deepStrictEqual(ofTag(events, "ToolCallStarted").map((e) => e.tool), ["instant", "first", "second"])
      assert.deepStrictEqual(AgentEvent.invariantViolations(events), [])
    }).pipe(Effect.provide(ScriptedModel.layer([
      ScriptedModel.callTools([{ name: "instant" }, { name: "first" }, { name: "second" }])
    ]))))

  it.effect("the run fails with ToolCallFailed whose cause holds the real failure and no interruption", () =>
    Effect.gen(function*() {
      const agent = Agent.make({ name: "math", instructions: "", tools: [sleeper("slow", 10_000), failing("bad", 100)] })
      const { events, exit } = yield* streamFor(agent, "go", 100)
      const error = toolCallFailed(exit)
      assert.deepStrictEqual(error.calls, [{ tool: "bad", callId: "call_1_1" }])
      const failures = Array.from(Cause.failures(error.cause))
      assert.strictEqual(failures.length, 1)
      assert.instanceOf(failures[0], Boom)
      assert.strictEqual((failures[0] as Boom).message, "bad broke")
      assert.isFalse(Cause.isInterrupted(error.cause))
      assert.strictEqual(error.message, "Tool call failed: bad (call_1_1): bad broke")
      const failed = terminalOf(events, "bad") as AgentEvent.ToolCallFailed
      assert.deepStrictEqual([failed._tag, failed.kind, failed.reported, failed.timestamp], ["ToolCallFailed", "failure", false, 100])
      const runFailed = ofTag(events, "RunFailed")
      assert.deepStrictEqual(runFailed.map((e) => [e.error, e.timestamp]), [["ToolCallFailed", 100]])
      assert.deepStrictEqual(AgentEvent.invariantViolations(events), [])
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.callTools([{ name: "slow" }, { name: "bad" }])]))))

  it.effect("a failing single call fails the run without another model request", () =>
    Effect.gen(function*() {
      const agent = Agent.make({ name: "math", instructions: "", tools: [failing("bad", 100)] })
      const { events, exit } = yield* streamFor(agent, "go", 100)
      const error = toolCallFailed(exit)
      assert.deepStrictEqual(error.calls, [{ tool: "bad", callId: "call_1_0" }])
      assert.strictEqual(ofTag(events, "ModelRequested").length, 1)
      const requests = yield* ScriptedModel.ScriptedModel.pipe(Effect.flatMap((m) => m.requests))
      assert.strictEqual(requests.length, 1)
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.callTools([{ name: "bad" }])]))))
})

describe("tool-call group: report", () => {
  it.effect("failures go back to the model as error responses in call order while siblings continue", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const agent = Agent.make({
        name: "math",
        instructions: "",
        tools: [sleeper("slow", 1000, { log }), failing("bad", 100), failing("worse", 200)],
        policy: { toolFailure: "report" }
      })
      const result = yield* runFor(agent, "go", 1000)
      assert.deepStrictEqual(yield* Ref.get(log), ["slow returned@1000", "slow finalized@1000"])
      const requests = yield* ScriptedModel.ScriptedModel.pipe(Effect.flatMap((m) => m.requests))
      assert.deepStrictEqual(responsesOf(requests, 1), [
        { _tag: "FunctionResponse", id: "call_1_0", name: "worse", output: "worse broke", isError: true },
        { _tag: "FunctionResponse", id: "call_1_1", name: "slow", output: "slow", isError: false },
        { _tag: "FunctionResponse", id: "call_1_2", name: "bad", output: "bad broke", isError: true }
      ])
      const failed = ofTag(result.events, "ToolCallFailed").map((e) => [e.tool, e.kind, e.reported, e.timestamp])
      assert.deepStrictEqual(failed, [["bad", "failure", true, 100], ["worse", "failure", true, 200]])
      assert.deepStrictEqual(ofTag(result.events, "ModelRequested").map((e) => e.timestamp), [0, 1000])
      assert.strictEqual(result.text, "two tools failed")
      assert.deepStrictEqual(AgentEvent.invariantViolations(result.events), [])
    }).pipe(Effect.provide(ScriptedModel.layer([
      ScriptedModel.callTools([{ name: "worse" }, { name: "slow" }, { name: "bad" }]),
      ScriptedModel.text("two tools failed")
    ]))))

  it.effect("a tool's onFailure: \"report\" overrides an agent's fail-fast policy", () =>
    Effect.gen(function*() {
      const agent = Agent.make({
        name: "math",
        instructions: "",
        tools: [failing("bad", 100, { onFailure: "report" }), sleeper("slow", 1000)],
        policy: { toolFailure: "fail-fast" }
      })
      const result = yield* runFor(agent, "go", 1000)
      assert.strictEqual(terminalOf(result.events, "slow")._tag, "ToolCallSucceeded")
      const requests = yield* ScriptedModel.ScriptedModel.pipe(Effect.flatMap((m) => m.requests))
      assert.deepStrictEqual(responsesOf(requests, 1).map((p) => p._tag === "FunctionResponse" && [p.name, p.isError]), [
        ["bad", true],
        ["slow", false]
      ])
      assert.strictEqual(result.text, "ok")
    }).pipe(Effect.provide(ScriptedModel.layer([
      ScriptedModel.callTools([{ name: "bad" }, { name: "slow" }]),
      ScriptedModel.text("ok")
    ]))))

  it.effect("a tool's onFailure: \"fail-fast\" overrides an agent's report policy", () =>
    Effect.gen(function*() {
      const agent = Agent.make({
        name: "math",
        instructions: "",
        tools: [failing("bad", 100, { onFailure: "fail-fast" }), sleeper("slow", 1000)],
        policy: { toolFailure: "report" }
      })
      const { events, exit } = yield* streamFor(agent, "go", 1000)
      assert.deepStrictEqual(toolCallFailed(exit).calls, [{ tool: "bad", callId: "call_1_0" }])
      const sibling = terminalOf(events, "slow") as AgentEvent.ToolCallInterrupted
      assert.deepStrictEqual([sibling._tag, sibling.reason, sibling.timestamp], ["ToolCallInterrupted", "sibling-failed", 100])
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.callTools([{ name: "bad" }, { name: "slow" }])]))))
})

describe("tool-call group: timeouts", () => {
  it.effect("a 5 s tool timeout fires at exactly t = 5 s and the late result never appears (fail-fast)", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const agent = Agent.make({ name: "math", instructions: "", tools: [sleeper("slow", 10_000, { log, timeout: "5 seconds" })] })
      const { events, exit } = yield* streamFor(agent, "go", 20_000)
      const error = toolCallFailed(exit)
      const [timeout] = Array.from(Cause.failures(error.cause))
      assert.instanceOf(timeout, AgentError.ToolTimeout)
      assert.strictEqual((timeout as AgentError.ToolTimeout).message, "Tool \"slow\" (call call_1_0) timed out after 5s and was interrupted.")
      const end = terminalOf(events, "slow") as AgentEvent.ToolCallInterrupted
      assert.deepStrictEqual([end._tag, end.reason, end.timestamp], ["ToolCallInterrupted", "timeout", 5000])
      assert.strictEqual(ofTag(events, "ToolCallSucceeded").length, 0)
      assert.deepStrictEqual(yield* Ref.get(log), ["slow finalized@5000"])
      assert.deepStrictEqual(ofTag(events, "RunFailed").map((e) => e.timestamp), [5000])
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.callTools([{ name: "slow" }])]))))

  it.effect("in report mode the model receives the timeout message at t = 5 s and the late result never appears", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const agent = Agent.make({
        name: "math",
        instructions: "",
        tools: [sleeper("slow", 10_000, { log, timeout: "5 seconds" })],
        policy: { toolFailure: "report" }
      })
      const result = yield* runFor(agent, "go", 20_000)
      const requests = yield* ScriptedModel.ScriptedModel.pipe(Effect.flatMap((m) => m.requests))
      assert.deepStrictEqual(responsesOf(requests, 1), [{
        _tag: "FunctionResponse",
        id: "call_1_0",
        name: "slow",
        output: "Tool \"slow\" (call call_1_0) timed out after 5s and was interrupted.",
        isError: true
      }])
      assert.deepStrictEqual(ofTag(result.events, "ModelRequested").map((e) => e.timestamp), [0, 5000])
      const end = terminalOf(result.events, "slow") as AgentEvent.ToolCallInterrupted
      assert.deepStrictEqual([end._tag, end.reason, end.timestamp], ["ToolCallInterrupted", "timeout", 5000])
      assert.strictEqual(ofTag(result.events, "ToolCallSucceeded").length, 0)
      assert.deepStrictEqual(yield* Ref.get(log), ["slow finalized@5000"])
      assert.deepStrictEqual(AgentEvent.invariantViolations(result.events), [])
    }).pipe(Effect.provide(ScriptedModel.layer([
      ScriptedModel.callTools([{ name: "slow" }]),
      ScriptedModel.text("it timed out")
    ]))))
})

describe("tool-call group: retries", () => {
  it.effect("a tool's retry schedule retries handler failures at the schedule's instants", () =>
    Effect.gen(function*() {
      const attempts = yield* Ref.make<ReadonlyArray<number>>([])
      const flaky = Tool.make("flaky", {
        description: "Fails twice, then answers",
        parameters: NoArgs,
        success: Schema.String,
        retry: Schedule.spaced("1 second"),
        handler: () =>
          Effect.gen(function*() {
            const now = yield* Clock.currentTimeMillis
            const n = (yield* Ref.updateAndGet(attempts, (a) => [...a, now])).length
            if (n < 3) return yield* Effect.fail(new Boom({ message: `attempt ${n} failed` }))
            return `attempt ${n} worked`
          })
      })
      const agent = Agent.make({ name: "math", instructions: "", tools: [flaky] })
      const result = yield* runFor(agent, "go", 2000)
      assert.deepStrictEqual(yield* Ref.get(attempts), [0, 1000, 2000])
      const ok = terminalOf(result.events, "flaky") as AgentEvent.ToolCallSucceeded
      assert.deepStrictEqual([ok._tag, ok.output, ok.timestamp], ["ToolCallSucceeded", "attempt 3 worked", 2000])
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.callTools([{ name: "flaky" }]), ScriptedModel.text("ok")]))))

  it.effect("when a tool's retries are exhausted the last failure is the call's failure", () =>
    Effect.gen(function*() {
      const attempts = yield* Ref.make(0)
      const broken = Tool.make("broken", {
        description: "Always fails",
        parameters: NoArgs,
        retry: Schedule.recurs(2),
        handler: () =>
          Effect.flatMap(Ref.updateAndGet(attempts, (n) => n + 1), (n) => Effect.fail(new Boom({ message: `attempt ${n} failed` })))
      })
      const agent = Agent.make({ name: "math", instructions: "", tools: [broken], policy: { toolFailure: "report" } })
      const result = yield* runFor(agent, "go", 0)
      assert.strictEqual(yield* Ref.get(attempts), 3)
      const requests = yield* ScriptedModel.ScriptedModel.pipe(Effect.flatMap((m) => m.requests))
      assert.deepStrictEqual(responsesOf(requests, 1), [
        { _tag: "FunctionResponse", id: "call_1_0", name: "broken", output: "attempt 3 failed", isError: true }
      ])
      assert.strictEqual(result.text, "gave up")
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.callTools([{ name: "broken" }]), ScriptedModel.text("gave up")]))))
})

describe("tool-call group: the model's mistakes", () => {
  const add = Tool.make("add", {
    description: "Add two numbers",
    parameters: Schema.Struct({ a: Schema.Number, b: Schema.Number }),
    success: Schema.Number,
    handler: ({ a, b }) => Effect.succeed(a + b)
  })

  it.effect("an unknown tool name goes back to the model as an error response and the run goes on (even fail-fast)", () =>
    Effect.gen(function*() {
      const agent = Agent.make({ name: "math", instructions: "", tools: [add], policy: { toolFailure: "fail-fast" } })
      const result = yield* LeakCheck.check(Agent.run(agent, "go"))
      const requests = yield* ScriptedModel.ScriptedModel.pipe(Effect.flatMap((m) => m.requests))
      assert.deepStrictEqual(responsesOf(requests, 1), [
        { _tag: "FunctionResponse", id: "call_1_0", name: "divide", output: "Unknown tool \"divide\". Available tools: add.", isError: true },
        { _tag: "FunctionResponse", id: "call_1_1", name: "add", output: 5, isError: false }
      ])
      const failed = ofTag(result.events, "ToolCallFailed")
      assert.deepStrictEqual(failed.map((e) => [e.tool, e.kind, e.reported]), [["divide", "unknown-tool", true]])
      assert.strictEqual(result.text, "sorry")
      assert.deepStrictEqual(AgentEvent.invariantViolations(result.events), [])
    }).pipe(Effect.provide(ScriptedModel.layer([
      ScriptedModel.callTools([{ name: "divide", args: { a: 1, b: 0 } }, { name: "add", args: { a: 2, b: 3 } }]),
      ScriptedModel.text("sorry")
    ]))))

  it.effect("arguments the tool's Schema rejects go back to the model as an error response and the handler never runs", () =>
    Effect.gen(function*() {
      const agent = Agent.make({ name: "math", instructions: "", tools: [add], policy: { toolFailure: "fail-fast" } })
      const result = yield* LeakCheck.check(Agent.run(agent, "go"))
      const requests = yield* ScriptedModel.ScriptedModel.pipe(Effect.flatMap((m) => m.requests))
      assert.deepStrictEqual(responsesOf(requests, 1), [{
        _tag: "FunctionResponse",
        id: "call_1_0",
        name: "add",
        output: "Invalid arguments for tool \"add\": { readonly a: number; readonly b: number }\n└─ [\"a\"]\n   └─ Expected number, actual \"two\"",
        isError: true
      }])
      const failed = ofTag(result.events, "ToolCallFailed")
      assert.deepStrictEqual(failed.map((e) => [e.tool, e.kind, e.reported]), [["add", "invalid-arguments", true]])
      assert.strictEqual(ofTag(result.events, "ToolCallSucceeded").length, 0)
      assert.strictEqual(result.text, "let me retry")
      assert.deepStrictEqual(AgentEvent.invariantViolations(result.events), [])
    }).pipe(Effect.provide(ScriptedModel.layer([
      ScriptedModel.callTools([{ name: "add", args: { a: "two", b: 3 } }]),
      ScriptedModel.text("let me retry")
    ]))))
})

describe("tool-call group: fibers", () => {
  /** A tool reporting the fiber it runs in and how many tracked fibers are alive meanwhile. */
  const probe = (leaks: LeakCheck.LeakCheck, seen: Array<{ readonly fiber: string; readonly live: number }>) =>
    Tool.make("probe", {
      description: "Reports its fiber",
      parameters: NoArgs,
      handler: () =>
        Effect.gen(function*() {
          const fiber = JSON.stringify(yield* Effect.fiberId)
          yield* Effect.yieldNow()
          const live = (yield* leaks.live).length
          seen.push({ fiber, live })
        })
    })

  it.effect("a single tool call runs in the run's own fiber: no fiber is forked for it", () =>
    Effect.gen(function*() {
      const leaks = yield* LeakCheck.make
      const seen: Array<{ readonly fiber: string; readonly live: number }> = []
      const agent = Agent.make({ name: "math", instructions: "", tools: [probe(leaks, seen)] })
      const caller = JSON.stringify(yield* Effect.fiberId)
      const result = yield* leaks.supervise(Agent.run(agent, "go"))
      assert.deepStrictEqual(seen, [{ fiber: caller, live: 0 }])
      assert.strictEqual(result.text, "ok")
      yield* leaks.assertClean
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.callTools([{ name: "probe" }]), ScriptedModel.text("ok")]))))

  it.effect("two tool calls of one response run in two forked fibers, alive side by side", () =>
    Effect.gen(function*() {
      const leaks = yield* LeakCheck.make
      const seen: Array<{ readonly fiber: string; readonly live: number }> = []
      const agent = Agent.make({ name: "math", instructions: "", tools: [probe(leaks, seen)] })
      const caller = JSON.stringify(yield* Effect.fiberId)
      yield* leaks.supervise(Agent.run(agent, "go"))
      assert.strictEqual(seen.length, 2)
      assert.notStrictEqual(seen[0].fiber, seen[1].fiber)
      assert.notInclude(seen.map((s) => s.fiber), caller)
      assert.isAtLeast(seen[0].live, 2)
      yield* leaks.assertClean
    }).pipe(Effect.provide(ScriptedModel.layer([
      ScriptedModel.callTools([{ name: "probe" }, { name: "probe" }]),
      ScriptedModel.text("ok")
    ]))))

  const double = Tool.make("double", {
    description: "Doubles a number",
    parameters: Schema.Struct({ n: Schema.Number }),
    success: Schema.Number,
    handler: ({ n }) => Effect.succeed(2 * n)
  })
  const yielding = Tool.make("yielding", {
    description: "Yields once, then answers",
    parameters: NoArgs,
    success: Schema.String,
    handler: () => Effect.as(Effect.yieldNow(), "yielded")
  })
  const agent = Agent.make({ name: "math", instructions: "", tools: [double, yielding] })

  it.effect("a model that answers at once and a pure tool call start no fiber at all", () =>
    Effect.gen(function*() {
      const [result, started] = yield* counted(Agent.run(agent, "go"))
      assert.strictEqual(result.text, "4")
      assert.strictEqual(started, 0)
    }).pipe(Effect.provide(ScriptedModel.layer([
      ScriptedModel.callTools([{ name: "double", args: { n: 2 } }]),
      ScriptedModel.text("4")
    ]))))

  it.effect("eight pure calls of one response start no fiber, and answer in call order", () =>
    Effect.gen(function*() {
      const [result, started] = yield* counted(Agent.run(agent, "go"))
      assert.strictEqual(started, 0)
      const succeeded = ofTag(result.events, "ToolCallSucceeded").map((e) => e.output)
      assert.deepStrictEqual(succeeded, [0, 2, 4, 6, 8, 10, 12, 14])
      const requests = yield* Effect.flatMap(ScriptedModel.ScriptedModel, (model) => model.requests)
      const parts = requests[1]!.contents.at(-1)!.parts
      assert.deepStrictEqual(parts.map((part) => part._tag === "FunctionResponse" ? part.output : undefined), [0, 2, 4, 6, 8, 10, 12, 14])
    }).pipe(Effect.provide(ScriptedModel.layer([
      ScriptedModel.callTools(Array.from({ length: 8 }, (_, n) => ({ name: "double", args: { n } }))),
      ScriptedModel.text("done")
    ]))))

  it.effect("among pure calls, only the call that waits gets a fiber of its own; the answers keep call order", () =>
    Effect.gen(function*() {
      const [result, started] = yield* counted(Agent.run(agent, "go"))
      assert.strictEqual(started, 1)
      assert.deepStrictEqual(ofTag(result.events, "ToolCallSucceeded").map((e) => e.output), [2, 6, "yielded"])
      const requests = yield* Effect.flatMap(ScriptedModel.ScriptedModel, (model) => model.requests)
      const parts = requests[1]!.contents.at(-1)!.parts
      assert.deepStrictEqual(parts.map((part) => part._tag === "FunctionResponse" ? part.output : undefined), [2, "yielded", 6])
    }).pipe(Effect.provide(ScriptedModel.layer([
      ScriptedModel.callTools([{ name: "double", args: { n: 1 } }, { name: "yielding" }, { name: "double", args: { n: 3 } }]),
      ScriptedModel.text("done")
    ]))))

  it.effect("a model that throws as its call starts fails the run with that defect, as a dying call does", () =>
    Effect.gen(function*() {
      const broken: Model.Model.Service = {
        generate: () =>
          Effect.suspend(() => {
            throw new Error("the wire broke")
          }),
        stream: () => Stream.die(new Error("unused"))
      }
      const exit = yield* Effect.exit(LeakCheck.check(Agent.run(agent, "go").pipe(Effect.provideService(Model.Model, broken))))
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isSuccess(exit)) return
      const defect = Cause.dieOption(exit.cause)
      assert.isTrue(Option.isSome(defect) && defect.value instanceof Error && defect.value.message === "the wire broke", Cause.pretty(exit.cause))
    }))
})
