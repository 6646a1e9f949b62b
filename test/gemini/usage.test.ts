/**
 * Usage is complete (issue 12, point 4): cached-content and thinking tokens are kept, summed over
 * the run, and a layer that would read only one of several candidates is refused when it is made.
 */
import { Agent, Model } from "@effect-agents/core"
import { Gemini, GeminiEmulator } from "@effect-agents/gemini"
import { LeakCheck } from "@effect-agents/testing"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Exit, Redacted, Stream } from "effect"
import { math, ofTag, withEmulator } from "./fixtures.js"

const script = [
  GeminiEmulator.callTools([{ name: "multiply", args: { a: 2, b: 3 }, id: "c1" }], {
    usage: { promptTokens: 400, outputTokens: 7, thoughtsTokens: 120, cachedTokens: 300 }
  }),
  GeminiEmulator.text("6", { usage: { promptTokens: 420, outputTokens: 2, thoughtsTokens: 30, cachedTokens: 300 } })
]

const perCall = [
  { inputTokens: 400, outputTokens: 127, totalTokens: 527, cachedInputTokens: 300, reasoningTokens: 120 },
  { inputTokens: 420, outputTokens: 32, totalTokens: 452, cachedInputTokens: 300, reasoningTokens: 30 }
]

describe("Gemini usage", () => {
  it.live("each answer's usage keeps its cached and thinking tokens (thinking counts as output)", () =>
    withEmulator(script, () =>
      Effect.gen(function*() {
        const result = yield* LeakCheck.check(Agent.run(math, "What is 2 * 3?"))
        assert.deepStrictEqual(ofTag(result.events, "ModelResponded").map((e) => e.usage), perCall)
      })))

  it.live("streamed answers keep them too", () =>
    withEmulator(script, () =>
      Effect.gen(function*() {
        const events = Chunk.toReadonlyArray(yield* Stream.runCollect(Agent.stream(math, "What is 2 * 3?")))
        assert.deepStrictEqual(ofTag(events, "ModelResponded").map((e) => e.usage), perCall)
      })))

  it.live("the run's usage sums every count over the run", () =>
    withEmulator(script, () =>
      Effect.gen(function*() {
        const result = yield* LeakCheck.check(Agent.run(math, "What is 2 * 3?"))
        assert.deepStrictEqual(result.usage, perCall.reduce(Model.addUsage, Model.emptyUsage))
        assert.deepStrictEqual(result.usage, {
          inputTokens: 820,
          outputTokens: 159,
          totalTokens: 979,
          cachedInputTokens: 600,
          reasoningTokens: 150
        })
      })))

  it("addUsage sums the optional counts only where a side reports them", () => {
    assert.deepStrictEqual(
      Model.addUsage({ inputTokens: 1, outputTokens: 2, totalTokens: 3 }, { inputTokens: 4, outputTokens: 5, totalTokens: 9 }),
      { inputTokens: 5, outputTokens: 7, totalTokens: 12 }
    )
    assert.deepStrictEqual(
      Model.addUsage({ inputTokens: 1, outputTokens: 2, totalTokens: 3, reasoningTokens: 2 }, {
        inputTokens: 4,
        outputTokens: 5,
        totalTokens: 9,
        cachedInputTokens: 3
      }),
      { inputTokens: 5, outputTokens: 7, totalTokens: 12, cachedInputTokens: 3, reasoningTokens: 2 }
    )
  })

  it.effect("candidateCount above 1 is refused when the layer is made, saying why", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Gemini.make({
        model: "gemini-2.5-flash",
        apiKey: Redacted.make("unused"),
        generationConfig: { candidateCount: 2 }
      }))
      assert.isTrue(Exit.isFailure(exit))
      const message = Exit.isFailure(exit) ? String(exit.cause) : ""
      assert.include(message, "generationConfig.candidateCount")
      assert.include(message, "reads only the first candidate, so candidateCount must be 1, got 2")
    }))
})
