/**
 * The smallest backend: the run routes of one agent mounted on your own router, the real Gemini
 * API (GEMINI_API_KEY) behind them, conversations kept in files. The README's "Embedding in an
 * Effect backend" shows this file.
 *
 *   GEMINI_API_KEY=... npm run example -- examples/server/minimal.ts
 *   curl -N localhost:3000/agents/runs -H 'content-type: application/json' -d '{"agent":"math","prompt":"What is 2 + 3?"}'
 */
import { Agent, Tool } from "@effect-agents/core"
import { Gemini } from "@effect-agents/gemini"
import { AgentHttp, KeyValueConversationStore } from "@effect-agents/http"
import { HttpMiddleware, HttpRouter, HttpServer, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer, NodeRuntime } from "@effect/platform-node"
import { Effect, Layer, Schema } from "effect"
import { createServer } from "node:http"

const add = Tool.fromSync("add", {
  description: "Add two numbers",
  parameters: Schema.Struct({ a: Schema.Number, b: Schema.Number }),
  handler: ({ a, b }) => a + b
})
const math = Agent.make({ name: "math", instructions: "Use the tools for every calculation.", tools: [add] })

const ServerLive = Layer.unwrapScoped(Effect.gen(function*() {
  const runs = yield* AgentHttp.router({ agents: { math } }) // POST /runs, GET /runs/:runId/events
  const app = HttpRouter.empty.pipe(
    HttpRouter.get("/health", HttpServerResponse.text("ok")),
    HttpRouter.mount("/agents", runs)
  )
  return HttpServer.serve(app, HttpMiddleware.logger)
}))

ServerLive.pipe(
  Layer.provide(Gemini.layerConfig({ model: "gemini-2.5-flash" })), // the Model of every run
  Layer.provide(KeyValueConversationStore.layerFileSystem(".conversations")), // POST /runs { conversationId }
  Layer.provide(NodeHttpServer.layer(createServer, { port: 3000 })),
  Layer.launch,
  NodeRuntime.runMain
)
