/**
 * MCP toolsets: the tools of a Model Context Protocol server as agent tools, its session a
 * scoped resource.
 *
 * `McpToolset.layer({ name, transport })` connects when the layer is built (a stdio child
 * process, or a Streamable HTTP endpoint with an SSE fallback) and closes the session when the
 * layer's scope closes, on success, failure or interruption: a child's stdin is closed, then it
 * gets SIGTERM, then SIGKILL, each after `gracePeriod`. The server's tools become core `Tool`s:
 * their JSON Schemas pass the same declaration check as native tools (a schema Gemini cannot
 * take is left out with a warning, or refuses the layer), their results become the function
 * response (text, structured content; images as media parts, `Content.toolOutput`, which Gemini
 * receives as inline data), and `isError: true` is a tool
 * failure under the agent's `toolFailure` policy. An interrupted call sends MCP's cancellation
 * notification. One session serves every conversation at once.
 *
 * An agent made with `toolsets: [name]` gets the tools: the layer provides the core toolset of
 * that name, and the run reads its current tools at every turn. If the server goes away, the calls in flight fail with `McpDisconnected`
 * and the toolset reconnects on the `reconnect` schedule for later calls; a `tools/list_changed`
 * notification refreshes the list for the next turn.
 *
 * @since 0.1.0
 */
import { type Policy, Toolkit } from "@effect-agents/core"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/toolset.js"
import type { McpConnectFailed, McpSchemaRejected } from "./McpError.js"

/**
 * How to reach the server: a child process speaking stdio, or a Streamable HTTP endpoint.
 *
 * @since 0.1.0
 * @category models
 */
export type Transport = StdioTransport | HttpTransport

/**
 * @since 0.1.0
 * @category models
 */
export interface StdioTransport {
  readonly _tag: "Stdio"
  readonly command: string
  readonly args: ReadonlyArray<string>
  /** Added to a minimal inherited environment (`HOME`, `PATH`, `USER`, ...), as the MCP SDK does. */
  readonly env: Readonly<Record<string, string>> | undefined
  readonly cwd: string | undefined
  /** How long the child gets after stdin is closed before SIGTERM, and after SIGTERM before SIGKILL. */
  readonly gracePeriod: Duration.Duration
}

/**
 * @since 0.1.0
 * @category models
 */
export interface HttpTransport {
  readonly _tag: "Http"
  readonly url: URL
  readonly headers: Readonly<Record<string, string>>
  /** Try the older HTTP+SSE transport when the endpoint refuses Streamable HTTP with a 4xx. */
  readonly sseFallback: boolean
}

/**
 * A server started as a child process, speaking MCP on its stdin and stdout. Its stderr is kept
 * (the last 4 KB) for the error that reports a server that does not start.
 *
 * @example
 * ```ts
 * import { McpToolset } from "@effect-agents/mcp"
 *
 * const files = McpToolset.stdio({
 *   command: "npx",
 *   args: ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"],
 *   gracePeriod: "1 second"
 * })
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const stdio = (options: {
  readonly command: string
  readonly args?: ReadonlyArray<string> | undefined
  readonly env?: Readonly<Record<string, string>> | undefined
  readonly cwd?: string | undefined
  /** Default 2 seconds. */
  readonly gracePeriod?: Duration.DurationInput | undefined
}): Transport => ({
  _tag: "Stdio",
  command: options.command,
  args: options.args ?? [],
  env: options.env,
  cwd: options.cwd,
  gracePeriod: Duration.decode(options.gracePeriod ?? "2 seconds")
})

/**
 * A server reached over Streamable HTTP; with `sseFallback` (the default) an endpoint that
 * answers the first request with a 4xx is tried again with the older HTTP+SSE transport.
 *
 * @example
 * ```ts
 * import { McpToolset } from "@effect-agents/mcp"
 *
 * const search = McpToolset.http({ url: "http://127.0.0.1:8080/mcp", headers: { authorization: "Bearer ..." } })
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const http = (options: {
  readonly url: string | URL
  readonly headers?: Readonly<Record<string, string>> | undefined
  readonly sseFallback?: boolean | undefined
}): Transport => ({
  _tag: "Http",
  url: new URL(options.url),
  headers: options.headers ?? {},
  sseFallback: options.sseFallback ?? true
})

/**
 * A tool as the server lists it.
 *
 * @since 0.1.0
 * @category models
 */
export interface ListedTool {
  readonly name: string
  readonly title?: string | undefined
  readonly description?: string | undefined
  readonly inputSchema: unknown
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options<Name extends string> {
  /** The toolset's name: the core toolset it provides (`Agent.make({ toolsets: [name] })`) and in messages. */
  readonly name: Name
  readonly transport: Transport
  /** Put before every tool name (`"files_"` makes `read_file` the tool `files_read_file`). */
  readonly prefix?: string | undefined
  /** Keep only these tools (server names), or the tools this predicate accepts. */
  readonly filter?: ReadonlyArray<string> | ((tool: ListedTool) => boolean) | undefined
  /**
   * A tool whose JSON Schema (or prefixed name) Gemini cannot take: `"exclude"` (the default)
   * leaves it out with a warning naming it and the reason; `"fail"` fails the layer with
   * `McpSchemaRejected`. A list refreshed later always excludes with a warning.
   */
  readonly invalidSchema?: "exclude" | "fail" | undefined
  /**
   * Reconnecting after the server went away, retried on this schedule (its input is the
   * `McpConnectFailed` of each attempt). Default: up to 5 retries, exponential from 200 ms.
   */
  readonly reconnect?: Schedule.Schedule<unknown, McpConnectFailed | McpSchemaRejected> | undefined
  /** How long connecting and listing may take. Default 30 seconds. */
  readonly connectTimeout?: Duration.DurationInput | undefined
  /** A timeout for every call of the server's tools (`Tool` `timeout`). */
  readonly timeout?: Duration.DurationInput | undefined
  /** Override the agent's `toolFailure` policy for the server's tools. */
  readonly onFailure?: Policy.ToolFailure | undefined
}

/**
 * A connected toolset: the core `Toolkit.Toolset` and what is known about its session.
 *
 * @since 0.1.0
 * @category models
 */
export interface McpToolset extends Toolkit.Toolset {
  /** The server's tools that were left out, and why. */
  readonly excluded: Effect.Effect<ReadonlyArray<{ readonly tool: string; readonly reason: string }>>
  /** The current stdio child's process id (none over HTTP, or while reconnecting). */
  readonly pid: Effect.Effect<Option.Option<number>>
  /** Sessions opened so far: 1, plus one per reconnection. */
  readonly sessions: Effect.Effect<number>
  /** The server's name and version, from the handshake. */
  readonly server: Effect.Effect<{ readonly name: string; readonly version: string }>
}

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("@effect-agents/mcp/McpToolset")

/**
 * The identifier of the MCP toolset named `Name` in the context.
 *
 * @since 0.1.0
 * @category models
 */
export interface McpToolsetId<Name extends string> {
  readonly [TypeId]: Name
}

/**
 * The tag of the MCP toolset named `Name`, for what the core toolset does not show (its process
 * id, the tools left out, the sessions opened).
 *
 * @example
 * ```ts
 * import { McpToolset } from "@effect-agents/mcp"
 * import { Effect } from "effect"
 *
 * const excluded = Effect.flatMap(McpToolset.tag("files"), (files) => files.excluded)
 * ```
 * @since 0.1.0
 * @category tags
 */
export const tag = <const Name extends string>(name: Name): Context.Tag<McpToolsetId<Name>, McpToolset> =>
  Context.GenericTag<McpToolsetId<Name>, McpToolset>(`@effect-agents/mcp/McpToolset/${name}`)

/**
 * Connect to the server in the current scope; the session closes with the scope.
 *
 * @example
 * ```ts
 * import { McpToolset } from "@effect-agents/mcp"
 * import { Effect } from "effect"
 *
 * const names = Effect.scoped(
 *   Effect.flatMap(
 *     McpToolset.make({ name: "files", transport: McpToolset.stdio({ command: "node", args: ["files-server.js"] }) }),
 *     (files) => Effect.map(files.tools, (tools) => tools.map((tool) => tool.name))
 *   )
 * )
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const make = <const Name extends string>(
  options: Options<Name>
): Effect.Effect<McpToolset, McpConnectFailed | McpSchemaRejected, Scope.Scope> =>
  internal.make(options, {
    reconnect: options.reconnect ?? Schedule.exponential("200 millis").pipe(Schedule.intersect(Schedule.recurs(5))),
  })

/**
 * The toolset as a layer: connects when built, closes the session (and stops a child process)
 * when its scope closes. It provides the core toolset `name` (for `Agent.make({ toolsets: [name] })`) and
 * {@link tag}`(name)`.
 *
 * @example
 * ```ts
 * import { Agent } from "@effect-agents/core"
 * import { McpToolset } from "@effect-agents/mcp"
 * import { Effect } from "effect"
 *
 * const Files = McpToolset.layer({
 *   name: "files",
 *   transport: McpToolset.stdio({ command: "node", args: ["files-server.js"] }),
 *   prefix: "files_"
 * })
 * const assistant = Agent.make({ name: "assistant", instructions: "Use the file tools.", toolsets: ["files"] })
 * const answer = Agent.run(assistant, "What is in notes.txt?").pipe(Effect.provide(Files))
 * ```
 * @since 0.1.0
 * @category layers
 */
export const layer = <const Name extends string>(
  options: Options<Name>
): Layer.Layer<Toolkit.ToolsetId<Name> | McpToolsetId<Name>, McpConnectFailed | McpSchemaRejected> =>
  Layer.scopedContext(
    make(options).pipe(internal.asContext(Toolkit.toolset(options.name), tag(options.name)))
  )
