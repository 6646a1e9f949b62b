import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { type GuardrailFailed, type GuardrailTripped, type ModelError, ModelTimeout } from "../AgentError.js"
import * as Event from "../AgentEvent.js"
import { collectChunks, type ModelChunk, type ModelRequest, type ModelResponse } from "../Model.js"
import { oneField, publish, publishValue, type TurnContext } from "./events.js"
import { promiseTimeout, timeoutFail } from "./fiber.js"
import { watchText } from "./guardrail.js"
import * as promiseCall from "./promiseCall.js"
import { requestContents, responseContents } from "./tracing.js"

/**
 * A model call with its retries: each attempt is announced (`ModelRequested`), streamed or not,
 * and bounded by `policy.modelTimeout`; an attempt that fails with a retryable error (and
 * nothing else) is retried on `policy.modelRetry`, a server's retry delay winning over the
 * schedule's, each retry announced with its delay (`RetryScheduled`), preceded by `TextReset` when
 * the failed attempt had streamed text.
 *
 * @internal
 */
export const modelCall = (ctx: TurnContext, request: ModelRequest): Effect.Effect<ModelResponse, CallError> => {
  // the first attempt costs no schedule: the retry machinery is built only when it fails
  const call = Effect.catchAllCause(attempt(ctx, request, 1), (cause) => retried(ctx, request, cause))
  return ctx.state.traced ? traced(ctx, request, call) : call
}

/** After a failed first attempt: the retries, when it failed with a retryable error (and nothing else). */
const retried = (ctx: TurnContext, request: ModelRequest, cause: Cause.Cause<CallError>): Effect.Effect<ModelResponse, CallError> => {
  const error = retryableError(cause)
  return error === undefined ? Effect.failCause(cause) : retry(ctx, request, error)
}

/** What takes a model call's response: the turn loop. */
export interface Responder<A, E, R> {
  readonly respond: (ctx: TurnContext, response: ModelResponse) => Effect.Effect<A, E, R>
}

/**
 * {@link modelCall}, then `next.respond` with its response. Untraced, the two are one frame on
 * the fiber's stack while the call waits (a conversation waiting on its model holds that frame).
 *
 * @internal
 */
export const modelCallThen = <A, E, R>(
  ctx: TurnContext,
  request: ModelRequest,
  next: Responder<A, E, R>
): Effect.Effect<A, CallError | E, R> =>
  ctx.state.traced
    ? Effect.flatMap(modelCall(ctx, request), (response) => next.respond(ctx, response))
    : Effect.matchCauseEffect(attempt(ctx, request, 1), {
      onFailure: (cause) => Effect.flatMap(retried(ctx, request, cause), (response) => next.respond(ctx, response)),
      onSuccess: (response) => next.respond(ctx, response)
    })

/**
 * The call, retries included, as a `generate_content {model}` span (OpenTelemetry GenAI
 * conventions; `chat` for a model that does not say it is Gemini), opened only when the run's
 * tracer exports spans: provider, model, agent, conversation (run id), then the usage and
 * finish reason, or `error.type` (the error's tag). With contents opted in (`Tracing`), the
 * request's messages and the answer too.
 */
const traced = (ctx: TurnContext, request: ModelRequest, call: Effect.Effect<ModelResponse, CallError>) => {
  const info = ctx.state.model.info
  const operation = info?.provider === "gcp.gemini" || info?.provider === "gcp.vertex_ai" ? "generate_content" : "chat"
  const attributes: Record<string, unknown> = {
    "gen_ai.operation.name": operation,
    "gen_ai.agent.name": ctx.path,
    "gen_ai.conversation.id": ctx.state.runId
  }
  if (info !== undefined) {
    attributes["gen_ai.provider.name"] = info.provider
    attributes["gen_ai.request.model"] = info.model
  }
  const contents = ctx.state.contents
  if (contents) Object.assign(attributes, requestContents(request))
  return Effect.withSpan(
    Effect.tapBoth(call, {
      onSuccess: (response) =>
        Effect.annotateCurrentSpan({
          "gen_ai.usage.input_tokens": response.usage.inputTokens,
          "gen_ai.usage.output_tokens": response.usage.outputTokens,
          "gen_ai.response.finish_reasons": [response.finishReason],
          ...(contents ? { "gen_ai.output.messages": responseContents(response) } : undefined)
        }),
      onFailure: (error) => Effect.annotateCurrentSpan("error.type", error._tag)
    }),
    info === undefined ? operation : `${operation} ${info.model}`,
    { attributes, kind: "client", captureStackTrace: false }
  )
}

/** One attempt: announced, streamed or not, and bounded by `policy.modelTimeout`. */
const attempt = (ctx: TurnContext, request: ModelRequest, n: number): Effect.Effect<ModelResponse, CallError> => {
  const { policy, state } = ctx
  publishValue(state, modelRequested, ctx.path, ctx.turn, n)
  const timeout = () => timedOut(policy.modelTimeout)
  // not joined back: what a model layer sets in its fiber stays there. Joining would cost ≈ 41,000
  // instructions per call (callgrind), 13 % of a run with one tool call.
  if (!state.sink.streaming) {
    const generated = state.model.generate(request)
    // a Promise call (`Model.fromPromise`) is awaited with one timer and no fiber; traced, it runs as
    // the Effect it is, for its span
    const call = state.traced ? undefined : promiseCall.of(generated)
    return call === undefined
      ? timeoutFail(generated, policy.modelTimeout, timeout, { join: false })
      : promiseTimeout(call.evaluate, call.onError, policy.modelTimeout, timedOut)
  }
  const streamed = { text: false }
  return Effect.tapErrorCause(
    timeoutFail(streamCall(ctx, request, streamed), policy.modelTimeout, timeout, { join: false }),
    (cause) =>
      Effect.sync(() => {
        // text already out, and a retry will send it again: stream consumers drop what they have
        if (streamed.text && retryableError(cause) !== undefined) {
          publish(state, Event.TextReset, ctx.path, ctx.turn, { attempt: n })
        }
      })
  )
}

const modelRequested = oneField(Event.ModelRequested, "attempt")

const timedOut = (after: Duration.Duration) => new ModelTimeout({ after })

/**
 * The error to retry on, when the attempt failed with a retryable model error and nothing else.
 * A defect beside it (a finalizer that died when the attempt timed out) ends the call with the
 * whole cause instead: no error is dropped by retrying.
 */
const retryableError = (cause: Cause.Cause<CallError>): ModelError | undefined =>
  Cause.isFailType(cause) && typeof cause.error === "object" && cause.error !== null && "retryable" in cause.error &&
    cause.error.retryable
    ? cause.error
    : undefined

/**
 * Attempts 2, 3, … after `first` failed: `policy.modelRetry` decides whether and when, driven
 * by `Schedule.driver` (so the delays run on the Effect `Clock`).
 */
const retry = (ctx: TurnContext, request: ModelRequest, first: ModelError): Effect.Effect<ModelResponse, CallError> =>
  Effect.gen(function*() {
    let n = 1
    const driver = yield* Schedule.driver(announced(ctx, () => n + 1))
    let error = first
    for (;;) {
      // announces the retry and sleeps its delay; when the schedule is done, the last error stands
      yield* Effect.orElseFail(driver.next(error), () => error)
      n++
      const exit = yield* Effect.exit(attempt(ctx, request, n))
      if (Exit.isSuccess(exit)) return exit.value
      const next = retryableError(exit.cause)
      if (next === undefined) return yield* exit
      error = next
    }
  })

/**
 * `policy.modelRetry` with the error as its output, a server's retry delay (a 429's
 * `retryAfter`) replacing the schedule's, delays in whole milliseconds, and each decision to go
 * on announced with its delay as `RetryScheduled` for attempt `attempt()`.
 */
const announced = (ctx: TurnContext, attempt: () => number): Schedule.Schedule<ModelError, ModelError> =>
  Schedule.modifyDelayEffect(Schedule.passthrough(ctx.policy.modelRetry), (error, delay) =>
    Effect.sync(() => {
      const delayMillis = error._tag === "RateLimited" && error.retryAfter !== undefined
        ? Duration.toMillis(error.retryAfter)
        : Math.max(0, Math.round(Duration.toMillis(delay)))
      publish(ctx.state, Event.RetryScheduled, ctx.path, ctx.turn, {
        attempt: attempt(),
        delayMillis,
        error: error._tag,
        message: error.message
      })
      return Duration.millis(delayMillis)
    }))

/**
 * One streamed attempt: text deltas are published as they arrive (`streamed.text` records that
 * one was); the response is committed only when the stream ends. When output guardrails watch
 * the text, each chunk's text is published once they pass the text so far; a trip ends the
 * stream there (the model's stream is interrupted, the tripping text never published).
 */
const streamCall = (
  ctx: TurnContext,
  request: ModelRequest,
  streamed: { text: boolean }
): Effect.Effect<ModelResponse, CallError> =>
  Effect.suspend(() => {
    const chunks: Array<ModelChunk> = []
    const publishText = (chunk: ModelChunk) => {
      for (const part of chunk.parts) {
        if (part._tag === "Text" && part.text.length > 0) {
          streamed.text = true
          publish(ctx.state, Event.TextDelta, ctx.path, ctx.turn, { text: part.text })
        }
      }
    }
    const guards = ctx.compiled.guards
    let text = ""
    // a watch needs what the agent needs (`R` of the run), like its tools
    const onChunk: (chunk: ModelChunk) => Effect.Effect<void, CallError> = guards === undefined || guards.watch.length === 0
      ? (chunk) =>
        Effect.sync(() => {
          chunks.push(chunk)
          publishText(chunk)
        })
      : (chunk) => {
        chunks.push(chunk)
        const before = text
        for (const part of chunk.parts) if (part._tag === "Text") text += part.text
        if (text === before) return Effect.void
        return Effect.map(watchText(ctx, guards, text), () => publishText(chunk)) as Effect.Effect<void, CallError>
      }
    return Effect.map(Stream.runForEach(ctx.state.model.stream(request), onChunk), () => collectChunks(chunks))
  })

/** How a model call fails: a model error, or an output guardrail watching its streamed text. */
type CallError = ModelError | GuardrailTripped | GuardrailFailed
