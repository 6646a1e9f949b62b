/**
 * One MCP toolset: a session with the server at a time, its tools as core tools, and the
 * reconnection after the server went away.
 *
 * The session in use is `state`: `Connected`, `Connecting` (a fiber runs `connect` on the
 * `reconnect` schedule and calls wait for it), `Failed` (reconnecting gave up: the next call
 * starts over) or `Closed` (the layer's scope is closing). A session has its own scope, a child of
 * the toolset's, whose finalizer closes the client and stops the child process.
 *
 * @internal
 */
import { Tool, type Toolkit } from "@effect-agents/core"
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { SSEClientTransport, SseError } from "@modelcontextprotocol/sdk/client/sse.js"
import { StreamableHTTPClientTransport, StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import type { Transport as SdkTransport } from "@modelcontextprotocol/sdk/shared/transport.js"
import { type CallToolResult, ErrorCode, McpError } from "@modelcontextprotocol/sdk/types.js"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as FiberSet from "effect/FiberSet"
import { identity } from "effect/Function"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import { type CallError, McpConnectFailed, McpDisconnected, McpRequestFailed, McpSchemaRejected, McpToolFailed } from "../McpError.js"
import type { ListedTool, McpToolset, Options, Transport } from "../McpToolset.js"
import { output } from "./content.js"
import { ChildTransport } from "./stdio.js"

/** A request's own timeout, off: calls are bounded by the tool's `timeout` and by interruption. */
const noTimeout = 2_147_483_647

const clientInfo = { name: "effect-agents", version: "0.1.0" }

interface Session {
  readonly client: Client
  readonly transport: SdkTransport
  readonly scope: Scope.CloseableScope
  readonly server: { readonly name: string; readonly version: string }
}

type State =
  | { readonly _tag: "Connected"; readonly session: Session }
  | { readonly _tag: "Connecting"; readonly session: Deferred.Deferred<Session, McpDisconnected> }
  | { readonly _tag: "Failed"; readonly reason: string }
  | { readonly _tag: "Closed" }

/** @internal */
export const make = <Name extends string>(
  options: Options<Name>,
  { reconnect }: { readonly reconnect: Schedule.Schedule<unknown, McpConnectFailed | McpSchemaRejected> }
): Effect.Effect<McpToolset, McpConnectFailed | McpSchemaRejected, Scope.Scope> =>
  Effect.gen(function*() {
    const toolset = options.name
    const prefix = options.prefix ?? ""
    const connectTimeout = Duration.decode(options.connectTimeout ?? "30 seconds")
    const server = describe(options.transport)
    // Closing the toolset's scope runs these finalizers in reverse: first the toolset is marked
    // closed (so a session ending now is not reconnected) and its fibers are interrupted, then
    // every session closes.
    const sessionsScope = yield* Scope.fork(yield* Effect.scope, ExecutionStrategy.sequential)
    const fibers = yield* FiberSet.make<unknown, never>()
    const fork = yield* FiberSet.runtime(fibers)<never>()

    let state: State = { _tag: "Closed" }
    let sessions = 0
    let tools: ReadonlyArray<Tool.Any> = []
    let excluded: ReadonlyArray<{ readonly tool: string; readonly reason: string }> = []
    /** Tools by the JSON of their listing, so an unchanged listing keeps its tool values. */
    let made = new Map<string, Tool.Any>()

    const keep = (listed: ListedTool): boolean => {
      const filter = options.filter
      if (filter === undefined) return true
      return typeof filter === "function" ? filter(listed) : filter.includes(listed.name)
    }

    /** Core tools for a listing; `strict` fails on the first tool Gemini cannot take instead of leaving it out. */
    const toolsOf = (listing: ReadonlyArray<ListedTool>, strict: boolean) =>
      Effect.gen(function*() {
        const next: Array<Tool.Any> = []
        const left: Array<{ tool: string; reason: string }> = []
        const nextMade = new Map<string, Tool.Any>()
        for (const listed of listing) {
          if (!keep(listed)) continue
          const key = JSON.stringify([listed.name, listed.title, listed.description, listed.inputSchema])
          let tool = made.get(key)
          if (tool === undefined) {
            try {
              tool = toolOf(listed)
            } catch (error) {
              const reason = reasonOf(error)
              if (strict) return yield* new McpSchemaRejected({ toolset, tool: listed.name, reason })
              yield* Effect.logWarning(
                `MCP toolset "${toolset}" leaves out the tool "${listed.name}": ${reason}. ` +
                  `Leave it out with \`filter\` to silence this warning.`
              )
              left.push({ tool: listed.name, reason })
              continue
            }
          }
          nextMade.set(key, tool)
          next.push(tool)
        }
        made = nextMade
        // the same array while nothing changed, so each turn reuses the agent's compiled tools
        if (next.length !== tools.length || next.some((tool, i) => tool !== tools[i])) tools = next
        excluded = left
      })

    const toolOf = (listed: ListedTool): Tool.Any =>
      Tool.fromJsonSchema<string, CallError, never>(`${prefix}${listed.name}`, {
        description: listed.description ?? listed.title ?? listed.name,
        parameters: listed.inputSchema,
        timeout: options.timeout,
        onFailure: options.onFailure,
        handler: (args) => call(listed.name, args)
      })

    /** The session calls go to: the current one, or the one being connected. */
    const current = (tool: string): Effect.Effect<Session, McpDisconnected> =>
      Effect.suspend(() => {
        switch (state._tag) {
          case "Connected":
            return Effect.succeed(state.session)
          case "Connecting":
            return Deferred.await(state.session)
          case "Failed":
            return Deferred.await(reconnecting())
          case "Closed":
            return Effect.fail(new McpDisconnected({ toolset, tool, detail: "the toolset is closed" }))
        }
      })

    const call = (tool: string, args: { readonly [key: string]: unknown }): Effect.Effect<unknown, CallError> =>
      Effect.flatMap(current(tool), (session) =>
        Effect.tryPromise({
          // the signal is aborted on interruption: the SDK then sends `notifications/cancelled`
          try: (signal) => session.client.callTool({ name: tool, arguments: args }, undefined, { signal, timeout: noTimeout }),
          catch: (error) => failure(session, tool, error)
        }).pipe(Effect.flatMap((result) => {
          const answer = result as CallToolResult
          return answer.isError === true
            ? Effect.fail(new McpToolFailed({ toolset, tool, detail: errorText(answer) }))
            : Effect.succeed(output(answer))
        })))

    /** A call's failure: a protocol error is the call's; anything else means the session is gone. */
    const failure = (session: Session, tool: string, error: unknown): CallError => {
      if (error instanceof McpError && error.code !== ErrorCode.ConnectionClosed) {
        return new McpRequestFailed({ toolset, tool, code: error.code, detail: error.message })
      }
      if (isZodError(error)) return new McpRequestFailed({ toolset, tool, detail: `malformed result: ${String(error)}` })
      lost(session)
      return new McpDisconnected({ toolset, tool, detail: detailOf(error) })
    }

    /** The session went away: close what is left of it and reconnect, once. */
    const lost = (session: Session): void => {
      if (state._tag !== "Connected" || state.session !== session) return
      fork(Scope.close(session.scope, Exit.void))
      reconnecting()
    }

    const reconnecting = (): Deferred.Deferred<Session, McpDisconnected> => {
      const deferred = Deferred.unsafeMake<Session, McpDisconnected>(FiberId.none)
      state = { _tag: "Connecting", session: deferred }
      fork(
        Effect.flatMap(Effect.exit(Effect.retry(connect(false), reconnect)), (exit) => {
          if (state._tag !== "Connecting" || state.session !== deferred) {
            return Exit.isSuccess(exit) ? Scope.close(exit.value.scope, Exit.void) : Effect.void
          }
          if (Exit.isSuccess(exit)) {
            state = { _tag: "Connected", session: exit.value }
            return Deferred.succeed(deferred, exit.value)
          }
          const reason = Cause.pretty(exit.cause)
          state = { _tag: "Failed", reason }
          return Deferred.fail(deferred, new McpDisconnected({ toolset, tool: "(reconnecting)", detail: `reconnecting failed: ${reason}` }))
        })
      )
      return deferred
    }

    /** Open a session in a child scope of the toolset's; on failure nothing of it is left. */
    const connect = (strict: boolean): Effect.Effect<Session, McpConnectFailed | McpSchemaRejected> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(Scope.fork(sessionsScope, ExecutionStrategy.sequential), (sessionScope) =>
          Effect.onExit(
            restore(open(sessionScope, strict)),
            (exit) => Exit.isFailure(exit) ? Scope.close(sessionScope, exit) : Effect.void
          ))
      )

    const open = (sessionScope: Scope.CloseableScope, strict: boolean) =>
      Effect.gen(function*() {
        const holder: { session?: Session } = {}
        const newClient = () =>
          new Client(clientInfo, {
            capabilities: {},
            listChanged: {
              tools: {
                debounceMs: 0,
                onChanged: (error, listed) => {
                  if (error === null && listed !== null && holder.session !== undefined && isCurrent(holder.session)) {
                    fork(Effect.ignore(toolsOf(listed as ReadonlyArray<ListedTool>, false)))
                  }
                }
              }
            }
          })
        const { client, transport } = yield* start(newClient, sessionScope)
        const listing = yield* Effect.tryPromise({
          try: (signal) => listAll(client, signal),
          catch: (error) => new McpConnectFailed({ toolset, server, reason: `listing its tools failed: ${detailOf(error)}` })
        }).pipe(timeoutConnect("listing its tools"))
        yield* toolsOf(listing, strict)
        const info = client.getServerVersion()
        const session: Session = {
          client,
          transport,
          scope: sessionScope,
          server: { name: info?.name ?? "unknown", version: info?.version ?? "unknown" }
        }
        holder.session = session
        client.onclose = () => lost(session)
        sessions++
        return session
      })

    const isCurrent = (session: Session): boolean => state._tag === "Connected" && state.session === session

    const timeoutConnect = (what: string) => <A, E>(effect: Effect.Effect<A, E>) =>
      Effect.timeoutFail(effect, {
        duration: connectTimeout,
        onTimeout: () => new McpConnectFailed({ toolset, server, reason: `${what} took longer than ${Duration.format(connectTimeout)}` })
      })

    /** Start the transport and the MCP handshake; the session scope's finalizer closes both. */
    const start = (
      newClient: () => Client,
      sessionScope: Scope.Scope
    ): Effect.Effect<{ readonly client: Client; readonly transport: SdkTransport }, McpConnectFailed> => {
      const transport = options.transport
      if (transport._tag === "Stdio") {
        const client = newClient()
        const child = new ChildTransport(transport)
        return Scope.addFinalizer(sessionScope, stopChild(client, child, transport.gracePeriod)).pipe(
          Effect.zipRight(handshake(client, child)),
          Effect.catchAll((error) =>
            // the child's exit, and so all of its stderr, explains a failed handshake best
            Effect.flatMap(Effect.timeoutOption(Effect.promise(() => child.exited), "1 second"), () =>
              new McpConnectFailed({
                toolset,
                server,
                reason: child.exit !== undefined && child.pid !== undefined
                  ? `the server exited (${child.exit}) before the MCP handshake finished`
                  : detailOf(error),
                ...(child.stderrTail ? { stderr: child.stderrTail } : {})
              }))
          ),
          Effect.as({ client, transport: child })
        )
      }
      const requestInit = { headers: { ...transport.headers } }
      const via = (transport: StreamableHTTPClientTransport | SSEClientTransport) => {
        const client = newClient()
        return Scope.addFinalizer(sessionScope, closeHttp(client, transport)).pipe(
          Effect.zipRight(handshake(client, transport)),
          Effect.as({ client, transport: transport as SdkTransport })
        )
      }
      return via(new StreamableHTTPClientTransport(transport.url, { requestInit })).pipe(
        Effect.catchIf(
          (error) => transport.sseFallback && error instanceof StreamableHTTPError && error.code !== undefined && error.code >= 400 && error.code < 500,
          () => via(new SSEClientTransport(transport.url, { requestInit }))
        ),
        Effect.mapError((error) => new McpConnectFailed({ toolset, server, reason: detailOf(error) }))
      )
    }

    /** The MCP handshake; fails with what the SDK threw. */
    const handshake = (client: Client, transport: SdkTransport): Effect.Effect<void, unknown> =>
      Effect.tryPromise({
        try: (signal) => client.connect(transport, { signal, timeout: Duration.toMillis(connectTimeout) }),
        catch: identity
      }).pipe(timeoutConnect("the MCP handshake"))

    /** Close stdin, then SIGTERM after the grace period, then SIGKILL; wait until the child is gone. */
    const stopChild = (client: Client, child: ChildTransport, grace: Duration.Duration): Effect.Effect<void> => {
      const exited = Effect.promise(() => child.exited)
      const within = (duration: Duration.Duration) =>
        Effect.map(Effect.timeoutOption(exited, duration), Option.isSome)
      return Effect.gen(function*() {
        if (child.pid === undefined) return
        yield* Effect.promise(() => client.close().catch(() => undefined))
        if (yield* within(grace)) return
        child.kill("SIGTERM")
        if (yield* within(grace)) return
        child.kill("SIGKILL")
        yield* within(Duration.seconds(5))
      })
    }

    const closeHttp = (client: Client, transport: StreamableHTTPClientTransport | SSEClientTransport): Effect.Effect<void> =>
      Effect.promise(async () => {
        if (transport instanceof StreamableHTTPClientTransport && transport.sessionId !== undefined) {
          // ask the server to end the session (DELETE); a server that is gone does not hold us up
          const abort = AbortSignal.timeout(1000)
          await Promise.race([
            transport.terminateSession().catch(() => undefined),
            new Promise((resolve) => abort.addEventListener("abort", resolve))
          ])
        }
        await client.close().catch(() => undefined)
      })

    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        const pending = state._tag === "Connecting" ? state.session : undefined
        state = { _tag: "Closed" }
        return Effect.zipRight(
          pending === undefined
            ? Effect.void
            : Deferred.fail(pending, new McpDisconnected({ toolset, tool: "(reconnecting)", detail: "the toolset is closed" })),
          FiberSet.clear(fibers)
        )
      })
    )
    // connect now: a server that does not start fails the layer
    state = { _tag: "Connected", session: yield* connect(options.invalidSchema === "fail") }

    const service: McpToolset = {
      name: toolset,
      tools: Effect.sync(() => tools),
      excluded: Effect.sync(() => excluded),
      pid: Effect.sync(() =>
        state._tag === "Connected" && state.session.transport instanceof ChildTransport
          ? Option.fromNullable(state.session.transport.pid)
          : Option.none()
      ),
      sessions: Effect.sync(() => sessions),
      server: Effect.map(current("(server info)"), (session) => session.server).pipe(Effect.orDie)
    }
    return service
  })

/** Every page of `tools/list`. */
const listAll = async (client: Client, signal: AbortSignal): Promise<ReadonlyArray<ListedTool>> => {
  const listed: Array<ListedTool> = []
  let cursor: string | undefined
  do {
    const page = await client.listTools(cursor === undefined ? undefined : { cursor }, { signal })
    listed.push(...page.tools)
    cursor = page.nextCursor
  } while (cursor !== undefined)
  return listed
}

const describe = (transport: Transport): string =>
  transport._tag === "Stdio"
    ? `\`${[transport.command, ...transport.args].join(" ")}\``
    : transport.url.toString()

const detailOf = (error: unknown): string => {
  if (error instanceof StreamableHTTPError || error instanceof SseError) {
    return error.code === undefined ? error.message : `${error.message} (HTTP ${error.code})`
  }
  if (error instanceof Error) {
    const cause = (error as { readonly cause?: unknown }).cause
    return cause instanceof Error ? `${error.message} (${cause.message})` : error.message
  }
  return String(error)
}

/** Why `Tool.fromJsonSchema` refused a tool, without its `Invalid tool "name": ` preamble or final period. */
const reasonOf = (error: unknown): string =>
  error instanceof Cause.IllegalArgumentException
    ? error.message.replace(/^Invalid tool "[^"]*": /, "").replace(/\.$/, "")
    : String(error)

const isZodError = (error: unknown): boolean =>
  typeof error === "object" && error !== null && (error as { readonly name?: unknown }).name === "ZodError"

const errorText = (result: CallToolResult): string => {
  const text = (result.content ?? []).flatMap((part) => part.type === "text" ? [part.text] : []).join("\n")
  return text || "no detail"
}

/** Provide one service under both the core toolset's tag and the MCP toolset's. */
export const asContext = <I1, I2>(
  core: Context.Tag<I1, Toolkit.Toolset>,
  own: Context.Tag<I2, McpToolset>
) =>
<E, R>(effect: Effect.Effect<McpToolset, E, R>): Effect.Effect<Context.Context<I1 | I2>, E, R> =>
  Effect.map(effect, (service) => Context.make(core, service).pipe(Context.add(own, service)))

