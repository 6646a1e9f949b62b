/**
 * Shared helpers of the core specification tests: run an agent under `LeakCheck` on virtual
 * time and check the tool-call event invariant.
 */
import { Agent, AgentEvent } from "@effect-agents/core"
import { LeakCheck, ScriptedModel } from "@effect-agents/testing"
import { assert } from "@effect/vitest"
import { Effect, Fiber, Stream, TestClock } from "effect"

/** The events of one tag. */
export const ofTag = <T extends AgentEvent.AgentEvent["_tag"]>(events: ReadonlyArray<AgentEvent.AgentEvent>, tag: T) =>
  events.filter((e): e is Extract<AgentEvent.AgentEvent, { _tag: T }> => e._tag === tag)

/** Run `agent` under `LeakCheck`, advance the `TestClock` by `millis`, and check the event invariant. */
export const runFor = <R>(agent: Agent.Agent<R>, input: Agent.Input, millis: number) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(LeakCheck.check(Agent.run(agent, input)))
    yield* TestClock.adjust(millis)
    const result = yield* Fiber.join(fiber)
    assert.deepStrictEqual(AgentEvent.invariantViolations(result.events), [])
    return result
  })

/** Stream `agent` under `LeakCheck`, advance the `TestClock` by `millis`, and return what arrived with the exit. */
export const streamFor = <R>(agent: Agent.Agent<R>, input: Agent.Input, millis: number) =>
  Effect.gen(function*() {
    const events: Array<AgentEvent.AgentEvent> = []
    const fiber = yield* Effect.fork(
      LeakCheck.check(Stream.runForEach(Agent.stream(agent, input), (event) => Effect.sync(() => events.push(event))))
    )
    yield* TestClock.adjust(millis)
    const exit = yield* Fiber.await(fiber)
    assert.deepStrictEqual(AgentEvent.invariantViolations(events), [])
    return { events, exit }
  })

/** The parts of the last user message the `ScriptedModel` received in request `index` (the responses of the turn before). */
export const responsesOf = (index: number) =>
  Effect.map(Effect.flatMap(ScriptedModel.ScriptedModel, (model) => model.requests), (requests) => {
    const last = requests[index]!.contents.at(-1)!
    assert.strictEqual(last.role, "user")
    return last.parts
  })
