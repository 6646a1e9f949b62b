/**
 * Limits shared across conversations: `Model.withConcurrency` (a semaphore around model calls),
 * `Model.withRateLimit` (Effect's `RateLimiter`), a tool's process-wide `concurrency`, and the
 * per-run token budget (`policy.maxTokens`). Waiting for a permit is visible as a span.
 */
import { Agent, AgentError, AgentEvent, Model, Orchestrate, Tool } from "@effect-agents/core"
import { LeakCheck, ScriptedModel } from "@effect-agents/testing"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Clock, type Duration, Effect, Exit, Fiber, Layer, Option, Ref, Schema, Stream, TestClock, Tracer } from "effect"

/** A tracer that keeps every span it starts, to read their virtual start and end instants. */
const spanRecorder = Effect.map(Effect.tracer, (native) => {
  const spans: Array<Tracer.Span> = []
  const tracer = Tracer.make({
    span: (...args) => {
      const span = native.span(...args)
      spans.push(span)
      return span
    },
    context: native.context
  })
  return { spans, tracer }
})

const millis = (nanos: bigint) => Number(nanos / 1_000_000n)

const spanTimes = (spans: ReadonlyArray<Tracer.Span>, name: string) =>
  spans.filter((s) => s.name === name).map((s) =>
    s.status._tag === "Ended" ? [millis(s.status.startTime), millis(s.status.endTime)] : [millis(s.status.startTime), -1]
  )

const math = Agent.make({ name: "math", instructions: "Compute." })

/** Every conversation answers after `delay`. */
const answerAfter = (delay: Duration.DurationInput) => ScriptedModel.layer(() => ScriptedModel.text("done", { delay }))

/** Run `Agent.run` for each prompt at once, under `LeakCheck`, driving the clock by `millis`; the instant each run completed, in prompt order. */
const completions = <E, R>(prompts: ReadonlyArray<string>, layer: Layer.Layer<Model.Model, E, R>, millis: number) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(LeakCheck.check(
      Effect.forEach(prompts, (prompt) => Agent.run(math, prompt), { concurrency: "unbounded" }).pipe(Effect.provide(layer))
    ))
    yield* TestClock.adjust(millis)
    const results = yield* Fiber.join(fiber)
    return results.map((r) => r.events.find((e) => e._tag === "RunCompleted")!.timestamp)
  })

const prompts = (n: number) => Array.from({ length: n }, (_, i) => `conversation ${i + 1}`)

describe("Model.withConcurrency", () => {
  it.effect("at most n model calls run at once across conversations", () =>
    Effect.gen(function*() {
      const done = yield* completions(prompts(5), answerAfter("1 second").pipe(Model.withConcurrency(2)), 3000)
      assert.deepStrictEqual(done, [1000, 1000, 2000, 2000, 3000])
    }))

  it.effect("waiting calls are served in arrival order", () =>
    Effect.gen(function*() {
      const done = yield* completions(prompts(4), answerAfter("1 second").pipe(Model.withConcurrency(1)), 4000)
      assert.deepStrictEqual(done, [1000, 2000, 3000, 4000])
    }))

  it.effect("the run asks at once; the wait happens inside the limited model", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(LeakCheck.check(
        Effect.forEach(prompts(2), (p) => Agent.run(math, p), { concurrency: "unbounded" }).pipe(
          Effect.provide(answerAfter("1 second").pipe(Model.withConcurrency(1)))
        )
      ))
      yield* TestClock.adjust(2000)
      const [, second] = yield* Fiber.join(fiber)
      assert.deepStrictEqual(second.events.map((e) => `${e._tag}@${e.timestamp}`), [
        "RunStarted@0",
        "TurnStarted@0",
        "ModelRequested@0",
        "ModelResponded@2000",
        "RunCompleted@2000"
      ])
    }))

  it.effect("waiting for a permit is traced as a Model.waitForPermit span", () =>
    Effect.gen(function*() {
      const { spans, tracer } = yield* spanRecorder
      const fiber = yield* Effect.fork(LeakCheck.check(
        Effect.forEach(prompts(2), (p) => Agent.run(math, p), { concurrency: "unbounded" }).pipe(
          Effect.provide(answerAfter("1 second").pipe(Model.withConcurrency(1))),
          Effect.withTracer(tracer)
        )
      ))
      yield* TestClock.adjust(2000)
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(spanTimes(spans, "Model.waitForPermit"), [[0, 0], [0, 1000]])
      const waited = spans.filter((s) => s.name === "Model.waitForPermit")[1]
      assert.strictEqual(waited.attributes.get("limit"), "concurrency")
      assert.strictEqual(waited.attributes.get("agent"), "math")
    }))

  it.effect("a streamed call holds its permit until its stream ends", () =>
    Effect.gen(function*() {
      const completed: Array<string> = []
      const fiber = yield* Effect.fork(LeakCheck.check(
        Orchestrate.parallel(math, ["a", "b"]).pipe(
          Stream.runForEach((event) =>
            Effect.sync(() => {
              if (event._tag === "RunCompleted") completed.push(`${event.agent}@${event.timestamp}`)
            })
          ),
          Effect.provide(
            ScriptedModel.layer(() => ScriptedModel.text("one two", { chunkDelay: "500 millis" })).pipe(Model.withConcurrency(1))
          )
        )
      ))
      // three chunks 500 ms apart: each stream lasts 1500 ms
      yield* TestClock.adjust(3000)
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(completed, ["math#1@1500", "math#2@3000"])
    }))

  it.effect("a call interrupted while waiting takes no permit with it", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(LeakCheck.check(Effect.gen(function*() {
        const holder = yield* Effect.fork(Agent.run(math, "holder"))
        const impatient = yield* Effect.fork(Effect.timeout(Agent.run(math, "impatient"), "1 second"))
        yield* Effect.sleep("2 seconds")
        const late = yield* Effect.fork(Agent.run(math, "late"))
        const impatientExit = yield* Fiber.await(impatient)
        const [held, arrived] = yield* Fiber.join(Fiber.zip(holder, late))
        return { impatientExit, held, arrived }
      }).pipe(Effect.provide(answerAfter("3 seconds").pipe(Model.withConcurrency(1))))))
      yield* TestClock.adjust(6000)
      const { arrived, held, impatientExit } = yield* Fiber.join(fiber)
      assert.isTrue(Exit.isFailure(impatientExit))
      assert.strictEqual(held.events.at(-1)?.timestamp, 3000)
      assert.strictEqual(arrived.events.at(-1)?.timestamp, 6000, "the late call gets the permit as soon as the holder releases it")
    }))

  it.effect("the layer keeps the other services of the wrapped layer", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(LeakCheck.check(Effect.gen(function*() {
        yield* Agent.run(math, "hello")
        return yield* ScriptedModel.ScriptedModel.pipe(Effect.flatMap((s) => s.requests))
      }).pipe(Effect.provide(answerAfter("1 second").pipe(Model.withConcurrency(3))))))
      yield* TestClock.adjust(1000)
      const requests = yield* Fiber.join(fiber)
      assert.strictEqual(requests.length, 1)
    }))
})

describe("Model.withRateLimit", () => {
  it.effect("token-bucket: a burst of limit calls, then one every interval / limit", () =>
    Effect.gen(function*() {
      const limited = answerAfter("0 millis").pipe(Model.withRateLimit({ limit: 2, interval: "1 second" }))
      const done = yield* completions(prompts(5), limited, 2000)
      assert.deepStrictEqual(done, [0, 0, 500, 1000, 1500])
    }))

  it.effect("fixed-window: at most limit calls per window", () =>
    Effect.gen(function*() {
      const limited = answerAfter("0 millis").pipe(
        Model.withRateLimit({ limit: 2, interval: "1 second", algorithm: "fixed-window" })
      )
      const done = yield* completions(prompts(5), limited, 3000)
      assert.deepStrictEqual(done, [0, 0, 1000, 1000, 2000])
    }))

  it.effect("waiting for a token is traced as a Model.waitForPermit span", () =>
    Effect.gen(function*() {
      const { spans, tracer } = yield* spanRecorder
      const fiber = yield* Effect.fork(LeakCheck.check(
        Effect.forEach(prompts(2), (p) => Agent.run(math, p), { concurrency: "unbounded" }).pipe(
          Effect.provide(answerAfter("0 millis").pipe(Model.withRateLimit({ limit: 1, interval: "1 second" }))),
          Effect.withTracer(tracer)
        )
      ))
      yield* TestClock.adjust(1000)
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(spanTimes(spans, "Model.waitForPermit"), [[0, 0], [0, 1000]])
      assert.strictEqual(spans.find((s) => s.name === "Model.waitForPermit")?.attributes.get("limit"), "rate")
    }))

  it.effect("with withConcurrency outermost, both limits hold", () =>
    Effect.gen(function*() {
      const starts: Array<number> = []
      const inner = Layer.effect(
        Model.Model,
        Effect.map(Model.Model, (model): Model.Model.Service => ({
          generate: (request) =>
            Effect.zipRight(Effect.flatMap(Clock.currentTimeMillis, (t) => Effect.sync(() => starts.push(t))), model.generate(request)),
          stream: (request) => model.stream(request)
        }))
      ).pipe(Layer.provide(answerAfter("2 seconds")))
      const limited = inner.pipe(Model.withRateLimit({ limit: 2, interval: "1 second" }), Model.withConcurrency(3))
      yield* completions(prompts(6), limited, 10_000)
      // 3 at once at most; starts rate-limited to a burst of 2, then one per 500 ms
      assert.deepStrictEqual(starts, [0, 0, 500, 2000, 2000, 2500])
    }))
})

describe("Tool concurrency", () => {
  const NoArgs = Schema.Struct({})

  it.effect("at most n calls of a tool run at once", () =>
    Effect.gen(function*() {
      const lookup = Tool.make("lookup", {
        description: "Slow lookup",
        parameters: NoArgs,
        concurrency: 2,
        handler: () => Effect.as(Effect.sleep("1 second"), "found")
      })
      const agent = Agent.make({ name: "agent", instructions: "", tools: [lookup] })
      const fiber = yield* Effect.fork(LeakCheck.check(Agent.run(agent, "go")))
      yield* TestClock.adjust(3000)
      const result = yield* Fiber.join(fiber)
      const succeeded = result.events.filter((e) => e._tag === "ToolCallSucceeded").map((e) => e.timestamp)
      assert.deepStrictEqual(succeeded, [1000, 1000, 2000, 2000, 3000])
      assert.strictEqual(lookup.concurrency, 2)
    }).pipe(Effect.provide(ScriptedModel.layer([
      ScriptedModel.callTools(Array.from({ length: 5 }, () => ({ name: "lookup" }))),
      ScriptedModel.text("done")
    ]))))

  it.effect("the limit is shared by every run and agent in the process", () =>
    Effect.gen(function*() {
      const lookup = Tool.make("lookup", {
        description: "Slow lookup",
        parameters: NoArgs,
        concurrency: 1,
        handler: () => Effect.as(Effect.sleep("1 second"), "found")
      })
      const first = Agent.make({ name: "first", instructions: "", tools: [lookup] })
      const second = Agent.make({ name: "second", instructions: "", tools: [lookup] })
      const fiber = yield* Effect.fork(LeakCheck.check(
        Effect.all([Agent.run(first, "one"), Agent.run(second, "two")], { concurrency: "unbounded" })
      ))
      yield* TestClock.adjust(4000)
      const results = yield* Fiber.join(fiber)
      const succeeded = results.flatMap((r) => r.events.filter((e) => e._tag === "ToolCallSucceeded").map((e) => e.timestamp))
      assert.deepStrictEqual(succeeded.sort((a, b) => a - b), [1000, 2000, 3000, 4000])
    }).pipe(Effect.provide(ScriptedModel.layer(ScriptedModel.byPrompt({
      one: [ScriptedModel.callTools([{ name: "lookup" }, { name: "lookup" }]), ScriptedModel.text("done")],
      two: [ScriptedModel.callTools([{ name: "lookup" }, { name: "lookup" }]), ScriptedModel.text("done")]
    })))))

  it.effect("a call keeps its slot until its scoped resources are released", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const note = (what: string) => Effect.flatMap(Clock.currentTimeMillis, (t) => Ref.update(log, (l) => [...l, `${what}@${t}`]))
      const connect = Tool.make("connect", {
        description: "Uses a connection",
        scoped: true,
        parameters: Schema.Struct({ id: Schema.Number }),
        concurrency: 1,
        handler: ({ id }) =>
          Effect.gen(function*() {
            yield* Effect.acquireRelease(note(`open ${id}`), () => Effect.zipRight(Effect.sleep("500 millis"), note(`closed ${id}`)))
            yield* Effect.sleep("1 second")
            return id
          })
      })
      const agent = Agent.make({ name: "agent", instructions: "", tools: [connect] })
      const fiber = yield* Effect.fork(LeakCheck.check(Agent.run(agent, "go")))
      yield* TestClock.adjust(3000)
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(yield* Ref.get(log), ["open 1@0", "closed 1@1500", "open 2@1500", "closed 2@3000"])
    }).pipe(Effect.provide(ScriptedModel.layer([
      ScriptedModel.callTools([{ name: "connect", args: { id: 1 } }, { name: "connect", args: { id: 2 } }]),
      ScriptedModel.text("done")
    ]))))

  it.effect("waiting for a slot is traced as a Tool.waitForPermit span", () =>
    Effect.gen(function*() {
      const { spans, tracer } = yield* spanRecorder
      const lookup = Tool.make("lookup", {
        description: "Slow lookup",
        parameters: NoArgs,
        concurrency: 1,
        handler: () => Effect.as(Effect.sleep("1 second"), "found")
      })
      const agent = Agent.make({ name: "agent", instructions: "", tools: [lookup] })
      const fiber = yield* Effect.fork(LeakCheck.check(Agent.run(agent, "go").pipe(Effect.withTracer(tracer))))
      yield* TestClock.adjust(2000)
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(spanTimes(spans, "Tool.waitForPermit"), [[0, 0], [0, 1000]])
      assert.strictEqual(spans.find((s) => s.name === "Tool.waitForPermit")?.attributes.get("tool"), "lookup")
    }).pipe(Effect.provide(ScriptedModel.layer([
      ScriptedModel.callTools([{ name: "lookup" }, { name: "lookup" }]),
      ScriptedModel.text("done")
    ]))))
})

describe("policy.maxTokens", () => {
  const add = Tool.fromSync("add", {
    description: "Add",
    parameters: Schema.Struct({ a: Schema.Number, b: Schema.Number }),
    handler: ({ a, b }) => a + b
  })
  const budgeted = Agent.make({ name: "budgeted", instructions: "", tools: [add], policy: { maxTokens: 100 } })
  const twoTurns = [
    ScriptedModel.callTools([{ name: "add", args: { a: 1, b: 2 } }], { delay: "1 second", usage: { inputTokens: 40, outputTokens: 20 } }),
    ScriptedModel.text("3", { delay: "1 second", usage: { inputTokens: 50, outputTokens: 10 } })
  ]

  it.effect("a run that uses more tokens than its budget fails with BudgetExceeded", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(LeakCheck.check(Agent.run(budgeted, "1 + 2?")))
      yield* TestClock.adjust(2000)
      const exit = yield* Fiber.await(fiber)
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isSuccess(exit)) return
      const failure = Cause.failureOption(exit.cause)
      assert.isTrue(Option.isSome(failure) && failure.value instanceof AgentError.BudgetExceeded, Cause.pretty(exit.cause))
      if (Option.isSome(failure) && failure.value instanceof AgentError.BudgetExceeded) {
        assert.strictEqual(failure.value.used, 120)
        assert.strictEqual(failure.value.maxTokens, 100)
      }
    }).pipe(Effect.provide(ScriptedModel.layer(twoTurns))))

  it.effect("the budget failure is a RunFailed event at the instant the budget was crossed", () =>
    Effect.gen(function*() {
      const events: Array<AgentEvent.AgentEvent> = []
      const fiber = yield* Effect.fork(LeakCheck.check(
        Stream.runForEach(Agent.stream(budgeted, "1 + 2?"), (event) => Effect.sync(() => events.push(event)))
      ))
      yield* TestClock.adjust(2000)
      const exit = yield* Fiber.await(fiber)
      assert.strictEqual(Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause))?._tag : "success", "BudgetExceeded")
      const failed = events.at(-1)
      assert.strictEqual(failed?._tag, "RunFailed")
      assert.strictEqual(failed?.timestamp, 2000)
      if (failed?._tag === "RunFailed") assert.strictEqual(failed.error, "BudgetExceeded")
    }).pipe(Effect.provide(ScriptedModel.layer(twoTurns))))

  it.effect("the budget is per run: concurrent runs each stay within theirs", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(LeakCheck.check(
        Effect.forEach(["a", "b", "c"], (p) => Agent.run(budgeted, p), { concurrency: "unbounded" })
      ))
      yield* TestClock.adjust(2000)
      const results = yield* Fiber.join(fiber)
      assert.deepStrictEqual(results.map((r) => r.usage.totalTokens), [80, 80, 80])
    }).pipe(Effect.provide(ScriptedModel.layer((request) =>
      request.contents.some((c) => c.role === "model")
        ? ScriptedModel.text("3", { delay: "1 second", usage: { inputTokens: 30, outputTokens: 10 } })
        : ScriptedModel.callTools([{ name: "add", args: { a: 1, b: 2 } }], { delay: "1 second", usage: { inputTokens: 30, outputTokens: 10 } })
    ))))
})
