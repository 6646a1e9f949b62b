/**
 * The errors of MCP toolsets: a server that does not start, a tool Gemini cannot take, a server
 * that went away mid-call, a tool that reported an error, a protocol error.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * The server did not start or did not complete the MCP handshake: the layer fails with it (and
 * a reconnection attempt does).
 *
 * @since 0.1.0
 * @category errors
 */
export class McpConnectFailed extends Schema.TaggedError<McpConnectFailed>()("McpConnectFailed", {
  toolset: Schema.String,
  /** The command line or URL. */
  server: Schema.String,
  reason: Schema.String,
  /** The end of the child's stderr. */
  stderr: Schema.optional(Schema.String)
}) {
  override get message() {
    return `MCP toolset "${this.toolset}" could not connect to ${this.server}: ${this.reason}.` +
      (this.stderr ? ` Its stderr ended with:\n${this.stderr}\n` : " ") +
      `Check the command or URL, its arguments and environment (run it by hand to see it start).`
  }
}

/**
 * A server's tool whose declaration Gemini cannot take, with `invalidSchema: "fail"`.
 *
 * @since 0.1.0
 * @category errors
 */
export class McpSchemaRejected extends Schema.TaggedError<McpSchemaRejected>()("McpSchemaRejected", {
  toolset: Schema.String,
  tool: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `MCP toolset "${this.toolset}": the tool "${this.tool}" cannot be declared to the model: ${this.reason}. ` +
      `Leave it out with \`filter\`, or use \`invalidSchema: "exclude"\` to skip such tools with a warning.`
  }
}

/**
 * The server went away (its process exited, the connection dropped) while the call was in
 * flight, or it could not be reached again. The toolset reconnects for later calls.
 *
 * @since 0.1.0
 * @category errors
 */
export class McpDisconnected extends Schema.TaggedError<McpDisconnected>()("McpDisconnected", {
  toolset: Schema.String,
  tool: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `MCP toolset "${this.toolset}": the server went away during a call of "${this.tool}" (${this.detail}); ` +
      `the toolset reconnects for later calls (see its \`reconnect\` schedule).`
  }
}

/**
 * The tool ran and reported an error (`isError: true`): a tool failure like any other.
 *
 * @since 0.1.0
 * @category errors
 */
export class McpToolFailed extends Schema.TaggedError<McpToolFailed>()("McpToolFailed", {
  toolset: Schema.String,
  tool: Schema.String,
  /** The text the tool returned with its error. */
  detail: Schema.String
}) {
  override get message() {
    return `MCP tool "${this.tool}" (toolset "${this.toolset}") reported an error: ${this.detail}`
  }
}

/**
 * The server answered the call with a protocol error (an unknown tool, invalid arguments, a
 * result that does not match the tool's output schema).
 *
 * @since 0.1.0
 * @category errors
 */
export class McpRequestFailed extends Schema.TaggedError<McpRequestFailed>()("McpRequestFailed", {
  toolset: Schema.String,
  tool: Schema.String,
  code: Schema.optional(Schema.Number),
  detail: Schema.String
}) {
  override get message() {
    return `MCP tool "${this.tool}" (toolset "${this.toolset}") failed: ${this.detail}`
  }
}

/**
 * What a call of an MCP tool may fail with.
 *
 * @since 0.1.0
 * @category errors
 */
export type CallError = McpDisconnected | McpToolFailed | McpRequestFailed
