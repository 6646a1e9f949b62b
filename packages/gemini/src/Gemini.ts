/**
 * The core `Model` service implemented with Google's `@google/genai` SDK.
 *
 * - The API key is a `Redacted` value, read from `GEMINI_API_KEY` unless given. It is unwrapped
 *   only to build the SDK client and never appears in errors, events, logs or spans; SDK and
 *   server text is scrubbed of it before it lands in an error's `detail`.
 * - Interrupting the calling fiber aborts the HTTP request (`config.abortSignal`), for unary and
 *   streamed calls alike: an abort caused by interruption is an interruption, never an error.
 * - SDK retries are off and automatic function calling is disabled: the agent run loop retries
 *   (on the Effect `Clock`, so `TestClock` drives it) and runs the tools.
 * - SDK failures map to the `ModelError` family: 429 → `RateLimited` (with the server's
 *   `RetryInfo` delay), 5xx and network failures → `ModelUnavailable`, 400/404 →
 *   `InvalidRequest`, 401/403 (and an invalid key) → `AuthenticationFailed`, blocked prompts
 *   and safety finishes → `ContentBlocked`, `MALFORMED_FUNCTION_CALL`, missing candidates and
 *   unparseable bodies → `MalformedResponse`.
 * - Gemini part fields the core has no concept of (`thoughtSignature`, ...) ride along in the
 *   core part's `metadata` and are written back unchanged on later turns. Function calls that
 *   arrive without an id get a synthetic one, which is never sent back.
 *
 * @since 0.1.0
 */
import { AgentError, Model } from "@effect-agents/core"
import { GoogleGenAI } from "@google/genai"
import type * as GenAI from "@google/genai"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as Convert from "./internal/convert.js"
import * as Errors from "./internal/errors.js"

/**
 * Generation settings passed to every request (`temperature`, `maxOutputTokens`,
 * `thinkingConfig`, `safetySettings`, ...). The fields the layer manages itself are left out.
 *
 * @since 0.1.0
 */
export type GenerationConfig = Omit<
  GenAI.GenerateContentConfig,
  "abortSignal" | "httpOptions" | "systemInstruction" | "tools" | "automaticFunctionCalling"
>

/**
 * @since 0.1.0
 */
export interface Options {
  /** Model name, e.g. `"gemini-2.5-flash"`. */
  readonly model: string
  /** Default: `Config.redacted("GEMINI_API_KEY")`. */
  readonly apiKey?: Redacted.Redacted<string> | undefined
  /** Another endpoint, e.g. a `GeminiEmulator`'s `baseUrl`. */
  readonly baseUrl?: string | undefined
  readonly generationConfig?: GenerationConfig | undefined
}

/**
 * Build the `Model` service. Reads `GEMINI_API_KEY` when `apiKey` is not given.
 *
 * @example
 * ```ts
 * import { Gemini } from "@effect-agents/gemini"
 * import { Config, Effect } from "effect"
 *
 * const service = Effect.flatMap(Config.redacted("MY_GEMINI_KEY"), (apiKey) => Gemini.make({ model: "gemini-2.5-flash", apiKey }))
 * ```
 * @since 0.1.0
 */
export const make = (options: Options): Effect.Effect<Model.Model.Service, ConfigError.ConfigError> =>
  Effect.map(
    options.apiKey !== undefined ? Effect.succeed(options.apiKey) : Config.redacted("GEMINI_API_KEY"),
    (apiKey) => makeWithKey(options, apiKey)
  )

const makeWithKey = (options: Options, apiKey: Redacted.Redacted<string>): Model.Model.Service => {
  const client = new GoogleGenAI({
    apiKey: Redacted.value(apiKey),
    ...(options.baseUrl !== undefined ? { httpOptions: { baseUrl: options.baseUrl } } : {})
  })
  const model = options.model
  const scrub = (text: string): string => {
    const key = Redacted.value(apiKey)
    return key.length > 0 && text.includes(key) ? text.split(key).join("[redacted]") : text
  }
  const fail = (error: unknown) => Errors.fromUnknown(error, scrub)
  let ids = 0
  const nextId: Convert.IdGenerator = () => `gemini-call-${++ids}`

  const parameters = (request: Model.ModelRequest, signal: AbortSignal): GenAI.GenerateContentParameters => {
    const tools = Convert.toTools(request.tools)
    return {
      model,
      contents: Convert.toContents(request.contents),
      config: {
        ...options.generationConfig,
        ...(request.system !== undefined ? { systemInstruction: request.system } : {}),
        ...(tools !== undefined ? { tools } : {}),
        automaticFunctionCalling: { disable: true },
        abortSignal: signal
      }
    }
  }

  const spanAttributes = (request: Model.ModelRequest) => ({
    "gen_ai.system": "gemini",
    "gen_ai.request.model": model,
    agent: request.agent
  })

  const generate = (request: Model.ModelRequest): Effect.Effect<Model.ModelResponse, AgentError.ModelError> =>
    Effect.tryPromise({
      try: (signal) => client.models.generateContent(parameters(request, signal)),
      catch: fail
    }).pipe(
      Effect.flatMap((response) => Convert.fromResponse(response, nextId)),
      Effect.withSpan("Gemini.generate", { attributes: spanAttributes(request) })
    )

  const stream = (request: Model.ModelRequest): Stream.Stream<Model.ModelChunk, AgentError.ModelError> =>
    Stream.unwrapScoped(Effect.gen(function*() {
      // Aborted when the stream's scope closes: on interruption, on an early stop, or at the end.
      const controller = yield* Effect.acquireRelease(
        Effect.sync(() => new AbortController()),
        (controller) => Effect.sync(() => controller.abort())
      )
      const iterator = yield* Effect.tryPromise({
        try: () => client.models.generateContentStream(parameters(request, controller.signal)),
        catch: fail
      })
      const state: Convert.StreamState = { candidates: 0, calls: false }
      const next = Effect.tryPromise({
        try: () => iterator.next(),
        catch: (error) => Option.some(fail(error))
      }).pipe(
        Effect.flatMap((result) =>
          result.done
            ? Effect.fail(Option.none())
            : Either.match(Convert.fromChunk(result.value, state, nextId), {
              onLeft: (error) => Effect.fail(Option.some(error)),
              onRight: Effect.succeed
            })
        )
      )
      return Stream.repeatEffectOption(next).pipe(
        Stream.concat(Stream.suspend(() =>
          state.candidates > 0
            ? Stream.empty
            : Stream.fail(new AgentError.MalformedResponse({ detail: "Gemini's stream ended without candidates" }))
        ))
      )
    })).pipe(Stream.withSpan("Gemini.stream", { attributes: spanAttributes(request) }))

  return { generate, stream }
}

/**
 * A `Model` layer over Gemini. Reads `GEMINI_API_KEY` when `apiKey` is not given.
 *
 * @example
 * ```ts
 * import { Agent } from "@effect-agents/core"
 * import { Gemini } from "@effect-agents/gemini"
 * import { Effect } from "effect"
 * declare const math: Agent.Agent
 *
 * const program = Agent.run(math, "What is 2 + 3 * 4?").pipe(
 *   Effect.provide(Gemini.layer({ model: "gemini-2.5-flash", generationConfig: { temperature: 0 } }))
 * )
 * ```
 * @since 0.1.0
 */
export const layer = (options: Options): Layer.Layer<Model.Model, ConfigError.ConfigError> =>
  Layer.effect(Model.Model, make(options))

/**
 * Options of {@link layerConfig}: each setting is a value or a `Config`.
 *
 * @since 0.1.0
 */
export interface ConfigOptions {
  /** Default: `GEMINI_MODEL`, else `"gemini-2.5-flash"`. */
  readonly model?: string | Config.Config<string> | undefined
  /** Default: `Config.redacted("GEMINI_API_KEY")`. */
  readonly apiKey?: Config.Config<Redacted.Redacted<string>> | undefined
  /** Default: `GEMINI_BASE_URL` when set. */
  readonly baseUrl?: string | Config.Config<string> | undefined
  readonly generationConfig?: GenerationConfig | undefined
}

const configOf = <A>(value: A | Config.Config<A> | undefined, fallback: Config.Config<A>): Config.Config<A> =>
  value === undefined ? fallback : Config.isConfig(value) ? value : Config.succeed(value)

/**
 * A `Model` layer over Gemini configured from the environment (`GEMINI_API_KEY`, and
 * optionally `GEMINI_MODEL` and `GEMINI_BASE_URL`).
 *
 * @example
 * ```ts
 * import { Gemini } from "@effect-agents/gemini"
 *
 * const GeminiLive = Gemini.layerConfig({ model: "gemini-2.5-flash" })
 * ```
 * @since 0.1.0
 */
export const layerConfig = (options: ConfigOptions = {}): Layer.Layer<Model.Model, ConfigError.ConfigError> =>
  Layer.unwrapEffect(
    Effect.map(
      Config.all({
        model: configOf(options.model, Config.string("GEMINI_MODEL").pipe(Config.withDefault("gemini-2.5-flash"))),
        apiKey: options.apiKey ?? Config.redacted("GEMINI_API_KEY"),
        baseUrl: Config.option(configOf(options.baseUrl, Config.string("GEMINI_BASE_URL")))
      }),
      ({ apiKey, baseUrl, model }) =>
        layer({ model, apiKey, baseUrl: Option.getOrUndefined(baseUrl), generationConfig: options.generationConfig })
    )
  )
