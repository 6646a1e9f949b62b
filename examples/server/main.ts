/**
 * The live timeline: a backend that serves agent runs over HTTP and a page that draws each run as
 * it happens — one lane per conversation and sub-agent, a bar per model call and tool call on a
 * time axis, interruptions and failures in red with their reason.
 *
 *   npm run server            # offline: GeminiEmulator answers (no network, no key)
 *   GEMINI_API_KEY=... npm run server   # the real Gemini API (GEMINI_MODEL, default gemini-2.5-flash)
 *
 * Then open http://localhost:3000 (PORT to change it). Conversations are kept in files under
 * .tmp/conversations. Ctrl-C interrupts the runs still going (their clients see RunInterrupted)
 * and stops the server.
 */
import { Gemini, GeminiEmulator } from "@effect-agents/gemini"
import { KeyValueConversationStore } from "@effect-agents/http"
import { HttpMiddleware, HttpServer } from "@effect/platform"
import { NodeHttpServer, NodeRuntime } from "@effect/platform-node"
import { Config, Effect, Layer, Option } from "effect"
import { createServer } from "node:http"
import { makeApp, script } from "./app.js"

/** The real Gemini API when GEMINI_API_KEY is set, else the emulator playing the demo script. */
const ModelLive = Layer.unwrapEffect(Effect.map(Config.option(Config.redacted("GEMINI_API_KEY")), (key) =>
  Option.isSome(key)
    ? Layer.tap(Gemini.layerConfig(), () => Effect.log("model: the Gemini API"))
    : Layer.tap(GeminiEmulator.layerModel({ script }), () => Effect.log("model: GeminiEmulator (offline); set GEMINI_API_KEY for Gemini"))
))

const ServerLive = Layer.unwrapScoped(Effect.gen(function*() {
  const app = yield* makeApp()
  const port = yield* Config.number("PORT").pipe(Config.withDefault(3000))
  yield* Effect.log(`the timeline is at http://localhost:${port}`)
  return HttpServer.serve(app, HttpMiddleware.logger).pipe(
    Layer.provide(NodeHttpServer.layer(createServer, { port }))
  )
}))

ServerLive.pipe(
  Layer.provide(ModelLive),
  Layer.provide(Layer.orDie(KeyValueConversationStore.layerFileSystem(".tmp/conversations"))),
  Layer.launch,
  NodeRuntime.runMain
)
