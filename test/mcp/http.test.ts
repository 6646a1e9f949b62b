/**
 * MCP toolsets over Streamable HTTP, against a real MCP server (the SDK's `Server` behind its
 * `StreamableHTTPServerTransport`) in this process on 127.0.0.1:0.
 */
import { Agent, AgentError } from "@effect-agents/core"
import { McpError, McpToolset } from "@effect-agents/mcp"
import { ScriptedModel } from "@effect-agents/testing"
import { SSEServerTransport } from "@modelcontextprotocol/sdk/server/sse.js"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Layer, Option } from "effect"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { makeServer } from "./fixtures/server.js"
import { eventually, httpFixture, resources, runWith } from "./support.js"

const assistant = Agent.make({ name: "assistant", instructions: "Use the tools." })

const requests = Effect.flatMap(ScriptedModel.ScriptedModel, (model) => model.requests)

const failureOf = (exit: Exit.Exit<unknown, unknown>) =>
  Cause.failureOption((exit as Exit.Failure<unknown, unknown>).cause).pipe(Option.getOrThrow)

const web = (url: string) => McpToolset.layer({ name: "web", transport: McpToolset.http({ url }) })

describe("an MCP toolset over Streamable HTTP", () => {
  it.live("lists and calls the server's tools", () =>
    Effect.gen(function*() {
      const server = yield* httpFixture
      const result = yield* runWith(assistant, ["web"], "go").pipe(Effect.provide(web(server.url)))
      assert.strictEqual(result.text, "done")
      const sent = yield* requests
      assert.deepStrictEqual(sent[0]!.tools.map((tool) => tool.name), ["add", "stats", "pixel", "fail", "slow", "crash", "grow"])
      const outputs = sent[1]!.contents.at(-1)!.parts.map((part) => part._tag === "FunctionResponse" ? part.output : undefined)
      assert.deepStrictEqual(outputs, ["5", { count: 2, sum: 3 }])
      assert.strictEqual(server.sessions(), 1)
    }).pipe(
      Effect.scoped,
      Effect.provide(ScriptedModel.layer([
        ScriptedModel.callTools([{ name: "add", args: { a: 2, b: 3 } }, { name: "stats", args: { values: [1, 2] } }]),
        ScriptedModel.text("done")
      ]))
    ))

  it.live("a slow call interrupted by a failing sibling is cancelled on the server", () =>
    Effect.gen(function*() {
      const server = yield* httpFixture
      const exit = yield* Effect.exit(runWith(assistant, ["web"], "go").pipe(Effect.provide(web(server.url))))
      const error = failureOf(exit)
      assert.instanceOf(error, AgentError.ToolCallFailed)
      assert.deepStrictEqual([...Cause.failures((error as AgentError.ToolCallFailed).cause)], [
        new McpError.McpToolFailed({ toolset: "web", tool: "fail", detail: "failed: no reason" })
      ])
      const events = yield* eventually(Effect.sync(() => server.events.slice()), (events) => events.includes("cancelled long"))
      assert.deepStrictEqual(events, ["started long", "cancelled long"])
    }).pipe(
      Effect.scoped,
      Effect.provide(ScriptedModel.layer([
        ScriptedModel.callTools([{ name: "slow", args: { ms: 30_000, label: "long" } }, { name: "fail", args: {} }])
      ]))
    ))

  it.live("the server dropping every connection mid-call fails it with McpDisconnected; the toolset reconnects", () =>
    Effect.gen(function*() {
      const server = yield* httpFixture
      yield* Effect.gen(function*() {
        const exit = yield* Effect.exit(runWith(assistant, ["web"], "crash"))
        const [failure] = [...Cause.failures((failureOf(exit) as AgentError.ToolCallFailed).cause)]
        assert.instanceOf(failure, McpError.McpDisconnected)
        const again = yield* runWith(assistant, ["web"], "add")
        assert.strictEqual(again.text, "5")
        assert.strictEqual(yield* Effect.flatMap(McpToolset.tag("web"), (set) => set.sessions), 2)
        assert.strictEqual(server.sessions(), 2)
      }).pipe(Effect.provide(web(server.url)))
    }).pipe(
      Effect.scoped,
      Effect.provide(ScriptedModel.layer(ScriptedModel.byPrompt({
        crash: [ScriptedModel.callTools([{ name: "crash", args: {} }])],
        add: [ScriptedModel.callTools([{ name: "add", args: { a: 2, b: 3 } }]), ScriptedModel.text("5")]
      })))
    ))

  it.live("100 concurrent conversations share one session", () =>
    Effect.gen(function*() {
      const server = yield* httpFixture
      const results = yield* Effect.forEach(
        Array.from({ length: 100 }, (_, i) => i),
        (i) => runWith(assistant, ["web"], `${i}`),
        { concurrency: "unbounded" }
      ).pipe(Effect.provide(web(server.url)))
      assert.deepStrictEqual(results.map((result) => result.text), Array.from({ length: 100 }, (_, i) => `${2 * i}`))
      assert.strictEqual(server.sessions(), 1)
    }).pipe(
      Effect.scoped,
      Effect.provide(ScriptedModel.layer((request) => {
        const prompt = Number((request.contents[0]!.parts[0] as { text: string }).text)
        const last = request.contents.at(-1)!.parts[0]!
        return last._tag === "FunctionResponse"
          ? ScriptedModel.text(String(last.output))
          : ScriptedModel.callTools([{ name: "add", args: { a: prompt, b: prompt } }])
      }))
    ))

  it.live("a server that is not there fails the layer with McpConnectFailed naming the URL", () =>
    Effect.gen(function*() {
      const server = yield* httpFixture
      const url = server.url.replace("/mcp", "/missing")
      const error = yield* Effect.flip(Layer.build(McpToolset.layer({
        name: "web",
        transport: McpToolset.http({ url, sseFallback: false })
      })))
      assert.instanceOf(error, McpError.McpConnectFailed)
      assert.strictEqual(error.server, url)
      assert.include(error.reason, "404")
    }).pipe(Effect.scoped))

  it.live("an endpoint speaking only the older HTTP+SSE transport is reached through the fallback", () =>
    Effect.gen(function*() {
      const url = yield* sseOnlyServer
      const result = yield* runWith(assistant, ["web"], "go").pipe(Effect.provide(web(url)))
      assert.strictEqual(result.text, "done")
      const sent = yield* requests
      assert.deepStrictEqual(sent[1]!.contents.at(-1)!.parts.map((part) => part._tag === "FunctionResponse" ? part.output : undefined), ["9"])
    }).pipe(
      Effect.scoped,
      Effect.provide(ScriptedModel.layer([ScriptedModel.callTools([{ name: "add", args: { a: 4, b: 5 } }]), ScriptedModel.text("done")]))
    ))

  it.live("after the layer's scope and the server's, no socket is left", () =>
    Effect.gen(function*() {
      const baseline = resources().TCPSocketWrap ?? 0
      yield* Effect.gen(function*() {
        const server = yield* httpFixture
        yield* runWith(assistant, ["web"], "go").pipe(Effect.provide(web(server.url)))
      }).pipe(Effect.scoped)
      const after = yield* eventually(Effect.sync(() => resources().TCPSocketWrap ?? 0), (n) => n === baseline, 2000)
      assert.strictEqual(after, baseline)
    }).pipe(
      Effect.provide(ScriptedModel.layer([ScriptedModel.callTools([{ name: "add", args: { a: 1, b: 1 } }]), ScriptedModel.text("2")]))
    ))
})

/** An MCP server speaking only the older HTTP+SSE transport: GET opens the stream, POST with `sessionId` sends. */
const sseOnlyServer = Effect.acquireRelease(
  Effect.async<{ url: string; close: () => Promise<void> }>((resume) => {
    const transports = new Map<string, SSEServerTransport>()
    const server = createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://localhost")
      if (req.method === "GET" && url.pathname === "/mcp") {
        const transport = new SSEServerTransport("/messages", res)
        transports.set(transport.sessionId, transport)
        void makeServer({ onEvent: () => {}, crash: () => {} }).connect(transport)
        return
      }
      const transport = transports.get(url.searchParams.get("sessionId") ?? "")
      if (req.method === "POST" && url.pathname === "/messages" && transport) return void transport.handlePostMessage(req, res)
      res.writeHead(405).end()
    })
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo
      resume(Effect.succeed({
        url: `http://127.0.0.1:${port}/mcp`,
        close: () =>
          new Promise<void>((done) => {
            for (const transport of transports.values()) void transport.close()
            server.closeAllConnections()
            server.close(() => done())
          })
      }))
    })
  }),
  ({ close }) => Effect.promise(close)
).pipe(Effect.map(({ url }) => url))
