/**
 * Shared helpers of the HTTP tests: serve the `AgentHttp` routes on `127.0.0.1:0`, record every
 * run's outcome, and read responses the way a client without our library would (plain `fetch`,
 * a small SSE reader written from the spec, so the server's framing is checked independently).
 */
import type { Agent } from "@effect-agents/core"
import { AgentHttp, type Protocol } from "@effect-agents/http"
import { LeakCheck } from "@effect-agents/testing"
import { HttpServer } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Effect, Queue, type Scope } from "effect"
import * as Http from "node:http"
import * as Net from "node:net"

export interface Served {
  readonly baseUrl: string
  /** Every run's outcome, in the order the runs ended. */
  readonly outcomes: Queue.Queue<Protocol.Outcome>
}

/** Serve the run routes of `agents` on loopback for the lifetime of the current scope. */
export const serveRuns = <const Agents extends Record<string, Agent.Any>>(
  options: Omit<AgentHttp.Options<Agents>, "onOutcome">
) =>
  Effect.gen(function*() {
    const outcomes = yield* Queue.unbounded<Protocol.Outcome>()
    const router = yield* AgentHttp.router({ ...options, onOutcome: (outcome) => Queue.offer(outcomes, outcome) })
    const baseUrl = yield* listen(router)
    return { baseUrl, outcomes } satisfies Served
  })

/** Serve an app on `127.0.0.1:0` for the lifetime of the current scope; its base URL. */
export const listen = <E, R>(app: Parameters<typeof HttpServer.serveEffect<E, R>>[0]) =>
  Effect.gen(function*() {
    const node = Http.createServer()
    const server = yield* Effect.orDie(NodeHttpServer.make(() => node, { port: 0, host: "127.0.0.1" }))
    // streams still open when the test ends must not hold the server's close
    yield* Effect.addFinalizer(() => Effect.sync(() => node.closeAllConnections()))
    yield* HttpServer.serveEffect(app).pipe(Effect.provideService(HttpServer.HttpServer, server))
    const address = server.address
    if (address._tag !== "TcpAddress") throw new Error("expected a TCP address")
    return `http://127.0.0.1:${address.port}`
  })

/**
 * Run a test with its servers and runs under `LeakCheck`: once its scope has closed, no fiber it
 * started may be alive. The server's request fibers end on socket events just after the close, so
 * they get up to a second to do so.
 */
export const leakChecked = <A, E, R>(test: Effect.Effect<A, E, R | Scope.Scope>) =>
  Effect.gen(function*() {
    const leaks = yield* LeakCheck.make
    const result = yield* leaks.supervise(Effect.scoped(test))
    for (let i = 0; i < 100 && (yield* leaks.live).length > 0; i++) yield* realSleep(10)
    yield* leaks.assertClean
    return result
  })

/** `POST /runs` with plain `fetch`. */
export const post = (baseUrl: string, body: unknown, init?: { readonly accept?: string; readonly signal?: AbortSignal }) =>
  Effect.promise(() =>
    fetch(`${baseUrl}/runs`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: init?.accept ?? "text/event-stream" },
      body: typeof body === "string" ? body : JSON.stringify(body),
      signal: init?.signal
    })
  )

/** One SSE block as written on the wire. */
export interface RawEvent {
  readonly id: string | undefined
  readonly event: string | undefined
  readonly data: string | undefined
  readonly comment: string | undefined
  readonly retry: string | undefined
}

/** Split SSE text into its blocks (separated by a blank line) and their `field: value` lines. */
export const parseSse = (text: string): ReadonlyArray<RawEvent> =>
  text.split("\n\n").filter((block) => block !== "").map((block) => {
    const fields: Record<string, string> = {}
    for (const line of block.split("\n")) {
      const colon = line.indexOf(":")
      const name = line.slice(0, colon)
      const value = line.slice(colon + 1).replace(/^ /, "")
      if (name in fields) throw new Error(`field ${name} twice in one block: ${JSON.stringify(block)}`)
      fields[name === "" ? "comment" : name] = value
    }
    return { id: fields.id, event: fields.event, data: fields.data, comment: fields.comment, retry: fields.retry }
  })

/** A streamed body read in the background as it arrives. */
export interface Tail {
  /** Everything received so far. */
  readonly text: () => string
  /** Whether the body has ended. */
  readonly ended: () => boolean
  /** Wait (in real time: the body arrives over a socket) until `until(text)` holds; fails after 5 s. */
  readonly waitFor: (until: (text: string) => boolean) => Effect.Effect<string>
}

/** Real-time pause, whatever clock the test runs on. */
export const realSleep = (millis: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, millis)))

export const tail = (response: Response): Tail => {
  let text = ""
  let ended = false
  const decoder = new TextDecoder()
  const reader = response.body!.getReader()
  const pump = async (): Promise<void> => {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      text += decoder.decode(value, { stream: true })
    }
  }
  pump().catch(() => {}).finally(() => (ended = true))
  return {
    text: () => text,
    ended: () => ended,
    waitFor: (until) =>
      Effect.gen(function*() {
        const deadline = Date.now() + 5000
        while (!until(text)) {
          if (Date.now() > deadline) throw new Error(`timed out waiting for the body; received:\n${text}`)
          yield* realSleep(2)
        }
        return text
      })
  }
}

/** Count the complete SSE blocks received so far. */
export const blocks = (text: string) => text.split("\n\n").length - 1

/** A TCP proxy on loopback in front of `target`, that can cut a connection in the middle of a response. */
export interface Proxy {
  readonly baseUrl: string
  /** What each connection sent so far, in the order they were accepted. */
  readonly requests: () => ReadonlyArray<string>
}

/**
 * Forward connections to `target` (an `http://127.0.0.1:<port>` URL); connection number `cut`
 * (from 1) is destroyed, both ways, as soon as the response text forwarded on it satisfies `when`.
 */
export const proxy = (target: string, cut: number, when: (response: string) => boolean) =>
  Effect.acquireRelease(
    Effect.async<{ readonly server: Net.Server; readonly proxy: Proxy }>((resume) => {
      const port = Number(new URL(target).port)
      const sockets = new Set<Net.Socket>()
      const requests: Array<string> = []
      const server = Net.createServer((client) => {
        const n = requests.push("")
        const upstream = Net.connect(port, "127.0.0.1")
        sockets.add(client).add(upstream)
        let response = ""
        client.on("data", (data) => {
          requests[n - 1] += data.toString("utf8")
          upstream.write(data)
        })
        upstream.on("data", (data) => {
          client.write(data)
          response += data.toString("utf8")
          if (n === cut && when(response)) {
            client.destroy()
            upstream.destroy()
          }
        })
        client.on("close", () => upstream.destroy())
        upstream.on("close", () => client.destroy())
        client.on("error", () => {})
        upstream.on("error", () => {})
      })
      server.listen(0, "127.0.0.1", () => {
        const address = server.address() as Net.AddressInfo
        resume(Effect.succeed({
          server: Object.assign(server, { sockets }),
          proxy: { baseUrl: `http://127.0.0.1:${address.port}`, requests: () => requests.slice() }
        }))
      })
    }),
    ({ server }) =>
      Effect.async<void>((resume) => {
        for (const socket of (server as Net.Server & { sockets: Set<Net.Socket> }).sockets) socket.destroy()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map(({ proxy }) => proxy))
