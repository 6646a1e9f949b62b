/**
 * The wire: `POST /runs` streams a run as Server-Sent Events (`id:` the frame number, `event:`
 * the tag, `data:` the event encoded with its Schema), as NDJSON, or answers its `RunResult` as
 * JSON; keep-alive comments go out only while a run is idle, on the Effect `Clock`.
 */
import { AgentEvent } from "@effect-agents/core"
import { AgentHttp, Protocol } from "@effect-agents/http"
import { ScriptedModel } from "@effect-agents/testing"
import { assert, describe, it } from "@effect/vitest"
import { HttpServer } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Context, Effect, Layer, Schema, TestClock } from "effect"
import { createServer } from "node:http"
import { everyEventModel, everyTag, strict, triage } from "./agents.js"
import { blocks, parseSse, post, realSleep, serveRuns, tail } from "./support.js"

const decodeFrame = Schema.decodeUnknownSync(Protocol.Frame)
const encodeFrame = Schema.encodeSync(Protocol.Frame)

const classes: Record<string, new(...args: Array<any>) => unknown> = {
  ...Object.fromEntries(AgentEvent.AgentEvent.members.map((member) => [member.identifier, member])),
  RunInterrupted: Protocol.RunInterrupted
}

/** The frames of an SSE body, checked block by block: numbered from 1, named by their tag, decoding to their class. */
const framesOf = (text: string) => {
  const [hint, ...raw] = parseSse(text)
  assert.deepStrictEqual(hint, { id: undefined, event: undefined, data: undefined, comment: undefined, retry: "1000" })
  return raw.map((block, i) => {
    assert.strictEqual(block.id, String(i + 1))
    const json = JSON.parse(block.data!)
    const frame = decodeFrame(json)
    assert.strictEqual(block.event, frame._tag)
    assert.instanceOf(frame, classes[frame._tag]!)
    // the data is exactly the Schema encoding of the decoded event
    assert.deepStrictEqual(encodeFrame(frame), json)
    return frame
  })
}

describe("AgentHttp wire format", () => {
  it.scopedLive("streams every event type as SSE frames that decode back to the same events", () =>
    Effect.gen(function*() {
      const { baseUrl } = yield* serveRuns({ agents: { triage, strict } })
      const completed = yield* post(baseUrl, { agent: "triage", prompt: "Plan" })
      assert.strictEqual(completed.status, 200)
      assert.strictEqual(completed.headers.get("content-type"), "text/event-stream")
      const first = framesOf(yield* Effect.promise(() => completed.text()))
      const failed = framesOf(yield* Effect.flatMap(post(baseUrl, { agent: "strict", prompt: "Fail" }), (r) => Effect.promise(() => r.text())))

      assert.strictEqual(completed.headers.get("x-run-id"), first[0]!._tag === "RunStarted" ? first[0]!.runId : "")
      assert.strictEqual(first.at(-1)!._tag, "RunCompleted")
      assert.strictEqual(failed.at(-1)!._tag, "RunFailed")
      assert.deepStrictEqual(new Set([...first, ...failed].map((frame) => frame._tag)), new Set(everyTag))
      const interrupted = failed.find((frame) => frame._tag === "ToolCallInterrupted")
      assert.strictEqual(interrupted?._tag === "ToolCallInterrupted" && interrupted.reason, "sibling-failed")
      const events = first.filter(Protocol.isAgentEvent)
      assert.deepStrictEqual(AgentEvent.invariantViolations(events), [])
    }).pipe(Effect.provide(everyEventModel())))

  it.scopedLive("streams the same frames as NDJSON, one encoded event per line", () =>
    Effect.gen(function*() {
      const { baseUrl } = yield* serveRuns({ agents: { triage } })
      const sse = framesOf(yield* Effect.flatMap(post(baseUrl, { agent: "triage", prompt: "Plan" }), (r) => Effect.promise(() => r.text())))
      const response = yield* post(baseUrl, { agent: "triage", prompt: "Plan" }, { accept: "application/x-ndjson" })
      assert.strictEqual(response.headers.get("content-type"), "application/x-ndjson")
      const lines = (yield* Effect.promise(() => response.text())).split("\n")
      assert.strictEqual(lines.pop(), "")
      const ndjson = lines.map((line) => decodeFrame(JSON.parse(line)))
      const shape = (frames: ReadonlyArray<Protocol.Frame>) => frames.map((frame) => frame._tag)
      assert.deepStrictEqual(shape(ndjson), shape(sse))
      assert.deepStrictEqual(ndjson.map((frame) => encodeFrame(frame)), lines.map((line) => JSON.parse(line)))
    }).pipe(Effect.provide(everyEventModel())))

  it.scopedLive("answers Accept: application/json with the RunResult, and a failed run with its RunFailed and status 500", () =>
    Effect.gen(function*() {
      const { baseUrl } = yield* serveRuns({ agents: { triage, strict } })
      const ok = yield* post(baseUrl, { agent: "triage", prompt: "Plan" }, { accept: "application/json" })
      assert.strictEqual(ok.status, 200)
      const result = Schema.decodeUnknownSync(Protocol.RunResult)(yield* Effect.promise(() => ok.json()))
      assert.strictEqual(result.text, "2 + 3 = 5")
      assert.strictEqual(result.agent, "triage/math")
      assert.strictEqual(result.runId, ok.headers.get("x-run-id"))
      assert.deepStrictEqual(result.history.map((content) => content.role), ["user", "model", "user", "model", "user", "model"])
      assert.strictEqual(result.events[0]!._tag, "RunStarted")
      assert.strictEqual(result.events.at(-1)!._tag, "RunCompleted")

      const failed = yield* post(baseUrl, { agent: "strict", prompt: "Fail" }, { accept: "application/json" })
      assert.strictEqual(failed.status, 500)
      const body = decodeFrame(yield* Effect.promise(() => failed.json()))
      assert.strictEqual(body._tag, "RunFailed")
      assert.strictEqual(body._tag === "RunFailed" && body.error, "ToolCallFailed")
    }).pipe(Effect.provide(everyEventModel())))

  it.scoped("sends a keep-alive comment after each keepAlive interval of silence on the Effect clock, and none while events flow", () =>
    Effect.gen(function*() {
      const { baseUrl } = yield* serveRuns({ agents: { strict }, keepAlive: "10 seconds" })
      const body = tail(yield* post(baseUrl, { agent: "strict", prompt: "Fail" }))
      const comments = () => parseSse(body.text()).filter((block) => block.comment !== undefined).length
      // hint, RunStarted, TurnStarted, ModelRequested: then the model thinks for 25 s
      yield* body.waitFor((text) => blocks(text) === 4)
      yield* TestClock.adjust("9999 millis")
      yield* realSleep(50)
      assert.strictEqual(comments(), 0)
      yield* TestClock.adjust("1 millis")
      yield* body.waitFor(() => comments() === 1)
      yield* TestClock.adjust("10 seconds")
      yield* body.waitFor(() => comments() === 2)
      // at 25 s the model answers: events, no comment, until the run has failed
      yield* TestClock.adjust("5 seconds")
      yield* body.waitFor(() => body.ended())
      assert.deepStrictEqual(parseSse(body.text()).slice(4).map((block) => block.comment ?? block.event), [
        "keep-alive",
        "keep-alive",
        "ModelResponded",
        "ToolCallStarted",
        "ToolCallStarted",
        "ToolCallFailed",
        "ToolCallInterrupted",
        "RunFailed"
      ])
    }).pipe(Effect.provide(ScriptedModel.layer([
      ScriptedModel.callTools([{ name: "slow", args: { q: "a" } }, { name: "broken", args: { q: "b" } }], { delay: "25 seconds" })
    ]))))

  it.scopedLive("AgentHttp.serve serves the same routes at the root of an HttpServer", () =>
    Effect.gen(function*() {
      const server = yield* Layer.build(
        AgentHttp.serve({ agents: { triage } }).pipe(
          Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" })),
          Layer.provide(everyEventModel())
        )
      )
      const address = Context.get(server, HttpServer.HttpServer).address
      const baseUrl = address._tag === "TcpAddress" ? `http://127.0.0.1:${address.port}` : ""
      const frames = framesOf(yield* Effect.flatMap(post(baseUrl, { agent: "triage", prompt: "Plan" }), (r) => Effect.promise(() => r.text())))
      assert.strictEqual(frames.at(-1)!._tag, "RunCompleted")
    }))
})
