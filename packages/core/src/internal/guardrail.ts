import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { pipeArguments } from "effect/Pipeable"
import type * as Agent from "../Agent.js"
import { GuardrailFailed, GuardrailTripped } from "../AgentError.js"
import * as Event from "../AgentEvent.js"
import { type Content, type FunctionCallPart, textOf } from "../Content.js"
import type * as Guardrail from "../Guardrail.js"
import type * as Tool from "../Tool.js"
import { describeError } from "./cause.js"
import { publish, type TurnContext } from "./events.js"
import { timeoutFail } from "./fiber.js"
import * as validate from "./validate.js"

/**
 * Guardrails: how they are made and checked, and how one stage of them runs beside the work it
 * guards (see `Guardrail.ts` for the rules a user reads).
 *
 * The guardrails of a stage run concurrently (`Effect.forEach`, so the first trip interrupts the
 * others and every child is awaited); each publishes `GuardrailStarted` then `GuardrailPassed`
 * or `GuardrailTripped`, is bounded by `policy.guardrailTimeout` and is a span when the run is
 * traced. An agent without guardrails compiles to `undefined` and the run loop never comes here.
 *
 * @internal
 */

export const TypeId: unique symbol = Symbol.for("@effect-agents/core/Guardrail")

export const pass: Guardrail.Pass = { _tag: "Pass" }

const Proto = {
  [TypeId]: TypeId,
  pipe() {
    return pipeArguments(this, arguments)
  }
}

const isFunction = (u: unknown): u is (...args: Array<any>) => any => typeof u === "function"

/** Make a guardrail of `stage`, its options checked (`IllegalArgumentException` naming it). */
export const make = (stage: Guardrail.Stage, name: string, options: Record<string, unknown>): Guardrail.Any => {
  if (typeof name !== "string" || name.trim().length === 0) {
    throw validate.invalid(`${stage} guardrail`, `name must be a non-empty string, got ${validate.show(name)}`)
  }
  const subject = `${stage} guardrail ${validate.show(name)}`
  const onTimeout = options["onTimeout"] ?? "trip"
  validate.oneOf(subject, "onTimeout", onTimeout, ["trip", "pass"])
  const fields: Record<string, unknown> = { name, stage, onTimeout }
  const fn = (field: string, required: boolean) => {
    const value = options[field]
    if (value === undefined && !required) return undefined
    if (!isFunction(value)) throw validate.invalid(subject, `${field} must be a function, got ${validate.show(value)}`)
    return value
  }
  switch (stage) {
    case "input": {
      const mode = options["mode"] ?? "concurrent"
      validate.oneOf(subject, "mode", mode, ["concurrent", "before"])
      fields["mode"] = mode
      fields["check"] = fn("check", true)
      break
    }
    case "output": {
      const feedback = options["feedback"] as { readonly maxRetries?: unknown } | undefined
      if (feedback !== undefined) {
        const n = typeof feedback === "object" && feedback !== null ? feedback.maxRetries : undefined
        if (!(Number.isInteger(n) && (n as number) >= 0)) {
          throw validate.invalid(subject, `feedback.maxRetries must be an integer >= 0, got ${validate.show(n)}`)
        }
        fields["feedback"] = { maxRetries: n }
      } else {
        fields["feedback"] = undefined
      }
      fields["check"] = fn("check", true)
      fields["watch"] = fn("watch", false)
      break
    }
    case "tool": {
      fields["before"] = fn("before", false)
      fields["after"] = fn("after", false)
      if (fields["before"] === undefined && fields["after"] === undefined) {
        throw validate.invalid(subject, "give it a before or an after check (or both)")
      }
      break
    }
  }
  return Object.assign(Object.create(Proto), fields)
}

// -----------------------------------------------------------------------------
// per agent
// -----------------------------------------------------------------------------

/** The tool guardrails of one tool of an agent: the tool's own, then the agent's. */
export interface ToolGuards {
  readonly before: ReadonlyArray<Guardrail.Tool<any, any, any>>
  readonly after: ReadonlyArray<Guardrail.Tool<any, any, any>>
}

/** An agent's guardrails, sorted by where the run loop needs them; built once per agent. */
export interface Guards {
  /** Whether it has input guardrails. */
  readonly input: boolean
  readonly inputBefore: ReadonlyArray<Guardrail.Input<any>>
  readonly inputConcurrent: ReadonlyArray<Guardrail.Input<any>>
  readonly output: ReadonlyArray<Guardrail.Output<any>>
  /** The output guardrails that watch streamed text. */
  readonly watch: ReadonlyArray<Guardrail.Output<any>>
  /** Per tool name, for tools that have any. */
  readonly tools: ReadonlyMap<string, ToolGuards>
}

/** The guardrails of an agent as the run loop uses them, `undefined` when it has none (the hot path). */
export const guardsOf = (agent: Agent.Any): Guards | undefined => {
  const { input, output, tools: agentTools } = agent.guardrails
  const tools = new Map<string, ToolGuards>()
  for (const tool of agent.tools) {
    const own = tool.guardrails
    const all = own.length === 0 ? agentTools : agentTools.length === 0 ? own : [...own, ...agentTools]
    if (all.length > 0) {
      tools.set(tool.name, { before: all.filter((g) => g.before !== undefined), after: all.filter((g) => g.after !== undefined) })
    }
  }
  if (input.length === 0 && output.length === 0 && tools.size === 0) return undefined
  return {
    input: input.length > 0,
    inputBefore: input.filter((g) => g.mode === "before"),
    inputConcurrent: input.filter((g) => g.mode === "concurrent"),
    output,
    watch: output.filter((g) => g.watch !== undefined),
    tools
  }
}

/**
 * An agent's guardrails checked for `Agent.make`: each list holds guardrails of its stage, and no
 * two guardrails the agent runs share a name (a tool's own ones included), so events and errors
 * name one guardrail.
 */
export const checked = (
  subject: string,
  guardrails: Guardrail.Guardrails | undefined,
  tools: ReadonlyArray<Tool.Any>
): Agent.Any["guardrails"] => {
  if (guardrails === undefined) return none
  if (typeof guardrails !== "object" || guardrails === null) {
    throw validate.invalid(subject, `guardrails must be an object { input, output, tools }, got ${validate.show(guardrails)}`)
  }
  const names = new Set<string>()
  const result = {
    input: listOf(subject, "guardrails.input", guardrails.input, "input", names),
    output: listOf(subject, "guardrails.output", guardrails.output, "output", names),
    tools: listOf(subject, "guardrails.tools", guardrails.tools, "tool", names)
  }
  for (const tool of tools) {
    for (const g of tool.guardrails) {
      if (names.has(g.name)) {
        throw validate.invalid(subject, `the tool "${tool.name}" has a guardrail named "${g.name}" like one of the agent's; rename one`)
      }
    }
  }
  return result
}

const none: Agent.Any["guardrails"] = { input: [], output: [], tools: [] }

const isGuardrailOf = <S extends Guardrail.Stage>(u: unknown, stage: S): u is Extract<Guardrail.Any, { readonly stage: S }> =>
  typeof u === "object" && u !== null && TypeId in u && (u as unknown as Guardrail.Any).stage === stage

/** A tool's own guardrails checked for `Tool.make`: tool guardrails with distinct names. */
export const checkedForTool = (subject: string, guardrails: unknown): ReadonlyArray<Guardrail.Tool<any, any, any>> =>
  listOf(subject, "guardrails", guardrails, "tool", new Set())

/**
 * `value` (at `label` in the options) checked to be an array of `stage` guardrails whose names
 * are not in `names` yet (each is added); none when it is `undefined`.
 */
const listOf = <S extends Guardrail.Stage>(
  subject: string,
  label: string,
  value: unknown,
  stage: S,
  names: Set<string>
): Array<Extract<Guardrail.Any, { readonly stage: S }>> => {
  if (value === undefined) return []
  if (!Array.isArray(value)) throw validate.invalid(subject, `${label} must be an array, got ${validate.show(value)}`)
  value.forEach((g: unknown, i) => {
    if (!isGuardrailOf(g, stage)) {
      throw validate.invalid(subject, `${label}[${i}] is not a ${stage} guardrail (make one with Guardrail.${stage}), got ${validate.show(g)}`)
    }
    if (names.has(g.name)) throw validate.invalid(subject, `two guardrails are named "${g.name}"; give each a distinct name`)
    names.add(g.name)
  })
  return value
}

// -----------------------------------------------------------------------------
// checking
// -----------------------------------------------------------------------------

/** A guardrail that did not let the work go on, and its verdict. */
export class Stop<G extends Guardrail.Any = Guardrail.Any> {
  constructor(readonly guardrail: G, readonly verdict: Guardrail.Trip | Guardrail.Reject) {}
  get reason(): string {
    return this.verdict._tag === "Reject" ? this.verdict.reason : describeError(this.verdict.info)
  }
  /** The run's error for a trip. */
  tripped(): GuardrailTripped {
    return new GuardrailTripped({
      guardrail: this.guardrail.name,
      stage: this.guardrail.stage,
      info: this.verdict._tag === "Reject" ? this.verdict.reason : this.verdict.info
    })
  }
}

type Action = "fail" | "reject" | "feedback"

/** How one stage is checked: its verdicts, events and spans. */
interface Options<G extends Guardrail.Any> {
  readonly stage: Guardrail.Stage
  /** The tool call a tool guardrail checks. */
  readonly call?: FunctionCallPart | undefined
  /** What the run does when `guardrail` stops the work (published with `GuardrailTripped`). */
  readonly action?: ((guardrail: G, verdict: Guardrail.Trip | Guardrail.Reject) => Action) | undefined
  /** Only trips are published, and no span is opened (a `watch` on every streamed delta). */
  readonly quiet?: boolean | undefined
}

const timedOut = { _tag: "GuardrailTimedOut" } as const

/**
 * Run `guardrails` concurrently, `run` giving the check of each: `undefined` when all passed, or
 * the first that stopped the work (the others interrupted at that instant). A check that fails
 * instead of deciding is `GuardrailFailed`; a check that returns no verdict is a defect naming it.
 */
export const check = <G extends Guardrail.Any>(
  ctx: TurnContext,
  guardrails: ReadonlyArray<G>,
  run: (guardrail: G) => Effect.Effect<unknown, unknown, any>,
  options: Options<G>
): Effect.Effect<Stop<G> | undefined, GuardrailFailed, any> => {
  const spans = ctx.state.traced && options.quiet !== true
  const one = (guardrail: G) => {
    const checked = checkOne(ctx, guardrail, run, options)
    return spans ? traced(ctx, guardrail, options, checked) : checked
  }
  const all = guardrails.length === 1
    ? one(guardrails[0]!)
    : Effect.forEach(guardrails, one, { concurrency: "unbounded", discard: true })
  return Effect.catchAll(
    Effect.as(all, undefined),
    (error) => error instanceof Stop ? Effect.succeed(error as Stop<G>) : Effect.fail(error as GuardrailFailed)
  )
}

const checkOne = <G extends Guardrail.Any>(
  ctx: TurnContext,
  guardrail: G,
  run: (guardrail: G) => Effect.Effect<unknown, unknown, any>,
  options: Options<G>
): Effect.Effect<void, Stop<G> | GuardrailFailed, any> =>
  Effect.suspend(() => {
    const { stage } = options
    const started = ctx.state.clock.unsafeCurrentTimeMillis()
    if (options.quiet !== true) publishGuardrail(ctx, Event.GuardrailStarted, guardrail, options.call, {})
    // a check that throws dies here, as the fiber reports any throw in `Effect.suspend`
    let effect = run(guardrail)
    if (!Effect.isEffect(effect)) {
      return Effect.die(noVerdict(guardrail, `${validate.show(effect)} instead of an Effect`))
    }
    const after = ctx.policy.guardrailTimeout
    if (after !== undefined) effect = timeoutFail(effect, after, () => timedOut)
    const decided = (verdict: Guardrail.ToolVerdict): Effect.Effect<void, Stop<G>> => {
      const durationMillis = ctx.state.clock.unsafeCurrentTimeMillis() - started
      if (verdict._tag === "Pass") {
        if (options.quiet !== true) publishGuardrail(ctx, Event.GuardrailPassed, guardrail, options.call, { durationMillis })
        return Effect.void
      }
      const stop = new Stop(guardrail, verdict)
      const action = options.action?.(guardrail, verdict) ?? (verdict._tag === "Reject" ? "reject" : "fail")
      publishGuardrail(ctx, Event.GuardrailTripped, guardrail, options.call, { durationMillis, reason: stop.reason, action })
      return Effect.fail(stop)
    }
    return Effect.matchCauseEffect(effect, {
      onSuccess: (value): Effect.Effect<void, Stop<G> | GuardrailFailed> =>
        isVerdict(value, stage)
          ? decided(value)
          : Effect.die(noVerdict(
            guardrail,
            `${validate.show(value)}, which is neither Guardrail.pass nor Guardrail.trip(info)${
              stage === "tool" ? " nor Guardrail.reject(reason)" : ""
            }`
          )),
      onFailure: (cause): Effect.Effect<void, Stop<G> | GuardrailFailed> => {
        if (Cause.isFailType(cause) && cause.error === timedOut) {
          return decided(
            guardrail.onTimeout === "pass"
              ? pass
              : { _tag: "Trip", info: `no verdict within ${Duration.format(after!)} (policy.guardrailTimeout)` }
          )
        }
        // interrupted, or died: not a failure of the guardrail's own
        if (Cause.failureOption(cause)._tag === "None") return Effect.failCause(cause as Cause.Cause<never>)
        return Effect.fail(new GuardrailFailed({ guardrail: guardrail.name, stage, cause }))
      }
    })
  })

const isVerdict = (u: unknown, stage: Guardrail.Stage): u is Guardrail.ToolVerdict => {
  if (typeof u !== "object" || u === null) return false
  switch ((u as { _tag?: unknown })._tag) {
    case "Pass":
    case "Trip":
      return true
    case "Reject":
      return stage === "tool" && typeof (u as Guardrail.Reject).reason === "string"
    default:
      return false
  }
}

const noVerdict = (guardrail: Guardrail.Any, what: string) =>
  new Cause.RuntimeException(`The ${guardrail.stage} guardrail "${guardrail.name}" returned ${what}; return Guardrail.pass or Guardrail.trip(info)`)

const publishGuardrail = <C extends typeof Event.GuardrailStarted | typeof Event.GuardrailPassed | typeof Event.GuardrailTripped>(
  ctx: TurnContext,
  Class: C,
  guardrail: Guardrail.Any,
  call: FunctionCallPart | undefined,
  fields: Omit<ConstructorParameters<C>[0], "runId" | "agent" | "turn" | "timestamp" | "guardrail" | "stage" | "callId" | "tool">
): void => {
  if (ctx.state.sink.quiet === true) return
  const own: Record<string, unknown> = { guardrail: guardrail.name, stage: guardrail.stage, ...fields }
  if (call !== undefined) {
    own["callId"] = call.id
    own["tool"] = call.name
  }
  publish(ctx.state, Class, ctx.path, ctx.turn, own as any)
}

/** The check as a `guardrail {name}` span, with the agent, conversation, stage, tool call and verdict. */
const traced = <A, E, R>(
  ctx: TurnContext,
  guardrail: Guardrail.Any,
  options: Options<any>,
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> => {
  const attributes: Record<string, unknown> = {
    "gen_ai.agent.name": ctx.path,
    "gen_ai.conversation.id": ctx.state.runId,
    "guardrail.name": guardrail.name,
    "guardrail.stage": guardrail.stage
  }
  if (options.call !== undefined) {
    attributes["gen_ai.tool.name"] = options.call.name
    attributes["gen_ai.tool.call.id"] = options.call.id
  }
  return Effect.withSpan(
    Effect.tapBoth(effect, {
      onSuccess: () => Effect.annotateCurrentSpan("guardrail.verdict", "pass"),
      onFailure: (error) =>
        error instanceof Stop
          ? Effect.annotateCurrentSpan("guardrail.verdict", error.verdict._tag === "Reject" ? "reject" : "trip")
          : Effect.annotateCurrentSpan("error.type", "GuardrailFailed")
    }),
    `guardrail ${guardrail.name}`,
    { attributes, kind: "internal", captureStackTrace: false }
  )
}

// -----------------------------------------------------------------------------
// the stages
// -----------------------------------------------------------------------------

/** Fail with the trip of a stage, if any. */
const orTrip = <G extends Guardrail.Any>(
  checked: Effect.Effect<Stop<G> | undefined, GuardrailFailed, any>
): Effect.Effect<void, GuardrailTripped | GuardrailFailed, any> =>
  Effect.flatMap(checked, (stop) => stop === undefined ? Effect.void : Effect.fail(stop.tripped()))

/**
 * The run's first model call (`call`, started when this step runs) with the input guardrails:
 * the `before` ones first, then the `concurrent` ones beside the call. A trip interrupts the call
 * at that instant; a model that answers first waits for their verdict.
 */
export const guardInput = <A, E>(
  ctx: TurnContext,
  guards: Guards,
  history: ReadonlyArray<Content>,
  call: () => Effect.Effect<A, E, any>
): Effect.Effect<A, E | GuardrailTripped | GuardrailFailed, any> => {
  const last = history.at(-1)
  const input: Guardrail.InputContext = { agent: ctx.path, prompt: last === undefined ? "" : textOf(last.parts), history: history.slice() }
  const stage = (guardrails: ReadonlyArray<Guardrail.Input<any>>) =>
    orTrip(check(ctx, guardrails, (g) => g.check(input), { stage: "input" }))
  const model = Effect.suspend(call)
  const beside = guards.inputConcurrent.length === 0
    ? model
    : Effect.zipLeft(model, stage(guards.inputConcurrent), { concurrent: true })
  return guards.inputBefore.length === 0 ? beside : Effect.zipRight(stage(guards.inputBefore), beside)
}

/**
 * The output guardrails on a final answer: `undefined` when it passed, or the feedback to send
 * the model (a tripping guardrail with `feedback` retries left, counted in `retries`); otherwise
 * the run fails with the trip.
 */
export const guardOutput = (
  ctx: TurnContext,
  guards: Guards,
  answer: Guardrail.OutputContext,
  retries: Map<string, number>
): Effect.Effect<string | undefined, GuardrailTripped | GuardrailFailed, any> => {
  const feedbackLeft = (g: Guardrail.Output<any>) => g.feedback !== undefined && (retries.get(g.name) ?? 0) < g.feedback.maxRetries
  return Effect.flatMap(
    check(ctx, guards.output, (g) => g.check(answer), {
      stage: "output",
      action: (g) => feedbackLeft(g) ? "feedback" : "fail"
    }),
    (stop) => {
      if (stop === undefined) return Effect.succeed(undefined)
      if (!feedbackLeft(stop.guardrail)) return Effect.fail(stop.tripped())
      retries.set(stop.guardrail.name, (retries.get(stop.guardrail.name) ?? 0) + 1)
      return Effect.succeed(
        `Your answer was refused by the guardrail "${stop.guardrail.name}": ${stop.reason}\n` +
          `Answer again, taking this into account.`
      )
    }
  )
}

/** The watching output guardrails on the text streamed so far: a trip fails the stream at once. */
export const watchText = (ctx: TurnContext, guards: Guards, text: string): Effect.Effect<void, GuardrailTripped | GuardrailFailed, any> =>
  orTrip(check(ctx, guards.watch, (g) => g.watch!(text), { stage: "output", quiet: true }))

/** The tool guardrails of one moment of a call (`before` its handler, `after` it). */
export const guardCall = (
  ctx: TurnContext,
  guardrails: ReadonlyArray<Guardrail.Tool<any, any, any>>,
  moment: "before" | "after",
  call: FunctionCallPart,
  args: unknown,
  result?: unknown
): Effect.Effect<Stop | undefined, GuardrailFailed, any> => {
  const context: Guardrail.ToolContext = moment === "before"
    ? { agent: ctx.path, tool: call.name, callId: call.id, args }
    : { agent: ctx.path, tool: call.name, callId: call.id, args, result }
  return check(ctx, guardrails, (g) => g[moment]!(context), { stage: "tool", call })
}
