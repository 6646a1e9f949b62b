import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as ParseResult from "effect/ParseResult"
import { describeError, GuardrailTripped, ToolOutcomeUnknown, ToolResultInvalid, ToolTimeout } from "../AgentError.js"
import * as Event from "../AgentEvent.js"
import * as Approvals from "../Approvals.js"
import { type FunctionCallPart, type FunctionResponsePart, type InlineData, isToolOutput } from "../Content.js"
import type * as Tool from "../Tool.js"
import { isForbidden, type Runnable } from "./compile.js"
import { oneCallField, publishCall, publishCallValue, type TurnContext } from "./events.js"
import { isDone, settle, timeoutFail } from "./fiber.js"
import { guardCall, type Stop, type ToolGuards } from "./guardrail.js"
import { json, spanEvent } from "./tracing.js"

/**
 * One tool call, from the model's arguments to the function response the model reads next turn,
 * with exactly one terminal event.
 *
 * 1. The tool is looked up by name; an unknown name goes back to the model as an error.
 * 2. The arguments must be plain data and match the tool's `parameters` Schema; if not, they go
 *    back to the model as an error and the handler never runs.
 * 3. The handler runs, with its `retry`, `timeout` and (for a scoped tool) its own `Scope`,
 *    closed before the call ends.
 * 4. Its result is encoded with the `success` Schema and must be JSON the wire can carry.
 * 5. The outcome is published and answered: a success, an error the model is told about
 *    (`report`, a cancelled call), or — under `fail-fast` — a {@link CallFailure} that fails the
 *    group. When the call's own fiber is interrupted (its group or its run stopped it), it ends
 *    as interrupted and the interruption goes on.
 *
 * @internal
 */

/** The tool-call group a call belongs to: whether one of its calls failed it (so interrupted siblings say why). */
export interface Group {
  failed: boolean
}

/** A call that failed under `fail-fast`: it fails the group, which interrupts its siblings. */
export class CallFailure {
  constructor(readonly tool: string, readonly callId: string, readonly cause: Cause.Cause<unknown>) {}
  /** What failed, as a span's exception reads it (`Cause.pretty` uses it). */
  toString(): string {
    return `Tool "${this.tool}" (call ${this.callId}) failed: ${describeError(Cause.squash(this.cause))}`
  }
}

/**
 * The answer to `call` the model reads. An output longer than `maxChars` (measured on its JSON
 * text) is cut, with a note the model can read.
 */
export const functionResponse = (
  call: FunctionCallPart,
  output: unknown,
  isError: boolean,
  maxChars: number | undefined
): FunctionResponsePart => ({
  _tag: "FunctionResponse",
  id: call.id,
  name: call.name,
  output: maxChars === undefined ? output : capped(output, maxChars),
  isError
})

/** `output`, or its JSON text cut at `max` characters with a note saying so (`policy.maxToolOutputChars`). */
const capped = (output: unknown, max: number): unknown => {
  // outputs are checked to be JSON the wire can carry before they get here
  const text = typeof output === "string" ? output : JSON.stringify(output)
  if (text === undefined || text.length <= max) return output
  return `${text.slice(0, max)}\n[truncated: the tool returned ${text.length} characters; only the first ${max} are shown (policy.maxToolOutputChars)]`
}

/** Answer the model with an error about `call` (reported: the model reads it next turn). */
const errorResponse = (ctx: TurnContext, call: FunctionCallPart, message: string): FunctionResponsePart =>
  functionResponse(call, message, true, ctx.policy.maxToolOutputChars)

const interruptReason = (group: Group) => group.failed ? "sibling-failed" as const : "run-interrupted" as const

/** The events of a call published with their one field's value (the arguments, the output). */
export const toolCallStarted = oneCallField(Event.ToolCallStarted, "args")
const toolCallSucceeded = oneCallField(Event.ToolCallSucceeded, "output")

/** Publish that `call` ended as interrupted because its group or its run stopped. */
export const publishInterrupted = (ctx: TurnContext, group: Group, call: FunctionCallPart): void =>
  publishCall(ctx, call, Event.ToolCallInterrupted, { reason: interruptReason(group) })

/**
 * Run one tool call and publish exactly one terminal event for it. Arguments are decoded
 * synchronously when the schema allows it (as an effect otherwise).
 */
export const runCall = (
  ctx: TurnContext,
  group: Group,
  call: FunctionCallPart
): Effect.Effect<FunctionResponsePart, CallFailure, any> =>
  ctx.state.traced ? traced(ctx, group, call, runUntraced(ctx, group, call)) : runUntraced(ctx, group, call)

/**
 * The call as an `execute_tool {tool}` span (OpenTelemetry GenAI conventions), opened only when
 * the run's tracer exports spans. A call that fails its group or is interrupted ends the span
 * with that exit (an error status); an error the model is told about sets `error.type`. A call
 * that ends early gets a `ToolCallInterrupted` event with the reason, as its `AgentEvent` says
 * (`sibling-failed`, `run-interrupted`, `timeout`, `cancelled`). With contents opted in
 * (`Tracing`), the arguments and the result the model reads too.
 */
const traced = (
  ctx: TurnContext,
  group: Group,
  call: FunctionCallPart,
  effect: Effect.Effect<FunctionResponsePart, CallFailure, any>
): Effect.Effect<FunctionResponsePart, CallFailure, any> => {
  const contents = ctx.state.contents
  const attributes: Record<string, unknown> = {
    "gen_ai.operation.name": "execute_tool",
    "gen_ai.tool.name": call.name,
    "gen_ai.tool.call.id": call.id,
    "gen_ai.conversation.id": ctx.state.runId,
    "gen_ai.agent.name": ctx.path
  }
  if (contents) attributes["gen_ai.tool.call.arguments"] = json(call.args)
  return Effect.withSpan(
    Effect.onInterrupt(
      Effect.tap(effect, (response) =>
        Effect.annotateCurrentSpan({
          ...(response.isError ? { "error.type": "tool_error" } : undefined),
          ...(contents ? { "gen_ai.tool.call.result": json(response.output) } : undefined)
        })),
      () => spanEvent("ToolCallInterrupted", { reason: interruptReason(group) })
    ),
    `execute_tool ${call.name}`,
    { attributes, kind: "internal", captureStackTrace: false }
  )
}

/** With a tracer, the call's span gets a `ToolCallInterrupted` event with `reason` before `effect`. */
const tracedEnd = <A, E>(ctx: TurnContext, reason: "timeout" | "cancelled", effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
  ctx.state.traced ? Effect.zipRight(spanEvent("ToolCallInterrupted", { reason }), effect) : effect

const runUntraced = (
  ctx: TurnContext,
  group: Group,
  call: FunctionCallPart
): Effect.Effect<FunctionResponsePart, CallFailure, any> => {
  publishCallValue(ctx, call, toolCallStarted, call.args)
  const runnable = ctx.compiled.tools.get(call.name)
  if (runnable === undefined) {
    const message = `Unknown tool "${call.name}". Available tools: ${ctx.compiled.available}.`
    publishCall(ctx, call, Event.ToolCallFailed, { kind: "unknown-tool", error: message, reported: true })
    return Effect.succeed(errorResponse(ctx, call, message))
  }
  const key = inheritedKey(call.args)
  if (key !== undefined) {
    return Effect.succeed(invalidArguments(
      ctx,
      call,
      `${key}: arguments are plain data, and the keys __proto__, constructor and prototype are refused at any depth`
    ))
  }
  const decoded = runnable.decode(call.args)
  if (decoded._tag === "Right") return invoke(ctx, group, call, runnable, decoded.right)
  if (!isForbidden(decoded.left)) return Effect.succeed(invalidArguments(ctx, call, ParseResult.TreeFormatter.formatIssueSync(decoded.left)))
  return Effect.flatMap(
    Effect.onInterrupt(
      Effect.either(runnable.tool.decodeArgs(call.args)),
      () => Effect.sync(() => publishInterrupted(ctx, group, call))
    ),
    (params) =>
      params._tag === "Left"
        ? Effect.succeed(invalidArguments(ctx, call, ParseResult.TreeFormatter.formatIssueSync(params.left.issue)))
        : invoke(ctx, group, call, runnable, params.right)
  )
}

/** Answer the model that the arguments of `call` are invalid. */
const invalidArguments = (ctx: TurnContext, call: FunctionCallPart, detail: string): FunctionResponsePart => {
  const message = `Invalid arguments for tool "${call.name}": ${detail}`
  publishCall(ctx, call, Event.ToolCallFailed, { kind: "invalid-arguments", error: message, reported: true })
  return errorResponse(ctx, call, message)
}

/** Keys that, decoded into an object, would set or reach its prototype instead of holding data. */
const inheritedKeys: ReadonlySet<string> = new Set(["__proto__", "constructor", "prototype"])

/** A place in a value: the keys and indexes leading to it, innermost first (built only when something is found). */
type Where = Array<string | number>

const pathOf = (root: string, where: Where): string =>
  where.reduceRight<string>((path, step) => typeof step === "number" ? `${path}[${step}]` : `${path}.${step}`, root)

/**
 * Where the model's arguments hold a key that is not plain data (`__proto__`, `constructor`,
 * `prototype`, at any depth), as `the key "__proto__" at arguments.user`; `undefined` when
 * there is none. Arguments are JSON, so they have no cycles; nesting deeper than 64 levels is
 * not looked into.
 */
const inheritedKey = (args: unknown): string | undefined => {
  const where = findKey(args, 0)
  return where === undefined ? undefined : `the key "${where[0]}" at ${pathOf("arguments", where.slice(1))}`
}

const findKey = (value: unknown, depth: number): Where | undefined => {
  if (typeof value !== "object" || value === null || depth > 64) return undefined
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findKey(value[i], depth + 1)
      if (found !== undefined) return (found.push(i), found)
    }
    return undefined
  }
  for (const key of Object.keys(value)) {
    if (inheritedKeys.has(key)) return [key]
    const found = findKey((value as Record<string, unknown>)[key], depth + 1)
    if (found !== undefined) return (found.push(key), found)
  }
  return undefined
}

/**
 * What in an encoded result the wire cannot carry as JSON (a `bigint`, a function, a symbol, a
 * cycle), as `a bigint at result.total`; `undefined` when it is plain data. `undefined` values
 * are allowed (JSON leaves them out), and so is a value with a `toJSON` method (a `Date`).
 */
/** What is wrong with the media parts of a `Content.toolOutput`, if anything. */
const partsProblem = (parts: ReadonlyArray<InlineData>): string | undefined => {
  if (!Array.isArray(parts)) return `parts must be an array of { mimeType, data }, got ${typeof parts}`
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] as Partial<InlineData> | null
    if (typeof part?.mimeType !== "string" || !/^[\w.+-]+\/[\w.+-]+$/.test(part.mimeType)) {
      return `parts[${i}].mimeType must be a MIME type such as "image/png", got ${JSON.stringify(part?.mimeType)}`
    }
    if (typeof part.data !== "string" || !base64.test(part.data) || part.data.replace(/=+$/, "").length % 4 === 1) {
      return `parts[${i}].data must be base64 text`
    }
  }
  return undefined
}

/** Base64, standard or URL-safe, padded or not (what JSON carriers of bytes take). */
const base64 = /^[A-Za-z0-9+/_-]*={0,2}$/

const unsendable = (result: unknown): string | undefined => {
  if (typeof result !== "object" && typeof result !== "bigint" && typeof result !== "function" && typeof result !== "symbol") {
    return undefined
  }
  const found = findUnsendable(result, [])
  return found === undefined ? undefined : `${found.what} at ${pathOf("result", found.where)}`
}

const findUnsendable = (value: unknown, ancestors: Array<object>): { readonly what: string; readonly where: Where } | undefined => {
  switch (typeof value) {
    case "bigint":
      return { what: "a bigint", where: [] }
    case "function":
      return { what: "a function", where: [] }
    case "symbol":
      return { what: "a symbol", where: [] }
    case "object": {
      if (value === null || typeof (value as { toJSON?: unknown }).toJSON === "function") return undefined
      if (ancestors.includes(value)) return { what: "a circular reference", where: [] }
      ancestors.push(value)
      let found: { readonly what: string; readonly where: Where } | undefined
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length && found === undefined; i++) {
          found = findUnsendable(value[i], ancestors)
          found?.where.push(i)
        }
      } else {
        for (const key of Object.keys(value)) {
          found = findUnsendable((value as Record<string, unknown>)[key], ancestors)
          if (found !== undefined) {
            found.where.push(key)
            break
          }
        }
      }
      ancestors.pop()
      return found
    }
    default:
      return undefined
  }
}

/**
 * The handler of `call` and its resources are done, its result encoded: answer the model, or fail
 * the group under `fail-fast`, after publishing the call's terminal event.
 */
const answer = (
  ctx: TurnContext,
  group: Group,
  call: FunctionCallPart,
  tool: Tool.Any,
  exit: Exit.Exit<unknown, unknown>
): Effect.Effect<FunctionResponsePart, CallFailure> => {
  if (Exit.isSuccess(exit)) {
    // a result with media (`Content.toolOutput`): its output as any result, its parts as data
    const media = isToolOutput(exit.value) ? exit.value : undefined
    const output = media === undefined ? exit.value : media.output
    const problem = unsendable(output) ?? (media === undefined ? undefined : partsProblem(media.parts))
    if (problem !== undefined) {
      const invalid = new ToolResultInvalid({ tool: tool.name, callId: call.id, detail: problem, problem: "json" })
      return answer(ctx, group, call, tool, Exit.fail(invalid))
    }
    publishCallValue(ctx, call, toolCallSucceeded, output)
    const response = functionResponse(call, output, false, ctx.policy.maxToolOutputChars)
    return Effect.succeed(media === undefined || media.parts.length === 0 ? response : { ...response, parts: media.parts })
  }
  if (Cause.isInterruptedOnly(exit.cause)) {
    // cancelled on its own: not a failure of the group, whatever the policy
    publishCall(ctx, call, Event.ToolCallInterrupted, { reason: "cancelled" })
    return tracedEnd(
      ctx,
      "cancelled",
      Effect.succeed(errorResponse(ctx, call, `Tool "${call.name}" (call ${call.id}) was cancelled before it finished; it has no result.`))
    )
  }
  const failure = Cause.failureOption(exit.cause)
  let message: string
  const timedOut = failure._tag === "Some" && failure.value instanceof ToolTimeout
  // a durable run's unknown outcome is always the model's to read: nothing failed that a retry could fix
  const failsGroup = (tool.onFailure ?? ctx.policy.toolFailure) === "fail-fast" &&
    !(failure._tag === "Some" && failure.value instanceof ToolOutcomeUnknown)
  if (timedOut) {
    message = failure.value.message
    publishCall(ctx, call, Event.ToolCallInterrupted, { reason: "timeout" })
  } else {
    const kind = failure._tag === "None"
      ? "defect"
      : failure.value instanceof ToolResultInvalid
      ? "invalid-result"
      : failure.value instanceof GuardrailTripped
      ? "blocked"
      : "failure"
    message = failure._tag === "None" ? crashMessage(tool, exit.cause) : describeError(failure.value)
    publishCall(ctx, call, Event.ToolCallFailed, { kind, error: message, reported: !failsGroup })
  }
  let outcome: Effect.Effect<FunctionResponsePart, CallFailure>
  if (failsGroup) {
    group.failed = true
    outcome = Effect.fail(new CallFailure(call.name, call.id, exit.cause))
    if (ctx.state.traced) {
      outcome = Effect.zipRight(
        Effect.annotateCurrentSpan("error.type", failure._tag === "Some" ? tagOf(failure.value) : "defect"),
        outcome
      )
    }
  } else {
    outcome = Effect.succeed(errorResponse(ctx, call, message))
  }
  return timedOut ? tracedEnd(ctx, "timeout", outcome) : outcome
}

/**
 * Run the handler of a call with decoded arguments, then publish its terminal event.
 *
 * Everything after the handler runs uninterruptibly, so an outcome is always published. The
 * handler's own outcome is read by `Effect.exit` inside the interruptible region: when the
 * fiber itself is interrupted (the run, or a failing sibling) that step is skipped and the call
 * ends as interrupted. A handler that was interrupted while its fiber was not (it interrupted
 * itself, or something else did) is a call cancelled on its own.
 */
const invoke = (
  ctx: TurnContext,
  group: Group,
  call: FunctionCallPart,
  runnable: Runnable,
  params: unknown
): Effect.Effect<FunctionResponsePart, CallFailure, any> => {
  const tool = runnable.tool
  const guards = ctx.compiled.guards?.tools.get(tool.name)
  if (tool.needsApproval !== undefined || tool.scoped || (guards !== undefined && guards.before.length + guards.after.length > 0)) {
    return guarded(ctx, group, call, runnable, params, guards, undefined)
  }
  // nothing in the way and a handler done as soon as it starts (a pure tool): answered now, in plain code
  const handler = settle(executeTool(ctx, tool, params, call))
  return (isDone(handler) ? answeredNow(ctx, group, call, runnable, handler) : undefined) ??
    guarded(ctx, group, call, runnable, params, guards, handler)
}

/** A handler's outcome answered in plain code, or `undefined` when its result's schema transforms asynchronously. */
const answeredNow = (
  ctx: TurnContext,
  group: Group,
  call: FunctionCallPart,
  runnable: Runnable,
  exit: Exit.Exit<unknown, unknown>
): Effect.Effect<FunctionResponsePart, CallFailure> | undefined =>
  Exit.isFailure(exit) ? answer(ctx, group, call, runnable.tool, exit) : encodedNow(ctx, group, call, runnable, exit.value)

/** A result encoded for the model and answered, or `undefined` when its schema transforms asynchronously. */
const encodedNow = (
  ctx: TurnContext,
  group: Group,
  call: FunctionCallPart,
  runnable: Runnable,
  value: unknown
): Effect.Effect<FunctionResponsePart, CallFailure> | undefined => {
  const result = runnable.encode(value)
  if (result._tag === "Right") return answer(ctx, group, call, runnable.tool, Exit.succeed(result.right))
  if (!isForbidden(result.left)) return answer(ctx, group, call, runnable.tool, Exit.fail(runnable.invalidResult(result.left, call.id)))
  return undefined
}

/**
 * {@link invoke} with its approval and tool guardrails, or a handler that waits: `started` is the
 * handler when it has started already.
 */
const guarded = (
  ctx: TurnContext,
  group: Group,
  call: FunctionCallPart,
  runnable: Runnable,
  params: unknown,
  guards: ToolGuards | undefined,
  started: Effect.Effect<unknown, unknown, any> | undefined
): Effect.Effect<FunctionResponsePart, CallFailure, any> => {
  const tool = runnable.tool
  const ended = (exit: Exit.Exit<unknown, unknown>) => answer(ctx, group, call, tool, exit)

  /** The call's fiber was interrupted: the call ends as interrupted and the interruption goes on. */
  const interrupted = (cause: Cause.Cause<unknown>): Effect.Effect<never> => {
    publishInterrupted(ctx, group, call)
    return Effect.failCause(cause as Cause.Cause<never>)
  }

  /** A tool guardrail stopped the call: a rejection is answered, a trip fails the call. */
  const stopped = (stop: Stop, moment: "before" | "after"): Effect.Effect<FunctionResponsePart, CallFailure> =>
    stop.verdict._tag === "Reject" ? Effect.succeed(blocked(ctx, call, stop, moment)) : ended(Exit.fail(stop.tripped()))

  const afterGuards = guards !== undefined && guards.after.length > 0

  /** The handler starts (only now: once approved and passed by the `before` guardrails), then its outcome is answered. */
  const run = (): Effect.Effect<FunctionResponsePart, CallFailure, any> => {
    // a retried handler is scoped per attempt instead (see `executeTool`)
    const handler = started ?? settle(
      tool.scoped && tool.retry === undefined ? Effect.scoped(executeTool(ctx, tool, params, call)) : executeTool(ctx, tool, params, call)
    )
    // done as soon as it started (a pure handler): its outcome is read now, in plain code
    const now = started === undefined && isDone(handler) && (Exit.isFailure(handler) || !afterGuards)
      ? answeredNow(ctx, group, call, runnable, handler)
      : undefined
    return now ?? waited(handler)
  }

  /** The handler's outcome read as an effect: it waits, or its `after` guardrails or its encoding do. */
  const waited = (handler: Effect.Effect<unknown, unknown, any>) => Effect.uninterruptibleMask((restore) => {
    /** Encode a result for the model; a schema with asynchronous transformations is run interruptibly. */
    const encoded = (value: unknown): Effect.Effect<FunctionResponsePart, CallFailure> =>
      encodedNow(ctx, group, call, runnable, value) ?? Effect.matchCauseEffect(
        restore(Effect.exit(Effect.mapError(tool.encodeResult(value), (error) => runnable.invalidResult(error.issue, call.id)))),
        { onSuccess: ended, onFailure: interrupted }
      )
    return Effect.matchCauseEffect(restore(Effect.exit(handler)), {
      onFailure: interrupted,
      onSuccess: (exit) => {
        if (Exit.isFailure(exit)) return ended(exit)
        if (!afterGuards) return encoded(exit.value)
        // the `after` guardrails see the result before the model does
        return Effect.matchCauseEffect(restore(Effect.exit(guardCall(ctx, guards!.after, "after", call, params, exit.value))), {
          onFailure: interrupted,
          onSuccess: (checked) =>
            Exit.isFailure(checked)
              ? ended(checked)
              : checked.value === undefined
              ? encoded(exit.value)
              : stopped(checked.value, "after")
        })
      }
    })
  })
  const approved = (): Effect.Effect<FunctionResponsePart, CallFailure, any> =>
    tool.needsApproval === undefined || !needsApproval(tool, params) ? run() : Effect.flatMap(
      Effect.onInterrupt(approval(ctx, call), () => Effect.sync(() => publishInterrupted(ctx, group, call))),
      (decision) => decision.approve ? run() : Effect.succeed(denied(ctx, call, decision.reason))
    )
  if (guards === undefined || guards.before.length === 0) return approved()
  return Effect.flatMap(
    Effect.onInterrupt(
      Effect.exit(guardCall(ctx, guards.before, "before", call, params)),
      () => Effect.sync(() => publishInterrupted(ctx, group, call))
    ),
    (checked) => Exit.isFailure(checked) ? ended(checked) : checked.value === undefined ? approved() : stopped(checked.value, "before")
  )
}

/** Answer the model that a tool guardrail rejected `call` (`before`: its handler never ran; `after`: its result is withheld). */
const blocked = (ctx: TurnContext, call: FunctionCallPart, stop: Stop, moment: "before" | "after"): FunctionResponsePart => {
  const message = moment === "before"
    ? `Tool "${call.name}" (call ${call.id}) was blocked by guardrail "${stop.guardrail.name}": ${stop.reason}. It did not run.`
    : `The result of tool "${call.name}" (call ${call.id}) was blocked by guardrail "${stop.guardrail.name}": ${stop.reason}. ` +
      `It is not shown.`
  publishCall(ctx, call, Event.ToolCallFailed, { kind: "blocked", error: message, reported: true })
  return errorResponse(ctx, call, message)
}

/** Whether a call with `params` waits for a decision; a predicate that throws counts as yes (the safe answer). */
const needsApproval = (tool: Tool.Any, params: unknown): boolean => {
  try {
    return tool.needsApproval!(params) === true
  } catch {
    return true
  }
}

/**
 * Wait for the decision on `call` from the `Approvals` service (the process-wide one when none is
 * provided), between `ApprovalRequested` and `ApprovalDecided`. No decision within
 * `policy.approvalTimeout` is a denial.
 */
const approval = (ctx: TurnContext, call: FunctionCallPart): Effect.Effect<Approvals.Decision> =>
  Effect.flatMap(Approvals.current, (approvals) => {
    publishCall(ctx, call, Event.ApprovalRequested, { args: call.args })
    const after = ctx.policy.approvalTimeout
    const wait = approvals.request(ctx.state.runId, call.id)
    const decided = after === undefined ? wait : Effect.catchAll(
      timeoutFail(wait, after, () => ({
        approve: false,
        reason: `no decision came within ${Duration.format(after)} (policy.approvalTimeout)`
      })),
      Effect.succeed
    )
    return Effect.tap(decided, (decision) =>
      Effect.sync(() =>
        publishCall(
          ctx,
          call,
          Event.ApprovalDecided,
          decision.approve ? { approved: true } : { approved: false, reason: decision.reason ?? "denied" }
        )
      ))
  })

/** Answer the model that `call` was denied: its handler never ran. */
const denied = (ctx: TurnContext, call: FunctionCallPart, reason: string | undefined): FunctionResponsePart => {
  const message = `Tool "${call.name}" (call ${call.id}) was not approved, so it did not run: ${reason ?? "denied"}. ` +
    `Do not retry it unchanged; tell the user or choose another way.`
  publishCall(ctx, call, Event.ToolCallFailed, { kind: "denied", error: message, reported: true })
  return errorResponse(ctx, call, message)
}

/** The `_tag` of a typed failure (`error.type`), `failure` for an untagged one. */
const tagOf = (error: unknown): string =>
  typeof error === "object" && error !== null && typeof (error as { _tag?: unknown })._tag === "string"
    ? (error as { _tag: string })._tag
    : "failure"

/** The message of a call whose handler died; a handler that needs an undeclared `Scope` is told how to declare it. */
const crashMessage = (tool: Tool.Any, cause: Cause.Cause<unknown>): string => {
  const error = describeError(Cause.squash(cause))
  return !tool.scoped && error.includes("Service not found: effect/Scope")
    ? `Tool "${tool.name}" crashed: its handler acquires scoped resources but the tool has no scope; make it with \`scoped: true\` (${error})`
    : `Tool "${tool.name}" crashed: ${error}`
}

/**
 * The handler with its retry and timeout. A handler that throws instead of returning an Effect
 * is a defect of its call, like one that dies.
 */
const executeTool = (
  ctx: TurnContext,
  tool: Tool.Any,
  params: unknown,
  call: FunctionCallPart
): Effect.Effect<unknown, unknown, any> => {
  const callId = call.id
  let effect: Effect.Effect<unknown, unknown, any>
  try {
    effect = tool.handler(params, { id: callId, name: call.name, agent: ctx.path, turn: ctx.turn })
  } catch (thrown) {
    effect = Effect.die(thrown)
  }
  if (tool.retry !== undefined) effect = Effect.retry(tool.scoped ? Effect.scoped(effect) : effect, tool.retry)
  const timeout = tool.timeout
  if (timeout !== undefined) {
    effect = timeoutFail(effect, timeout, () => new ToolTimeout({ tool: tool.name, callId, after: timeout }))
  }
  return effect
}
