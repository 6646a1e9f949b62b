/**
 * `FaultInjection`: seeded faults on a model or a tool, deterministic under `TestClock`.
 */
import { assert, describe, it } from "@effect/vitest"
import { AgentError, Model, Tool } from "@effect-agents/core"
import { FaultInjection, ScriptedModel } from "@effect-agents/testing"
import { Cause, Chunk, Duration, Effect, Exit, Fiber, Layer, Option, Schema, Stream, TestClock } from "effect"

const request: Model.ModelRequest = { agent: "test", contents: [{ role: "user", parts: [{ _tag: "Text", text: "hi" }] }], tools: [] }

const plans = (injector: FaultInjection.Injector, n: number) =>
  Effect.replicateEffect(injector.plan, n)

const firedCalls = (injector: FaultInjection.Injector) => Effect.map(injector.fired, (fired) => fired.map((f) => f.call))

/** A scripted model (always answering "hello world again") wrapped with `faults`. */
const faulty = (faults: ReadonlyArray<FaultInjection.Fault<AgentError.ModelError>>, seed = 1) =>
  FaultInjection.model(faults, { seed }).pipe(
    Layer.provideMerge(ScriptedModel.layer(() => ScriptedModel.text("hello world again")))
  )

const generate = Effect.flatMap(Model.Model, (model) => model.generate(request))

const failureOf = <A, E>(exit: Exit.Exit<A, E>) =>
  Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined

describe("FaultInjection", () => {
  describe("triggers", () => {
    it.effect("a fault with call numbers fires on those calls only", () =>
      Effect.gen(function*() {
        const injector = FaultInjection.make([FaultInjection.unavailable({ calls: [2, 4] })])
        yield* plans(injector, 5)
        assert.deepStrictEqual(yield* firedCalls(injector), [2, 4])
        assert.strictEqual(yield* injector.calls, 5)
      }))

    it.effect("a fault with a predicate over the call number fires where it holds", () =>
      Effect.gen(function*() {
        const injector = FaultInjection.make([FaultInjection.hang({ calls: (n) => n % 3 === 0 })])
        yield* plans(injector, 10)
        assert.deepStrictEqual(yield* firedCalls(injector), [3, 6, 9])
      }))

    it.effect("the same seed fires the same faults on the same calls", () =>
      Effect.gen(function*() {
        const faults = [FaultInjection.fail({ probability: 0.3 })]
        const first = FaultInjection.make(faults, { seed: 7 })
        const second = FaultInjection.make(faults, { seed: 7 })
        yield* plans(first, 200)
        yield* plans(second, 200)
        const calls = yield* firedCalls(first)
        assert.deepStrictEqual(yield* firedCalls(second), calls)
        assert.isAbove(calls.length, 0)
      }))

    it.effect("another seed fires on other calls", () =>
      Effect.gen(function*() {
        const faults = [FaultInjection.fail({ probability: 0.3 })]
        const first = FaultInjection.make(faults, { seed: 7 })
        const other = FaultInjection.make(faults, { seed: 8 })
        yield* plans(first, 200)
        yield* plans(other, 200)
        assert.notDeepEqual(yield* firedCalls(other), yield* firedCalls(first))
      }))

    it.effect("a 10% probability fires on close to 10% of 10,000 calls", () =>
      Effect.gen(function*() {
        const injector = FaultInjection.make([FaultInjection.unavailable({ probability: 0.1 })], { seed: 3 })
        yield* plans(injector, 10_000)
        const fired = (yield* injector.fired).length
        assert.isAtLeast(fired, 900)
        assert.isAtMost(fired, 1100)
      }))

    it.effect("reset forgets the calls and replays the same seeded sequence", () =>
      Effect.gen(function*() {
        const injector = FaultInjection.make([FaultInjection.fail({ probability: 0.5 })], { seed: 11 })
        yield* plans(injector, 50)
        const before = yield* firedCalls(injector)
        yield* injector.reset
        assert.strictEqual(yield* injector.calls, 0)
        yield* plans(injector, 50)
        assert.deepStrictEqual(yield* firedCalls(injector), before)
      }))

    it.effect("oneOf picks each of its faults with the seeded Random", () =>
      Effect.gen(function*() {
        const injector = FaultInjection.make([
          FaultInjection.oneOf([FaultInjection.fail(), FaultInjection.defect(), FaultInjection.hang()], { probability: 0.5 })
        ], { seed: 5 })
        yield* plans(injector, 600)
        const fired = yield* injector.fired
        const counts = { fail: 0, defect: 0, hang: 0 } as Record<string, number>
        for (const f of fired) counts[f.kind]++
        assert.isAtLeast(fired.length, 250)
        assert.isAtMost(fired.length, 350)
        for (const kind of ["fail", "defect", "hang"]) assert.isAtLeast(counts[kind], 70, kind)
      }))
  })

  describe("composition", () => {
    it.effect("latencies that fire on one call add up and the first ending fault wins", () =>
      Effect.gen(function*() {
        const injector = FaultInjection.make([
          FaultInjection.latency("1 second"),
          FaultInjection.fail({ calls: [1] }),
          FaultInjection.latency("500 millis"),
          FaultInjection.unavailable({ calls: [1] })
        ])
        const plan = yield* injector.plan
        assert.strictEqual(Duration.toMillis(plan.delay), 1500)
        assert.strictEqual(plan.fault?._tag, "Fail")
        assert.deepStrictEqual((yield* injector.fired).map((f) => `${f.kind} ${f.detail}`), [
          "latency +1s",
          "fail typed failure",
          "latency +500ms"
        ])
      }))

    it.effect("a uniform latency is drawn between its bounds", () =>
      Effect.gen(function*() {
        const injector = FaultInjection.make([FaultInjection.latency(FaultInjection.uniform("100 millis", "300 millis"))], { seed: 2 })
        const delays = (yield* plans(injector, 500)).map((p) => Duration.toMillis(p.delay))
        assert.isAtLeast(Math.min(...delays), 100)
        assert.isAtMost(Math.max(...delays), 300)
        assert.isAbove(new Set(delays).size, 50)
      }))

    it.effect("an exponential latency is capped at its maximum", () =>
      Effect.gen(function*() {
        const injector = FaultInjection.make([FaultInjection.latency(FaultInjection.exponential("1 second", "3 seconds"))], { seed: 2 })
        const delays = (yield* plans(injector, 2000)).map((p) => Duration.toMillis(p.delay))
        assert.strictEqual(Math.max(...delays), 3000)
        const mean = delays.reduce((a, b) => a + b, 0) / delays.length
        assert.isAbove(mean, 700)
        assert.isBelow(mean, 1000)
      }))
  })

  describe("a model", () => {
    it.effect("a latency fault delays the answer by exactly its duration on the Clock", () =>
      Effect.gen(function*() {
        const fiber = yield* Effect.fork(generate)
        yield* TestClock.adjust("1499 millis")
        assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)))
        yield* TestClock.adjust("1 millis")
        const response = yield* Fiber.join(fiber)
        assert.deepStrictEqual(response.parts, [{ _tag: "Text", text: "hello world again" }])
      }).pipe(Effect.provide(faulty([FaultInjection.latency("1500 millis")]))))

    it.effect("a typed failure fails with InvalidRequest (400) by default", () =>
      Effect.gen(function*() {
        const error = failureOf(yield* Effect.exit(generate))
        assert.instanceOf(error, AgentError.InvalidRequest)
        assert.strictEqual(error?.message, "The model rejected the request as invalid (HTTP 400): injected failure on model call 1")
      }).pipe(Effect.provide(faulty([FaultInjection.fail()]))))

    it.effect("a typed failure can raise the error it is given", () =>
      Effect.gen(function*() {
        const error = failureOf(yield* Effect.exit(generate))
        assert.deepStrictEqual(error, new AgentError.ContentBlocked({ reason: "SAFETY" }))
      }).pipe(Effect.provide(faulty([FaultInjection.fail({ error: new AgentError.ContentBlocked({ reason: "SAFETY" }) })]))))

    it.effect("a 429 fails with RateLimited carrying the retry delay", () =>
      Effect.gen(function*() {
        const error = failureOf(yield* Effect.exit(generate))
        assert.instanceOf(error, AgentError.RateLimited)
        assert.strictEqual(
          error?.message,
          "The model rate-limited the request (429); the server asks to retry in 2s. Injected on model call 1."
        )
      }).pipe(Effect.provide(faulty([FaultInjection.rateLimited({ retryAfter: "2 seconds" })]))))

    it.effect("a 503 fails with a retryable ModelUnavailable", () =>
      Effect.gen(function*() {
        const error = failureOf(yield* Effect.exit(generate))
        assert.instanceOf(error, AgentError.ModelUnavailable)
        assert.strictEqual((error as AgentError.ModelUnavailable).status, 503)
        assert.isTrue(error?.retryable)
      }).pipe(Effect.provide(faulty([FaultInjection.unavailable()]))))

    it.effect("a defect dies with InjectedDefect", () =>
      Effect.gen(function*() {
        const exit = yield* Effect.exit(generate)
        assert.isTrue(Exit.isFailure(exit) && Cause.isDie(exit.cause))
        if (Exit.isFailure(exit)) assert.instanceOf(Cause.squash(exit.cause), FaultInjection.InjectedDefect)
      }).pipe(Effect.provide(faulty([FaultInjection.defect()]))))

    it.effect("a hang never answers until interrupted", () =>
      Effect.gen(function*() {
        const fiber = yield* Effect.fork(generate)
        yield* TestClock.adjust("1 hour")
        assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)))
        const exit = yield* Fiber.interrupt(fiber)
        assert.isTrue(Exit.isInterrupted(exit))
      }).pipe(Effect.provide(faulty([FaultInjection.hang()]))))

    it.effect("a stream cut on a non-streamed call does the work, then loses the answer", () =>
      Effect.gen(function*() {
        const error = failureOf(yield* Effect.exit(generate))
        assert.instanceOf(error, AgentError.ModelUnavailable)
        assert.strictEqual((yield* ScriptedModel.ScriptedModel.pipe(Effect.flatMap((m) => m.requests))).length, 1)
      }).pipe(Effect.provide(faulty([FaultInjection.streamCut()]))))

    it.effect("a stream cut delivers the first chunks of a streamed answer, then fails", () =>
      Effect.gen(function*() {
        const model = yield* Model.Model
        const chunks: Array<Model.ModelChunk> = []
        const exit = yield* Effect.exit(Stream.runForEach(model.stream(request), (chunk) => Effect.sync(() => chunks.push(chunk))))
        assert.deepStrictEqual(chunks.map((c) => c.parts), [[{ _tag: "Text", text: "hello " }], [{ _tag: "Text", text: "world " }]])
        const error = failureOf(exit)
        assert.instanceOf(error, AgentError.ModelUnavailable)
        assert.strictEqual(
          error?.message,
          "The model is unavailable: the stream was cut after 2 chunk(s) (injected on model call 1)"
        )
      }).pipe(Effect.provide(faulty([FaultInjection.streamCut({ afterChunks: 2 })]))))

    it.effect("a malformed answer has no parts", () =>
      Effect.gen(function*() {
        const response = yield* generate
        assert.deepStrictEqual(response.parts, [])
        assert.strictEqual(response.finishReason, "other")
      }).pipe(Effect.provide(faulty([FaultInjection.malformed()]))))

    it.effect("a malformed streamed answer is one chunk without parts", () =>
      Effect.gen(function*() {
        const model = yield* Model.Model
        const chunks = yield* Stream.runCollect(model.stream(request))
        assert.deepStrictEqual(Chunk.toReadonlyArray(chunks).map((c) => c.parts), [[]])
      }).pipe(Effect.provide(faulty([FaultInjection.malformed()]))))

    it.effect("the injector of a model layer records what fired, with the Clock instant", () =>
      Effect.gen(function*() {
        yield* Effect.exit(generate)
        yield* TestClock.adjust("10 seconds")
        yield* Effect.exit(generate)
        const fired = yield* Effect.flatMap(FaultInjection.ModelFaults, (faults) => faults.fired)
        assert.deepStrictEqual(fired, [
          { target: "model", call: 1, kind: "unavailable", at: 0, detail: "503" },
          { target: "model", call: 2, kind: "unavailable", at: 10_000, detail: "503" }
        ])
      }).pipe(Effect.provide(faulty([FaultInjection.unavailable()]))))
  })

  describe("any effect", () => {
    it.effect("inject makes each run of an effect one call of the injector", () =>
      Effect.gen(function*() {
        const injector = FaultInjection.make([FaultInjection.unavailable({ calls: [2] })], { target: "db" })
        const query = Effect.succeed([1, 2, 3]).pipe(FaultInjection.inject(injector))
        const exits = yield* Effect.replicateEffect(Effect.exit(query), 3)
        assert.deepStrictEqual(exits.map((e) => e._tag), ["Success", "Failure", "Success"])
        assert.strictEqual(failureOf(exits[1])?.message, `Injected 503 on call 2 of "db": service unavailable.`)
      }))

    it.effect("a typed failure raises the error it is given, typed", () =>
      Effect.gen(function*() {
        class Busy extends Schema.TaggedError<Busy>()("Busy", {}) {}
        const injector = FaultInjection.make([FaultInjection.fail({ error: new Busy() })])
        const exit = yield* Effect.exit(Effect.succeed(1).pipe(FaultInjection.inject(injector)))
        const error = failureOf(exit)
        assert.instanceOf(error, Busy)
      }))
  })

  describe("a tool", () => {
    const resources = { acquired: 0, released: 0 }
    const lookup = Tool.make("lookup", {
      description: "Look a word up",
      scoped: true,
      parameters: Schema.Struct({ word: Schema.String }),
      success: Schema.Number,
      timeout: "5 seconds",
      onFailure: "report",
      handler: ({ word }) =>
        Effect.acquireRelease(Effect.sync(() => resources.acquired++), () => Effect.sync(() => resources.released++)).pipe(
          Effect.as(word.length)
        )
    })

    it("keeps the tool's name, Schemas, timeout and onFailure", () => {
      const wrapped = FaultInjection.tool(lookup, [FaultInjection.fail()])
      assert.strictEqual(wrapped.name, "lookup")
      assert.strictEqual(wrapped.declaration, lookup.declaration)
      assert.strictEqual(Duration.toMillis(wrapped.timeout!), 5000)
      assert.strictEqual(wrapped.onFailure, "report")
      assert.isTrue(Tool.isTool(wrapped))
    })

    it.effect("a 429 fails before the handler runs, with an InjectedFailure", () =>
      Effect.gen(function*() {
        const wrapped = FaultInjection.tool(lookup, [FaultInjection.rateLimited({ retryAfter: "1 second" })])
        const before = resources.acquired
        const exit = yield* Effect.exit(Effect.scoped(wrapped.handler({ word: "abc" })))
        const error = failureOf(exit)
        assert.instanceOf(error, FaultInjection.InjectedFailure)
        assert.strictEqual(error?.message, `Injected 429 on call 1 of "lookup": rate limited, retry in 1s.`)
        assert.strictEqual(resources.acquired, before)
      }))

    it.effect("a stream cut runs the handler, releases its resources, then fails", () =>
      Effect.gen(function*() {
        const wrapped = FaultInjection.tool(lookup, [FaultInjection.streamCut()])
        const before = { ...resources }
        const error = failureOf(yield* Effect.exit(Effect.scoped(wrapped.handler({ word: "abc" }))))
        assert.strictEqual((error as FaultInjection.InjectedFailure).kind, "stream-cut")
        assert.strictEqual(resources.acquired, before.acquired + 1)
        assert.strictEqual(resources.released, before.released + 1)
      }))

    it.effect("a malformed result replaces the handler's value", () =>
      Effect.gen(function*() {
        const wrapped = FaultInjection.tool(lookup, [FaultInjection.malformed({ value: "not a number" })])
        assert.strictEqual(yield* Effect.scoped(wrapped.handler({ word: "abc" })), "not a number" as unknown as number)
      }))

    it.effect("the tool's injector records each call and what fired on it", () =>
      Effect.gen(function*() {
        const wrapped = FaultInjection.tool(lookup, [FaultInjection.fail({ calls: [2] }), FaultInjection.latency("1 second", { calls: [3] })])
        const fiber = yield* Effect.fork(Effect.replicateEffect(Effect.exit(Effect.scoped(wrapped.handler({ word: "abc" }))), 3))
        yield* TestClock.adjust("1 second")
        const exits = yield* Fiber.join(fiber)
        assert.deepStrictEqual(exits.map((e) => e._tag), ["Success", "Failure", "Success"])
        assert.deepStrictEqual(yield* wrapped.faults.fired, [
          { target: "lookup", call: 2, kind: "fail", at: 0, detail: "typed failure" },
          { target: "lookup", call: 3, kind: "latency", at: 0, detail: "+1s" }
        ])
      }))
  })
})
