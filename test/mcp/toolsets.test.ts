/**
 * The core side of toolsets: `Tool.fromJsonSchema` (a tool declared with someone else's JSON
 * Schema) and `Toolkit.withToolsets` (an agent with a toolset's current tools, per run).
 */
import { Agent, Handoff, Tool, Toolkit } from "@effect-agents/core"
import { ScriptedModel } from "@effect-agents/testing"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Either, Exit, Layer, Option, Schema } from "effect"

const echo = (name: string) =>
  Tool.fromJsonSchema(name, {
    description: `echo as ${name}`,
    parameters: { type: "object", properties: { text: { type: "string", minLength: 1, default: "x" } }, required: ["text"] },
    handler: (args) => Effect.succeed(`${name}: ${String(args.text)}`)
  })

/** A toolset whose list the test changes. */
const mutable = (name: string, initial: ReadonlyArray<Tool.Any>) => {
  const state = { tools: initial }
  const layer = Layer.succeed(Toolkit.toolset(name), { name, tools: Effect.sync(() => state.tools) })
  return { state, layer }
}

const local = Tool.fromSync("local", { description: "A native tool", parameters: Schema.Struct({}), handler: () => "local" })
const helper = Agent.make({ name: "helper", instructions: "Help." })
const agent = Agent.make({ name: "assistant", instructions: "Use the tools.", tools: [local], handoffs: [Handoff.to(helper)] })

const defectOf = (exit: Exit.Exit<unknown, unknown>) =>
  (Cause.dieOption((exit as Exit.Failure<unknown, unknown>).cause).pipe(Option.getOrThrow) as Error).message

describe("Tool.fromJsonSchema", () => {
  it("declares the JSON Schema as given, after the Gemini check", () => {
    assert.deepStrictEqual(echo("echo").declaration, {
      name: "echo",
      description: "echo as echo",
      parameters: { type: "object", properties: { text: { type: "string", description: "minLength: 1" } }, required: ["text"] }
    })
  })

  it("refuses a schema Gemini cannot take, naming the tool and the keyword", () => {
    assert.throws(
      () => Tool.fromJsonSchema("when", { description: "", parameters: { type: "object", properties: { at: { not: { type: "null" } } } }, handler: () => Effect.void }),
      `Invalid tool "when": its parameters JSON Schema uses "not" at properties.at.not`
    )
  })

  it("refuses a name Gemini does not accept", () => {
    assert.throws(
      () => Tool.fromJsonSchema("read file", { description: "", parameters: { type: "object" }, handler: () => Effect.void }),
      `Invalid tool "read file": the tool name "read file" must start with a letter or "_"`
    )
  })

  it("checkParametersJsonSchema tells why a schema cannot be declared, without throwing", () => {
    assert.deepStrictEqual(
      Tool.checkParametersJsonSchema({ type: "array" }),
      Either.left(`describes "array" at the root; Gemini requires one object of named parameters (Schema.Struct).`)
    )
    assert.deepStrictEqual(Tool.checkParametersJsonSchema({ type: "object", properties: {} }), Either.right({ type: "object", properties: {} }))
  })
})

describe("Toolkit.withToolsets", () => {
  it.effect("adds the toolset's current tools after the agent's own, and the model calls them", () => {
    const docs = mutable("docs", [echo("echo")])
    return Effect.gen(function*() {
      const withDocs = yield* Toolkit.withToolsets(agent, ["docs"])
      assert.deepStrictEqual(withDocs.tools.map((tool) => tool.name), ["local", "echo"])
      assert.strictEqual(withDocs.name, "assistant")
      assert.strictEqual(withDocs.handoffs, agent.handoffs)
      const result = yield* Agent.run(withDocs, "go")
      assert.strictEqual(result.text, "done")
      const requests = yield* Effect.flatMap(ScriptedModel.ScriptedModel, (model) => model.requests)
      assert.deepInclude(requests[1]!.contents.at(-1)!.parts[0], { output: "echo: hi", isError: false })
    }).pipe(
      Effect.provide(docs.layer),
      Effect.provide(ScriptedModel.layer([ScriptedModel.callTools([{ name: "echo", args: { text: "hi" } }]), ScriptedModel.text("done")]))
    )
  })

  it.effect("gives the same agent while the lists do not change, a new one when one does", () => {
    const docs = mutable("docs", [echo("echo")])
    return Effect.gen(function*() {
      const first = yield* Toolkit.withToolsets(agent, ["docs"])
      assert.strictEqual(yield* Toolkit.withToolsets(agent, ["docs"]), first)
      docs.state.tools = [echo("echo"), echo("shout")]
      const second = yield* Toolkit.withToolsets(agent, ["docs"])
      assert.notStrictEqual(second, first)
      assert.deepStrictEqual(second.tools.map((tool) => tool.name), ["local", "echo", "shout"])
    }).pipe(Effect.provide(docs.layer))
  })

  it.effect("a toolset tool named like the agent's tool, a handoff or another toolset's tool is a defect naming both", () => {
    const clash = (tools: ReadonlyArray<Tool.Any>, names: ReadonlyArray<string> = ["docs"]) =>
      Effect.exit(Toolkit.withToolsets(agent, names)).pipe(
        Effect.provide(Layer.merge(mutable("docs", tools).layer, mutable("more", [echo("echo")]).layer)),
        Effect.map(defectOf)
      )
    return Effect.gen(function*() {
      assert.strictEqual(
        yield* clash([echo("local")]),
        `Invalid agent "assistant": the toolset "docs" has a tool "local" and so has the agent's own tools; give the toolset a prefix or a filter`
      )
      assert.strictEqual(
        yield* clash([echo("transfer_to_helper")]),
        `Invalid agent "assistant": the toolset "docs" has a tool "transfer_to_helper" and so has its handoffs; give the toolset a prefix or a filter`
      )
      assert.strictEqual(
        yield* clash([echo("echo")], ["docs", "more"]),
        `Invalid agent "assistant": the toolset "more" has a tool "echo" and so has the toolset "docs"; give the toolset a prefix or a filter`
      )
    })
  })
})
