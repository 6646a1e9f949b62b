/**
 * Finish reasons are honest (issue 12, point 3): an answer without answer parts and a function
 * call the model could not form are retried on `policy.modelRetry`, then fail with
 * `UnusableResponse`; `MAX_TOKENS` after partial output fails with `OutputTruncated`; filter
 * finishes are `ContentBlocked` with their reason; Gemini's `finishMessage` is in every error.
 * Unary and streamed alike, through the real SDK.
 */
import { Agent, type AgentError, Model } from "@effect-agents/core"
import { GeminiEmulator } from "@effect-agents/gemini"
import { LeakCheck } from "@effect-agents/testing"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Schedule, Stream } from "effect"
import { ofTag, request, withEmulator } from "./fixtures.js"

/** No tools, so an answer is one request; three retries 10 ms apart. */
const chat = Agent.make({
  name: "chat",
  instructions: "Answer briefly.",
  policy: { modelRetry: Schedule.spaced("10 millis").pipe(Schedule.intersect(Schedule.recurs(3))) }
})

const modes = ["unary", "streamed"] as const
type Mode = typeof modes[number]

/**
 * A run of `chat` in `mode`: its exit, and the `RetryScheduled` errors seen on the way (a failed
 * `Agent.run` returns no events: for it, count the requests the emulator received).
 */
const runChat = (mode: Mode) =>
  Effect.gen(function*() {
    const retries: Array<string> = []
    const exit = yield* Effect.exit(LeakCheck.check(
      mode === "unary"
        ? Effect.tap(Agent.run(chat, "Hi"), (result) =>
          Effect.sync(() => retries.push(...ofTag(result.events, "RetryScheduled").map((e) => e.error))))
        : Effect.flatMap(
          Stream.runCollect(Stream.tap(Agent.stream(chat, "Hi"), (event) =>
            Effect.sync(() => {
              if (event._tag === "RetryScheduled") retries.push(event.error)
            }))),
          () => Effect.succeed(undefined)
        )
    ))
    return { exit, retries }
  })

const failureOf = (exit: Exit.Exit<unknown, unknown>): AgentError.AgentError => {
  assert.isTrue(Exit.isFailure(exit), "the run should have failed")
  const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : undefined
  assert.isTrue(failure?._tag === "Some", "the run should have failed with a typed error")
  return (failure as { readonly value: AgentError.AgentError }).value
}

describe("Gemini finish reasons", () => {
  for (const mode of modes) {
    it.live(`${mode}: an empty candidate is retried and the next answer is used`, () =>
      withEmulator([GeminiEmulator.finish("STOP"), GeminiEmulator.text("Hello")], (emulator) =>
        Effect.gen(function*() {
          const { exit, retries } = yield* runChat(mode)
          assert.isTrue(Exit.isSuccess(exit))
          assert.deepStrictEqual(retries, ["UnusableResponse"])
          assert.strictEqual((yield* emulator.requests).length, 2)
        })))

    it.live(`${mode}: MALFORMED_FUNCTION_CALL is retried a bounded number of times, then fails typed with the finishMessage`, () =>
      withEmulator(
        () => GeminiEmulator.finish("MALFORMED_FUNCTION_CALL", { finishMessage: "Malformed function call: add(a=2," }),
        (emulator) =>
          Effect.gen(function*() {
            const { exit, retries } = yield* runChat(mode)
            const error = failureOf(exit)
            assert.strictEqual(error._tag, "UnusableResponse")
            assert.include(error.message, "MALFORMED_FUNCTION_CALL")
            assert.include(error.message, "Malformed function call: add(a=2,")
            if (mode === "streamed") assert.deepStrictEqual(retries, ["UnusableResponse", "UnusableResponse", "UnusableResponse"])
            assert.strictEqual((yield* emulator.requests).length, 4)
          })
      ))

    it.live(`${mode}: a token limit spent thinking is an empty answer, retried, and says so`, () =>
      withEmulator(
        () =>
          GeminiEmulator.finish("MAX_TOKENS", { thoughts: ["Thinking hard."], usage: { outputTokens: 0, thoughtsTokens: 1024 } }),
        (emulator) =>
          Effect.gen(function*() {
            const { exit } = yield* runChat(mode)
            const error = failureOf(exit)
            assert.strictEqual(error._tag, "UnusableResponse")
            assert.include(error.message, "1024 thinking tokens")
            assert.include(error.message, "maxOutputTokens")
            assert.strictEqual((yield* emulator.requests).length, 4)
          })
      ))

    it.live(`${mode}: MAX_TOKENS after partial text fails with OutputTruncated, without a retry`, () =>
      withEmulator([
        GeminiEmulator.finish("MAX_TOKENS", { text: ["The answer ", "is"], finishMessage: "Output limit reached." }),
        GeminiEmulator.text("never sent")
      ], (emulator) =>
        Effect.gen(function*() {
          const { exit, retries } = yield* runChat(mode)
          const error = failureOf(exit)
          assert.strictEqual(error._tag, "OutputTruncated")
          assert.strictEqual(error._tag === "OutputTruncated" ? error.partialText : "", "The answer is")
          assert.include(error.message, "Output limit reached.")
          assert.include(error.message, "maxOutputTokens")
          assert.deepStrictEqual(retries, [])
          assert.strictEqual((yield* emulator.requests).length, 1)
        })))

    for (const reason of ["SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY", "IMAGE_OTHER"]) {
      it.live(`${mode}: a ${reason} finish is ContentBlocked with the reason and the finishMessage, not retried`, () =>
        withEmulator([
          GeminiEmulator.finish(reason, {
            finishMessage: `Stopped for ${reason}.`,
            safetyRatings: [{ category: "HARM_CATEGORY_DANGEROUS_CONTENT" as never, probability: "HIGH" as never, blocked: true }]
          }),
          GeminiEmulator.text("never sent")
        ], (emulator) =>
          Effect.gen(function*() {
            const { exit } = yield* runChat(mode)
            const error = failureOf(exit)
            assert.strictEqual(error._tag, "ContentBlocked")
            assert.strictEqual(
              error._tag === "ContentBlocked" ? error.reason : "",
              `response stopped: ${reason} (HARM_CATEGORY_DANGEROUS_CONTENT): Stopped for ${reason}.`
            )
            assert.strictEqual((yield* emulator.requests).length, 1)
          })))
    }
  }

  it.live("a blocked prompt's blockReasonMessage is part of ContentBlocked", () =>
    withEmulator([GeminiEmulator.blocked("OTHER", { message: "The prompt was blocked." })], () =>
      Effect.gen(function*() {
        const error = failureOf(yield* Effect.exit(Agent.run(chat, "Hi")))
        assert.strictEqual(error._tag === "ContentBlocked" ? error.reason : "", "prompt blocked: OTHER: The prompt was blocked.")
      })))

  it.live("an error event mid-stream is a retryable ModelUnavailable; the retried answer is used", () =>
    withEmulator([GeminiEmulator.streamError({ text: ["The ans"], status: 503 }), GeminiEmulator.text("The answer.")], () =>
      Effect.gen(function*() {
        const { exit, retries } = yield* runChat("streamed")
        assert.isTrue(Exit.isSuccess(exit))
        assert.deepStrictEqual(retries, ["ModelUnavailable"])
      })))

  it.live("only the first candidate is read, unary and streamed", () =>
    withEmulator(() => GeminiEmulator.text("first", { extraCandidates: [[{ text: "second" }]] }), () =>
      Effect.gen(function*() {
        const model = yield* Model.Model
        const response = yield* model.generate(request("Hi"))
        assert.deepStrictEqual(response.parts, [{ _tag: "Text", text: "first" }])
        const streamed = Model.collectChunks(yield* Stream.runCollect(model.stream(request("Hi"))))
        assert.deepStrictEqual(streamed.parts, [{ _tag: "Text", text: "first" }])
      })))
})
