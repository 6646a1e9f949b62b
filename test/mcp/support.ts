/**
 * Shared helpers of the MCP tests: the fixture server as a stdio child, an in-process Streamable
 * HTTP server, running an agent with a toolset under `LeakCheck`, and checks that nothing is left
 * behind (the child process, sockets, handles).
 */
import { Agent, AgentEvent, Toolkit } from "@effect-agents/core"
import { McpToolset } from "@effect-agents/mcp"
import { LeakCheck } from "@effect-agents/testing"
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js"
import { assert } from "@effect/vitest"
import { type Duration, Effect } from "effect"
import { randomUUID } from "node:crypto"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { makeServer } from "./fixtures/server.js"

export { pixelPng } from "./fixtures/server.js"

export const fixture = fileURLToPath(new URL("./fixtures/server.ts", import.meta.url))

/** The fixture as a stdio child (node with tsx's loader: one process, no wrapper). */
export const stdioFixture = (options: {
  readonly log?: string
  readonly env?: Record<string, string>
  readonly gracePeriod?: Duration.DurationInput
} = {}) =>
  McpToolset.stdio({
    command: process.execPath,
    args: ["--import", "tsx", fixture],
    env: { ...(options.log ? { FIXTURE_LOG: options.log } : {}), ...options.env },
    gracePeriod: options.gracePeriod ?? "2 seconds"
  })

/** A file the stdio fixture writes its events to, removed with the scope. */
export const eventLog = Effect.acquireRelease(
  Effect.sync(() => {
    const dir = mkdtempSync(join(tmpdir(), "mcp-fixture-"))
    return { path: join(dir, "events.log"), dir }
  }),
  ({ dir }) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
).pipe(Effect.map(({ path }) => ({
  path,
  read: Effect.sync(() => {
    try {
      return readFileSync(path, "utf8").split("\n").filter((line) => line.length > 0)
    } catch {
      return [] as Array<string>
    }
  })
})))

/** Poll (real time) until `check` holds, for at most `millis`. */
export const eventually = <A>(read: Effect.Effect<A>, check: (a: A) => boolean, millis = 5000) =>
  Effect.gen(function*() {
    const deadline = Date.now() + millis
    for (;;) {
      const value = yield* read
      if (check(value) || Date.now() > deadline) return value
      yield* Effect.sleep("20 millis")
    }
  })

/** Whether a process is alive. */
export const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Run `agent` with the current tools of `toolsets` under `LeakCheck`, checking the event invariant. */
export const runWith = <R, const Names extends ReadonlyArray<string>>(agent: Agent.Agent<R>, toolsets: Names, input: Agent.Input) =>
  Toolkit.withToolsets(agent, toolsets).pipe(
    Effect.flatMap((withTools) => LeakCheck.check(Agent.run(withTools, input))),
    Effect.tap((result) => assert.deepStrictEqual(AgentEvent.invariantViolations(result.events), []))
  )

/** Active handles and requests by kind (sockets, child processes, timers...). */
export const resources = (): Record<string, number> => {
  const counts: Record<string, number> = {}
  for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1
  return counts
}

/** The in-process fixture over Streamable HTTP on 127.0.0.1:0; one SDK server per session. */
export interface HttpFixture {
  readonly url: string
  readonly events: Array<string>
  /** Sessions the server has seen initialized. */
  readonly sessions: () => number
  /** Drop every connection and session, as a crashed server would; keep listening. */
  readonly crash: () => void
}

export const httpFixture = Effect.acquireRelease(
  Effect.async<{ fixture: HttpFixture; server: Server }>((resume) => {
    const events: Array<string> = []
    const transports = new Map<string, StreamableHTTPServerTransport>()
    let initialized = 0
    let server!: Server
    const crash = () => {
      for (const transport of transports.values()) void transport.close()
      transports.clear()
      server.closeAllConnections()
    }
    const handle = async (req: IncomingMessage, res: ServerResponse) => {
      if (!req.url?.startsWith("/mcp")) {
        res.writeHead(404).end("not found")
        return
      }
      const id = req.headers["mcp-session-id"]
      const existing = typeof id === "string" ? transports.get(id) : undefined
      if (existing !== undefined) return existing.handleRequest(req, res)
      if (req.method !== "POST") {
        res.writeHead(404).end()
        return
      }
      const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (sessionId) => {
          initialized++
          transports.set(sessionId, transport)
        }
      })
      transport.onclose = () => {
        if (transport.sessionId !== undefined) transports.delete(transport.sessionId)
      }
      await makeServer({ onEvent: (event) => events.push(event), crash }).connect(transport)
      await transport.handleRequest(req, res)
    }
    server = createServer((req, res) => {
      handle(req, res).catch(() => {
        if (!res.headersSent) res.writeHead(500)
        res.end()
      })
    })
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo
      resume(Effect.succeed({
        server,
        fixture: { url: `http://127.0.0.1:${port}/mcp`, events, sessions: () => initialized, crash }
      }))
    })
  }),
  ({ fixture, server }) =>
    Effect.async<void>((resume) => {
      fixture.crash()
      server.close(() => resume(Effect.void))
    })
).pipe(Effect.map(({ fixture }) => fixture))
