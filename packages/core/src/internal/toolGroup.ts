import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import type * as Agent from "../Agent.js"
import { type AgentError, ToolCallFailed } from "../AgentError.js"
import type { FunctionCallPart, FunctionResponsePart } from "../Content.js"
import { interruptionsOf, parallel, sequential, withoutInterruptions } from "./cause.js"
import { publishCallValue, type TurnContext } from "./events.js"
import { forEachConcurrent, isDone } from "./fiber.js"
import { CallFailure, functionResponse, type Group, publishInterrupted, runCall, toolCallStarted } from "./toolCall.js"

/**
 * The tool-call group: the function calls of one model response, run with TaskGroup semantics.
 *
 * - The calls run concurrently, at most `policy.toolConcurrency` at once. A call done as soon as
 *   it starts (a pure tool) runs in the turn's own fiber, in plain code. A single call that waits
 *   runs in the turn's own fiber too; several run each in a worker fiber of its own
 *   (`forEachConcurrent`).
 * - Under `fail-fast` the first call that fails stops the group: every running sibling is
 *   interrupted at that instant (its finalizers run), and every call not begun yet starts and
 *   ends as interrupted at that instant, so every call the model asked for ends visibly. The turn
 *   fails with `ToolCallFailed`, whose cause holds every call's failure and whatever the
 *   interrupted siblings raised (a finalizer that died), never their interruptions.
 * - Under `report` a failure is an error function response; its siblings go on.
 * - The responses go back to the model in call order. A handoff call is answered at once and
 *   taken after the group (one per turn).
 *
 * @internal
 */

/** What a group ends with: the responses in call order, and the handoff the model asked for, if any. */
export interface GroupOutcome {
  readonly responses: ReadonlyArray<FunctionResponsePart>
  readonly handoff?: { readonly call: FunctionCallPart; readonly target: Agent.Any } | undefined
}

/** Run the function calls of one model response, then `then` with their responses in call order. */
export const toolGroup = <A>(
  ctx: TurnContext,
  calls: ReadonlyArray<FunctionCallPart>,
  then: (outcome: GroupOutcome) => Effect.Effect<A, AgentError, any>
): Effect.Effect<A, AgentError, any> => {
  let transfer: GroupOutcome["handoff"]
  const group: Group = { failed: false }
  const one = (call: FunctionCallPart): Effect.Effect<FunctionResponsePart, CallFailure, any> => {
    const target = ctx.compiled.handoffs.get(call.name)
    if (target === undefined) return runCall(ctx, group, call)
    const max = ctx.policy.maxToolOutputChars
    if (transfer !== undefined) {
      const message = `Only one handoff per turn: the conversation is already being transferred to "${transfer.target.name}".`
      return Effect.succeed(functionResponse(call, message, true, max))
    }
    transfer = { call, target }
    return Effect.succeed(functionResponse(call, { transferred_to: target.name }, false, max))
  }
  /** A call the group stopped before it began: it starts and ends, at that instant, as interrupted. */
  const stopped = (call: FunctionCallPart) => {
    if (ctx.compiled.handoffs.has(call.name)) return
    publishCallValue(ctx, call, toolCallStarted, call.args)
    publishInterrupted(ctx, group, call)
  }
  let all: Effect.Effect<ReadonlyArray<FunctionResponsePart>, CallFailure, any>
  if (calls.length === 1) {
    const only = one(calls[0]!)
    // answered as soon as it started (a pure tool): the next turn follows in plain code
    if (isDone(only) && only._tag === "Success") return then({ responses: [only.value], handoff: transfer })
    all = Effect.map(only, (response) => [response])
  } else {
    all = forEachConcurrent(calls, one, ctx.policy.toolConcurrency, stopped)
  }
  // the failure is read uninterruptibly: when the run is interrupted at the instant a call fails,
  // an interruptible handler would be skipped and the failure dropped
  return Effect.flatMap(
    Effect.uninterruptibleMask((restore) => Effect.catchAllCause(restore(all), (cause) => Effect.failCause(groupFailure(cause)))),
    (responses) => then({ responses, handoff: transfer })
  )
}

/**
 * The cause a stopped group fails the turn with. When calls failed: `ToolCallFailed` listing
 * them, whose cause holds their causes and everything else the group raised (defects of
 * interrupted siblings' cleanup), after the interruption of the run when the run was
 * interrupted too. Otherwise (the run was interrupted) the cause as it is: the interruption,
 * then what the interrupted calls raised.
 */
const groupFailure = (cause: Cause.Cause<CallFailure>): Cause.Cause<AgentError> => {
  const failures = Array.from(Cause.failures(cause))
  if (failures.length === 0) return cause as Cause.Cause<never>
  const raised = Cause.match(withoutInterruptions(cause), {
    onEmpty: Cause.empty as Cause.Cause<unknown>,
    onFail: (failure) => failure.cause,
    onDie: (defect) => Cause.die(defect),
    onInterrupt: () => Cause.empty,
    onSequential: sequential,
    onParallel: parallel
  })
  const error = Cause.fail(new ToolCallFailed({ calls: failures.map((f) => ({ tool: f.tool, callId: f.callId })), cause: raised }))
  return sequential<AgentError>(interruptionsOf(cause), error)
}
