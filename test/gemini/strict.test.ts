/**
 * The emulator refuses what Gemini refuses (issue 12, point 8), with Gemini's status and message,
 * so the tests above can catch the library sending something Gemini would reject. Each refusal is
 * checked against the request that triggers it; where the library could send it, through the SDK.
 */
import { type Content, Model } from "@effect-agents/core"
import { GeminiEmulator } from "@effect-agents/gemini"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { API_KEY, MODEL, post, request, withEmulator } from "./fixtures.js"

const user = (text: string) => ({ role: "user", parts: [{ text }] })

/** A hand-built history: a call (signed or not) answered by a response, then a generate call. */
const historyWithCall = (metadata?: Content.Metadata): ReadonlyArray<Content.Content> => [
  { role: "user", parts: [{ _tag: "Text", text: "What is 2 + 3?" }] },
  {
    role: "model",
    parts: [{ _tag: "FunctionCall", id: "c1", name: "add", args: { a: 2, b: 3 }, ...(metadata ? { metadata } : {}) }]
  },
  { role: "user", parts: [{ _tag: "FunctionResponse", id: "c1", name: "add", output: 5, isError: false }] }
]

const generate = (contents: ReadonlyArray<Content.Content>, tools: Model.ModelRequest["tools"] = []) =>
  Effect.flatMap(Model.Model, (model) => model.generate({ agent: "test", contents, tools }))

describe("GeminiEmulator refuses what Gemini refuses", () => {
  it.live("Gemini 3: a function call of the current turn sent back without its thought signature", () =>
    withEmulator(() => GeminiEmulator.text("ok"), () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(generate(historyWithCall()))
        assert.strictEqual(error._tag, "InvalidRequest")
        assert.include(error.message, "Function call is missing a thought_signature in functionCall parts")
        assert.include(error.message, "default_api:add")
        // the same history with the signature Gemini gave passes
        yield* generate(historyWithCall({ gemini: { thoughtSignature: "c2lnLWFkZA==" } }))
      }), { model: "gemini-3-flash-preview" }))

  it.live("a function response count that does not match the calls of the turn before", () =>
    withEmulator([], (emulator) =>
      Effect.gen(function*() {
        const response = yield* post(emulator, {
          contents: [
            user("Add twice"),
            { role: "model", parts: [{ functionCall: { name: "add", args: {} } }, { functionCall: { name: "add", args: {} } }] },
            { role: "user", parts: [{ functionResponse: { name: "add", response: { output: 1 } } }] }
          ]
        })
        assert.strictEqual(response.status, 400)
        assert.strictEqual(response.error?.status, "INVALID_ARGUMENT")
        assert.include(response.error?.message ?? "", "the number of function response parts is equal to the number of function call parts")
      })))

  it.live("a role other than user or model", () =>
    withEmulator([], (emulator) =>
      Effect.gen(function*() {
        const response = yield* post(emulator, { contents: [{ role: "system", parts: [{ text: "Be brief." }] }] })
        assert.deepStrictEqual([response.status, response.error?.message], [400, "Please use a valid role: user, model."])
      })))

  it.live("empty parts", () =>
    withEmulator([], (emulator) =>
      Effect.gen(function*() {
        const response = yield* post(emulator, { contents: [user("Hi"), { role: "model", parts: [] }] })
        assert.deepStrictEqual([response.status, response.error?.message], [
          400,
          "* GenerateContentRequest.contents[1].parts: contents.parts must not be empty."
        ])
      })))

  it.live("contents: [null] is a 400, never a 500", () =>
    withEmulator([], (emulator) =>
      Effect.gen(function*() {
        const response = yield* post(emulator, { contents: [null] })
        assert.strictEqual(response.status, 400)
        assert.include(response.error?.message ?? "", "contents[0]")
      })))

  it.live("a declaration that is not an object schema (what Schema.Struct({}) used to declare)", () =>
    withEmulator([GeminiEmulator.text("never sent")], () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(generate([{ role: "user", parts: [{ _tag: "Text", text: "Hi" }] }], [{
          name: "ping",
          description: "Ping",
          parameters: { $id: "/schemas/%7B%7D", anyOf: [{ type: "object" }, { type: "array" }] }
        }]))
        assert.strictEqual(error._tag, "InvalidRequest")
        assert.include(error.message, `parameters_json_schema: the schema must describe an object (type "object")`)
      })))

  it.live("a declaration using a keyword outside the documented subset", () =>
    withEmulator([GeminiEmulator.text("never sent")], () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(generate([{ role: "user", parts: [{ _tag: "Text", text: "Hi" }] }], [{
          name: "greet",
          description: "Greet",
          parameters: { type: "object", properties: { name: { type: "string", minLength: 1 } } }
        }]))
        assert.include(error.message, `parameters_json_schema.properties.name: unsupported JSON Schema keyword "minLength"`)
      })))

  it.live("a wrong key: 400 with ErrorInfo API_KEY_INVALID, not 401", () =>
    withEmulator([], (emulator) =>
      Effect.gen(function*() {
        const response = yield* post(emulator, { contents: [user("Hi")] }, { headers: { "x-goog-api-key": "AIzaWRONG" } })
        assert.strictEqual(response.status, 400)
        assert.strictEqual(response.error?.details?.[0]?.["reason"], "API_KEY_INVALID")
      })))

  it.live("an unknown model name: 404, which the layer reports as InvalidRequest naming the model", () =>
    withEmulator([GeminiEmulator.text("never sent")], () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(generate([{ role: "user", parts: [{ _tag: "Text", text: "Hi" }] }]))
        assert.strictEqual(error._tag, "InvalidRequest")
        assert.include(error.message, `models/gemini-2.5-flsh is not found for API version v1beta`)
        assert.include(error.message, "Check the model name.")
      }), { model: "gemini-2.5-flsh", emulator: { models: ["gemini-2.5-flash", "gemini-2.5-pro"] } }))

  it.live("a body over the size limit is read without being kept and refused with 400", () =>
    withEmulator([], (emulator) =>
      Effect.gen(function*() {
        const mb = new Uint8Array(1024 * 1024).fill(32) // spaces: valid JSON padding
        let sent = 0
        const before = process.memoryUsage().arrayBuffers
        const response = yield* Effect.promise(() =>
          fetch(`${emulator.baseUrl}/v1beta/models/${MODEL}:generateContent`, {
            method: "POST",
            headers: { "content-type": "application/json", "x-goog-api-key": API_KEY },
            // 100 MB, produced as it is sent: neither side needs to hold it
            body: new ReadableStream({
              pull(controller) {
                if (sent++ < 100) controller.enqueue(mb)
                else controller.close()
              }
            }),
            duplex: "half"
          } as RequestInit).then(async (r) => ({ status: r.status, body: await r.json() as unknown }))
        )
        const grown = process.memoryUsage().arrayBuffers - before
        assert.deepStrictEqual(response, {
          status: 400,
          body: { error: { code: 400, message: "Request payload size exceeds the limit: 20971520 bytes.", status: "INVALID_ARGUMENT" } }
        })
        assert.isBelow(grown, 50 * 1024 * 1024, `array buffers grew by ${grown} bytes while a 100 MB body went through`)
        const [recorded] = yield* emulator.requests
        assert.deepStrictEqual([recorded.bytes, recorded.body], [100 * 1024 * 1024, {}])
      })))

  it.live("20 MB of nested JSON is parsed and answered in well under 10 s", () =>
    withEmulator([GeminiEmulator.text("ok")], (emulator) =>
      Effect.gen(function*() {
        // a tool result of ~17 MB: 64 branches, each 40 levels deep over 2,500 leaves
        const leaves = Array.from({ length: 2500 }, (_, i) => ({ i, text: "x".repeat(90) }))
        let nested: unknown = leaves
        for (let depth = 0; depth < 40; depth++) nested = { level: depth, items: [nested], note: "y".repeat(50) }
        const wide = Array.from({ length: 64 }, () => nested)
        const body = JSON.stringify({
          contents: [
            user("Summarize"),
            { role: "model", parts: [{ functionCall: { name: "fetch", args: {} } }] },
            { role: "user", parts: [{ functionResponse: { name: "fetch", response: { output: wide } } }] }
          ]
        })
        assert.isAbove(body.length, 15 * 1024 * 1024)
        assert.isBelow(body.length, 20 * 1024 * 1024)
        const started = Date.now()
        const response = yield* post(emulator, body)
        const took = Date.now() - started
        assert.strictEqual(response.status, 200)
        assert.isBelow(took, 5000, `took ${took} ms`)
      })))

  it.live("JSON nested deeper than 100 levels is a 400, never a 500 or a stack overflow", () =>
    withEmulator([], (emulator) =>
      Effect.gen(function*() {
        const deep = "[".repeat(1_000_000) + "]".repeat(1_000_000)
        const response = yield* post(emulator, `{"contents": ${deep}}`)
        assert.strictEqual(response.status, 400)
        assert.include(response.error?.message ?? "", "Nesting is deeper than 100 levels")
      })))

  it.live("request recording is bounded: the latest requests are kept, large bodies recorded as {}", () =>
    withEmulator(() => GeminiEmulator.text("ok"), (emulator) =>
      Effect.gen(function*() {
        const model = yield* Model.Model
        for (const prompt of ["one", "two", "three"]) yield* model.generate(request(prompt))
        yield* model.generate(request("x".repeat(2048)))
        const requests = yield* emulator.requests
        assert.deepStrictEqual(requests.map((r) => r.index), [1, 2, 3])
        assert.deepStrictEqual(requests[2].body, {})
        assert.isAbove(requests[2].bytes, 2048)
        assert.strictEqual(requests[0].prompt, "two")
        assert.strictEqual((yield* emulator.awaitRequest(3)).index, 3)
      }), { emulator: { recordLimit: 3, recordBodyBytes: 1024 } }))
})
