/**
 * Fault 07 — a run goes over its token budget.
 *
 * Fault: a research agent keeps searching. Its policy says `maxTokens: 2000`. Each model
 * answer reports its usage: 600 tokens, then 700 (1300 in all, still within budget), then
 * 900 more with a third search (2200 in all).
 *
 * The run loop adds each answer's usage as it arrives. The third answer takes the run over
 * budget, so the loop stops right there: the third search never starts, and the run fails with
 * the typed `BudgetExceeded { used: 2200, maxTokens: 2000 }`. The caller decides what to do
 * with it (here: report what the budget bought), so this program ends normally.
 *
 * Clock: virtual (`TestClock`): every model answer takes 400 ms, every search 250 ms, and each
 * figure is an exact instant in ms. Offline (`ScriptedModel`). The program checks its claims,
 * exits 1 if one does not hold, and ends with `outcome=… finalizers=… leaked fibers=…`.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Agent, type AgentEvent, Tool } from "@effect-agents/core"
import { LeakCheck, ScriptedModel } from "@effect-agents/testing"
import { Console, Effect, Either, Fiber, Schema, Stream, TestClock, TestContext } from "effect"
import * as Timeline from "../timeline.js"

const timeline = Timeline.make({ who: 8, what: 18 })

let used = 0
/** The shared detail, plus the running token count on each model answer. */
const describeEvent = (event: AgentEvent.AgentEvent): string => {
  if (event._tag !== "ModelResponded") return Timeline.describeEvent(event)
  used += event.usage.totalTokens
  return `${Timeline.describeEvent(event)} (+${event.usage.totalTokens} tokens, ${used} in all)`
}

const finalizers: Array<string> = []

const search = Tool.make("search", {
  description: "Search the web",
  scoped: true,
  parameters: Schema.Struct({ query: Schema.String }),
  handler: ({ query }) =>
    Effect.acquireRelease(Effect.void, () => Effect.sync(() => finalizers.push(`search "${query}": HTTP connection`))).pipe(
      Effect.zipRight(Effect.sleep("250 millis")),
      Effect.as(`5 results for ${query}`)
    )
})

const researcher = Agent.make({
  name: "research",
  instructions: "Search until you are sure.",
  tools: [search],
  policy: { maxTokens: 2000 }
})

const step = (query: string, input: number, output: number) =>
  ScriptedModel.callTools([{ name: "search", args: { query } }], { delay: "400 millis", usage: { inputTokens: input, outputTokens: output } })

const script = [step("effect ts", 500, 100), step("effect ts scopes", 600, 100), step("effect ts scopes again", 800, 100)]

const program = Effect.gen(function*() {
  const leaks = yield* LeakCheck.make
  const events: Array<AgentEvent.AgentEvent> = []
  yield* Console.log(timeline.header)
  const fiber = yield* Agent.stream(researcher, "Everything about Effect scopes, please.").pipe(
    Stream.runForEach((event) => {
      events.push(event)
      return timeline.printEvent(event, describeEvent(event))
    }),
    Effect.either,
    leaks.supervise,
    Effect.provide(ScriptedModel.layer(script)),
    Effect.fork
  )
  yield* TestClock.adjust("1 minute")
  const outcome = yield* Fiber.join(fiber)
  const leaked = (yield* leaks.live).length

  yield* Console.log("")
  const claims: Array<Timeline.Claim> = []
  if (Either.isLeft(outcome) && outcome.left._tag === "BudgetExceeded") {
    const error = outcome.left
    yield* Console.log(`caller: ${error.message}`)
    yield* Console.log(`caller: the budget bought ${events.filter((e) => e._tag === "ToolCallSucceeded").length} searches; reporting those`)
    claims.push(["the run failed with BudgetExceeded { used: 2200, maxTokens: 2000 }", error.used === 2200 && error.maxTokens === 2000])
  } else {
    claims.push(["the run failed with BudgetExceeded", false])
  }
  claims.push(
    ["the loop stopped at the third answer (t=1700): the third search never started", events.filter((e) => e._tag === "ToolCallStarted").length === 2 && events.at(-1)?.timestamp === 1700],
    ["both searches released their connection", finalizers.length === 2]
  )
  const held = yield* Timeline.printClaims(claims)
  yield* Console.log(
    `outcome=${Either.isLeft(outcome) ? outcome.left._tag : "completed"} finalizers=${finalizers.length} leaked fibers=${leaked}`
  )
  if (!held || leaked > 0) return yield* Effect.die("a claim of this example does not hold")
})

program.pipe(Effect.provide(TestContext.TestContext), NodeRuntime.runMain)
