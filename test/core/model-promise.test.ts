/**
 * Promise model calls (`Model.fromPromise`): the run loop calls the Promise function itself and
 * bounds it with `policy.modelTimeout` using one timer and no fiber; the signal is aborted when
 * the call times out or its run is interrupted; rejections are typed with `onError`; traced, the
 * call runs as the Effect it is, in its span.
 */
import { Agent, AgentError, Model, Policy, Tool } from "@effect-agents/core"
import { LeakCheck } from "@effect-agents/testing"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Option, Schedule, Schema, Stream, TestClock } from "effect"
import { ofTag } from "../support/agents.js"
import { counted } from "../support/fibers.js"
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
  it.live("a call and a pure tool call start no fiber: the run waits for the promise in its own fiber", () =>
    Effect.gen(function*() {
      const double = Tool.make("double", {
        description: "Doubles",
        parameters: Schema.Struct({ n: Schema.Number }),
        success: Schema.Number,
        handler: ({ n }) => Effect.succeed(2 * n)
      })
      const { service } = promiseModel((_, n) =>
        Promise.resolve(
          n === 1
            ? { parts: [{ _tag: "FunctionCall", id: "c1", name: "double", args: { n: 2 } }], usage: Model.emptyUsage, finishReason: "tool-calls" }
            : answer("4")
        )
      )
      const withTool = Agent.make({ name: "caller", instructions: "", tools: [double] })
      const [result, started] = yield* counted(Agent.run(withTool, "go")).pipe(Effect.provideService(Model.Model, service))
      assert.strictEqual(result.text, "4")
      assert.strictEqual(started, 0)
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

  it.effect("interrupting the run aborts the call's signal at once, and no fiber outlives it", () =>
    Effect.gen(function*() {
      const { service, signals } = promiseModel(never)
      const fiber = yield* Effect.fork(LeakCheck.check(Agent.run(agent(), "go").pipe(Effect.provideService(Model.Model, service))))
      yield* TestClock.adjust(500)
      assert.isFalse(signals[0]!.aborted)
      yield* Fiber.interrupt(fiber)
      assert.isTrue(signals[0]!.aborted)
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
