/**
 * Promise model calls (`Model.fromPromise`): the run loop calls the Promise function itself and
 * bounds it with `policy.modelTimeout` using one timer and no fiber; the signal is aborted when
 * the call times out or its run is interrupted; rejections are typed with `onError`; traced, the
 * call runs as the Effect it is, in its span.
 */
import { Agent, AgentError, Model, Policy } from "@effect-agents/core"
import { LeakCheck } from "@effect-agents/testing"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Option, Schedule, Stream, TestClock } from "effect"
import { ofTag } from "../support/agents.js"
import { type RecordedSpan, recordingTracer } from "../support/tracing.js"

const answer = (text: string): Model.ModelResponse => ({
  parts: [{ _tag: "Text", text }],
  usage: Model.emptyUsage,
  finishReason: "stop"
})

const unavailable = (cause: unknown) => new AgentError.ModelUnavailable({ status: 503, detail: String(cause) })

/** A model whose calls are `evaluate`, made with `Model.fromPromise`; every signal it was given is kept. */
const promiseModel = (evaluate: (signal: AbortSignal, n: number) => PromiseLike<Model.ModelResponse>, options?: { readonly span?: string }) => {
  const signals: Array<AbortSignal> = []
  const service: Model.Model.Service = {
    generate: () =>
      Model.fromPromise((signal) => {
        signals.push(signal)
        return evaluate(signal, signals.length)
      }, unavailable, options),
    stream: () => Stream.die("not streamed")
  }
  return { service, signals }
}

/** A promise that never settles. */
const never = () => new Promise<never>(() => {})

const agent = (policy: Policy.Options = {}) =>
  Agent.make({ name: "caller", instructions: "", policy: { modelRetry: Schedule.stop, ...policy } })

describe("Model.fromPromise calls", () => {
  it.effect("while a call waits, the only fiber under the run is its timeout's sleep on the clock; wrapped, the call runs in a fiber of its own beside it", () =>
    Effect.gen(function*() {
      /** The fibers alive under the run while its call waits (the call answers once they are counted). */
      const liveWhileWaiting = (wrapped: boolean) =>
        Effect.gen(function*() {
          let release!: (response: Model.ModelResponse) => void
          const service: Model.Model.Service = {
            generate: () => {
              const call = Model.fromPromise(() => new Promise<Model.ModelResponse>((resolve) => release = resolve), unavailable)
              return wrapped ? Effect.map(call, (response) => response) : call
            },
            stream: () => Stream.die("not streamed")
          }
          const leaks = yield* LeakCheck.make
          const fiber = yield* Effect.fork(leaks.supervise(Agent.run(agent(), "go").pipe(Effect.provideService(Model.Model, service))))
          yield* TestClock.adjust(1000)
          const live = (yield* leaks.live).length
          release(answer("ok"))
          assert.strictEqual((yield* Fiber.join(fiber)).text, "ok")
          yield* leaks.assertClean
          return live
        })
      // on Effect's default clock the timer is a `setTimeout`: no fiber at all
      assert.strictEqual(yield* liveWhileWaiting(false), 1)
      assert.strictEqual(yield* liveWhileWaiting(true), 2)
    }))

  it.effect("a call that does not answer within modelTimeout fails with ModelTimeout at exactly that instant, its signal aborted", () =>
    Effect.gen(function*() {
      const { service, signals } = promiseModel(never)
      const fiber = yield* Effect.fork(
        LeakCheck.check(Agent.run(agent({ modelTimeout: "2 seconds" }), "go").pipe(Effect.provideService(Model.Model, service)))
      )
      yield* TestClock.adjust(1999)
      assert.isNull(fiber.unsafePoll())
      assert.isFalse(signals[0]!.aborted)
      yield* TestClock.adjust(1)
      const exit = yield* Fiber.await(fiber)
      assert.isTrue(signals[0]!.aborted)
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isSuccess(exit)) return
      const failure = Cause.failureOption(exit.cause)
      assert.isTrue(Option.isSome(failure) && failure.value instanceof AgentError.ModelTimeout, Cause.pretty(exit.cause))
    }))

  it.effect("an answer that arrives after the timeout is ignored: the attempt stays timed out and the retry is a call of its own", () =>
    Effect.gen(function*() {
      const releases: Array<(response: Model.ModelResponse) => void> = []
      const { service, signals } = promiseModel(() => new Promise((resolve) => releases.push(resolve)))
      const policy = { modelTimeout: "1 second", modelRetry: Schedule.spaced("100 millis").pipe(Schedule.intersect(Schedule.recurs(1))) } as const
      const fiber = yield* Effect.fork(LeakCheck.check(Agent.run(agent(policy), "go").pipe(Effect.provideService(Model.Model, service))))
      yield* TestClock.adjust(1000)
      releases[0]!(answer("late"))
      yield* TestClock.adjust(100)
      assert.strictEqual(signals.length, 2)
      releases[1]!(answer("on time"))
      const result = yield* Fiber.join(fiber)
      assert.strictEqual(result.text, "on time")
      assert.deepStrictEqual(ofTag(result.events, "RetryScheduled").map((e) => [e.error, e.timestamp]), [["ModelTimeout", 1000]])
    }))

  it.effect("a Promise function that declares no parameter is given no signal", () =>
    Effect.gen(function*() {
      const given: Array<unknown> = []
      const service: Model.Model.Service = {
        generate: () =>
          Model.fromPromise(function(this: unknown) {
            given.push(...arguments)
            return Promise.resolve(answer("ok"))
          }, unavailable),
        stream: () => Stream.die("not streamed")
      }
      const result = yield* LeakCheck.check(Agent.run(agent(), "go").pipe(Effect.provideService(Model.Model, service)))
      assert.strictEqual(result.text, "ok")
      assert.deepStrictEqual(given, [undefined])
    }))

  it.effect("interrupting the run aborts the call's signal at once, and no fiber outlives it", () =>
    Effect.gen(function*() {
      const { service, signals } = promiseModel(never)
      const leaks = yield* LeakCheck.make
      const fiber = yield* Effect.fork(leaks.supervise(Agent.run(agent(), "go").pipe(Effect.provideService(Model.Model, service))))
      yield* TestClock.adjust(500)
      assert.isFalse(signals[0]!.aborted)
      yield* Fiber.interrupt(fiber)
      assert.isTrue(signals[0]!.aborted)
      yield* leaks.assertClean
    }))

  it.effect("a rejection is failed with onError; a retryable one is retried on the schedule, each attempt a call of its own", () =>
    Effect.gen(function*() {
      const { service, signals } = promiseModel((_, n) => n === 1 ? Promise.reject(new Error("overloaded")) : Promise.resolve(answer("ok")))
      const fiber = yield* Effect.fork(
        LeakCheck.check(Agent.run(agent({ modelRetry: Schedule.spaced("100 millis") }), "go").pipe(Effect.provideService(Model.Model, service)))
      )
      yield* TestClock.adjust(100)
      const result = yield* Fiber.join(fiber)
      assert.strictEqual(result.text, "ok")
      assert.strictEqual(signals.length, 2)
      const [retry] = ofTag(result.events, "RetryScheduled")
      assert.deepStrictEqual([retry!.error, retry!.message, retry!.timestamp], [
        "ModelUnavailable",
        "The model is unavailable (HTTP 503): Error: overloaded",
        0
      ])
    }))

  it.effect("a function that throws instead of returning a promise fails the same way as one that rejects", () =>
    Effect.gen(function*() {
      const { service } = promiseModel(() => {
        throw new Error("no socket")
      })
      const exit = yield* Effect.exit(LeakCheck.check(Agent.run(agent(), "go").pipe(Effect.provideService(Model.Model, service))))
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isSuccess(exit)) return
      const failure = Cause.failureOption(exit.cause)
      assert.isTrue(Option.isSome(failure) && failure.value instanceof AgentError.ModelUnavailable)
      assert.include(String(Option.getOrThrow(failure)), "no socket")
    }))

  it.effect("an onError that throws is a defect of the run, as with Effect.tryPromise", () =>
    Effect.gen(function*() {
      const service: Model.Model.Service = {
        generate: () =>
          Model.fromPromise(() => Promise.reject(new Error("refused")), (): AgentError.ModelError => {
            throw new Error("onError broke")
          }),
        stream: () => Stream.die("not streamed")
      }
      const exit = yield* Effect.exit(LeakCheck.check(Agent.run(agent(), "go").pipe(Effect.provideService(Model.Model, service))))
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isSuccess(exit)) return
      const defect = Cause.dieOption(exit.cause)
      assert.isTrue(Option.isSome(defect) && defect.value instanceof Error && defect.value.message === "onError broke", Cause.pretty(exit.cause))
    }))

  it.effect("with an exporting tracer the call runs as its Effect, inside its own span under the model call's span", () =>
    Effect.gen(function*() {
      const spans: Array<RecordedSpan> = []
      const { service } = promiseModel(() => Promise.resolve(answer("ok")), { span: "Provider.generate" })
      const result = yield* LeakCheck.check(Agent.run(agent(), "go")).pipe(
        Effect.withTracer(recordingTracer(spans)),
        Effect.provideService(Model.Model, service)
      )
      assert.strictEqual(result.text, "ok")
      assert.deepStrictEqual(spans.map((span) => span.name), ["invoke_agent caller", "chat", "Provider.generate"])
      const chat = spans[1] as unknown as { spanId: string }
      assert.strictEqual(Option.getOrThrow(spans[2]!.parent).spanId, chat.spanId)
    }))

  it.effect("wrapped in anything (here a concurrency limit), the call runs as the Effect it is", () =>
    Effect.gen(function*() {
      const { service, signals } = promiseModel(() => Promise.resolve(answer("ok")))
      const result = yield* LeakCheck.check(Agent.run(agent(), "go")).pipe(
        Effect.provide(Model.withConcurrency(Model.layer(service), 1))
      )
      assert.strictEqual(result.text, "ok")
      assert.strictEqual(signals.length, 1)
    }))
})
