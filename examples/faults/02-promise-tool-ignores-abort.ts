/**
 * Fault 02 — a `Tool.fromPromise` handler ignores its `AbortSignal`.
 *
 * Fault: `legacy_inventory` wraps an old client library that takes no `AbortSignal`: its
 * Promise resolves after 1500 ms no matter what. The tool declares `timeout: "300 millis"` and
 * `onFailure: "report"`.
 *
 * At 300 ms the call is interrupted. The signal is aborted (the only thing Effect can do to a
 * Promise), nobody listens, and the call ends at once anyway: the run does not wait for the
 * Promise. The event is `ToolCallInterrupted` with reason `timeout`, the model reads why, and
 * the run completes at ~300 ms. When the Promise finally resolves at ~1500 ms its value is
 * discarded: no `ToolCallSucceeded`, nothing in the history, the answer does not use it.
 *
 * Clock: real (a real Promise and a real timer); figures are ms since the run started and may
 * drift by a millisecond or two. Offline (`ScriptedModel`). The program checks its claims,
 * exits 1 if one does not hold, and ends with `outcome=… finalizers=… leaked fibers=…`.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Agent, type AgentEvent, Tool } from "@effect-agents/core"
import { LeakCheck, ScriptedModel } from "@effect-agents/testing"
import { Clock, Console, Deferred, Effect, Either, Schema, Stream } from "effect"
import * as Timeline from "../timeline.js"

/** Real clock: the time origin is set when the run starts. */
const timeline = Timeline.make({ who: 7, what: 20 })

const witness = { aborts: 0, lateValue: undefined as string | undefined, lateAt: Infinity }

const makeTool = (settled: Deferred.Deferred<void>) =>
  Tool.fromPromise("legacy_inventory", {
    description: "Stock level from the legacy inventory system",
    parameters: Schema.Struct({ sku: Schema.String }),
    timeout: "300 millis",
    onFailure: "report",
    // the old client takes no signal: the abort is observed here only to show it happened
    handler: ({ sku }, signal) => {
      signal.addEventListener("abort", () => {
        witness.aborts++
        timeline.noteNow("shop", "  legacy_inventory", "AbortSignal aborted; the old client ignores it")
      })
      return new Promise<string>((resolve) =>
        setTimeout(() => {
          witness.lateValue = `${sku}: 17 in stock`
          witness.lateAt = Date.now()
          timeline.noteNow("shop", "  legacy_inventory", `its Promise resolves now with "${witness.lateValue}": nobody is listening`)
          resolve(witness.lateValue)
          Deferred.unsafeDone(settled, Effect.void)
        }, 1500)
      )
    }
  })

const script = [
  ScriptedModel.callTools([{ name: "legacy_inventory", args: { sku: "sku-9" } }]),
  ScriptedModel.text("The inventory system did not answer in time; I cannot confirm stock for sku-9 right now.")
]

const program = Effect.gen(function*() {
  const leaks = yield* LeakCheck.make
  const settled = yield* Deferred.make<void>()
  const shop = Agent.make({ name: "shop", instructions: "Check stock with the tools.", tools: [makeTool(settled)] })
  timeline.start = yield* Clock.currentTimeMillis
  yield* Console.log(timeline.header)
  const run = yield* Effect.gen(function*() {
    const events: Array<AgentEvent.AgentEvent> = []
    const outcome = yield* Agent.stream(shop, "Is sku-9 in stock?").pipe(
      Stream.runForEach((event) => {
        events.push(event)
        return timeline.printEvent(event)
      }),
      Effect.either
    )
    const requests = yield* Effect.flatMap(ScriptedModel.ScriptedModel, (model) => model.requests)
    return { outcome, events, requests, endedAt: yield* Clock.currentTimeMillis }
  }).pipe(leaks.supervise, Effect.provide(ScriptedModel.layer(script)))
  const leaked = (yield* leaks.live).length
  yield* Console.log(timeline.row(run.endedAt, "shop", "(run over)", "the caller has its answer; the Promise is still pending"))

  // wait for the abandoned Promise, only to show that its value goes nowhere
  yield* Deferred.await(settled)

  const told = run.requests[1]?.contents.at(-1)?.parts.find((part) => part._tag === "FunctionResponse")
  yield* Console.log(`\nWhat the model read on turn 2: ${JSON.stringify(told?._tag === "FunctionResponse" ? told.output : undefined)}`)
  const interrupted = run.events.find((e): e is AgentEvent.ToolCallInterrupted => e._tag === "ToolCallInterrupted")
  const completed = run.events.find((e): e is AgentEvent.RunCompleted => e._tag === "RunCompleted")
  const history = JSON.stringify(completed?.history ?? [])
  const claims: Array<[string, boolean]> = [
    ["the call was interrupted by its timeout, and the event says so", interrupted?.reason === "timeout"],
    [
      `the run completed at ~300 ms (${run.endedAt - timeline.start} ms), before the Promise resolved (${witness.lateAt - timeline.start} ms)`,
      Either.isRight(run.outcome) && run.endedAt < witness.lateAt
    ],
    ["the AbortSignal was aborted once", witness.aborts === 1],
    ["the late value arrived after the run ended", witness.lateValue !== undefined],
    ["it was never counted as a success", !run.events.some((e) => e._tag === "ToolCallSucceeded")],
    ["it is nowhere in the history", witness.lateValue !== undefined && !history.includes(witness.lateValue)],
    ["the model was told the call timed out", told?._tag === "FunctionResponse" && told.isError && String(told.output).includes("timed out")]
  ]
  const held = yield* Timeline.printClaims(claims)
  yield* Console.log(
    `outcome=${Either.isRight(run.outcome) ? "completed" : run.outcome.left._tag} finalizers=${witness.aborts} leaked fibers=${leaked}`
  )
  if (!held || leaked > 0) return yield* Effect.die("a claim of this example does not hold")
})

NodeRuntime.runMain(program)
