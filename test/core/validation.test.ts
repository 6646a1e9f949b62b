/**
 * Bad configuration fails where it is written: policy values, tool options and names are checked
 * when the policy, the tool or the agent is made, each with a message naming the value and the
 * rule. What can only be known at the first run (a lazy handoff target) fails that run with the
 * same message, as a defect; a background task forked too late fails loudly instead of silently.
 */
import { Agent, AgentError, Background, Handoff, Policy, Tool, Toolkit } from "@effect-agents/core"
import { LeakCheck, ScriptedModel } from "@effect-agents/testing"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Duration, Effect, Exit, Logger, Option, Schedule, Schema } from "effect"

const add = Tool.make("add", {
  description: "Add two numbers",
  parameters: Schema.Struct({ a: Schema.Number, b: Schema.Number }),
  success: Schema.Number,
  handler: ({ a, b }) => Effect.succeed(a + b)
})

const named = (name: string) =>
  Tool.fromSync(name, { description: `The ${name} tool`, parameters: Schema.Struct({}), handler: () => "ok" })

const agentNamed = (name: string) => Agent.make({ name, instructions: "" })

/** What `f` threw: an `IllegalArgumentException`, by its message. */
const thrown = (f: () => unknown): string => {
  try {
    f()
  } catch (error) {
    assert.isTrue(Cause.isIllegalArgumentException(error), `not an IllegalArgumentException: ${String(error)}`)
    assert.instanceOf(error, Error)
    return (error as Error).message
  }
  assert.fail("nothing was thrown")
}

/** The defect a run died with, by its message (the run must die with an `IllegalArgumentException`). */
const diedWith = <A, E>(exit: Exit.Exit<A, E>): string => {
  assert.isTrue(Exit.isFailure(exit), "the run succeeded")
  const defect = Exit.isFailure(exit) ? Cause.dieOption(exit.cause) : Option.none()
  assert.isTrue(Option.isSome(defect), "the run did not die")
  const error = Option.getOrThrow(defect)
  assert.isTrue(Cause.isIllegalArgumentException(error), `not an IllegalArgumentException: ${String(error)}`)
  return (error as Error).message
}

const durationRule = `must be a finite duration >= 0 (milliseconds, "5 seconds" or a Duration)`

describe("policy values", () => {
  it("Policy.make refuses toolConcurrency NaN, naming the field, the value and the rule", () => {
    assert.strictEqual(
      thrown(() => Policy.make({ toolConcurrency: NaN })),
      `Invalid policy: toolConcurrency must be a positive integer or "unbounded", got NaN`
    )
  })

  const refused: ReadonlyArray<readonly [Policy.Options, string]> = [
    [{ maxTurns: NaN }, "maxTurns must be a positive integer, got NaN"],
    [{ maxTurns: 0 }, "maxTurns must be a positive integer, got 0"],
    [{ maxTurns: 2.5 }, "maxTurns must be a positive integer, got 2.5"],
    [{ maxTurns: Infinity }, "maxTurns must be a positive integer, got Infinity"],
    [{ maxHandoffs: NaN }, "maxHandoffs must be a positive integer, got NaN"],
    [{ maxHandoffs: -1 }, "maxHandoffs must be a positive integer, got -1"],
    [{ toolConcurrency: 0 }, `toolConcurrency must be a positive integer or "unbounded", got 0`],
    [{ toolConcurrency: "8" as unknown as number }, `toolConcurrency must be a positive integer or "unbounded", got "8"`],
    [{ modelTimeout: NaN }, `modelTimeout ${durationRule}, got NaN`],
    [{ modelTimeout: -1 }, `modelTimeout ${durationRule}, got -1`],
    [{ modelTimeout: Infinity }, `modelTimeout ${durationRule}, got Infinity`],
    [{ modelTimeout: Duration.infinity }, `modelTimeout ${durationRule}, got Duration(Infinity)`],
    [{ modelTimeout: "-5 seconds" }, `modelTimeout ${durationRule}, got "-5 seconds"`],
    [{ modelTimeout: "soon" as Duration.DurationInput }, `modelTimeout ${durationRule}, got "soon"`],
    [{ runTimeout: NaN }, `runTimeout ${durationRule}, got NaN`],
    [{ maxTokens: NaN }, "maxTokens must be a positive integer, got NaN"],
    [{ maxTokens: 0 }, "maxTokens must be a positive integer, got 0"],
    [{ maxToolOutputChars: -5 }, "maxToolOutputChars must be a positive integer, got -5"],
    [{ toolFailure: "ignore" as Policy.ToolFailure }, `toolFailure must be "fail-fast" or "report", got "ignore"`],
    [{ modelRetry: 3 as unknown as Policy.Options["modelRetry"] }, "modelRetry must be a Schedule, got 3"]
  ]
  for (const [policy, rule] of refused) {
    it(`Agent.make refuses ${rule.split(" ")[0]} ${rule.split(", got ")[1]}`, () => {
      assert.strictEqual(thrown(() => Agent.make({ name: "math", instructions: "", policy })), `Invalid policy: ${rule}`)
    })
  }

  it("Agent.withPolicy refuses a NaN maxTurns", () => {
    const math = agentNamed("math")
    assert.strictEqual(
      thrown(() => math.pipe(Agent.withPolicy({ maxTurns: NaN }))),
      "Invalid policy: maxTurns must be a positive integer, got NaN"
    )
  })

  it("boundary values are accepted: 1, \"unbounded\", a zero timeout, Duration values and strings", () => {
    const policy = Policy.make({
      maxTurns: 1,
      maxHandoffs: 1,
      toolConcurrency: "unbounded",
      modelTimeout: 0,
      runTimeout: "5 seconds",
      maxTokens: 1,
      maxToolOutputChars: 1,
      modelRetry: Schedule.recurs(1)
    })
    assert.strictEqual(policy.toolConcurrency, "unbounded")
    assert.isTrue(Duration.isZero(policy.modelTimeout))
    assert.deepStrictEqual(policy.runTimeout, Duration.seconds(5))
    assert.deepStrictEqual(Policy.make({ modelTimeout: Duration.millis(250) }).modelTimeout, Duration.millis(250))
  })
})

describe("tool options", () => {
  it("Tool.make refuses a NaN timeout, naming the tool", () => {
    assert.strictEqual(
      thrown(() =>
        Tool.make("slow", { description: "", parameters: Schema.Struct({}), handler: () => Effect.void, timeout: NaN })
      ),
      `Invalid tool "slow": timeout ${durationRule}, got NaN`
    )
  })

  it("Tool.make refuses a negative timeout (Duration would make it zero)", () => {
    assert.strictEqual(
      thrown(() =>
        Tool.fromSync("slow", { description: "", parameters: Schema.Struct({}), handler: () => 1, timeout: "-1 seconds" })
      ),
      `Invalid tool "slow": timeout ${durationRule}, got "-1 seconds"`
    )
  })

  it("Tool.make refuses a concurrency that is not a positive integer", () => {
    assert.strictEqual(
      thrown(() =>
        Tool.make("db", { description: "", parameters: Schema.Struct({}), handler: () => Effect.void, concurrency: 0 })
      ),
      `Invalid tool "db": concurrency must be a positive integer, got 0`
    )
  })

  it("Tool.fromPromise refuses an unknown onFailure", () => {
    assert.strictEqual(
      thrown(() =>
        Tool.fromPromise("fetch", {
          description: "",
          parameters: Schema.Struct({}),
          handler: async () => 1,
          onFailure: "retry" as Policy.ToolFailure
        })
      ),
      `Invalid tool "fetch": onFailure must be "fail-fast" or "report", got "retry"`
    )
  })

  it("Toolkit.make refuses an argument that is not a tool", () => {
    assert.strictEqual(
      thrown(() => Toolkit.make(add, undefined as unknown as Tool.Any)),
      "Invalid toolkit: argument 2 is not a tool, got undefined"
    )
  })
})

describe("names", () => {
  it("a tool name with a space is refused with the rule Gemini applies", () => {
    assert.strictEqual(
      thrown(() => Agent.make({ name: "math", instructions: "", tools: [named("add numbers")] })),
      `Invalid agent "math": the tool name "add numbers" must start with a letter or "_" and contain only letters, ` +
        `digits, "_", ".", ":" and "-" (the names Gemini accepts)`
    )
  })

  it("a tool name starting with a digit is refused", () => {
    assert.include(thrown(() => Agent.make({ name: "math", instructions: "", tools: [named("2add")] })), `"2add" must start with`)
  })

  it("a tool name of 65 characters is refused, one of 64 with _ . : - is accepted", () => {
    const long = "a".repeat(65)
    assert.strictEqual(
      thrown(() => Agent.make({ name: "math", instructions: "", tools: [named(long)] })),
      `Invalid agent "math": the tool name "${long}" has 65 characters; Gemini accepts at most 64`
    )
    const fine = `_a.b:c-d${"e".repeat(56)}`
    assert.strictEqual(fine.length, 64)
    assert.strictEqual(Agent.make({ name: "math", instructions: "", tools: [named(fine)] }).tools[0]!.name, fine)
  })

  it("two tools with one name are refused", () => {
    assert.strictEqual(
      thrown(() => Agent.make({ name: "math", instructions: "", tools: [add, add] })),
      `Invalid agent "math": two tools are named "add"`
    )
  })

  it("Agent.asTool of an agent whose name Gemini refuses is refused when the caller is made", () => {
    const tutor = agentNamed("Math Tutor")
    assert.include(
      thrown(() => Agent.make({ name: "coordinator", instructions: "", tools: [Agent.asTool(tutor)] })),
      `Invalid agent "coordinator": the tool name "Math Tutor" must start with a letter`
    )
  })

  it("a handoff whose tool name would pass 64 characters is refused", () => {
    const target = agentNamed("s".repeat(53))
    assert.strictEqual(
      thrown(() => Agent.make({ name: "triage", instructions: "", handoffs: [Handoff.to(target)] })),
      `Invalid agent "triage": the handoff to agent "${target.name}": the tool name "transfer_to_${target.name}" has 65 ` +
        `characters; Gemini accepts at most 64; give that agent a shorter name`
    )
  })

  it("a tool named like a handoff is refused", () => {
    assert.strictEqual(
      thrown(() =>
        Agent.make({
          name: "triage",
          instructions: "",
          tools: [named("transfer_to_math")],
          handoffs: [Handoff.to(agentNamed("math"))]
        })
      ),
      `Invalid agent "triage": the tool "transfer_to_math" has the name of the handoff to agent "math"; rename the tool`
    )
  })

  it("two handoff targets mapping to one tool name are refused", () => {
    assert.strictEqual(
      thrown(() =>
        Agent.make({ name: "triage", instructions: "", handoffs: [Handoff.to(agentNamed("a b")), Handoff.to(agentNamed("a_b"))] })
      ),
      `Invalid agent "triage": the handoffs to agents "a b" and "a_b" both become the tool "transfer_to_a_b"; rename one of the agents`
    )
  })

  it("an empty agent name is refused", () => {
    assert.strictEqual(thrown(() => agentNamed(" ")), `Invalid agent: name must be a non-empty string, got " "`)
  })

  it("an agent name with a slash is refused: it separates agents in event paths", () => {
    assert.strictEqual(
      thrown(() => agentNamed("billing/eu")),
      `Invalid agent "billing/eu": name must not contain "/" (it separates agents in event paths such as "triage/math")`
    )
  })

  it("a tool list holding something else than a tool (an import cycle's undefined) is refused", () => {
    assert.strictEqual(
      thrown(() => Agent.make({ name: "math", instructions: "", tools: [add, undefined as unknown as Tool.Any] })),
      `Invalid agent "math": tools[1] is not a tool, got undefined`
    )
  })

  it("a handoff list holding an agent instead of Handoff.to(agent) is refused", () => {
    assert.strictEqual(
      thrown(() => Agent.make({ name: "triage", instructions: "", handoffs: [{ name: "math" } as unknown as Handoff.Any] })),
      `Invalid agent "triage": handoffs[0] is not a handoff (make one with Handoff.to), got {"name":"math"}`
    )
  })

  it("Handoff.to refuses a target that is neither an agent nor a function", () => {
    assert.strictEqual(
      thrown(() => Handoff.to(undefined as unknown as Agent.Agent)),
      "Invalid handoff: Handoff.to needs an agent or a function returning one, got undefined"
    )
  })
})

describe("lazy handoff targets are checked at the first run", () => {
  it.effect("a lazy target whose tool name clashes with a tool ends the run with the make-time message, as a defect", () =>
    Effect.gen(function*() {
      const math = agentNamed("math")
      const declare = (handoff: Handoff.Handoff) =>
        Agent.make({ name: "triage", instructions: "", tools: [named("transfer_to_math")], handoffs: [handoff] })
      const atMake = thrown(() => declare(Handoff.to(math)))
      const triage = declare(Handoff.to(() => math)) // accepted: the target is not known yet
      const exit = yield* Effect.exit(LeakCheck.check(Agent.run(triage, "go")))
      assert.strictEqual(diedWith(exit), atMake)
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.text("never")]))))

  it.effect("two lazy targets mapping to one tool name end the run with the make-time message", () =>
    Effect.gen(function*() {
      const [ab, a_b] = [agentNamed("a b"), agentNamed("a_b")]
      const atMake = thrown(() => Agent.make({ name: "triage", instructions: "", handoffs: [Handoff.to(ab), Handoff.to(a_b)] }))
      const triage = Agent.make({ name: "triage", instructions: "", handoffs: [Handoff.to(ab), Handoff.to(() => a_b)] })
      const exit = yield* Effect.exit(LeakCheck.check(Agent.run(triage, "go")))
      assert.strictEqual(diedWith(exit), atMake)
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.text("never")]))))

  it.effect("Handoff.to(() => undefined) ends the run with a message naming the declaring agent, not a TypeError", () =>
    Effect.gen(function*() {
      const triage = Agent.make({
        name: "triage",
        instructions: "",
        handoffs: [Handoff.to(() => undefined as unknown as Agent.Agent)]
      })
      const exit = yield* Effect.exit(LeakCheck.check(Agent.run(triage, "go")))
      assert.strictEqual(
        diedWith(exit),
        `Invalid agent "triage": the function given to Handoff.to (handoffs[0]) returned undefined instead of an agent; ` +
          `is the target agent defined before the first run?`
      )
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.text("never")]))))

  it.effect("a lazy target that resolves to a valid agent hands off as before", () =>
    Effect.gen(function*() {
      const triage: Agent.Agent = Agent.make({ name: "triage", instructions: "", handoffs: [Handoff.to(() => math)] })
      const math: Agent.Agent = Agent.make({ name: "math", instructions: "", handoffs: [Handoff.to(triage)] })
      const result = yield* LeakCheck.check(Agent.run(triage, "go"))
      assert.strictEqual(result.agent, "triage/math")
      assert.strictEqual(result.text, "4")
    }).pipe(Effect.provide(ScriptedModel.layer([
      ScriptedModel.callTools([{ name: "transfer_to_math" }]),
      ScriptedModel.text("4")
    ]))))
})

describe("Tool.fromPromise handlers that return no promise", () => {
  const sloppy = Tool.fromPromise("lookup", {
    description: "Look something up",
    parameters: Schema.Struct({}),
    handler: (() => 42) as unknown as () => Promise<number>
  })
  const message = `the handler of Tool.fromPromise("lookup") returned 42 instead of a Promise; ` +
    `return a Promise (an async function does) or make the tool with Tool.fromSync`

  it.effect("under fail-fast the call is a tool defect saying so in plain words, and the run fails with ToolCallFailed", () =>
    Effect.gen(function*() {
      const agent = Agent.make({ name: "clerk", instructions: "", tools: [sloppy] })
      const exit = yield* Effect.exit(LeakCheck.check(Agent.run(agent, "go")))
      assert.isTrue(Exit.isFailure(exit))
      const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
      assert.instanceOf(error, AgentError.ToolCallFailed)
      const defect = Cause.dieOption((error as AgentError.ToolCallFailed).cause)
      assert.strictEqual(Option.isSome(defect) ? (defect.value as Error).message : undefined, message)
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.callTools([{ name: "lookup" }])]))))

  it.effect("under report the model reads the message and the run goes on", () =>
    Effect.gen(function*() {
      const agent = Agent.make({ name: "clerk", instructions: "", tools: [sloppy], policy: { toolFailure: "report" } })
      const result = yield* LeakCheck.check(Agent.run(agent, "go"))
      assert.strictEqual(result.text, "sorry")
      const requests = yield* Effect.flatMap(ScriptedModel.ScriptedModel, (model) => model.requests)
      const response = requests[1]!.contents.at(-1)!.parts[0]!
      assert.strictEqual(response._tag, "FunctionResponse")
      if (response._tag === "FunctionResponse") {
        assert.isTrue(response.isError)
        assert.include(response.output as string, message)
      }
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.callTools([{ name: "lookup" }]), ScriptedModel.text("sorry")]))))
})

describe("Background", () => {
  it.effect("fork after the scope has closed dies with BackgroundClosed, tells onFailure and never runs the task", () =>
    Effect.gen(function*() {
      const failures: Array<Background.Failure> = []
      const logged: Array<string> = []
      let ran = false
      const background = yield* Effect.scoped(
        Background.make({ onFailure: (failure) => Effect.sync(() => failures.push(failure)) })
      )
      const exit = yield* Effect.exit(
        background.fork(Effect.sync(() => ran = true), { name: "audit" }).pipe(
          Effect.provide(Logger.replace(Logger.defaultLogger, Logger.make(({ message }) => logged.push(String(message)))))
        )
      )
      const expected = new Background.BackgroundClosed({ task: "audit" })
      assert.isTrue(Exit.isFailure(exit))
      const defect = Exit.isFailure(exit) ? Cause.dieOption(exit.cause) : Option.none()
      assert.isTrue(Option.isSome(defect) && defect.value instanceof Background.BackgroundClosed)
      assert.strictEqual(
        expected.message,
        `Background task "audit" was not started: the scope of its Background service has closed. ` +
          `Fork it while the scope is open, or provide Background.layer to a scope that lives as long as the work.`
      )
      assert.strictEqual(failures.length, 1)
      assert.strictEqual(failures[0]!.task, "audit")
      assert.isTrue(Cause.isDie(failures[0]!.cause))
      assert.deepStrictEqual(logged, [`Background task "audit" failed`])
      assert.isFalse(ran)
    }))

  it("Background.layer refuses a NaN gracePeriod", () => {
    assert.strictEqual(
      thrown(() => Background.layer({ gracePeriod: NaN })),
      `Invalid Background options: gracePeriod ${durationRule}, got NaN`
    )
  })
})
