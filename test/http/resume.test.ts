/**
 * Reconnecting: a run whose client left waits `reconnectWindow` (on the Effect `Clock`) for a
 * client to come back with `Last-Event-ID`; one that does gets every frame after that id, then
 * the rest live, and the run goes on. Nobody back in time: the run is interrupted at that instant.
 */
import { Agent } from "@effect-agents/core"
import { Protocol } from "@effect-agents/http"
import { ScriptedModel } from "@effect-agents/testing"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Queue, Schema, TestClock } from "effect"
import { callThenAnswer, waiting } from "./agents.js"
import { blocks, parseSse, post, realSleep, serveRuns, tail } from "./support.js"

const waiter = Agent.make({ name: "waiter", instructions: "Wait.", tools: [waiting("wait", Effect.sleep("5 seconds"))] })

const model = ScriptedModel.layer(() => ScriptedModel.callTools([{ name: "wait", args: {} }]))
const twoTurns = callThenAnswer("wait")

/** Start a run, read its first `n` frames (after the retry hint), then drop the connection. */
const startAndLeave = (baseUrl: string, n: number) =>
  Effect.gen(function*() {
    const controller = new AbortController()
    const response = yield* post(baseUrl, { agent: "waiter", prompt: "Wait for me" }, { signal: controller.signal })
    const runId = response.headers.get("x-run-id")!
    const body = tail(response)
    yield* body.waitFor((text) => blocks(text) >= n + 1)
    controller.abort()
    return { runId, frames: parseSse(body.text()).slice(1, n + 1) }
  })

const resume = (baseUrl: string, runId: string, lastEventId: string) =>
  Effect.promise(() => fetch(`${baseUrl}/runs/${runId}/events`, { headers: { "last-event-id": lastEventId } }))

describe("reconnecting with Last-Event-ID", () => {
  it.scoped("a client that comes back within reconnectWindow gets every frame after its last one, then the rest live", () =>
    Effect.gen(function*() {
      const { baseUrl, outcomes } = yield* serveRuns({ agents: { waiter }, reconnectWindow: "10 seconds" })
      // RunStarted, TurnStarted, ModelRequested, ModelResponded, ToolCallStarted: the tool waits 5 s
      const { frames, runId } = yield* startAndLeave(baseUrl, 5)
      assert.deepStrictEqual(frames.map((frame) => frame.event), ["RunStarted", "TurnStarted", "ModelRequested", "ModelResponded", "ToolCallStarted"])
      yield* realSleep(20)
      yield* TestClock.adjust("9 seconds")
      const response = yield* resume(baseUrl, runId, "3")
      assert.strictEqual(response.status, 200)
      assert.strictEqual(response.headers.get("x-run-id"), runId)
      const text = yield* Effect.promise(() => response.text())
      const resumed = parseSse(text).slice(1)
      assert.deepStrictEqual(resumed.map((frame) => [frame.id, frame.event]), [
        ["4", "ModelResponded"],
        ["5", "ToolCallStarted"],
        ["6", "ToolCallSucceeded"],
        ["7", "TurnStarted"],
        ["8", "ModelRequested"],
        ["9", "TextDelta"],
        ["10", "ModelResponded"],
        ["11", "RunCompleted"]
      ])
      const outcome = yield* Queue.take(outcomes)
      assert.strictEqual(outcome._tag, "RunCompleted")
      // the tool's 5 s passed while the client was away: the run went on
      assert.strictEqual(outcome.timestamp, 5000)
    }).pipe(Effect.provide(twoTurns)))

  it.scoped("a run nobody comes back to is interrupted when reconnectWindow has passed, not before", () =>
    Effect.gen(function*() {
      const { baseUrl, outcomes } = yield* serveRuns({ agents: { waiter }, reconnectWindow: "2 seconds" })
      const { runId } = yield* startAndLeave(baseUrl, 5)
      yield* realSleep(20)
      yield* TestClock.adjust("1999 millis")
      yield* realSleep(20)
      assert.isTrue(yield* outcomes.isEmpty)
      yield* TestClock.adjust("1 millis")
      const outcome = yield* Queue.take(outcomes)
      assert.deepStrictEqual(
        outcome,
        new Protocol.RunInterrupted({ runId, agent: "waiter", turn: 1, timestamp: 2000, reason: "client-disconnected" })
      )
      // its frames, with the RunInterrupted that ends the open tool call, stay available for another window
      const text = yield* Effect.flatMap(resume(baseUrl, runId, "4"), (response) => Effect.promise(() => response.text()))
      assert.deepStrictEqual(parseSse(text).slice(1).map((frame) => [frame.id, frame.event]), [["5", "ToolCallStarted"], ["6", "RunInterrupted"]])
      yield* TestClock.adjust("2 seconds")
      assert.strictEqual((yield* resume(baseUrl, runId, "4")).status, 404)
    }).pipe(Effect.provide(model)))

  it.scoped("a client that asks for frames older than the replay buffer gets 410 EventsExpired", () =>
    Effect.gen(function*() {
      const { baseUrl } = yield* serveRuns({ agents: { waiter }, replay: 2, reconnectWindow: "10 seconds" })
      const { runId } = yield* startAndLeave(baseUrl, 5)
      yield* realSleep(20)
      const response = yield* resume(baseUrl, runId, "1")
      assert.strictEqual(response.status, 410)
      const error = Schema.decodeUnknownSync(Protocol.HttpRunError)(yield* Effect.promise(() => response.json()))
      assert.deepStrictEqual(error, new Protocol.EventsExpired({ runId, lastEventId: 1, oldestKept: 4 }))
      assert.strictEqual((yield* resume(baseUrl, runId, "3")).status, 200)
    }).pipe(Effect.provide(model)))
})
