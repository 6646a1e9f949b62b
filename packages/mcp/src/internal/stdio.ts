/**
 * The stdio transport: the MCP server as a child process speaking newline-delimited JSON-RPC on
 * stdin/stdout (the SDK's `ReadBuffer` and `serializeMessage`). Unlike the SDK's
 * `StdioClientTransport` it keeps the tail of the child's stderr for error messages, reports how
 * the child exited, and leaves stopping the child to the session's finalizer, which escalates
 * from closing stdin to SIGTERM to SIGKILL with a configurable grace period.
 *
 * @internal
 */
import { getDefaultEnvironment } from "@modelcontextprotocol/sdk/client/stdio.js"
import { ReadBuffer, serializeMessage } from "@modelcontextprotocol/sdk/shared/stdio.js"
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js"
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js"
import { type ChildProcess, spawn } from "node:child_process"

/** How much of the child's stderr is kept. */
const stderrTailBytes = 4096

/** @internal */
export interface StdioParameters {
  readonly command: string
  readonly args: ReadonlyArray<string>
  readonly env: Readonly<Record<string, string>> | undefined
  readonly cwd: string | undefined
}

/** @internal */
export class ChildTransport implements Transport {
  onclose?: (() => void) | undefined
  onerror?: ((error: Error) => void) | undefined
  onmessage?: ((message: JSONRPCMessage) => void) | undefined

  private child: ChildProcess | undefined
  private readonly buffer = new ReadBuffer()
  private stderr = ""
  /** How the child ended, once it has: `code 3`, `signal SIGKILL`. */
  exit: string | undefined
  /** Resolves when the child has exited and its output streams are closed. */
  readonly exited: Promise<void>
  private markExited!: () => void

  constructor(readonly parameters: StdioParameters) {
    this.exited = new Promise((resolve) => {
      this.markExited = resolve
    })
  }

  get pid(): number | undefined {
    return this.child?.pid
  }

  /** The last few kilobytes the child wrote to stderr. */
  get stderrTail(): string {
    return this.stderr.trim()
  }

  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      const child = spawn(this.parameters.command, [...this.parameters.args], {
        env: { ...getDefaultEnvironment(), ...this.parameters.env },
        cwd: this.parameters.cwd,
        stdio: ["pipe", "pipe", "pipe"],
        shell: false,
        windowsHide: true
      })
      this.child = child
      child.once("error", (error) => {
        // a child that never started emits no `close`
        if (child.pid === undefined) {
          this.exit = `not started (${error.message})`
          this.markExited()
        }
        reject(error)
        this.onerror?.(error)
      })
      child.once("spawn", () => resolve())
      child.once("close", (code, signal) => {
        this.exit = signal !== null ? `signal ${signal}` : `code ${code}`
        this.markExited()
        this.onclose?.()
      })
      child.stdin?.on("error", (error) => this.onerror?.(error))
      child.stdout?.on("data", (chunk: Buffer) => {
        this.buffer.append(chunk)
        for (;;) {
          let message: JSONRPCMessage | null
          try {
            message = this.buffer.readMessage()
          } catch (error) {
            this.onerror?.(error as Error)
            continue
          }
          if (message === null) break
          this.onmessage?.(message)
        }
      })
      child.stderr?.on("data", (chunk: Buffer) => {
        this.stderr = (this.stderr + chunk.toString("utf8")).slice(-stderrTailBytes)
      })
    })
  }

  send(message: JSONRPCMessage): Promise<void> {
    return new Promise((resolve, reject) => {
      const stdin = this.child?.stdin
      if (this.exit !== undefined || stdin === undefined || stdin === null || !stdin.writable) {
        return reject(new Error(`the MCP server process has exited (${this.exit ?? "stdin closed"})`))
      }
      if (stdin.write(serializeMessage(message))) resolve()
      else stdin.once("drain", resolve)
    })
  }

  /** Close stdin: a well-behaved server exits. The session's finalizer escalates if it does not. */
  async close(): Promise<void> {
    try {
      this.child?.stdin?.end()
    } catch {
      // already closed
    }
    this.buffer.clear()
  }

  /** Send a signal to the child if it is still running. */
  kill(signal: NodeJS.Signals): void {
    if (this.exit === undefined) this.child?.kill(signal)
  }
}
