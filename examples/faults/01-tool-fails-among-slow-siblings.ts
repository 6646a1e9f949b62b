/**
 * Fault 01 — a tool fails while its slow siblings are still working.
 *
 * Fault: a research agent asks for three tools at once. `search_web` (800 ms) holds an HTTP
 * connection and `read_pdf` (1200 ms) holds a file handle; `lookup_citation` is wrapped with
 * `FaultInjection.tool`: 150 ms of added latency, then a 503 on its first call.
 *
 * Under `toolFailure: "fail-fast"` (asyncio `TaskGroup`) the 503 at t=150 interrupts both
 * siblings at that same instant: their finalizers release the connection and the file handle,
 * their events say `sibling-failed`, and the run fails with `ToolCallFailed` whose cause holds
 * the one real failure. Nobody waits for the 1200 ms PDF.
 *
 * Clock: virtual (`TestClock`), so every figure is an exact instant in ms. Offline
 * (`ScriptedModel`). The program checks its claims, exits 1 if one does not hold, and ends
 * with `outcome=… finalizers=… leaked fibers=…`.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Agent, AgentError, type AgentEvent, Tool } from "@effect-agents/core"
import { FaultInjection, LeakCheck, ScriptedModel } from "@effect-agents/testing"
import { Cause, Console, Effect, Either, Exit, Fiber, Schema, Stream, TestClock, TestContext } from "effect"
import * as Timeline from "../timeline.js"

const timeline = Timeline.make({ who: 9, what: 20 })

const finalizers: Array<string> = []

/** A scoped resource: acquired when the call starts, released (with a line) however it ends. */
const holding = (tool: string, what: string) =>
  Effect.acquireRelease(Effect.void, (_, exit) =>
    Effect.sync(() => finalizers.push(`${tool}: ${what}`)).pipe(
      Effect.zipRight(
        timeline.note("research", `  ${tool}`, `finalizer: ${what} released (${Exit.isInterrupted(exit) ? "interrupted" : "done"})`)
      )
    ))

const searchWeb = Tool.make("search_web", {
  description: "Search the web",
  scoped: true,
  parameters: Schema.Struct({ query: Schema.String }),
  handler: ({ query }) => Effect.zipRight(holding("search_web", "HTTP connection"), Effect.as(Effect.sleep("800 millis"), [`${query}: 3 hits`]))
})

const readPdf = Tool.make("read_pdf", {
  description: "Read a PDF",
  scoped: true,
  parameters: Schema.Struct({ path: Schema.String }),
  handler: ({ path }) => Effect.zipRight(holding("read_pdf", "file handle"), Effect.as(Effect.sleep("1200 millis"), `${path}: 42 pages`))
})

const lookupCitation = FaultInjection.tool(
  Tool.make("lookup_citation", {
    description: "Look a citation up",
    scoped: true,
    parameters: Schema.Struct({ doi: Schema.String }),
    handler: ({ doi }) => Effect.zipRight(holding("lookup_citation", "index cursor"), Effect.as(Effect.sleep("300 millis"), `${doi}: Nature 2021`))
  }),
  [FaultInjection.latency("150 millis"), FaultInjection.unavailable({ calls: [1] })],
  { seed: 1 }
)

const research = Agent.make({
  name: "research",
  instructions: "Gather sources with the tools.",
  tools: [searchWeb, readPdf, lookupCitation],
  policy: { toolFailure: "fail-fast" }
})

const script = [
  ScriptedModel.callTools([
    { name: "search_web", args: { query: "structured concurrency" } },
    { name: "read_pdf", args: { path: "trio-nurseries.pdf" } },
    { name: "lookup_citation", args: { doi: "10.1038/xyz" } }
  ])
]

const program = Effect.gen(function*() {
  const leaks = yield* LeakCheck.make
  const events: Array<AgentEvent.AgentEvent> = []
  yield* Console.log(timeline.header)
  const fiber = yield* Agent.stream(research, "Find sources on structured concurrency.").pipe(
    Stream.runForEach((event) => {
      events.push(event)
      return timeline.printEvent(event)
    }),
    Effect.either,
    leaks.supervise,
    Effect.provide(ScriptedModel.layer(script)),
    Effect.fork
  )
  yield* TestClock.adjust("10 seconds")
  const outcome = yield* Fiber.join(fiber)
  const leaked = (yield* leaks.live).length

  yield* Console.log("")
  const claims: Array<Timeline.Claim> = []
  if (Either.isLeft(outcome) && outcome.left instanceof AgentError.ToolCallFailed) {
    yield* Console.log(`The run failed: ${outcome.left.message}`)
    claims.push(["the cause holds the one real failure", Array.from(Cause.failures(outcome.left.cause)).length === 1])
  } else {
    claims.push(["the run failed with ToolCallFailed", false])
  }
  for (const fired of yield* lookupCitation.faults.fired) {
    yield* Console.log(`fault fired: ${fired.target} call ${fired.call} at t=${fired.at}: ${fired.kind} (${fired.detail})`)
  }
  const interrupted = events.filter((e): e is AgentEvent.ToolCallInterrupted => e._tag === "ToolCallInterrupted")
  claims.push(
    ["both siblings were interrupted at t=150 because a sibling failed", interrupted.length === 2 && interrupted.every((e) => e.reason === "sibling-failed" && e.timestamp === 150)],
    ["their finalizers released the connection and the file handle", finalizers.length === 2],
    ["the run ended at t=150, not at the slowest sibling's 1200", events.at(-1)?._tag === "RunFailed" && events.at(-1)?.timestamp === 150]
  )
  const held = yield* Timeline.printClaims(claims)
  yield* Console.log(
    `outcome=${Either.isLeft(outcome) ? outcome.left._tag : "completed"} finalizers=${finalizers.length} leaked fibers=${leaked}`
  )
  if (!held || leaked > 0) return yield* Effect.die("a claim of this example does not hold")
})

program.pipe(Effect.provide(TestContext.TestContext), NodeRuntime.runMain)
