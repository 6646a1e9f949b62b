/**
 * What crosses a tool call's boundaries is checked there: a handler that throws instead of
 * returning an Effect, arguments that are not plain data, results the wire cannot carry, outputs
 * too long for the model, error values that cannot be read, and calls a stopped group never began.
 */
import { Agent, AgentError, AgentEvent, Tool } from "@effect-agents/core"
import { ScriptedModel } from "@effect-agents/testing"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Option, Schema } from "effect"
import { ofTag, responsesOf, runFor, streamFor } from "../support/agents.js"

const NoArgs = Schema.Struct({})

const failedEvents = (events: ReadonlyArray<AgentEvent.AgentEvent>) =>
  ofTag(events, "ToolCallFailed").map((e) => [e.tool, e.kind, e.error, e.reported, e.timestamp])

describe("a handler that throws instead of returning an Effect", () => {
  const explode = Tool.make("explode", {
    description: "Throws while building its effect",
    parameters: NoArgs,
    handler: (): Effect.Effect<string> => {
      throw new Error("no effect here")
    }
  })

  it.effect("is a defect of its call: under report the model is told it crashed and the run goes on", () =>
    Effect.gen(function*() {
      const agent = Agent.make({ name: "ops", instructions: "", tools: [explode], policy: { toolFailure: "report" } })
      const result = yield* runFor(agent, "go", 0)
      assert.deepStrictEqual(failedEvents(result.events), [["explode", "defect", "Tool \"explode\" crashed: no effect here", true, 0]])
      assert.deepStrictEqual(yield* responsesOf(1), [{
        _tag: "FunctionResponse",
        id: "call_1_0",
        name: "explode",
        output: "Tool \"explode\" crashed: no effect here",
        isError: true
      }])
      assert.strictEqual(result.text, "it crashed")
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.callTools([{ name: "explode" }]), ScriptedModel.text("it crashed")]))))

  it.effect("under fail-fast it fails the run with ToolCallFailed holding the defect, its ToolCallStarted ended", () =>
    Effect.gen(function*() {
      const agent = Agent.make({ name: "ops", instructions: "", tools: [explode] })
      const { events, exit } = yield* streamFor(agent, "go", 0)
      assert.isTrue(Exit.isFailure(exit))
      const error = Option.getOrThrow(Cause.failureOption((exit as Exit.Failure<unknown, unknown>).cause))
      assert.instanceOf(error, AgentError.ToolCallFailed)
      const defects = Array.from(Cause.defects((error as AgentError.ToolCallFailed).cause), (d) => (d as Error).message)
      assert.deepStrictEqual(defects, ["no effect here"])
      assert.deepStrictEqual(failedEvents(events), [["explode", "defect", "Tool \"explode\" crashed: no effect here", false, 0]])
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.callTools([{ name: "explode" }])]))))
})

describe("arguments from the model are plain data", () => {
  const seen: Array<unknown> = []
  const grant = Tool.make("grant", {
    description: "Grants a user their settings",
    parameters: Schema.Struct({ user: Schema.Record({ key: Schema.String, value: Schema.Unknown }) }),
    handler: ({ user }) =>
      Effect.sync(() => {
        seen.push((user as { readonly isAdmin?: unknown }).isAdmin)
        return "granted"
      })
  })
  const agent = Agent.make({ name: "ops", instructions: "", tools: [grant], policy: { toolFailure: "fail-fast" } })

  it.effect("a __proto__, constructor or prototype key at any depth refuses the call as invalid arguments naming it; the handler never runs", () =>
    Effect.gen(function*() {
      seen.length = 0
      const result = yield* runFor(agent, "go", 0)
      assert.deepStrictEqual(seen, [])
      const refused = (key: string, at: string) =>
        `Invalid arguments for tool "grant": the key "${key}" at ${at}: arguments are plain data, and the keys __proto__, constructor and prototype are refused at any depth`
      assert.deepStrictEqual((yield* responsesOf(1)).map((p) => p._tag === "FunctionResponse" && [p.output, p.isError]), [
        [refused("__proto__", "arguments.user"), true],
        [refused("constructor", "arguments.user.roles[1]"), true],
        [refused("prototype", "arguments"), true]
      ])
      assert.deepStrictEqual(ofTag(result.events, "ToolCallFailed").map((e) => [e.callId, e.kind, e.reported]), [
        ["call_1_0", "invalid-arguments", true],
        ["call_1_1", "invalid-arguments", true],
        ["call_1_2", "invalid-arguments", true]
      ])
      assert.strictEqual(result.text, "refused")
    }).pipe(Effect.provide(ScriptedModel.layer([
      ScriptedModel.callTools([
        // as the wire delivers them: JSON text parsed, so `__proto__` is an own key
        { name: "grant", args: JSON.parse(`{"user":{"__proto__":{"isAdmin":true}}}`) },
        { name: "grant", args: JSON.parse(`{"user":{"roles":["reader",{"constructor":{"prototype":{"isAdmin":true}}}]}}`) },
        { name: "grant", args: JSON.parse(`{"user":{},"prototype":{"isAdmin":true}}`) }
      ]),
      ScriptedModel.text("refused")
    ]))))

  it.effect("the same arguments without those keys reach the handler as plain data", () =>
    Effect.gen(function*() {
      seen.length = 0
      const result = yield* runFor(agent, "go", 0)
      assert.deepStrictEqual(seen, [true])
      assert.deepStrictEqual(ofTag(result.events, "ToolCallSucceeded").map((e) => e.output), ["granted"])
    }).pipe(Effect.provide(ScriptedModel.layer([
      ScriptedModel.callTools([{ name: "grant", args: JSON.parse(`{"user":{"isAdmin":true}}`) }]),
      ScriptedModel.text("granted")
    ]))))
})

describe("a result the wire cannot carry", () => {
  const returning = (name: string, value: () => unknown) =>
    Tool.make(name, { description: `Returns ${name}`, parameters: NoArgs, handler: () => Effect.sync(value) })
  const tools = [
    returning("big", () => ({ total: BigInt(10) })),
    returning("loop", () => {
      const node: { name: string; self?: unknown } = { name: "a" }
      node.self = node
      return [node]
    }),
    returning("callback", () => ({ then: { done: () => 1 } }))
  ]

  it.effect("fails that call as invalid-result with a message naming what and where, never ToolCallSucceeded", () =>
    Effect.gen(function*() {
      const agent = Agent.make({ name: "ops", instructions: "", tools, policy: { toolFailure: "report" } })
      const result = yield* runFor(agent, "go", 0)
      const message = (tool: string, what: string) =>
        `Tool "${tool}" (call call_1_${["big", "loop", "callback"].indexOf(tool)}) returned a value that cannot be sent to the model as JSON: ${what}. ` +
        `Return plain data (strings, finite numbers, booleans, null, arrays and objects, without cycles).`
      assert.deepStrictEqual(failedEvents(result.events), [
        ["big", "invalid-result", message("big", "a bigint at result.total"), true, 0],
        ["loop", "invalid-result", message("loop", "a circular reference at result[0].self"), true, 0],
        ["callback", "invalid-result", message("callback", "a function at result.then.done"), true, 0]
      ])
      assert.deepStrictEqual(ofTag(result.events, "ToolCallSucceeded"), [])
      assert.deepStrictEqual((yield* responsesOf(1)).map((p) => p._tag === "FunctionResponse" && p.isError), [true, true, true])
      assert.strictEqual(result.text, "noted")
    }).pipe(Effect.provide(ScriptedModel.layer([
      ScriptedModel.callTools([{ name: "big" }, { name: "loop" }, { name: "callback" }]),
      ScriptedModel.text("noted")
    ]))))
})

describe("policy.maxToolOutputChars", () => {
  it.effect("applies to every output the model reads: results, error messages and refusals", () =>
    Effect.gen(function*() {
      const long = Tool.make("long", { description: "A long answer", parameters: NoArgs, handler: () => Effect.succeed("x".repeat(50)) })
      const loud = Tool.make("loud", {
        description: "A long failure",
        parameters: NoArgs,
        handler: () => Effect.fail(new Error("e".repeat(50)))
      })
      const agent = Agent.make({
        name: "ops",
        instructions: "",
        tools: [long, loud],
        policy: { toolFailure: "report", maxToolOutputChars: 10 }
      })
      yield* runFor(agent, "go", 0)
      const note = (n: number) => `\n[truncated: the tool returned ${n} characters; only the first 10 are shown (policy.maxToolOutputChars)]`
      assert.deepStrictEqual((yield* responsesOf(1)).map((p) => p._tag === "FunctionResponse" && [p.name, p.output]), [
        ["long", `xxxxxxxxxx${note(50)}`],
        ["loud", `eeeeeeeeee${note(50)}`],
        ["nothing", `Unknown to${note(52)}`]
      ])
    }).pipe(Effect.provide(ScriptedModel.layer([
      ScriptedModel.callTools([{ name: "long" }, { name: "loud" }, { name: "nothing" }]),
      ScriptedModel.text("ok")
    ]))))
})

describe("describeError never throws", () => {
  it.effect("a rejected value whose message getter throws is described as such, in the response the model reads", () =>
    Effect.gen(function*() {
      const hostile = Tool.fromPromise("hostile", {
        description: "Rejects with a value whose message cannot be read",
        parameters: NoArgs,
        handler: () =>
          Promise.reject({
            get message(): string {
              throw new Error("getter broke")
            }
          })
      })
      const agent = Agent.make({ name: "ops", instructions: "", tools: [hostile], policy: { toolFailure: "report" } })
      const result = yield* runFor(agent, "go", 0)
      const expected = "Tool \"hostile\" threw: an error whose message cannot be read (reading it threw: getter broke)"
      assert.deepStrictEqual(failedEvents(result.events), [["hostile", "failure", expected, true, 0]])
      assert.deepStrictEqual(
        AgentError.describeError({
          get message(): string {
            throw "plain string"
          }
        }),
        "an error whose message cannot be read (reading it threw: plain string)"
      )
      const cycle: Record<string, unknown> = {}
      cycle.self = cycle
      assert.deepStrictEqual(
        [AgentError.describeError(BigInt(7)), AgentError.describeError(cycle), AgentError.describeError(Object.create(null))],
        ["7", "[object Object]", "{}"]
      )
      const unprintable = new Proxy({}, {
        has: () => {
          throw new Error("trap")
        }
      })
      assert.strictEqual(AgentError.describeError(unprintable), "an error that cannot be described (inspecting it threw: trap)")
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.callTools([{ name: "hostile" }]), ScriptedModel.text("ok")]))))
})

describe("every call the model asked for ends visibly", () => {
  it.effect("a fail-fast group stopping before 9,992 of 10,000 queued calls began ends each of them at that instant", () =>
    Effect.gen(function*() {
      let ran = 0
      const bad = Tool.make("bad", {
        description: "Fails after 100 ms",
        parameters: NoArgs,
        handler: () => Effect.zipRight(Effect.sleep(100), Effect.fail(new Error("bad broke")))
      })
      const work = Tool.make("work", {
        description: "Works 1 s",
        parameters: NoArgs,
        handler: () => Effect.zipRight(Effect.sync(() => ran++), Effect.sleep(1000))
      })
      const agent = Agent.make({ name: "ops", instructions: "", tools: [bad, work], policy: { toolConcurrency: 8 } })
      const { events, exit } = yield* streamFor(agent, "go", 100)
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual(ran, 7)
      const started = ofTag(events, "ToolCallStarted")
      assert.strictEqual(started.length, 10_000)
      const ends = events.filter(AgentEvent.isToolCallTerminal)
      assert.strictEqual(ends.length, 10_000)
      assert.deepStrictEqual(ends.slice(0, 1).map((e) => [e._tag, e.callId, e.timestamp]), [["ToolCallFailed", "call_1_0", 100]])
      const interrupted = ofTag(events, "ToolCallInterrupted")
      assert.strictEqual(interrupted.length, 9_999)
      assert.isTrue(interrupted.every((e) => e.reason === "sibling-failed" && e.timestamp === 100))
      assert.deepStrictEqual(AgentEvent.invariantViolations(events), [])
    }).pipe(Effect.provide(ScriptedModel.layer([
      ScriptedModel.callTools([{ name: "bad" }, ...Array.from({ length: 9_999 }, () => ({ name: "work" }))])
    ]))))
})
