/**
 * Runs and conversations: one immutable agent serves concurrent conversations, a run can
 * continue an earlier history, and provider metadata on parts travels back unchanged.
 */
import { Agent, AgentEvent, Content, Tool } from "@effect-agents/core"
import { LeakCheck, ScriptedModel } from "@effect-agents/testing"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Schema, TestClock } from "effect"
import { ofTag, runFor } from "../support/agents.js"

const requests = ScriptedModel.ScriptedModel.pipe(Effect.flatMap((m) => m.requests))

const Pair = Schema.Struct({ a: Schema.Number, b: Schema.Number })

/** Arithmetic that takes one second per call. */
const slowly = (name: string, f: (a: number, b: number) => number) =>
  Tool.make(name, {
    description: `${name} two numbers`,
    parameters: Pair,
    success: Schema.Number,
    handler: ({ a, b }) => Effect.as(Effect.sleep("1 second"), f(a, b))
  })

const math = Agent.make({
  name: "math",
  instructions: "Use the tools for every calculation.",
  tools: [slowly("add", (a, b) => a + b), slowly("multiply", (a, b) => a * b)]
})

describe("concurrent conversations", () => {
  const script = ScriptedModel.layer(ScriptedModel.byPrompt({
    "What is (2 + 3) * 4?": [
      ScriptedModel.callTools([{ name: "add", args: { a: 2, b: 3 } }]),
      ScriptedModel.callTools([{ name: "multiply", args: { a: 5, b: 4 } }]),
      ScriptedModel.text("20")
    ],
    "What is (10 + 20) * 3?": [
      ScriptedModel.callTools([{ name: "add", args: { a: 10, b: 20 } }], { delay: "500 millis" }),
      ScriptedModel.callTools([{ name: "multiply", args: { a: 30, b: 3 } }]),
      ScriptedModel.text("90")
    ]
  }))

  const both = Effect.forEach(["What is (2 + 3) * 4?", "What is (10 + 20) * 3?"], (prompt) => Agent.run(math, prompt), {
    concurrency: "unbounded"
  })

  it.effect("two conversations on one agent interleave their tool calls in time", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(LeakCheck.check(both))
      yield* TestClock.adjust(2500)
      const [first, second] = yield* Fiber.join(fiber)
      const timeline = [...first.events.map((e) => ["A", e] as const), ...second.events.map((e) => ["B", e] as const)]
        .filter(([, e]) => e._tag === "ToolCallStarted" || e._tag === "ToolCallSucceeded")
        .sort(([, x], [, y]) => x.timestamp - y.timestamp)
        .map(([who, e]) => `${e.timestamp} ${who} ${e._tag === "ToolCallStarted" ? "start" : "end"} ${(e as AgentEvent.ToolCallStarted).tool}`)
      assert.deepStrictEqual(timeline, [
        "0 A start add",
        "500 B start add",
        "1000 A end add",
        "1000 A start multiply",
        "1500 B end add",
        "1500 B start multiply",
        "2000 A end multiply",
        "2500 B end multiply"
      ])
      for (const result of [first, second]) assert.deepStrictEqual(AgentEvent.invariantViolations(result.events), [])
    }).pipe(Effect.provide(script)))

  it.effect("each conversation gets its own answer, history and run id", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(LeakCheck.check(both))
      yield* TestClock.adjust(2500)
      const [first, second] = yield* Fiber.join(fiber)
      assert.deepStrictEqual([first.text, second.text], ["20", "90"])
      assert.deepStrictEqual(ofTag(first.events, "RunCompleted").map((e) => e.timestamp), [2000])
      assert.deepStrictEqual(ofTag(second.events, "RunCompleted").map((e) => e.timestamp), [2500])
      assert.notStrictEqual(first.runId, second.runId)
      assert.isTrue(first.events.every((e) => e.runId === first.runId))
      assert.isTrue(second.events.every((e) => e.runId === second.runId))
      assert.deepStrictEqual(Content.textOf(first.history[0].parts), "What is (2 + 3) * 4?")
      assert.deepStrictEqual(Content.textOf(second.history[0].parts), "What is (10 + 20) * 3?")
      assert.strictEqual((yield* requests).length, 6)
    }).pipe(Effect.provide(script)))
})

describe("continuing a conversation", () => {
  it.effect("a second run with { prompt, history: first.history } sends the whole conversation", () =>
    Effect.gen(function*() {
      const first = yield* runFor(math, "What is 2 + 3?", 1000)
      const second = yield* runFor(math, { prompt: "And times 4?", history: first.history }, 1000)
      const sent = yield* requests
      const firstTurn = sent[2]
      assert.deepStrictEqual(firstTurn.contents, [...first.history, Content.user("And times 4?")])
      assert.deepStrictEqual(firstTurn.contents.map((c) => [c.role, c.parts.map((p) => p._tag)]), [
        ["user", ["Text"]],
        ["model", ["FunctionCall"]],
        ["user", ["FunctionResponse"]],
        ["model", ["Text"]],
        ["user", ["Text"]]
      ])
      assert.strictEqual(second.text, "20")
      assert.deepStrictEqual(second.history.slice(0, first.history.length), first.history)
      assert.strictEqual(second.history.length, first.history.length + 4)
      assert.strictEqual(ofTag(second.events, "RunStarted")[0].input, "And times 4?")
    }).pipe(Effect.provide(ScriptedModel.layer(ScriptedModel.byPrompt({
      "What is 2 + 3?": [
        ScriptedModel.callTools([{ name: "add", args: { a: 2, b: 3 } }]),
        ScriptedModel.text("5"),
        ScriptedModel.callTools([{ name: "multiply", args: { a: 5, b: 4 } }]),
        ScriptedModel.text("20")
      ]
    })))))

  it.effect("a run does not change the history it continues from", () =>
    Effect.gen(function*() {
      const history = [Content.user("Hi"), Content.model("Hello")]
      const copy = structuredClone(history)
      const result = yield* runFor(math, { prompt: "Bye", history }, 0)
      assert.deepStrictEqual(history, copy)
      assert.strictEqual(result.history.length, 4)
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.text("Goodbye")]))))
})

describe("provider metadata", () => {
  it.effect("a thoughtSignature on a function-call part is sent back unchanged in the next request", () =>
    Effect.gen(function*() {
      yield* runFor(math, "What is 2 + 3?", 1000)
      const [, second] = yield* requests
      assert.deepStrictEqual(second.contents[1], {
        role: "model",
        parts: [
          { _tag: "Text", text: "Let me add.", metadata: { thoughtSignature: "dGV4dC1zaWc=" } },
          { _tag: "FunctionCall", id: "call_1_0", name: "add", args: { a: 2, b: 3 }, metadata: { thoughtSignature: "c2lnLWFkZA==" } }
        ]
      })
    }).pipe(Effect.provide(ScriptedModel.layer([
      ScriptedModel.callTools([{ name: "add", args: { a: 2, b: 3 }, metadata: { thoughtSignature: "c2lnLWFkZA==" } }], {
        text: "Let me add.",
        metadata: { thoughtSignature: "dGV4dC1zaWc=" }
      }),
      ScriptedModel.text("5")
    ]))))

  it.effect("metadata survives later turns and a continued conversation", () =>
    Effect.gen(function*() {
      const first = yield* runFor(math, "What is 2 + 3?", 1000)
      yield* runFor(math, { prompt: "Thanks", history: first.history }, 0)
      const sent = yield* requests
      for (const request of sent.slice(1)) {
        const call = request.contents[1].parts[0]
        assert.deepStrictEqual(call._tag === "FunctionCall" && call.metadata, { thoughtSignature: "c2lnLWFkZA==" })
      }
      assert.strictEqual(sent.length, 3)
    }).pipe(Effect.provide(ScriptedModel.layer([
      ScriptedModel.callTools([{ name: "add", args: { a: 2, b: 3 }, metadata: { thoughtSignature: "c2lnLWFkZA==" } }]),
      ScriptedModel.text("5"),
      ScriptedModel.text("You're welcome")
    ]))))
})

describe("run results", () => {
  it.effect("usage is summed over every model call of the run", () =>
    Effect.gen(function*() {
      const result = yield* runFor(math, "What is 2 + 3?", 1000)
      assert.deepStrictEqual(result.usage, { inputTokens: 30, outputTokens: 7, totalTokens: 37 })
      assert.strictEqual(result.turns, 2)
      assert.deepStrictEqual(ofTag(result.events, "RunCompleted")[0].usage, result.usage)
    }).pipe(Effect.provide(ScriptedModel.layer([
      ScriptedModel.callTools([{ name: "add", args: { a: 2, b: 3 } }], { usage: { inputTokens: 10, outputTokens: 5 } }),
      ScriptedModel.text("5", { usage: { inputTokens: 20, outputTokens: 2 } })
    ]))))
})
