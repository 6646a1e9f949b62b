/**
 * Races, hedging and as-completed streams: the first success wins and the losers are
 * interrupted (their finalizers have run when the race returns); when everything fails, every
 * failure is reported; results stream in completion order and a consumer that stops early
 * interrupts the rest.
 */
import { Agent, AgentError, Model, Orchestrate, Tool } from "@effect-agents/core"
import { LeakCheck, ScriptedModel } from "@effect-agents/testing"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Chunk, Clock, Effect, Exit, Fiber, Layer, Option, Ref, Schema, Stream, TestClock } from "effect"

type Log = Ref.Ref<ReadonlyArray<string>>

const record = (log: Log, what: string) =>
  Effect.flatMap(Clock.currentTimeMillis, (t) => Ref.update(log, (entries) => [...entries, `${what}@${t}`]))

/** Answer `value` after `millis`, noting the start, the answer and the finalizer. */
const job = <A>(log: Log, name: string, millis: number, value: A) =>
  Effect.gen(function*() {
    yield* record(log, `${name} started`)
    yield* Effect.addFinalizer(() => record(log, `${name} finalized`))
    yield* Effect.sleep(millis)
    yield* record(log, `${name} answered`)
    return value
  }).pipe(Effect.scoped)

const failAfter = (millis: number, error: string) => Effect.zipRight(Effect.sleep(millis), Effect.fail(error))

/** Run under `LeakCheck` in a fiber, driving the virtual clock by `millis`. */
const runFor = <A, E, R>(effect: Effect.Effect<A, E, R>, millis: number) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(LeakCheck.check(effect))
    yield* TestClock.adjust(millis)
    return yield* Fiber.await(fiber)
  })

const failureOf = <E>(exit: Exit.Exit<unknown, E>): E => {
  if (Exit.isSuccess(exit)) throw new Error("expected a failure")
  const failure = Cause.failureOption(exit.cause)
  if (Option.isNone(failure)) throw new Error(`expected a typed failure: ${Cause.pretty(exit.cause)}`)
  return failure.value
}

describe("Orchestrate.race", () => {
  it.effect("the first success wins and the losers' finalizers have run when the race returns", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const exit = yield* runFor(Orchestrate.race([job(log, "slow", 5000, "slow"), job(log, "fast", 1000, "fast")]), 1000)
      assert.deepStrictEqual(exit, Exit.succeed("fast"))
      assert.deepStrictEqual(yield* Ref.get(log), [
        "slow started@0",
        "fast started@0",
        "fast answered@1000",
        "fast finalized@1000",
        "slow finalized@1000"
      ])
    }))

  it.effect("a failure does not win: the race waits for a success", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const exit = yield* runFor(Orchestrate.race([failAfter(200, "broken"), job(log, "ok", 1000, "ok")]), 1000)
      assert.deepStrictEqual(exit, Exit.succeed("ok"))
    }))

  it.effect("when every contender fails, AllFailed holds every failure in input order", () =>
    Effect.gen(function*() {
      const exit = yield* runFor(Orchestrate.race([failAfter(300, "a"), failAfter(100, "b"), Effect.die("c")]), 300)
      const error = failureOf(exit)
      assert.instanceOf(error, Orchestrate.AllFailed)
      assert.strictEqual(error._tag, "AllFailed")
      assert.deepStrictEqual(error.causes.map((c) => Option.getOrUndefined(Cause.failureOption(c))), ["a", "b", undefined])
      assert.deepStrictEqual(Array.from(Cause.defects(error.causes[2])), ["c"])
      assert.include(error.message, "All 3 contenders failed")
    }))

  it.effect("racing agents: the first answer wins and the loser's tool call is interrupted", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const search = Tool.make("search", {
        description: "Search",
        parameters: Schema.Struct({}),
        handler: () => job(log, "search", 10_000, "results")
      })
      const quick = Agent.make({ name: "quick", instructions: "" })
      const thorough = Agent.make({ name: "thorough", instructions: "", tools: [search] })
      const exit = yield* runFor(Orchestrate.race([thorough, quick], "Question?"), 1500)
      assert.isTrue(Exit.isSuccess(exit))
      if (Exit.isFailure(exit)) return
      assert.strictEqual(exit.value.agent, "quick")
      assert.strictEqual(exit.value.text, "quick answer")
      assert.deepStrictEqual(yield* Ref.get(log), ["search started@500", "search finalized@1500"])
    }).pipe(Effect.provide(ScriptedModel.layer((request) =>
      request.agent === "quick"
        ? ScriptedModel.text("quick answer", { delay: "1500 millis" })
        : ScriptedModel.callTools([{ name: "search" }], { delay: "500 millis" })
    ))))

  it.effect("racing agents that all fail reports each run's error", () =>
    Effect.gen(function*() {
      const math = Agent.make({ name: "math", instructions: "" })
      const exit = yield* runFor(Orchestrate.race(math, ["a?", "b?"]), 1000)
      const error = failureOf(exit)
      assert.instanceOf(error, Orchestrate.AllFailed)
      assert.deepStrictEqual(
        error.causes.map((c) => Option.getOrUndefined(Cause.failureOption(c))?._tag),
        ["InvalidRequest", "ContentBlocked"]
      )
    }).pipe(Effect.provide(ScriptedModel.layer(ScriptedModel.byPrompt({
      "a?": [ScriptedModel.fail(new AgentError.InvalidRequest({ detail: "no" }), { delay: "1 second" })],
      "b?": [ScriptedModel.fail(new AgentError.ContentBlocked({ reason: "SAFETY" }), { delay: "200 millis" })]
    })))))
})

describe("Orchestrate.asCompleted", () => {
  it.effect("emits results in completion order, each at its own instant", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const stream = Orchestrate.asCompleted([job(log, "a", 300, "a"), job(log, "b", 100, "b"), job(log, "c", 200, "c")])
      const exit = yield* runFor(
        Stream.runCollect(Stream.mapEffect(stream, (value) => Effect.map(Clock.currentTimeMillis, (t) => `${value}@${t}`))),
        300
      )
      assert.deepStrictEqual(Exit.map(exit, Chunk.toReadonlyArray), Exit.succeed(["b@100", "c@200", "a@300"]))
    }))

  it.effect("a consumer that takes one result interrupts the rest, whose finalizers run", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const stream = Orchestrate.asCompleted([job(log, "a", 300, "a"), job(log, "b", 100, "b"), job(log, "c", 200, "c")])
      const exit = yield* runFor(Stream.runCollect(Stream.take(stream, 1)), 100)
      assert.deepStrictEqual(Exit.map(exit, Chunk.toReadonlyArray), Exit.succeed(["b"]))
      const entries = yield* Ref.get(log)
      assert.includeMembers([...entries], ["a finalized@100", "b answered@100", "c finalized@100"])
      assert.notInclude(entries.join(), "a answered")
    }))

  it.effect("breaking out of a for await loop interrupts the rest (the aclose() guarantee)", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const leaks = yield* LeakCheck.make
      const iterable = yield* leaks.supervise(Stream.toAsyncIterableEffect(
        Orchestrate.asCompleted([job(log, "a", 300, "a"), job(log, "b", 100, "b")])
      ))
      const consumer = yield* Effect.fork(Effect.promise(async () => {
        const seen: Array<string> = []
        for await (const value of iterable) {
          seen.push(value)
          break
        }
        return seen
      }))
      yield* TestClock.adjust(100)
      assert.deepStrictEqual(yield* Fiber.join(consumer), ["b"])
      assert.include((yield* Ref.get(log)).join(), "a finalized@100")
      yield* leaks.assertClean
    }))

  it.effect("agents on several inputs complete in their own order", () =>
    Effect.gen(function*() {
      const math = Agent.make({ name: "math", instructions: "" })
      const exit = yield* runFor(Stream.runCollect(Orchestrate.asCompleted(math, ["slow?", "fast?"])), 1000)
      assert.isTrue(Exit.isSuccess(exit))
      if (Exit.isFailure(exit)) return
      assert.deepStrictEqual(Chunk.toReadonlyArray(exit.value).map((r) => [r.agent, r.text]), [["math#2", "fast"], ["math#1", "slow"]])
    }).pipe(Effect.provide(ScriptedModel.layer(ScriptedModel.byPrompt({
      "slow?": [ScriptedModel.text("slow", { delay: "1 second" })],
      "fast?": [ScriptedModel.text("fast", { delay: "200 millis" })]
    })))))
})

describe("Orchestrate.hedge", () => {
  it.effect("a second copy starts after the delay, the first answer wins and the loser is interrupted", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      let copy = 0
      const call = Effect.suspend(() => {
        copy++
        return copy === 1 ? job(log, "copy 1", 1000, "first") : job(log, `copy ${copy}`, 200, "second")
      })
      const exit = yield* runFor(Orchestrate.hedge(call, { after: "300 millis" }), 500)
      assert.deepStrictEqual(exit, Exit.succeed("second"))
      assert.deepStrictEqual(yield* Ref.get(log), [
        "copy 1 started@0",
        "copy 2 started@300",
        "copy 2 answered@500",
        "copy 2 finalized@500",
        "copy 1 finalized@500"
      ])
    }))

  it.effect("a copy that fails starts the next one at once", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      let copy = 0
      const call = Effect.suspend(() => {
        copy++
        return copy === 1 ? failAfter(100, "flaky") : job(log, `copy ${copy}`, 200, "ok")
      })
      const exit = yield* runFor(call.pipe(Orchestrate.hedge({ after: "1 second", attempts: 3 })), 300)
      assert.deepStrictEqual(exit, Exit.succeed("ok"))
      assert.deepStrictEqual(yield* Ref.get(log), ["copy 2 started@100", "copy 2 answered@300", "copy 2 finalized@300"])
    }))

  it.effect("when every copy fails, AllFailed lists them in start order", () =>
    Effect.gen(function*() {
      let copy = 0
      const call = Effect.suspend(() => failAfter(100, `failure ${++copy}`))
      const exit = yield* runFor(Orchestrate.hedge(call, { after: "1 second", attempts: 3 }), 300)
      const error = failureOf(exit)
      assert.instanceOf(error, Orchestrate.AllFailed)
      assert.deepStrictEqual(error.causes.map((c) => Option.getOrUndefined(Cause.failureOption(c))), [
        "failure 1",
        "failure 2",
        "failure 3"
      ])
    }))
})

describe("Model.withHedging", () => {
  /** The scripted model, wrapped so each model call notes when it starts and when its stream or call is finalized. */
  const traced = (log: Log, script: ScriptedModel.Script) =>
    Layer.effect(
      Model.Model,
      Effect.map(Model.Model, (model): Model.Model.Service => ({
        generate: (request) =>
          Effect.zipRight(record(log, "call"), model.generate(request)).pipe(
            Effect.onExit((exit) => record(log, Exit.isInterrupted(exit) ? "call interrupted" : "call ended"))
          ),
        stream: (request) =>
          Stream.unwrapScoped(Effect.zipRight(
            Effect.zipRight(record(log, "call"), Effect.addFinalizer((exit) => record(log, Exit.isInterrupted(exit) ? "stream interrupted" : "stream ended"))),
            Effect.succeed(model.stream(request))
          ))
      }))
    ).pipe(Layer.provide(ScriptedModel.layer(script)))

  /** The first request of the conversation is slow (2 s), the hedge is fast (200 ms). */
  const slowThenFast = (): ScriptedModel.Script => (_, index) =>
    index === 0 ? ScriptedModel.text("slow answer", { delay: "2 seconds" }) : ScriptedModel.text("hedged answer", { delay: "200 millis" })

  it.effect("a run's model call is hedged: the second copy answers first and the first is interrupted", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const agent = Agent.make({ name: "agent", instructions: "" })
      const exit = yield* runFor(
        Agent.run(agent, "Question?").pipe(
          Effect.provide(traced(log, slowThenFast()).pipe(Model.withHedging({ after: "500 millis" })))
        ),
        700
      )
      assert.isTrue(Exit.isSuccess(exit) && exit.value.text === "hedged answer")
      assert.deepStrictEqual(yield* Ref.get(log), ["call@0", "call@500", "call ended@700", "call interrupted@700"])
    }))

  it.effect("a streamed call is hedged up to its first chunk; the losing stream is closed", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const agent = Agent.make({ name: "agent", instructions: "" })
      const deltas: Array<string> = []
      const exit = yield* runFor(
        Agent.stream(agent, "Question?").pipe(
          Stream.runForEach((event) =>
            Effect.map(Clock.currentTimeMillis, (t) => {
              if (event._tag === "TextDelta") deltas.push(`${event.text}@${t}`)
            })
          ),
          Effect.provide(traced(log, slowThenFast()).pipe(Model.withHedging({ after: "500 millis" })))
        ),
        700
      )
      assert.isTrue(Exit.isSuccess(exit))
      assert.deepStrictEqual(deltas, ["hedged @700", "answer@700"])
      assert.deepStrictEqual(yield* Ref.get(log), ["call@0", "call@500", "stream interrupted@700", "stream ended@700"])
    }))
})
