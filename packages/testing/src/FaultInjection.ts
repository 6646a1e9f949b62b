/**
 * Seeded fault injection for a `Model` or a tool.
 *
 * Wrap a model layer (`FaultInjection.model`) or a tool (`FaultInjection.tool`) with faults:
 * a typed failure, a defect, a hang, added latency (fixed or drawn from a seeded
 * distribution), a 429 with a retry delay, a 503, a stream cut mid-way, a malformed response.
 * Each fault fires on chosen call numbers, with a probability, or both. Probabilities and
 * latencies are drawn from a `Random` seeded by the injector, and every wait goes through
 * the Effect `Clock`, so a run under `TestClock` with a fixed seed is the same run every time.
 * Several faults compose on one target; the injector records which ones fired.
 *
 * @since 0.1.0
 */
import { AgentError, Model, type Tool } from "@effect-agents/core"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Random from "effect/Random"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"

/**
 * What a fault does.
 *
 * @since 0.1.0
 */
export type Kind =
  | "fail"
  | "defect"
  | "hang"
  | "latency"
  | "rate-limited"
  | "unavailable"
  | "stream-cut"
  | "malformed"

/**
 * When a fault fires. Without `calls` or `probability` it fires on every call; with both,
 * the call number must match and the seeded coin must come up.
 *
 * @since 0.1.0
 */
export interface Trigger {
  /** Call numbers (from 1) the fault may fire on, or a predicate over the call number. */
  readonly calls?: ReadonlyArray<number> | ((call: number) => boolean) | undefined
  /** Chance in [0, 1] that the fault fires on a matching call, drawn from the injector's seeded `Random`. */
  readonly probability?: number | undefined
}

/**
 * A latency distribution, sampled with the injector's seeded `Random`.
 *
 * @since 0.1.0
 */
export type Distribution =
  | { readonly _tag: "Uniform"; readonly min: Duration.Duration; readonly max: Duration.Duration }
  | { readonly _tag: "Exponential"; readonly mean: Duration.Duration; readonly max: Duration.Duration | undefined }

/**
 * Where a call was when a fault fired: the target's name and the call number (from 1).
 *
 * @since 0.1.0
 */
export interface CallInfo {
  readonly target: string
  readonly call: number
}

/**
 * A fault, with its trigger. `E` is the typed error a `fail` fault raises.
 *
 * @since 0.1.0
 */
export type Fault<E = never> =
  | Fail<E>
  | Defect
  | Hang
  | Latency
  | RateLimit
  | Unavailable
  | StreamCut
  | Malformed
  | OneOf<E>

/**
 * @since 0.1.0
 */
export interface Fail<E> extends Trigger {
  readonly _tag: "Fail"
  /** The error to fail with; without it a model fails with `InvalidRequest` (400), a tool with `InjectedFailure`. */
  readonly error: E | ((info: CallInfo) => E) | undefined
}

/**
 * @since 0.1.0
 */
export interface Defect extends Trigger {
  readonly _tag: "Defect"
}

/**
 * @since 0.1.0
 */
export interface Hang extends Trigger {
  readonly _tag: "Hang"
}

/**
 * @since 0.1.0
 */
export interface Latency extends Trigger {
  readonly _tag: "Latency"
  readonly delay: Duration.Duration | Distribution
}

/**
 * @since 0.1.0
 */
export interface RateLimit extends Trigger {
  readonly _tag: "RateLimit"
  readonly retryAfter: Duration.Duration | undefined
}

/**
 * @since 0.1.0
 */
export interface Unavailable extends Trigger {
  readonly _tag: "Unavailable"
  readonly status: number
}

/**
 * @since 0.1.0
 */
export interface StreamCut extends Trigger {
  readonly _tag: "StreamCut"
  readonly afterChunks: number
}

/**
 * @since 0.1.0
 */
export interface Malformed extends Trigger {
  readonly _tag: "Malformed"
  /** For a model: how to spoil the real response. Default: no parts, finish reason `other`. */
  readonly response: ((response: Model.ModelResponse) => Model.ModelResponse) | undefined
  /** For a tool: the value returned instead of the real result. Default: `malformedValue`. */
  readonly value: unknown
}

/**
 * @since 0.1.0
 */
export interface OneOf<E> extends Trigger {
  readonly _tag: "OneOf"
  readonly faults: ReadonlyArray<Fault<E>>
}

// -----------------------------------------------------------------------------
// errors
// -----------------------------------------------------------------------------

/**
 * The typed failure an injected fault raises in a tool: a plain failure, a 429, a 503 or a
 * stream cut. A model gets the matching `ModelError` instead.
 *
 * @since 0.1.0
 */
export class InjectedFailure extends Schema.TaggedError<InjectedFailure>()("InjectedFailure", {
  kind: Schema.Literal("fail", "rate-limited", "unavailable", "stream-cut"),
  target: Schema.String,
  call: Schema.Number,
  status: Schema.optional(Schema.Number),
  retryAfter: Schema.optional(Schema.DurationFromSelf)
}) {
  override get message() {
    const where = `call ${this.call} of "${this.target}"`
    switch (this.kind) {
      case "fail":
        return `Injected failure on ${where}.`
      case "rate-limited":
        return `Injected 429 on ${where}: rate limited${
          this.retryAfter ? `, retry in ${Duration.format(this.retryAfter)}` : ""
        }.`
      case "unavailable":
        return `Injected ${this.status ?? 503} on ${where}: service unavailable.`
      case "stream-cut":
        return `Injected stream cut on ${where}: the connection dropped before the result arrived.`
    }
  }
}

/**
 * The defect an injected `defect` fault dies with.
 *
 * @since 0.1.0
 */
export class InjectedDefect extends Schema.TaggedError<InjectedDefect>()("InjectedDefect", {
  target: Schema.String,
  call: Schema.Number
}) {
  override get message() {
    return `Injected defect on call ${this.call} of "${this.target}".`
  }
}

/**
 * What a malformed tool fault returns by default: a value no string, number or struct
 * success Schema accepts.
 *
 * @since 0.1.0
 */
export const malformedValue: unknown = Object.freeze({ "FaultInjection.malformed": true })

// -----------------------------------------------------------------------------
// constructors
// -----------------------------------------------------------------------------

/**
 * Fail with a typed error.
 *
 * @example
 * ```ts
 * import { FaultInjection } from "@effect-agents/testing"
 *
 * const firstCallFails = FaultInjection.fail({ calls: [1] })
 * ```
 * @since 0.1.0
 */
export const fail = <E = never>(
  options?: Trigger & { readonly error?: E | ((info: CallInfo) => E) | undefined }
): Fail<E> => ({ ...options, _tag: "Fail", error: options?.error })

/**
 * Die with an `InjectedDefect`.
 *
 * @since 0.1.0
 */
export const defect = (options?: Trigger): Defect => ({ ...options, _tag: "Defect" })

/**
 * Never answer (until interrupted).
 *
 * @since 0.1.0
 */
export const hang = (options?: Trigger): Hang => ({ ...options, _tag: "Hang" })

/**
 * Wait before the call goes on: a fixed duration or a seeded `Distribution`. Latencies
 * that fire on the same call add up.
 *
 * @example
 * ```ts
 * import { FaultInjection } from "@effect-agents/testing"
 *
 * const jitter = FaultInjection.latency(FaultInjection.uniform("10 millis", "2 seconds"), { probability: 0.5 })
 * ```
 * @since 0.1.0
 */
export const latency = (delay: Duration.DurationInput | Distribution, options?: Trigger): Latency => ({
  ...options,
  _tag: "Latency",
  delay: isDistribution(delay) ? delay : Duration.decode(delay)
})

/**
 * A 429: a model fails with `RateLimited { retryAfter }`, a tool with an `InjectedFailure`.
 *
 * @example
 * ```ts
 * import { FaultInjection } from "@effect-agents/testing"
 *
 * const storm = FaultInjection.rateLimited({ retryAfter: "2 seconds", calls: [1, 2, 3] })
 * ```
 * @since 0.1.0
 */
export const rateLimited = (options?: Trigger & { readonly retryAfter?: Duration.DurationInput | undefined }): RateLimit => ({
  ...options,
  _tag: "RateLimit",
  retryAfter: options?.retryAfter !== undefined ? Duration.decode(options.retryAfter) : undefined
})

/**
 * A 5xx (503 unless `status` says otherwise): a model fails with `ModelUnavailable`, a tool
 * with an `InjectedFailure`.
 *
 * @since 0.1.0
 */
export const unavailable = (options?: Trigger & { readonly status?: number | undefined }): Unavailable => ({
  ...options,
  _tag: "Unavailable",
  status: options?.status ?? 503
})

/**
 * The connection drops mid-way. A streamed model call delivers `afterChunks` chunks (default
 * 1) of the real answer, then fails with `ModelUnavailable`; a non-streamed model call or a
 * tool does the real work, then loses the result (`ModelUnavailable`, `InjectedFailure`).
 *
 * @since 0.1.0
 */
export const streamCut = (options?: Trigger & { readonly afterChunks?: number | undefined }): StreamCut => ({
  ...options,
  _tag: "StreamCut",
  afterChunks: options?.afterChunks ?? 1
})

/**
 * The call does the real work but answers with something unusable: a model response with
 * no parts (or `response(real)`), a tool value its success Schema rejects (or `value`).
 *
 * @since 0.1.0
 */
export const malformed = (
  options?: Trigger & {
    readonly response?: ((response: Model.ModelResponse) => Model.ModelResponse) | undefined
    readonly value?: unknown
  }
): Malformed => ({
  ...options,
  _tag: "Malformed",
  response: options?.response,
  value: options && "value" in options ? options.value : malformedValue
})

/**
 * When the trigger fires, pick one of `faults` with the seeded `Random` (uniformly). The
 * triggers of the listed faults are ignored. Handy for soaks: `oneOf(all, { probability: 0.1 })`.
 *
 * @example
 * ```ts
 * import { FaultInjection } from "@effect-agents/testing"
 *
 * const tenPercent = FaultInjection.oneOf(
 *   [FaultInjection.unavailable(), FaultInjection.rateLimited({ retryAfter: "1 second" }), FaultInjection.hang()],
 *   { probability: 0.1 }
 * )
 * ```
 * @since 0.1.0
 */
export const oneOf = <E = never>(faults: ReadonlyArray<Fault<E>>, options?: Trigger): OneOf<E> => {
  if (faults.length === 0) throw new Error("FaultInjection.oneOf: give at least one fault")
  if (faults.some((fault) => fault._tag === "OneOf")) throw new Error("FaultInjection.oneOf: a oneOf cannot list another oneOf")
  return { ...options, _tag: "OneOf", faults }
}

/**
 * A latency uniformly distributed between `min` and `max`.
 *
 * @since 0.1.0
 */
export const uniform = (min: Duration.DurationInput, max: Duration.DurationInput): Distribution => ({
  _tag: "Uniform",
  min: Duration.decode(min),
  max: Duration.decode(max)
})

/**
 * An exponentially distributed latency with the given mean, capped at `max` when given.
 *
 * @since 0.1.0
 */
export const exponential = (mean: Duration.DurationInput, max?: Duration.DurationInput): Distribution => ({
  _tag: "Exponential",
  mean: Duration.decode(mean),
  max: max !== undefined ? Duration.decode(max) : undefined
})

const isDistribution = (u: unknown): u is Distribution =>
  typeof u === "object" && u !== null && "_tag" in u && (u._tag === "Uniform" || u._tag === "Exponential")

// -----------------------------------------------------------------------------
// injector
// -----------------------------------------------------------------------------

/**
 * A fault that fired: on which target and call, when (`Clock` millis), what it did.
 *
 * @since 0.1.0
 */
export interface Fired {
  readonly target: string
  readonly call: number
  readonly kind: Kind
  readonly at: number
  readonly detail: string
}

/**
 * What an injector decided for one call: the latency to add and the fault that ends the call
 * (if any).
 *
 * @since 0.1.0
 */
export interface Plan {
  readonly call: number
  readonly delay: Duration.Duration
  readonly fault: Exclude<Fault<unknown>, Latency | OneOf<unknown>> | undefined
}

/**
 * The state of the faults on one target: a call counter, a seeded `Random` and the record of
 * what fired.
 *
 * @since 0.1.0
 */
export interface Injector<out E = unknown> {
  /** The typed error its `fail` faults raise (type only). */
  readonly _E?: (_: never) => E
  readonly target: string
  /** Decide the faults of the next call (counts the call, draws from the seeded `Random`, records what fired). */
  readonly plan: Effect.Effect<Plan>
  /** Every fault that fired, in order. */
  readonly fired: Effect.Effect<ReadonlyArray<Fired>>
  /** Calls seen so far. */
  readonly calls: Effect.Effect<number>
  /** Forget the calls and the record and re-seed the `Random`. */
  readonly reset: Effect.Effect<void>
}

/**
 * @since 0.1.0
 */
export interface Options {
  /** Seed of the injector's `Random`. Default 0. */
  readonly seed?: unknown
  /** Name used in records and injected errors. Default: the tool's name, or `model`. */
  readonly target?: string | undefined
}

const kindOf = (fault: Plan["fault"] & {}): Kind => {
  switch (fault._tag) {
    case "Fail":
      return "fail"
    case "Defect":
      return "defect"
    case "Hang":
      return "hang"
    case "RateLimit":
      return "rate-limited"
    case "Unavailable":
      return "unavailable"
    case "StreamCut":
      return "stream-cut"
    case "Malformed":
      return "malformed"
  }
}

const matches = (trigger: Trigger, call: number): boolean => {
  const calls = trigger.calls
  if (calls === undefined) return true
  return typeof calls === "function" ? calls(call) : calls.includes(call)
}

/**
 * Build an injector for a list of faults. `FaultInjection.model` and `FaultInjection.tool`
 * build one for you; use this one to inject faults into any effect with `inject`.
 *
 * @example
 * ```ts
 * import { FaultInjection } from "@effect-agents/testing"
 *
 * const injector = FaultInjection.make([FaultInjection.unavailable({ probability: 0.2 })], { seed: 7, target: "db" })
 * ```
 * @since 0.1.0
 */
export const make = <E = never>(faults: ReadonlyArray<Fault<E>>, options?: Options): Injector<E> => {
  const target = options?.target ?? "target"
  const seed = options?.seed ?? 0
  let random = Random.make(seed)
  let count = 0
  let fired: Array<Fired> = []

  const coin = (trigger: Trigger): Effect.Effect<boolean> =>
    trigger.probability === undefined || trigger.probability >= 1
      ? Effect.succeed(true)
      : trigger.probability <= 0
      ? Effect.succeed(false)
      : Effect.map(random.next, (r) => r < trigger.probability!)

  const sample = (delay: Latency["delay"]): Effect.Effect<Duration.Duration> => {
    if (Duration.isDuration(delay)) return Effect.succeed(delay)
    return Effect.map(random.next, (r) => {
      if (delay._tag === "Uniform") {
        const min = Duration.toMillis(delay.min)
        return Duration.millis(Math.round(min + r * (Duration.toMillis(delay.max) - min)))
      }
      const millis = Math.round(-Duration.toMillis(delay.mean) * Math.log(1 - r))
      return Duration.millis(delay.max === undefined ? millis : Math.min(millis, Duration.toMillis(delay.max)))
    })
  }

  const plan: Effect.Effect<Plan> = Effect.gen(function*() {
    const call = ++count
    const at = yield* Clock.currentTimeMillis
    let delay = Duration.zero
    let ending: Plan["fault"]
    for (const candidate of faults) {
      if (!matches(candidate, call) || !(yield* coin(candidate))) continue
      let fault: Fault<unknown> = candidate
      if (fault._tag === "OneOf") fault = fault.faults[yield* random.nextIntBetween(0, fault.faults.length)] as Exclude<Fault<unknown>, OneOf<unknown>>
      if (fault._tag === "Latency") {
        const extra = yield* sample(fault.delay)
        delay = Duration.sum(delay, extra)
        fired.push({ target, call, kind: "latency", at, detail: `+${Duration.format(extra)}` })
      } else if (ending === undefined) {
        ending = fault
        fired.push({ target, call, kind: kindOf(fault), at, detail: describeFault(fault) })
      }
    }
    return { call, delay, fault: ending }
  })

  return {
    target,
    plan,
    fired: Effect.sync(() => fired.slice()),
    calls: Effect.sync(() => count),
    reset: Effect.sync(() => {
      random = Random.make(seed)
      count = 0
      fired = []
    })
  }
}

const describeFault = (fault: Plan["fault"] & {}): string => {
  switch (fault._tag) {
    case "Fail":
      return "typed failure"
    case "Defect":
      return "defect"
    case "Hang":
      return "hang"
    case "RateLimit":
      return fault.retryAfter ? `429, retry in ${Duration.format(fault.retryAfter)}` : "429"
    case "Unavailable":
      return `${fault.status}`
    case "StreamCut":
      return `cut after ${fault.afterChunks} chunk(s)`
    case "Malformed":
      return "malformed response"
  }
}

const delayed = <A, E, R>(delay: Duration.Duration, self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Duration.toMillis(delay) > 0 ? Effect.zipRight(Effect.sleep(delay), self) : self

// -----------------------------------------------------------------------------
// model
// -----------------------------------------------------------------------------

/**
 * The injector of a model wrapped by `FaultInjection.model`, to read what fired.
 *
 * @since 0.1.0
 */
export class ModelFaults extends Context.Tag("@effect-agents/testing/FaultInjection/ModelFaults")<ModelFaults, Injector>() {}

const modelError = (fault: Plan["fault"] & {}, info: CallInfo): AgentError.ModelError | undefined => {
  const where = `injected on model call ${info.call}`
  switch (fault._tag) {
    case "Fail":
      return fault.error === undefined
        ? new AgentError.InvalidRequest({ status: 400, detail: `injected failure on model call ${info.call}` })
        : typeof fault.error === "function"
        ? (fault.error as (info: CallInfo) => AgentError.ModelError)(info)
        : fault.error as AgentError.ModelError
    case "RateLimit":
      return new AgentError.RateLimited({ retryAfter: fault.retryAfter, detail: `Injected on model call ${info.call}.` })
    case "Unavailable":
      return new AgentError.ModelUnavailable({ status: fault.status, detail: where })
    default:
      return undefined
  }
}

const emptyResponse = (response: Model.ModelResponse): Model.ModelResponse => ({
  parts: [],
  usage: response.usage,
  finishReason: "other"
})

/**
 * Wrap a model service with faults, using an injector.
 *
 * @since 0.1.0
 */
export const wrapModel = (model: Model.Model.Service, injector: Injector): Model.Model.Service => {
  const target = injector.target
  const generate = (request: Model.ModelRequest): Effect.Effect<Model.ModelResponse, AgentError.ModelError> =>
    Effect.flatMap(injector.plan, ({ call, delay, fault }) => {
      if (fault === undefined) return delayed(delay, model.generate(request))
      const info = { target, call }
      let effect: Effect.Effect<Model.ModelResponse, AgentError.ModelError>
      switch (fault._tag) {
        case "Defect":
          effect = Effect.die(new InjectedDefect(info))
          break
        case "Hang":
          effect = Effect.never
          break
        case "StreamCut":
          effect = Effect.zipRight(
            model.generate(request),
            Effect.fail(
              new AgentError.ModelUnavailable({
                detail: `the connection dropped before the response completed (injected stream cut on model call ${call})`
              })
            )
          )
          break
        case "Malformed":
          effect = Effect.map(model.generate(request), fault.response ?? emptyResponse)
          break
        default:
          effect = Effect.fail(modelError(fault, info)!)
      }
      return delayed(delay, effect)
    })
  const stream = (request: Model.ModelRequest): Stream.Stream<Model.ModelChunk, AgentError.ModelError> =>
    Stream.unwrap(Effect.map(injector.plan, ({ call, delay, fault }) => {
      const info = { target, call }
      let body: Stream.Stream<Model.ModelChunk, AgentError.ModelError>
      if (fault === undefined) {
        body = model.stream(request)
      } else {
        switch (fault._tag) {
          case "Defect":
            body = Stream.die(new InjectedDefect(info))
            break
          case "Hang":
            body = Stream.never
            break
          case "StreamCut":
            body = Stream.concat(
              Stream.take(model.stream(request), fault.afterChunks),
              Stream.fail(
                new AgentError.ModelUnavailable({
                  detail: `the stream was cut after ${fault.afterChunks} chunk(s) (injected on model call ${call})`
                })
              )
            )
            break
          case "Malformed": {
            const spoil = fault.response ?? emptyResponse
            body = Stream.fromEffect(
              Effect.map(Stream.runCollect(model.stream(request)), (chunks): Model.ModelChunk => spoil(Model.collectChunks(chunks)))
            )
            break
          }
          default:
            body = Stream.fail(modelError(fault, info)!)
        }
      }
      return Duration.toMillis(delay) > 0 ? Stream.concat(Stream.execute(Effect.sleep(delay)), body) : body
    }))
  return { generate, stream }
}

/**
 * A layer transformer: the `Model` it provides is the `Model` it needs, with faults. Each
 * build gets a fresh injector (call counter, `Random` seeded with `options.seed`), readable
 * through `ModelFaults`. Keep the inner layer's other services with `Layer.provideMerge`.
 *
 * @example
 * ```ts
 * import { FaultInjection, ScriptedModel } from "@effect-agents/testing"
 * import { Layer } from "effect"
 *
 * const FlakyModel = FaultInjection.model([
 *   FaultInjection.rateLimited({ retryAfter: "2 seconds", calls: [1, 2] }),
 *   FaultInjection.latency(FaultInjection.exponential("200 millis"), { probability: 0.3 })
 * ], { seed: 42 }).pipe(Layer.provideMerge(ScriptedModel.layer([ScriptedModel.text("hello")])))
 * ```
 * @since 0.1.0
 */
export const model = (
  faults: ReadonlyArray<Fault<AgentError.ModelError>>,
  options?: Options
): Layer.Layer<Model.Model | ModelFaults, never, Model.Model> =>
  Layer.effectContext(Effect.map(Model.Model, (inner) => {
    const injector = make(faults, { ...options, target: options?.target ?? "model" })
    return Context.make(Model.Model, wrapModel(inner, injector)).pipe(Context.add(ModelFaults, injector))
  }))

// -----------------------------------------------------------------------------
// tools
// -----------------------------------------------------------------------------

/**
 * A tool with faults, and the injector to read what fired.
 *
 * @since 0.1.0
 */
export interface Faulty<out Name extends string, in out Params, in out Success, out E = never, out R = never>
  extends Tool.Tool<Name, Params, Success, E, R>
{
  readonly faults: Injector
}

/**
 * Wrap a tool with faults. The returned tool has the same name, Schemas, timeout, retry and
 * `onFailure`; its injector (created now, seeded with `options.seed`) is `tool.faults`.
 * `fail`, `defect`, `hang`, 429 and 503 fire before the handler runs; a stream cut or a
 * malformed result fire after it ran (the work was done, the result is lost or spoiled).
 *
 * @example
 * ```ts
 * import { Tool } from "@effect-agents/core"
 * import { FaultInjection } from "@effect-agents/testing"
 * import { Schema } from "effect"
 *
 * const lookup = Tool.fromSync("lookup", {
 *   description: "Look a word up",
 *   parameters: Schema.Struct({ word: Schema.String }),
 *   handler: ({ word }) => word.length
 * })
 * const flaky = FaultInjection.tool(lookup, [FaultInjection.unavailable({ probability: 0.1 })], { seed: 1 })
 * ```
 * @since 0.1.0
 */
export const tool = <Name extends string, Params, Success, E, R, E2 = never>(
  self: Tool.Tool<Name, Params, Success, E, R>,
  faults: ReadonlyArray<Fault<E2>>,
  options?: Options
): Faulty<Name, Params, Success, E | E2 | InjectedFailure, Exclude<R, Scope.Scope>> => {
  const injector = make(faults, { ...options, target: options?.target ?? self.name })
  const handler = (params: Params) => inject(self.handler(params), injector)
  return Object.assign(Object.create(Object.getPrototypeOf(self)), self, { handler, faults: injector })
}

// -----------------------------------------------------------------------------
// any effect
// -----------------------------------------------------------------------------

/**
 * Run an effect under an injector: each run is one call. `fail`, `defect`, `hang`, 429 and 503
 * replace the effect (`InjectedFailure`, `InjectedDefect`); a stream cut runs it, then fails;
 * a malformed fault runs it and returns the fault's `value` instead; latencies delay it.
 *
 * @example
 * ```ts
 * import { FaultInjection } from "@effect-agents/testing"
 * import { Effect } from "effect"
 *
 * const injector = FaultInjection.make([FaultInjection.unavailable({ calls: [1] })], { target: "db" })
 * const query = Effect.succeed([1, 2, 3]).pipe(FaultInjection.inject(injector))
 * ```
 * @since 0.1.0
 */
export const inject: {
  <E2>(injector: Injector<E2>): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | E2 | InjectedFailure, R>
  <A, E, R, E2>(self: Effect.Effect<A, E, R>, injector: Injector<E2>): Effect.Effect<A, E | E2 | InjectedFailure, R>
} = dual(2, <A, E, R, E2>(self: Effect.Effect<A, E, R>, injector: Injector<E2>): Effect.Effect<A, E | E2 | InjectedFailure, R> =>
  Effect.flatMap(injector.plan, ({ call, delay, fault }) => {
    const info = { target: injector.target, call }
    let effect: Effect.Effect<A, E | E2 | InjectedFailure, R>
    if (fault === undefined) {
      effect = self
    } else {
      switch (fault._tag) {
        case "Fail":
          effect = Effect.fail(
            fault.error === undefined
              ? new InjectedFailure({ kind: "fail", ...info })
              : typeof fault.error === "function"
              ? (fault.error as (info: CallInfo) => E2)(info)
              : fault.error as E2
          )
          break
        case "Defect":
          effect = Effect.die(new InjectedDefect(info))
          break
        case "Hang":
          effect = Effect.never
          break
        case "RateLimit":
          effect = Effect.fail(new InjectedFailure({ kind: "rate-limited", ...info, status: 429, retryAfter: fault.retryAfter }))
          break
        case "Unavailable":
          effect = Effect.fail(new InjectedFailure({ kind: "unavailable", ...info, status: fault.status }))
          break
        case "StreamCut":
          effect = Effect.zipRight(self, Effect.fail(new InjectedFailure({ kind: "stream-cut", ...info })))
          break
        case "Malformed":
          effect = Effect.as(self, fault.value as A)
          break
      }
    }
    return delayed(delay, effect)
  }))
