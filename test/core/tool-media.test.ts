/**
 * Tool results with media (`Content.toolOutput`): the output is the function response's JSON as
 * for any result, the media its `parts`; media that is not a MIME type with base64 data is an
 * invalid result.
 */
import { Agent, Content, Tool } from "@effect-agents/core"
import { ScriptedModel } from "@effect-agents/testing"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { ofTag, responsesOf, runFor } from "../support/agents.js"

const photo = (parts: ReadonlyArray<Content.InlineData>) =>
  Tool.make("photo", {
    description: "Take a photo",
    parameters: Schema.Struct({}),
    success: Content.ToolOutput,
    handler: () => Effect.as(Effect.sleep("1 second"), Content.toolOutput("a photo", parts))
  })

const agentWith = (parts: ReadonlyArray<Content.InlineData>) =>
  Agent.make({ name: "camera", instructions: "Take photos.", tools: [photo(parts)], policy: { toolFailure: "report" } })

const script = ScriptedModel.layer([ScriptedModel.callTools([{ name: "photo", args: {} }]), ScriptedModel.text("done")])

describe("tool results with media", () => {
  it.effect("the output goes to the model as the response, the media as its parts; the event carries the output", () =>
    Effect.gen(function*() {
      const result = yield* runFor(agentWith([{ mimeType: "image/jpeg", data: "/9j/4AAQ" }]), "go", 1000)
      const [response] = yield* responsesOf(1)
      assert.deepStrictEqual(response, {
        _tag: "FunctionResponse",
        id: (response as Content.FunctionResponsePart).id,
        name: "photo",
        output: "a photo",
        isError: false,
        parts: [{ mimeType: "image/jpeg", data: "/9j/4AAQ" }]
      })
      const [succeeded] = ofTag(result.events, "ToolCallSucceeded")
      assert.deepInclude(succeeded, { output: "a photo", timestamp: 1000 })
    }).pipe(Effect.provide(script)))

  it.effect("a part whose MIME type is not one is an invalid result naming it", () =>
    Effect.gen(function*() {
      const result = yield* runFor(agentWith([{ mimeType: "image/png", data: "iVBORw0K" }, { mimeType: "png", data: "iVBORw0K" }]), "go", 1000)
      const [failed] = ofTag(result.events, "ToolCallFailed")
      assert.deepInclude(failed, { kind: "invalid-result", reported: true, timestamp: 1000 })
      assert.include(failed!.error, `parts[1].mimeType must be a MIME type such as "image/png", got "png"`)
      const [response] = yield* responsesOf(1)
      assert.deepInclude(response, { isError: true })
      assert.notProperty(response, "parts")
    }).pipe(Effect.provide(script)))

  it.effect("data that is not base64 is an invalid result", () =>
    Effect.gen(function*() {
      const result = yield* runFor(agentWith([{ mimeType: "image/png", data: "not base64!" }]), "go", 1000)
      assert.include(ofTag(result.events, "ToolCallFailed")[0]!.error, "parts[0].data must be base64 text")
    }).pipe(Effect.provide(script)))
})
