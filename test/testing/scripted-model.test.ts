/**
 * ScriptedModel: a deterministic `Model` that plays a script on the Effect clock and records
 * every request.
 */
import { Agent, AgentError, AgentEvent, Content, Model } from "@effect-agents/core"
import { LeakCheck, ScriptedModel } from "@effect-agents/testing"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Chunk, Clock, Effect, Exit, Fiber, Stream, TestClock } from "effect"

const request = (prompt: string, ...rest: ReadonlyArray<Content.Content>): Model.ModelRequest => ({
  agent: "test",
  contents: [Content.user(prompt), ...rest],
  tools: []
})

const generate = (req: Model.ModelRequest) => Effect.flatMap(Model.Model, (model) => model.generate(req))

const defectMessage = (exit: Exit.Exit<unknown, unknown>): string => {
  assert.isTrue(Exit.isFailure(exit) && Cause.isDie(exit.cause))
  return Exit.isFailure(exit) ? (Cause.squash(exit.cause) as Error).message : ""
}

describe("ScriptedModel steps", () => {
  it.effect("records every request in arrival order", () =>
    Effect.gen(function*() {
      yield* generate(request("first"))
      yield* generate(request("second"))
      const sent = yield* ScriptedModel.ScriptedModel.pipe(Effect.flatMap((m) => m.requests))
      assert.deepStrictEqual(sent.map((r) => Content.textOf(r.contents[0].parts)), ["first", "second"])
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.text("a"), ScriptedModel.text("b")]))))

  it.effect("answers each request with the next step, after the step's delay on the Effect clock", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(Effect.zip(generate(request("q")), Clock.currentTimeMillis))
      yield* TestClock.adjust("2 seconds")
      const [response, at] = yield* Fiber.join(fiber)
      assert.strictEqual(at, 1500)
      assert.deepStrictEqual(response, {
        parts: [{ _tag: "Text", text: "hello" }],
        usage: { inputTokens: 3, outputTokens: 1, totalTokens: 4 },
        finishReason: "stop"
      })
    }).pipe(Effect.provide(ScriptedModel.layer([
      ScriptedModel.text("hello", { delay: "1500 millis", usage: { inputTokens: 3, outputTokens: 1 } })
    ]))))

  it.effect("function calls get ids call_<turn>_<index> unless the step gives one, and keep their metadata", () =>
    Effect.gen(function*() {
      const response = yield* generate(request("q", Content.model("earlier")))
      assert.deepStrictEqual(response.parts, [
        { _tag: "FunctionCall", id: "call_2_0", name: "add", args: { a: 1 } },
        { _tag: "FunctionCall", id: "mine", name: "mul", args: {}, metadata: { thoughtSignature: "x" } }
      ])
      assert.strictEqual(response.finishReason, "tool-calls")
    }).pipe(Effect.provide(ScriptedModel.layer([
      ScriptedModel.callTools([{ name: "add", args: { a: 1 } }, { name: "mul", id: "mine", metadata: { thoughtSignature: "x" } }])
    ]))))

  it.effect("a fail step fails the request with its ModelError", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(generate(request("q")))
      assert.deepStrictEqual(exit, Exit.fail(new AgentError.ModelUnavailable({ status: 503, detail: "down" })))
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.fail(new AgentError.ModelUnavailable({ status: 503, detail: "down" }))]))))

  it.effect("a hang step never answers until interrupted", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(generate(request("q")))
      yield* TestClock.adjust("1 hour")
      assert.isTrue((yield* Fiber.poll(fiber))._tag === "None")
      assert.isTrue(Exit.isInterrupted(yield* Fiber.interrupt(fiber)))
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.hang]))))

  it.effect("a request past the end of the script is a defect that says so", () =>
    Effect.gen(function*() {
      yield* generate(request("q"))
      const exit = yield* Effect.exit(generate(request("q")))
      assert.strictEqual(defectMessage(exit), "ScriptedModel: the script has 1 steps; request 2 was made")
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.text("only")]))))

  it.effect("streams text as word chunks and the calls in the last chunk", () =>
    Effect.gen(function*() {
      const model = yield* Model.Model
      const chunks = Chunk.toReadonlyArray(yield* Stream.runCollect(model.stream(request("q"))))
      assert.deepStrictEqual(chunks.map((c) => c.parts.map((p) => (p._tag === "Text" ? p.text : p._tag))), [
        ["two "],
        ["words"],
        ["FunctionCall"]
      ])
      assert.deepStrictEqual(Model.collectChunks(chunks).parts.map((p) => p._tag), ["Text", "FunctionCall"])
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.callTools([{ name: "add" }], { text: "two words" })]))))

  it.effect("a streamed failure arrives after failAfterChunks chunks", () =>
    Effect.gen(function*() {
      const model = yield* Model.Model
      const seen: Array<string> = []
      const exit = yield* Stream.runForEach(model.stream(request("q")), (c) =>
        Effect.sync(() => {
          for (const p of c.parts) if (p._tag === "Text") seen.push(p.text)
        })).pipe(Effect.exit)
      assert.deepStrictEqual(seen, ["one ", "two "])
      assert.isTrue(Exit.isFailure(exit))
    }).pipe(Effect.provide(ScriptedModel.layer([
      ScriptedModel.fail(new AgentError.ModelUnavailable({ detail: "connection reset" }), {
        text: "one two three",
        failAfterChunks: 2
      })
    ]))))
})

describe("ScriptedModel.byPrompt", () => {
  const script = ScriptedModel.byPrompt({
    alpha: [ScriptedModel.text("alpha 1", { delay: "300 millis" }), ScriptedModel.text("alpha 2")],
    beta: [ScriptedModel.text("beta 1", { delay: "100 millis" }), ScriptedModel.text("beta 2")]
  })

  it.effect("each conversation follows its own steps, one per model turn, however requests interleave", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(
        Effect.all([generate(request("alpha")), generate(request("beta"))], { concurrency: "unbounded" })
      )
      yield* TestClock.adjust("300 millis")
      const [a, b] = yield* Fiber.join(fiber)
      assert.deepStrictEqual([Content.textOf(a.parts), Content.textOf(b.parts)], ["alpha 1", "beta 1"])
      const second = yield* generate(request("beta", Content.model("beta 1"), Content.user("more")))
      assert.strictEqual(Content.textOf(second.parts), "beta 2")
    }).pipe(Effect.provide(ScriptedModel.layer(script))))

  it.effect("a conversation with no script is a defect that names its prompt", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(generate(request("gamma")))
      assert.strictEqual(defectMessage(exit), "ScriptedModel.byPrompt: no script for the conversation starting with \"gamma\"")
    }).pipe(Effect.provide(ScriptedModel.layer(script))))

  it.effect("a conversation past the end of its steps is a defect that says which turn", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(
        generate(request("alpha", Content.model("1"), Content.user("2"), Content.model("3"), Content.user("4")))
      )
      assert.strictEqual(defectMessage(exit), "ScriptedModel.byPrompt: the script for \"alpha\" has 2 steps; turn 3 was requested")
    }).pipe(Effect.provide(ScriptedModel.layer(script))))

  it.effect("an agent run on an unscripted prompt fails with that defect and a RunFailed event", () =>
    Effect.gen(function*() {
      const agent = Agent.make({ name: "math", instructions: "" })
      const events: Array<AgentEvent.AgentEvent> = []
      const exit = yield* LeakCheck.check(Stream.runForEach(Agent.stream(agent, "gamma"), (e) => Effect.sync(() => events.push(e))))
        .pipe(Effect.exit)
      assert.strictEqual(defectMessage(exit), "ScriptedModel.byPrompt: no script for the conversation starting with \"gamma\"")
      const failed = events.at(-1) as AgentEvent.RunFailed
      assert.deepStrictEqual([failed._tag, failed.error, failed.message], [
        "RunFailed",
        "Defect",
        "ScriptedModel.byPrompt: no script for the conversation starting with \"gamma\""
      ])
    }).pipe(Effect.provide(ScriptedModel.layer(script))))
})
