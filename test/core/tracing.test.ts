/**
 * Tracing: with a tracer that exports spans (OpenTelemetry, or the recording tracer here), a run
 * is one `invoke_agent {agent}` span and each tool call an `execute_tool {tool}` span under it (OpenTelemetry
 * GenAI attributes); Effect's built-in tracer exports nothing, so a run makes no span then.
 */
import { Agent, Tool } from "@effect-agents/core"
import { LeakCheck, ScriptedModel } from "@effect-agents/testing"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Option, Schema, TestClock, type Tracer } from "effect"
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
