/**
 * Agents made with `toolsets`: the toolsets' current tools join the agent's own at every turn,
 * so a list that changes mid-run shows in the next model request; a call to a tool gone since is
 * an unknown tool. Also for handoff targets and `Agent.asTool` sub-agents. In-memory toolsets
 * whose lists the tools themselves change, on virtual time.
 */
import { Agent, AgentEvent, Handoff, Tool, Toolkit } from "@effect-agents/core"
import { ScriptedModel } from "@effect-agents/testing"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Layer, Option, Schema, TestClock } from "effect"
import { ofTag, responsesOf, runFor } from "../support/agents.js"

/** A toolset whose list its state holds; `tools` reads it at every turn. */
const memoryToolset = (name: string) => {
  const state: { tools: ReadonlyArray<Tool.Any> } = { tools: [] }
  const layer = Layer.succeed(Toolkit.toolset(name), { name, tools: Effect.sync(() => state.tools) })
  return { state, layer }
}

const answer = (name: string, text: string) =>
  Tool.fromSync(name, { description: `answers ${text}`, parameters: Schema.Struct({}), handler: () => text })

/** A tool that waits `millis`, then changes the list of `set`. */
const changing = (name: string, set: { tools: ReadonlyArray<Tool.Any> }, next: () => ReadonlyArray<Tool.Any>, millis: number) =>
  Tool.make(name, {
    description: "changes the toolset",
    parameters: Schema.Struct({}),
    success: Schema.String,
    handler: () => Effect.as(Effect.sleep(millis), "changed").pipe(Effect.tap(() => Effect.sync(() => (set.tools = next()))))
  })

const local = answer("local", "local")

const requests = Effect.flatMap(ScriptedModel.ScriptedModel, (model) => model.requests)
const declared = Effect.map(requests, (sent) => sent.map((request) => request.tools.map((tool) => tool.name)))

describe("an agent made with toolsets", () => {
  it.effect("a tool added to a toolset mid-run is declared in the next turn's request and can be called", () => {
    const docs = memoryToolset("docs")
    const extra = answer("extra", "extra answer")
    const grow = changing("grow", docs.state, () => [grow, extra], 1000)
    docs.state.tools = [grow]
    const agent = Agent.make({ name: "assistant", instructions: "Use the tools.", tools: [local], toolsets: ["docs"] })
    return Effect.gen(function*() {
      const result = yield* runFor(agent, "go", 1000)
      assert.strictEqual(result.text, "done")
      assert.deepStrictEqual(yield* declared, [["local", "grow"], ["local", "grow", "extra"], ["local", "grow", "extra"]])
      assert.deepInclude((yield* responsesOf(2))[0], { name: "extra", output: "extra answer", isError: false })
      const succeeded = ofTag(result.events, "ToolCallSucceeded").map((event) => [event.tool, event.timestamp])
      assert.deepStrictEqual(succeeded, [["grow", 1000], ["extra", 1000]])
    }).pipe(
      Effect.provide(docs.layer),
      Effect.provide(ScriptedModel.layer([
        ScriptedModel.callTools([{ name: "grow", args: {} }]),
        ScriptedModel.callTools([{ name: "extra", args: {} }]),
        ScriptedModel.text("done")
      ]))
    )
  })

  it.effect("a call to a tool removed since the last turn gets the unknown-tool error response", () => {
    const docs = memoryToolset("docs")
    const gone = answer("gone", "never")
    const shrink = changing("shrink", docs.state, () => [shrink], 500)
    docs.state.tools = [gone, shrink]
    const agent = Agent.make({ name: "assistant", instructions: "Use the tools.", tools: [local], toolsets: ["docs"] })
    return Effect.gen(function*() {
      const result = yield* runFor(agent, "go", 500)
      assert.deepStrictEqual(yield* declared, [["local", "gone", "shrink"], ["local", "shrink"], ["local", "shrink"]])
      assert.deepInclude((yield* responsesOf(2))[0], {
        name: "gone",
        isError: true,
        output: `Unknown tool "gone". Available tools: local, shrink.`
      })
      const [failed] = ofTag(result.events, "ToolCallFailed")
      assert.deepInclude(failed, { tool: "gone", kind: "unknown-tool", reported: true, timestamp: 500 })
    }).pipe(
      Effect.provide(docs.layer),
      Effect.provide(ScriptedModel.layer([
        ScriptedModel.callTools([{ name: "shrink", args: {} }]),
        ScriptedModel.callTools([{ name: "gone", args: {} }]),
        ScriptedModel.text("sorry")
      ]))
    )
  })

  it.effect("while the list does not change, every turn sends the same declarations", () => {
    const docs = memoryToolset("docs")
    docs.state.tools = [answer("first", "1"), answer("second", "2")]
    const agent = Agent.make({ name: "assistant", instructions: "Use the tools.", toolsets: ["docs"] })
    return Effect.gen(function*() {
      yield* runFor(agent, "go", 0)
      const [one, two, three] = yield* requests
      assert.deepStrictEqual(one!.tools.map((tool) => tool.name), ["first", "second"])
      assert.strictEqual(two!.tools, one!.tools)
      assert.strictEqual(three!.tools, one!.tools)
    }).pipe(
      Effect.provide(docs.layer),
      Effect.provide(ScriptedModel.layer([
        ScriptedModel.callTools([{ name: "first", args: {} }]),
        ScriptedModel.callTools([{ name: "second", args: {} }]),
        ScriptedModel.text("done")
      ]))
    )
  })

  it.effect("a handoff target and an Agent.asTool sub-agent read their own toolsets at each of their turns", () => {
    const docs = memoryToolset("docs")
    const files = memoryToolset("files")
    docs.state.tools = [answer("search", "found")]
    files.state.tools = [answer("read", "content")]
    const researcher = Agent.make({ name: "researcher", instructions: "Search.", toolsets: ["docs"] })
    const reader = Agent.make({ name: "reader", instructions: "Read.", toolsets: ["files"] })
    const triage = Agent.make({
      name: "triage",
      instructions: "Delegate.",
      tools: [Agent.asTool(researcher)],
      handoffs: [Handoff.to(reader)]
    })
    return Effect.gen(function*() {
      const result = yield* runFor(triage, "go", 0)
      assert.strictEqual(result.agent, "triage/reader")
      assert.deepStrictEqual(yield* Effect.map(requests, (sent) => sent.map((request) => [request.agent, request.tools.map((tool) => tool.name)])), [
        ["triage", ["researcher", "transfer_to_reader"]],
        ["triage/researcher", ["search"]],
        ["triage/researcher", ["search"]],
        ["triage", ["researcher", "transfer_to_reader"]],
        ["triage/reader", ["read"]],
        ["triage/reader", ["read"]]
      ])
      assert.deepStrictEqual(ofTag(result.events, "ToolCallSucceeded").map((event) => [event.agent, event.tool]), [
        ["triage/researcher", "search"],
        ["triage", "researcher"],
        ["triage/reader", "read"]
      ])
      assert.deepStrictEqual(AgentEvent.invariantViolations(result.events), [])
    }).pipe(
      Effect.provide(Layer.merge(docs.layer, files.layer)),
      Effect.provide(ScriptedModel.layer([
        ScriptedModel.callTools([{ name: "researcher", args: { input: "look it up" } }]),
        ScriptedModel.callTools([{ name: "search", args: {} }]),
        ScriptedModel.text("it is found"),
        ScriptedModel.callTools([{ name: "transfer_to_reader", args: {} }]),
        ScriptedModel.callTools([{ name: "read", args: {} }]),
        ScriptedModel.text("read it")
      ]))
    )
  })

  it.effect("a toolset tool that comes to clash with the agent's own ends the run at that turn with a defect naming both", () => {
    const docs = memoryToolset("docs")
    const clash = changing("clash", docs.state, () => [clash, answer("local", "other")], 200)
    docs.state.tools = [clash]
    const agent = Agent.make({ name: "assistant", instructions: "Use the tools.", tools: [local], toolsets: ["docs"] })
    return Effect.gen(function*() {
      const fiber = yield* Effect.fork(Agent.run(agent, "go"))
      yield* TestClock.adjust(200)
      const exit = yield* Fiber.await(fiber)
      assert.isTrue(Exit.isFailure(exit))
      const defect = Cause.dieOption((exit as Exit.Failure<unknown, unknown>).cause).pipe(Option.getOrThrow)
      assert.strictEqual(
        (defect as Error).message,
        `Invalid agent "assistant": the toolset "docs" has a tool "local" and so has the agent's own tools; give the toolset a prefix or a filter`
      )
      assert.strictEqual((yield* requests).length, 1)
    }).pipe(
      Effect.provide(docs.layer),
      Effect.provide(ScriptedModel.layer([ScriptedModel.callTools([{ name: "clash", args: {} }]), ScriptedModel.text("never")]))
    )
  })

  it("Agent.make refuses a toolset named twice or a name that is not a string", () => {
    assert.throws(
      () => Agent.make({ name: "a", instructions: "", toolsets: ["docs", "docs"] }),
      `Invalid agent "a": the toolset "docs" is named twice`
    )
    assert.throws(
      () => Agent.make({ name: "a", instructions: "", toolsets: [42 as unknown as string] }),
      `Invalid agent "a": toolsets[0] must be a toolset's name (a non-empty string), got 42`
    )
  })

  it("the agent's requirements name each toolset", () => {
    const agent = Agent.make({ name: "a", instructions: "", tools: [local], toolsets: ["docs", "files"] })
    const requires: Agent.Requirements<typeof agent> extends Toolkit.ToolsetId<"docs"> | Toolkit.ToolsetId<"files"> ? true : false = true
    const none = Agent.make({ name: "b", instructions: "", tools: [local] })
    const nothing: [Agent.Requirements<typeof none>] extends [never] ? true : false = true
    assert.isTrue(requires && nothing)
    assert.deepStrictEqual(agent.toolsets, ["docs", "files"])
    assert.deepStrictEqual(none.toolsets, [])
  })
})
