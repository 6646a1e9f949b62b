/**
 * Agents and scripts of the HTTP tests. Between them, the two scripted runs of `everyEvent`
 * produce every `AgentEvent` type: a model call retried after streaming some text, streamed text, a succeeding and a
 * reported failing tool (blocked by a guardrail, after an input guardrail passed), a call waiting for an approval that times out (denied), a handoff, a completed run;
 * then a fail-fast group whose failing call
 * interrupts its sibling, and a failed run.
 */
import { Agent, AgentError, Guardrail, Handoff, Tool } from "@effect-agents/core"
import { ScriptedModel } from "@effect-agents/testing"
import { Effect, Schedule, Schema } from "effect"

const Query = Schema.Struct({ q: Schema.String })

export const lookup = Tool.make("lookup", {
  description: "Look something up",
  parameters: Query,
  success: Schema.String,
  handler: ({ q }) => Effect.succeed(`found ${q}`)
})

export const broken = Tool.make("broken", {
  description: "Always fails",
  parameters: Query,
  success: Schema.String,
  handler: () => Effect.fail("the backend is down")
})

/** Needs an approval; none comes, so after `approvalTimeout` the call is denied. */
export const guarded = Tool.make("guarded", {
  description: "Needs an approval",
  parameters: Query,
  success: Schema.String,
  needsApproval: true,
  handler: ({ q }) => Effect.succeed(q)
})

export const slow = Tool.make("slow", {
  description: "Takes a minute",
  parameters: Query,
  success: Schema.String,
  handler: ({ q }) => Effect.as(Effect.sleep("1 minute"), q)
})

const retry = { modelRetry: Schedule.spaced("1 millis").pipe(Schedule.intersect(Schedule.recurs(2))) }

export const math = Agent.make({ name: "math", instructions: "Compute.", policy: retry })

export const triage = Agent.make({
  name: "triage",
  instructions: "Look things up, then hand math over.",
  tools: [lookup, broken, guarded],
  handoffs: [Handoff.to(math)],
  policy: { ...retry, toolFailure: "report", approvalTimeout: "1 millis" },
  // an input guardrail that passes, and a tool guardrail that rejects the call of `broken`
  guardrails: {
    input: [Guardrail.input("polite", () => Effect.succeed(Guardrail.pass))],
    tools: [
      Guardrail.tool("no-broken", {
        before: ({ tool }) => Effect.succeed(tool === "broken" ? Guardrail.reject("broken is known to be down") : Guardrail.pass)
      })
    ]
  }
})

export const strict = Agent.make({
  name: "strict",
  instructions: "Fail fast.",
  tools: [slow, broken],
  policy: { ...retry, toolFailure: "fail-fast" }
})

/** A tool that takes no arguments and answers "waited" once `wait` is done (a sleep, a gate the test opens). */
export const waiting = (name: string, wait: Effect.Effect<void>) =>
  Tool.make(name, {
    description: "Wait",
    parameters: Schema.Struct({}),
    success: Schema.String,
    handler: () => Effect.as(wait, "waited")
  })

/** A model that calls `tool` on a run's first turn and answers "done" on the next. */
export const callThenAnswer = (tool: string) =>
  ScriptedModel.layer((request) =>
    request.contents.some((content) => content.role === "model")
      ? ScriptedModel.text("done")
      : ScriptedModel.callTools([{ name: tool, args: {} }])
  )

/** The model of the two runs that produce every event type (prompts `"Plan"` and `"Fail"`). */
export const everyEventModel = () => {
  let attempts = 0
  return ScriptedModel.layer(ScriptedModel.byPrompt({
    Plan: [
      () =>
        attempts++ % 2 === 0
          ? ScriptedModel.fail(new AgentError.RateLimited({ detail: "slow down" }), { text: "Checking", failAfterChunks: 1 })
          : ScriptedModel.callTools([
            { name: "lookup", args: { q: "flights" } },
            { name: "broken", args: { q: "hotels" } },
            { name: "guarded", args: { q: "cars" } }
          ], {
            text: "Looking it up."
          }),
      ScriptedModel.callTools([{ name: "transfer_to_math", args: {} }]),
      ScriptedModel.text("2 + 3 = 5")
    ],
    Fail: [ScriptedModel.callTools([{ name: "slow", args: { q: "a" } }, { name: "broken", args: { q: "b" } }])]
  }))
}

/** Every event tag, for checking that a set of runs covered them all. */
export const everyTag = [
  "RunStarted",
  "TurnStarted",
  "ModelRequested",
  "TextDelta",
  "TextReset",
  "ModelResponded",
  "ToolCallStarted",
  "ToolCallSucceeded",
  "ToolCallFailed",
  "ToolCallInterrupted",
  "ApprovalRequested",
  "ApprovalDecided",
  "GuardrailStarted",
  "GuardrailPassed",
  "GuardrailTripped",
  "RetryScheduled",
  "HandoffStarted",
  "HandoffCompleted",
  "RunCompleted",
  "RunFailed"
]
