/**
 * What core offers durable runs (`@effect-agents/cluster`): the call a handler serves,
 * `Tool.durability`, `Agent.mapTools`, and `ToolOutcomeUnknown` answered to the model whatever the
 * `toolFailure` policy.
 */
import { Agent, AgentError, Handoff, Tool } from "@effect-agents/core"
import { ScriptedModel } from "@effect-agents/testing"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { ofTag, runFor } from "../support/agents.js"

const calls: Array<Tool.Call | undefined> = []
const echo = Tool.make("echo", {
  description: "Echo",
  parameters: Schema.Struct({ text: Schema.String }),
  handler: ({ text }, call?: Tool.Call) => Effect.sync(() => (calls.push(call), text))
})

describe("tool durability", () => {
  it("a tool is at-most-once unless it says it is idempotent, and another value is refused", () => {
    assert.strictEqual(echo.durability, "at-most-once")
    const idempotent = Tool.make("get", {
      description: "Get",
      parameters: Schema.Struct({}),
      durability: "idempotent",
      handler: () => Effect.succeed(1)
    })
    assert.strictEqual(idempotent.durability, "idempotent")
    assert.throws(
      () => Tool.make("bad", { description: "Bad", parameters: Schema.Struct({}), durability: "twice" as any, handler: () => Effect.void }),
      /durability/
    )
  })

  it.effect("the run loop passes the call a handler serves: the call id, the tool, the agent path and its turn", () =>
    Effect.gen(function*() {
      calls.length = 0
      const agent = Agent.make({ name: "echoer", instructions: "Echo.", tools: [echo] })
      yield* runFor(agent, "say hi", 0).pipe(
        Effect.provide(ScriptedModel.layer([
          ScriptedModel.callTools([{ name: "echo", args: { text: "hi" }, id: "call-7" }]),
          ScriptedModel.text("done")
        ]))
      )
      assert.deepStrictEqual(calls, [{ id: "call-7", name: "echo", agent: "echoer", turn: 1 }])
    }))

  it.effect("ToolOutcomeUnknown is answered to the model even under fail-fast: the run goes on", () =>
    Effect.gen(function*() {
      const unknown = Tool.make("charge", {
        description: "Charge",
        parameters: Schema.Struct({}),
        handler: () => Effect.fail(new AgentError.ToolOutcomeUnknown({ tool: "charge", callId: "c-1" }))
      })
      const agent = Agent.make({ name: "shop", instructions: "Charge.", tools: [unknown], policy: { toolFailure: "fail-fast" } })
      const result = yield* runFor(agent, "charge me", 0).pipe(
        Effect.provide(ScriptedModel.layer([ScriptedModel.callTools([{ name: "charge", args: {}, id: "c-1" }]), ScriptedModel.text("sorry")]))
      )
      assert.strictEqual(result.text, "sorry")
      const [failed] = ofTag(result.events, "ToolCallFailed")
      assert.strictEqual(failed?.reported, true)
      assert.include(failed?.error, "the outcome of this call is unknown; it was not retried")
      const response = result.history[2]!.parts[0]!
      assert.strictEqual(response._tag === "FunctionResponse" && response.isError, true)
    }))
})

describe("Agent.mapTools", () => {
  it("maps the tools of the agent and of its handoff targets, keeps Agent.asTool tools, and keeps cycles", () => {
    const seen: Array<string> = []
    const mark = (tool: Tool.Any): Tool.Any => {
      seen.push(tool.name)
      return Object.assign(Object.create(Object.getPrototypeOf(tool)), tool, { description: `mapped ${tool.description}` })
    }
    const helper = Agent.make({ name: "helper", instructions: "Help.", tools: [echo] })
    const billing: Agent.Any = Agent.make({
      name: "billing",
      instructions: "Bill.",
      tools: [echo],
      handoffs: [Handoff.to(() => triage)]
    })
    const triage: Agent.Any = Agent.make({
      name: "triage",
      instructions: "Route.",
      tools: [echo, Agent.asTool(helper, { name: "ask_helper" })],
      handoffs: [Handoff.to(() => billing)]
    })
    const mapped = Agent.mapTools(triage, mark)
    assert.deepStrictEqual(mapped.tools.map((tool) => tool.description), ["mapped Echo", triage.tools[1]!.description])
    assert.strictEqual(mapped.tools[1], triage.tools[1])
    const mappedBilling = mapped.handoffs[0]!.target()
    assert.strictEqual(mappedBilling.name, "billing")
    assert.strictEqual(mappedBilling.tools[0]!.description, "mapped Echo")
    // the cycle comes back to the mapped triage, not the original
    assert.strictEqual(mappedBilling.handoffs[0]!.target(), mapped)
    assert.deepStrictEqual(seen, ["echo", "echo"])
    // the original is untouched
    assert.strictEqual(triage.tools[0], echo)
    assert.strictEqual(mapped.policy, triage.policy)
  })
})
