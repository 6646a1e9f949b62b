/**
 * Conversations across runs: `ConversationStore` continues a stored history, saves it only when
 * a run completes (a failed or interrupted run leaves it exactly as it was), and allows one run
 * per conversation at a time. The same over HTTP with `conversationId`, and the
 * `KeyValueStore`-backed store on the file system.
 */
import { Agent, AgentError, type Content, ConversationStore } from "@effect-agents/core"
import { KeyValueConversationStore } from "@effect-agents/http"
import { LeakCheck, ScriptedModel } from "@effect-agents/testing"
import { KeyValueStore } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Option, Stream, TestClock } from "effect"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { callThenAnswer, waiting } from "./agents.js"
import { parseSse, post, serveRuns } from "./support.js"

const store = ConversationStore.ConversationStore
const requests = Effect.flatMap(ScriptedModel.ScriptedModel, (model) => model.requests)

const assistant = Agent.make({ name: "assistant", instructions: "Help.", tools: [waiting("wait", Effect.sleep("10 seconds"))] })
const helper = Agent.make({ name: "helper", instructions: "Help the assistant." })
const delegating = Agent.make({ name: "delegating", instructions: "Delegate.", tools: [Agent.asTool(helper)] })

const texts = (history: ReadonlyArray<Content.Content>) =>
  history.map((content) => `${content.role}: ${content.parts.map((part) => part._tag === "Text" ? part.text : part._tag).join(" ")}`)

/** What the scripted model answers, by the last user prompt. */
const answers = ScriptedModel.layer((request) => {
  const prompt = request.contents.filter((content) => content.role === "user").at(-1)?.parts[0]
  const text = prompt?._tag === "Text" ? prompt.text : ""
  if (text === "fail") return ScriptedModel.fail(new AgentError.InvalidRequest({ detail: "bad prompt" }))
  if (text === "wait") return ScriptedModel.callTools([{ name: "wait", args: {} }])
  if (text === "delegate") return ScriptedModel.callTools([{ name: "helper", args: { input: "sub-question" } }])
  return ScriptedModel.text(`answer to ${text}`)
})

const layer = Layer.merge(answers, ConversationStore.layerMemory)

const run = (agent: Agent.Agent<never>, prompt: string) =>
  LeakCheck.check(ConversationStore.run(agent, { conversationId: "c-1", prompt }))

const stored = Effect.flatMap(store, (s) => s.load("c-1"))

describe("ConversationStore", () => {
  it.effect("a run continues the stored history: the model receives the earlier exchange, and the longer history is saved", () =>
    Effect.gen(function*() {
      yield* run(assistant, "first")
      const second = yield* run(assistant, "second")
      const [, request] = yield* requests
      assert.deepStrictEqual(texts(request!.contents), ["user: first", "model: answer to first", "user: second"])
      assert.deepStrictEqual(texts(second.history), ["user: first", "model: answer to first", "user: second", "model: answer to second"])
      assert.deepStrictEqual(yield* stored, Option.some(second.history))
    }).pipe(Effect.provide(layer)))

  it.effect("a failed run leaves the stored conversation exactly as it was", () =>
    Effect.gen(function*() {
      yield* run(assistant, "first")
      const before = yield* stored
      const exit = yield* Effect.exit(run(assistant, "fail"))
      assert.isTrue(Exit.isFailure(exit))
      assert.deepStrictEqual(yield* stored, before)
      assert.strictEqual(Option.getOrThrow(yield* stored).length, 2)
    }).pipe(Effect.provide(layer)))

  it.effect("an interrupted run leaves the stored conversation exactly as it was, and frees it", () =>
    Effect.gen(function*() {
      yield* run(assistant, "first")
      const before = yield* stored
      const fiber = yield* Effect.fork(run(assistant, "wait"))
      yield* TestClock.adjust("5 seconds")
      yield* Fiber.interrupt(fiber)
      assert.deepStrictEqual(yield* stored, before)
      const next = yield* run(assistant, "third")
      assert.deepStrictEqual(texts(next.history).slice(2), ["user: third", "model: answer to third"])
    }).pipe(Effect.provide(layer)))

  it.effect("a second run of a busy conversation fails at once with ConversationBusy; the first completes and saves", () =>
    Effect.gen(function*() {
      const first = yield* Effect.fork(run(assistant, "wait"))
      yield* TestClock.adjust("1 second")
      const busy = yield* Effect.flip(run(assistant, "second"))
      assert.deepStrictEqual(busy, new ConversationStore.ConversationBusy({ conversationId: "c-1" }))
      assert.strictEqual(
        busy.message,
        `The conversation "c-1" already has a run in progress; send the next prompt after that run has completed or failed.`
      )
      yield* TestClock.adjust("9 seconds")
      const result = yield* Fiber.join(first)
      assert.deepStrictEqual(yield* stored, Option.some(result.history))
    }).pipe(Effect.provide(Layer.merge(callThenAnswer("wait"), ConversationStore.layerMemory))))

  it.effect("stream saves the history before it emits RunCompleted; a sub-agent's RunCompleted saves nothing", () =>
    Effect.gen(function*() {
      const seen: Array<string> = []
      yield* ConversationStore.stream(delegating, { conversationId: "c-1", prompt: "delegate" }).pipe(
        Stream.runForEach((event) =>
          Effect.map(stored, (history) => {
            if (event._tag === "RunCompleted") seen.push(`${event.agent} ${Option.isSome(history) ? history.value.length : 0}`)
          })
        )
      )
      // the sub-agent completed first (nothing saved yet), then the run (its 4 messages saved before the event)
      assert.deepStrictEqual(seen, ["delegating/helper 0", "delegating 4"])
    }).pipe(Effect.provide(layer)))
})

describe("KeyValueConversationStore", () => {
  const withDirectory = <A, E>(f: (directory: string) => Effect.Effect<A, E>) =>
    Effect.acquireUseRelease(
      Effect.sync(() => mkdtempSync(join(tmpdir(), "effect-agents-kv-"))),
      f,
      (directory) => Effect.sync(() => rmSync(directory, { recursive: true, force: true }))
    )

  it.effect("keeps histories in files, provider metadata included, one per conversation", () =>
    withDirectory((directory) =>
      Effect.gen(function*() {
        const history: Content.History = [
          { role: "user", parts: [{ _tag: "Text", text: "2 + 3?" }] },
          { role: "model", parts: [{ _tag: "FunctionCall", id: "c1", name: "add", args: { a: 2, b: 3 }, metadata: { thoughtSignature: "c2ln" } }] },
          { role: "user", parts: [{ _tag: "FunctionResponse", id: "c1", name: "add", output: 5, isError: false }] }
        ]
        const conversations = yield* store
        yield* conversations.save("trip/1 ü", history)
        assert.deepStrictEqual(yield* conversations.load("trip/1 ü"), Option.some(history))
        assert.deepStrictEqual(yield* conversations.load("other"), Option.none())
      }).pipe(Effect.provide(KeyValueConversationStore.layerFileSystem(directory)))
    ))

  it.effect("a stored value that is not a history fails to load with ConversationStoreError", () =>
    withDirectory((directory) =>
      Effect.gen(function*() {
        writeFileSync(join(directory, encodeURIComponent("conversation/c-1")), "{\"not\":\"a history\"}")
        const error = yield* Effect.flip(Effect.flatMap(store, (s) => s.load("c-1")))
        assert.strictEqual(error._tag, "ConversationStoreError")
        assert.strictEqual(error.operation, "load")
      }).pipe(Effect.provide(KeyValueConversationStore.layerFileSystem(directory)))
    ))

  it.scopedLive("over HTTP, runs with the same conversationId continue one history", () =>
    Effect.gen(function*() {
      const { baseUrl } = yield* serveRuns({ agents: { assistant } })
      for (const prompt of ["first", "second"]) {
        const response = yield* post(baseUrl, { agent: "assistant", prompt, conversationId: "c-1" })
        assert.strictEqual(parseSse(yield* Effect.promise(() => response.text())).at(-1)!.event, "RunCompleted")
      }
      const [, second] = yield* requests
      assert.deepStrictEqual(texts(second!.contents), ["user: first", "model: answer to first", "user: second"])
      const kept = yield* Effect.flatMap(KeyValueStore.KeyValueStore, (kv) => kv.get("conversation/c-1"))
      assert.strictEqual(JSON.parse(Option.getOrThrow(kept)).length, 4)
    }).pipe(Effect.provide(Layer.mergeAll(answers, KeyValueConversationStore.layer.pipe(Layer.provideMerge(KeyValueStore.layerMemory))))))
})
