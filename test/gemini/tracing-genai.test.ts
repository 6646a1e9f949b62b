/**
 * GenAI traces of a run on the Gemini layer (against `GeminiEmulator` over loopback): the span
 * tree of a run that hands off to an agent whose parallel tool group fails, with the
 * OpenTelemetry GenAI attributes, and the API key in no attribute.
 */
import { Agent, Handoff, Tool } from "@effect-agents/core"
import { GeminiEmulator } from "@effect-agents/gemini"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Option, Schema } from "effect"
import { type RecordedSpan, recordingTracer } from "../support/tracing.js"

const apiKey = "AIza-secret-test-key-0123456789"

const failing = Tool.make("fail", {
  description: "Fails after 20 ms",
  parameters: Schema.Struct({}),
  handler: () => Effect.zipRight(Effect.sleep("20 millis"), Effect.fail("the service is down"))
})

const slow = Tool.make("slow", {
  description: "Answers after a minute",
  parameters: Schema.Struct({}),
  handler: () => Effect.as(Effect.sleep("1 minute"), "late")
})

const ops = Agent.make({ name: "ops", instructions: "Operate.", tools: [failing, slow] })
const triage = Agent.make({ name: "triage", instructions: "Route.", handoffs: [Handoff.to(ops)] })

const script: GeminiEmulator.Script = [
  GeminiEmulator.callTools([{ name: "transfer_to_ops", args: {} }]),
  GeminiEmulator.callTools([{ name: "fail", args: {} }, { name: "slow", args: {} }])
]

const idOf = (span: RecordedSpan) => (span as unknown as { spanId: string }).spanId
const parentOf = (span: RecordedSpan) => Option.match(span.parent, { onNone: () => undefined, onSome: (p) => p.spanId })

describe("GenAI traces", () => {
  it.live("a handoff and a failing parallel group give invoke_agent > generate_content / execute_tool spans with GenAI attributes, and no API key", () =>
    Effect.gen(function*() {
      const spans: Array<RecordedSpan> = []
      const exit = yield* Agent.run(triage, "Fix it").pipe(Effect.withTracer(recordingTracer(spans)), Effect.exit)
      assert.isTrue(Exit.isFailure(exit))
      const named = (name: string) => spans.filter((span) => span.name === name)
      const [run] = named("invoke_agent triage")
      assert.isDefined(run)
      const models = named("generate_content gemini-2.5-flash")
      assert.strictEqual(models.length, 2)
      const tools = spans.filter((span) => span.name.startsWith("execute_tool"))
      assert.deepStrictEqual(tools.map((span) => span.name).sort(), ["execute_tool fail", "execute_tool slow"])
      for (const span of [...models, ...tools]) assert.strictEqual(parentOf(span), idOf(run!))
      const runId = run!.attributes.get("gen_ai.conversation.id")
      assert.deepStrictEqual(
        models.map((span) => [span.attributes.get("gen_ai.agent.name"), span.attributes.get("gen_ai.response.finish_reasons")]),
        [["triage", ["tool-calls"]], ["triage/ops", ["tool-calls"]]]
      )
      for (const span of models) {
        assert.strictEqual(span.attributes.get("gen_ai.operation.name"), "generate_content")
        assert.strictEqual(span.attributes.get("gen_ai.provider.name"), "gcp.gemini")
        assert.strictEqual(span.attributes.get("gen_ai.request.model"), "gemini-2.5-flash")
        assert.strictEqual(span.attributes.get("gen_ai.conversation.id"), runId)
        assert.strictEqual(typeof span.attributes.get("gen_ai.usage.input_tokens"), "number")
        assert.strictEqual(typeof span.attributes.get("gen_ai.usage.output_tokens"), "number")
      }
      const fail = named("execute_tool fail")[0]!
      assert.strictEqual(fail.attributes.get("error.type"), "failure")
      assert.strictEqual(fail.attributes.get("gen_ai.agent.name"), "triage/ops")
      const sibling = named("execute_tool slow")[0]!
      const status = (sibling as unknown as { status: { _tag: string; exit?: Exit.Exit<unknown, unknown> } }).status
      assert.isTrue(status._tag === "Ended" && status.exit !== undefined && Exit.isInterrupted(status.exit))
      const everything = JSON.stringify(spans.map((span) => [span.name, [...span.attributes.entries()], span.events]))
      assert.notInclude(everything, apiKey)
    }).pipe(Effect.provide(GeminiEmulator.layerModel({ script, apiKey }))))
})
