import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as Random from "effect/Random"
import type * as Stream from "effect/Stream"
import type * as Agent from "../Agent.js"
import {
  type AgentError,
  BudgetExceeded,
  describeError,
  HandoffLimitExceeded,
  MalformedResponse,
  MaxTurnsExceeded,
  OutputInvalid,
  RunTimeout
} from "../AgentError.js"
import * as Event from "../AgentEvent.js"
import { type Content, type FunctionCallPart, functionCallsOf, textOf, user } from "../Content.js"
import { addUsage, emptyUsage, Model, type ModelRequest, type ModelResponse } from "../Model.js"
import { currentContents } from "../Tracing.js"
import { compile, type Compiled, type Output } from "./compile.js"
import {
  EventLog,
  eventStream,
  fieldsFrom,
  oneField,
  publish,
  publishFrom,
  publishValue,
  type RunState,
  type Sink,
  type TurnContext
} from "./events.js"
import { guardInput, guardOutput } from "./guardrail.js"
import { timeoutFail, tracing } from "./fiber.js"
import { modelCall, modelCallThen } from "./modelCall.js"
import { agentSpan } from "./tracing.js"
import { toolGroup } from "./toolGroup.js"
import { compiledNow } from "./toolsets.js"

/**
 * The run loop: the entry points (`Agent.run`, `Agent.stream`, nested and orchestrated runs)
 * and the turn loop. A turn is one model call with its retries (`modelCall.ts`), then the
 * function calls of its answer as one tool-call group (`toolGroup.ts`, each call in
 * `toolCall.ts`), then the next turn with their responses; a handoff continues the same history
 * with the target agent. Events are published as each step happens (`events.ts`).
 *
 * It is written for a short hot path: a turn with an in-process model answer and one pure tool
 * call evaluates a few dozen Effect operations. Synchronous work (events, history, argument
 * decoding, result encoding) is plain code inside the continuations; each function that
 * publishes events or starts a fiber is called from a continuation, that is when its step runs,
 * never when an effect is built for later.
 *
 * @internal
 */

export { markNested } from "./compile.js"

/** The run a fiber belongs to, so `Agent.asTool` can publish a nested run's events to its caller's sink. */
const currentRun = FiberRef.unsafeMake<{ readonly sink: Sink; readonly path: string } | undefined>(undefined)

const normalize = (input: Agent.Input): { readonly prompt: string; readonly history: Array<Content> } => {
  if (typeof input === "string") return { prompt: input, history: [{ role: "user", parts: [{ _tag: "Text", text: input }] }] }
  const history = input.history ? input.history.slice() : []
  history.push({ role: "user", parts: [{ _tag: "Text", text: input.prompt }] })
  return { prompt: input.prompt, history }
}

const hexDigits = "0123456789abcdef"

/** Eight hex digits, by hand (`Number.prototype.toString(16)` and padding cost ≈ 3× more). */
const runIdOf = (n: number) => {
  let id = ""
  for (let shift = 28; shift >= 0; shift -= 4) id += hexDigits[(n >>> shift) & 15]
  return id
}

/**
 * Run a conversation, publishing to `sink`: `RunStarted`, the turns, then `RunCompleted` or
 * `RunFailed` (none when the run was only interrupted: its caller is gone). `path` is the root
 * agent path (`caller/sub` when nested). Without a sink, the events are recorded in a log of the
 * run's own and built into `RunResult.events` when it ends; with one, `RunResult.events` is
 * `events`.
 */
const execute = <R>(
  agent: Agent.Agent<R, unknown>,
  input: Agent.Input,
  sink: Sink | undefined,
  path: string,
  events: ReadonlyArray<Event.AgentEvent>
): Effect.Effect<Agent.RunResult<unknown>, AgentError, Model | R> =>
  Effect.withFiberRuntime((fiber) => {
    const services = fiber.currentDefaultServices
    return Effect.flatMap(Context.get(services, Random.Random).nextInt, (n) => {
      const log = sink === undefined ? new EventLog() : undefined
      const clock = Context.get(services, Clock.Clock)
      const traced = tracing(fiber)
      const state: RunState = {
        runId: runIdOf(n),
        clock,
        sink: sink ?? { emit: unused, streaming: false, log },
        model: Context.unsafeGet(fiber.currentContext as Context.Context<Model>, Model),
        maxHandoffs: agent.policy.maxHandoffs,
        maxTokens: agent.policy.maxTokens,
        traced,
        contents: traced && fiber.getFiberRef(currentContents),
        startedAt: clock.unsafeCurrentTimeMillis(),
        handoffs: 0,
        turns: 0,
        usage: emptyUsage
      }
      const { history, prompt } = normalize(input)
      publishValue(state, runStarted, path, 0, prompt)
      let program = segment(state, agent, path, history)
      const runTimeout = agent.policy.runTimeout
      if (runTimeout !== undefined) {
        program = timeoutFail(program, runTimeout, () => new RunTimeout({ agent: path, after: runTimeout }))
      }
      const result = ended(program, outcome(state, path, history, log ?? events))
      // a span only when a tracer exports it: Effect's built-in tracer keeps spans nowhere
      return traced ? agentSpan(result, state, path) : result
    })
  })

/**
 * `program`, then `outcome` with its exit. The outcome is read uninterruptibly, so a run
 * interrupted while it fails keeps its failure. (Made here, out of `execute`, as `outcome` is: a
 * waiting conversation holds these functions and what they use, nothing else of `execute`'s.)
 */
const ended = <A, B>(
  program: Effect.Effect<A, AgentError, any>,
  outcome: {
    readonly onSuccess: (a: A) => Effect.Effect<B, AgentError, any>
    readonly onFailure: (cause: Cause.Cause<AgentError>) => Effect.Effect<B, AgentError, any>
  }
): Effect.Effect<B, AgentError, any> => Effect.uninterruptibleMask((restore) => Effect.matchCauseEffect(restore(program), outcome))

/** What ends a run: `RunCompleted` and its result, or `RunFailed` and its cause. */
const outcome = (state: RunState, path: string, history: Array<Content>, events: EventLog | ReadonlyArray<Event.AgentEvent>) => ({
  onSuccess: (answer: Answer): Effect.Effect<Agent.RunResult<unknown>> => {
    const usage = state.usage
    publish(
      state,
      Event.RunCompleted,
      path,
      state.turns,
      answer.json === undefined ? { text: answer.text, usage, history } : { text: answer.text, output: answer.json, usage, history }
    )
    return Effect.succeed({
      runId: state.runId,
      agent: answer.path,
      text: answer.text,
      output: answer.output,
      history,
      usage,
      turns: state.turns,
      events: events instanceof EventLog ? events.events() : events
    })
  },
  onFailure: (cause: Cause.Cause<AgentError>): Effect.Effect<never, AgentError> => {
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

/** The `emit` of a sink that emits nothing: its events are recorded in its log, or not built. */
const unused = (): void => {}

/** A sink for runs whose events nobody reads (`Agent.run` with `events: false`). */
const quiet: Sink = { emit: unused, streaming: false, quiet: true }

const noEvents: ReadonlyArray<Event.AgentEvent> = []

/** `Agent.run`: events are recorded as they happen and built when the run ends, or not built at all with `events: false`. */
export const run = <R, A>(
  agent: Agent.Agent<R, A>,
  input: Agent.Input,
  options?: Agent.RunOptions
): Effect.Effect<Agent.RunResult<A>, AgentError, Model | R> =>
  execute(agent, input, options?.events === false ? quiet : undefined, agent.name, noEvents) as Effect.Effect<
    Agent.RunResult<A>,
    AgentError,
    Model | R
  >

/** `Agent.stream`: events go out as they happen; closing the stream interrupts the run. */
export const stream = <R>(agent: Agent.Agent<R, unknown>, input: Agent.Input): Stream.Stream<Event.AgentEvent, AgentError, Model | R> =>
  eventStream((emit) => execute(agent, input, { emit, streaming: true }, agent.name, noEvents))

/** `Agent.asTool`: inside a run, the sub-agent's events go to the caller's sink under `caller/sub`. */
export const runNested = <R>(agent: Agent.Agent<R, unknown>, prompt: string): Effect.Effect<unknown, AgentError, Model | R> =>
  Effect.flatMap(FiberRef.get(currentRun), (parent) =>
    parent === undefined
      ? Effect.map(run(agent, prompt), (result) => result.output)
      : Effect.map(execute(agent, prompt, parent.sink, `${parent.path}/${agent.name}`, noEvents), (result) => result.output))

/**
 * `Orchestrate.*`: a run whose events carry the root path `path`. With `emit`, model calls
 * stream and each event is also handed to `emit` as it happens (several runs can share one
 * mailbox). The events are collected in `RunResult.events` either way.
 */
export const runAt = <R, A>(
  agent: Agent.Agent<R, A>,
  input: Agent.Input,
  path: string,
  emit?: (event: Event.AgentEvent) => void
): Effect.Effect<Agent.RunResult<A>, AgentError, Model | R> =>
  emit === undefined
    ? execute(agent, input, undefined, path, noEvents) as Effect.Effect<Agent.RunResult<A>, AgentError, Model | R>
    : Effect.suspend(() => {
      const events: Array<Event.AgentEvent> = []
      const sink: Sink = {
        emit: (event) => {
          events.push(event)
          emit(event)
        },
        streaming: true
      }
      return execute(agent, input, sink, path, events) as Effect.Effect<Agent.RunResult<A>, AgentError, Model | R>
    })

// -----------------------------------------------------------------------------
// turns
// -----------------------------------------------------------------------------

interface Answer {
  readonly text: string
  /** The text, or the value decoded with the answering agent's `output` Schema. */
  readonly output: unknown
  /** Structured output: the answer's JSON, before decoding. */
  readonly json?: unknown
  readonly path: string
}

const runStarted = oneField(Event.RunStarted, "input")

const modelResponded = fieldsFrom(Event.ModelResponded, (response: ModelResponse) => ({
  text: textOf(response.parts),
  functionCalls: functionCallsOf(response.parts).map((call) => call.name),
  usage: response.usage,
  finishReason: response.finishReason
}))

/** The own fields of an event that has none (`TurnStarted`). */
const noFields = {}

/** The turn loop of one agent; a handoff continues the same history in a nested segment. */
const segment = (state: RunState, agent: Agent.Any, path: string, history: Array<Content>): Effect.Effect<Answer, AgentError, any> => {
  const turns = new Segment(state, agent, path, history)
  const first = Effect.suspend(() => turns.nextTurn())
  return turns.compiled.nests || turns.withToolsets ? Effect.locally(first, currentRun, { sink: state.sink, path }) : first
}

/**
 * The turns of one agent over the run's history: one object (a conversation waiting on its model
 * holds it, not a closure per step and their scope).
 */
class Segment {
  readonly compiled: Compiled
  private turn = 0
  private outputRetries = 0
  /** Trips with feedback so far, per output guardrail. */
  private feedbacks: Map<string, number> | undefined = undefined

  constructor(
    private readonly state: RunState,
    private readonly agent: Agent.Any,
    private readonly path: string,
    private readonly history: Array<Content>
  ) {
    this.compiled = compile(agent)
  }

  get withToolsets(): boolean {
    return this.agent.toolsets.length > 0
  }

  private get policy(): Agent.Any["policy"] {
    return this.agent.policy
  }

  private get output(): Output | undefined {
    return this.compiled.output
  }

  /** A turn: announce it, call the model with the history so far, act on its answer. */
  nextTurn(): Effect.Effect<Answer, AgentError, any> {
    const { path, policy, state } = this
    if (this.turn >= policy.maxTurns) return Effect.fail(new MaxTurnsExceeded({ agent: path, maxTurns: policy.maxTurns }))
    const turn = ++this.turn
    state.turns++
    publish(state, Event.TurnStarted, path, turn, noFields)
    // an agent with toolsets reads their current tools at every turn
    return this.withToolsets ? Effect.flatMap(compiledNow(this.agent), (compiled) => this.callModel(compiled)) : this.callModel(this.compiled)
  }

  /** The turn's model call, with the tools of the turn. */
  private callModel(compiled: Compiled): Effect.Effect<Answer, AgentError, any> {
    const { history, output, path, state } = this
    const ctx: TurnContext = { state, compiled, policy: this.policy, path, turn: this.turn }
    const system = this.agent.instructions.length > 0 ? this.agent.instructions : undefined
    const request: ModelRequest = output === undefined
      ? { agent: path, system, contents: history.slice(), tools: compiled.declarations }
      : { agent: path, system, contents: history.slice(), tools: compiled.declarations, output: output.jsonSchema }
    // the run's first model call races the input guardrails, if any
    const guards = compiled.guards
    return guards !== undefined && state.turns === 1 && guards.input
      ? Effect.flatMap(guardInput(ctx, guards, history, () => modelCall(ctx, request)), (response) => this.respond(ctx, response))
      : modelCallThen(ctx, request, this)
  }

  /**
   * The model answered: count its usage, record it in the history, and either end with its text
   * (no function calls) or run its calls as a group, then the next turn (or the handoff).
   */
  respond(ctx: TurnContext, response: ModelResponse): Effect.Effect<Answer, AgentError, any> {
    const { history, path, state } = this
    state.usage = addUsage(state.usage, response.usage)
    const calls = functionCallsOf(response.parts)
    const text = textOf(response.parts)
    publishFrom(state, modelResponded, path, ctx.turn, response)
    if (response.parts.length === 0) {
      return Effect.fail(new MalformedResponse({ detail: `the model returned no parts (finish reason: ${response.finishReason})` }))
    }
    history.push({ role: "model", parts: response.parts })
    if (state.maxTokens !== undefined && state.usage.totalTokens > state.maxTokens) {
      return Effect.fail(new BudgetExceeded({ agent: path, used: state.usage.totalTokens, maxTokens: state.maxTokens }))
    }
    if (calls.length === 0) return this.output === undefined ? this.finish(ctx, { text, output: text, path }) : this.answer(ctx, text)
    return toolGroup(ctx, calls, (outcome) => {
      history.push({ role: "user", parts: outcome.responses })
      return outcome.handoff === undefined ? this.nextTurn() : handoff(ctx, outcome.handoff, history)
    })
  }

  /**
   * Structured output: the answer's JSON decoded with the agent's Schema; an answer that does not
   * decode goes back to the model with the error, at most `policy.maxOutputRetries` times.
   */
  private answer(ctx: TurnContext, text: string): Effect.Effect<Answer, AgentError, any> {
    const problem = decodeOutput(this.output!, text)
    if (problem.ok) return this.finish(ctx, { text, output: problem.value, json: problem.json, path: this.path })
    if (this.outputRetries >= this.policy.maxOutputRetries) {
      return Effect.fail(new OutputInvalid({ agent: this.path, retries: this.outputRetries, detail: problem.detail }))
    }
    this.outputRetries++
    this.history.push(user(
      `Your answer does not match the required output schema:\n${problem.detail}\n` +
        `Answer again with only a JSON value matching the schema.`
    ))
    return this.nextTurn()
  }

  /**
   * The final answer, once the agent's output guardrails pass it; a trip with feedback retries
   * left goes back to the model as a message (counted per guardrail in `feedbacks`).
   */
  private finish(ctx: TurnContext, done: Answer): Effect.Effect<Answer, AgentError, any> {
    const guards = ctx.compiled.guards
    if (guards === undefined || guards.output.length === 0) return Effect.succeed(done)
    const history = this.history
    const checked = { agent: this.path, text: done.text, output: done.output, history: history.slice() }
    return Effect.flatMap(guardOutput(ctx, guards, checked, this.feedbacks ??= new Map()), (feedback) => {
      if (feedback === undefined) return Effect.succeed(done)
      history.push(user(feedback))
      return this.nextTurn()
    })
  }
}

/** The target agent takes over the conversation (same history, same run) as a nested segment. */
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
  const next = segment(state, target, targetPath, history)
  return Effect.tap(
    // the target's own `invoke_agent` span, inside the caller's
    state.traced ? agentSpan(next, state, targetPath) : next,
    () => publish(state, Event.HandoffCompleted, path, turn, { target: targetPath })
  )
}

/** The answer's JSON (a fenced code block is unwrapped) decoded with the output Schema, or what is wrong with it. */
const decodeOutput = (
  output: Output,
  text: string
): { readonly ok: true; readonly value: unknown; readonly json: unknown } | { readonly ok: false; readonly detail: string } => {
  const fenced = /^\s*```(?:json)?\s*([\s\S]*?)\s*```\s*$/.exec(text)
  let json: unknown
  try {
    json = JSON.parse(fenced === null ? text : fenced[1]!)
  } catch {
    return { ok: false, detail: `the answer is not JSON: ${JSON.stringify(text.slice(0, 200))}` }
  }
  const decoded = output.decode(json)
  return decoded._tag === "Right" ? { ok: true, value: decoded.right, json } : { ok: false, detail: decoded.left }
}
