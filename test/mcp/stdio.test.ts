/**
 * MCP toolsets over stdio, against a real MCP server (the SDK's `Server`) run as a child process:
 * listing and calling, errors, cancellation, a crash mid-call and the reconnection, concurrency
 * over one session, bad commands and schemas, and that nothing is left behind.
 */
import { Agent, AgentError, AgentEvent, Toolkit } from "@effect-agents/core"
import { McpError, McpToolset } from "@effect-agents/mcp"
import { LeakCheck, ScriptedModel } from "@effect-agents/testing"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Layer, Logger, Option, Scope } from "effect"
import { alive, eventLog, eventually, pixelPng, resources, runWith, stdioFixture } from "./support.js"

const assistant = Agent.make({ name: "assistant", instructions: "Use the tools." })

const requests = Effect.flatMap(ScriptedModel.ScriptedModel, (model) => model.requests)

/** The function responses the model received last. */
const lastResponses = Effect.map(requests, (sent) => sent.at(-1)!.contents.at(-1)!.parts)

const fixtureLayer = (options: Omit<McpToolset.Options<"fixture">, "name" | "transport"> = {}, transport = stdioFixture()) =>
  McpToolset.layer({ name: "fixture", transport, ...options })

/** The child's pid while the toolset is up. */
const pid = Effect.flatMap(McpToolset.tag("fixture"), (set) => set.pid).pipe(Effect.map(Option.getOrThrow))

describe("an MCP toolset over stdio", () => {
  it.live("lists the server's tools as declarations the model receives, and calls them", () =>
    Effect.gen(function*() {
      const result = yield* runWith(assistant, ["fixture"], "go")
      assert.strictEqual(result.text, "done")
      const sent = yield* requests
      const add = sent[0]!.tools.find((tool) => tool.name === "add")
      assert.deepStrictEqual(add, {
        name: "add",
        description: "Add two numbers",
        parameters: {
          type: "object",
          properties: { a: { type: "number" }, b: { type: "number" } },
          required: ["a", "b"],
          additionalProperties: false
        }
      })
      assert.deepStrictEqual(sent[0]!.tools.map((tool) => tool.name), ["add", "stats", "pixel", "fail", "slow", "crash", "grow"])
      const responses = (yield* lastResponses).map((part) => part._tag === "FunctionResponse" ? [part.output, part.parts] : undefined)
      // the image is a media part of the response, not base64 inside its JSON
      assert.deepStrictEqual(responses, [
        ["5", undefined],
        [{ count: 3, sum: 6 }, undefined],
        ["a red pixel", [{ mimeType: "image/png", data: pixelPng }]]
      ])
    }).pipe(
      Effect.provide(fixtureLayer()),
      Effect.provide(ScriptedModel.layer([
        ScriptedModel.callTools([
          { name: "add", args: { a: 2, b: 3 } },
          { name: "stats", args: { values: [1, 2, 3] } },
          { name: "pixel", args: {} }
        ]),
        ScriptedModel.text("done")
      ]))
    ))

  it.live("a tool reporting isError fails the run under fail-fast with McpToolFailed in the cause", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(runWith(assistant, ["fixture"], "go"))
      assert.isTrue(Exit.isFailure(exit))
      const error = Cause.failureOption((exit as Exit.Failure<unknown, unknown>).cause).pipe(Option.getOrThrow)
      assert.instanceOf(error, AgentError.ToolCallFailed)
      const failures = [...Cause.failures((error as AgentError.ToolCallFailed).cause)]
      assert.deepStrictEqual(failures, [new McpError.McpToolFailed({ toolset: "fixture", tool: "fail", detail: "failed: disk full" })])
    }).pipe(
      Effect.provide(fixtureLayer()),
      Effect.provide(ScriptedModel.layer([ScriptedModel.callTools([{ name: "fail", args: { reason: "disk full" } }])]))
    ))

  it.live("a tool reporting isError goes back to the model under report", () =>
    Effect.gen(function*() {
      yield* runWith(assistant.pipe(Agent.withPolicy({ toolFailure: "report" })), ["fixture"], "go")
      const [response] = yield* lastResponses
      assert.deepInclude(response, { isError: true, output: `MCP tool "fail" (toolset "fixture") reported an error: failed: disk full` })
    }).pipe(
      Effect.provide(fixtureLayer()),
      Effect.provide(ScriptedModel.layer([
        ScriptedModel.callTools([{ name: "fail", args: { reason: "disk full" } }]),
        ScriptedModel.text("sorry")
      ]))
    ))

  it.live("a slow call interrupted by a failing sibling is cancelled on the server, and the child is gone after the scope closes", () =>
    Effect.gen(function*() {
      const log = yield* eventLog
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(fixtureLayer({}, stdioFixture({ log: log.path })), scope)
      const child = yield* Effect.provide(pid, context)
      const exit = yield* Effect.exit(Effect.provide(runWith(assistant, ["fixture"], "go"), context))
      assert.isTrue(Exit.isFailure(exit))
      const events = yield* eventually(log.read, (lines) => lines.includes("cancelled long"))
      assert.deepStrictEqual(events, ["started long", "cancelled long"])
      yield* Scope.close(scope, Exit.void)
      assert.isFalse(alive(child), `the server process ${child} is still running`)
    }).pipe(
      Effect.scoped,
      Effect.provide(ScriptedModel.layer([
        ScriptedModel.callTools([{ name: "slow", args: { ms: 30_000, label: "long" } }, { name: "fail", args: {} }])
      ]))
    ))

  it.live("a server crashing mid-call fails that call with McpDisconnected; the toolset reconnects for the next run", () =>
    Effect.gen(function*() {
      const set = yield* McpToolset.tag("fixture")
      const first = Option.getOrThrow(yield* set.pid)
      const exit = yield* Effect.exit(runWith(assistant, ["fixture"], "crash"))
      const error = Cause.failureOption((exit as Exit.Failure<unknown, unknown>).cause).pipe(Option.getOrThrow)
      const [failure] = [...Cause.failures((error as AgentError.ToolCallFailed).cause)]
      assert.instanceOf(failure, McpError.McpDisconnected)
      assert.deepInclude(failure, { toolset: "fixture", tool: "crash" })
      const again = yield* runWith(assistant, ["fixture"], "add")
      assert.strictEqual(again.text, "5")
      assert.strictEqual(yield* set.sessions, 2)
      const second = Option.getOrThrow(yield* set.pid)
      assert.notStrictEqual(second, first)
      assert.isFalse(alive(first))
    }).pipe(
      Effect.provide(fixtureLayer()),
      Effect.provide(ScriptedModel.layer(ScriptedModel.byPrompt({
        crash: [ScriptedModel.callTools([{ name: "crash", args: {} }])],
        add: [ScriptedModel.callTools([{ name: "add", args: { a: 2, b: 3 } }]), ScriptedModel.text("5")]
      })))
    ))

  it.live("100 concurrent conversations share one session", () =>
    Effect.gen(function*() {
      const results = yield* Effect.forEach(
        Array.from({ length: 100 }, (_, i) => i),
        (i) => runWith(assistant, ["fixture"], `${i}`),
        { concurrency: "unbounded" }
      )
      assert.deepStrictEqual(results.map((result) => result.text), Array.from({ length: 100 }, (_, i) => `${i + 1}`))
      assert.strictEqual(yield* Effect.flatMap(McpToolset.tag("fixture"), (set) => set.sessions), 1)
    }).pipe(
      Effect.provide(fixtureLayer()),
      Effect.provide(ScriptedModel.layer((request) => {
        const prompt = Number((request.contents[0]!.parts[0] as { text: string }).text)
        const last = request.contents.at(-1)!.parts[0]!
        return last._tag === "FunctionResponse"
          ? ScriptedModel.text(String(last.output))
          : ScriptedModel.callTools([{ name: "add", args: { a: prompt, b: 1 } }])
      }))
    ))

  it.live("tools/list_changed refreshes the tools for the next run", () =>
    Effect.gen(function*() {
      const before = yield* Toolkit.withToolsets(assistant, ["fixture"])
      yield* runWith(assistant, ["fixture"], "go")
      const set = yield* McpToolset.tag("fixture")
      const tools = yield* eventually(set.tools, (tools) => tools.some((tool) => tool.name === "fx_extra"))
      assert.deepStrictEqual(tools.map((tool) => tool.name).slice(-1), ["fx_extra"])
      const after = yield* Toolkit.withToolsets(assistant, ["fixture"])
      assert.notStrictEqual(after, before)
      assert.isFalse(before.tools.some((tool) => tool.name === "fx_extra"))
      assert.isTrue(after.tools.some((tool) => tool.name === "fx_extra"))
    }).pipe(
      Effect.provide(fixtureLayer({ prefix: "fx_" })),
      Effect.provide(ScriptedModel.layer([ScriptedModel.callTools([{ name: "fx_grow", args: {} }]), ScriptedModel.text("ok")]))
    ))

  it.live("a tool the server adds mid-run (tools/list_changed) is declared in the next turn's model request and can be called", () =>
    Effect.gen(function*() {
      const agent = Agent.make({ name: "assistant", instructions: "Use the tools.", toolsets: ["fixture"] })
      const result = yield* LeakCheck.check(Agent.run(agent, "go"))
      assert.strictEqual(result.text, "done")
      assert.deepStrictEqual(AgentEvent.invariantViolations(result.events), [])
      const declared = (yield* requests).map((request) => request.tools.map((tool) => tool.name))
      assert.strictEqual(declared.length, 3)
      assert.isFalse(declared[0]!.includes("fx_extra"))
      assert.deepStrictEqual(declared[1], [...declared[0]!, "fx_extra"])
      assert.deepInclude((yield* lastResponses)[0], { name: "fx_extra", output: "extra", isError: false })
    }).pipe(
      Effect.provide(fixtureLayer({ prefix: "fx_" })),
      Effect.provide(ScriptedModel.layer([
        ScriptedModel.callTools([{ name: "fx_grow", args: {} }]),
        ScriptedModel.callTools([{ name: "fx_extra", args: {} }]),
        ScriptedModel.text("done")
      ]))
    ))

  it.live("several toolsets on one agent, told apart by prefix", () =>
    Effect.gen(function*() {
      const result = yield* runWith(assistant, ["left", "right"], "go")
      assert.strictEqual(result.text, "done")
      const sent = yield* requests
      assert.deepStrictEqual(sent[0]!.tools.map((tool) => tool.name), ["l_add", "r_add"])
      const outputs = (yield* lastResponses).map((part) => part._tag === "FunctionResponse" ? part.output : undefined)
      assert.deepStrictEqual(outputs, ["3", "7"])
    }).pipe(
      Effect.provide(Layer.merge(
        McpToolset.layer({ name: "left", transport: stdioFixture(), prefix: "l_", filter: ["add"] }),
        McpToolset.layer({ name: "right", transport: stdioFixture(), prefix: "r_", filter: (tool) => tool.name === "add" })
      )),
      Effect.provide(ScriptedModel.layer([
        ScriptedModel.callTools([{ name: "l_add", args: { a: 1, b: 2 } }, { name: "r_add", args: { a: 3, b: 4 } }]),
        ScriptedModel.text("done")
      ]))
    ))

  it.live("two toolsets with a tool of the same name end the run with a defect naming both", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Toolkit.withToolsets(assistant, ["left", "right"]))
      const defect = Cause.dieOption((exit as Exit.Failure<unknown, unknown>).cause).pipe(Option.getOrThrow)
      assert.strictEqual(
        (defect as Error).message,
        `Invalid agent "assistant": the toolset "right" has a tool "add" and so has the toolset "left"; give the toolset a prefix or a filter`
      )
    }).pipe(
      Effect.provide(Layer.merge(
        McpToolset.layer({ name: "left", transport: stdioFixture(), filter: ["add"] }),
        McpToolset.layer({ name: "right", transport: stdioFixture(), filter: ["add"] })
      ))
    ))
})

describe("bad input", () => {
  it.live("a command that does not exist fails the layer with McpConnectFailed naming it", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Layer.build(McpToolset.layer({
        name: "nope",
        transport: McpToolset.stdio({ command: "/nonexistent/mcp-server", args: ["--stdio"] })
      })))
      assert.instanceOf(error, McpError.McpConnectFailed)
      assert.strictEqual(error.server, "`/nonexistent/mcp-server --stdio`")
      assert.include(error.reason, "ENOENT")
      assert.include(error.message, `MCP toolset "nope" could not connect to \`/nonexistent/mcp-server --stdio\``)
    }).pipe(Effect.scoped))

  it.live("a server that exits at start fails the layer with its exit and the tail of its stderr", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Layer.build(McpToolset.layer({
        name: "broken",
        transport: McpToolset.stdio({
          command: process.execPath,
          args: ["-e", "console.error('loading config'); console.error('Error: missing API_TOKEN'); process.exit(2)"]
        })
      })))
      assert.instanceOf(error, McpError.McpConnectFailed)
      assert.strictEqual(error.reason, "the server exited (code 2) before the MCP handshake finished")
      assert.strictEqual(error.stderr, "loading config\nError: missing API_TOKEN")
      assert.include(error.message, "Its stderr ended with:\nloading config\nError: missing API_TOKEN")
    }).pipe(Effect.scoped))

  it.live("a tool whose schema Gemini cannot take is left out with a warning naming it", () =>
    Effect.gen(function*() {
      const warnings: Array<string> = []
      const logger = Logger.make(({ logLevel, message }) => {
        if (logLevel._tag === "Warning") warnings.push(String(message))
      })
      const set = yield* McpToolset.make({ name: "fixture", transport: stdioFixture({ env: { FIXTURE_BAD_SCHEMA: "1" } }) }).pipe(
        Effect.provide(Logger.replace(Logger.defaultLogger, logger))
      )
      const names = (yield* set.tools).map((tool) => tool.name)
      assert.isFalse(names.includes("bad_schema"))
      assert.isTrue(names.includes("add"))
      const [excluded] = yield* set.excluded
      assert.strictEqual(excluded!.tool, "bad_schema")
      assert.include(excluded!.reason, `uses "allOf" at properties.when.allOf`)
      assert.strictEqual(warnings.length, 1)
      assert.include(warnings[0], `MCP toolset "fixture" leaves out the tool "bad_schema": its parameters JSON Schema uses "allOf"`)
    }).pipe(Effect.scoped))

  it.live("with invalidSchema: fail, a tool whose schema Gemini cannot take fails the layer with McpSchemaRejected", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Layer.build(fixtureLayer({ invalidSchema: "fail" }, stdioFixture({ env: { FIXTURE_BAD_SCHEMA: "1" } }))))
      assert.instanceOf(error, McpError.McpSchemaRejected)
      assert.deepInclude(error, { toolset: "fixture", tool: "bad_schema" })
      assert.include(error.reason, `uses "allOf" at properties.when.allOf`)
    }).pipe(Effect.scoped))
})

describe("the child process", () => {
  it.live("a child ignoring the end of stdin and SIGTERM is killed with SIGKILL after the grace period", () =>
    Effect.gen(function*() {
      const log = yield* eventLog
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(
        fixtureLayer({}, stdioFixture({ log: log.path, gracePeriod: "300 millis", env: { FIXTURE_STUBBORN: "1" } })),
        scope
      )
      const child = yield* Effect.provide(pid, context)
      const started = Date.now()
      yield* Scope.close(scope, Exit.void)
      const took = Date.now() - started
      assert.isFalse(alive(child))
      assert.deepStrictEqual(yield* log.read, ["ignored SIGTERM"])
      assert.isAtLeast(took, 600)
      assert.isBelow(took, 3000)
    }).pipe(Effect.scoped))

  it.live("interrupting the connection while the child starts leaves no process behind", () =>
    Effect.gen(function*() {
      const baseline = yield* settledResources
      const fiber = yield* Effect.fork(Effect.scoped(Layer.build(fixtureLayer())))
      yield* Effect.sleep("150 millis")
      const exit = yield* Fiber.interrupt(fiber)
      assert.isTrue(Exit.isInterrupted(exit))
      assert.deepStrictEqual(yield* resourcesBackTo(baseline), baseline)
    }))

  it.live("after a conversation and the layer's scope, no process, pipe or socket is left", () =>
    Effect.gen(function*() {
      const baseline = yield* settledResources
      const result = yield* runWith(assistant, ["fixture"], "go").pipe(Effect.provide(fixtureLayer()))
      assert.strictEqual(result.text, "2")
      assert.deepStrictEqual(yield* resourcesBackTo(baseline), baseline)
    }).pipe(
      Effect.provide(ScriptedModel.layer([ScriptedModel.callTools([{ name: "add", args: { a: 1, b: 1 } }]), ScriptedModel.text("2")]))
    ))
})

/**
 * The handles before a test, once the children of the tests before it are gone: Node releases a killed
 * child's process and pipe handles a moment after its exit, on a later turn of the event loop.
 */
const settledResources = Effect.gen(function*() {
  for (let i = 0; i < 150 && pick(resources()).ProcessWrap > 0; i++) yield* Effect.sleep("20 millis")
  return pick(resources())
})

/** The handles once they are back to `baseline`, or as they are after 3 s (the test then fails on them). */
const resourcesBackTo = (baseline: ReturnType<typeof pick>) =>
  Effect.gen(function*() {
    for (let i = 0; i < 150; i++) {
      const now = pick(resources())
      if (now.ProcessWrap === baseline.ProcessWrap && now.PipeWrap === baseline.PipeWrap && now.TCPSocketWrap === baseline.TCPSocketWrap) return now
      yield* Effect.sleep("20 millis")
    }
    return pick(resources())
  })

/** The handles a toolset could leak. */
const pick = (counts: Record<string, number>) => ({
  ProcessWrap: counts.ProcessWrap ?? 0,
  PipeWrap: counts.PipeWrap ?? 0,
  TCPSocketWrap: counts.TCPSocketWrap ?? 0
})
