/**
 * Media in function responses: a tool result made with `Content.toolOutput` reaches Gemini as
 * `functionResponse.parts[].inlineData` (base64 with its MIME type), and the emulator accepts
 * what Gemini's `FunctionResponsePart` takes and refuses what it does not.
 */
import { Agent, Content, Tool } from "@effect-agents/core"
import { GeminiEmulator } from "@effect-agents/gemini"
import { LeakCheck } from "@effect-agents/testing"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { post, withEmulator } from "./fixtures.js"

const png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="

const chart = Tool.make("chart", {
  description: "Draw the chart",
  parameters: Schema.Struct({}),
  success: Content.ToolOutput,
  handler: () => Effect.succeed(Content.toolOutput({ title: "Sales" }, [{ mimeType: "image/png", data: png }]))
})

const analyst = Agent.make({ name: "analyst", instructions: "Draw charts.", tools: [chart] })

/** A function-call turn answered by `response`, for posting to the emulator. */
const answered = (response: unknown) => ({
  contents: [
    { role: "user", parts: [{ text: "Draw" }] },
    { role: "model", parts: [{ functionCall: { name: "chart", args: {} } }] },
    { role: "user", parts: [{ functionResponse: response }] }
  ]
})

const withParts = (parts: unknown) => answered({ name: "chart", response: { output: "ok" }, parts })

describe("media in function responses", () => {
  it.live("a tool's Content.toolOutput goes to Gemini as inline data parts of its function response", () =>
    withEmulator(
      [GeminiEmulator.callTools([{ name: "chart", args: {}, id: "c1" }]), GeminiEmulator.text("Here it is.")],
      (emulator) =>
        Effect.gen(function*() {
          const result = yield* LeakCheck.check(Agent.run(analyst, "Draw the sales chart"))
          const response = result.history.at(-2)!.parts[0]
          assert.deepInclude(response, { output: { title: "Sales" }, parts: [{ mimeType: "image/png", data: png }] })
          const requests = yield* emulator.requests
          assert.deepStrictEqual(requests[1]!.body.contents?.at(-1)?.parts, [{
            functionResponse: {
              id: "c1",
              name: "chart",
              response: { output: { title: "Sales" } },
              parts: [{ inlineData: { mimeType: "image/png", data: png } }]
            }
          }])
        })
    ))

  it.live("the emulator accepts inline data and file data parts, by either field name", () =>
    withEmulator([GeminiEmulator.text("ok"), GeminiEmulator.text("ok")], (emulator) =>
      Effect.gen(function*() {
        const inline = yield* post(emulator, withParts([{ inlineData: { mimeType: "image/png", data: png } }]))
        assert.strictEqual(inline.status, 200)
        const snake = yield* post(emulator, withParts([
          { inline_data: { mime_type: "application/pdf", data: "JVBERi0=" } },
          { file_data: { mime_type: "image/jpeg", file_uri: "https://example.com/a.jpg" } }
        ]))
        assert.strictEqual(snake.status, 200)
      })))

  it.live("the emulator refuses function response parts Gemini refuses, with Gemini's message", () =>
    withEmulator([], (emulator) =>
      Effect.gen(function*() {
        const refusal = (parts: unknown) => Effect.map(post(emulator, withParts(parts)), (response) => [response.status, response.error?.message])
        const at = "contents[2].parts[0].function_response.parts"
        assert.deepStrictEqual(yield* refusal({ inlineData: { mimeType: "image/png", data: png } }), [
          400,
          `Invalid value at '${at}' (type.googleapis.com/google.ai.generativelanguage.v1beta.FunctionResponsePart), object`
        ])
        assert.deepStrictEqual(yield* refusal([{ text: "a chart" }]), [
          400,
          `Invalid JSON payload received. Unknown name "text" at '${at}[0]': Cannot find field.`
        ])
        assert.deepStrictEqual(yield* refusal([{}]), [
          400,
          `* GenerateContentRequest.${at}[0].data: required oneof field 'data' must have one initialized field`
        ])
        assert.deepStrictEqual(
          yield* refusal([{ inlineData: { mimeType: "image/png", data: png }, fileData: { mimeType: "image/png", fileUri: "x" } }]),
          [400, `Invalid value at '${at}[0]' (oneof), oneof field 'data' is already set. Cannot set 'fileData'`]
        )
        assert.deepStrictEqual(yield* refusal([{ inlineData: { data: png } }]), [
          400,
          `* GenerateContentRequest.${at}[0].inline_data.mime_type: a function response part requires a MIME type`
        ])
        assert.deepStrictEqual(yield* refusal([{ inlineData: { mimeType: "image/png", data: "not base64!" } }]), [
          400,
          `Invalid value at '${at}[0].inline_data.data' (TYPE_BYTES), Base64 decoding failed for "not base64!"`
        ])
        assert.deepStrictEqual(yield* refusal([{ inlineData: { mimeType: "image/png", data: png, uri: "x" } }]), [
          400,
          `Invalid JSON payload received. Unknown name "uri" at '${at}[0].inline_data': Cannot find field.`
        ])
      })))
})
