/**
 * Soak: 1,000 concurrent conversations on `ScriptedModel` with 10% seeded faults of every kind
 * (model and tools), in virtual time. `bench/soak.ts` runs the same program with 10,000.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { print, type Report, soak } from "../../bench/soak.js"

const kinds = ["fail", "defect", "hang", "latency", "rate-limited", "unavailable", "stream-cut", "malformed"]

describe("soak", () => {
  it.effect("1,000 concurrent conversations with 10% faults all end with a terminal outcome, no leak and no broken invariant", () =>
    Effect.gen(function*() {
      const started = Date.now()
      const report = yield* soak({ conversations: 1000, seed: 42 })
      print(report, Date.now() - started)

      const total = Object.values(report.outcomes).reduce((a, b) => a + b, 0)
      assert.strictEqual(total, 1000)
      assert.strictEqual(report.outcomes.unfinished, undefined)
      assert.strictEqual(report.outcomes.interrupted, undefined)
      assert.strictEqual(report.leakedFibers, 0)
      assert.deepStrictEqual(report.brokenInvariants, [])
      assert.isAbove(report.acquired, 1000)
      assert.strictEqual(report.released, report.acquired)

      // every kind of fault fired, on the model and on the tools, on about 10% of the calls
      for (const kind of kinds) {
        assert.isAbove(report.faults[`model:${kind}`] ?? 0, 0, `model:${kind}`)
        assert.isAbove((report.faults[`lookup:${kind}`] ?? 0) + (report.faults[`slow:${kind}`] ?? 0), 0, `tool ${kind}`)
      }
      const calls = Object.values(report.calls).reduce((a, b) => a + b, 0)
      const fired = Object.values(report.faults).reduce((a, b) => a + b, 0)
      assert.isAtLeast(fired / calls, 0.08)
      assert.isAtMost(fired / calls, 0.12)

      // faults are survivable: most conversations complete, and the others fail with typed outcomes
      assert.isAbove(report.outcomes.completed, 700)
      assert.isAbove(report.outcomes.ToolCallFailed, 0)
    }))

  it.effect("the same seed gives the same soak, outcome for outcome", () =>
    Effect.gen(function*() {
      const summary = (report: Report) => ({ outcomes: report.outcomes, faults: report.faults, virtualMillis: report.virtualMillis })
      const first = yield* soak({ conversations: 200, seed: 7 })
      const second = yield* soak({ conversations: 200, seed: 7 })
      assert.deepStrictEqual(summary(second), summary(first))
    }))
})
