/**
 * Approvals (human in the loop): a call of a tool made with `needsApproval` waits for a decision
 * from the `Approvals` service before its handler runs.
 */
import { Agent, AgentEvent, Approvals, type Policy, Tool } from "@effect-agents/core"
import { LeakCheck, ScriptedModel } from "@effect-agents/testing"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Ref, Schema, TestClock } from "effect"
import { ofTag, responsesOf, streamFor } from "../support/agents.js"

const Path = Schema.Struct({ path: Schema.String })

/** A tool that deletes `path` (records it) and needs approval for paths under /etc, or always. */
const remove = (ran: Ref.Ref<ReadonlyArray<string>>, needsApproval: boolean | ((args: { readonly path: string }) => boolean)) =>
  Tool.make("remove", {
    description: "Deletes a file",
    parameters: Path,
    success: Schema.String,
    needsApproval,
    handler: ({ path }) => Effect.as(Ref.update(ran, (paths) => [...paths, path]), `removed ${path}`)
  })

/** The `ops` agent with a `remove` tool that always needs approval, and the paths it removed. */
const opsAgent = (policy: Policy.Options = {}, tools: ReadonlyArray<typeof sleeper> = []) =>
  Effect.map(Ref.make<ReadonlyArray<string>>([]), (ran) => ({
    ran,
    agent: Agent.make({ name: "ops", instructions: "", tools: [remove(ran, true), ...tools], policy })
  }))

const sleeper = Tool.make("sleeper", {
  description: "Sleeps one second",
  parameters: Schema.Struct({}),
  success: Schema.String,
  handler: () => Effect.as(Effect.sleep(1000), "slept")
})

const script = ScriptedModel.layer([
  ScriptedModel.callTools([{ name: "remove", args: { path: "/etc/hosts" } }]),
  ScriptedModel.text("done")
])

/** Start the run under `LeakCheck`, then decide on every waiting call at virtual `millis`. */
const runDeciding = (agent: Agent.Agent<never>, millis: number, decision: Approvals.Decision | undefined) =>
  Effect.gen(function*() {
    const approvals = yield* Approvals.current
    const fiber = yield* Effect.fork(LeakCheck.check(Agent.run(agent, "go")))
    yield* TestClock.adjust(millis)
    const pending = yield* approvals.pending
    if (decision !== undefined) {
      for (const { callId, runId } of pending) yield* approvals.decide(runId, callId, decision)
    }
    yield* TestClock.adjust(0)
    return { pending, fiber }
  })

const tagsAndTimes = (events: ReadonlyArray<AgentEvent.AgentEvent>) =>
  events.filter((e) => "callId" in e).map((e) => `${e._tag}@${e.timestamp}`)

describe("approvals", () => {
  it.effect("an approved call runs its handler at the instant of the decision", () =>
    Effect.gen(function*() {
      const { agent, ran } = yield* opsAgent()
      const { fiber, pending } = yield* runDeciding(agent, 700, { approve: true })
      assert.strictEqual(pending.length, 1)
      const result = yield* Fiber.join(fiber)
      assert.deepStrictEqual(tagsAndTimes(result.events), [
        "ToolCallStarted@0",
        "ApprovalRequested@0",
        "ApprovalDecided@700",
        "ToolCallSucceeded@700"
      ])
      const [requested] = ofTag(result.events, "ApprovalRequested")
      assert.deepStrictEqual([requested!.tool, requested!.args], ["remove", { path: "/etc/hosts" }])
      assert.strictEqual(ofTag(result.events, "ApprovalDecided")[0]!.approved, true)
      assert.deepStrictEqual(yield* Ref.get(ran), ["/etc/hosts"])
      assert.strictEqual(result.text, "done")
      assert.deepStrictEqual(AgentEvent.invariantViolations(result.events), [])
    }).pipe(Effect.provide(script), Effect.provide(Approvals.layerMemory)))

  it.effect("a denied call never runs; the model reads an error with the reason", () =>
    Effect.gen(function*() {
      const { agent, ran } = yield* opsAgent()
      const { fiber } = yield* runDeciding(agent, 300, { approve: false, reason: "not on a Friday" })
      const result = yield* Fiber.join(fiber)
      assert.deepStrictEqual(yield* Ref.get(ran), [])
      const decided = ofTag(result.events, "ApprovalDecided")[0]!
      assert.deepStrictEqual([decided.approved, decided.reason, decided.timestamp], [false, "not on a Friday", 300])
      const failed = ofTag(result.events, "ToolCallFailed")[0]!
      assert.deepStrictEqual([failed.kind, failed.reported, failed.timestamp], ["denied", true, 300])
      const [response] = yield* responsesOf(1)
      assert.strictEqual(response!._tag, "FunctionResponse")
      if (response!._tag !== "FunctionResponse") return
      assert.isTrue(response.isError)
      assert.include(String(response.output), "not on a Friday")
      assert.strictEqual(result.text, "done")
    }).pipe(Effect.provide(script), Effect.provide(Approvals.layerMemory)))

  it.effect("a denied call never calls its handler function, even one that acts before returning its Effect", () =>
    Effect.gen(function*() {
      const called: Array<string> = []
      const eager = Tool.make("remove", {
        description: "Deletes a file",
        parameters: Path,
        success: Schema.String,
        needsApproval: true,
        handler: ({ path }) => {
          called.push(path)
          return Effect.succeed(`removed ${path}`)
        }
      })
      const agent = Agent.make({ name: "ops", instructions: "", tools: [eager] })
      const { fiber } = yield* runDeciding(agent, 300, undefined)
      assert.deepStrictEqual(called, [], "not called while the call waits")
      const approvals = yield* Approvals.current
      for (const { callId, runId } of yield* approvals.pending) yield* approvals.decide(runId, callId, { approve: false })
      yield* TestClock.adjust(0)
      const result = yield* Fiber.join(fiber)
      assert.deepStrictEqual(called, [])
      assert.strictEqual(ofTag(result.events, "ToolCallFailed")[0]!.kind, "denied")
    }).pipe(Effect.provide(script), Effect.provide(Approvals.layerMemory)))

  it.effect("no decision within approvalTimeout is a denial at exactly that instant", () =>
    Effect.gen(function*() {
      const { agent, ran } = yield* opsAgent({ approvalTimeout: "2 seconds" })
      const { fiber } = yield* runDeciding(agent, 2000, undefined)
      const result = yield* Fiber.join(fiber)
      assert.deepStrictEqual(yield* Ref.get(ran), [])
      const decided = ofTag(result.events, "ApprovalDecided")[0]!
      assert.deepStrictEqual([decided.approved, decided.timestamp], [false, 2000])
      assert.include(decided.reason!, "approvalTimeout")
      assert.strictEqual(ofTag(result.events, "ToolCallFailed")[0]!.kind, "denied")
      assert.deepStrictEqual(yield* (yield* Approvals.current).pending, [])
    }).pipe(Effect.provide(script), Effect.provide(Approvals.layerMemory)))

  it.effect("an interrupted run stops waiting at once and withdraws the request", () =>
    Effect.gen(function*() {
      const { agent, ran } = yield* opsAgent({ runTimeout: "500 millis" })
      const { events, exit } = yield* streamFor(agent, "go", 500)
      assert.isTrue(Exit.isFailure(exit))
      assert.deepStrictEqual(tagsAndTimes(events), ["ToolCallStarted@0", "ApprovalRequested@0", "ToolCallInterrupted@500"])
      assert.strictEqual(ofTag(events, "ToolCallInterrupted")[0]!.reason, "run-interrupted")
      assert.deepStrictEqual(ofTag(events, "RunFailed").map((e) => [e.error, e.timestamp]), [["RunTimeout", 500]])
      assert.deepStrictEqual(yield* (yield* Approvals.current).pending, [])
      assert.deepStrictEqual(yield* Ref.get(ran), [])
    }).pipe(Effect.provide(script), Effect.provide(Approvals.layerMemory)))

  it.effect("siblings in the same group keep running while one call waits", () =>
    Effect.gen(function*() {
      const { agent, ran } = yield* opsAgent({}, [sleeper])
      const { fiber } = yield* runDeciding(agent, 3000, { approve: true })
      const result = yield* Fiber.join(fiber)
      const ends = result.events.filter(AgentEvent.isToolCallTerminal).map((e) => `${e.tool}@${e.timestamp}`)
      assert.deepStrictEqual(ends, ["sleeper@1000", "remove@3000"])
      assert.deepStrictEqual(yield* Ref.get(ran), ["/etc/hosts"])
    }).pipe(
      Effect.provide(ScriptedModel.layer([
        ScriptedModel.callTools([{ name: "remove", args: { path: "/etc/hosts" } }, { name: "sleeper" }]),
        ScriptedModel.text("done")
      ])),
      Effect.provide(Approvals.layerMemory)
    ))

  it.effect("a predicate decides per call: a call it does not flag runs without asking", () =>
    Effect.gen(function*() {
      const ran = yield* Ref.make<ReadonlyArray<string>>([])
      const agent = Agent.make({
        name: "ops",
        instructions: "",
        tools: [remove(ran, (args) => args.path.startsWith("/etc"))]
      })
      const { fiber, pending } = yield* runDeciding(agent, 0, undefined)
      const result = yield* Fiber.join(fiber)
      assert.deepStrictEqual(pending, [])
      assert.deepStrictEqual(ofTag(result.events, "ApprovalRequested"), [])
      assert.deepStrictEqual(yield* Ref.get(ran), ["/tmp/x"])
    }).pipe(
      Effect.provide(ScriptedModel.layer([
        ScriptedModel.callTools([{ name: "remove", args: { path: "/tmp/x" } }]),
        ScriptedModel.text("done")
      ])),
      Effect.provide(Approvals.layerMemory)
    ))

  it.effect("without an Approvals service, runs wait on Approvals.global", () =>
    Effect.gen(function*() {
      const { agent, ran } = yield* opsAgent()
      assert.strictEqual(yield* Approvals.current, Approvals.global)
      const { fiber, pending } = yield* runDeciding(agent, 100, { approve: true })
      assert.strictEqual(pending.length, 1)
      const result = yield* Fiber.join(fiber)
      assert.deepStrictEqual(yield* Ref.get(ran), ["/etc/hosts"])
      assert.deepStrictEqual(yield* Approvals.global.pending, [])
      assert.strictEqual(result.text, "done")
    }).pipe(Effect.provide(script)))

  it.effect("a decision that arrives before the call waits is kept for it", () =>
    Effect.gen(function*() {
      const approvals = yield* Approvals.current
      yield* approvals.decide("run1", "call1", { approve: false, reason: "early" })
      assert.deepStrictEqual(yield* approvals.request("run1", "call1"), { approve: false, reason: "early" })
      assert.deepStrictEqual(yield* approvals.pending, [])
    }).pipe(Effect.provide(Approvals.layerMemory)))
})
