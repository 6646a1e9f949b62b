/**
 * Structured output (issue 12, point 7): an agent made with `output` answers with a value decoded
 * with its Schema; invalid answers go back to the model a bounded number of times, then the run
 * fails with `OutputInvalid`; handoffs and `Agent.asTool` carry the typed value.
 */
import { Agent, AgentError, AgentEvent, Content, Handoff } from "@effect-agents/core"
import { LeakCheck, ScriptedModel } from "@effect-agents/testing"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Schema, TestClock } from "effect"
import { ofTag } from "../support/agents.js"

const Trip = Schema.Struct({
  city: Schema.String,
  days: Schema.Int.pipe(Schema.positive())
})

const planner = Agent.make({ name: "planner", instructions: "Plan trips.", output: Trip })

/** Run under `LeakCheck` on the virtual clock (each step waits 100 ms), checking the event invariant. */
const runFor = <R, A>(agent: Agent.Agent<R, A>, input: string) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(LeakCheck.check(Agent.run(agent, input)))
    yield* TestClock.adjust("10 seconds")
    const exit = yield* Fiber.await(fiber)
    return exit
  })

const requests = Effect.flatMap(ScriptedModel.ScriptedModel, (model) => model.requests)

/** The text of the last message of request `index`. */
const lastMessageOf = (index: number) =>
  Effect.map(requests, (all) => Content.textOf(all[index]!.contents.at(-1)!.parts))

describe("structured output", () => {
  it.effect("the answer is decoded with the output Schema into RunResult.output, and the request carries its JSON Schema", () =>
    Effect.gen(function*() {
      const exit = yield* runFor(planner, "Plan a trip")
      assert.isTrue(Exit.isSuccess(exit))
      const result = Exit.isSuccess(exit) ? exit.value : undefined
      const trip: { readonly city: string; readonly days: number } | undefined = result?.output
      assert.deepStrictEqual(trip, { city: "Paris", days: 3 })
      assert.strictEqual(result?.text, `{"city":"Paris","days":3}`)
      assert.deepStrictEqual(ofTag(result?.events ?? [], "RunCompleted").map((e) => e.output), [{ city: "Paris", days: 3 }])
      const [request] = yield* requests
      assert.deepStrictEqual(request!.output?.["required"], ["city", "days"])
      assert.deepStrictEqual(Object.keys(request!.output?.["properties"] as object), ["city", "days"])
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.json({ city: "Paris", days: 3 }, { delay: "100 millis" })]))))

  it.effect("an agent without output answers with its text, and its requests carry no output schema", () =>
    Effect.gen(function*() {
      const exit = yield* runFor(Agent.make({ name: "plain", instructions: "" }), "Hi")
      assert.deepStrictEqual(Exit.map(exit, (result) => result.output), Exit.succeed("Hello"))
      const [request] = yield* requests
      assert.isFalse("output" in request!)
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.text("Hello")]))))

  it.effect("an answer that does not decode goes back to the model with the Schema error, each time, until one does", () =>
    Effect.gen(function*() {
      const exit = yield* runFor(planner, "Plan a trip")
      assert.deepStrictEqual(Exit.map(exit, (result) => [result.output, result.turns]), Exit.succeed([{ city: "Rome", days: 2 }, 3]))
      const second = yield* lastMessageOf(1)
      assert.include(second, "does not match the required output schema")
      assert.include(second, "the answer is not JSON")
      const third = yield* lastMessageOf(2)
      assert.include(third, "[\"days\"]")
      assert.include(third, "Expected a positive number")
    }).pipe(Effect.provide(ScriptedModel.layer([
      ScriptedModel.text("Rome, two days"),
      ScriptedModel.json({ city: "Rome", days: -2 }),
      ScriptedModel.json({ city: "Rome", days: 2 })
    ]))))

  it.effect("a fenced JSON answer is read as its JSON", () =>
    Effect.gen(function*() {
      const exit = yield* runFor(planner, "Plan a trip")
      assert.deepStrictEqual(Exit.map(exit, (result) => result.output), Exit.succeed({ city: "Oslo", days: 1 }))
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.text("```json\n{\"city\":\"Oslo\",\"days\":1}\n```")]))))

  it.effect("after policy.maxOutputRetries invalid answers the run fails with OutputInvalid naming the last error", () =>
    Effect.gen(function*() {
      const strict = planner.pipe(Agent.withPolicy({ maxOutputRetries: 1 }))
      const exit = yield* runFor(strict, "Plan a trip")
      assert.isTrue(Exit.isFailure(exit))
      const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : undefined
      assert.strictEqual(failure?._tag, "Some")
      const error = failure?._tag === "Some" ? failure.value : undefined
      assert.instanceOf(error, AgentError.OutputInvalid)
      assert.deepStrictEqual([error?._tag, (error as AgentError.OutputInvalid).retries], ["OutputInvalid", 1])
      assert.include(error!.message, "Expected a positive number")
      assert.include(error!.message, "policy.maxOutputRetries")
      assert.strictEqual((yield* requests).length, 2)
    }).pipe(Effect.provide(ScriptedModel.layer([
      ScriptedModel.json({ city: "Rome", days: 0 }),
      ScriptedModel.json({ city: "Rome", days: -1 }),
      ScriptedModel.json({ city: "Rome", days: 2 })
    ]))))

  it.effect("maxOutputRetries must be an integer >= 0", () =>
    Effect.sync(() => {
      assert.throws(() => planner.pipe(Agent.withPolicy({ maxOutputRetries: -1 })), /maxOutputRetries must be an integer >= 0, got -1/)
    }))

  it.effect("after a handoff the answering agent's Schema decodes the answer", () =>
    Effect.gen(function*() {
      const triage = Agent.make({ name: "triage", instructions: "Route.", handoffs: [Handoff.to(planner)] })
      const exit = yield* runFor(triage, "Plan a trip")
      assert.deepStrictEqual(
        Exit.map(exit, (result): ReadonlyArray<unknown> => [result.agent, result.output]),
        Exit.succeed(["triage/planner", { city: "Lima", days: 4 }])
      )
      const [first, second] = yield* requests
      assert.isUndefined(first!.output)
      assert.deepStrictEqual(second!.output?.["required"], ["city", "days"])
    }).pipe(Effect.provide(ScriptedModel.layer([
      ScriptedModel.callTools([{ name: "transfer_to_planner", args: {} }]),
      ScriptedModel.json({ city: "Lima", days: 4 })
    ]))))

  it.effect("Agent.asTool returns the sub-agent's typed output as the tool result", () =>
    Effect.gen(function*() {
      const tool = Agent.asTool(planner)
      const coordinator = Agent.make({ name: "coordinator", instructions: "Delegate.", tools: [tool] })
      const exit = yield* runFor(coordinator, "Plan a trip")
      assert.deepStrictEqual(Exit.map(exit, (result) => result.output), Exit.succeed("Booked Kyoto"))
      const result = Exit.isSuccess(exit) ? exit.value : undefined
      const succeeded = ofTag(result?.events ?? [], "ToolCallSucceeded")
      assert.deepStrictEqual(succeeded.map((e) => [e.tool, e.output]), [["planner", { city: "Kyoto", days: 5 }]])
      assert.deepStrictEqual(AgentEvent.invariantViolations(result?.events ?? []), [])
    }).pipe(Effect.provide(ScriptedModel.layer([
      ScriptedModel.callTools([{ name: "planner", args: { input: "Kyoto" } }]),
      ScriptedModel.json({ city: "Kyoto", days: 5 }),
      ScriptedModel.text("Booked Kyoto")
    ]))))

  it.effect("a ScriptedModel output step answering a request without an output schema is a defect saying what to do", () =>
    Effect.gen(function*() {
      const exit = yield* runFor(Agent.make({ name: "plain", instructions: "" }), "Hi")
      assert.isTrue(Exit.isFailure(exit) && Cause.isDie(exit.cause))
      assert.include(String(Exit.isFailure(exit) ? Cause.squash(exit.cause) : ""), "make the agent with Agent.make({ output: Schema })")
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.json({ city: "Paris", days: 3 })]))))
})

describe("structured output configuration", () => {
  it("an output Schema that is not an object is refused when the agent is made, saying why", () => {
    assert.throws(
      () => Agent.make({ name: "lister", instructions: "", output: Schema.Array(Schema.String) }),
      /Invalid agent "lister": the output Schema describes "array" at the root; Gemini requires one object of named parameters \(Schema.Struct\)/
    )
  })
})
