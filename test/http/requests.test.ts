/**
 * Requests the server refuses: `400` with a Schema-formatted message for a bad body, `409` for a
 * conversation that already has a run, `404`/`410` for reconnects it cannot serve, and a
 * `RunNotStarted` frame (or `500` in JSON mode) for a run that fails before it starts. No answer
 * carries a stack trace.
 */
import { Agent, ConversationStore } from "@effect-agents/core"
import { Protocol } from "@effect-agents/http"
import { ScriptedModel } from "@effect-agents/testing"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import { parseSse, post, serveRuns, tail } from "./support.js"

const math = Agent.make({ name: "math", instructions: "Compute." })

const decodeError = Schema.decodeUnknownSync(Protocol.HttpRunError)

/** The error body of a refused request, checked for its status, media type and the absence of stack traces. */
const refused = (response: Response, status: number) =>
  Effect.gen(function*() {
    assert.strictEqual(response.status, status)
    assert.strictEqual(response.headers.get("content-type"), "application/json")
    const text = yield* Effect.promise(() => response.text())
    assert.notMatch(text, /\bat .*\.(ts|js):\d+/)
    return decodeError(JSON.parse(text))
  })

const badRequest = (baseUrl: string, body: unknown) =>
  Effect.flatMap(post(baseUrl, body), (response) => refused(response, 400)).pipe(
    Effect.map((error) => {
      assert.strictEqual(error._tag, "BadRunRequest")
      return error.message
    })
  )

const schema =
  "{ readonly agent: string; readonly prompt: minLength(1); readonly conversationId?: a string matching the pattern ^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$ }"

const model = ScriptedModel.layer(() => ScriptedModel.text("4"))

describe("refused requests", () => {
  it.scopedLive("an unknown agent gets 400 naming the agents the server runs", () =>
    Effect.gen(function*() {
      const { baseUrl } = yield* serveRuns({ agents: { math } })
      assert.strictEqual(yield* badRequest(baseUrl, { agent: "poet", prompt: "Hi" }), `unknown agent "poet"; this server runs: math`)
    }).pipe(Effect.provide(model)))

  it.scopedLive("a missing prompt and fields of the wrong type get 400 with the Schema's formatted issues", () =>
    Effect.gen(function*() {
      const { baseUrl } = yield* serveRuns({ agents: { math } })
      assert.strictEqual(
        yield* badRequest(baseUrl, { agent: "math" }),
        `the body is not a run request:\n${schema}\n└─ ["prompt"]\n   └─ is missing`
      )
      assert.strictEqual(
        yield* badRequest(baseUrl, { agent: 7, prompt: "", conversationId: "../etc/passwd" }),
        `the body is not a run request:
${schema}
├─ ["agent"]
│  └─ Expected string, actual 7
├─ ["prompt"]
│  └─ the prompt must not be empty
└─ ["conversationId"]
   └─ a conversation id is 1 to 128 letters, digits or . _ : - (starting with a letter or digit)`
      )
    }).pipe(Effect.provide(model)))

  it.scopedLive("a body that is not JSON, or larger than maxBodySize (with or without Content-Length), gets 400", () =>
    Effect.gen(function*() {
      const { baseUrl } = yield* serveRuns({ agents: { math }, maxBodySize: 100 })
      assert.strictEqual(yield* badRequest(baseUrl, "{ not json"), `the body is not JSON; send {"agent": "...", "prompt": "..."}`)
      const tooLarge = "the body is larger than 100 bytes, the most this server accepts (its maxBodySize option)"
      assert.strictEqual(yield* badRequest(baseUrl, { agent: "math", prompt: "x".repeat(100) }), tooLarge)
      // a streamed body has no Content-Length: the limit applies while reading it
      const chunked = yield* Effect.promise(() =>
        fetch(`${baseUrl}/runs`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: new Blob([JSON.stringify({ agent: "math", prompt: "x".repeat(200) })]).stream(),
          duplex: "half"
        } as RequestInit)
      )
      assert.strictEqual((yield* refused(chunked, 400)).message, tooLarge)
    }).pipe(Effect.provide(model)))

  it.scopedLive("a conversation id on a server without a ConversationStore gets 400", () =>
    Effect.gen(function*() {
      const { baseUrl } = yield* serveRuns({ agents: { math } })
      assert.strictEqual(
        yield* badRequest(baseUrl, { agent: "math", prompt: "Hi", conversationId: "c-1" }),
        "this server keeps no conversations (no ConversationStore is provided to its routes); send the request without conversationId"
      )
    }).pipe(Effect.provide(model)))

  it.scopedLive("a second run of a conversation whose run is still going gets 409; other conversations run", () =>
    Effect.gen(function*() {
      const { baseUrl } = yield* serveRuns({ agents: { math } })
      const first = tail(yield* post(baseUrl, { agent: "math", prompt: "slow", conversationId: "c-1" }))
      yield* first.waitFor((text) => text.includes("event: ModelRequested"))
      const busy = yield* refused(yield* post(baseUrl, { agent: "math", prompt: "again", conversationId: "c-1" }), 409)
      assert.deepStrictEqual(busy, new ConversationStore.ConversationBusy({ conversationId: "c-1" }))
      const other = yield* post(baseUrl, { agent: "math", prompt: "quick", conversationId: "c-2" }, { accept: "application/json" })
      assert.strictEqual(other.status, 200)
    }).pipe(Effect.provide(Layer.merge(
      ScriptedModel.layer((request) => request.contents[0]?.parts[0]?._tag === "Text" && request.contents[0].parts[0].text === "slow" ? ScriptedModel.hang : ScriptedModel.text("4")),
      ConversationStore.layerMemory
    ))))

  it.scopedLive("reconnecting to an unknown run gets 404, and a Last-Event-ID that is not a frame number 400", () =>
    Effect.gen(function*() {
      const { baseUrl } = yield* serveRuns({ agents: { math } })
      const unknown = yield* Effect.promise(() => fetch(`${baseUrl}/runs/0badc0de/events`, { headers: { "last-event-id": "3" } }))
      assert.deepStrictEqual(yield* refused(unknown, 404), new Protocol.RunNotFound({ runId: "0badc0de" }))
      const garbage = yield* Effect.promise(() => fetch(`${baseUrl}/runs/0badc0de/events`, { headers: { "last-event-id": "three" } }))
      assert.strictEqual((yield* refused(garbage, 400)).message, `Last-Event-ID must be a frame number (0 or more), got "three"`)
    }).pipe(Effect.provide(model)))
})

describe("a run that fails before it starts", () => {
  const failingStore = ConversationStore.layer({
    load: (conversationId) =>
      Effect.fail(new ConversationStore.ConversationStoreError({ conversationId, operation: "load", detail: "disk unreadable" })),
    save: () => Effect.void
  })
  const expected = new Protocol.RunNotStarted({
    error: "ConversationStoreError",
    message: `The conversation store could not load the conversation "c-1": disk unreadable. ` +
      `Check the store's backend (its directory or database); the stored history is unchanged.`
  })

  it.scopedLive("streams a single RunNotStarted frame, and hands no outcome over", () =>
    Effect.gen(function*() {
      const { baseUrl, outcomes } = yield* serveRuns({ agents: { math } })
      const response = yield* post(baseUrl, { agent: "math", prompt: "Hi", conversationId: "c-1" })
      assert.strictEqual(response.status, 200)
      const [, frame, ...rest] = parseSse(yield* Effect.promise(() => response.text()))
      assert.deepStrictEqual(rest, [])
      assert.deepStrictEqual({ id: frame!.id, event: frame!.event }, { id: "1", event: "RunNotStarted" })
      assert.deepStrictEqual(Schema.decodeUnknownSync(Protocol.Frame)(JSON.parse(frame!.data!)), expected)
      assert.isTrue(yield* outcomes.isEmpty)
    }).pipe(Effect.provide(Layer.merge(model, failingStore))))

  it.scopedLive("answers 500 with RunNotStarted in JSON mode", () =>
    Effect.gen(function*() {
      const { baseUrl } = yield* serveRuns({ agents: { math } })
      const response = yield* post(baseUrl, { agent: "math", prompt: "Hi", conversationId: "c-1" }, { accept: "application/json" })
      assert.deepStrictEqual(yield* refused(response, 500), expected)
    }).pipe(Effect.provide(Layer.merge(model, failingStore))))
})
