import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberRef from "effect/FiberRef"
import * as Mailbox from "effect/Mailbox"
import * as ParseResult from "effect/ParseResult"
import * as Random from "effect/Random"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as Intervals from "effect/ScheduleIntervals"
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
import { timeoutFail } from "./timeout.js"

/**
 * Build an event without running its Schema class constructor: the fields are ours and already
 * valid, and this is the hot path. The result is an ordinary instance of the event class.
 */
const event = <C extends { readonly prototype: object; readonly _tag: string; new(props: any, options?: any): any }>(
  Class: C,
  base: object,
  fields?: Partial<ConstructorParameters<C>[0]>
): InstanceType<C> => {
  const instance = Object.create(Class.prototype)
  Object.assign(instance, base, fields)
  instance._tag = Class._tag
  return instance
}

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

/** The run a fiber belongs to, so `Agent.asTool` can publish a nested run's events to its caller's sink. */
const currentRun = FiberRef.unsafeMake<{ readonly sink: Sink; readonly path: string } | undefined>(undefined)

/** Tools made by `Agent.asTool`: they read `currentRun`, which is only set for agents that have one. */
const nestedTools = new WeakSet<Tool.Any>()

/** Mark a tool as running a nested agent (`Agent.asTool`). */
export const markNested = <T extends Tool.Any>(tool: T): T => {
  nestedTools.add(tool)
  return tool
}

/** Per-agent derived data, built once per agent value and shared by all its conversations. */
interface Compiled {
  readonly tools: ReadonlyMap<string, Tool.Any>
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
  const tools = new Map<string, Tool.Any>()
  const declarations: Array<ToolDeclaration> = []
  for (const tool of agent.tools) {
    tools.set(tool.name, tool)
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

const runIdOf = (n: number) => (n >>> 0).toString(16).padStart(8, "0")

/** Run a conversation, publishing to `sink`. `path` is the root agent path (`caller/sub` when nested). */
const execute = <R>(
  agent: Agent.Agent<R>,
  input: Agent.Input,
  sink: Sink,
  path: string,
  events: ReadonlyArray<Event.AgentEvent>
): Effect.Effect<Agent.RunResult, AgentError, Model | R> =>
  Effect.flatMap(Model, (model) =>
    Effect.flatMap(Random.nextInt, (n) =>
      Effect.clockWith((clock) => {
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
        const base = (turn: number) => ({ runId: state.runId, agent: path, turn, timestamp: clock.unsafeCurrentTimeMillis() })
        sink.emit(event(Event.RunStarted, base(0), { input: prompt }))
        let program = segment(state, agent, path, history)
        const runTimeout = agent.policy.runTimeout
        if (runTimeout !== undefined) {
          program = Effect.timeoutFail(program, {
            duration: runTimeout,
            onTimeout: () => new RunTimeout({ agent: path, after: runTimeout })
          })
        }
        return program.pipe(
          Effect.map((answer): Agent.RunResult => {
            const usage = {
              inputTokens: state.inputTokens,
              outputTokens: state.outputTokens,
              totalTokens: state.totalTokens
            }
            sink.emit(event(Event.RunCompleted, base(state.turns), { text: answer.text, usage, history }))
            return {
              runId: state.runId,
              agent: answer.path,
              text: answer.text,
              history,
              usage,
              turns: state.turns,
              events
            }
          }),
          Effect.onError((cause) =>
            Effect.sync(() => {
              if (Cause.isInterruptedOnly(cause)) return
              const failure = Cause.failureOption(cause)
              const error = failure._tag === "Some" ? failure.value : Cause.squash(cause)
              sink.emit(
                event(Event.RunFailed, base(state.turns), {
                  error: failure._tag === "Some" ? failure.value._tag : "Defect",
                  message: describeError(error)
                })
              )
            })
          ),
          Effect.withSpan("Agent.run", { attributes: { agent: path, runId: state.runId }, captureStackTrace: false })
        )
      })
    )
  )

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

/** The turn loop of one agent; a handoff continues the same history in a nested segment. */
const segment = (state: RunState, agent: Agent.Any, path: string, history: Array<Content>): Effect.Effect<Answer, AgentError, any> => {
  const compiled = compile(agent)
  const policy = agent.policy
  const system = agent.instructions.length > 0 ? agent.instructions : undefined
  let turn = 0
  const emit = state.sink.emit
  const base = () => ({ runId: state.runId, agent: path, turn, timestamp: state.clock.unsafeCurrentTimeMillis() })

  const onResponse = (response: ModelResponse): Effect.Effect<Answer, AgentError, any> => {
    state.inputTokens += response.usage.inputTokens
    state.outputTokens += response.usage.outputTokens
    state.totalTokens += response.usage.totalTokens
    const calls = functionCallsOf(response.parts)
    const text = textOf(response.parts)
    emit(
      event(Event.ModelResponded, base(), {
        text,
        functionCalls: calls.map((call) => call.name),
        usage: response.usage,
        finishReason: response.finishReason
      })
    )
    if (response.parts.length === 0) {
      return Effect.fail(new MalformedResponse({ detail: `the model returned no parts (finish reason: ${response.finishReason})` }))
    }
    history.push({ role: "model", parts: response.parts })
    if (state.maxTokens !== undefined && state.totalTokens > state.maxTokens) {
      return Effect.fail(new BudgetExceeded({ agent: path, used: state.totalTokens, maxTokens: state.maxTokens }))
    }
    if (calls.length === 0) return Effect.succeed({ text, path })
    return Effect.flatMap(toolGroup({ state, compiled, policy, path, turn }, calls), (outcome) => {
      history.push({ role: "user", parts: outcome.responses })
      return outcome.handoff === undefined ? nextTurn : handoff(state, path, turn, outcome.handoff, history)
    })
  }

  const nextTurn: Effect.Effect<Answer, AgentError, any> = Effect.suspend(() => {
    if (turn >= policy.maxTurns) return Effect.fail(new MaxTurnsExceeded({ agent: path, maxTurns: policy.maxTurns }))
    turn++
    state.turns++
    emit(event(Event.TurnStarted, base()))
    const request: ModelRequest = { agent: path, system, contents: history.slice(), tools: compiled.declarations }
    return Effect.flatMap(callModel(state, policy, path, turn, request), onResponse)
  })

  return compiled.nests ? Effect.locally(nextTurn, currentRun, { sink: state.sink, path }) : nextTurn
}

const handoff = (
  state: RunState,
  path: string,
  turn: number,
  transfer: { readonly call: FunctionCallPart; readonly target: Agent.Any },
  history: Array<Content>
): Effect.Effect<Answer, AgentError, any> => {
  const target = transfer.target
  state.handoffs++
  if (state.handoffs > state.maxHandoffs) {
    return Effect.fail(new HandoffLimitExceeded({ agent: path, target: target.name, maxHandoffs: state.maxHandoffs }))
  }
  const targetPath = `${path}/${target.name}`
  const base = () => ({ runId: state.runId, agent: path, turn, timestamp: state.clock.unsafeCurrentTimeMillis() })
  state.sink.emit(event(Event.HandoffStarted, base(), { callId: transfer.call.id, target: targetPath }))
  return Effect.tap(
    segment(state, target, targetPath, history),
    () => state.sink.emit(event(Event.HandoffCompleted, base(), { target: targetPath }))
  )
}

// -----------------------------------------------------------------------------
// model calls: timeout per attempt, retries on retryable errors only
// -----------------------------------------------------------------------------

const callModel = (
  state: RunState,
  policy: Policy.Policy,
  path: string,
  turn: number,
  request: ModelRequest
): Effect.Effect<ModelResponse, ModelError> => {
  const attempt = (n: number): Effect.Effect<ModelResponse, ModelError> => {
    state.sink.emit(
      event(Event.ModelRequested, { runId: state.runId, agent: path, turn, timestamp: state.clock.unsafeCurrentTimeMillis(), attempt: n })
    )
    const call = state.sink.streaming ? streamCall(state, path, turn, request) : state.model.generate(request)
    return timeoutFail(call, policy.modelTimeout, () => new ModelTimeout({ after: policy.modelTimeout }))
  }
  return Effect.catchAll(
    Effect.suspend(() => attempt(1)),
    (error) => error.retryable ? retry(state, policy, path, turn, attempt, error) : Effect.fail(error)
  )
}

/** Drive `policy.modelRetry` by hand so each retry is announced with its delay, and a server's retry delay wins. */
const retry = (
  state: RunState,
  policy: Policy.Policy,
  path: string,
  turn: number,
  attempt: (n: number) => Effect.Effect<ModelResponse, ModelError>,
  firstError: ModelError
): Effect.Effect<ModelResponse, ModelError> =>
  Effect.gen(function*() {
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
      state.sink.emit(
        event(Event.RetryScheduled, {
          runId: state.runId,
          agent: path,
          turn,
          timestamp: now,
          attempt: n,
          delayMillis: delay,
          error: error._tag,
          message: error.message
        })
      )
      yield* Effect.sleep(Duration.millis(delay))
      const exit = yield* Effect.exit(attempt(n))
      if (Exit.isSuccess(exit)) return exit.value
      const failure = Cause.failureOption(exit.cause)
      if (failure._tag === "None" || !failure.value.retryable) return yield* Effect.failCause(exit.cause)
      error = failure.value
    }
  })

/** One streamed attempt: text deltas are published as they arrive; the response is committed only when the stream ends. */
const streamCall = (state: RunState, path: string, turn: number, request: ModelRequest): Effect.Effect<ModelResponse, ModelError> =>
  Effect.suspend(() => {
    const chunks: Array<ModelChunk> = []
    return Effect.as(
      Stream.runForEach(state.model.stream(request), (chunk) =>
        Effect.sync(() => {
          chunks.push(chunk)
          for (const part of chunk.parts) {
            if (part._tag === "Text" && part.text.length > 0) {
              state.sink.emit(
                event(Event.TextDelta, { runId: state.runId, agent: path, turn, timestamp: state.clock.unsafeCurrentTimeMillis(), text: part.text })
              )
            }
          }
        })),
      undefined
    ).pipe(Effect.map(() => collectChunks(chunks)))
  })

// -----------------------------------------------------------------------------
// tool-call groups: TaskGroup semantics
// -----------------------------------------------------------------------------

interface TurnContext {
  readonly state: RunState
  readonly compiled: Compiled
  readonly policy: Policy.Policy
  readonly path: string
  readonly turn: number
}

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

/**
 * Run the function calls of one model response. One call runs in the turn's fiber; several run
 * in child fibers, at most `toolConcurrency` at once. Under `fail-fast` the first failure
 * interrupts every sibling (their finalizers run) and fails the turn with `ToolCallFailed`.
 * Responses come back in call order.
 */
const toolGroup = (ctx: TurnContext, calls: ReadonlyArray<FunctionCallPart>): Effect.Effect<GroupOutcome, ToolCallFailed, any> => {
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
    return Effect.mapBoth(one(calls[0]), {
      onFailure: (failure) => toToolCallFailed([failure]),
      onSuccess: (response): GroupOutcome => ({ responses: [response], handoff: transfer })
    })
  }
  return Effect.forEach(calls, one, { concurrency: ctx.policy.toolConcurrency }).pipe(
    Effect.catchAllCause((cause) => {
      const failures = Array.from(Cause.failures(cause))
      return failures.length === 0 ? Effect.failCause(cause as Cause.Cause<never>) : Effect.fail(toToolCallFailed(failures))
    }),
    Effect.map((responses): GroupOutcome => ({ responses, handoff: transfer }))
  )
}

/** Run one tool call and publish exactly one terminal event for it. */
const runCall = (
  ctx: TurnContext,
  group: { failed: boolean },
  call: FunctionCallPart
): Effect.Effect<FunctionResponsePart, CallFailure, any> =>
  Effect.suspend(() => {
    const { path, state, turn } = ctx
    const emit = state.sink.emit
    const base = () => ({
      runId: state.runId,
      agent: path,
      turn,
      timestamp: state.clock.unsafeCurrentTimeMillis(),
      callId: call.id,
      tool: call.name
    })
    emit(event(Event.ToolCallStarted, base(), { args: call.args }))
    const tool = ctx.compiled.tools.get(call.name)
    if (tool === undefined) {
      const message = `Unknown tool "${call.name}". Available tools: ${ctx.compiled.available}.`
      emit(event(Event.ToolCallFailed, base(), { kind: "unknown-tool", error: message, reported: true }))
      return Effect.succeed(errorResponse(call, message))
    }
    const failFast = (tool.onFailure ?? ctx.policy.toolFailure) === "fail-fast"
    let open = true
    const close = (event: Event.ToolCallTerminal) => {
      open = false
      emit(event)
    }
    return tool.decodeArgs(call.args).pipe(
      Effect.matchEffect({
        onFailure: (error) => {
          const message = `Invalid arguments for tool "${call.name}": ${ParseResult.TreeFormatter.formatErrorSync(error)}`
          close(event(Event.ToolCallFailed, base(), { kind: "invalid-arguments", error: message, reported: true }))
          return Effect.succeed(errorResponse(call, message))
        },
        onSuccess: (params) =>
          Effect.flatMap(Effect.exit(executeTool(tool, params, call.id)), (exit) => {
            if (Exit.isSuccess(exit)) {
              close(event(Event.ToolCallSucceeded, base(), { output: exit.value }))
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
              close(event(Event.ToolCallInterrupted, base(), { reason: "timeout" }))
            } else {
              const kind = failure._tag === "Some"
                ? failure.value instanceof ToolResultInvalid ? "invalid-result" : "failure"
                : Cause.isDie(exit.cause)
                ? "defect"
                : "failure"
              message = kind === "defect"
                ? `Tool "${call.name}" crashed: ${describeError(Cause.squash(exit.cause))}`
                : failure._tag === "Some"
                ? describeError(failure.value as unknown)
                : `Tool "${call.name}" was interrupted`
              close(event(Event.ToolCallFailed, base(), { kind, error: message, reported: !failFast }))
            }
            if (failFast) {
              group.failed = true
              return Effect.fail(new CallFailure(call.name, call.id, exit.cause))
            }
            return Effect.succeed(errorResponse(call, message))
          })
      }),
      Effect.onInterrupt(() =>
        Effect.sync(() => {
          if (open) close(event(Event.ToolCallInterrupted, base(), { reason: group.failed ? "sibling-failed" : "run-interrupted" }))
        })
      )
    )
  })

/** The handler with its scope, retry, timeout and result encoding. */
const executeTool = (tool: Tool.Any, params: unknown, callId: string): Effect.Effect<unknown, unknown, any> => {
  let effect: Effect.Effect<unknown, unknown, any> = tool.scoped ? Effect.scoped(tool.handler(params)) : tool.handler(params)
  if (tool.retry !== undefined) effect = Effect.retry(effect, tool.retry)
  const timeout = tool.timeout
  if (timeout !== undefined) {
    effect = timeoutFail(effect, timeout, () => new ToolTimeout({ tool: tool.name, callId, after: timeout }))
  }
  return Effect.flatMap(effect, (value) =>
    Effect.mapError(
      tool.encodeResult(value),
      (error) => new ToolResultInvalid({ tool: tool.name, callId, detail: ParseResult.TreeFormatter.formatErrorSync(error) })
    ))
}
