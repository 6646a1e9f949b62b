/**
 * Many clients at once: 200 SSE streams on one server, each its own run, each complete and in
 * order, none mixed up with another (the runs' events interleave on the server).
 */
import { Agent, AgentEvent, Tool } from "@effect-agents/core"
import { Protocol } from "@effect-agents/http"
import { ScriptedModel } from "@effect-agents/testing"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { parseSse, post, serveRuns } from "./support.js"

const clients = 200

const echo = Tool.make("echo", {
  description: "Echo after a pause",
  parameters: Schema.Struct({ text: Schema.String }),
  success: Schema.String,
  handler: ({ text }) => Effect.as(Effect.sleep("20 millis"), text)
})

const agent = Agent.make({ name: "echo", instructions: "Echo.", tools: [echo] })

const prompts = Array.from({ length: clients }, (_, i) => `prompt ${i}`)

const model = ScriptedModel.layer(ScriptedModel.byPrompt(Object.fromEntries(prompts.map((prompt, i) => [prompt, [
  ScriptedModel.callTools([{ name: "echo", args: { text: prompt } }], { delay: `${i % 7} millis` }),
  ScriptedModel.text(`answer ${i}`)
]]))))

const decode = Schema.decodeUnknownSync(Protocol.Frame)

describe("concurrent clients", () => {
  it.scopedLive(`${clients} concurrent SSE clients each get their own complete, correctly ordered stream`, () =>
    Effect.gen(function*() {
      const { baseUrl } = yield* serveRuns({ agents: { echo: agent } })
      const bodies = yield* Effect.forEach(
        prompts,
        (prompt) => Effect.flatMap(post(baseUrl, { agent: "echo", prompt }), (response) => Effect.promise(() => response.text())),
        { concurrency: "unbounded" }
      )
      const runIds = new Set<string>()
      bodies.forEach((body, i) => {
        const blocks = parseSse(body).slice(1)
        assert.deepStrictEqual(blocks.map((block) => block.id), blocks.map((_, n) => String(n + 1)))
        const events = blocks.map((block) => decode(JSON.parse(block.data!))) as Array<AgentEvent.AgentEvent>
        assert.deepStrictEqual(events.map((event) => event._tag), [
          "RunStarted",
          "TurnStarted",
          "ModelRequested",
          "ModelResponded",
          "ToolCallStarted",
          "ToolCallSucceeded",
          "TurnStarted",
          "ModelRequested",
          "TextDelta",
          "TextDelta",
          "ModelResponded",
          "RunCompleted"
        ])
        const [started] = events
        assert.strictEqual(started!._tag === "RunStarted" && started!.input, prompts[i])
        assert.strictEqual(new Set(events.map((event) => event.runId)).size, 1)
        const succeeded = events[5] as AgentEvent.ToolCallSucceeded
        assert.strictEqual(succeeded.output, prompts[i])
        assert.strictEqual((events.at(-1) as AgentEvent.RunCompleted).text, `answer ${i}`)
        runIds.add(started!.runId)
      })
      assert.strictEqual(runIds.size, clients)
    }).pipe(Effect.provide(model)))
})
