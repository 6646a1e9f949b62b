/**
 * Fault 06 — the caller presses Ctrl-C in the middle of a turn.
 *
 * Fault: a report agent asks for two tools at once: `query_warehouse` holds a database
 * connection and a temp table for 3 s, `render_chart` holds a headless-browser page for 3 s.
 * 250 ms after both have started, while both are in flight, the program sends itself SIGINT —
 * exactly what Ctrl-C does in a terminal.
 *
 * The entry point is `NodeRuntime.runMain`: on SIGINT it interrupts the main fiber. The
 * interruption reaches the run, then every tool call in flight; each call's finalizers run
 * (in reverse order of acquisition inside a call), and only then does the main fiber end, so
 * the last line below is printed after every finalizer, with the fibers still alive counted
 * at that moment. `runMain` exits with code 0 for an interruption: stopping on Ctrl-C is not
 * an error.
 *
 * Clock: real (a real signal); figures are ms since the run started and may drift by a
 * millisecond or two. Offline (`ScriptedModel`). The program checks its claims, exits 1 if
 * one does not hold, and ends with `outcome=… finalizers=… leaked fibers=…`.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Agent, type AgentEvent, Tool } from "@effect-agents/core"
import { LeakCheck, ScriptedModel } from "@effect-agents/testing"
import { Cause, Clock, Console, Effect, Exit, Schema, Stream } from "effect"
import * as Timeline from "../timeline.js"

/** Real clock: the time origin is set when the run starts. */
const timeline = Timeline.make({ who: 7, what: 19 })

const finalizers: Array<string> = []

/** A resource held by a tool call; its finalizer prints when it runs. */
const holding = (tool: string, what: string) =>
  Effect.acquireRelease(Effect.void, (_, exit) =>
    Effect.sync(() => finalizers.push(`${tool}: ${what}`)).pipe(
      Effect.zipRight(timeline.note("report", `  ${tool}`, `finalizer: ${what} released (${Exit.isInterrupted(exit) ? "interrupted" : "done"})`))
    ))

const queryWarehouse = Tool.make("query_warehouse", {
  description: "Run an analytics query",
  scoped: true,
  parameters: Schema.Struct({ sql: Schema.String }),
  handler: () =>
    holding("query_warehouse", "database connection").pipe(
      Effect.zipRight(holding("query_warehouse", "temp table")),
      Effect.zipRight(Effect.sleep("3 seconds")),
      Effect.as({ rows: 1200 })
    )
})

const renderChart = Tool.make("render_chart", {
  description: "Render a chart",
  scoped: true,
  parameters: Schema.Struct({ title: Schema.String }),
  handler: () => holding("render_chart", "browser page").pipe(Effect.zipRight(Effect.sleep("3 seconds")), Effect.as("chart.png"))
})

const report = Agent.make({
  name: "report",
  instructions: "Build the weekly report with the tools.",
  tools: [queryWarehouse, renderChart]
})

const script = [
  ScriptedModel.callTools([
    { name: "query_warehouse", args: { sql: "select * from sales" } },
    { name: "render_chart", args: { title: "Weekly sales" } }
  ]),
  ScriptedModel.text("Here is the weekly report.")
]

/** What a terminal does on Ctrl-C: the OS delivers SIGINT to the process (here 250 ms from now). */
const ctrlC = Effect.sync(() =>
  setTimeout(() => {
    timeline.noteNow("process", "SIGINT", "(Ctrl-C)")
    process.kill(process.pid, "SIGINT")
  }, 250)
)

const program = Effect.gen(function*() {
  const leaks = yield* LeakCheck.make
  const events: Array<AgentEvent.AgentEvent> = []
  timeline.start = yield* Clock.currentTimeMillis
  yield* Console.log(timeline.header)
  yield* Agent.stream(report, "Build the weekly report.").pipe(
    Stream.runForEach((event) => {
      events.push(event)
      const line = timeline.printEvent(event)
      return events.filter((e) => e._tag === "ToolCallStarted").length === 2 && event._tag === "ToolCallStarted"
        ? Effect.zipRight(line, ctrlC)
        : line
    }),
    Effect.provide(ScriptedModel.layer(script)),
    leaks.supervise,
    // runs once the run and every tool call in it are over, whatever ended them
    Effect.onExit((exit) =>
      Effect.gen(function*() {
        const leaked = (yield* leaks.live).length
        const interrupted = Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause)
        const claims: Array<[string, boolean]> = [
          ["the run was interrupted, not failed", interrupted],
          ["both tool calls had started", events.filter((e) => e._tag === "ToolCallStarted").length === 2],
          ["every resource was released: connection, temp table, browser page", finalizers.length === 3],
          ["the run did not complete", !events.some((e) => e._tag === "RunCompleted" || e._tag === "RunFailed")]
        ]
        yield* Console.log("")
        const held = yield* Timeline.printClaims(claims)
        yield* Console.log(`outcome=${interrupted ? "interrupted" : exit._tag} finalizers=${finalizers.length} leaked fibers=${leaked}`)
        if (!held || leaked > 0) process.exitCode = 1
      })
    )
  )
  yield* Console.log("FAIL  the run was not interrupted")
  process.exitCode = 1
})

NodeRuntime.runMain(program, {
  // the default teardown, except that a failed claim (process.exitCode = 1) is not overridden
  teardown: (exit, onExit) =>
    onExit(Exit.isFailure(exit) && !Cause.isInterruptedOnly(exit.cause) ? 1 : Number(process.exitCode ?? 0))
})
