/**
 * Tracing: with a tracer that exports spans (OpenTelemetry, or the recording tracer here), a run
 * and each handoff segment is an `invoke_agent {agent}` span and each tool call an `execute_tool {tool}` span
 * under it (OpenTelemetry GenAI attributes), message contents only by opt-in (`Tracing`); Effect's built-in
 * tracer exports nothing, so a run makes no span then.
 */
import { Agent, Content, Handoff, Tool, Tracing } from "@effect-agents/core"
import { LeakCheck, ScriptedModel } from "@effect-agents/testing"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Layer, Option, Schema, TestClock, type Tracer } from "effect"
import { type RecordedSpan, recordingTracer } from "../support/tracing.js"

/** A tool answering the name of the span it runs in. */
const whereAmI = Tool.make("where", {
  description: "The current span",
  parameters: Schema.Struct({}),
  success: Schema.String,
  handler: () => Effect.map(Effect.option(Effect.currentSpan), (span) => Option.match(span, { onNone: () => "none", onSome: (s) => s.name }))
})

const agent = Agent.make({ name: "math", instructions: "", tools: [whereAmI] })

const script = [ScriptedModel.callTools([{ name: "where" }]), ScriptedModel.text("ok")]

describe("tracing", () => {
  it.effect("with an exporting tracer, a run is an invoke_agent {agent} span under the caller's span, with its agent and run id; its tools run in execute_tool spans", () =>
    Effect.gen(function*() {
      const spans: Array<RecordedSpan> = []
      const result = yield* LeakCheck.check(Agent.run(agent, "go")).pipe(
        Effect.withSpan("request"),
        Effect.withTracer(recordingTracer(spans))
      )
      assert.deepStrictEqual(spans.map((span) => span.name), ["request", "invoke_agent math", "chat", "execute_tool where", "chat"])
      const run = spans[1]
      assert.deepStrictEqual(Object.fromEntries(run.attributes), {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "math",
        "gen_ai.conversation.id": result.runId,
        agent: "math",
        runId: result.runId
      })
      assert.strictEqual(Option.getOrThrow(run.parent).spanId, (spans[0] as unknown as { spanId: string }).spanId)
      const [, succeeded] = result.events.filter((e) => e._tag === "ToolCallStarted" || e._tag === "ToolCallSucceeded")
      assert.strictEqual(succeeded._tag === "ToolCallSucceeded" && succeeded.output, "execute_tool where")
    }).pipe(Effect.provide(ScriptedModel.layer(script))))

  it.effect("with Effect's built-in tracer, which exports nothing, a run makes no span (nor its tool calls): its tools see the caller's span", () =>
    Effect.gen(function*() {
      const result = yield* LeakCheck.check(Agent.run(agent, "go")).pipe(Effect.withSpan("request"))
      const succeeded = result.events.find((e) => e._tag === "ToolCallSucceeded")
      assert.strictEqual(succeeded?._tag === "ToolCallSucceeded" && succeeded.output, "request")
    }).pipe(Effect.provide(ScriptedModel.layer(script))))
})

class Boom extends Schema.TaggedError<Boom>()("Boom", { message: Schema.String }) {}

const failing = Tool.make("fail", {
  description: "Fails after 100 ms",
  parameters: Schema.Struct({}),
  handler: () => Effect.zipRight(Effect.sleep(100), Effect.fail(new Boom({ message: "broke" })))
})

const slow = Tool.make("slow", {
  description: "Answers after 1 s",
  parameters: Schema.Struct({}),
  handler: () => Effect.as(Effect.sleep(1000), "late")
})

const exitOf = (span: RecordedSpan) => (span as unknown as { status: Tracer.SpanStatus }).status

describe("tracing: execute_tool spans (OpenTelemetry GenAI conventions)", () => {
  it.effect("each tool call is an execute_tool span under the run's span; a failing call sets error.type, its interrupted sibling ends interrupted", () =>
    Effect.gen(function*() {
      const spans: Array<RecordedSpan> = []
      const group = Agent.make({ name: "ops", instructions: "", tools: [failing, slow] })
      const fiber = yield* Effect.fork(
        LeakCheck.check(Agent.run(group, "go")).pipe(Effect.withTracer(recordingTracer(spans)), Effect.exit)
      )
      yield* TestClock.adjust(100)
      const exit = yield* Fiber.join(fiber)
      assert.isTrue(Exit.isFailure(exit))
      assert.deepStrictEqual(spans.map((span) => span.name), ["invoke_agent ops", "chat", "execute_tool fail", "execute_tool slow"])
      const [run, model, fail, sleep] = spans as [RecordedSpan, RecordedSpan, RecordedSpan, RecordedSpan]
      // a Model that does not say who serves it (ScriptedModel) is traced as `chat`
      assert.deepStrictEqual(Object.fromEntries(model.attributes), {
        "gen_ai.operation.name": "chat",
        "gen_ai.agent.name": "ops",
        "gen_ai.conversation.id": run.attributes.get("runId"),
        "gen_ai.usage.input_tokens": 0,
        "gen_ai.usage.output_tokens": 0,
        "gen_ai.response.finish_reasons": ["tool-calls"]
      })
      const runId = run.attributes.get("runId")
      for (const span of [fail, sleep]) {
        assert.strictEqual(Option.getOrThrow(span.parent).spanId, (run as unknown as { spanId: string }).spanId)
      }
      assert.deepStrictEqual(Object.fromEntries(fail.attributes), {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "fail",
        "gen_ai.tool.call.id": "call_1_0",
        "gen_ai.conversation.id": runId,
        "gen_ai.agent.name": "ops",
        "error.type": "Boom"
      })
      assert.deepStrictEqual(sleep.attributes.get("gen_ai.tool.call.id"), "call_1_1")
      assert.isFalse(sleep.attributes.has("error.type"))
      const failEnd = exitOf(fail)
      const sleepEnd = exitOf(sleep)
      assert.isTrue(failEnd._tag === "Ended" && Exit.isFailure(failEnd.exit) && !Cause.isInterruptedOnly(failEnd.exit.cause))
      assert.isTrue(sleepEnd._tag === "Ended" && Exit.isFailure(sleepEnd.exit) && Cause.isInterruptedOnly(sleepEnd.exit.cause))
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.callTools([{ name: "fail" }, { name: "slow" }])]))))

  it.effect("a call answered with an error the model reads sets error.type on a span that ends successfully", () =>
    Effect.gen(function*() {
      const spans: Array<RecordedSpan> = []
      const reporting = Agent.make({ name: "ops", instructions: "", tools: [failing], policy: { toolFailure: "report" } })
      const fiber = yield* Effect.fork(LeakCheck.check(Agent.run(reporting, "go")).pipe(Effect.withTracer(recordingTracer(spans))))
      yield* TestClock.adjust(100)
      yield* Fiber.join(fiber)
      const call = spans.find((span) => span.name === "execute_tool fail")!
      assert.strictEqual(call.attributes.get("error.type"), "tool_error")
      const end = exitOf(call)
      assert.isTrue(end._tag === "Ended" && Exit.isSuccess(end.exit))
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.callTools([{ name: "fail" }]), ScriptedModel.text("ok")]))))
})

const parentOf = (span: RecordedSpan) => Option.getOrUndefined(Option.map(span.parent, (parent) => parent.spanId))
const idOf = (span: RecordedSpan) => (span as unknown as { spanId: string }).spanId

describe("tracing: handoff segments, early ends and contents", () => {
  it.effect("a handoff's target runs in its own invoke_agent span, a child of the caller's, named by its path", () =>
    Effect.gen(function*() {
      const spans: Array<RecordedSpan> = []
      const ops = Agent.make({ name: "ops", instructions: "", tools: [whereAmI] })
      const triage = Agent.make({ name: "triage", instructions: "", handoffs: [Handoff.to(ops)] })
      const result = yield* LeakCheck.check(Agent.run(triage, "go")).pipe(
        Effect.withTracer(recordingTracer(spans)),
        Effect.provide(ScriptedModel.layer([
          ScriptedModel.callTools([{ name: "transfer_to_ops" }]),
          ScriptedModel.callTools([{ name: "where" }]),
          ScriptedModel.text("done")
        ]))
      )
      const names = spans.map((span) => span.name)
      assert.deepStrictEqual(names, ["invoke_agent triage", "chat", "invoke_agent triage/ops", "chat", "execute_tool where", "chat"])
      const [root, first, segment, ...inside] = spans as [RecordedSpan, RecordedSpan, RecordedSpan, ...Array<RecordedSpan>]
      assert.isUndefined(parentOf(root))
      assert.strictEqual(parentOf(first), idOf(root))
      assert.strictEqual(parentOf(segment), idOf(root))
      for (const span of inside) assert.strictEqual(parentOf(span), idOf(segment))
      assert.deepStrictEqual(Object.fromEntries(segment.attributes), {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "triage/ops",
        "gen_ai.conversation.id": result.runId,
        agent: "triage/ops",
        runId: result.runId
      })
      const succeeded = result.events.find((e) => e._tag === "ToolCallSucceeded")
      assert.strictEqual(succeeded?._tag === "ToolCallSucceeded" && succeeded.output, "execute_tool where")
    }))

  it.effect("a call that times out gets a ToolCallInterrupted{timeout} event on its span, at its deadline", () =>
    Effect.gen(function*() {
      const spans: Array<RecordedSpan> = []
      const bounded = Tool.make("bounded", {
        description: "Times out after 50 ms",
        parameters: Schema.Struct({}),
        timeout: "50 millis",
        handler: () => Effect.as(Effect.sleep(1000), "late")
      })
      const agent = Agent.make({ name: "ops", instructions: "", tools: [bounded], policy: { toolFailure: "report" } })
      const fiber = yield* Effect.fork(LeakCheck.check(Agent.run(agent, "go")).pipe(
        Effect.withTracer(recordingTracer(spans)),
        Effect.provide(ScriptedModel.layer([ScriptedModel.callTools([{ name: "bounded" }]), ScriptedModel.text("ok")]))
      ))
      yield* TestClock.adjust(50)
      yield* Fiber.join(fiber)
      const call = spans.find((span) => span.name === "execute_tool bounded")!
      assert.deepStrictEqual(call.events, [`ToolCallInterrupted {"reason":"timeout"}`])
      assert.strictEqual(call.attributes.get("error.type"), "tool_error")
      const end = exitOf(call)
      assert.isTrue(end._tag === "Ended" && Exit.isSuccess(end.exit) && end.endTime === 50_000_000n)
    }))

  it.effect("interrupting the run gives each running call's span a ToolCallInterrupted{run-interrupted} event", () =>
    Effect.gen(function*() {
      const spans: Array<RecordedSpan> = []
      const agent = Agent.make({ name: "ops", instructions: "", tools: [slow] })
      const fiber = yield* Effect.fork(LeakCheck.check(Agent.run(agent, "go")).pipe(
        Effect.withTracer(recordingTracer(spans)),
        Effect.provide(ScriptedModel.layer([ScriptedModel.callTools([{ name: "slow" }, { name: "slow" }])]))
      ))
      yield* TestClock.adjust(10)
      yield* Fiber.interrupt(fiber)
      const calls = spans.filter((span) => span.name === "execute_tool slow")
      assert.strictEqual(calls.length, 2)
      for (const call of calls) {
        assert.strictEqual(call.events[0], `ToolCallInterrupted {"reason":"run-interrupted"}`)
        const end = exitOf(call)
        assert.isTrue(end._tag === "Ended" && Exit.isInterrupted(end.exit))
      }
    }))

  it.effect("with Tracing.layerContents, spans record the messages, the answer, and the tool's arguments and result", () =>
    Effect.gen(function*() {
      const spans: Array<RecordedSpan> = []
      const math = Agent.make({ name: "math", instructions: "Be exact.", tools: [whereAmI] })
      yield* LeakCheck.check(Agent.run(math, "go")).pipe(
        Effect.withTracer(recordingTracer(spans)),
        Effect.provide(Layer.merge(ScriptedModel.layer(script), Tracing.layerContents))
      )
      const [first, second] = spans.filter((span) => span.name === "chat")
      assert.deepStrictEqual(JSON.parse(first!.attributes.get("gen_ai.input.messages") as string), [
        { role: "user", parts: [{ type: "text", content: "go" }] }
      ])
      assert.deepStrictEqual(JSON.parse(first!.attributes.get("gen_ai.system_instructions") as string), [{ type: "text", content: "Be exact." }])
      assert.deepStrictEqual(JSON.parse(first!.attributes.get("gen_ai.output.messages") as string), [
        { role: "assistant", parts: [{ type: "tool_call", id: "call_1_0", name: "where", arguments: {} }], finish_reason: "tool_call" }
      ])
      assert.deepStrictEqual(JSON.parse(second!.attributes.get("gen_ai.output.messages") as string), [
        { role: "assistant", parts: [{ type: "text", content: "ok" }], finish_reason: "stop" }
      ])
      const call = spans.find((span) => span.name === "execute_tool where")!
      assert.strictEqual(call.attributes.get("gen_ai.tool.call.arguments"), "{}")
      assert.strictEqual(call.attributes.get("gen_ai.tool.call.result"), `"execute_tool where"`)
    }))

  it.effect("with contents on, media a tool returned is a blob part with its MIME type, without its bytes", () =>
    Effect.gen(function*() {
      const spans: Array<RecordedSpan> = []
      const data = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
      const chart = Tool.make("chart", {
        description: "A chart",
        parameters: Schema.Struct({}),
        success: Content.ToolOutput,
        handler: () => Effect.succeed(Content.toolOutput("a chart", [{ mimeType: "image/png", data }]))
      })
      const analyst = Agent.make({ name: "analyst", instructions: "", tools: [chart] })
      yield* LeakCheck.check(Agent.run(analyst, "go")).pipe(
        Tracing.withContents,
        Effect.withTracer(recordingTracer(spans)),
        Effect.provide(ScriptedModel.layer([ScriptedModel.callTools([{ name: "chart" }]), ScriptedModel.text("ok")]))
      )
      const second = spans.filter((span) => span.name === "chat")[1]!
      const input = JSON.parse(second.attributes.get("gen_ai.input.messages") as string)
      assert.deepStrictEqual(input[2], {
        role: "tool",
        parts: [{ type: "tool_call_response", id: "call_1_0", response: "a chart" }, { type: "blob", mime_type: "image/png" }]
      })
      assert.notInclude(JSON.stringify(spans.map((span) => [...span.attributes.values()])), data)
    }))

  it.effect("contents are off by default", () =>
    Effect.gen(function*() {
      const spans: Array<RecordedSpan> = []
      yield* LeakCheck.check(Agent.run(agent, "go")).pipe(Effect.withTracer(recordingTracer(spans)), Effect.provide(ScriptedModel.layer(script)))
      const keys = new Set(spans.flatMap((span) => [...span.attributes.keys()]))
      assert.isTrue(keys.has("gen_ai.operation.name"), "the spans were recorded")
      assert.isFalse([...keys].some((key) => key.startsWith("gen_ai.input") || key.startsWith("gen_ai.output") || key.startsWith("gen_ai.tool.call.a")))
    }))
})
