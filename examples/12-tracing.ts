/**
 * 12 — Tracing: a run's spans through `@effect/opentelemetry`, by the OpenTelemetry GenAI conventions.
 *
 * Scenario: `triage` looks up a service, then hands off to `ops`, whose two parallel tool calls
 * fail: `fail` fails after 20 ms, which interrupts `slow`. The model is Gemini served by
 * `GeminiEmulator` (the real `@google/genai` SDK over loopback); the tracer is the OpenTelemetry
 * Node SDK (`NodeSdk.layer` of `@effect/opentelemetry`) exporting to memory with an
 * `InMemorySpanExporter` (swap in a `ConsoleSpanExporter`, or an OTLP exporter, for a real backend).
 * Nothing else is wired: the run opens its spans by construction.
 *
 * The output is the run's span tree: an `invoke_agent` span for `triage` and one for the handoff
 * to `triage/ops` inside it; a `generate_content` span per model call (with the Gemini client's
 * own `Gemini.generate` span inside) and an `execute_tool` span per tool call, under the agent
 * that made them, each with its `gen_ai.*` attributes; the failing call in error with
 * `error.type`, its sibling interrupted with a `ToolCallInterrupted{reason: sibling-failed}`
 * event. Then the same run with `Tracing.withContents`: only then do spans carry the messages
 * (`gen_ai.input.messages`, `gen_ai.output.messages`, `gen_ai.tool.call.arguments`/`result`).
 * The API key is in no span. Clock: real (milliseconds since the run's span started). Offline.
 * Exits 1 if a claim fails.
 */
import { Agent, Tracing } from "@effect-agents/core"
import { GeminiEmulator } from "@effect-agents/gemini"
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import { NodeRuntime } from "@effect/platform-node"
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Console, Effect, Exit } from "effect"
import { prompt, script, triage } from "./fixtures/incident.js"
import * as Timeline from "./timeline.js"

const apiKey = "AIza-example-key-not-a-real-one"

const exporter = new InMemorySpanExporter()

/** The OpenTelemetry SDK as a layer: every span Effect opens goes to `exporter`. */
const TracingLive = NodeSdk.layer(() => ({
  resource: { serviceName: "agents-example" },
  spanProcessor: new SimpleSpanProcessor(exporter)
}))

const millis = (time: readonly [number, number]) => time[0] * 1000 + time[1] / 1e6

/** The attributes worth a glance, per kind of span. */
const shown = [
  "gen_ai.agent.name",
  "gen_ai.provider.name",
  "gen_ai.tool.call.id",
  "gen_ai.usage.input_tokens",
  "gen_ai.usage.output_tokens",
  "error.type",
  "status.interrupted"
]

/** Print the trace under `root`, children by start time: start, duration, name, attributes, status and events. */
const printTree = (spans: ReadonlyArray<ReadableSpan>, root: ReadableSpan): Effect.Effect<void> => {
  const start = millis(root.startTime)
  const lines: Array<string> = []
  const walk = (span: ReadableSpan, depth: number) => {
    const attributes = shown
      .filter((key) => span.attributes[key] !== undefined)
      .map((key) => `${key.replace("gen_ai.", "")}=${span.attributes[key]}`)
    const status = span.status.code === 2 ? "  ERROR" : ""
    const at = `${(millis(span.startTime) - start).toFixed(0).padStart(4)} ms +${millis(span.duration).toFixed(0).padStart(4)} ms`
    lines.push(`${at}  ${"  ".repeat(depth)}${span.name}${status}  ${attributes.join(" ")}`.trimEnd())
    for (const event of span.events) {
      if (event.name !== "exception") {
        lines.push(`${" ".repeat(17)}${"  ".repeat(depth + 1)}event ${event.name} ${Timeline.show(event.attributes)}`)
      }
    }
    spans
      .filter((child) => child.parentSpanContext?.spanId === span.spanContext().spanId)
      .sort((a, b) => millis(a.startTime) - millis(b.startTime) || a.name.localeCompare(b.name))
      .forEach((child) => walk(child, depth + 1))
  }
  walk(root, 0)
  return Console.log(lines.join("\n"))
}

/** Run the incident once, traced; its spans (the emulator's own server spans left out: they are other traces). */
const traced = <R>(run: Effect.Effect<unknown, unknown, R>) =>
  Effect.gen(function*() {
    exporter.reset()
    const exit = yield* Effect.exit(run)
    const spans = exporter.getFinishedSpans()
    const root = spans.find((span) => span.name === "invoke_agent triage")!
    return { exit, root, spans: spans.filter((span) => span.spanContext().traceId === root.spanContext().traceId) }
  })

const program = Effect.gen(function*() {
  const run = Agent.run(triage, prompt)

  yield* Console.log("The run's trace (no contents: the default):\n")
  const plain = yield* traced(run)
  yield* printTree(plain.spans, plain.root)

  yield* Console.log("\nThe same run with Tracing.withContents, the first model call and the lookup:\n")
  const withContents = yield* traced(Tracing.withContents(run))
  const firstCall = withContents.spans.find((span) => span.name.startsWith("generate_content"))!
  const lookup = withContents.spans.find((span) => span.name === "execute_tool lookup")!
  for (const [span, key] of [[firstCall, "gen_ai.input.messages"], [firstCall, "gen_ai.output.messages"], [lookup, "gen_ai.tool.call.arguments"], [lookup, "gen_ai.tool.call.result"]] as const) {
    yield* Console.log(`  ${span.name.padEnd(34)} ${key.padEnd(27)} ${span.attributes[key]}`)
  }
  yield* Console.log("")

  const named = (name: string) => plain.spans.filter((span) => span.name === name)
  const parentName = (span: ReadableSpan | undefined) =>
    plain.spans.find((other) => other.spanContext().spanId === span?.parentSpanContext?.spanId)?.name
  const sibling = named("execute_tool slow")[0]
  const contentKeys = ["gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.tool.call.arguments", "gen_ai.tool.call.result"]
  const everything = JSON.stringify([...plain.spans, ...withContents.spans].map((span) => [span.attributes, span.events, span.status]))
  const held = yield* Timeline.printClaims([
    ["the run failed (the group's failure is the run's)", Exit.isFailure(plain.exit)],
    ["the handoff is its own invoke_agent span, inside triage's", parentName(named("invoke_agent triage/ops")[0]) === "invoke_agent triage"],
    ["ops's model call and both tool calls sit under the handoff's span", named("execute_tool fail").concat(named("execute_tool slow")).every((span) => parentName(span) === "invoke_agent triage/ops")],
    ["the failing call's span is in error with error.type", named("execute_tool fail")[0]?.status.code === 2 && named("execute_tool fail")[0]?.attributes["error.type"] === "failure"],
    ["its sibling's span is interrupted, with the reason as an event", sibling?.attributes["status.interrupted"] === true && sibling.events.some((event) => event.name === "ToolCallInterrupted" && event.attributes?.["reason"] === "sibling-failed")],
    ["no contents in the spans by default", plain.spans.every((span) => contentKeys.every((key) => span.attributes[key] === undefined))],
    ["with Tracing.withContents, the model and tool spans carry them", contentKeys.every((key) => withContents.spans.some((span) => span.attributes[key] !== undefined))],
    ["the API key is in no span", !everything.includes(apiKey)]
  ])
  if (!held) return yield* Effect.die("a claim of this example does not hold")
})

program.pipe(
  // the scripted answers once per run
  Effect.provide(GeminiEmulator.layerModel({ script: [...script, ...script], apiKey })),
  Effect.provide(TracingLive),
  NodeRuntime.runMain
)
