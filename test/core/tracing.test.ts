/**
 * Tracing: with a tracer that exports spans (OpenTelemetry, or the recording tracer here), a run
 * is one `Agent.run` span; Effect's built-in tracer exports nothing, so a run makes no span then.
 */
import { Agent, Tool } from "@effect-agents/core"
import { LeakCheck, ScriptedModel } from "@effect-agents/testing"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Schema } from "effect"
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
  it.effect("with an exporting tracer, a run is an Agent.run span under the caller's span, with its agent and run id", () =>
    Effect.gen(function*() {
      const spans: Array<RecordedSpan> = []
      const result = yield* LeakCheck.check(Agent.run(agent, "go")).pipe(
        Effect.withSpan("request"),
        Effect.withTracer(recordingTracer(spans))
      )
      assert.deepStrictEqual(spans.map((span) => span.name), ["request", "Agent.run"])
      const run = spans[1]
      assert.deepStrictEqual(Object.fromEntries(run.attributes), { agent: "math", runId: result.runId })
      assert.strictEqual(Option.getOrThrow(run.parent).spanId, (spans[0] as unknown as { spanId: string }).spanId)
      const [, succeeded] = result.events.filter((e) => e._tag === "ToolCallStarted" || e._tag === "ToolCallSucceeded")
      assert.strictEqual(succeeded._tag === "ToolCallSucceeded" && succeeded.output, "Agent.run")
    }).pipe(Effect.provide(ScriptedModel.layer(script))))

  it.effect("with Effect's built-in tracer, which exports nothing, a run makes no span: its tools see the caller's span", () =>
    Effect.gen(function*() {
      const result = yield* LeakCheck.check(Agent.run(agent, "go")).pipe(Effect.withSpan("request"))
      const succeeded = result.events.find((e) => e._tag === "ToolCallSucceeded")
      assert.strictEqual(succeeded?._tag === "ToolCallSucceeded" && succeeded.output, "request")
    }).pipe(Effect.provide(ScriptedModel.layer(script))))
})
