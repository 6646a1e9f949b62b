/**
 * Approvals over HTTP: a call of a tool made with `needsApproval` shows `ApprovalRequested` on the
 * run's SSE stream and waits; `POST /runs/:runId/approvals/:callId {approve, reason?}` decides,
 * and the stream shows `ApprovalDecided`, then the call's outcome.
 */
import { Agent, Approvals, Tool } from "@effect-agents/core"
import { ScriptedModel } from "@effect-agents/testing"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import { leakChecked, parseSse, post, serveRuns, tail } from "./support.js"

const remove = Tool.make("remove", {
  description: "Deletes a file",
  parameters: Schema.Struct({ path: Schema.String }),
  success: Schema.String,
  needsApproval: true,
  handler: ({ path }) => Effect.succeed(`removed ${path}`)
})

const ops = Agent.make({ name: "ops", instructions: "Operate.", tools: [remove] })

const model = ScriptedModel.layer((request) =>
  request.contents.some((content) => content.role === "model")
    ? ScriptedModel.text("done")
    : ScriptedModel.callTools([{ name: "remove", args: { path: "/etc/hosts" } }])
)

const env = Layer.merge(model, Approvals.layerMemory)

const decide = (baseUrl: string, runId: string, callId: string, body: unknown) =>
  Effect.promise(() =>
    fetch(`${baseUrl}/runs/${runId}/approvals/${callId}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: typeof body === "string" ? body : JSON.stringify(body)
    })
  )

/** Start a run and wait until its stream shows the approval request; the run id, call id and body. */
const startWaiting = (baseUrl: string) =>
  Effect.gen(function*() {
    const response = yield* post(baseUrl, { agent: "ops", prompt: "Delete /etc/hosts" })
    const runId = response.headers.get("x-run-id")!
    const body = tail(response)
    const text = yield* body.waitFor((text) => text.includes("event: ApprovalRequested"))
    const requested = parseSse(text).find((frame) => frame.event === "ApprovalRequested")!
    const data = JSON.parse(requested.data!) as { readonly callId: string; readonly tool: string; readonly args: unknown }
    return { runId, body, data }
  })

const eventsOf = (text: string) => parseSse(text).flatMap((frame) => frame.event === undefined ? [] : [frame.event])

describe("approvals over HTTP", () => {
  it.effect("approving a waiting call over HTTP runs it; the stream shows the request and the decision", () =>
    leakChecked(Effect.gen(function*() {
      const { baseUrl } = yield* serveRuns({ agents: { ops } })
      const { body, data, runId } = yield* startWaiting(baseUrl)
      assert.deepStrictEqual([data.tool, data.args], ["remove", { path: "/etc/hosts" }])
      const answer = yield* decide(baseUrl, runId, data.callId, { approve: true })
      assert.strictEqual(answer.status, 204)
      const text = yield* body.waitFor((text) => text.includes("event: RunCompleted"))
      const events = eventsOf(text)
      const from = events.indexOf("ToolCallStarted")
      assert.deepStrictEqual(events.slice(from, from + 4), [
        "ToolCallStarted",
        "ApprovalRequested",
        "ApprovalDecided",
        "ToolCallSucceeded"
      ])
      const decided = JSON.parse(parseSse(text).find((frame) => frame.event === "ApprovalDecided")!.data!)
      assert.strictEqual(decided.approved, true)
    })).pipe(Effect.provide(env)))

  it.effect("denying with a reason over HTTP answers the model with it; the handler never runs", () =>
    leakChecked(Effect.gen(function*() {
      const { baseUrl } = yield* serveRuns({ agents: { ops } })
      const { body, data, runId } = yield* startWaiting(baseUrl)
      const answer = yield* decide(baseUrl, runId, data.callId, { approve: false, reason: "hosts is needed" })
      assert.strictEqual(answer.status, 204)
      const text = yield* body.waitFor((text) => text.includes("event: RunCompleted"))
      const frames = parseSse(text)
      const decided = JSON.parse(frames.find((frame) => frame.event === "ApprovalDecided")!.data!)
      assert.deepStrictEqual([decided.approved, decided.reason], [false, "hosts is needed"])
      const failed = JSON.parse(frames.find((frame) => frame.event === "ToolCallFailed")!.data!)
      assert.deepStrictEqual([failed.kind, failed.reported], ["denied", true])
      assert.include(failed.error, "hosts is needed")
      assert.isFalse(eventsOf(text).includes("ToolCallSucceeded"))
    })).pipe(Effect.provide(env)))

  it.effect("a decision for no live run gets 404, a body that is not a decision 400", () =>
    leakChecked(Effect.gen(function*() {
      const { baseUrl } = yield* serveRuns({ agents: { ops } })
      const missing = yield* decide(baseUrl, "nope", "call_1_0", { approve: true })
      assert.strictEqual(missing.status, 404)
      assert.strictEqual((yield* Effect.promise(() => missing.json()))._tag, "RunNotFound")
      const { body, data, runId } = yield* startWaiting(baseUrl)
      const bad = yield* decide(baseUrl, runId, data.callId, { approve: "yes" })
      assert.strictEqual(bad.status, 400)
      const error = yield* Effect.promise(() => bad.json())
      assert.strictEqual(error._tag, "BadRunRequest")
      assert.include(error.message, "approve")
      // the run still waits; approve it so it ends
      assert.strictEqual((yield* decide(baseUrl, runId, data.callId, { approve: true })).status, 204)
      yield* body.waitFor((text) => text.includes("event: RunCompleted"))
    })).pipe(Effect.provide(env)))
})
