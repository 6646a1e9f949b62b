/**
 * The failure matrix: every fault kind × {fail-fast, report} × {in a tool, in the model, in a
 * handoff target, in one of three parallel sub-agents}. Each cell asserts the typed outcome the
 * policy promises, the exact virtual instant the run ends, that every acquired resource was
 * released, that no fiber leaked, that the events keep their invariants, and that nothing
 * reached the process as an unhandled rejection or an uncaught exception.
 */
import { assert, describe, it } from "@effect/vitest"
import { AgentEvent } from "@effect-agents/core"
import { LeakCheck } from "@effect-agents/testing"
import { Effect, Fiber, Option, TestClock } from "effect"
import {
  cellProgram,
  expectationOf,
  faultyAgent,
  kindLabel,
  kinds,
  outcomeOf,
  placementLabel,
  placements,
  policies,
  runViolations,
  guardProcess
} from "./harness.js"

guardProcess()

describe("failure matrix", () => {
  for (const placement of placements) {
    describe(`in ${placementLabel[placement]}`, () => {
      for (const kind of kinds) {
        for (const policy of policies) {
          const expected = expectationOf(kind, placement, policy)
          it.effect(`${kindLabel[kind]} under ${policy} ${expected.summary}`, () =>
            Effect.gen(function*() {
              const leaks = yield* LeakCheck.make
              const fiber = yield* Effect.fork(leaks.supervise(cellProgram(kind, placement, policy)))
              yield* TestClock.adjust("2 minutes")
              const done = yield* Fiber.poll(fiber)
              assert.isTrue(Option.isSome(done), "the cell did not finish within 2 virtual minutes")
              const run = yield* Fiber.join(fiber)
              yield* leaks.assertClean

              // the typed outcome
              assert.deepStrictEqual(outcomeOf(run.exit), expected.outcome)

              // every resource acquired was released
              assert.strictEqual(run.resources.released, run.resources.acquired, run.resources.finalizers.join(", "))
              if (expected.outcome._tag === "Completed") assert.isAbove(run.resources.acquired, 0)

              // event invariants, run by run
              const started = run.runs.map((events) => events[0]?.agent)
              assert.strictEqual(run.runs.length, placement === "parallel" ? 3 : 1)
              for (const events of run.runs) {
                const name = events[0]?.agent ?? "?"
                assert.deepStrictEqual(runViolations(events, expected.interrupted.includes(name)), [], `run ${name}`)
              }
              const faulty = run.runs[placement === "parallel" ? started.indexOf("b") : 0]
              const terminal = faulty.at(-1)!
              assert.strictEqual(terminal.timestamp, expected.endsAt)
              if (expected.outcome._tag === "Completed") {
                assert.strictEqual(terminal._tag, "RunCompleted")
              } else {
                assert.strictEqual(terminal._tag, "RunFailed")
                if (terminal._tag === "RunFailed") {
                  assert.strictEqual(terminal.error, expected.outcome._tag === "Failed" ? expected.outcome.error : "Defect")
                }
              }

              // retries announced with their delays
              const retries = run.runs.flat().flatMap((e) => e._tag === "RetryScheduled" ? [e.delayMillis] : [])
              assert.deepStrictEqual(retries, expected.retries)

              // how and when the faulty call and its slow sibling ended
              const endOf = (tool: string) => {
                const end = faulty.find((e) => AgentEvent.isToolCallTerminal(e) && e.tool === tool)
                return end?._tag === "ToolCallInterrupted"
                  ? { end: end.reason, at: end.timestamp }
                  : end?._tag === "ToolCallFailed"
                  ? { end: end.kind, at: end.timestamp }
                  : end === undefined
                  ? undefined
                  : { end: end._tag, at: end.timestamp }
              }
              if (expected.lookup !== undefined) assert.deepStrictEqual(endOf("lookup"), expected.lookup)
              if (expected.sibling !== undefined) assert.strictEqual(endOf("slow")?.end, expected.sibling)

              // what the model reads next turn
              if (expected.modelSees !== undefined && placement !== "model") {
                const { path, callId } = faultyAgent[placement]
                const response = run.requests
                  .filter((request) => request.agent === path)
                  .flatMap((request) => request.contents.flatMap((content) => content.parts))
                  .find((part) => part._tag === "FunctionResponse" && part.id === callId)
                assert.deepStrictEqual(
                  response?._tag === "FunctionResponse" ? { output: response.output, isError: response.isError } : undefined,
                  expected.modelSees
                )
              }

              // sub-agents interrupted by a fail-fast group emitted no terminal event
              const interrupted = run.runs
                .filter((events) => !events.some((e) => e._tag === "RunCompleted" || e._tag === "RunFailed"))
                .map((events) => events[0]?.agent)
              assert.deepStrictEqual(interrupted, expected.interrupted)
            }))
        }
      }
    })
  }
})
