import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as FiberRef from "effect/FiberRef"
import * as Mailbox from "effect/Mailbox"
import * as ParseResult from "effect/ParseResult"
import * as Random from "effect/Random"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as Intervals from "effect/ScheduleIntervals"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Agent from "../Agent.js"
import {
  type AgentError,
  BudgetExceeded,
  describeError,
  HandoffLimitExceeded,
  MalformedResponse,
  MaxTurnsExceeded,
  type ModelError,
  ModelTimeout,
  RunTimeout,
  ToolCallFailed,
  ToolResultInvalid,
  ToolTimeout
} from "../AgentError.js"
import * as Event from "../AgentEvent.js"
import { type Content, type FunctionCallPart, type FunctionResponsePart, functionCallsOf, textOf } from "../Content.js"
import * as Handoff from "../Handoff.js"
import { collectChunks, Model, type ModelChunk, type ModelRequest, type ModelResponse, type ToolDeclaration } from "../Model.js"
import type * as Policy from "../Policy.js"
import type * as Tool from "../Tool.js"
import { forEachConcurrent, timeoutFail, tracing } from "./fiber.js"

/**
 * The run loop.
 *
 * It is written for a short hot path: a turn with an in-process model answer and one pure tool
 * call evaluates a few dozen Effect operations. Synchronous work (events, history, argument
 * decoding, result encoding) is plain code inside the continuations; each function that
 * publishes events or starts a fiber is called from a continuation, that is when its step runs,
 * never when an effect is built for later.
 */

/** Where a run publishes its events. `run` collects them in an array, `stream` offers them to a mailbox. */
interface Sink {
  readonly emit: (event: Event.AgentEvent) => void
  /** Whether model calls stream (and emit `TextDelta`s). */
  readonly streaming: boolean
}

/** Mutable bookkeeping of one run (one conversation), shared by its handoff segments. */
interface RunState {
  readonly runId: string
  readonly clock: Clock.Clock
  readonly sink: Sink
  readonly model: Model["Type"]
  readonly maxHandoffs: number
  readonly maxTokens: number | undefined
  handoffs: number
  turns: number
  inputTokens: number
  outputTokens: number
  totalTokens: number
}

interface EventClass {
  readonly prototype: object
  readonly _tag: string
  new(props: any, options?: any): any
}

/** The fields of an event besides the ones every event carries. */
type Own<C extends EventClass> = Omit<ConstructorParameters<C>[0], "runId" | "agent" | "turn" | "timestamp">

/**
 * Publish an event of `Class`. The instance is built without running the Schema class
 * constructor: the fields are ours and already valid, and this is the hot path. The result is an
 * ordinary instance of the class, timestamped on the run's `Clock`.
 */
const publish = <C extends EventClass>(state: RunState, Class: C, agent: string, turn: number, fields: Own<C>): void => {
  state.sink.emit(Object.assign(instance(state, Class, agent, turn), fields))
}

const instance = (state: RunState, Class: EventClass, agent: string, turn: number) => {
  const event = Object.create(Class.prototype)
  event._tag = Class._tag
  event.runId = state.runId
  event.agent = agent
  event.turn = turn
  event.timestamp = state.clock.unsafeCurrentTimeMillis()
  return event
}

/** The run a fiber belongs to, so `Agent.asTool` can publish a nested run's events to its caller's sink. */
const currentRun = FiberRef.unsafeMake<{ readonly sink: Sink; readonly path: string } | undefined>(undefined)

/** Tools made by `Agent.asTool`: they read `currentRun`, which is only set for agents that have one. */
const nestedTools = new WeakSet<Tool.Any>()

/** Mark a tool as running a nested agent (`Agent.asTool`). */
export const markNested = <T extends Tool.Any>(tool: T): T => {
  nestedTools.add(tool)
  return tool
}

/** A tool with its synchronous codecs, built once per tool. */
interface Runnable {
  readonly tool: Tool.Any
  /** Decode the model's arguments; stops with a `Forbidden` issue on a schema with asynchronous transformations. */
  readonly decode: (args: unknown) => Either.Either<unknown, ParseResult.ParseIssue>
  /** Encode a result for the model; stops with a `Forbidden` issue like `decode`. */
  readonly encode: (value: unknown) => Either.Either<unknown, ParseResult.ParseIssue>
  readonly invalidResult: (issue: ParseResult.ParseIssue, callId: string) => ToolResultInvalid
}

const runnables = new WeakMap<Tool.Any, Runnable>()

const runnableOf = (tool: Tool.Any): Runnable => {
  let runnable = runnables.get(tool)
  if (runnable === undefined) {
    runnable = {
      tool,
      decode: ParseResult.decodeUnknownEither(tool.parameters),
      encode: ParseResult.encodeUnknownEither(tool.success),
      invalidResult: (issue, callId) =>
        new ToolResultInvalid({ tool: tool.name, callId, detail: ParseResult.TreeFormatter.formatIssueSync(issue) })
    }
    runnables.set(tool, runnable)
  }
  return runnable
}

/** Per-agent derived data, built once per agent value and shared by all its conversations. */
interface Compiled {
  readonly tools: ReadonlyMap<string, Runnable>
  readonly handoffs: ReadonlyMap<string, Agent.Any>
  readonly declarations: ReadonlyArray<ToolDeclaration>
  readonly available: string
  /** Whether a tool of this agent runs a nested agent and so needs `currentRun`. */
  readonly nests: boolean
}

const compiledCache = new WeakMap<Agent.Any, Compiled>()

const compile = (agent: Agent.Any): Compiled => {
  let compiled = compiledCache.get(agent)
  if (compiled !== undefined) return compiled
  const tools = new Map<string, Runnable>()
  const declarations: Array<ToolDeclaration> = []
  for (const tool of agent.tools) {
    tools.set(tool.name, runnableOf(tool))
    declarations.push(tool.declaration)
  }
  const handoffs = new Map<string, Agent.Any>()
  for (const handoff of agent.handoffs) {
    const target = handoff.target()
    const name = Handoff.toolName(target.name)
    if (tools.has(name) || handoffs.has(name)) {
      throw new Error(`Agent "${agent.name}": "${name}" is declared twice`)
    }
    handoffs.set(name, target)
    const about = handoff.description ?? target.description
    declarations.push({
      name,
      description: `Hand the conversation over to the "${target.name}" agent${about ? `: ${about}` : ""}.`,
      parameters: { type: "object", properties: {} }
    })
  }
  compiled = {
    tools,
    handoffs,
    declarations,
    available: declarations.map((d) => d.name).join(", ") || "none",
    nests: agent.tools.some((tool) => nestedTools.has(tool))
  }
  compiledCache.set(agent, compiled)
  return compiled
}

const normalize = (input: Agent.Input): { readonly prompt: string; readonly history: Array<Content> } => {
  if (typeof input === "string") return { prompt: input, history: [{ role: "user", parts: [{ _tag: "Text", text: input }] }] }
  const history = input.history ? input.history.slice() : []
  history.push({ role: "user", parts: [{ _tag: "Text", text: input.prompt }] })
  return { prompt: input.prompt, history }
}

/** Eight hex digits. */
const runIdOf = (n: number) => {
  const hex = (n >>> 0).toString(16)
  return hex.length === 8 ? hex : "0000000".slice(hex.length - 1) + hex
}

/** Run a conversation, publishing to `sink`. `path` is the root agent path (`caller/sub` when nested). */
const execute = <R>(
  agent: Agent.Agent<R>,
  input: Agent.Input,
  sink: Sink,
  path: string,
  events: ReadonlyArray<Event.AgentEvent>
): Effect.Effect<Agent.RunResult, AgentError, Model | R> =>
  Effect.withFiberRuntime((fiber) => {
    const model = Context.unsafeGet(fiber.currentContext as Context.Context<Model>, Model)
    const services = fiber.currentDefaultServices
    const clock = Context.get(services, Clock.Clock)
    const traced = tracing(fiber)
    return Effect.flatMap(Context.get(services, Random.Random).nextInt, (n) => {
      const state: RunState = {
        runId: runIdOf(n),
        clock,
        sink,
        model,
        maxHandoffs: agent.policy.maxHandoffs,
        maxTokens: agent.policy.maxTokens,
        handoffs: 0,
        turns: 0,
        inputTokens: 0,
        outputTokens: 0,
        totalTokens: 0
      }
      const { history, prompt } = normalize(input)
      publish(state, Event.RunStarted, path, 0, { input: prompt })
      let program = segment(state, agent, path, history)
      const runTimeout = agent.policy.runTimeout
      if (runTimeout !== undefined) {
        program = Effect.timeoutFail(program, {
          duration: runTimeout,
          onTimeout: () => new RunTimeout({ agent: path, after: runTimeout })
        })
      }
      const result = Effect.matchCauseEffect(program, {
        onSuccess: (answer) => {
          const usage = { inputTokens: state.inputTokens, outputTokens: state.outputTokens, totalTokens: state.totalTokens }
          publish(state, Event.RunCompleted, path, state.turns, { text: answer.text, usage, history })
          return Effect.succeed<Agent.RunResult>({
            runId: state.runId,
            agent: answer.path,
            text: answer.text,
            history,
            usage,
            turns: state.turns,
            events
          })
        },
        onFailure: (cause) => {
          // an interrupted run ends without a terminal event: its caller is gone
          if (!Cause.isInterruptedOnly(cause)) {
            const failure = Cause.failureOption(cause)
            publish(state, Event.RunFailed, path, state.turns, {
              error: failure._tag === "Some" ? failure.value._tag : "Defect",
              message: describeError(failure._tag === "Some" ? failure.value : Cause.squash(cause))
            })
          }
          return Effect.failCause(cause)
        }
      })
      // a span only when a tracer exports it: Effect's built-in tracer keeps spans nowhere
      return traced
        ? Effect.withSpan(result, "Agent.run", { attributes: { agent: path, runId: state.runId }, captureStackTrace: false })
        : result
    })
  })

/** `Agent.run`: events are collected in an array. */
export const run = <R>(agent: Agent.Agent<R>, input: Agent.Input): Effect.Effect<Agent.RunResult, AgentError, Model | R> =>
  Effect.suspend(() => {
    const events: Array<Event.AgentEvent> = []
    return execute(agent, input, { emit: (event) => events.push(event), streaming: false }, agent.name, events)
  })

/** `Agent.stream`: events are offered to a mailbox read by the returned stream; closing the stream interrupts the run. */
export const stream = <R>(agent: Agent.Agent<R>, input: Agent.Input): Stream.Stream<Event.AgentEvent, AgentError, Model | R> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const mailbox = yield* Mailbox.make<Event.AgentEvent, AgentError>()
    const sink: Sink = { emit: (event) => mailbox.unsafeOffer(event), streaming: true }
    yield* execute(agent, input, sink, agent.name, []).pipe(
      Effect.exit,
      Effect.flatMap((exit) => mailbox.done(Exit.asVoid(exit))),
      Effect.forkScoped
    )
    return Mailbox.toStream(mailbox)
  }))

/** `Agent.asTool`: inside a run, the sub-agent's events go to the caller's sink under `caller/sub`. */
export const runNested = <R>(agent: Agent.Agent<R>, prompt: string): Effect.Effect<string, AgentError, Model | R> =>
  Effect.flatMap(FiberRef.get(currentRun), (parent) =>
    parent === undefined
      ? Effect.map(run(agent, prompt), (result) => result.text)
      : Effect.map(execute(agent, prompt, parent.sink, `${parent.path}/${agent.name}`, []), (result) => result.text))

/**
 * `Orchestrate.*`: a run whose events carry the root path `path`. With `emit`, model calls
 * stream and each event is also handed to `emit` as it happens (several runs can share one
 * mailbox). The events are collected in `RunResult.events` either way.
 */
export const runAt = <R>(
  agent: Agent.Agent<R>,
  input: Agent.Input,
  path: string,
  emit?: (event: Event.AgentEvent) => void
): Effect.Effect<Agent.RunResult, AgentError, Model | R> =>
  Effect.suspend(() => {
    const events: Array<Event.AgentEvent> = []
    const sink: Sink = emit === undefined
      ? { emit: (event) => events.push(event), streaming: false }
      : {
        emit: (event) => {
          events.push(event)
          emit(event)
        },
        streaming: true
      }
    return execute(agent, input, sink, path, events)
  })

// -----------------------------------------------------------------------------
// turns
// -----------------------------------------------------------------------------

interface Answer {
  readonly text: string
  readonly path: string
}

/** What a turn's steps share. */
interface TurnContext {
  readonly state: RunState
  readonly compiled: Compiled
  readonly policy: Policy.Policy
  readonly path: string
  readonly turn: number
}

/** The turn loop of one agent; a handoff continues the same history in a nested segment. */
const segment = (state: RunState, agent: Agent.Any, path: string, history: Array<Content>): Effect.Effect<Answer, AgentError, any> => {
  const compiled = compile(agent)
  const policy = agent.policy
  const system = agent.instructions.length > 0 ? agent.instructions : undefined
  let turn = 0

  const nextTurn = (): Effect.Effect<Answer, AgentError, any> => {
    if (turn >= policy.maxTurns) return Effect.fail(new MaxTurnsExceeded({ agent: path, maxTurns: policy.maxTurns }))
    turn++
    state.turns++
    const ctx: TurnContext = { state, compiled, policy, path, turn }
    publish(state, Event.TurnStarted, path, turn, {})
    const request: ModelRequest = { agent: path, system, contents: history.slice(), tools: compiled.declarations }
    const onResponse = (response: ModelResponse) => respond(ctx, response)
    return Effect.matchEffect(attempt(ctx, request, 1), {
      onFailure: (error) => error.retryable ? Effect.flatMap(retry(ctx, request, error), onResponse) : Effect.fail(error),
      onSuccess: onResponse
    })
  }

  const respond = (ctx: TurnContext, response: ModelResponse): Effect.Effect<Answer, AgentError, any> => {
    state.inputTokens += response.usage.inputTokens
    state.outputTokens += response.usage.outputTokens
    state.totalTokens += response.usage.totalTokens
    const calls = functionCallsOf(response.parts)
    const text = textOf(response.parts)
    publish(state, Event.ModelResponded, path, ctx.turn, {
      text,
      functionCalls: calls.map((call) => call.name),
      usage: response.usage,
      finishReason: response.finishReason
    })
    if (response.parts.length === 0) {
      return Effect.fail(new MalformedResponse({ detail: `the model returned no parts (finish reason: ${response.finishReason})` }))
    }
    history.push({ role: "model", parts: response.parts })
    if (state.maxTokens !== undefined && state.totalTokens > state.maxTokens) {
      return Effect.fail(new BudgetExceeded({ agent: path, used: state.totalTokens, maxTokens: state.maxTokens }))
    }
    if (calls.length === 0) return Effect.succeed({ text, path })
    return toolGroup(ctx, calls, (outcome) => {
      history.push({ role: "user", parts: outcome.responses })
      return outcome.handoff === undefined ? nextTurn() : handoff(ctx, outcome.handoff, history)
    })
  }

  const first = Effect.suspend(nextTurn)
  return compiled.nests ? Effect.locally(first, currentRun, { sink: state.sink, path }) : first
}

const handoff = (
  ctx: TurnContext,
  transfer: { readonly call: FunctionCallPart; readonly target: Agent.Any },
  history: Array<Content>
): Effect.Effect<Answer, AgentError, any> => {
  const { path, state, turn } = ctx
  const target = transfer.target
  state.handoffs++
  if (state.handoffs > state.maxHandoffs) {
    return Effect.fail(new HandoffLimitExceeded({ agent: path, target: target.name, maxHandoffs: state.maxHandoffs }))
  }
  const targetPath = `${path}/${target.name}`
  publish(state, Event.HandoffStarted, path, turn, { callId: transfer.call.id, target: targetPath })
  return Effect.tap(
    segment(state, target, targetPath, history),
    () => publish(state, Event.HandoffCompleted, path, turn, { target: targetPath })
  )
}

// -----------------------------------------------------------------------------
// model calls: timeout per attempt, retries on retryable errors only
// -----------------------------------------------------------------------------

/** One model call: announced, streamed or not, and bounded by `policy.modelTimeout`. */
const attempt = (ctx: TurnContext, request: ModelRequest, n: number): Effect.Effect<ModelResponse, ModelError> => {
  const { policy, state } = ctx
  publish(state, Event.ModelRequested, ctx.path, ctx.turn, { attempt: n })
  const call = state.sink.streaming ? streamCall(ctx, request) : state.model.generate(request)
  return timeoutFail(call, policy.modelTimeout, () => new ModelTimeout({ after: policy.modelTimeout }))
}

/** Drive `policy.modelRetry` by hand so each retry is announced with its delay, and a server's retry delay wins. */
const retry = (ctx: TurnContext, request: ModelRequest, firstError: ModelError): Effect.Effect<ModelResponse, ModelError> =>
  Effect.gen(function*() {
    const { policy, state } = ctx
    const schedule = policy.modelRetry
    let scheduleState = schedule.initial
    let error = firstError
    for (let n = 2;; n++) {
      const now = state.clock.unsafeCurrentTimeMillis()
      const [next, , decision] = yield* schedule.step(now, error, scheduleState)
      if (ScheduleDecision.isDone(decision)) return yield* Effect.fail(error)
      scheduleState = next
      const delay = error._tag === "RateLimited" && error.retryAfter !== undefined
        ? Duration.toMillis(error.retryAfter)
        : Math.max(0, Math.round(Intervals.start(decision.intervals) - now))
      publish(state, Event.RetryScheduled, ctx.path, ctx.turn, {
        attempt: n,
        delayMillis: delay,
        error: error._tag,
        message: error.message
      })
      yield* Effect.sleep(Duration.millis(delay))
      const exit = yield* Effect.exit(attempt(ctx, request, n))
      if (Exit.isSuccess(exit)) return exit.value
      const failure = Cause.failureOption(exit.cause)
      if (failure._tag === "None" || !failure.value.retryable) return yield* Effect.failCause(exit.cause)
      error = failure.value
    }
  })

/** One streamed attempt: text deltas are published as they arrive; the response is committed only when the stream ends. */
const streamCall = (ctx: TurnContext, request: ModelRequest): Effect.Effect<ModelResponse, ModelError> =>
  Effect.suspend(() => {
    const chunks: Array<ModelChunk> = []
    return Effect.map(
      Stream.runForEach(ctx.state.model.stream(request), (chunk) =>
        Effect.sync(() => {
          chunks.push(chunk)
          for (const part of chunk.parts) {
            if (part._tag === "Text" && part.text.length > 0) {
              publish(ctx.state, Event.TextDelta, ctx.path, ctx.turn, { text: part.text })
            }
          }
        })),
      () => collectChunks(chunks)
    )
  })

// -----------------------------------------------------------------------------
// tool-call groups: TaskGroup semantics
// -----------------------------------------------------------------------------

interface GroupOutcome {
  readonly responses: ReadonlyArray<FunctionResponsePart>
  readonly handoff?: { readonly call: FunctionCallPart; readonly target: Agent.Any } | undefined
}

/** A call that failed under `fail-fast`: it fails the group, which interrupts its siblings. */
class CallFailure {
  constructor(readonly tool: string, readonly callId: string, readonly cause: Cause.Cause<unknown>) {}
}

const errorResponse = (call: FunctionCallPart, message: string): FunctionResponsePart => ({
  _tag: "FunctionResponse",
  id: call.id,
  name: call.name,
  output: message,
  isError: true
})

/** Cut a tool output longer than `policy.maxToolOutputChars` (measured on its JSON text), with a note the model can read. */
const capOutput = (output: unknown, max: number | undefined): unknown => {
  if (max === undefined) return output
  let text: string | undefined
  try {
    text = typeof output === "string" ? output : JSON.stringify(output)
  } catch {
    return output
  }
  if (text === undefined || text.length <= max) return output
  return `${text.slice(0, max)}\n[truncated: the tool returned ${text.length} characters; only the first ${max} are shown (policy.maxToolOutputChars)]`
}

const transferResponse = (call: FunctionCallPart, target: Agent.Any): FunctionResponsePart => ({
  _tag: "FunctionResponse",
  id: call.id,
  name: call.name,
  output: { transferred_to: target.name },
  isError: false
})

const toToolCallFailed = (failures: ReadonlyArray<CallFailure>) =>
  new ToolCallFailed({
    calls: failures.map((f) => ({ tool: f.tool, callId: f.callId })),
    cause: failures.map((f) => f.cause).reduce(Cause.parallel)
  })

/** Publish an event of one call. */
const publishCall = <C extends EventClass>(
  ctx: TurnContext,
  call: FunctionCallPart,
  Class: C,
  fields: Omit<Own<C>, "callId" | "tool">
): void => {
  const event = instance(ctx.state, Class, ctx.path, ctx.turn)
  event.callId = call.id
  event.tool = call.name
  ctx.state.sink.emit(Object.assign(event, fields))
}

/**
 * Run the function calls of one model response, then `then` with their responses in call order.
 * One call runs in the turn's fiber; several run in child fibers, at most `toolConcurrency` at
 * once. Under `fail-fast` the first failure interrupts every sibling (their finalizers run) and
 * fails the turn with `ToolCallFailed`; a sibling the group stopped before it began still
 * starts and ends, at that instant, as interrupted.
 */
const toolGroup = <A>(
  ctx: TurnContext,
  calls: ReadonlyArray<FunctionCallPart>,
  then: (outcome: GroupOutcome) => Effect.Effect<A, AgentError, any>
): Effect.Effect<A, AgentError, any> => {
  let transfer: GroupOutcome["handoff"]
  const group = { failed: false }
  const one = (call: FunctionCallPart): Effect.Effect<FunctionResponsePart, CallFailure, any> => {
    const target = ctx.compiled.handoffs.get(call.name)
    if (target === undefined) return runCall(ctx, group, call)
    if (transfer !== undefined) {
      return Effect.succeed(
        errorResponse(call, `Only one handoff per turn: the conversation is already being transferred to "${transfer.target.name}".`)
      )
    }
    transfer = { call, target }
    return Effect.succeed(transferResponse(call, target))
  }
  if (calls.length === 1) {
    return Effect.matchEffect(one(calls[0]!), {
      onFailure: (failure) => Effect.fail(toToolCallFailed([failure])),
      onSuccess: (response) => then({ responses: [response], handoff: transfer })
    })
  }
  const skipped = (call: FunctionCallPart) => {
    if (ctx.compiled.handoffs.has(call.name)) return
    publishCall(ctx, call, Event.ToolCallStarted, { args: call.args })
    publishCall(ctx, call, Event.ToolCallInterrupted, { reason: "sibling-failed" })
  }
  return Effect.matchCauseEffect(forEachConcurrent(calls, one, ctx.policy.toolConcurrency, skipped), {
    onFailure: (cause) => {
      const failures = Array.from(Cause.failures(cause))
      return failures.length === 0 ? Effect.failCause(cause as Cause.Cause<never>) : Effect.fail(toToolCallFailed(failures))
    },
    onSuccess: (responses) => then({ responses, handoff: transfer })
  })
}

/** Whether a codec stopped at an asynchronous transformation (the synchronous one cannot run it). */
const isForbidden = (issue: ParseResult.ParseIssue): boolean => {
  switch (issue._tag) {
    case "Forbidden":
      return true
    case "Composite":
      return Array.isArray(issue.issues) ? issue.issues.some(isForbidden) : isForbidden(issue.issues as ParseResult.ParseIssue)
    case "Pointer":
    case "Refinement":
    case "Transformation":
      return isForbidden(issue.issue)
    default:
      return false
  }
}

/** Answer the model that the arguments of `call` are invalid. */
const invalidArguments = (ctx: TurnContext, call: FunctionCallPart, issue: ParseResult.ParseIssue): FunctionResponsePart => {
  const message = `Invalid arguments for tool "${call.name}": ${ParseResult.TreeFormatter.formatIssueSync(issue)}`
  publishCall(ctx, call, Event.ToolCallFailed, { kind: "invalid-arguments", error: message, reported: true })
  return errorResponse(call, message)
}

const interruptReason = (group: { readonly failed: boolean }) => group.failed ? "sibling-failed" as const : "run-interrupted" as const

/**
 * Run one tool call and publish exactly one terminal event for it. Arguments are decoded
 * synchronously when the schema allows it (as an effect otherwise); invalid ones go back to the
 * model as an error.
 */
const runCall = (
  ctx: TurnContext,
  group: { failed: boolean },
  call: FunctionCallPart
): Effect.Effect<FunctionResponsePart, CallFailure, any> => {
  publishCall(ctx, call, Event.ToolCallStarted, { args: call.args })
  const runnable = ctx.compiled.tools.get(call.name)
  if (runnable === undefined) {
    const message = `Unknown tool "${call.name}". Available tools: ${ctx.compiled.available}.`
    publishCall(ctx, call, Event.ToolCallFailed, { kind: "unknown-tool", error: message, reported: true })
    return Effect.succeed(errorResponse(call, message))
  }
  const decoded = runnable.decode(call.args)
  if (decoded._tag === "Right") return invoke(ctx, group, call, runnable, decoded.right)
  if (!isForbidden(decoded.left)) return Effect.succeed(invalidArguments(ctx, call, decoded.left))
  return Effect.flatMap(
    Effect.onInterrupt(
      Effect.either(runnable.tool.decodeArgs(call.args)),
      () => Effect.sync(() => publishCall(ctx, call, Event.ToolCallInterrupted, { reason: interruptReason(group) }))
    ),
    (params) =>
      params._tag === "Left"
        ? Effect.succeed(invalidArguments(ctx, call, params.left.issue))
        : invoke(ctx, group, call, runnable, params.right)
  )
}

/**
 * Run the handler of a call with decoded arguments, then publish its terminal event.
 *
 * Everything after the handler runs uninterruptibly, so an outcome is always published. The
 * handler's own outcome is read by `Effect.exit` inside the interruptible region: when the
 * fiber itself is interrupted (the run, or a failing sibling) that step is skipped and the call
 * ends as interrupted. A scoped tool's `Scope` goes in the fiber's context for the handler and
 * is closed, whatever the outcome, before the terminal event.
 */
const invoke = (
  ctx: TurnContext,
  group: { failed: boolean },
  call: FunctionCallPart,
  runnable: Runnable,
  params: unknown
): Effect.Effect<FunctionResponsePart, CallFailure, any> => {
  const tool = runnable.tool
  const failFast = (tool.onFailure ?? ctx.policy.toolFailure) === "fail-fast"

  /** The handler and its resources are done: answer the model, or fail the group under `fail-fast`. */
  const ended = (exit: Exit.Exit<unknown, unknown>): Effect.Effect<FunctionResponsePart, CallFailure> => {
    if (Exit.isSuccess(exit)) {
      publishCall(ctx, call, Event.ToolCallSucceeded, { output: exit.value })
      return Effect.succeed<FunctionResponsePart>({
        _tag: "FunctionResponse",
        id: call.id,
        name: call.name,
        output: capOutput(exit.value, ctx.policy.maxToolOutputChars),
        isError: false
      })
    }
    const failure = Cause.failureOption(exit.cause)
    let message: string
    if (failure._tag === "Some" && failure.value instanceof ToolTimeout) {
      message = failure.value.message
      publishCall(ctx, call, Event.ToolCallInterrupted, { reason: "timeout" })
    } else {
      const kind = failure._tag === "Some"
        ? failure.value instanceof ToolResultInvalid ? "invalid-result" : "failure"
        : Cause.isDie(exit.cause)
        ? "defect"
        : "failure"
      message = kind === "defect"
        ? crashMessage(tool, exit.cause)
        : failure._tag === "Some"
        ? describeError(failure.value as unknown)
        : `Tool "${call.name}" was interrupted`
      publishCall(ctx, call, Event.ToolCallFailed, { kind, error: message, reported: !failFast })
    }
    if (failFast) {
      group.failed = true
      return Effect.fail(new CallFailure(call.name, call.id, exit.cause))
    }
    return Effect.succeed(errorResponse(call, message))
  }

  /** The fiber was interrupted: the call ends as interrupted and the interruption goes on. */
  const interrupted = (cause: Cause.Cause<unknown>): Effect.Effect<never> => {
    publishCall(ctx, call, Event.ToolCallInterrupted, { reason: interruptReason(group) })
    return Effect.failCause(cause as Cause.Cause<never>)
  }

  return Effect.uninterruptibleMask((restore) => {
    /** Encode a result for the model; a schema with asynchronous transformations is run interruptibly. */
    const encoded = (exit: Exit.Exit<unknown, unknown>): Effect.Effect<FunctionResponsePart, CallFailure> => {
      if (Exit.isFailure(exit)) return ended(exit)
      const result = runnable.encode(exit.value)
      if (result._tag === "Right") return ended(Exit.succeed(result.right))
      if (!isForbidden(result.left)) return ended(Exit.fail(runnable.invalidResult(result.left, call.id)))
      return Effect.matchCauseEffect(
        restore(Effect.exit(Effect.mapError(tool.encodeResult(exit.value), (error) => runnable.invalidResult(error.issue, call.id)))),
        { onSuccess: ended, onFailure: interrupted }
      )
    }
    const body = restore(Effect.exit(executeTool(tool, params, call.id)))
    if (!tool.scoped || tool.retry !== undefined) return Effect.matchCauseEffect(body, { onSuccess: encoded, onFailure: interrupted })
    // a retried handler is scoped per attempt instead (see `executeTool`)
    return Effect.flatMap(Scope.make(), (scope) =>
      Effect.withFiberRuntime((fiber) => {
        const context = fiber.currentContext
        const release = <A>(exit: Exit.Exit<unknown, unknown>, then: (exit: Exit.Exit<unknown, unknown>) => Effect.Effect<A, CallFailure>) =>
          Effect.zipRight(
            FiberRef.set(FiberRef.currentContext, context),
            Effect.flatMap(Effect.exit(Scope.close(scope, exit)), (closed) =>
              then(
                Exit.isSuccess(closed)
                  ? exit
                  : Exit.failCause(Exit.isSuccess(exit) ? closed.cause : Cause.sequential(exit.cause, closed.cause))
              ))
          )
        return Effect.zipRight(
          FiberRef.set(FiberRef.currentContext, Context.add(context, Scope.Scope, scope)),
          Effect.matchCauseEffect(body, {
            onSuccess: (exit) => release(exit, encoded),
            onFailure: (cause) => release(Exit.failCause(cause), (exit) => interrupted(Exit.isSuccess(exit) ? cause : exit.cause))
          })
        )
      }))
  })
}

/** The message of a call whose handler died; a handler that needs an undeclared `Scope` is told how to declare it. */
const crashMessage = (tool: Tool.Any, cause: Cause.Cause<unknown>): string => {
  const error = describeError(Cause.squash(cause))
  return !tool.scoped && error.includes("Service not found: effect/Scope")
    ? `Tool "${tool.name}" crashed: its handler acquires scoped resources but the tool has no scope; make it with \`scoped: true\` (${error})`
    : `Tool "${tool.name}" crashed: ${error}`
}

/** The handler with its retry and timeout. */
const executeTool = (tool: Tool.Any, params: unknown, callId: string): Effect.Effect<unknown, unknown, any> => {
  let effect: Effect.Effect<unknown, unknown, any> = tool.handler(params)
  if (tool.retry !== undefined) effect = Effect.retry(tool.scoped ? Effect.scoped(effect) : effect, tool.retry)
  const timeout = tool.timeout
  if (timeout !== undefined) {
    effect = timeoutFail(effect, timeout, () => new ToolTimeout({ tool: tool.name, callId, after: timeout }))
  }
  return effect
}
