/**
 * Handoffs (`transfer_to_<name>`: the target takes over the whole conversation) and
 * `Agent.asTool` (delegation: the sub-agent's answer is a tool result).
 */
import { Agent, AgentError, Handoff, Tool } from "@effect-agents/core"
import { ScriptedModel } from "@effect-agents/testing"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Option, Schema } from "effect"
import { ofTag, runFor, streamFor } from "../support/agents.js"

const requests = ScriptedModel.ScriptedModel.pipe(Effect.flatMap((m) => m.requests))

const add = Tool.make("add", {
  description: "Add two numbers",
  parameters: Schema.Struct({ a: Schema.Number, b: Schema.Number }),
  success: Schema.Number,
  handler: ({ a, b }) => Effect.succeed(a + b)
})

const math = Agent.make({ name: "math", instructions: "Solve math problems.", tools: [add] })
const triage = Agent.make({
  name: "triage",
  instructions: "Route the user.",
  handoffs: [Handoff.to(math, { description: "for arithmetic" })]
})

describe("handoffs", () => {
  const script = ScriptedModel.layer([
    ScriptedModel.callTools([{ name: "transfer_to_math" }], { delay: "100 millis" }),
    ScriptedModel.callTools([{ name: "add", args: { a: 2, b: 3 } }], { delay: "1 second" }),
    ScriptedModel.text("2 + 3 = 5", { delay: "1 second" })
  ])

  it.effect("the target's first request contains the whole conversation so far", () =>
    Effect.gen(function*() {
      yield* runFor(triage, "What is 2 + 3?", 2100)
      const [first, second] = yield* requests
      assert.strictEqual(first.agent, "triage")
      assert.strictEqual(second.agent, "triage/math")
      assert.strictEqual(second.system, "Solve math problems.")
      assert.deepStrictEqual(second.tools.map((t) => t.name), ["add"])
      assert.deepStrictEqual(second.contents, [
        { role: "user", parts: [{ _tag: "Text", text: "What is 2 + 3?" }] },
        { role: "model", parts: [{ _tag: "FunctionCall", id: "call_1_0", name: "transfer_to_math", args: {} }] },
        {
          role: "user",
          parts: [{ _tag: "FunctionResponse", id: "call_1_0", name: "transfer_to_math", output: { transferred_to: "math" }, isError: false }]
        }
      ])
    }).pipe(Effect.provide(script)))

  it.effect("the transfer tool is declared to the model with the target's description", () =>
    Effect.gen(function*() {
      yield* runFor(triage, "What is 2 + 3?", 2100)
      const [first] = yield* requests
      assert.deepStrictEqual(first.tools, [{
        name: "transfer_to_math",
        description: "Hand the conversation over to the \"math\" agent: for arithmetic.",
        parameters: { type: "object", properties: {} }
      }])
    }).pipe(Effect.provide(script)))

  it.effect("the target's events carry the path triage/math, between HandoffStarted and HandoffCompleted", () =>
    Effect.gen(function*() {
      const result = yield* runFor(triage, "What is 2 + 3?", 2100)
      const started = ofTag(result.events, "HandoffStarted")
      const completed = ofTag(result.events, "HandoffCompleted")
      assert.deepStrictEqual(started.map((e) => [e.agent, e.target, e.callId, e.timestamp]), [["triage", "triage/math", "call_1_0", 100]])
      assert.deepStrictEqual(completed.map((e) => [e.agent, e.target, e.timestamp]), [["triage", "triage/math", 2100]])
      const i = result.events.indexOf(started[0])
      const j = result.events.indexOf(completed[0])
      const during = result.events.slice(i + 1, j)
      assert.isTrue(during.length > 0)
      assert.isTrue(during.every((e) => e.agent === "triage/math"))
      assert.deepStrictEqual(ofTag(result.events, "ToolCallSucceeded").map((e) => [e.agent, e.tool, e.output, e.timestamp]), [
        ["triage/math", "add", 5, 1100]
      ])
      assert.deepStrictEqual(result.events.map((e) => e._tag), [
        "RunStarted",
        "TurnStarted",
        "ModelRequested",
        "ModelResponded",
        "HandoffStarted",
        "TurnStarted",
        "ModelRequested",
        "ModelResponded",
        "ToolCallStarted",
        "ToolCallSucceeded",
        "TurnStarted",
        "ModelRequested",
        "ModelResponded",
        "HandoffCompleted",
        "RunCompleted"
      ])
    }).pipe(Effect.provide(script)))

  it.effect("the run's answer and RunResult.agent are the target's", () =>
    Effect.gen(function*() {
      const result = yield* runFor(triage, "What is 2 + 3?", 2100)
      assert.strictEqual(result.agent, "triage/math")
      assert.strictEqual(result.text, "2 + 3 = 5")
      assert.strictEqual(result.turns, 3)
      assert.deepStrictEqual(result.history.map((c) => c.role), ["user", "model", "user", "model", "user", "model"])
      assert.deepStrictEqual(result.history.at(-1), { role: "model", parts: [{ _tag: "Text", text: "2 + 3 = 5" }] })
    }).pipe(Effect.provide(script)))

  it.effect("a triage <-> math cycle is stopped by maxHandoffs with HandoffLimitExceeded", () =>
    Effect.gen(function*() {
      const ping: Agent.Agent = Agent.make({
        name: "triage",
        instructions: "",
        handoffs: [Handoff.to(() => pong)],
        policy: { maxHandoffs: 2 }
      })
      const pong: Agent.Agent = Agent.make({ name: "math", instructions: "", handoffs: [Handoff.to(() => ping)] })
      const { events, exit } = yield* streamFor(ping, "loop", 0)
      assert.isTrue(Exit.isFailure(exit))
      const error = Exit.isFailure(exit) ? Option.getOrThrow(Cause.failureOption(exit.cause)) : undefined
      assert.instanceOf(error, AgentError.HandoffLimitExceeded)
      const limit = error as AgentError.HandoffLimitExceeded
      assert.deepStrictEqual([limit.agent, limit.target, limit.maxHandoffs], ["triage/math/triage", "math", 2])
      assert.deepStrictEqual(ofTag(events, "HandoffStarted").map((e) => e.target), ["triage/math", "triage/math/triage"])
      assert.strictEqual(ofTag(events, "HandoffCompleted").length, 0)
      assert.deepStrictEqual(ofTag(events, "RunFailed").map((e) => e.error), ["HandoffLimitExceeded"])
      assert.strictEqual((yield* requests).length, 3)
    }).pipe(Effect.provide(ScriptedModel.layer((request) =>
      ScriptedModel.callTools([{ name: request.agent.endsWith("triage") ? "transfer_to_math" : "transfer_to_triage" }])
    ))))

  it.effect("a handoff to an undeclared agent is an unknown tool, returned to the model", () =>
    Effect.gen(function*() {
      const result = yield* runFor(triage, "Refund me", 0)
      const [, second] = yield* requests
      assert.strictEqual(second.agent, "triage")
      assert.deepStrictEqual(second.contents.at(-1)?.parts, [{
        _tag: "FunctionResponse",
        id: "call_1_0",
        name: "transfer_to_billing",
        output: "Unknown tool \"transfer_to_billing\". Available tools: transfer_to_math.",
        isError: true
      }])
      assert.strictEqual(ofTag(result.events, "HandoffStarted").length, 0)
      assert.strictEqual(result.agent, "triage")
      assert.strictEqual(result.text, "I cannot do refunds")
    }).pipe(Effect.provide(ScriptedModel.layer([
      ScriptedModel.callTools([{ name: "transfer_to_billing" }]),
      ScriptedModel.text("I cannot do refunds")
    ]))))

  it.effect("only the first handoff of a turn is taken; a second one is refused to the model", () =>
    Effect.gen(function*() {
      const stats = Agent.make({ name: "stats", instructions: "" })
      const router = Agent.make({ name: "triage", instructions: "", handoffs: [Handoff.to(math), Handoff.to(stats)] })
      const result = yield* runFor(router, "both", 0)
      const [, second] = yield* requests
      assert.strictEqual(second.agent, "triage/math")
      assert.deepStrictEqual(second.contents.at(-1)?.parts.map((p) => p._tag === "FunctionResponse" && p.output), [
        { transferred_to: "math" },
        "Only one handoff per turn: the conversation is already being transferred to \"math\"."
      ])
      assert.strictEqual(result.agent, "triage/math")
    }).pipe(Effect.provide(ScriptedModel.layer([
      ScriptedModel.callTools([{ name: "transfer_to_math" }, { name: "transfer_to_stats" }]),
      ScriptedModel.text("math here")
    ]))))
})

describe("Agent.asTool", () => {
  const mean = Tool.make("mean", {
    description: "Mean of numbers",
    parameters: Schema.Struct({ xs: Schema.Array(Schema.Number) }),
    success: Schema.Number,
    handler: ({ xs }) => Effect.as(Effect.sleep("1 second"), xs.reduce((a, b) => a + b, 0) / xs.length)
  })
  const stats = Agent.make({ name: "stats", instructions: "Do statistics.", tools: [mean] })
  const coordinator = Agent.make({
    name: "coordinator",
    instructions: "Delegate.",
    tools: [Agent.asTool(stats, { description: "Answers statistics questions" })]
  })
  const script = ScriptedModel.layer([
    ScriptedModel.callTools([{ name: "stats", args: { input: "mean of 1, 2, 3" } }]),
    ScriptedModel.callTools([{ name: "mean", args: { xs: [1, 2, 3] } }]),
    ScriptedModel.text("2"),
    ScriptedModel.text("The mean is 2")
  ])

  it.effect("the sub-agent gets the task as its own conversation and its answer comes back as the tool result", () =>
    Effect.gen(function*() {
      const result = yield* runFor(coordinator, "Mean of 1, 2, 3?", 1000)
      const sent = yield* requests
      assert.deepStrictEqual(sent.map((r) => r.agent), ["coordinator", "coordinator/stats", "coordinator/stats", "coordinator"])
      assert.deepStrictEqual(sent[1].contents, [{ role: "user", parts: [{ _tag: "Text", text: "mean of 1, 2, 3" }] }])
      assert.deepStrictEqual(sent[3].contents.at(-1)?.parts, [
        { _tag: "FunctionResponse", id: "call_1_0", name: "stats", output: "2", isError: false }
      ])
      assert.strictEqual(result.text, "The mean is 2")
      assert.strictEqual(result.agent, "coordinator")
    }).pipe(Effect.provide(script)))

  it.effect("the sub-agent's events appear in the caller's events under parent/sub, inside the tool call", () =>
    Effect.gen(function*() {
      const result = yield* runFor(coordinator, "Mean of 1, 2, 3?", 1000)
      const call = ofTag(result.events, "ToolCallStarted").find((e) => e.tool === "stats")!
      const done = ofTag(result.events, "ToolCallSucceeded").find((e) => e.tool === "stats")!
      assert.deepStrictEqual([call.agent, call.timestamp, done.agent, done.output, done.timestamp], [
        "coordinator",
        0,
        "coordinator",
        "2",
        1000
      ])
      const inside = result.events.slice(result.events.indexOf(call) + 1, result.events.indexOf(done))
      assert.deepStrictEqual(inside.map((e) => [e.agent, e._tag]), [
        ["coordinator/stats", "RunStarted"],
        ["coordinator/stats", "TurnStarted"],
        ["coordinator/stats", "ModelRequested"],
        ["coordinator/stats", "ModelResponded"],
        ["coordinator/stats", "ToolCallStarted"],
        ["coordinator/stats", "ToolCallSucceeded"],
        ["coordinator/stats", "TurnStarted"],
        ["coordinator/stats", "ModelRequested"],
        ["coordinator/stats", "ModelResponded"],
        ["coordinator/stats", "RunCompleted"]
      ])
      const mean = ofTag(inside, "ToolCallSucceeded")[0]
      assert.deepStrictEqual([mean.tool, mean.output, mean.timestamp], ["mean", 2, 1000])
      // the sub-agent's run is a run of its own: its events carry its run id, the caller's events theirs
      const subRun = inside[0]!.runId
      assert.deepStrictEqual(new Set(inside.map((e) => e.runId)), new Set([subRun]))
      assert.notStrictEqual(subRun, result.runId)
      assert.deepStrictEqual(
        new Set(result.events.filter((e) => !inside.includes(e)).map((e) => e.runId)),
        new Set([result.runId])
      )
    }).pipe(Effect.provide(script)))
})
