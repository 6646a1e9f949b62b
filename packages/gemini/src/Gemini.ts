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
 *   and `SAFETY`/`RECITATION`/`BLOCKLIST`/`PROHIBITED_CONTENT`/`SPII`/`IMAGE_*` finishes →
 *   `ContentBlocked`, missing candidates and unparseable bodies → `MalformedResponse`.
 * - Finish reasons are honest: an answer without answer parts (nothing, only thoughts, or a
 *   token limit spent thinking) and `MALFORMED_FUNCTION_CALL` fail with the retryable
 *   `UnusableResponse` (the run retries it on `policy.modelRetry`); `MAX_TOKENS` after partial
 *   output fails with `OutputTruncated`. Gemini's `finishMessage` is part of the error.
 * - Parts are kept as Gemini sent them, streamed or not: thoughts, signatures (also on a trailing
 *   empty part), inline data, executable code and its results go back byte for byte on later
 *   turns; thought summaries never become answer text. Function calls that arrive without an id
 *   get a synthetic one, which is never sent back.
 * - Only the first candidate is read, so `candidateCount` above 1 is refused.
 * - The Gemini API (`apiKey`) or Vertex AI (`vertexai`, with application-default credentials);
 *   the choice is explicit, so `GOOGLE_GENAI_USE_VERTEXAI` in the environment never reroutes
 *   a Gemini key.
 *
 * @since 0.1.0
 */
import { AgentError, Model } from "@effect-agents/core"
import { GoogleGenAI } from "@google/genai"
import type * as GenAI from "@google/genai"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as Convert from "./internal/convert.js"
import * as Errors from "./internal/errors.js"
import * as Output from "./internal/output.js"
import * as FinishMessages from "./internal/finishMessages.js"

/**
 * Generation settings passed to every request (`temperature`, `maxOutputTokens`,
 * `thinkingConfig`, `safetySettings`, `toolConfig`, ...). The fields the layer manages itself are
 * left out. With `cachedContent` (a context cache made with the agent's system instruction and
 * tools), the system instruction, tools and tool config are not sent: the API takes them from the
 * cache and refuses requests that repeat them. `candidateCount` above 1 is refused: only the first
 * candidate is read.
 *
 * @since 0.1.0
 */
export type GenerationConfig = Omit<
  GenAI.GenerateContentConfig,
  "abortSignal" | "httpOptions" | "systemInstruction" | "tools" | "automaticFunctionCalling"
>

/**
 * Vertex AI instead of the Gemini API: requests go to the project's regional endpoint and are
 * authorized with application-default credentials (`gcloud auth application-default login`, a
 * service account, the metadata server), or with `googleAuthOptions`.
 *
 * @since 0.1.0
 */
export interface VertexAI {
  readonly project: string
  /** A region such as `"us-central1"`, or `"global"`. */
  readonly location: string
  /** Passed to `google-auth-library`'s `GoogleAuth`, e.g. `{ keyFilename }` or `{ authClient }`. */
  readonly googleAuthOptions?: GenAI.GoogleGenAIOptions["googleAuthOptions"] | undefined
}

/**
 * Gemini's built-in tools, declared next to the agent's function tools (Gemini 3 models take
 * both together). Their results (search grounding, executed code and its output, fetched pages)
 * come back as parts that are kept in the history.
 *
 * @since 0.1.0
 */
export interface BuiltInTools {
  readonly googleSearch?: boolean | GenAI.GoogleSearch | undefined
  readonly codeExecution?: boolean | undefined
  readonly urlContext?: boolean | undefined
}

/**
 * @since 0.1.0
 */
export interface Options {
  /** Model name, e.g. `"gemini-2.5-flash"`. */
  readonly model: string
  /**
   * Gemini API: default `Config.redacted("GEMINI_API_KEY")`. Vertex AI: optional (express mode);
   * without it, application-default credentials are used.
   */
  readonly apiKey?: Redacted.Redacted<string> | undefined
  /** Use Vertex AI. Without it the Gemini API is used, whatever `GOOGLE_GENAI_USE_VERTEXAI` says. */
  readonly vertexai?: VertexAI | undefined
  /** Another endpoint, e.g. a `GeminiEmulator`'s `baseUrl`. */
  readonly baseUrl?: string | undefined
  readonly generationConfig?: GenerationConfig | undefined
  readonly builtInTools?: BuiltInTools | undefined
}

/**
 * Build the `Model` service. On the Gemini API, reads `GEMINI_API_KEY` when `apiKey` is not
 * given; fails with a `ConfigError` for a `candidateCount` above 1.
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
export const make = (options: Options): Effect.Effect<Model.Model.Service, ConfigError.ConfigError> => {
  const candidates = options.generationConfig?.candidateCount
  if (candidates !== undefined && candidates > 1) {
    return Effect.fail(ConfigError.InvalidData(
      ["generationConfig", "candidateCount"],
      `Gemini.layer reads only the first candidate, so candidateCount must be 1, got ${candidates}. Run several conversations instead.`
    ))
  }
  const apiKey = options.apiKey !== undefined || options.vertexai !== undefined
    ? Effect.succeed(options.apiKey)
    : Config.redacted("GEMINI_API_KEY")
  return Effect.map(apiKey, (apiKey) => makeWith(options, apiKey))
}

const makeWith = (options: Options, apiKey: Redacted.Redacted<string> | undefined): Model.Model.Service => {
  const vertex = options.vertexai
  // Vertex AI keeps `finishMessage`; the SDK drops it on the Gemini API path (see FinishMessages)
  const finishMessages = vertex === undefined ? FinishMessages.make() : undefined
  const client = new GoogleGenAI({
    // pinned either way, so GOOGLE_GENAI_USE_VERTEXAI cannot reroute the key to another endpoint
    vertexai: vertex !== undefined,
    ...(apiKey !== undefined ? { apiKey: Redacted.value(apiKey) } : {}),
    ...(vertex !== undefined ? { project: vertex.project, location: vertex.location } : {}),
    ...(vertex?.googleAuthOptions !== undefined ? { googleAuthOptions: vertex.googleAuthOptions } : {}),
    httpOptions: {
      ...(options.baseUrl !== undefined ? { baseUrl: options.baseUrl } : {}),
      ...(finishMessages !== undefined ? { fetch: finishMessages.fetch } : {})
    }
  })
  /** The response with its first candidate's `finishMessage` restored, when the SDK dropped it. */
  const restored = (response: GenAI.GenerateContentResponse): GenAI.GenerateContentResponse => {
    const candidate = response.candidates?.[0]
    if (finishMessages !== undefined && candidate !== undefined && candidate.finishMessage === undefined) {
      const message = finishMessages.take(response.responseId)
      if (message !== undefined) candidate.finishMessage = message
    }
    return response
  }
  const model = options.model
  const key = apiKey !== undefined ? Redacted.value(apiKey) : ""
  const scrub = (text: string): string =>
    key.length > 0 && text.includes(key) ? text.split(key).join("[redacted]") : text
  const credentialHint = vertex !== undefined && apiKey === undefined ? Errors.vertexHint : Errors.apiKeyHint
  const fail = (error: unknown) => Errors.fromUnknown(error, scrub, credentialHint)
  let ids = 0
  const nextId: Convert.IdGenerator = () => `gemini-call-${++ids}`

  const toolsOf = Convert.toolsOf(builtInToolsOf(options.builtInTools))
  const cached = options.generationConfig?.cachedContent !== undefined
  const { toolConfig: _, ...uncachedConfig } = options.generationConfig ?? {}

  const parameters = (request: Model.ModelRequest, signal: AbortSignal): GenAI.GenerateContentParameters => {
    if (cached) {
      // the cache holds the system instruction, tools and tool config; the API refuses them here
      return {
        model,
        contents: Convert.toContents(request.contents),
        config: { ...uncachedConfig, automaticFunctionCalling: { disable: true }, abortSignal: signal }
      }
    }
    const output = Output.modeOf(request, model)
    const tools = toolsOf(output === "tool" ? Output.declarationsWithFinalAnswer(request.tools, request.output!) : request.tools)
    return {
      model,
      contents: Convert.toContents(request.contents),
      config: {
        ...options.generationConfig,
        ...(output === "json" ? Output.jsonConfig(request.output!) : {}),
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

  /** The answer; it throws the typed failure it is (a blocked prompt, a malformed answer), or a defect as `Died`. */
  const answerOf = (request: Model.ModelRequest, raw: GenAI.GenerateContentResponse): Model.ModelResponse => {
    let converted: Either.Either<Model.ModelResponse, AgentError.ModelError>
    try {
      converted = Either.map(
        Convert.fromResponse(restored(raw), nextId),
        (response) => Output.modeOf(request, model) === "tool" ? { ...response, parts: Output.finalAnswerAsText(response.parts) } : response
      )
    } catch (defect) {
      throw new Died(defect)
    }
    if (converted._tag === "Left") throw converted.left
    return converted.right
  }

  // a Promise call (`Model.fromPromise`): an agent's run awaits it with one timer and no fiber
  const generate = (request: Model.ModelRequest): Effect.Effect<Model.ModelResponse, AgentError.ModelError> =>
    Model.fromPromise(
      (signal) => client.models.generateContent(parameters(request, signal)).then((raw) => answerOf(request, raw)),
      (error) => {
        // `Errors.fromUnknown` never sees a model error: one here is the answer's own
        if (AgentError.isModelError(error)) return error
        // a bug in the conversion stays a defect, as it was when the conversion ran in the Effect
        if (error instanceof Died) throw error.defect
        return fail(error)
      },
      { span: "Gemini.generate", attributes: spanAttributes(request) }
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
      const state = Convert.streamState()
      const next = Effect.tryPromise({
        try: () => iterator.next(),
        catch: (error) => Option.some(fail(error))
      }).pipe(
        Effect.flatMap((result) =>
          result.done
            ? Effect.fail(Option.none())
            : Either.match(Convert.fromChunk(restored(result.value), state, nextId), {
              onLeft: (error) => Effect.fail(Option.some(error)),
              onRight: (chunk) =>
                Effect.succeed(
                  Output.modeOf(request, model) === "tool" ? { ...chunk, parts: Output.finalAnswerAsText(chunk.parts) } : chunk
                )
            })
        )
      )
      return Stream.repeatEffectOption(next).pipe(
        Stream.concat(Stream.suspend(() => {
          const failure = Convert.endOfStream(state)
          return failure === undefined ? Stream.empty : Stream.fail(failure)
        }))
      )
    })).pipe(Stream.withSpan("Gemini.stream", { attributes: spanAttributes(request) }))

  return { generate, stream, info: { provider: vertex === undefined ? "gcp.gemini" : "gcp.vertex_ai", model } }
}

const builtInToolsOf = (tools: BuiltInTools | undefined): ReadonlyArray<GenAI.Tool> => {
  if (tools === undefined) return []
  const out: Array<GenAI.Tool> = []
  if (tools.googleSearch) out.push({ googleSearch: tools.googleSearch === true ? {} : tools.googleSearch })
  if (tools.codeExecution) out.push({ codeExecution: {} })
  if (tools.urlContext) out.push({ urlContext: {} })
  return out
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
 *
 * // Vertex AI with application-default credentials, Google Search next to the agent's tools
 * const onVertex = Gemini.layer({
 *   model: "gemini-3-pro-preview",
 *   vertexai: { project: "my-project", location: "global" },
 *   builtInTools: { googleSearch: true }
 * })
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
  readonly builtInTools?: BuiltInTools | undefined
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
        layer({
          model,
          apiKey,
          baseUrl: Option.getOrUndefined(baseUrl),
          generationConfig: options.generationConfig,
          builtInTools: options.builtInTools
        })
    )
  )

/** A defect of the answer's conversion, carried through the call's promise to be raised as a defect again. */
class Died {
  constructor(readonly defect: unknown) {}
}
