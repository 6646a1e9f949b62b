/**
 * GenAI traces of a run on the Gemini layer (against `GeminiEmulator` over loopback), exported
 * through `@effect/opentelemetry` to the OpenTelemetry SDK's in-memory exporter: the span tree of
 * a run that hands off to an agent whose parallel tool group fails, the OpenTelemetry GenAI
 * attributes, the interrupted sibling, message contents only when opted in, and the API key in
 * no attribute or event. The run itself is `fixture/otel-spans.ts`, in a child process (see there
 * why); it prints the finished spans as JSON.
 */
import { assert, describe, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const apiKey = "AIza-secret-test-key-0123456789"

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, "..", "..")

/** A finished span as the fixture prints it (an OpenTelemetry `ReadableSpan`, flattened). */
interface ReadableSpan {
  readonly name: string
  readonly kind: number
  readonly spanId: string
  readonly parentId?: string
  readonly start: number
  readonly attributes: Record<string, unknown>
  readonly events: ReadonlyArray<{ readonly name: string; readonly attributes?: Record<string, unknown> }>
  readonly status: { readonly code: number; readonly message?: string }
  readonly resource: Record<string, unknown>
}

const runs = new Map<string, Promise<{ readonly failed: boolean; readonly spans: ReadonlyArray<ReadableSpan> }>>()

/** The scenario's spans, contents recorded or not (each run once, in a child process). */
const traced = (contents: boolean) => {
  const key = String(contents)
  let run = runs.get(key)
  if (run === undefined) {
    run = new Promise((resolve, reject) =>
      execFile(
        join(root, "node_modules", ".bin", "tsx"),
        [join(here, "fixture", "otel-spans.ts"), ...(contents ? ["--contents"] : [])],
        { cwd: root, encoding: "utf8", timeout: 90_000, maxBuffer: 16 * 1024 * 1024 },
        (error, stdout, stderr) => error === null ? resolve(JSON.parse(stdout)) : reject(new Error(`${error.message}\n${stderr}`))
      )
    )
    runs.set(key, run)
  }
  return run
}

/** The run's own spans: the `gen_ai` ones (the emulator's server spans and the Gemini client's are left out). */
const genAI = (spans: ReadonlyArray<ReadableSpan>) => spans.filter((span) => "gen_ai.operation.name" in span.attributes)

/** The spans as a tree of names: children by start time, then name. */
const tree = (spans: ReadonlyArray<ReadableSpan>): Array<unknown> => {
  const children = (parent: string | undefined): Array<unknown> =>
    spans
      .filter((span) => span.parentId === parent)
      .sort((a, b) => (a.start - b.start) || a.name.localeCompare(b.name))
      .map((span) => {
        const below = children(span.spanId)
        return below.length === 0 ? span.name : { [span.name]: below }
      })
  return children(undefined)
}

const one = (spans: ReadonlyArray<ReadableSpan>, name: string): ReadableSpan => {
  const found = spans.filter((span) => span.name === name)
  assert.strictEqual(found.length, 1, `one span named ${name}`)
  return found[0]!
}

const model = "generate_content gemini-2.5-flash"

/** `SpanStatusCode` and `SpanKind` of `@opentelemetry/api`. */
const SpanStatusCode = { OK: 1, ERROR: 2 } as const
const SpanKind = { INTERNAL: 0, CLIENT: 2 } as const

const contentKeys = [
  "gen_ai.input.messages",
  "gen_ai.output.messages",
  "gen_ai.system_instructions",
  "gen_ai.tool.call.arguments",
  "gen_ai.tool.call.result"
]

describe("GenAI traces through @effect/opentelemetry", () => {
  it("a handoff gets its own invoke_agent span inside the caller's; model and tool calls sit under the agent that made them", async () => {
    const { failed, spans: all } = await traced(false)
    assert.isTrue(failed)
    const spans = genAI(all)
    assert.deepStrictEqual(tree(spans), [{
      "invoke_agent triage": [
        model,
        "execute_tool lookup",
        model,
        { "invoke_agent triage/ops": [model, "execute_tool fail", "execute_tool slow"] }
      ]
    }])
    const root = one(spans, "invoke_agent triage")
    const runId = root.attributes["gen_ai.conversation.id"]
    assert.match(String(runId), /^[0-9a-f]{8}$/)
    assert.deepStrictEqual(one(spans, "invoke_agent triage/ops").attributes, {
      "gen_ai.operation.name": "invoke_agent",
      "gen_ai.agent.name": "triage/ops",
      "gen_ai.conversation.id": runId,
      agent: "triage/ops",
      runId
    })
    const models = spans.filter((span) => span.name === model)
    // @effect/opentelemetry 0.64 sets an array attribute as its JSON text
    assert.deepStrictEqual(
      models.map((span) => [span.attributes["gen_ai.agent.name"], JSON.parse(String(span.attributes["gen_ai.response.finish_reasons"]))]),
      [["triage", ["tool-calls"]], ["triage", ["tool-calls"]], ["triage/ops", ["tool-calls"]]]
    )
    for (const span of models) {
      assert.strictEqual(span.kind, SpanKind.CLIENT)
      assert.strictEqual(span.attributes["gen_ai.operation.name"], "generate_content")
      assert.strictEqual(span.attributes["gen_ai.provider.name"], "gcp.gemini")
      assert.strictEqual(span.attributes["gen_ai.request.model"], "gemini-2.5-flash")
      assert.strictEqual(span.attributes["gen_ai.conversation.id"], runId)
      assert.isAbove(span.attributes["gen_ai.usage.input_tokens"] as number, 0)
      assert.isAbove(span.attributes["gen_ai.usage.output_tokens"] as number, 0)
    }
    const call = one(spans, "execute_tool lookup")
    assert.deepStrictEqual(call.attributes, {
      "gen_ai.operation.name": "execute_tool",
      "gen_ai.tool.name": "lookup",
      "gen_ai.tool.call.id": call.attributes["gen_ai.tool.call.id"],
      "gen_ai.conversation.id": runId,
      "gen_ai.agent.name": "triage"
    })
    assert.strictEqual(call.status.code, SpanStatusCode.OK)
  })

  it("the failing call's span ends in error with error.type; its interrupted sibling's span says so, with the reason", async () => {
    const spans = genAI((await traced(false)).spans)
    const fail = one(spans, "execute_tool fail")
    assert.strictEqual(fail.status.code, SpanStatusCode.ERROR)
    assert.include(fail.status.message, `Tool "fail"`)
    assert.include(fail.status.message, "the service is down")
    assert.strictEqual(fail.attributes["error.type"], "failure")
    assert.strictEqual(fail.attributes["gen_ai.agent.name"], "triage/ops")
    const sibling = one(spans, "execute_tool slow")
    assert.strictEqual(sibling.attributes["status.interrupted"], true)
    assert.isUndefined(sibling.attributes["error.type"])
    assert.deepStrictEqual(sibling.events.map((event) => [event.name, event.attributes]), [
      ["ToolCallInterrupted", { reason: "sibling-failed" }]
    ])
    // the group's failure goes up through both agents' spans
    for (const name of ["invoke_agent triage/ops", "invoke_agent triage"]) {
      const span = one(spans, name)
      assert.strictEqual(span.status.code, SpanStatusCode.ERROR)
      assert.strictEqual(span.status.message, "Tool call failed: fail (gemini-call-3): the service is down")
    }
  })

  it("without the opt-in no span carries message contents", async () => {
    const { spans } = await traced(false)
    const keys = new Set(spans.flatMap((span) => Object.keys(span.attributes)))
    for (const key of contentKeys) assert.isFalse(keys.has(key), key)
    assert.notInclude(JSON.stringify(spans.map((span) => span.attributes)), "Fix it")
  })

  it("with Tracing.withContents, model spans record the messages and the answer, tool spans the arguments and the result (GenAI format)", async () => {
    const spans = genAI((await traced(true)).spans)
    const [first, second] = spans.filter((span) => span.name === model)
    assert.deepStrictEqual(JSON.parse(first!.attributes["gen_ai.input.messages"] as string), [
      { role: "user", parts: [{ type: "text", content: "Fix it" }] }
    ])
    assert.deepStrictEqual(JSON.parse(first!.attributes["gen_ai.system_instructions"] as string), [{ type: "text", content: "Route." }])
    const output = JSON.parse(first!.attributes["gen_ai.output.messages"] as string)
    const callId = one(spans, "execute_tool lookup").attributes["gen_ai.tool.call.id"]
    assert.deepStrictEqual(output, [{
      role: "assistant",
      parts: [{ type: "tool_call", id: callId, name: "lookup", arguments: { service: "db" } }],
      finish_reason: "tool_call"
    }])
    // the next call sends the tool's answer back in the `tool` role
    const input = JSON.parse(second!.attributes["gen_ai.input.messages"] as string)
    assert.deepStrictEqual(input.map((message: { role: string }) => message.role), ["user", "assistant", "tool"])
    assert.deepStrictEqual(input[2].parts, [{ type: "tool_call_response", id: callId, response: "db is down" }])
    const call = one(spans, "execute_tool lookup")
    assert.deepStrictEqual(JSON.parse(call.attributes["gen_ai.tool.call.arguments"] as string), { service: "db" })
    assert.deepStrictEqual(JSON.parse(call.attributes["gen_ai.tool.call.result"] as string), "db is down")
    // a call that never finished has arguments and no result
    const sibling = one(spans, "execute_tool slow")
    assert.strictEqual(sibling.attributes["gen_ai.tool.call.arguments"], "{}")
    assert.isUndefined(sibling.attributes["gen_ai.tool.call.result"])
  })

  it("the API key is in no attribute, event or status of any span (the emulator's server spans included), contents recorded or not", async () => {
    for (const contents of [false, true]) {
      const { spans } = await traced(contents)
      assert.isAbove(spans.length, 9)
      const keys = new Set(spans.flatMap((span) => Object.keys(span.attributes)))
      assert.strictEqual(contentKeys.every((key) => keys.has(key)), contents)
      const everything = JSON.stringify(spans)
      assert.notInclude(everything, apiKey)
      assert.notInclude(everything, "secret-test-key")
    }
  })
})
