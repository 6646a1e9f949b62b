/**
 * Guardrails: input, output and tool checks that run beside the work and stop it at the instant
 * they trip, on the virtual clock.
 */
import { Agent, AgentError, AgentEvent, Guardrail, Handoff, Model, Policy, Tool } from "@effect-agents/core"
import { LeakCheck, ScriptedModel } from "@effect-agents/testing"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Clock, Context, Effect, Exit, Fiber, Layer, Option, Schema, Stream, TestClock } from "effect"
import { ofTag, responsesOf, runFor, streamFor } from "../support/agents.js"
import { type RecordedSpan, recordingTracer } from "../support/tracing.js"

type Log = Array<string>

const stamp = (log: Log, what: string) => Effect.flatMap(Clock.currentTimeMillis, (t) => Effect.sync(() => log.push(`${what}@${t}`)))

/** The scripted model, recording in `log` when a model call is interrupted or a model stream closes. */
const observed = (script: ScriptedModel.Script, log: Log) =>
  Layer.effectContext(Effect.map(ScriptedModel.make(script), (model) =>
    Context.make(Model.Model, {
      generate: (request) => Effect.onInterrupt(model.generate(request), () => stamp(log, "model interrupted")),
      stream: (request) => Stream.ensuring(model.stream(request), stamp(log, "model stream closed"))
    }).pipe(Context.add(ScriptedModel.ScriptedModel, { requests: model.requests }))))

const requestCount = Effect.map(Effect.flatMap(ScriptedModel.ScriptedModel, (model) => model.requests), (r) => r.length)

/** A guardrail check that decides `verdict` after `millis`, recording in `log` if it is interrupted first. */
const after = <V>(millis: number, verdict: V, log?: Log, name = "check") =>
  Effect.as(Effect.sleep(millis), verdict).pipe(
    Effect.onInterrupt(() => log === undefined ? Effect.void : stamp(log, `${name} interrupted`))
  )

const NoArgs = Schema.Struct({})

/** A tool answering its name after `millis`, recording in `log` when its handler starts and when it is interrupted. */
const sleeper = (name: string, millis: number, log: Log, guardrails?: ReadonlyArray<Guardrail.Tool<any, any>>) =>
  Tool.make(name, {
    description: `Sleeps ${millis} ms`,
    parameters: NoArgs,
    success: Schema.String,
    guardrails,
    handler: () =>
      Effect.zipRight(stamp(log, `${name} ran`), Effect.as(Effect.sleep(millis), name)).pipe(
        Effect.onInterrupt(() => stamp(log, `${name} interrupted`))
      )
  })

/** Run under `LeakCheck`, drive the clock by `millis`, and return the exit. */
const exitAfter = <A, E>(effect: Effect.Effect<A, E, Model.Model>, millis: number) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(LeakCheck.check(effect))
    yield* TestClock.adjust(millis)
    return yield* Fiber.await(fiber)
  })

/** The typed failure of an exit (asserting it has one). */
const failureOf = (exit: Exit.Exit<unknown, unknown>): unknown => {
  assert.isTrue(Exit.isFailure(exit))
  if (Exit.isSuccess(exit)) throw new Error("expected a failure")
  const failure = Cause.failureOption(exit.cause)
  assert.isTrue(Option.isSome(failure), Cause.pretty(exit.cause))
  return Option.getOrThrow(failure)
}

const pii = (millis: number, log?: Log) =>
  Guardrail.input("pii", ({ prompt }) =>
    after(millis, /\d{3}-\d{2}-\d{4}/.test(prompt) ? Guardrail.trip("the prompt holds a social security number") : Guardrail.pass, log, "pii"))

describe("input guardrails", () => {
  it.effect("a tripping input guardrail interrupts the model call at that instant: no tool runs, no further request", () => {
    const log: Log = []
    const agent = Agent.make({
      name: "clerk",
      instructions: "File it.",
      tools: [sleeper("file", 10, log)],
      guardrails: { input: [pii(120)] }
    })
    return Effect.gen(function*() {
      const exit = yield* exitAfter(Agent.run(agent, "My SSN is 123-45-6789"), 1000)
      const error = failureOf(exit)
      assert.instanceOf(error, AgentError.GuardrailTripped)
      assert.deepStrictEqual(
        { guardrail: error.guardrail, stage: error.stage, info: error.info },
        { guardrail: "pii", stage: "input", info: "the prompt holds a social security number" }
      )
      assert.deepStrictEqual(log, ["model interrupted@120"])
      assert.strictEqual(yield* requestCount, 1)
    }).pipe(Effect.provide(observed([ScriptedModel.callTools([{ name: "file" }], { delay: 300 }), ScriptedModel.text("filed")], log)))
  })

  it.effect("a trip publishes GuardrailStarted, then GuardrailTripped and RunFailed at the tripwire instant, and no model answer", () => {
    const log: Log = []
    const agent = Agent.make({ name: "clerk", instructions: "File it.", guardrails: { input: [pii(120)] } })
    return Effect.gen(function*() {
      const { events, exit } = yield* streamFor(agent, "My SSN is 123-45-6789", 1000)
      assert.instanceOf(failureOf(exit), AgentError.GuardrailTripped)
      const guardrailEvents = events.filter((e) => e._tag.startsWith("Guardrail") || e._tag === "RunFailed")
      assert.deepStrictEqual(guardrailEvents.map((e) => [e._tag, e.timestamp]), [
        ["GuardrailStarted", 0],
        ["GuardrailTripped", 120],
        ["RunFailed", 120]
      ])
      const tripped = ofTag(events, "GuardrailTripped")[0]!
      assert.deepStrictEqual([tripped.stage, tripped.guardrail, tripped.durationMillis, tripped.action, tripped.reason], [
        "input",
        "pii",
        120,
        "fail",
        "the prompt holds a social security number"
      ])
      assert.deepStrictEqual(ofTag(events, "ModelResponded"), [])
      assert.deepStrictEqual(log, ["model stream closed@120"])
    }).pipe(Effect.provide(observed([ScriptedModel.text("filed", { delay: 300 })], log)))
  })

  it.effect("a passing guardrail slower than the model: the run waits for it, then acts on the answer (total = the slower of the two)", () => {
    const log: Log = []
    const agent = Agent.make({
      name: "clerk",
      instructions: "File it.",
      tools: [sleeper("file", 0, log)],
      guardrails: { input: [pii(500)] }
    })
    return Effect.gen(function*() {
      const result = yield* runFor(agent, "File my form", 1000)
      assert.strictEqual(result.text, "filed")
      assert.deepStrictEqual(log, ["file ran@500"])
      const at = (tag: AgentEvent.AgentEvent["_tag"]) => result.events.find((e) => e._tag === tag)!.timestamp
      assert.strictEqual(at("GuardrailPassed"), 500)
      assert.strictEqual(ofTag(result.events, "GuardrailPassed")[0]!.durationMillis, 500)
      assert.strictEqual(at("ModelResponded"), 500)
      assert.strictEqual(at("RunCompleted"), 500)
    }).pipe(Effect.provide(observed([ScriptedModel.callTools([{ name: "file" }], { delay: 200 }), ScriptedModel.text("filed")], log)))
  })

  it.effect("a passing guardrail faster than the model does not delay the run", () => {
    const agent = Agent.make({ name: "clerk", instructions: "File it.", guardrails: { input: [pii(100)] } })
    return Effect.gen(function*() {
      const result = yield* runFor(agent, "File my form", 1000)
      assert.strictEqual(ofTag(result.events, "GuardrailPassed")[0]!.timestamp, 100)
      assert.strictEqual(ofTag(result.events, "RunCompleted")[0]!.timestamp, 300)
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.text("filed", { delay: 300 })])))
  })

  it.effect("mode \"before\" runs the guardrail first: the model is asked once it passed", () => {
    const agent = Agent.make({
      name: "clerk",
      instructions: "File it.",
      guardrails: { input: [Guardrail.input("first", () => after(100, Guardrail.pass), { mode: "before" })] }
    })
    return Effect.gen(function*() {
      const result = yield* runFor(agent, "File my form", 1000)
      assert.strictEqual(ofTag(result.events, "ModelRequested")[0]!.timestamp, 100)
      assert.strictEqual(ofTag(result.events, "RunCompleted")[0]!.timestamp, 300)
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.text("filed", { delay: 200 })])))
  })

  it.effect("a mode \"before\" guardrail that trips stops the run before any model request", () => {
    const agent = Agent.make({
      name: "clerk",
      instructions: "File it.",
      guardrails: { input: [Guardrail.input("first", () => after(100, Guardrail.trip("no")), { mode: "before" })] }
    })
    return Effect.gen(function*() {
      const exit = yield* exitAfter(Agent.run(agent, "File my form"), 1000)
      assert.instanceOf(failureOf(exit), AgentError.GuardrailTripped)
      assert.strictEqual(yield* requestCount, 0)
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.text("filed")])))
  })

  it.effect("guardrails of one stage run concurrently and the first trip interrupts the others at that instant", () => {
    const log: Log = []
    const agent = Agent.make({
      name: "clerk",
      instructions: "File it.",
      guardrails: {
        input: [
          Guardrail.input("slow", () => after(1000, Guardrail.pass, log, "slow")),
          Guardrail.input("quick", () => after(50, Guardrail.trip({ reason: "off-topic" })))
        ]
      }
    })
    return Effect.gen(function*() {
      const exit = yield* exitAfter(Agent.run(agent, "Sing"), 2000)
      const error = failureOf(exit) as AgentError.GuardrailTripped
      assert.deepStrictEqual([error.guardrail, error.info], ["quick", { reason: "off-topic" }])
      assert.deepStrictEqual(log, ["slow interrupted@50", "model interrupted@50"])
    }).pipe(Effect.provide(observed([ScriptedModel.text("la la", { delay: 300 })], log)))
  })

  it.effect("input guardrails run once per run, on its first model call", () => {
    let checks = 0
    const agent = Agent.make({
      name: "clerk",
      instructions: "File it.",
      tools: [sleeper("file", 0, [])],
      guardrails: { input: [Guardrail.input("count", () => Effect.sync(() => (checks++, Guardrail.pass)))] }
    })
    return Effect.gen(function*() {
      const result = yield* runFor(agent, "File my form", 1000)
      assert.strictEqual(result.turns, 2)
      assert.strictEqual(checks, 1)
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.callTools([{ name: "file" }]), ScriptedModel.text("filed")])))
  })

  it.effect("interrupting the run interrupts its guardrails", () => {
    const log: Log = []
    const agent = Agent.make({
      name: "clerk",
      instructions: "File it.",
      guardrails: { input: [Guardrail.input("slow", () => after(1000, Guardrail.pass, log, "slow"))] }
    })
    return Effect.gen(function*() {
      const fiber = yield* Effect.fork(LeakCheck.check(Agent.run(agent, "File")))
      yield* TestClock.adjust(40)
      const exit = yield* Fiber.interrupt(fiber)
      assert.isTrue(Exit.isInterrupted(exit))
      assert.deepStrictEqual(log.slice().sort(), ["model interrupted@40", "slow interrupted@40"])
    }).pipe(Effect.provide(observed([ScriptedModel.text("filed", { delay: 300 })], log)))
  })
})

describe("guardrail timeouts and failures", () => {
  it.effect("a guardrail that has not decided within policy.guardrailTimeout trips", () => {
    const agent = Agent.make({
      name: "clerk",
      instructions: "File it.",
      policy: { guardrailTimeout: "250 millis" },
      guardrails: { input: [Guardrail.input("stuck", () => Effect.never)] }
    })
    return Effect.gen(function*() {
      const { events, exit } = yield* streamFor(agent, "File", 1000)
      const error = failureOf(exit) as AgentError.GuardrailTripped
      assert.strictEqual(error.guardrail, "stuck")
      assert.strictEqual(error.info, "no verdict within 250ms (policy.guardrailTimeout)")
      assert.strictEqual(ofTag(events, "GuardrailTripped")[0]!.timestamp, 250)
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.text("filed", { delay: 300 })])))
  })

  it.effect("with onTimeout: \"pass\", a guardrail past its timeout passes", () => {
    const agent = Agent.make({
      name: "clerk",
      instructions: "File it.",
      policy: { guardrailTimeout: "250 millis" },
      guardrails: { input: [Guardrail.input("stuck", () => Effect.never, { onTimeout: "pass" })] }
    })
    return Effect.gen(function*() {
      const result = yield* runFor(agent, "File", 1000)
      assert.strictEqual(ofTag(result.events, "GuardrailPassed")[0]!.timestamp, 250)
      assert.strictEqual(result.text, "filed")
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.text("filed", { delay: 300 })])))
  })

  it.effect("a tool guardrail that has not decided within policy.guardrailTimeout trips that call at that instant; its handler never runs", () => {
    const log: Log = []
    const agent = Agent.make({
      name: "ops",
      instructions: "Run it.",
      tools: [sleeper("alpha", 100, log, [Guardrail.tool("stuck", { before: () => Effect.never })])],
      policy: { guardrailTimeout: "250 millis", toolFailure: "report" }
    })
    return Effect.gen(function*() {
      const result = yield* runFor(agent, "Run", 1000)
      const [tripped] = ofTag(result.events, "GuardrailTripped")
      assert.deepStrictEqual([tripped!.guardrail, tripped!.timestamp], ["stuck", 250])
      assert.strictEqual(ofTag(result.events, "ToolCallFailed")[0]!.timestamp, 250)
      assert.deepStrictEqual(log, [])
      assert.strictEqual(result.text, "done")
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.callTools([{ name: "alpha" }]), ScriptedModel.text("done")])))
  })

  it.effect("a guardrail check that throws instead of returning an Effect ends the run with that defect", () => {
    const agent = Agent.make({
      name: "clerk",
      instructions: "File it.",
      guardrails: {
        input: [Guardrail.input("buggy", () => {
          throw new Error("classifier bug")
        })]
      }
    })
    return Effect.gen(function*() {
      const exit = yield* exitAfter(Agent.run(agent, "File"), 1000)
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isSuccess(exit)) return
      const defect = Cause.dieOption(exit.cause)
      assert.isTrue(Option.isSome(defect) && defect.value instanceof Error && defect.value.message === "classifier bug", Cause.pretty(exit.cause))
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.text("filed", { delay: 300 })])))
  })

  it.effect("a guardrail whose check fails fails the run with GuardrailFailed, never a silent pass", () => {
    const agent = Agent.make({
      name: "clerk",
      instructions: "File it.",
      guardrails: { input: [Guardrail.input("broken", () => Effect.fail("classifier down"))] }
    })
    return Effect.gen(function*() {
      const exit = yield* exitAfter(Agent.run(agent, "File"), 1000)
      const error = failureOf(exit)
      assert.instanceOf(error, AgentError.GuardrailFailed)
      assert.strictEqual(error.guardrail, "broken")
      assert.match(error.message, /Guardrail "broken" failed on the input instead of deciding: classifier down/)
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.text("filed", { delay: 300 })])))
  })

  it.effect("a guardrail returning neither pass nor trip is a defect naming it", () => {
    const agent = Agent.make({
      name: "clerk",
      instructions: "File it.",
      guardrails: { input: [Guardrail.input("sloppy", () => Effect.succeed(true as unknown as Guardrail.Verdict))] }
    })
    return Effect.gen(function*() {
      const exit = yield* exitAfter(Agent.run(agent, "File"), 1000)
      assert.isTrue(Exit.isFailure(exit) && Cause.isDie(exit.cause))
      const defect = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
      assert.include(String((defect as Error).message), `The input guardrail "sloppy" returned true, which is neither Guardrail.pass nor Guardrail.trip(info)`)
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.text("filed", { delay: 300 })])))
  })
})

describe("bad guardrail configuration", () => {
  const noop = Guardrail.input("dup", () => Effect.succeed(Guardrail.pass))
  it("two guardrails with one name on one agent are refused at Agent.make", () => {
    assert.throws(
      () =>
        Agent.make({
          name: "clerk",
          instructions: "",
          guardrails: { input: [noop], output: [Guardrail.output("dup", () => Effect.succeed(Guardrail.pass))] }
        }),
      `Invalid agent "clerk": two guardrails are named "dup"; give each a distinct name`
    )
  })

  it("a tool guardrail named like one of the agent's is refused at Agent.make", () => {
    const tool = sleeper("file", 0, [], [Guardrail.tool("dup", { before: () => Effect.succeed(Guardrail.pass) })])
    assert.throws(
      () => Agent.make({ name: "clerk", instructions: "", tools: [tool], guardrails: { input: [noop] } }),
      `Invalid agent "clerk": the tool "file" has a guardrail named "dup" like one of the agent's; rename one`
    )
  })

  it("a guardrail of another stage in a list is refused at Agent.make", () => {
    assert.throws(
      () => Agent.make({ name: "clerk", instructions: "", guardrails: { output: [noop as any] } }),
      /Invalid agent "clerk": guardrails.output\[0\] is not a output guardrail/
    )
  })

  it("a guardrail's options are checked when it is made", () => {
    assert.throws(() => Guardrail.input("", () => Effect.succeed(Guardrail.pass)), /Invalid input guardrail: name must be a non-empty string/)
    assert.throws(
      () => Guardrail.input("x", () => Effect.succeed(Guardrail.pass), { mode: "after" as any }),
      `Invalid input guardrail "x": mode must be "concurrent" or "before", got "after"`
    )
    assert.throws(
      () => Guardrail.output("x", () => Effect.succeed(Guardrail.pass), { feedback: { maxRetries: -1 } }),
      `Invalid output guardrail "x": feedback.maxRetries must be an integer >= 0, got -1`
    )
    assert.throws(() => Guardrail.tool("x", {}), `Invalid tool guardrail "x": give it a before or an after check (or both)`)
    assert.throws(
      () => Policy.make({ guardrailTimeout: -1 }),
      `Invalid policy: guardrailTimeout must be a finite duration >= 0 (milliseconds, "5 seconds" or a Duration), got -1`
    )
  })
})

describe("tool guardrails", () => {
  const noBravo = Guardrail.tool("no-bravo", {
    before: ({ tool }) => Effect.succeed(tool === "bravo" ? Guardrail.reject("bravo is off limits") : Guardrail.pass)
  })
  const threeCalls = ScriptedModel.callTools([{ name: "alpha" }, { name: "bravo" }, { name: "charlie" }])

  it.effect("a rejecting guardrail under report: that handler never runs, its siblings complete, the model is told", () => {
    const log: Log = []
    const agent = Agent.make({
      name: "ops",
      instructions: "Run them.",
      tools: [sleeper("alpha", 100, log), sleeper("bravo", 100, log), sleeper("charlie", 100, log)],
      policy: { toolFailure: "report" },
      guardrails: { tools: [noBravo] }
    })
    return Effect.gen(function*() {
      const result = yield* runFor(agent, "go", 1000)
      assert.deepStrictEqual(log, ["alpha ran@0", "charlie ran@0"])
      const parts = yield* responsesOf(1)
      assert.deepStrictEqual(parts.map((p) => p._tag === "FunctionResponse" ? [p.name, p.isError, p.output] : []), [
        ["alpha", false, "alpha"],
        ["bravo", true, `Tool "bravo" (call call_1_1) was blocked by guardrail "no-bravo": bravo is off limits. It did not run.`],
        ["charlie", false, "charlie"]
      ])
      const blocked = ofTag(result.events, "ToolCallFailed")
      assert.deepStrictEqual(blocked.map((e) => [e.tool, e.kind, e.reported]), [["bravo", "blocked", true]])
      assert.strictEqual(ofTag(result.events, "GuardrailTripped")[0]!.action, "reject")
    }).pipe(Effect.provide(ScriptedModel.layer([threeCalls, ScriptedModel.text("done")])))
  })

  it.effect("a tripping guardrail under fail-fast fails the call and interrupts its siblings at that instant", () => {
    const log: Log = []
    const tripBravo = Guardrail.tool("trip-bravo", {
      before: ({ tool }) => tool === "bravo" ? after(50, Guardrail.trip("bravo is dangerous")) : Effect.succeed(Guardrail.pass)
    })
    const agent = Agent.make({
      name: "ops",
      instructions: "Run them.",
      tools: [sleeper("alpha", 100, log), sleeper("bravo", 100, log), sleeper("charlie", 100, log)],
      policy: { toolFailure: "fail-fast" },
      guardrails: { tools: [tripBravo] }
    })
    return Effect.gen(function*() {
      const { events, exit } = yield* streamFor(agent, "go", 1000)
      const error = failureOf(exit)
      assert.instanceOf(error, AgentError.ToolCallFailed)
      assert.deepStrictEqual(error.calls, [{ tool: "bravo", callId: "call_1_1" }])
      const inner = Cause.failureOption(error.cause)
      assert.isTrue(Option.isSome(inner) && inner.value instanceof AgentError.GuardrailTripped)
      assert.deepStrictEqual(log, ["alpha ran@0", "charlie ran@0", "alpha interrupted@50", "charlie interrupted@50"])
      assert.deepStrictEqual(
        ofTag(events, "ToolCallInterrupted").map((e) => [e.tool, e.reason, e.timestamp]),
        [["alpha", "sibling-failed", 50], ["charlie", "sibling-failed", 50]]
      )
      assert.deepStrictEqual(ofTag(events, "ToolCallFailed").map((e) => [e.tool, e.kind, e.reported]), [["bravo", "blocked", false]])
    }).pipe(Effect.provide(ScriptedModel.layer([threeCalls])))
  })

  it.effect("an after guardrail rejecting a result withholds it: the model reads the block instead", () => {
    const log: Log = []
    const secret = Tool.make("secret", {
      description: "Reads the vault",
      parameters: NoArgs,
      success: Schema.String,
      handler: () => Effect.zipRight(stamp(log, "secret ran"), Effect.succeed("sk-123")),
      guardrails: [
        Guardrail.tool<{}, string>("no-keys", {
          after: ({ result }) => Effect.succeed(result?.startsWith("sk-") ? Guardrail.reject("it holds a key") : Guardrail.pass)
        })
      ]
    })
    const agent = Agent.make({ name: "ops", instructions: "Read it.", tools: [secret], policy: { toolFailure: "report" } })
    return Effect.gen(function*() {
      const result = yield* runFor(agent, "go", 1000)
      assert.deepStrictEqual(log, ["secret ran@0"])
      const [part] = yield* responsesOf(1)
      assert.deepStrictEqual(part?._tag === "FunctionResponse" ? [part.isError, part.output] : [], [
        true,
        `The result of tool "secret" (call call_1_0) was blocked by guardrail "no-keys": it holds a key. It is not shown.`
      ])
      assert.deepStrictEqual(ofTag(result.events, "ToolCallSucceeded"), [])
      assert.isFalse(JSON.stringify(result.history).includes("sk-123"))
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.callTools([{ name: "secret" }]), ScriptedModel.text("done")])))
  })

  it.effect("a tool guardrail whose check fails fails the call with GuardrailFailed: under report the model is told, the handler never ran", () => {
    const log: Log = []
    const agent = Agent.make({
      name: "ops",
      instructions: "Run it.",
      tools: [sleeper("alpha", 0, log)],
      policy: { toolFailure: "report" },
      guardrails: { tools: [Guardrail.tool("flaky", { before: () => Effect.fail("policy service down") })] }
    })
    return Effect.gen(function*() {
      const result = yield* runFor(agent, "go", 1000)
      assert.deepStrictEqual(log, [])
      const [part] = yield* responsesOf(1)
      assert.isTrue(part?._tag === "FunctionResponse" && part.isError)
      assert.match(String(part?._tag === "FunctionResponse" && part.output), /Guardrail "flaky" failed on the tool instead of deciding: policy service down/)
      assert.deepStrictEqual(ofTag(result.events, "ToolCallFailed").map((e) => [e.kind, e.reported]), [["failure", true]])
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.callTools([{ name: "alpha" }]), ScriptedModel.text("done")])))
  })

  it.effect("a tool guardrail sees the decoded arguments and publishes its events with the call", () => {
    const seen: Array<unknown> = []
    const add = Tool.make("add", {
      description: "Add",
      parameters: Schema.Struct({ a: Schema.NumberFromString, b: Schema.Number }),
      success: Schema.Number,
      handler: ({ a, b }) => Effect.succeed(a + b),
      guardrails: [Guardrail.tool<{ readonly a: number; readonly b: number }>("look", {
        before: ({ args }) => Effect.sync(() => (seen.push(args), Guardrail.pass))
      })]
    })
    const agent = Agent.make({ name: "math", instructions: "Add.", tools: [add] })
    return Effect.gen(function*() {
      const result = yield* runFor(agent, "go", 1000)
      assert.deepStrictEqual(seen, [{ a: 2, b: 3 }])
      const started = ofTag(result.events, "GuardrailStarted")[0]!
      assert.deepStrictEqual([started.stage, started.guardrail, started.tool, started.callId], ["tool", "look", "add", "call_1_0"])
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.callTools([{ name: "add", args: { a: "2", b: 3 } }]), ScriptedModel.text("5")])))
  })
})

describe("output guardrails", () => {
  const noSsn = (maxRetries?: number) =>
    Guardrail.output(
      "no-ssn",
      ({ text }) => after(10, /\d{3}-\d{2}-\d{4}/.test(text) ? Guardrail.trip("the answer holds a social security number") : Guardrail.pass),
      maxRetries === undefined ? undefined : { feedback: { maxRetries } }
    )

  it.effect("an output guardrail with feedback sends the reason back and the second answer completes the run", () => {
    const agent = Agent.make({ name: "clerk", instructions: "Answer.", guardrails: { output: [noSsn(1)] } })
    return Effect.gen(function*() {
      const result = yield* runFor(agent, "Who am I?", 1000)
      assert.strictEqual(result.text, "You are a customer.")
      assert.strictEqual(result.turns, 2)
      const [feedback] = yield* responsesOf(1)
      assert.deepStrictEqual(feedback, {
        _tag: "Text",
        text: `Your answer was refused by the guardrail "no-ssn": the answer holds a social security number\nAnswer again, taking this into account.`
      })
      assert.deepStrictEqual(
        result.events.filter((e) => e._tag.startsWith("Guardrail")).map((e) => [e._tag, e.timestamp, "action" in e ? e.action : ""]),
        [["GuardrailStarted", 0, ""], ["GuardrailTripped", 10, "feedback"], ["GuardrailStarted", 10, ""], ["GuardrailPassed", 20, ""]]
      )
      assert.strictEqual(ofTag(result.events, "RunCompleted")[0]!.timestamp, 20)
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.text("You are 123-45-6789."), ScriptedModel.text("You are a customer.")])))
  })

  it.effect("an output guardrail trips the run with GuardrailTripped once its feedback retries are spent, and RunCompleted never comes", () => {
    const agent = Agent.make({ name: "clerk", instructions: "Answer.", guardrails: { output: [noSsn(1)] } })
    return Effect.gen(function*() {
      const { events, exit } = yield* streamFor(agent, "Who am I?", 1000)
      const error = failureOf(exit) as AgentError.GuardrailTripped
      assert.deepStrictEqual([error._tag, error.stage, error.guardrail], ["GuardrailTripped", "output", "no-ssn"])
      assert.deepStrictEqual(ofTag(events, "GuardrailTripped").map((e) => e.action), ["feedback", "fail"])
      assert.deepStrictEqual(ofTag(events, "RunCompleted"), [])
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.text("You are 123-45-6789."), ScriptedModel.text("Still 123-45-6789.")])))
  })

  it.effect("an output guardrail checks the typed output of a structured-output agent", () => {
    const seen: Array<unknown> = []
    const agent = Agent.make({
      name: "planner",
      instructions: "Plan.",
      output: Schema.Struct({ days: Schema.Number }),
      guardrails: { output: [Guardrail.output("short", ({ output }) => Effect.sync(() => (seen.push(output), Guardrail.pass)))] }
    })
    return Effect.gen(function*() {
      const exit = yield* exitAfter(Agent.run(agent, "Plan"), 1000)
      assert.deepStrictEqual(Exit.map(exit, (result) => result.output), Exit.succeed({ days: 3 }))
      assert.deepStrictEqual(seen, [{ days: 3 }])
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.json({ days: 3 })])))
  })

  it.effect("a watching output guardrail cuts a streamed answer mid-way: the model stream is interrupted and no further delta is emitted", () => {
    const log: Log = []
    const agent = Agent.make({
      name: "clerk",
      instructions: "Answer.",
      guardrails: {
        output: [
          Guardrail.output("no-ssn", () => Effect.succeed(Guardrail.pass), {
            watch: (text) => Effect.succeed(/\d{3}-\d{2}/.test(text) ? Guardrail.trip("a social security number is streaming") : Guardrail.pass)
          })
        ]
      }
    })
    return Effect.gen(function*() {
      const { events, exit } = yield* streamFor(agent, "Who am I?", 1000)
      assert.instanceOf(failureOf(exit), AgentError.GuardrailTripped)
      assert.deepStrictEqual(ofTag(events, "TextDelta").map((e) => [e.text, e.timestamp]), [["Your ", 10], ["number ", 20], ["is ", 30]])
      const tripped = ofTag(events, "GuardrailTripped")[0]!
      assert.deepStrictEqual([tripped.stage, tripped.timestamp], ["output", 40])
      assert.deepStrictEqual(log, ["model stream closed@40"])
      assert.deepStrictEqual(ofTag(events, "ModelResponded"), [])
    }).pipe(Effect.provide(observed([ScriptedModel.text("Your number is 123-45-6789 and more", { chunkDelay: 10 })], log)))
  })
})

describe("guardrails and handoffs", () => {
  it.effect("after a handoff, the answering agent's output guardrails check the answer; the input was checked once, by the first agent", () => {
    const checked: Array<string> = []
    const note = (what: string) => Effect.sync(() => (checked.push(what), Guardrail.pass))
    const math = Agent.make({
      name: "math",
      instructions: "Compute.",
      guardrails: {
        input: [Guardrail.input("math-input", () => note("math input"))],
        output: [Guardrail.output("math-output", ({ agent, text }) => note(`${agent} output ${text}`))]
      }
    })
    const triage = Agent.make({
      name: "triage",
      instructions: "Route.",
      handoffs: [Handoff.to(math)],
      guardrails: {
        input: [Guardrail.input("triage-input", ({ prompt }) => note(`triage input ${prompt}`))],
        output: [Guardrail.output("triage-output", () => note("triage output"))]
      }
    })
    return Effect.gen(function*() {
      const result = yield* runFor(triage, "2 + 3?", 1000)
      assert.strictEqual(result.agent, "triage/math")
      assert.deepStrictEqual(checked, ["triage input 2 + 3?", "triage/math output 5"])
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.callTools([{ name: "transfer_to_math" }]), ScriptedModel.text("5")])))
  })
})

describe("guardrail spans", () => {
  it.effect("each guardrail is a span when the run is traced", () => {
    const spans: Array<RecordedSpan> = []
    const agent = Agent.make({ name: "clerk", instructions: "File it.", guardrails: { input: [pii(100)] } })
    return Effect.gen(function*() {
      const fiber = yield* Effect.fork(LeakCheck.check(Agent.run(agent, "File")).pipe(Effect.withTracer(recordingTracer(spans))))
      yield* TestClock.adjust(1000)
      yield* Fiber.join(fiber)
      const span = spans.find((s) => s.name === "guardrail pii")!
      assert.strictEqual(span.attributes.get("guardrail.stage"), "input")
      assert.strictEqual(span.attributes.get("guardrail.verdict"), "pass")
      assert.strictEqual(span.attributes.get("gen_ai.agent.name"), "clerk")
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.text("filed", { delay: 300 })])))
  })
})
