/**
 * Tools: Schema-checked arguments and results, declarations built once, handlers that need
 * services or acquire scoped resources, and the Promise/sync constructors.
 */
import { Agent, AgentError, AgentEvent, Model, Tool, Toolkit } from "@effect-agents/core"
import { LeakCheck, ScriptedModel } from "@effect-agents/testing"
import { assert, describe, it } from "@effect/vitest"
import { Clock, Context, Effect, Exit, Fiber, Layer, ParseResult, Ref, Schema, Stream, TestClock } from "effect"
import { ofTag, runFor, streamFor } from "../support/agents.js"

const requests = ScriptedModel.ScriptedModel.pipe(Effect.flatMap((m) => m.requests))

const lastResponses = Effect.map(requests, (sent) => sent.at(-1)!.contents.at(-1)!.parts)

describe("tool declarations", () => {
  it("a tool's declaration is plain JSON Schema derived from its parameters, built once", () => {
    const add = Tool.make("add", {
      description: "Add two numbers",
      parameters: Schema.Struct({
        a: Schema.Number.annotations({ description: "first" }),
        b: Schema.optional(Schema.Number)
      }),
      handler: ({ a, b }) => Effect.succeed(a + (b ?? 0))
    })
    assert.deepStrictEqual(add.declaration, {
      name: "add",
      description: "Add two numbers",
      parameters: {
        type: "object",
        required: ["a"],
        properties: { a: { type: "number", description: "first" }, b: { type: "number" } },
        additionalProperties: false
      }
    })
    assert.strictEqual(add.declaration, add.declaration)
    assert.notProperty(add.declaration.parameters, "$schema")
  })

  it.effect("the model receives the declarations of the agent's tools, in order, on every turn", () =>
    Effect.gen(function*() {
      const a = Tool.fromSync("a", { description: "A", parameters: Schema.Struct({}), handler: () => 1 })
      const b = Tool.fromSync("b", { description: "B", parameters: Schema.Struct({}), handler: () => 2 })
      const agent = Agent.make({ name: "math", instructions: "Be brief.", tools: Toolkit.make(a, b) })
      yield* runFor(agent, "go", 0)
      const sent = yield* requests
      assert.strictEqual(sent.length, 2)
      for (const request of sent) {
        assert.deepStrictEqual(request.tools, [a.declaration, b.declaration])
        assert.strictEqual(request.system, "Be brief.")
      }
      assert.strictEqual(sent[0].tools[0], sent[1].tools[0])
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.callTools([{ name: "a" }]), ScriptedModel.text("ok")]))))
})

describe("tool results", () => {
  it.effect("a handler's result is encoded with the tool's success schema before the model sees it", () =>
    Effect.gen(function*() {
      const when = Tool.make("when", {
        description: "The time",
        parameters: Schema.Struct({}),
        success: Schema.Struct({ at: Schema.DateFromString, count: Schema.NumberFromString }),
        handler: () => Effect.map(Clock.currentTimeMillis, (t) => ({ at: new Date(t), count: 42 }))
      })
      const agent = Agent.make({ name: "clock", instructions: "", tools: [when] })
      const result = yield* runFor(agent, "go", 1000)
      const output = { at: "1970-01-01T00:00:01.000Z", count: "42" }
      assert.deepStrictEqual(yield* lastResponses, [{ _tag: "FunctionResponse", id: "call_1_0", name: "when", output, isError: false }])
      assert.deepStrictEqual(ofTag(result.events, "ToolCallSucceeded").map((e) => e.output), [output])
    }).pipe(Effect.provide(ScriptedModel.layer([
      ScriptedModel.callTools([{ name: "when" }], { delay: "1 second" }),
      ScriptedModel.text("ok")
    ]))))

  it.effect("a result the success schema rejects is reported as invalid-result, not sent as is", () =>
    Effect.gen(function*() {
      const negative = Tool.make("negative", {
        description: "Returns a negative number",
        parameters: Schema.Struct({}),
        success: Schema.Number.pipe(Schema.positive()),
        handler: () => Effect.succeed(-1)
      })
      const agent = Agent.make({ name: "math", instructions: "", tools: [negative], policy: { toolFailure: "report" } })
      const result = yield* runFor(agent, "go", 0)
      const failed = ofTag(result.events, "ToolCallFailed")
      assert.deepStrictEqual(failed.map((e) => [e.kind, e.reported]), [["invalid-result", true]])
      const [response] = yield* lastResponses
      assert.isTrue(response._tag === "FunctionResponse" && response.isError)
      assert.strictEqual(
        response._tag === "FunctionResponse" && response.output,
        "Tool \"negative\" (call call_1_0) returned a value that does not match its success schema: positive\n└─ Predicate refinement failure\n   └─ Expected a positive number, actual -1"
      )
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.callTools([{ name: "negative" }]), ScriptedModel.text("ok")]))))

  it.effect("arguments are decoded with the parameters schema before the handler runs", () =>
    Effect.gen(function*() {
      const seen: Array<unknown> = []
      const later = Tool.make("later", {
        description: "Schedules something",
        parameters: Schema.Struct({ at: Schema.DateFromString, times: Schema.NumberFromString }),
        handler: (params) => Effect.sync(() => seen.push(params))
      })
      const agent = Agent.make({ name: "math", instructions: "", tools: [later] })
      yield* runFor(agent, "go", 0)
      assert.deepStrictEqual(seen, [{ at: new Date("2025-01-01T00:00:00.000Z"), times: 3 }])
    }).pipe(Effect.provide(ScriptedModel.layer([
      ScriptedModel.callTools([{ name: "later", args: { at: "2025-01-01T00:00:00.000Z", times: "3" } }]),
      ScriptedModel.text("ok")
    ]))))
})

/** A number sent as a string, decoded and encoded after 10 ms (asynchronous transformations). */
const SlowNumber = Schema.transformOrFail(Schema.String, Schema.Number, {
  strict: true,
  decode: (text, _, ast) =>
    Effect.zipRight(
      Effect.sleep("10 millis"),
      Number.isNaN(Number(text)) ? ParseResult.fail(new ParseResult.Type(ast, text, "not a number")) : ParseResult.succeed(Number(text))
    ),
  encode: (n) => Effect.as(Effect.sleep("10 millis"), String(n))
})

describe("tool arguments and results decode exactly as their Schema says", () => {
  const Point = Schema.Struct({ x: Schema.Number, label: Schema.String, shown: Schema.Boolean })

  /** Run one call of a tool with `parameters` and `success`, the handler returning `result`; what it received and what the model read. */
  const callWith = <P extends Schema.Schema.Any, S extends Schema.Schema.Any>(
    parameters: P,
    success: S,
    args: unknown,
    result: unknown
  ) =>
    Effect.gen(function*() {
      const received: Array<unknown> = []
      const tool = Tool.make("probe", {
        description: "Receives its arguments",
        parameters: parameters as unknown as Schema.Schema<unknown, unknown>,
        success: success as unknown as Schema.Schema<unknown, unknown>,
        handler: (params) => Effect.sync(() => (received.push(params), result))
      })
      const agent = Agent.make({ name: "probe", instructions: "", tools: [tool] })
      yield* Agent.run(agent, "go").pipe(Effect.provide(ScriptedModel.layer([
        ScriptedModel.callTools([{ name: "probe", args: args as Record<string, unknown> }]),
        ScriptedModel.text("done")
      ])))
      return received
    })

  it.effect("a Struct of plain fields gives the handler a new object with the declared fields in declaration order, and no other key", () =>
    Effect.gen(function*() {
      const args = { shown: true, extra: [1], label: "p", x: 1.5 }
      const [params] = yield* callWith(Point, Schema.Number, args, 1)
      assert.deepStrictEqual(params, Schema.decodeUnknownSync(Point)(args))
      assert.deepStrictEqual(Object.keys(params as object), ["x", "label", "shown"])
      assert.notStrictEqual(params, args)
    }))

  it.effect("an empty Struct gives the handler the arguments themselves, as Schema does", () =>
    Effect.gen(function*() {
      const args = { anything: 1 }
      const [params] = yield* callWith(Schema.Struct({}), Schema.String, args, "ok")
      assert.strictEqual(params, Schema.decodeUnknownSync(Schema.Struct({}))(args))
    }))

  it.effect("arguments a plain Struct refuses go back with Schema's own message: a missing field, a wrong type", () =>
    Effect.gen(function*() {
      for (const args of [{ x: 1, label: "p" }, { x: "1", label: "p", shown: false }, { x: 1, label: 2, shown: false }]) {
        const tool = Tool.make("probe", { description: "", parameters: Point, handler: () => Effect.succeed("ran") })
        const agent = Agent.make({ name: "probe", instructions: "", tools: [tool] })
        const result = yield* Agent.run(agent, "go").pipe(Effect.provide(ScriptedModel.layer([
          ScriptedModel.callTools([{ name: "probe", args }]),
          ScriptedModel.text("done")
        ])))
        const failed = ofTag(result.events, "ToolCallFailed")[0]!
        const issue = Schema.decodeUnknownEither(Point)(args)
        assert.isTrue(issue._tag === "Left")
        if (issue._tag !== "Left") return
        assert.strictEqual(failed.error, `Invalid arguments for tool "probe": ${ParseResult.TreeFormatter.formatErrorSync(issue.left)}`)
      }
    }))

  it.effect("a result its plain success Schema refuses is an invalid result with Schema's own message", () =>
    Effect.gen(function*() {
      const tool = Tool.make("probe", {
        description: "",
        parameters: Schema.Struct({}),
        success: Schema.Number,
        onFailure: "report",
        handler: () => Effect.succeed("seven" as unknown as number)
      })
      const agent = Agent.make({ name: "probe", instructions: "", tools: [tool] })
      const result = yield* Agent.run(agent, "go").pipe(Effect.provide(ScriptedModel.layer([
        ScriptedModel.callTools([{ name: "probe" }]),
        ScriptedModel.text("done")
      ])))
      const failed = ofTag(result.events, "ToolCallFailed")[0]!
      assert.strictEqual(failed.kind, "invalid-result")
      const issue = Schema.encodeUnknownEither(Schema.Number)("seven")
      assert.isTrue(issue._tag === "Left")
      if (issue._tag === "Left") assert.include(failed.error, ParseResult.TreeFormatter.formatErrorSync(issue.left))
    }))
})

describe("tool schemas with asynchronous transformations", () => {
  const double = Tool.make("double", {
    description: "Doubles a number",
    parameters: Schema.Struct({ n: SlowNumber }),
    success: SlowNumber,
    handler: ({ n }) => Effect.succeed(n * 2)
  })
  const agent = Agent.make({ name: "math", instructions: "", tools: [double], policy: { toolFailure: "report" } })

  it.effect("arguments and results are decoded and encoded as effects, on the clock", () =>
    Effect.gen(function*() {
      const result = yield* runFor(agent, "go", 20)
      assert.deepStrictEqual(ofTag(result.events, "ToolCallSucceeded").map((e) => [e.output, e.timestamp]), [["42", 20]])
      assert.deepStrictEqual(yield* lastResponses, [{ _tag: "FunctionResponse", id: "call_1_0", name: "double", output: "42", isError: false }])
    }).pipe(Effect.provide(ScriptedModel.layer([
      ScriptedModel.callTools([{ name: "double", args: { n: "21" } }]),
      ScriptedModel.text("ok")
    ]))))

  it.effect("a call still decoding its arguments when a sibling fails ends as interrupted at that instant", () =>
    Effect.gen(function*() {
      const broken = Tool.make("broken", {
        description: "Fails after 5 ms",
        parameters: Schema.Struct({}),
        handler: () => Effect.zipRight(Effect.sleep("5 millis"), Effect.fail("broken"))
      })
      const strict = Agent.make({ name: "math", instructions: "", tools: [double, broken] })
      const { events, exit } = yield* streamFor(strict, "go", 5)
      assert.isTrue(Exit.isFailure(exit))
      const ends = events.filter(AgentEvent.isToolCallTerminal).map((e) =>
        [e.tool, e._tag === "ToolCallInterrupted" ? e.reason : e._tag, e.timestamp]
      )
      assert.deepStrictEqual(ends, [["broken", "ToolCallFailed", 5], ["double", "sibling-failed", 5]])
    }).pipe(Effect.provide(ScriptedModel.layer([
      ScriptedModel.callTools([{ name: "double", args: { n: "21" } }, { name: "broken" }])
    ]))))

  it.effect("arguments an asynchronous transformation rejects go back to the model as invalid", () =>
    Effect.gen(function*() {
      const result = yield* runFor(agent, "go", 10)
      assert.deepStrictEqual(ofTag(result.events, "ToolCallFailed").map((e) => [e.kind, e.error, e.timestamp]), [[
        "invalid-arguments",
        "Invalid arguments for tool \"double\": { readonly n: (string <-> number) }\n└─ [\"n\"]\n   └─ (string <-> number)\n      └─ Transformation process failure\n         └─ not a number",
        10
      ]])
    }).pipe(Effect.provide(ScriptedModel.layer([
      ScriptedModel.callTools([{ name: "double", args: { n: "x" } }]),
      ScriptedModel.text("ok")
    ]))))
})

class Rates extends Context.Tag("test/Rates")<Rates, { readonly usdToEur: number }>() {}

describe("tool handlers", () => {
  it.effect("a handler that needs a service gets it from a Layer provided to the run", () =>
    Effect.gen(function*() {
      const convert = Tool.make("convert", {
        description: "USD to EUR",
        parameters: Schema.Struct({ usd: Schema.Number }),
        success: Schema.Number,
        handler: ({ usd }) => Effect.map(Rates, (rates) => usd * rates.usdToEur)
      })
      const agent = Agent.make({ name: "fx", instructions: "", tools: [convert] })
      // the agent's type says what its tools need
      const run: Effect.Effect<Agent.RunResult, AgentError.AgentError, Rates | Model.Model> = Agent.run(agent, "go")
      const result = yield* LeakCheck.check(run).pipe(Effect.provide(Layer.succeed(Rates, { usdToEur: 0.5 })))
      assert.deepStrictEqual(ofTag(result.events, "ToolCallSucceeded").map((e) => e.output), [50])
    }).pipe(Effect.provide(ScriptedModel.layer([
      ScriptedModel.callTools([{ name: "convert", args: { usd: 100 } }]),
      ScriptedModel.text("50 EUR")
    ]))))

  it.effect("a scoped resource acquired by a handler is released when its call ends, before the next model request", () =>
    Effect.gen(function*() {
      const order: Array<string> = []
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const stamp = (what: string) =>
        Effect.flatMap(Clock.currentTimeMillis, (t) => Ref.update(log, (l) => [...l, `${what}@${t}`]))
      const query = Tool.make("query", {
        description: "Query a database",
        scoped: true,
        parameters: Schema.Struct({}),
        success: Schema.String,
        handler: () =>
          Effect.gen(function*() {
            yield* Effect.acquireRelease(
              Effect.zipRight(stamp("connection opened"), Effect.sync(() => order.push("opened"))),
              () => Effect.zipRight(stamp("connection closed"), Effect.sync(() => order.push("closed")))
            )
            yield* Effect.sleep("1 second")
            return "rows"
          })
      })
      const agent = Agent.make({ name: "db", instructions: "", tools: [query] })
      const result = yield* runFor(agent, "go", 1000).pipe(
        Effect.provide(ScriptedModel.layer([
          ScriptedModel.callTools([{ name: "query" }]),
          () => {
            order.push("second model request")
            return ScriptedModel.text("done")
          }
        ]))
      )
      assert.deepStrictEqual(order, ["opened", "closed", "second model request"])
      assert.deepStrictEqual(yield* Ref.get(log), ["connection opened@0", "connection closed@1000"])
      assert.deepStrictEqual(ofTag(result.events, "ModelRequested").map((e) => e.timestamp), [0, 1000])
    }))

  it.effect("a resource from a scoped Layer is shared by every run and released when the layer's scope closes", () =>
    Effect.gen(function*() {
      class Pool extends Context.Tag("test/Pool")<Pool, { readonly id: number }>() {}
      const events: Array<string> = []
      let opened = 0
      const PoolLive = Layer.scoped(
        Pool,
        Effect.acquireRelease(
          Effect.sync(() => {
            events.push("pool opened")
            return { id: ++opened }
          }),
          () => Effect.sync(() => events.push("pool closed"))
        )
      )
      const use = Tool.make("use", {
        description: "Use the pool",
        parameters: Schema.Struct({}),
        handler: () => Effect.map(Pool, (pool) => events.push(`pool ${pool.id} used`))
      })
      const agent = Agent.make({ name: "db", instructions: "", tools: [use] })
      const conversations = Effect.forEach(["first", "second"], (prompt) => Agent.run(agent, prompt), { concurrency: 2 })
      yield* LeakCheck.check(conversations).pipe(
        Effect.provide(PoolLive),
        Effect.provide(ScriptedModel.layer(ScriptedModel.byPrompt({
          first: [ScriptedModel.callTools([{ name: "use" }]), ScriptedModel.text("ok")],
          second: [ScriptedModel.callTools([{ name: "use" }]), ScriptedModel.text("ok")]
        })))
      )
      assert.deepStrictEqual(events, ["pool opened", "pool 1 used", "pool 1 used", "pool closed"])
    }))

  it.effect("Tool.fromPromise aborts the handler's AbortSignal when its call is interrupted", () =>
    Effect.gen(function*() {
      const aborted: Array<string> = []
      const fetchPage = Tool.fromPromise("fetch_page", {
        description: "Fetch a page",
        parameters: Schema.Struct({ url: Schema.String }),
        handler: ({ url }, signal) =>
          new Promise<string>((_, reject) => {
            signal.addEventListener("abort", () => {
              aborted.push(url)
              reject(new Error("aborted"))
            })
          })
      })
      const agent = Agent.make({ name: "web", instructions: "", tools: [fetchPage], policy: { runTimeout: "2 seconds" } })
      const events: Array<AgentEvent.AgentEvent> = []
      const fiber = yield* Effect.fork(
        LeakCheck.check(Stream.runForEach(Agent.stream(agent, "go"), (e) => Effect.sync(() => events.push(e))))
      )
      yield* TestClock.adjust(2000)
      yield* Fiber.await(fiber)
      assert.deepStrictEqual(aborted.sort(), ["https://a.example", "https://b.example"])
      assert.deepStrictEqual(ofTag(events, "ToolCallInterrupted").map((e) => [e.reason, e.timestamp]), [
        ["run-interrupted", 2000],
        ["run-interrupted", 2000]
      ])
    }).pipe(Effect.provide(ScriptedModel.layer([
      ScriptedModel.callTools([
        { name: "fetch_page", args: { url: "https://a.example" } },
        { name: "fetch_page", args: { url: "https://b.example" } }
      ])
    ]))))

  it.effect("a Tool.fromSync handler that throws becomes a ToolException the model can read", () =>
    Effect.gen(function*() {
      const divide = Tool.fromSync("divide", {
        description: "Divide",
        parameters: Schema.Struct({ a: Schema.Number, b: Schema.Number }),
        handler: ({ a, b }) => {
          if (b === 0) throw new Error("division by zero")
          return a / b
        }
      })
      const agent = Agent.make({ name: "math", instructions: "", tools: [divide], policy: { toolFailure: "report" } })
      yield* runFor(agent, "go", 0)
      assert.deepStrictEqual(yield* lastResponses, [{
        _tag: "FunctionResponse",
        id: "call_1_0",
        name: "divide",
        output: "Tool \"divide\" threw: division by zero",
        isError: true
      }])
    }).pipe(Effect.provide(ScriptedModel.layer([
      ScriptedModel.callTools([{ name: "divide", args: { a: 1, b: 0 } }]),
      ScriptedModel.text("cannot")
    ]))))

  it.effect("a handler needing a Scope without `scoped: true` does not compile; forced through, its call crashes saying how to fix it", () =>
    Effect.gen(function*() {
      // @ts-expect-error the compiler asks for `scoped: true`
      const open = Tool.make("open", {
        description: "Opens a file",
        parameters: Schema.Struct({}),
        handler: () => Effect.as(Effect.addFinalizer(() => Effect.void), "opened")
      })
      const agent = Agent.make({ name: "files", instructions: "", tools: [open], policy: { toolFailure: "report" } })
      const result = yield* runFor(agent, "go", 0)
      const [failed] = ofTag(result.events, "ToolCallFailed")
      assert.strictEqual(failed.kind, "defect")
      assert.match(failed.error, /^Tool "open" crashed: its handler acquires scoped resources but the tool has no scope; make it with `scoped: true` \(.*Service not found: effect\/Scope/)
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.callTools([{ name: "open" }]), ScriptedModel.text("hm")]))))

  it.effect("each call of a scoped tool has its own scope, closed when that call ends", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const hold = Tool.make("hold", {
        description: "Holds a resource for a while",
        scoped: true,
        parameters: Schema.Struct({ millis: Schema.Number }),
        handler: ({ millis }) =>
          Effect.acquireRelease(
            Effect.sync(() => log.push(`open ${millis}`)),
            () => Effect.flatMap(Clock.currentTimeMillis, (t) => Effect.sync(() => log.push(`close ${millis}@${t}`)))
          ).pipe(Effect.zipRight(Effect.sleep(millis)))
      })
      const agent = Agent.make({ name: "files", instructions: "", tools: [hold] })
      yield* runFor(agent, "go", 300)
      assert.deepStrictEqual(log, ["open 100", "open 300", "close 100@100", "close 300@300"])
    }).pipe(Effect.provide(ScriptedModel.layer([
      ScriptedModel.callTools([{ name: "hold", args: { millis: 100 } }, { name: "hold", args: { millis: 300 } }]),
      ScriptedModel.text("ok")
    ]))))

  it.effect("a scoped resource whose release dies turns its call into a defect, reported after the release ran", () =>
    Effect.gen(function*() {
      const released: Array<string> = []
      const leaky = Tool.make("leaky", {
        description: "Holds a resource whose release crashes",
        scoped: true,
        parameters: Schema.Struct({}),
        handler: () =>
          Effect.as(
            Effect.acquireRelease(Effect.void, () =>
              Effect.zipRight(Effect.sync(() => released.push("released")), Effect.die(new Error("release crashed")))),
            "ok"
          )
      })
      const agent = Agent.make({ name: "files", instructions: "", tools: [leaky], policy: { toolFailure: "report" } })
      const result = yield* runFor(agent, "go", 0)
      assert.deepStrictEqual(released, ["released"])
      assert.deepStrictEqual(ofTag(result.events, "ToolCallFailed").map((e) => [e.kind, e.error]), [
        ["defect", "Tool \"leaky\" crashed: release crashed"]
      ])
      assert.deepStrictEqual(ofTag(result.events, "ToolCallSucceeded"), [])
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.callTools([{ name: "leaky" }]), ScriptedModel.text("hm")]))))

  it.effect("a handler defect is reported as kind defect with the crash message", () =>
    Effect.gen(function*() {
      const crash = Tool.make("crash", {
        description: "Crashes",
        parameters: Schema.Struct({}),
        handler: () => Effect.die(new Error("kaboom"))
      })
      const agent = Agent.make({ name: "math", instructions: "", tools: [crash], policy: { toolFailure: "report" } })
      const result = yield* runFor(agent, "go", 0)
      assert.deepStrictEqual(ofTag(result.events, "ToolCallFailed").map((e) => [e.kind, e.error]), [
        ["defect", "Tool \"crash\" crashed: kaboom"]
      ])
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.callTools([{ name: "crash" }]), ScriptedModel.text("hm")]))))
})
