/**
 * Sequential pipelines and loops: each step's answer feeds the next; a loop stops when the
 * agent calls `exit_loop` or `until` holds, and running out of iterations is a typed error.
 */
import { Agent, AgentError, Orchestrate } from "@effect-agents/core"
import type { Content, Model } from "@effect-agents/core"
import { LeakCheck, ScriptedModel } from "@effect-agents/testing"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Chunk, Effect, Exit, Fiber, Option, pipe, Stream, TestClock } from "effect"

const modelTurn = (request: Model.ModelRequest) => request.contents.filter((c) => c.role === "model").length

const texts = (contents: ReadonlyArray<Content.Content>) =>
  contents.map((c) => `${c.role}: ${c.parts.map((p) => p._tag === "Text" ? p.text : p._tag).join(" ")}`)

/** Run under `LeakCheck` in a fiber, driving the virtual clock by `millis`. */
const runFor = <A, E>(effect: Effect.Effect<A, E, Model.Model>, millis: number) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(LeakCheck.check(effect))
    yield* TestClock.adjust(millis)
    return yield* Fiber.await(fiber)
  })

const writer = Agent.make({ name: "writer", instructions: "Write a draft." })
const editor = Agent.make({ name: "editor", instructions: "Edit the draft." })

/** The writer drafts in 1 s, the editor edits in 500 ms (keyed by the requesting agent's path). */
const pipelineScript: ScriptedModel.Script = (request) =>
  request.agent === "writer"
    ? ScriptedModel.text("draft about fibers", { delay: "1 second" })
    : ScriptedModel.text("edited draft about fibers", { delay: "500 millis" })

describe("Orchestrate.sequential", () => {
  it.effect("each agent's answer is the next agent's prompt", () =>
    Effect.gen(function*() {
      const exit = yield* runFor(Orchestrate.sequential([writer, editor], "Write about fibers"), 1500)
      assert.isTrue(Exit.isSuccess(exit))
      if (Exit.isFailure(exit)) return
      const [drafted, edited] = exit.value
      assert.strictEqual(drafted.text, "draft about fibers")
      assert.strictEqual(edited.text, "edited draft about fibers")
      const requests = yield* ScriptedModel.ScriptedModel.pipe(Effect.flatMap((s) => s.requests))
      assert.deepStrictEqual(requests.map((r) => r.agent), ["writer", "editor"])
      assert.deepStrictEqual(texts(requests[1].contents), ["user: draft about fibers"])
      const editorStarted = edited.events.find((e) => e._tag === "RunStarted")
      const editorDone = edited.events.find((e) => e._tag === "RunCompleted")
      assert.strictEqual(editorStarted?.timestamp, 1000, "the editor starts when the writer is done")
      assert.strictEqual(editorDone?.timestamp, 1500)
    }).pipe(Effect.provide(ScriptedModel.layer(pipelineScript))))

  it.effect("with history, the next agent also receives the conversation so far", () =>
    Effect.gen(function*() {
      const exit = yield* runFor(Orchestrate.sequential([writer, editor], "Write about fibers", { history: true }), 1500)
      assert.isTrue(Exit.isSuccess(exit))
      const requests = yield* ScriptedModel.ScriptedModel.pipe(Effect.flatMap((s) => s.requests))
      assert.deepStrictEqual(texts(requests[1].contents), [
        "user: Write about fibers",
        "model: draft about fibers",
        "user: draft about fibers"
      ])
    }).pipe(Effect.provide(ScriptedModel.layer(pipelineScript))))

  it.effect("a failing step stops the pipeline with its error; a repeated agent is numbered", () =>
    Effect.gen(function*() {
      const exit = yield* runFor(Orchestrate.sequential([writer, editor, writer], "Write about fibers"), 2000)
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isSuccess(exit)) return
      const failure = Cause.failureOption(exit.cause)
      assert.isTrue(Option.isSome(failure) && failure.value instanceof AgentError.ContentBlocked, Cause.pretty(exit.cause))
      const requests = yield* ScriptedModel.ScriptedModel.pipe(Effect.flatMap((s) => s.requests))
      assert.deepStrictEqual(requests.map((r) => r.agent), ["writer#1", "editor"], "writer#2 never ran")
    }).pipe(Effect.provide(ScriptedModel.layer((request) =>
      request.agent.startsWith("writer")
        ? ScriptedModel.text("draft", { delay: "1 second" })
        : ScriptedModel.fail(new AgentError.ContentBlocked({ reason: "SAFETY" }))
    ))))
})

describe("Orchestrate.loop", () => {
  const refiner = Agent.make({ name: "refiner", instructions: "Improve the draft; call exit_loop when it is good." })

  it.effect("stops when the agent calls exit_loop", () =>
    Effect.gen(function*() {
      const exit = yield* runFor(Orchestrate.loop(refiner, "v0", { maxIterations: 5 }), 10_000)
      assert.isTrue(Exit.isSuccess(exit))
      if (Exit.isFailure(exit)) return
      assert.strictEqual(exit.value.stoppedBy, "exit-tool")
      assert.strictEqual(exit.value.iterations, 2)
      assert.strictEqual(exit.value.last.text, "v2, final")
      assert.deepStrictEqual(exit.value.results.map((r) => r.text), ["v1", "v2, final"])
      const requests = yield* ScriptedModel.ScriptedModel.pipe(Effect.flatMap((s) => s.requests))
      assert.isTrue(requests[0].tools.some((t) => t.name === "exit_loop"), "the loop gives the agent exit_loop")
      assert.deepStrictEqual(texts(requests[1].contents), ["user: v1"], "iteration 2 gets iteration 1's answer")
      assert.strictEqual(exit.value.last.events.at(-1)?.timestamp, 1200)
    }).pipe(Effect.provide(ScriptedModel.layer((request) => {
      const prompt = texts(request.contents)[0]
      if (prompt === "user: v0") return ScriptedModel.text("v1", { delay: "1 second" })
      return modelTurn(request) === 0
        ? ScriptedModel.callTools([{ name: "exit_loop", args: { reason: "good enough" } }], { delay: "100 millis" })
        : ScriptedModel.text("v2, final", { delay: "100 millis" })
    }))))

  it.effect("stops when until holds for a result", () =>
    Effect.gen(function*() {
      const exit = yield* runFor(
        Orchestrate.loop(refiner, "0", { maxIterations: 10, until: (result) => Number(result.text) >= 3, exitTool: false }),
        10_000
      )
      assert.isTrue(Exit.isSuccess(exit))
      if (Exit.isFailure(exit)) return
      assert.strictEqual(exit.value.stoppedBy, "until")
      assert.deepStrictEqual(exit.value.results.map((r) => r.text), ["1", "2", "3"])
      assert.strictEqual(exit.value.last.events.at(-1)?.timestamp, 3000)
      const requests = yield* ScriptedModel.ScriptedModel.pipe(Effect.flatMap((s) => s.requests))
      assert.isFalse(requests[0].tools.some((t) => t.name === "exit_loop"), "exitTool: false leaves the agent as it is")
    }).pipe(Effect.provide(ScriptedModel.layer((request) => {
      const previous = Number(texts(request.contents)[0].slice("user: ".length))
      return ScriptedModel.text(String(previous + 1), { delay: "1 second" })
    }))))

  it.effect("exceeding maxIterations fails with MaxIterationsExceeded", () =>
    Effect.gen(function*() {
      const exit = yield* runFor(Orchestrate.loop(refiner, "draft", { maxIterations: 3 }), 10_000)
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isSuccess(exit)) return
      const failure = Cause.failureOption(exit.cause)
      assert.isTrue(Option.isSome(failure) && failure.value instanceof Orchestrate.MaxIterationsExceeded, Cause.pretty(exit.cause))
      if (Option.isSome(failure) && failure.value instanceof Orchestrate.MaxIterationsExceeded) {
        assert.strictEqual(failure.value.maxIterations, 3)
        assert.strictEqual(failure.value.last, "still a draft")
        assert.include(failure.value.message, "maxIterations")
      }
      const requests = yield* ScriptedModel.ScriptedModel.pipe(Effect.flatMap((s) => s.requests))
      assert.strictEqual(requests.length, 3)
    }).pipe(Effect.provide(ScriptedModel.layer(() => ScriptedModel.text("still a draft", { delay: "1 second" })))))

  it.effect("next builds each iteration's input", () =>
    Effect.gen(function*() {
      const exit = yield* runFor(
        Orchestrate.loop(refiner, "start", {
          maxIterations: 2,
          until: (_, iteration) => iteration === 2,
          next: (previous, iteration) => `iteration ${iteration + 1}, improve: ${previous.text}`
        }),
        10_000
      )
      assert.isTrue(Exit.isSuccess(exit))
      const requests = yield* ScriptedModel.ScriptedModel.pipe(Effect.flatMap((s) => s.requests))
      assert.deepStrictEqual(texts(requests[1].contents), ["user: iteration 2, improve: answer"])
    }).pipe(Effect.provide(ScriptedModel.layer(() => ScriptedModel.text("answer")))))
})

describe("data-last forms", () => {
  it.effect("every combinator taking agents can be piped", () =>
    Effect.gen(function*() {
      const answers = Effect.all({
        sequential: pipe([writer, editor], Orchestrate.sequential("Write")),
        parallel: pipe([writer, editor], Orchestrate.parallel("Write", { mode: "settle-all" }), Stream.runCollect),
        fanOut: pipe(writer, Orchestrate.parallel(["a", "b"]), Stream.runCollect),
        settle: pipe(writer, Orchestrate.settle(["a", "b"])),
        race: pipe([writer, editor], Orchestrate.race("Write")),
        asCompleted: pipe(writer, Orchestrate.asCompleted(["a", "b"]), Stream.runCollect),
        loop: writer.pipe(Orchestrate.loop("Write", { maxIterations: 1, until: () => true }))
      }, { concurrency: "unbounded" })
      const exit = yield* runFor(answers, 1500)
      assert.isTrue(Exit.isSuccess(exit))
      if (Exit.isFailure(exit)) return
      const { asCompleted, fanOut, loop, parallel, race, sequential, settle } = exit.value
      assert.deepStrictEqual(sequential.map((r) => r.agent), ["writer", "editor"])
      assert.deepStrictEqual(
        Chunk.toReadonlyArray(parallel).filter((e) => e._tag === "RunCompleted").map((e) => e.agent),
        ["editor", "writer"]
      )
      assert.deepStrictEqual(
        Chunk.toReadonlyArray(fanOut).filter((e) => e._tag === "RunStarted").map((e) => e.agent),
        ["writer#1", "writer#2"]
      )
      assert.strictEqual(settle.length, 2)
      assert.strictEqual(race.agent, "editor")
      assert.strictEqual(Chunk.size(asCompleted), 2)
      assert.strictEqual(loop.stoppedBy, "until")
    }).pipe(Effect.provide(ScriptedModel.layer(pipelineScript))))

  it.effect("racing or streaming nothing is explicit", () =>
    Effect.gen(function*() {
      const raced = yield* Effect.exit(Orchestrate.race([] as Array<Effect.Effect<string>>))
      assert.isTrue(Exit.isFailure(raced) && Cause.isDie(raced.cause))
      const completed = yield* Stream.runCollect(Orchestrate.asCompleted([] as Array<Effect.Effect<string>>))
      assert.strictEqual(Chunk.size(completed), 0)
    }))
})
