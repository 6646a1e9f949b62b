/**
 * `AgentHttpClient`: the routes' frames back as typed `AgentEvent`s (SSE or NDJSON), decoded with
 * the same Schemas; typed errors for refusals and failed runs; a dropped connection resumed with
 * `Last-Event-ID`, missing and repeating nothing; interrupting the stream closes the connection,
 * which interrupts the run on the server.
 */
import { Agent, AgentEvent, ConversationStore } from "@effect-agents/core"
import { AgentHttpClient, Protocol } from "@effect-agents/http"
import { ScriptedModel } from "@effect-agents/testing"
import { FetchHttpClient } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Deferred, Effect, Fiber, Layer, Queue, Schema, Stream } from "effect"
import { callThenAnswer, everyEventModel, strict, triage, waiting } from "./agents.js"
import { leakChecked, proxy, realSleep, serveRuns } from "./support.js"

const clientOf = (baseUrl: string, format?: "sse" | "ndjson") => AgentHttpClient.make({ baseUrl, format })

const collect = (stream: Stream.Stream<AgentEvent.AgentEvent, AgentHttpClient.ClientError>) =>
  Effect.map(Stream.runCollect(stream), Chunk.toReadonlyArray)

describe("AgentHttpClient", () => {
  it.scopedLive("streams a run as typed events over SSE and NDJSON alike", () =>
    Effect.gen(function*() {
      const { baseUrl } = yield* serveRuns({ agents: { triage } })
      const sse = yield* collect((yield* clientOf(baseUrl)).stream({ agent: "triage", prompt: "Plan" }))
      const ndjson = yield* collect((yield* clientOf(baseUrl, "ndjson")).stream({ agent: "triage", prompt: "Plan" }))
      for (const events of [sse, ndjson]) {
        assert.instanceOf(events[0], AgentEvent.RunStarted)
        assert.instanceOf(events.at(-1), AgentEvent.RunCompleted)
        assert.deepStrictEqual(AgentEvent.invariantViolations(events), [])
      }
      assert.deepStrictEqual(ndjson.map((event) => event._tag), sse.map((event) => event._tag))
      const completed = sse.at(-1) as AgentEvent.RunCompleted
      assert.strictEqual(completed.text, "2 + 3 = 5")
    }).pipe(Effect.provide(Layer.merge(everyEventModel(), FetchHttpClient.layer))))

  it.scopedLive("emits RunFailed, then fails with RemoteRunFailed, like Agent.stream", () =>
    Effect.gen(function*() {
      const { baseUrl } = yield* serveRuns({ agents: { strict } })
      const events: Array<string> = []
      const failure = yield* (yield* clientOf(baseUrl)).stream({ agent: "strict", prompt: "Fail" }).pipe(
        Stream.runForEach((event) => Effect.sync(() => events.push(event._tag))),
        Effect.flip
      )
      assert.strictEqual(events.at(-1), "RunFailed")
      assert.strictEqual(failure._tag, "RemoteRunFailed")
      const error = yield* Effect.flip((yield* clientOf(baseUrl)).run({ agent: "strict", prompt: "Fail" }))
      assert.strictEqual(error._tag, "RemoteRunFailed")
      assert.strictEqual(error.message, `The run ${(error as AgentHttpClient.RemoteRunFailed).runId} of agent "strict" failed with ToolCallFailed: Tool call failed: broken (call_1_1): the backend is down`)
    }).pipe(Effect.provide(Layer.merge(everyEventModel(), FetchHttpClient.layer))))

  it.scopedLive("run answers the RunResult, and refusals fail with the server's typed errors", () =>
    Effect.gen(function*() {
      const { baseUrl } = yield* serveRuns({ agents: { triage } })
      const client = yield* clientOf(baseUrl)
      const result = yield* client.run({ agent: "triage", prompt: "Plan" })
      assert.strictEqual(result.text, "2 + 3 = 5")
      assert.strictEqual(result.agent, "triage/math")
      assert.instanceOf(result.events.at(-1), AgentEvent.RunCompleted)
      const unknown = yield* Effect.flip(client.run({ agent: "poet", prompt: "Hi" }))
      assert.deepStrictEqual(unknown, new Protocol.BadRunRequest({ message: `unknown agent "poet"; this server runs: triage` }))
      const streamed = yield* Effect.flip(Stream.runDrain(client.stream({ agent: "poet", prompt: "Hi" })))
      assert.deepStrictEqual(streamed, unknown)
    }).pipe(Effect.provide(Layer.mergeAll(everyEventModel(), FetchHttpClient.layer, ConversationStore.layerMemory))))

  it.scopedLive("run answers a structured-output agent's typed output in the RunResult", () =>
    Effect.gen(function*() {
      const planner = Agent.make({
        name: "planner",
        instructions: "Plan.",
        output: Schema.Struct({ city: Schema.String, days: Schema.Number })
      })
      const { baseUrl } = yield* serveRuns({ agents: { planner } })
      const result = yield* (yield* clientOf(baseUrl)).run({ agent: "planner", prompt: "Plan" })
      assert.deepStrictEqual(result.output, { city: "Paris", days: 3 })
    }).pipe(Effect.provide(Layer.merge(
      ScriptedModel.layer([ScriptedModel.json({ city: "Paris", days: 3 })]),
      FetchHttpClient.layer
    ))))

  it.scopedLive("reconnects with Last-Event-ID after the connection drops mid-run, missing and repeating nothing", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const agent = Agent.make({ name: "held", instructions: "", tools: [waiting("held", Deferred.await(gate))] })
      const { baseUrl, outcomes } = yield* serveRuns({ agents: { held: agent }, reconnectWindow: "10 seconds" })
      // the first connection is cut once the tool call has started
      const cutting = yield* proxy(baseUrl, 1, (response) => response.includes("event: ToolCallStarted"))
      const client = yield* clientOf(cutting.baseUrl)
      const events = yield* Queue.unbounded<AgentEvent.AgentEvent>()
      const fiber = yield* Effect.fork(Stream.runForEach(client.stream({ agent: "held", prompt: "Hold on" }), (event) => Queue.offer(events, event)))
      while (cutting.requests().length < 2) yield* realSleep(5)
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(fiber)
      const received = Chunk.toReadonlyArray(yield* Queue.takeAll(events))
      assert.deepStrictEqual(received.map((event) => event._tag), [
        "RunStarted",
        "TurnStarted",
        "ModelRequested",
        "ModelResponded",
        "ToolCallStarted",
        "ToolCallSucceeded",
        "TurnStarted",
        "ModelRequested",
        "TextDelta",
        "ModelResponded",
        "RunCompleted"
      ])
      const [first, second] = cutting.requests()
      assert.match(first!, /^POST \/runs HTTP\/1.1/)
      assert.match(second!, new RegExp(`^GET /runs/${received[0]!.runId}/events HTTP/1.1`))
      assert.include(second!.toLowerCase(), "last-event-id: 5\r\n")
      assert.strictEqual((yield* Queue.take(outcomes))._tag, "RunCompleted")
    }).pipe(Effect.provide(Layer.merge(callThenAnswer("held"), FetchHttpClient.layer))))

  it.scopedLive("a connection cut after a sub-agent's RunCompleted is resumed: the stream ends with the run's own RunCompleted", () =>
    Effect.gen(function*() {
      const helper = Agent.make({ name: "helper", instructions: "Help." })
      const delegating = Agent.make({ name: "delegating", instructions: "Delegate.", tools: [Agent.asTool(helper)] })
      const { baseUrl } = yield* serveRuns({ agents: { delegating }, reconnectWindow: "10 seconds" })
      const cutting = yield* proxy(baseUrl, 1, (response) => response.includes("event: RunCompleted"))
      const events = yield* collect((yield* clientOf(cutting.baseUrl)).stream({ agent: "delegating", prompt: "Delegate" }))
      const completed = events.filter((event) => event._tag === "RunCompleted").map((event) => event.agent)
      assert.deepStrictEqual(completed, ["delegating/helper", "delegating"])
      assert.strictEqual(cutting.requests().length, 2)
    }).pipe(Effect.provide(Layer.merge(
      ScriptedModel.layer(ScriptedModel.byPrompt({
        Delegate: [ScriptedModel.callTools([{ name: "helper", args: { input: "sub-question" } }]), ScriptedModel.text("all done", { delay: "300 millis" })],
        "sub-question": [ScriptedModel.text("sub answer")]
      })),
      FetchHttpClient.layer
    ))))

  it.live("interrupting the stream closes the connection, and the server interrupts the run", () =>
    leakChecked(Effect.gen(function*() {
      const { baseUrl, outcomes } = yield* serveRuns({ agents: { strict }, reconnectWindow: 0 })
      const client = yield* clientOf(baseUrl)
      const started = yield* Deferred.make<string>()
      const fiber = yield* Effect.fork(Stream.runForEach(client.stream({ agent: "strict", prompt: "Fail" }), (event) =>
        event._tag === "ToolCallStarted" ? Deferred.succeed(started, event.runId) : Effect.void))
      const runId = yield* Deferred.await(started)
      yield* Fiber.interrupt(fiber)
      const outcome = yield* Queue.take(outcomes)
      assert.strictEqual(outcome._tag, "RunInterrupted")
      assert.strictEqual(outcome.runId, runId)
      assert.strictEqual((outcome as Protocol.RunInterrupted).reason, "client-disconnected")
    })).pipe(Effect.provide(Layer.merge(
      ScriptedModel.layer(() => ScriptedModel.callTools([{ name: "slow", args: { q: "a" } }])),
      FetchHttpClient.layer
    ))))
})
