/**
 * The client leaving interrupts the run: a `fetch` aborted mid-tool (plain `AbortController`, no
 * library on the client side) makes the server interrupt the run at once — the sub-agent's model
 * request to Gemini (the emulator, through the real SDK) is aborted, the tool's finalizer runs —
 * and the outcome `RunInterrupted{reason: "client-disconnected"}` is logged and handed to
 * `onOutcome`, while the stored conversation stays exactly as the last completed run left it.
 * Closing the routes' scope interrupts the runs still going, and their clients get the
 * `RunInterrupted{reason: "server-shutdown"}` frame first.
 */
import { Agent, ConversationStore, Tool } from "@effect-agents/core"
import { GeminiEmulator } from "@effect-agents/gemini"
import { AgentHttp, KeyValueConversationStore, Protocol } from "@effect-agents/http"
import { ScriptedModel } from "@effect-agents/testing"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, FiberRef, HashSet, Layer, Logger, Queue, Schema, Scope } from "effect"
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { API_KEY, geminiFor } from "../gemini/fixtures.js"
import { strict } from "./agents.js"
import { leakChecked, listen, parseSse, post, serveRuns, tail } from "./support.js"

/** A planner whose `hold` tool waits a minute and records its finalizer, and a researcher sub-agent. */
const makePlanner = (finalized: Array<string>) => {
  const hold = Tool.make("hold", {
    description: "Hold a booking",
    parameters: Schema.Struct({ what: Schema.String }),
    success: Schema.String,
    handler: ({ what }) =>
      Effect.as(Effect.sleep("1 minute"), what).pipe(Effect.onInterrupt(() => Effect.sync(() => finalized.push(`hold ${what}`))))
  })
  const researcher = Agent.make({ name: "researcher", instructions: "Research." })
  return Agent.make({
    name: "planner",
    instructions: "Plan trips.",
    tools: [hold, Agent.asTool(researcher, { name: "research" })],
    policy: { toolFailure: "fail-fast" }
  })
}

const script = GeminiEmulator.byPrompt({
  Hello: [
    GeminiEmulator.text("Hi! Where to?"),
    GeminiEmulator.callTools([{ name: "hold", args: { what: "hotel" } }, { name: "research", args: { input: "Lisbon in May" } }])
  ],
  "Lisbon in May": [GeminiEmulator.hang()]
})

describe("a client that leaves", () => {
  it.live("interrupts its run mid-tool: the model request is aborted, finalizers run, the outcome is recorded, the conversation is unchanged", () =>
    leakChecked(Effect.gen(function*() {
      const directory = mkdtempSync(join(tmpdir(), "effect-agents-conversations-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(directory, { recursive: true, force: true })))
      const emulator = yield* GeminiEmulator.make({ script, apiKey: API_KEY })
      const context = yield* Layer.build(Layer.merge(geminiFor(emulator), KeyValueConversationStore.layerFileSystem(directory)))
      const logs: Array<string> = []
      const logger = Logger.make(({ logLevel, message }) => logs.push(`${logLevel.label} ${String(message)}`))
      const finalized: Array<string> = []
      const { baseUrl, outcomes } = yield* serveRuns({ agents: { planner: makePlanner(finalized) }, reconnectWindow: 0 }).pipe(
        Effect.provide(context),
        Effect.locallyWith(FiberRef.currentLoggers, HashSet.add(logger))
      )
      const store = yield* Effect.provide(ConversationStore.ConversationStore, context)

      // a first run completes and saves the conversation
      const first = yield* post(baseUrl, { agent: "planner", prompt: "Hello", conversationId: "trip-1" })
      assert.strictEqual(parseSse(yield* Effect.promise(() => first.text())).at(-1)!.event, "RunCompleted")
      assert.strictEqual((yield* Queue.take(outcomes))._tag, "RunCompleted")
      const saved = yield* store.load("trip-1")
      const [file] = readdirSync(directory)
      const bytes = readFileSync(join(directory, file!))

      // the second run's client leaves while both tools run and the sub-agent waits for Gemini
      const controller = new AbortController()
      const body = tail(yield* post(baseUrl, { agent: "planner", prompt: "Where should I stay?", conversationId: "trip-1" }, {
        signal: controller.signal
      }))
      yield* body.waitFor((text) => (text.match(/event: ToolCallStarted/g) ?? []).length === 2)
      const research = yield* emulator.awaitRequest(2)
      assert.strictEqual(research.prompt, "Lisbon in May")
      const abortedAt = Date.now()
      controller.abort()

      const outcome = yield* Queue.take(outcomes)
      assert.strictEqual(outcome._tag, "RunInterrupted")
      const interrupted = outcome as Protocol.RunInterrupted
      assert.deepStrictEqual(
        { reason: interrupted.reason, agent: interrupted.agent, conversationId: interrupted.conversationId, turn: interrupted.turn },
        { reason: "client-disconnected", agent: "planner", conversationId: "trip-1", turn: 1 }
      )
      assert.deepStrictEqual(finalized, ["hold hotel"])
      const disconnect = yield* emulator.awaitDisconnect(2).pipe(Effect.timeout("2 seconds"))
      assert.strictEqual(disconnect.by, "client")
      // measured ≈ 230 ms under vitest, most of it the first abort of the process loading source maps
      assert.isBelow(disconnect.at - abortedAt, 1000)
      assert.deepStrictEqual(logs.filter((line) => line.includes("interrupted")), [
        `INFO agent run ${interrupted.runId} was interrupted: client-disconnected`
      ])

      // the stored conversation is exactly what the completed run saved, and it is free again
      assert.deepStrictEqual(yield* store.load("trip-1"), saved)
      assert.deepStrictEqual(readFileSync(join(directory, file!)), bytes)
      yield* Effect.scoped(store.acquire("trip-1"))
    })))
})

describe("a server that shuts down", () => {
  it.live("interrupts the runs still going, and their clients get RunInterrupted{server-shutdown} as the last frame", () =>
    leakChecked(Effect.gen(function*() {
      const outcomes = yield* Queue.unbounded<Protocol.Outcome>()
      const routes = yield* Scope.make()
      const router = yield* AgentHttp.router({ agents: { strict }, onOutcome: (outcome) => Queue.offer(outcomes, outcome) }).pipe(
        Scope.extend(routes)
      )
      const baseUrl = yield* listen(router)
      const body = tail(yield* post(baseUrl, { agent: "strict", prompt: "Fail" }))
      yield* body.waitFor((text) => text.includes("event: ToolCallStarted"))
      yield* Scope.close(routes, Exit.void)
      yield* body.waitFor(() => body.ended())
      const last = parseSse(body.text()).at(-1)!
      assert.strictEqual(last.event, "RunInterrupted")
      const frame = Schema.decodeUnknownSync(Protocol.Frame)(JSON.parse(last.data!))
      assert.strictEqual(frame._tag === "RunInterrupted" && frame.reason, "server-shutdown")
      assert.deepStrictEqual(yield* Queue.take(outcomes), frame)
    }).pipe(Effect.provide(ScriptedModel.layer(() => ScriptedModel.callTools([{ name: "slow", args: { q: "a" } }]))))))
})
