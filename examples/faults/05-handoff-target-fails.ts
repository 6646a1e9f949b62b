/**
 * Fault 05 — the agent a conversation was handed off to fails.
 *
 * Fault: `triage` hands a refund request off to `billing`. Billing asks for two tools at once:
 * `load_invoice` (holds a database connection for 1 s) and `refund_card`, wrapped with
 * `FaultInjection.tool`: after 200 ms of added latency the payment gateway answers 503.
 *
 * Billing runs `toolFailure: "fail-fast"`, so at t=200 the 503 interrupts `load_invoice` (its
 * connection is released) and fails billing's turn with `ToolCallFailed`. A handoff continues
 * the same run, so the failure is the run's failure: the events of the target carry the path
 * `triage/billing`, `HandoffStarted` has no `HandoffCompleted`, and `RunFailed` closes the run.
 * The caller then handles the typed error (`Effect.catchTag("ToolCallFailed", …)`) and answers
 * the customer with a fallback, so this program ends normally.
 *
 * Clock: virtual (`TestClock`), so every figure is an exact instant in ms. Offline
 * (`ScriptedModel`). The program checks its claims, exits 1 if one does not hold, and ends
 * with `outcome=… finalizers=… leaked fibers=…`.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Agent, type AgentEvent, Handoff, Tool } from "@effect-agents/core"
import { FaultInjection, LeakCheck, ScriptedModel } from "@effect-agents/testing"
import { Console, Effect, Exit, Fiber, Schema, Stream, TestClock, TestContext } from "effect"
import * as Timeline from "../timeline.js"

const timeline = Timeline.make({ who: 15, what: 20 })

const finalizers: Array<string> = []

const loadInvoice = Tool.make("load_invoice", {
  description: "Load an invoice",
  scoped: true,
  parameters: Schema.Struct({ invoice: Schema.String }),
  handler: ({ invoice }) =>
    Effect.acquireRelease(Effect.void, (_, exit) =>
      Effect.sync(() => finalizers.push("load_invoice: database connection")).pipe(
        Effect.zipRight(
          timeline.note("triage/billing", "  load_invoice", `finalizer: database connection released (${Exit.isInterrupted(exit) ? "interrupted" : "done"})`)
        )
      )).pipe(Effect.zipRight(Effect.sleep("1 second")), Effect.as({ invoice, amount: 49 }))
})

const refundCard = FaultInjection.tool(
  Tool.make("refund_card", {
    description: "Refund a card payment",
    parameters: Schema.Struct({ invoice: Schema.String }),
    handler: ({ invoice }) => Effect.as(Effect.sleep("300 millis"), `refund for ${invoice} sent`)
  }),
  [FaultInjection.latency("200 millis"), FaultInjection.unavailable({ calls: [1] })],
  { seed: 1 }
)

const billing = Agent.make({
  name: "billing",
  description: "Handles invoices and refunds",
  instructions: "Refund with the tools.",
  tools: [loadInvoice, refundCard],
  policy: { toolFailure: "fail-fast" }
})

const triage = Agent.make({
  name: "triage",
  instructions: "Route the customer to the right team.",
  handoffs: [Handoff.to(billing)]
})

const prompt = "Please refund invoice INV-7."
const script = ScriptedModel.byPrompt({
  [prompt]: [
    ScriptedModel.callTools([{ name: "transfer_to_billing" }]),
    ScriptedModel.callTools([{ name: "load_invoice", args: { invoice: "INV-7" } }, { name: "refund_card", args: { invoice: "INV-7" } }])
  ]
})

const program = Effect.gen(function*() {
  const leaks = yield* LeakCheck.make
  const events: Array<AgentEvent.AgentEvent> = []
  yield* Console.log(timeline.header)
  const fiber = yield* Agent.stream(triage, prompt).pipe(
    Stream.runForEach((event) => {
      events.push(event)
      return timeline.printEvent(event)
    }),
    Effect.as("refunded"),
    // the caller handles the typed failure of the handoff target
    Effect.catchTag("ToolCallFailed", (error) =>
      Console.log(`\ncaller: the run failed (${error.message})\ncaller: answering with a fallback and opening a ticket`).pipe(
        Effect.as("fallback: a ticket was opened")
      )),
    leaks.supervise,
    Effect.provide(ScriptedModel.layer(script)),
    Effect.fork
  )
  yield* TestClock.adjust("1 minute")
  const answer = yield* Fiber.join(fiber)
  const leaked = (yield* leaks.live).length

  const failed = events.find((e): e is AgentEvent.RunFailed => e._tag === "RunFailed")
  const claims: Array<[string, boolean]> = [
    ["the target's events carry the path triage/billing", events.some((e) => e._tag === "ToolCallFailed" && e.agent === "triage/billing")],
    ["the handoff started and never completed", events.some((e) => e._tag === "HandoffStarted") && !events.some((e) => e._tag === "HandoffCompleted")],
    ["the failing refund interrupted load_invoice at t=200", events.some((e) => e._tag === "ToolCallInterrupted" && e.tool === "load_invoice" && e.reason === "sibling-failed" && e.timestamp === 200)],
    ["the run ended with RunFailed(ToolCallFailed) at t=200", failed?.error === "ToolCallFailed" && failed.timestamp === 200 && events.at(-1) === failed],
    ["the database connection was released", finalizers.length === 1],
    ["the caller recovered with its fallback", answer.startsWith("fallback")]
  ]
  yield* Console.log("")
  const held = yield* Timeline.printClaims(claims)
  yield* Console.log(`outcome=${failed?.error ?? "completed"} finalizers=${finalizers.length} leaked fibers=${leaked}`)
  if (!held || leaked > 0) return yield* Effect.die("a claim of this example does not hold")
})

program.pipe(Effect.provide(TestContext.TestContext), NodeRuntime.runMain)
