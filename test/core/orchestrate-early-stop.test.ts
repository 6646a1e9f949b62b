/**
 * Early consumer stop is cleanup: for every stream the library returns (`Agent.stream`,
 * `Orchestrate.parallel`, `Orchestrate.asCompleted`), a consumer that stops early — with
 * `Stream.take`/`takeUntil`, or by leaving a `for await` loop over `Stream.toAsyncIterable` —
 * interrupts the model and tool calls in flight and their finalizers have run by the time it
 * has stopped: the async-generator `aclose()` guarantee.
 */
import { Agent, AgentEvent, Model, Orchestrate, Tool } from "@effect-agents/core"
import { LeakCheck, ScriptedModel } from "@effect-agents/testing"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Clock, Effect, Exit, Fiber, Layer, Ref, Schema, Stream, TestClock } from "effect"

type Log = Ref.Ref<ReadonlyArray<string>>

const record = (log: Log, what: string) =>
  Effect.flatMap(Clock.currentTimeMillis, (t) => Ref.update(log, (entries) => [...entries, `${what}@${t}`]))

/** A tool that notes its start and its finalizer, and sleeps 10 s. */
const search = (log: Log) =>
  Tool.make("search", {
    description: "Search",
    scoped: true,
    parameters: Schema.Struct({}),
    handler: () =>
      Effect.gen(function*() {
        yield* record(log, "search started")
        yield* Effect.addFinalizer((exit) => record(log, `search ${Exit.isInterrupted(exit) ? "interrupted" : "ended"}`))
        yield* Effect.sleep("10 seconds")
        return "results"
      })
  })

/** The scripted model, wrapped so each streamed model call notes how its stream was closed. */
const traced = (log: Log, script: ScriptedModel.Script) =>
  Layer.effect(
    Model.Model,
    Effect.map(Model.Model, (model): Model.Model.Service => ({
      generate: (request) => model.generate(request),
      stream: (request) =>
        Stream.unwrapScoped(Effect.as(
          Effect.addFinalizer((exit) =>
            record(log, `${request.agent} model stream ${Exit.isInterrupted(exit) ? "interrupted" : "ended"}`)
          ),
          model.stream(request)
        ))
    }))
  ).pipe(Layer.provide(ScriptedModel.layer(script)))

/** Run under `LeakCheck` in a fiber, driving the virtual clock by `millis`. */
const runFor = <A, E, R>(effect: Effect.Effect<A, E, R>, millis: number) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(LeakCheck.check(effect))
    yield* TestClock.adjust(millis)
    return yield* Fiber.await(fiber)
  })

const tags = (events: Chunk.Chunk<AgentEvent.AgentEvent>) => Chunk.toReadonlyArray(events).map((e) => `${e.agent} ${e._tag}`)

describe("Agent.stream stopped early", () => {
  it.effect("taking events up to ToolCallStarted interrupts the tool call and runs its finalizer", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const agent = Agent.make({ name: "agent", instructions: "", tools: [search(log)] })
      const exit = yield* runFor(
        Agent.stream(agent, "Question?").pipe(
          Stream.takeUntil((event) => event._tag === "ToolCallStarted"),
          Stream.runCollect,
          Effect.provide(traced(log, [ScriptedModel.callTools([{ name: "search" }], { delay: "100 millis" })]))
        ),
        100
      )
      assert.isTrue(Exit.isSuccess(exit))
      if (Exit.isSuccess(exit)) assert.strictEqual(tags(exit.value).at(-1), "agent ToolCallStarted")
      assert.deepStrictEqual(yield* Ref.get(log), [
        "agent model stream ended@100",
        "search started@100",
        "search interrupted@100"
      ])
    }))

  it.effect("taking the first text delta interrupts the model stream still sending", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const agent = Agent.make({ name: "agent", instructions: "" })
      const exit = yield* runFor(
        Agent.stream(agent, "Question?").pipe(
          Stream.filter((event) => event._tag === "TextDelta"),
          Stream.take(1),
          Stream.runCollect,
          Effect.provide(traced(log, [ScriptedModel.text("one two three", { chunkDelay: "1 second" })]))
        ),
        1000
      )
      assert.isTrue(Exit.isSuccess(exit))
      if (Exit.isSuccess(exit)) assert.deepStrictEqual(Chunk.toReadonlyArray(exit.value).map((e) => e.timestamp), [1000])
      assert.deepStrictEqual(yield* Ref.get(log), ["agent model stream interrupted@1000"])
    }))

  it.effect("breaking out of for await over Stream.toAsyncIterable interrupts the run before the loop is left", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const leaks = yield* LeakCheck.make
      const agent = Agent.make({ name: "agent", instructions: "", tools: [search(log)] })
      const iterable = yield* leaks.supervise(Stream.toAsyncIterableEffect(
        Agent.stream(agent, "Question?").pipe(
          Stream.provideLayer(traced(log, [ScriptedModel.callTools([{ name: "search" }], { delay: "100 millis" })]))
        )
      ))
      const consumer = yield* Effect.fork(Effect.promise(async () => {
        for await (const event of iterable) {
          if (event._tag === "ToolCallStarted") break
        }
        return "left the loop"
      }))
      yield* TestClock.adjust(100)
      assert.strictEqual(yield* Fiber.join(consumer), "left the loop")
      assert.deepStrictEqual(yield* Ref.get(log), [
        "agent model stream ended@100",
        "search started@100",
        "search interrupted@100"
      ])
      yield* leaks.assertClean
    }))
})

describe("Orchestrate.parallel stopped early", () => {
  it.effect("stopping at the first RunCompleted interrupts the other runs' model and tool calls", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const fast = Agent.make({ name: "fast", instructions: "" })
      const searching = Agent.make({ name: "searching", instructions: "", tools: [search(log)] })
      const thinking = Agent.make({ name: "thinking", instructions: "" })
      const exit = yield* runFor(
        Orchestrate.parallel([fast, searching, thinking], "Question?").pipe(
          Stream.takeUntil((event) => event._tag === "RunCompleted"),
          Stream.runCollect,
          Effect.provide(traced(log, (request) =>
            request.agent === "fast"
              ? ScriptedModel.text("done", { delay: "1 second" })
              : request.agent === "searching"
              ? ScriptedModel.callTools([{ name: "search" }], { delay: "100 millis" })
              : ScriptedModel.text("thought", { delay: "5 seconds" })))
        ),
        1000
      )
      assert.isTrue(Exit.isSuccess(exit))
      if (Exit.isSuccess(exit)) {
        assert.strictEqual(tags(exit.value).at(-1), "fast RunCompleted")
        assert.deepStrictEqual(AgentEvent.invariantViolations(exit.value).length, 1, "search is cut off after its start")
      }
      const entries = yield* Ref.get(log)
      assert.deepStrictEqual(entries.slice(0, 3), ["searching model stream ended@100", "search started@100", "fast model stream ended@1000"])
      assert.sameMembers(entries.slice(3), ["search interrupted@1000", "thinking model stream interrupted@1000"])
    }))

  it.effect("breaking out of for await interrupts every run before the loop is left", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const leaks = yield* LeakCheck.make
      const searching = Agent.make({ name: "searching", instructions: "", tools: [search(log)] })
      const thinking = Agent.make({ name: "thinking", instructions: "" })
      const iterable = yield* leaks.supervise(Stream.toAsyncIterableEffect(
        Orchestrate.parallel([searching, thinking], "Question?").pipe(
          Stream.provideLayer(traced(log, (request) =>
            request.agent === "searching"
              ? ScriptedModel.callTools([{ name: "search" }], { delay: "100 millis" })
              : ScriptedModel.text("thought", { delay: "5 seconds" })))
        )
      ))
      const consumer = yield* Effect.fork(Effect.promise(async () => {
        for await (const event of iterable) {
          if (event._tag === "ToolCallStarted") break
        }
      }))
      yield* TestClock.adjust(100)
      yield* Fiber.join(consumer)
      assert.sameMembers([...(yield* Ref.get(log))], [
        "searching model stream ended@100",
        "search started@100",
        "search interrupted@100",
        "thinking model stream interrupted@100"
      ])
      yield* leaks.assertClean
    }))
})

describe("Orchestrate.asCompleted stopped early", () => {
  it.effect("taking the first result interrupts the runs still going", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const math = Agent.make({ name: "math", instructions: "", tools: [search(log)] })
      const exit = yield* runFor(
        Orchestrate.asCompleted(math, ["quick?", "long?"]).pipe(
          Stream.take(1),
          Stream.runCollect,
          Effect.provide(ScriptedModel.layer(ScriptedModel.byPrompt({
            "quick?": [ScriptedModel.text("quick", { delay: "300 millis" })],
            "long?": [ScriptedModel.callTools([{ name: "search" }], { delay: "100 millis" })]
          })))
        ),
        300
      )
      assert.isTrue(Exit.isSuccess(exit))
      if (Exit.isSuccess(exit)) assert.deepStrictEqual(Chunk.toReadonlyArray(exit.value).map((r) => r.text), ["quick"])
      assert.deepStrictEqual(yield* Ref.get(log), ["search started@100", "search interrupted@300"])
    }))
})
