/**
 * The provider-neutral model service. A provider (`@effect-agents/gemini`) or a test double
 * (`@effect-agents/testing`'s `ScriptedModel`) implements it as a `Layer`.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { ModelError } from "./AgentError.js"
import { Content, Part } from "./Content.js"
import * as concurrency from "./internal/concurrency.js"
import * as rateLimiter from "./internal/rateLimiter.js"
import * as promiseCall from "./internal/promiseCall.js"
import * as fairSemaphore from "./internal/semaphore.js"

/**
 * A function the model may call: name, description and plain JSON Schema of its arguments.
 *
 * @since 0.1.0
 */
export const ToolDeclaration = Schema.Struct({
  name: Schema.String,
  description: Schema.String,
  parameters: Schema.Record({ key: Schema.String, value: Schema.Unknown })
})

/**
 * @since 0.1.0
 */
export interface ToolDeclaration extends Schema.Schema.Type<typeof ToolDeclaration> {}

/**
 * Tokens used by a model call (or a run). `cachedInputTokens` is the part of `inputTokens`
 * served from a context cache, `reasoningTokens` the part of `outputTokens` spent thinking; both
 * are present when the provider reports them.
 *
 * @since 0.1.0
 */
export const Usage = Schema.Struct({
  inputTokens: Schema.Number,
  outputTokens: Schema.Number,
  totalTokens: Schema.Number,
  cachedInputTokens: Schema.optional(Schema.Number),
  reasoningTokens: Schema.optional(Schema.Number)
})

/**
 * @since 0.1.0
 */
export interface Usage extends Schema.Schema.Type<typeof Usage> {}

/**
 * @since 0.1.0
 */
export const emptyUsage: Usage = { inputTokens: 0, outputTokens: 0, totalTokens: 0 }

/**
 * The usage of two calls together: every count summed; `cachedInputTokens` and
 * `reasoningTokens` are present when either side has them.
 *
 * @example
 * ```ts
 * import { Model } from "@effect-agents/core"
 *
 * const run = [
 *   { inputTokens: 100, outputTokens: 20, totalTokens: 120, reasoningTokens: 12 },
 *   { inputTokens: 150, outputTokens: 5, totalTokens: 155, cachedInputTokens: 90 }
 * ].reduce(Model.addUsage, Model.emptyUsage)
 * // { inputTokens: 250, outputTokens: 25, totalTokens: 275, cachedInputTokens: 90, reasoningTokens: 12 }
 * ```
 * @since 0.1.0
 */
export const addUsage = (self: Usage, that: Usage): Usage => {
  const cached = sumOptional(self.cachedInputTokens, that.cachedInputTokens)
  const reasoning = sumOptional(self.reasoningTokens, that.reasoningTokens)
  return {
    inputTokens: self.inputTokens + that.inputTokens,
    outputTokens: self.outputTokens + that.outputTokens,
    totalTokens: self.totalTokens + that.totalTokens,
    ...(cached !== undefined ? { cachedInputTokens: cached } : {}),
    ...(reasoning !== undefined ? { reasoningTokens: reasoning } : {})
  }
}

const sumOptional = (a: number | undefined, b: number | undefined): number | undefined =>
  a === undefined ? b : b === undefined ? a : a + b

/**
 * @since 0.1.0
 */
export const FinishReason = Schema.Literal("stop", "tool-calls", "max-tokens", "content-filter", "other", "unknown")

/**
 * @since 0.1.0
 */
export type FinishReason = typeof FinishReason.Type

/**
 * What the run loop sends to the model each turn.
 *
 * @since 0.1.0
 */
export const ModelRequest = Schema.Struct({
  /** Path of the agent making the request, e.g. `triage/math`. */
  agent: Schema.String,
  system: Schema.optional(Schema.String),
  contents: Schema.Array(Content),
  tools: Schema.Array(ToolDeclaration),
  output: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown }))
})

/**
 * @since 0.1.0
 */
export interface ModelRequest {
  readonly agent: string
  readonly system?: string | undefined
  readonly contents: ReadonlyArray<Content>
  readonly tools: ReadonlyArray<ToolDeclaration>
  /**
   * Structured output: the JSON Schema (an object schema) the final answer must match, as JSON
   * text. A model layer asks its provider for JSON of this shape (Gemini: `responseJsonSchema`,
   * or a `final_answer` tool whose arguments become the answer's text).
   */
  readonly output?: { readonly [key: string]: unknown } | undefined
}

/**
 * A complete model answer: parts (text and function calls, with provider metadata), usage and
 * finish reason.
 *
 * @since 0.1.0
 */
export const ModelResponse = Schema.Struct({
  parts: Schema.Array(Part),
  usage: Usage,
  finishReason: FinishReason
})

/**
 * @since 0.1.0
 */
export interface ModelResponse {
  readonly parts: ReadonlyArray<Part>
  readonly usage: Usage
  readonly finishReason: FinishReason
}

/**
 * One piece of a streamed answer. Text parts are deltas; function calls arrive whole. The last
 * chunk usually carries `usage` and `finishReason`.
 *
 * @since 0.1.0
 */
export interface ModelChunk {
  readonly parts: ReadonlyArray<Part>
  readonly usage?: Usage | undefined
  readonly finishReason?: FinishReason | undefined
}

/**
 * @since 0.1.0
 */
export declare namespace Model {
  /**
   * @since 0.1.0
   */
  export interface Service {
    readonly generate: (request: ModelRequest) => Effect.Effect<ModelResponse, ModelError>
    readonly stream: (request: ModelRequest) => Stream.Stream<ModelChunk, ModelError>
    /**
     * Who serves the calls, for traces (OpenTelemetry GenAI `gen_ai.provider.name`, e.g.
     * `gcp.gemini`, and `gen_ai.request.model`). A model without it is traced as `chat`.
     */
    readonly info?: { readonly provider: string; readonly model: string } | undefined
  }
}

/**
 * The model service.
 *
 * @example
 * ```ts
 * import { Model } from "@effect-agents/core"
 * import { Effect, Layer, Stream } from "effect"
 *
 * const Echo = Layer.succeed(Model.Model, {
 *   generate: (req) => Effect.succeed({ parts: req.contents.at(-1)!.parts, usage: Model.emptyUsage, finishReason: "stop" }),
 *   stream: (req) => Stream.make({ parts: req.contents.at(-1)!.parts })
 * })
 * ```
 * @since 0.1.0
 */
export class Model extends Context.Tag("@effect-agents/core/Model")<Model, Model.Service>() {}

/**
 * A model call made by a function returning a Promise that honours an `AbortSignal` (an HTTP
 * client's call), as an Effect: running it is `Effect.tryPromise` — a rejection (or a throw) is
 * failed with `onError(cause)`, interrupting it aborts the signal, and a function that declares
 * no parameter gets no signal — inside a span named `span` when one is given.
 *
 * The run loop also recognizes such a call, when a `Model` service's `generate` returns it
 * unchanged and no tracer exports spans: it then calls `evaluate` itself and bounds it with
 * `policy.modelTimeout` using one timer, with no fiber of its own (a call that times out, or
 * whose run is interrupted, has its signal aborted). That is the cheapest way to wait for a
 * model: see the README's Performance section. A call wrapped in anything else (a limit, a fault
 * injection, a span of the caller's) runs as the Effect it is.
 *
 * @example
 * ```ts
 * import { AgentError, Model } from "@effect-agents/core"
 * import { Stream } from "effect"
 *
 * declare const post: (body: unknown, signal: AbortSignal) => Promise<Model.ModelResponse>
 *
 * const service: Model.Model.Service = {
 *   generate: (request) =>
 *     Model.fromPromise(
 *       (signal) => post(request, signal),
 *       (cause) => new AgentError.ModelUnavailable({ detail: String(cause) })
 *     ),
 *   stream: (request) => Stream.die(`streaming is not supported (${request.agent})`)
 * }
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const fromPromise = <E>(
  evaluate: (signal: AbortSignal) => PromiseLike<ModelResponse>,
  onError: (cause: unknown) => E,
  options?: { readonly span?: string | undefined; readonly attributes?: Record<string, unknown> | undefined }
): Effect.Effect<ModelResponse, E> => {
  const call = Effect.tryPromise({ try: evaluate, catch: onError })
  const effect = options?.span === undefined
    ? call
    : Effect.withSpan(call, options.span, { attributes: options.attributes, captureStackTrace: false })
  return promiseCall.mark(effect, { evaluate, onError })
}

/**
 * A `Model` layer from a service value.
 *
 * @since 0.1.0
 */
export const layer = (service: Model.Service): Layer.Layer<Model> => Layer.succeed(Model, service)

/**
 * Assemble streamed chunks into one response, keeping the parts as the provider sent them:
 * adjacent text deltas without metadata are joined; every other part (a text part with
 * metadata such as a signature, a function call, a provider data part) stays a part of its own,
 * in order. Usage and finish reason are the last ones reported.
 *
 * @since 0.1.0
 */
export const collectChunks = (chunks: Iterable<ModelChunk>): ModelResponse => {
  const parts: Array<Part> = []
  // the plain text being joined, kept out of `parts` until a part of another kind arrives
  let text: string | undefined
  let usage: Usage = emptyUsage
  let finishReason: FinishReason = "unknown"
  for (const chunk of chunks) {
    for (const part of chunk.parts) {
      if (part._tag === "Text" && part.metadata === undefined) {
        text = text === undefined ? part.text : text + part.text
        continue
      }
      if (text !== undefined) {
        parts.push({ _tag: "Text", text })
        text = undefined
      }
      parts.push(part)
    }
    if (chunk.usage) usage = chunk.usage
    if (chunk.finishReason) finishReason = chunk.finishReason
  }
  if (text !== undefined) parts.push({ _tag: "Text", text })
  return { parts, usage, finishReason }
}

// -----------------------------------------------------------------------------
// limits shared across conversations
// -----------------------------------------------------------------------------

/**
 * A compile-time check that a layer given to a `Model` transformer (`withConcurrency`,
 * `withRateLimit`, `withHedging`) provides `Model`.
 *
 * @since 0.1.0
 */
export type ProvidesModel<ROut> = [Model] extends [ROut] ? unknown : { readonly "the layer must provide Model": never }

/** Rebuild the `Model` of a layer's output with `f`; every other service of the layer is kept. */
const transform = <ROut, E, RIn>(
  self: Layer.Layer<ROut, E, RIn>,
  f: (model: Model.Service) => Effect.Effect<Model.Service, never, Scope.Scope>
): Layer.Layer<ROut, E, RIn> =>
  Layer.flatMap(self, (context) =>
    Layer.scopedContext(
      Effect.map(f(Context.get(context as Context.Context<Model>, Model)), (service) => Context.add(context, Model, service))
    )) as Layer.Layer<ROut, E, RIn>

/**
 * At most `permits` model calls at once, across every conversation served by the layer. A call
 * that finds no free permit waits in arrival order (a fair queue: one wake-up per permit handed
 * over, so 100,000 waiting calls cost linear time and memory; an interrupted waiter leaves the
 * queue and takes no permit with it); the wait is traced as a `Model.waitForPermit` span. A streamed call holds
 * its permit until its stream ends. The semaphore is built once per layer build, so every run
 * provided with the layer shares it.
 *
 * Combined with {@link withRateLimit}, apply `withConcurrency` last (outermost): a call first
 * takes a concurrency permit, then waits for its rate-limit token, and starts right away.
 *
 * @example
 * ```ts
 * import { Model } from "@effect-agents/core"
 * import { ScriptedModel } from "@effect-agents/testing"
 *
 * const LimitedModel = ScriptedModel.layer([ScriptedModel.text("hi")]).pipe(
 *   Model.withRateLimit({ limit: 10, interval: "1 second" }),
 *   Model.withConcurrency(5)
 * )
 * ```
 * @since 0.1.0
 */
export const withConcurrency: {
  (permits: number): <ROut, E, RIn>(self: Layer.Layer<ROut, E, RIn> & ProvidesModel<ROut>) => Layer.Layer<ROut, E, RIn>
  <ROut, E, RIn>(self: Layer.Layer<ROut, E, RIn> & ProvidesModel<ROut>, permits: number): Layer.Layer<ROut, E, RIn>
} = dual(2, <ROut, E, RIn>(self: Layer.Layer<ROut, E, RIn>, permits: number): Layer.Layer<ROut, E, RIn> =>
  transform(self, (model) =>
    Effect.map(fairSemaphore.make(permits), (semaphore): Model.Service => {
      const permit = (request: ModelRequest) =>
        concurrency.permitScoped(semaphore, "Model.waitForPermit", { limit: "concurrency", permits, agent: request.agent })
      return {
        generate: (request) => Effect.scoped(Effect.zipRight(permit(request), model.generate(request))),
        stream: (request) => Stream.unwrapScoped(Effect.as(permit(request), model.stream(request)))
      }
    })))

/**
 * Options of {@link withRateLimit}: the options of Effect's `RateLimiter`.
 *
 * @since 0.1.0
 */
export interface RateLimit {
  /** Calls allowed per `interval`. */
  readonly limit: number
  readonly interval: Duration.DurationInput
  /**
   * `token-bucket` (default): a burst of `limit` calls, then one every `interval / limit`.
   * `fixed-window`: at most `limit` calls in each window of `interval`.
   */
  readonly algorithm?: "token-bucket" | "fixed-window" | undefined
}

/**
 * At most `limit` model calls started per `interval`, across every conversation served by the
 * layer (the algorithms and timing of Effect's `RateLimiter`, over a fair queue: waiting calls
 * get tokens in arrival order, one wake-up per token; built once per layer build). Only the start
 * of a call is limited; waiting for a token is traced as a `Model.waitForPermit` span.
 *
 * @example
 * ```ts
 * import { Model } from "@effect-agents/core"
 * import { ScriptedModel } from "@effect-agents/testing"
 *
 * const TenPerSecond = ScriptedModel.layer([ScriptedModel.text("hi")]).pipe(
 *   Model.withRateLimit({ limit: 10, interval: "1 second" })
 * )
 * ```
 * @since 0.1.0
 */
export const withRateLimit: {
  (options: RateLimit): <ROut, E, RIn>(self: Layer.Layer<ROut, E, RIn> & ProvidesModel<ROut>) => Layer.Layer<ROut, E, RIn>
  <ROut, E, RIn>(self: Layer.Layer<ROut, E, RIn> & ProvidesModel<ROut>, options: RateLimit): Layer.Layer<ROut, E, RIn>
} = dual(2, <ROut, E, RIn>(self: Layer.Layer<ROut, E, RIn>, options: RateLimit): Layer.Layer<ROut, E, RIn> =>
  transform(self, (model) =>
    Effect.map(
      rateLimiter.make({ limit: options.limit, interval: options.interval, algorithm: options.algorithm ?? "token-bucket" }),
      (limiter): Model.Service => {
        const token = (request: ModelRequest) =>
          Effect.withSpan(limiter(Effect.void), "Model.waitForPermit", {
            attributes: { limit: "rate", perInterval: options.limit, agent: request.agent }
          })
        return {
          generate: (request) => Effect.zipRight(token(request), model.generate(request)),
          stream: (request) => Stream.unwrap(Effect.as(token(request), model.stream(request)))
        }
      }
    )))

/**
 * Options of {@link withHedging}.
 *
 * @since 0.1.0
 */
export interface Hedging {
  /** Start another copy of a call when it has not answered after this long. */
  readonly after: Duration.DurationInput
  /** Copies at most, the first included. Default 2. */
  readonly attempts?: number | undefined
}

/**
 * Hedged model calls, against tail latency: when a call has not answered after `after`, the
 * same request is sent again (up to `attempts` copies; a copy that fails starts the next one at
 * once). The first answer wins and the other copies are interrupted: their in-flight requests
 * are aborted and their finalizers run. A streamed call is hedged up to its first chunk; then
 * the winning stream is kept and the others are closed. When every copy fails, the call fails
 * with the last copy's error (so the run's retry policy still applies).
 *
 * @example
 * ```ts
 * import { Model } from "@effect-agents/core"
 * import { ScriptedModel } from "@effect-agents/testing"
 *
 * const Hedged = ScriptedModel.layer([ScriptedModel.text("hi")]).pipe(
 *   Model.withHedging({ after: "300 millis" })
 * )
 * ```
 * @since 0.1.0
 */
export const withHedging: {
  (options: Hedging): <ROut, E, RIn>(self: Layer.Layer<ROut, E, RIn> & ProvidesModel<ROut>) => Layer.Layer<ROut, E, RIn>
  <ROut, E, RIn>(self: Layer.Layer<ROut, E, RIn> & ProvidesModel<ROut>, options: Hedging): Layer.Layer<ROut, E, RIn>
} = dual(2, <ROut, E, RIn>(self: Layer.Layer<ROut, E, RIn>, options: Hedging): Layer.Layer<ROut, E, RIn> =>
  transform(self, (model) =>
    Effect.succeed<Model.Service>({
      generate: (request) => concurrency.hedge(Effect.suspend(() => model.generate(request)), options, lastCause),
      stream: (request) =>
        Stream.unwrapScoped(Effect.flatMap(Effect.scope, (outer) => {
          // each copy opens its stream in a child scope of the caller's and pulls the first chunk;
          // a losing copy's scope is closed at once, the winner's when the caller's closes
          const copy = Effect.flatMap(Scope.fork(outer, ExecutionStrategy.sequential), (scope) =>
            Scope.extend(Stream.toPull(model.stream(request)), scope).pipe(
              Effect.flatMap((pull) =>
                Effect.matchEffect(pull, {
                  onFailure: Option.match({ onNone: () => Effect.succeed({ pull, first: undefined }), onSome: Effect.fail }),
                  onSuccess: (first) => Effect.succeed({ pull, first })
                })
              ),
              Effect.onExit((exit) => Exit.isSuccess(exit) ? Effect.void : Scope.close(scope, exit))
            ))
          return Effect.map(concurrency.hedge(copy, options, lastCause), ({ first, pull }) =>
            first === undefined
              ? Stream.empty
              : Stream.concat(Stream.fromChunk(first), Stream.repeatEffectChunkOption(pull)))
        }))
    })))

const lastCause = (causes: ReadonlyArray<Cause.Cause<ModelError>>): Cause.Cause<ModelError> => causes[causes.length - 1]!
