/**
 * The emulator itself: per-conversation scripts, script exhaustion, delays on the Effect
 * `Clock`, unknown methods, and the `layerModel` shortcut.
 */
import { Agent, Model } from "@effect-agents/core"
import { GeminiEmulator } from "@effect-agents/gemini"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Option, TestClock } from "effect"
import { math, request, withEmulator } from "./fixtures.js"

const lastOutput = (r: GeminiEmulator.RecordedRequest): unknown =>
  r.body.contents?.at(-1)?.parts?.[0]?.functionResponse?.response?.output

describe("GeminiEmulator", () => {
  it.live("byPrompt answers each concurrent conversation from its own script, however the requests interleave", () =>
    withEmulator(
      GeminiEmulator.byPrompt({
        "What is 2 + 3?": [
          GeminiEmulator.callTools([{ name: "add", args: { a: 2, b: 3 } }], { delay: "40 millis" }),
          (r) => GeminiEmulator.text(`2 + 3 = ${lastOutput(r)}`)
        ],
        "What is 4 * 5?": [
          GeminiEmulator.callTools([{ name: "multiply", args: { a: 4, b: 5 } }]),
          (r) => GeminiEmulator.text(`4 * 5 = ${lastOutput(r)}`, { delay: "40 millis" })
        ]
      }),
      (emulator) =>
        Effect.gen(function*() {
          const results = yield* Effect.forEach(["What is 2 + 3?", "What is 4 * 5?"], (p) => Agent.run(math, p), {
            concurrency: "unbounded"
          })
          assert.deepStrictEqual(results.map((r) => r.text), ["2 + 3 = 5", "4 * 5 = 20"])
          const requests = yield* emulator.requests
          assert.deepStrictEqual(requests.map((r) => [r.prompt, r.turn]).sort(), [
            ["What is 2 + 3?", 0],
            ["What is 2 + 3?", 1],
            ["What is 4 * 5?", 0],
            ["What is 4 * 5?", 1]
          ])
        })
    ))

  it.live("a request beyond the end of the script gets a 400 saying the script is exhausted", () =>
    withEmulator([GeminiEmulator.text("only one")], () =>
      Effect.gen(function*() {
        const model = yield* Model.Model
        yield* model.generate(request("first"))
        const error = yield* Effect.flip(model.generate(request("second")))
        assert.strictEqual(error._tag, "InvalidRequest")
        assert.include(error.message, "the script has 1 steps; request #2 has none left")
      })))

  it.effect("a step's delay runs on the Effect Clock: under TestClock the answer waits for TestClock.adjust", () =>
    withEmulator([GeminiEmulator.text("after ten minutes", { delay: "10 minutes" })], (emulator) =>
      Effect.gen(function*() {
        const model = yield* Model.Model
        const fiber = yield* Effect.fork(model.generate(request("Hi")))
        yield* emulator.awaitRequest(0)
        yield* TestClock.adjust("9 minutes")
        assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)))
        yield* TestClock.adjust("1 minute")
        const response = yield* Fiber.join(fiber)
        assert.deepStrictEqual(response.parts, [{ _tag: "Text", text: "after ten minutes" }])
      })))

  it.live("an unknown method gets a 404 Google error body", () =>
    withEmulator([], (emulator) =>
      Effect.gen(function*() {
        const response = yield* Effect.promise(() =>
          fetch(`${emulator.baseUrl}/v1beta/models/m:countTokens`, { method: "POST", body: "{}" })
        )
        assert.strictEqual(response.status, 404)
        const body = yield* Effect.promise(() => response.json() as Promise<{ error: { status: string } }>)
        assert.strictEqual(body.error.status, "NOT_FOUND")
      })))

  it.live("layerModel provides a Gemini Model talking to a fresh emulator, and the emulator itself", () =>
    Effect.gen(function*() {
      const result = yield* Agent.run(math, "Hi")
      const emulator = yield* GeminiEmulator.GeminiEmulator
      const [recorded] = yield* emulator.requests
      assert.strictEqual(result.text, "Hello from the emulator")
      assert.strictEqual(recorded.model, "gemini-2.5-flash")
    }).pipe(Effect.provide(Layer.fresh(GeminiEmulator.layerModel({ script: [GeminiEmulator.text("Hello from the emulator")] })))))
})
