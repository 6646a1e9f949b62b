/**
 * Bad input gets a clear answer, never a crash: each case asserts the exact typed error of the
 * run, or the exact message the model reads on its next turn.
 */
import { assert, describe, it } from "@effect/vitest"
import { Agent, AgentError, type AgentEvent, type Content, Handoff, Model, type Policy, Tool } from "@effect-agents/core"
import { Gemini, GeminiEmulator } from "@effect-agents/gemini"
import { LeakCheck, ScriptedModel } from "@effect-agents/testing"
import { Cause, Effect, Exit, Layer, Option, Redacted, Schedule, Schema, Stream } from "effect"
import { type CutAnswer, cutServer } from "./harness.js"

const add = Tool.make("add", {
  description: "Add two numbers",
  parameters: Schema.Struct({ a: Schema.Number, b: Schema.Number }),
  success: Schema.Number,
  handler: ({ a, b }) => Effect.succeed(a + b)
})

/** A handler whose result does not match its success Schema. */
const broken = Tool.make("broken", {
  description: "Claims to return a number",
  parameters: Schema.Struct({}),
  success: Schema.Number,
  handler: () => Effect.succeed("forty-two" as unknown as number)
})

const dump = (length: number) =>
  Tool.fromSync("dump", {
    description: "Return a large document",
    parameters: Schema.Struct({}),
    handler: () => "x".repeat(length)
  })

const rows = Tool.fromSync("rows", {
  description: "Return many rows",
  parameters: Schema.Struct({}),
  handler: () => Array.from({ length: 100 }, (_, id) => ({ id }))
})

const stats = Agent.make({ name: "stats", instructions: "Answer statistics questions." })

const math = (tools: ReadonlyArray<Tool.Any>, policy?: Policy.Options) =>
  Agent.make({ name: "math", instructions: "Use the tools.", tools, handoffs: [Handoff.to(stats)], policy })

/** Run `agent` on a script: the run's exit (leak-checked) and the model's requests. */
const runScripted = (agent: Agent.Any, script: ScriptedModel.Script) =>
  Effect.gen(function*() {
    const exit = yield* Effect.exit(LeakCheck.check(Agent.run(agent, "go")))
    const requests = yield* Effect.flatMap(ScriptedModel.ScriptedModel, (model) => model.requests)
    return { exit, requests }
  }).pipe(Effect.provide(ScriptedModel.layer(script)))

/** The function response the model reads on its next turn for `callId`. */
const responseTo = (contents: ReadonlyArray<Content.Content>, callId: string) => {
  for (const content of contents) {
    for (const part of content.parts) {
      if (part._tag === "FunctionResponse" && part.id === callId) return { output: part.output, isError: part.isError }
    }
  }
  return undefined
}

/** The model calls `name` with `args`, then answers "ok": what did it read on its second turn? */
const modelReads = (agent: Agent.Any, name: string, args: unknown) =>
  Effect.map(
    runScripted(agent, [ScriptedModel.callTools([{ name, args }]), ScriptedModel.text("ok")]),
    ({ exit, requests }) => {
      assert.isTrue(Exit.isSuccess(exit), `the run failed: ${Exit.isFailure(exit) ? Cause.pretty(exit.cause) : ""}`)
      assert.strictEqual(requests.length, 2)
      return responseTo(requests[1].contents, "call_1_0")
    }
  )

/** Compare typed errors by tag and message (deep-equality output of Effect errors is unreadable). */
const errorShape = (error: unknown) => {
  const { _tag, message } = error as { readonly _tag: string; readonly message: string }
  return { _tag, message }
}

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  assert.isTrue(Exit.isFailure(exit), "the run succeeded")
  const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
  assert.isTrue(Option.isSome(failure), "the run did not fail with a typed error")
  return Option.getOrThrow(failure)
}

describe("bad input", () => {
  it.effect("arguments failing the tool's Schema reach the model as an exact error message", () =>
    Effect.gen(function*() {
      const reads = yield* modelReads(math([add]), "add", { a: "two", b: 3 })
      assert.deepStrictEqual(reads, {
        output: `Invalid arguments for tool "add": { readonly a: number; readonly b: number }\n` +
          `└─ ["a"]\n   └─ Expected number, actual "two"`,
        isError: true
      })
    }))

  it.effect("function-call arguments that are a string instead of an object reach the model as an exact error message", () =>
    Effect.gen(function*() {
      const reads = yield* modelReads(math([add]), "add", "2,3")
      assert.deepStrictEqual(reads, {
        output: `Invalid arguments for tool "add": Expected { readonly a: number; readonly b: number }, actual "2,3"`,
        isError: true
      })
    }))

  it.effect("function-call arguments that are an array instead of an object reach the model as an exact error message", () =>
    Effect.gen(function*() {
      const reads = yield* modelReads(math([add]), "add", [2, 3])
      assert.deepStrictEqual(reads, {
        output: `Invalid arguments for tool "add": Expected { readonly a: number; readonly b: number }, actual [2,3]`,
        isError: true
      })
    }))

  it.effect("an unknown tool reaches the model as an error naming the available tools", () =>
    Effect.gen(function*() {
      const reads = yield* modelReads(math([add]), "divide", { a: 1, b: 2 })
      assert.deepStrictEqual(reads, {
        output: `Unknown tool "divide". Available tools: add, transfer_to_stats.`,
        isError: true
      })
    }))

  it.effect("a handoff to an undeclared agent is refused like an unknown tool and hands nothing off", () =>
    Effect.gen(function*() {
      const { exit, requests } = yield* runScripted(math([add]), [
        ScriptedModel.callTools([{ name: "transfer_to_geography" }]),
        ScriptedModel.text("ok")
      ])
      assert.isTrue(Exit.isSuccess(exit))
      if (Exit.isSuccess(exit)) {
        assert.strictEqual(exit.value.agent, "math")
        assert.isFalse(exit.value.events.some((e) => e._tag === "HandoffStarted"))
      }
      assert.deepStrictEqual(requests.map((r) => r.agent), ["math", "math"])
      assert.deepStrictEqual(responseTo(requests[1].contents, "call_1_0"), {
        output: `Unknown tool "transfer_to_geography". Available tools: add, transfer_to_stats.`,
        isError: true
      })
    }))

  it.effect("a handler result failing its success Schema reaches the model as an exact error under report", () =>
    Effect.gen(function*() {
      const reads = yield* modelReads(math([broken], { toolFailure: "report" }), "broken", {})
      assert.deepStrictEqual(reads, {
        output: `Tool "broken" (call call_1_0) returned a value that does not match its success schema: ` +
          `Expected number, actual "forty-two"`,
        isError: true
      })
    }))

  it.effect("a handler result failing its success Schema fails the run with ToolCallFailed(ToolResultInvalid) under fail-fast", () =>
    Effect.gen(function*() {
      const { exit } = yield* runScripted(math([broken]), [ScriptedModel.callTools([{ name: "broken" }])])
      const error = failureOf(exit)
      assert.instanceOf(error, AgentError.ToolCallFailed)
      if (error instanceof AgentError.ToolCallFailed) {
        assert.deepStrictEqual(error.calls, [{ tool: "broken", callId: "call_1_0" }])
        const inner = Cause.squash(error.cause)
        assert.instanceOf(inner, AgentError.ToolResultInvalid)
        assert.strictEqual(
          (inner as AgentError.ToolResultInvalid).message,
          `Tool "broken" (call call_1_0) returned a value that does not match its success schema: Expected number, actual "forty-two"`
        )
      }
    }))

  it.effect("an oversized text output is cut at policy.maxToolOutputChars with a note the model can read", () =>
    Effect.gen(function*() {
      const reads = yield* modelReads(math([dump(10_000)], { maxToolOutputChars: 100 }), "dump", {})
      assert.deepStrictEqual(reads, {
        output: `${"x".repeat(100)}\n[truncated: the tool returned 10000 characters; only the first 100 are shown (policy.maxToolOutputChars)]`,
        isError: false
      })
    }))

  it.effect("an oversized structured output is cut on its JSON text", () =>
    Effect.gen(function*() {
      const reads = yield* modelReads(math([rows], { maxToolOutputChars: 20 }), "rows", {})
      const json = JSON.stringify(Array.from({ length: 100 }, (_, id) => ({ id })))
      assert.deepStrictEqual(reads, {
        output: `${json.slice(0, 20)}\n[truncated: the tool returned ${json.length} characters; only the first 20 are shown (policy.maxToolOutputChars)]`,
        isError: false
      })
    }))

  it.effect("an output within policy.maxToolOutputChars reaches the model unchanged", () =>
    Effect.gen(function*() {
      const reads = yield* modelReads(math([dump(100)], { maxToolOutputChars: 100 }), "dump", {})
      assert.deepStrictEqual(reads, { output: "x".repeat(100), isError: false })
    }))

  it.effect("without policy.maxToolOutputChars a large output reaches the model whole", () =>
    Effect.gen(function*() {
      const reads = yield* modelReads(math([dump(100_000)]), "dump", {})
      assert.deepStrictEqual(reads, { output: "x".repeat(100_000), isError: false })
    }))

  it.effect("a model response with no parts fails the run with MalformedResponse", () =>
    Effect.gen(function*() {
      const { exit } = yield* runScripted(math([add]), [{ finishReason: "stop" }])
      const error = failureOf(exit)
      assert.instanceOf(error, AgentError.MalformedResponse)
      assert.strictEqual(
        (error as AgentError.MalformedResponse).message,
        "The model returned a malformed response: the model returned no parts (finish reason: stop)"
      )
    }))

  it.effect("two handoffs in one response: the second is refused with an exact message", () =>
    Effect.gen(function*() {
      const geo = Agent.make({ name: "geo", instructions: "Answer geography questions." })
      const triage = Agent.make({ name: "triage", instructions: "Route.", handoffs: [Handoff.to(stats), Handoff.to(geo)] })
      const { exit, requests } = yield* runScripted(triage, [
        ScriptedModel.callTools([{ name: "transfer_to_stats" }, { name: "transfer_to_geo" }]),
        ScriptedModel.text("stats here")
      ])
      assert.isTrue(Exit.isSuccess(exit))
      if (Exit.isSuccess(exit)) assert.strictEqual(exit.value.agent, "triage/stats")
      assert.deepStrictEqual(responseTo(requests[1].contents, "call_1_1"), {
        output: `Only one handoff per turn: the conversation is already being transferred to "stats".`,
        isError: true
      })
    }))
})

describe("bad input from Gemini (the real SDK over loopback HTTP)", () => {
  const chat = (retries: number) =>
    Agent.make({
      name: "chat",
      instructions: "Answer briefly.",
      policy: { modelRetry: Schedule.spaced("10 millis").pipe(Schedule.intersect(Schedule.recurs(retries))) }
    })

  /** Stream a run against a fresh emulator; return its exit, events and the requests the emulator received. */
  const streamEmulated = (script: GeminiEmulator.Script) =>
    Effect.gen(function*() {
      const emulator = yield* GeminiEmulator.GeminiEmulator
      const events: Array<AgentEvent.AgentEvent> = []
      const exit = yield* Effect.exit(
        LeakCheck.check(Stream.runForEach(Agent.stream(chat(2), "hi"), (event) => Effect.sync(() => events.push(event))))
      )
      return { exit, events, requests: (yield* emulator.requests).length }
    }).pipe(Effect.provide(GeminiEmulator.layerModel({ script })))

  /** Stream a run against a `cutServer`. */
  const streamCut = (answers: ReadonlyArray<CutAnswer>, retries: number) =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* cutServer(answers)
      const model = Layer.orDie(Gemini.layer({ model: "gemini-test", apiKey: Redacted.make("test-key"), baseUrl: server.baseUrl }))
      const events: Array<AgentEvent.AgentEvent> = []
      const exit = yield* Effect.exit(
        LeakCheck.check(Stream.runForEach(Agent.stream(chat(retries), "hi"), (event) => Effect.sync(() => events.push(event))))
      ).pipe(Effect.provide(model))
      return { exit, events, requests: yield* server.requests }
    }))

  it.live("a malformed emulator body fails the run with MalformedResponse, without a retry", () =>
    Effect.gen(function*() {
      const emulator = yield* GeminiEmulator.GeminiEmulator
      const exit = yield* Effect.exit(LeakCheck.check(Agent.run(chat(2), "hi")))
      assert.deepStrictEqual(
        errorShape(failureOf(exit)),
        errorShape(new AgentError.MalformedResponse({ detail: "the response body is not valid JSON (Unterminated string in JSON at position 74)" }))
      )
      assert.strictEqual((yield* emulator.requests).length, 1)
    }).pipe(Effect.provide(GeminiEmulator.layerModel({ script: [GeminiEmulator.malformedBody(), GeminiEmulator.text("never")] }))))

  it.live("a malformed SSE event fails a streamed run with MalformedResponse and RunFailed", () =>
    Effect.gen(function*() {
      const { events, exit, requests } = yield* streamEmulated([GeminiEmulator.malformedBody(), GeminiEmulator.text("never")])
      assert.deepStrictEqual(
        errorShape(failureOf(exit)),
        errorShape(new AgentError.MalformedResponse({ detail: "the response body is not valid JSON (Unterminated string in JSON at position 74)" }))
      )
      assert.strictEqual(events.at(-1)?._tag, "RunFailed")
      assert.strictEqual(requests, 1)
    }))

  it.live("an SSE stream dropped mid-event fails the attempt with a retryable ModelUnavailable", () =>
    Effect.gen(function*() {
      const { events, exit } = yield* streamCut(["destroy"], 0)
      const error = failureOf(exit)
      assert.deepStrictEqual(
        errorShape(error),
        errorShape(new AgentError.ModelUnavailable({ detail: "network failure: terminated: other side closed (UND_ERR_SOCKET)" }))
      )
      assert.isTrue((error as AgentError.ModelError).retryable)
      // the text that arrived before the cut was streamed, then withdrawn (TextReset): no answer was committed
      assert.deepStrictEqual(events.map((e) => e._tag), ["RunStarted", "TurnStarted", "ModelRequested", "TextDelta", "TextReset", "RunFailed"])
    }))

  it.live("an SSE stream dropped mid-event is retried and only the complete answer is kept", () =>
    Effect.gen(function*() {
      const { events, exit, requests } = yield* streamCut(["destroy", "full"], 2)
      assert.isTrue(Exit.isSuccess(exit))
      assert.strictEqual(requests, 2)
      const deltas = events.flatMap((e) => e._tag === "TextDelta" ? [e.text] : [])
      assert.deepStrictEqual(deltas, ["Hello ", "Hello ", "world."])
      const retry = events.find((e): e is AgentEvent.RetryScheduled => e._tag === "RetryScheduled")
      assert.strictEqual(retry?.error, "ModelUnavailable")
      const completed = events.at(-1)
      assert.strictEqual(completed?._tag, "RunCompleted")
      if (completed?._tag === "RunCompleted") {
        assert.strictEqual(completed.text, "Hello world.")
        assert.deepStrictEqual(completed.history.at(-1), { role: "model", parts: [{ _tag: "Text", text: "Hello world." }] })
      }
    }))

  it.live("an SSE stream that ends cleanly mid-event fails with MalformedResponse", () =>
    Effect.gen(function*() {
      const { exit, requests } = yield* streamCut(["end", "full"], 2)
      assert.deepStrictEqual(
        errorShape(failureOf(exit)),
        errorShape(new AgentError.MalformedResponse({ detail: "the response body is not valid JSON (Incomplete JSON segment at the end)" }))
      )
      assert.strictEqual(requests, 1)
    }))
})

describe("function responses JSON cannot carry: refused by ScriptedModel as by the real SDK", () => {
  const circular: Record<string, unknown> = { id: 1 }
  circular["self"] = circular

  /** A second-turn request whose function response carries `output`. */
  const requestWith = (output: unknown) =>
    ({
      agent: "clerk",
      system: undefined,
      tools: [],
      contents: [
        { role: "user", parts: [{ _tag: "Text", text: "go" }] },
        { role: "model", parts: [{ _tag: "FunctionCall", id: "call_1_0", name: "dump", args: {} }] },
        { role: "user", parts: [{ _tag: "FunctionResponse", id: "call_1_0", name: "dump", output, isError: false }] }
      ]
    }) as unknown as Model.ModelRequest

  /** The label, the output, why JSON refuses it, and whether the SDK refuses it too (it drops functions silently). */
  const cases: ReadonlyArray<readonly [string, unknown, string, boolean]> = [
    [
      "a circular object",
      circular,
      "Converting circular structure to JSON\n    --> starting at object with constructor 'Object'\n    --- property 'self' closes the circle",
      true
    ],
    ["a bigint", { total: BigInt(10) }, "Do not know how to serialize a BigInt", true],
    ["a function", { format: () => "x" }, `a function (at key "format") cannot be sent as JSON`, false]
  ]

  for (const [label, output, reason] of cases) {
    it.effect(`ScriptedModel refuses ${label} in a function response, streaming or not, and uses no step`, () =>
      Effect.gen(function*() {
        const model = yield* ScriptedModel.make([ScriptedModel.text("ok")])
        const refused = yield* Effect.flip(model.generate(requestWith(output)))
        const streamed = yield* Effect.flip(Stream.runDrain(model.stream(requestWith(output))))
        for (const error of [refused, streamed]) {
          assert.deepStrictEqual(errorShape(error), {
            _tag: "InvalidRequest",
            message: `The model rejected the request as invalid: ` +
              `the function response of "dump" (call call_1_0) cannot be sent as JSON: ${reason}`
          })
          assert.isFalse(error.retryable)
        }
        const answer = yield* model.generate(requestWith({ id: 1 }))
        assert.deepStrictEqual(answer.parts, [{ _tag: "Text", text: "ok" }])
      }))
  }

  for (const [label, output, reason] of cases.filter(([, , , wire]) => wire)) {
    it.live(`${label}: the real SDK refuses it too, with a non-retryable InvalidRequest, and sends nothing`, () =>
      Effect.gen(function*() {
        const model = yield* Model.Model
        const emulator = yield* GeminiEmulator.GeminiEmulator
        const error = yield* Effect.flip(model.generate(requestWith(output)))
        assert.deepStrictEqual(errorShape(error), {
          _tag: "InvalidRequest",
          message: `The model rejected the request as invalid: the Gemini SDK failed: ${reason}`
        })
        assert.isFalse(error.retryable)
        assert.strictEqual((yield* emulator.requests).length, 0)
      }).pipe(Effect.provide(GeminiEmulator.layerModel({ script: [GeminiEmulator.text("ok")] }))))
  }
})
