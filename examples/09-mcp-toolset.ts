/**
 * 09 — An MCP server as a toolset: a scoped resource (ADK's `McpToolset`, asyncio's `AsyncExitStack`).
 *
 * Scenario: a notes server written with the MCP SDK (`examples/fixtures/notes-server.ts`) runs as
 * a stdio child process. `McpToolset.layer` starts it and connects when the layer is built; its
 * tools (prefixed `notes_`) join an assistant's own tool at every turn (`toolsets: ["notes"]`).
 *
 * Part 1: the server's tools as the model sees them (their JSON Schemas passed through the same
 * declaration check as native tools), then three conversations at once over the one MCP session.
 *
 * Part 2: the model asks for `notes_reindex` (5 s) beside the native `check_calendar`, which fails
 * at 150 ms under `fail-fast`: the MCP call is interrupted, the SDK sends `notifications/cancelled`,
 * and the server's own audit shows it stopped the work.
 *
 * Part 3: the layer's scope closes: the session ends and the child process is gone.
 *
 * Clock: real time (a real child process); figures are milliseconds since each part started.
 * Offline: the model is `ScriptedModel`. The program checks its own claims and exits 1 if one does
 * not hold.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Agent, AgentError, type AgentEvent, Tool } from "@effect-agents/core"
import { McpToolset } from "@effect-agents/mcp"
import { ScriptedModel } from "@effect-agents/testing"
import { Cause, Clock, Console, Context, Effect, Either, Exit, Layer, Option, Schema, Scope, Stream } from "effect"
import { fileURLToPath } from "node:url"
import * as Timeline from "./timeline.js"

const timeline = Timeline.make({ who: 10, what: 20 })

const Notes = McpToolset.layer({
  name: "notes",
  transport: McpToolset.stdio({
    command: process.execPath,
    args: ["--import", "tsx", fileURLToPath(new URL("./fixtures/notes-server.ts", import.meta.url))],
    gracePeriod: "1 second"
  }),
  prefix: "notes_"
})

class CalendarDown extends Schema.TaggedError<CalendarDown>()("CalendarDown", {}) {
  override get message() {
    return "the calendar service is down"
  }
}

const checkCalendar = Tool.make("check_calendar", {
  description: "Look at today's calendar",
  parameters: Schema.Struct({}),
  handler: () => Effect.zipRight(Effect.sleep("150 millis"), Effect.fail(new CalendarDown()))
})

const assistant = Agent.make({
  name: "assistant",
  instructions: "Answer from the notes.",
  tools: [checkCalendar],
  toolsets: ["notes"]
})

const conversations = {
  "What ships on Friday?": ["friday", "standup.md"],
  "How long may an example run?": ["examples", "retro.md"],
  "What is every call in?": ["scope", "ideas.md"]
} as const

const model = ScriptedModel.layer(ScriptedModel.byPrompt({
  ...Object.fromEntries(Object.entries(conversations).map(([prompt, [word, note]]) => [prompt, [
    ScriptedModel.callTools([{ name: "notes_search_notes", args: { word } }], { delay: "100 millis" }),
    ScriptedModel.callTools([{ name: "notes_read_note", args: { name: note } }], { delay: "100 millis" }),
    (request) => ScriptedModel.text(String((request.contents.at(-1)!.parts[0] as { output: unknown }).output), { delay: "100 millis" })
  ]])),
  "Reindex and check my calendar": [
    ScriptedModel.callTools([{ name: "notes_reindex", args: {} }, { name: "check_calendar", args: {} }], { delay: "50 millis" })
  ]
}))

/** Run a conversation with the notes toolset, printing its events as they happen into `events`. */
const conversation = (prompt: string, label: string, events: Array<AgentEvent.AgentEvent> = []) =>
  Agent.stream(assistant, prompt).pipe(
    Stream.runForEach((event) => {
      events.push(event)
      return event._tag === "ToolCallStarted" || event._tag === "ToolCallSucceeded" || event._tag === "ToolCallFailed" ||
          event._tag === "ToolCallInterrupted" || event._tag === "RunCompleted" || event._tag === "RunFailed"
        ? Console.log(timeline.row(event.timestamp, label, event._tag, Timeline.describeEvent(event)))
        : Effect.void
    }),
    Effect.either
  )

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

const program = Effect.gen(function*() {
  const claims: Array<Timeline.Claim> = []
  const scope = yield* Scope.make()
  const started = yield* Clock.currentTimeMillis
  const context = yield* Layer.buildWithScope(Notes, scope)
  const notes = Context.get(context, McpToolset.tag("notes"))
  const pid = Option.getOrThrow(yield* notes.pid)
  const tools = yield* notes.tools
  yield* Console.log(`Connected to the notes server (pid ${pid}) in ${(yield* Clock.currentTimeMillis) - started} ms. Its tools, as the model sees them:\n`)
  for (const tool of tools) yield* Console.log(`  ${tool.name.padEnd(20)} ${JSON.stringify(tool.declaration.parameters)}`)
  claims.push([
    "the declared schemas passed the Gemini check (minLength moved into a description)",
    JSON.stringify(tools.find((tool) => tool.name === "notes_search_notes")?.declaration.parameters) ===
      JSON.stringify({ type: "object", properties: { word: { type: "string", description: "minLength: 2" } }, required: ["word"] })
  ])

  yield* Console.log(`\nPart 1 — three conversations at once over one MCP session\n\n${timeline.header}`)
  timeline.start = yield* Clock.currentTimeMillis
  const answers = yield* Effect.forEach(
    Object.keys(conversations).map((prompt, i) => [prompt, `conv-${i + 1}`] as const),
    ([prompt, label]) => conversation(prompt, label),
    { concurrency: "unbounded" }
  ).pipe(Effect.provide(context))
  claims.push(
    ["part 1: the three conversations completed", answers.every(Either.isRight)],
    ["part 1: one MCP session served them all", (yield* notes.sessions) === 1]
  )

  yield* Console.log(`\nPart 2 — notes_reindex (5 s) beside check_calendar, which fails at 150 ms (fail-fast)\n\n${timeline.header}`)
  timeline.start = yield* Clock.currentTimeMillis
  const events: Array<AgentEvent.AgentEvent> = []
  const failed = yield* conversation("Reindex and check my calendar", "conv-4", events).pipe(Effect.provide(context))
  const audit = tools.find((tool) => tool.name === "notes_audit")!
  // the tools are plain core tools: their handlers can be called directly
  const seen = String(yield* (Effect.scoped(audit.handler({})) as Effect.Effect<unknown, unknown>))
  yield* Console.log(`\nThe server's audit (its audit tool, called after the run):\n${seen.split("\n").map((line) => `  ${line}`).join("\n")}`)
  if (Either.isLeft(failed) && failed.left instanceof AgentError.ToolCallFailed) {
    yield* Console.log(`The run failed with ToolCallFailed: ${[...Cause.failures(failed.left.cause)].map(AgentError.describeError).join("; ")}`)
  }
  const reindex = events.find((event): event is AgentEvent.ToolCallInterrupted => event._tag === "ToolCallInterrupted")
  claims.push(
    ["part 2: the run failed with ToolCallFailed (the calendar)", Either.isLeft(failed) && failed.left instanceof AgentError.ToolCallFailed],
    ["part 2: notes_reindex ended as interrupted because its sibling failed", reindex?.tool === "notes_reindex" && reindex.reason === "sibling-failed"],
    ["part 2: the server received the cancellation and stopped reindexing", /cancelled reindex/.test(seen)]
  )

  yield* Console.log("\nPart 3 — the layer's scope closes\n")
  const closing = yield* Clock.currentTimeMillis
  yield* Scope.close(scope, Exit.void)
  const closed = (yield* Clock.currentTimeMillis) - closing
  yield* Console.log(`Scope closed in ${closed} ms: the session ended and the server process ${pid} is ${alive(pid) ? "STILL RUNNING" : "gone"}.\n`)
  claims.push(["part 3: the child process is gone when the scope has closed", !alive(pid)])

  const held = yield* Timeline.printClaims(claims)
  if (!held) return yield* Effect.die("a claim of this example does not hold")
}).pipe(Effect.provide(model))

program.pipe(NodeRuntime.runMain)
