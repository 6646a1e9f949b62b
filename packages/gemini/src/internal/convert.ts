/**
 * Conversions between core content and Gemini's wire types, both ways.
 *
 * Parts are kept as Gemini sent them:
 * - a text part is a core text part; its other fields (`thoughtSignature`, ...) ride in
 *   `metadata.gemini` and are written back unchanged;
 * - a function call keeps its other fields the same way; one that arrived without an id gets a
 *   synthetic one, marked with `metadata.geminiSyntheticId`, which is never sent back;
 * - every other part (a thought, whether summary or signature carrier, `inlineData`,
 *   `executableCode`, `codeExecutionResult`, a lone signature, ...) is kept whole in
 *   `metadata.geminiPart` of an empty core text part, and written back byte for byte. A thought
 *   summary therefore never becomes answer text.
 *
 * A function response's media (`FunctionResponsePart.parts`, from `Content.toolOutput`) goes out
 * as `functionResponse.parts[].inlineData`, base64 with its MIME type, beside the JSON `response`.
 */
import { AgentError, Content, type Model } from "@effect-agents/core"
import type * as GenAI from "@google/genai"
import * as Either from "effect/Either"

/** Key of the opaque Gemini fields of a text or function-call part in a core part's `metadata`. */
export const metadataKey = "gemini"

/** Key of a whole Gemini part the core has no concept of, in an empty core text part's `metadata`. */
export const partKey = "geminiPart"

/** Marks a function call whose id was synthesized (Gemini sent none). */
export const syntheticIdKey = "geminiSyntheticId"

type Opaque = Record<string, unknown>

const objectAt = (metadata: Content.Metadata | undefined, key: string): Opaque | undefined => {
  const value = metadata?.[key]
  return typeof value === "object" && value !== null ? value as Opaque : undefined
}

const isEmpty = (record: Record<string, unknown>): boolean => {
  for (const _ in record) return false
  return true
}

// -----------------------------------------------------------------------------
// core → Gemini
// -----------------------------------------------------------------------------

const argsOf = (args: unknown): Record<string, unknown> =>
  typeof args === "object" && args !== null && !Array.isArray(args) ? args as Record<string, unknown> : {}

const toPart = (part: Content.Part, synthetic: ReadonlySet<string>): GenAI.Part => {
  switch (part._tag) {
    case "Text": {
      const whole = objectAt(part.metadata, partKey)
      if (whole !== undefined) return { ...whole }
      return { text: part.text, ...objectAt(part.metadata, metadataKey) }
    }
    case "FunctionCall":
      return {
        ...objectAt(part.metadata, metadataKey),
        functionCall: {
          ...(synthetic.has(part.id) ? {} : { id: part.id }),
          name: part.name,
          args: argsOf(part.args)
        }
      }
    case "FunctionResponse":
      return {
        ...objectAt(part.metadata, metadataKey),
        functionResponse: {
          ...(synthetic.has(part.id) ? {} : { id: part.id }),
          name: part.name,
          response: part.isError ? { error: part.output } : { output: part.output },
          // media a tool returned, as data parts of the response (Gemini 3 reads them as images, PDFs, ...)
          ...(part.parts !== undefined && part.parts.length > 0
            ? { parts: part.parts.map(({ data, mimeType }) => ({ inlineData: { mimeType, data } })) }
            : {})
        }
      }
  }
}

/** The ids of function calls whose id was synthesized; their responses are sent without id. */
const syntheticIds = (contents: ReadonlyArray<Content.Content>): ReadonlySet<string> => {
  let ids: Set<string> | undefined
  for (const content of contents) {
    if (content.role !== "model") continue
    for (const part of content.parts) {
      if (part._tag === "FunctionCall" && part.metadata?.[syntheticIdKey] === true) (ids ??= new Set()).add(part.id)
    }
  }
  return ids ?? emptySet
}

const emptySet: ReadonlySet<string> = new Set()

/** A conversation history as Gemini `contents`; function responses keep their order. */
export const toContents = (contents: ReadonlyArray<Content.Content>): Array<GenAI.Content> => {
  const synthetic = syntheticIds(contents)
  return contents.map((content) => ({
    role: content.role,
    parts: content.parts.map((part) => toPart(part, synthetic))
  }))
}

/**
 * Tool declarations as one Gemini `Tool` of `functionDeclarations` with `parametersJsonSchema`,
 * followed by the built-in tools of the layer. Each declarations array is converted once (the run
 * loop reuses one array per agent).
 */
export const toolsOf = (builtIn: ReadonlyArray<GenAI.Tool>) => {
  const cache = new WeakMap<ReadonlyArray<Model.ToolDeclaration>, Array<GenAI.Tool>>()
  return (declarations: ReadonlyArray<Model.ToolDeclaration>): Array<GenAI.Tool> | undefined => {
    if (declarations.length === 0) return builtIn.length === 0 ? undefined : builtIn as Array<GenAI.Tool>
    let tools = cache.get(declarations)
    if (tools === undefined) {
      tools = [{
        functionDeclarations: declarations.map((declaration) => ({
          name: declaration.name,
          description: declaration.description,
          parametersJsonSchema: declaration.parameters
        }))
      }, ...builtIn]
      cache.set(declarations, tools)
    }
    return tools
  }
}

// -----------------------------------------------------------------------------
// Gemini → core
// -----------------------------------------------------------------------------

/** Makes ids for function calls that arrived without one: unique for the life of a `Gemini` layer. */
export type IdGenerator = () => string

/** A Gemini part as a core part (see the module documentation). */
export const fromPart = (part: GenAI.Part, nextId: IdGenerator): Content.Part => {
  const { functionCall, ...rest } = part
  if (functionCall !== undefined) {
    const synthesized = functionCall.id === undefined || functionCall.id === ""
    const metadata: Record<string, unknown> = {}
    if (!isEmpty(rest)) metadata[metadataKey] = rest
    if (synthesized) metadata[syntheticIdKey] = true
    return {
      _tag: "FunctionCall",
      id: synthesized ? nextId() : functionCall.id!,
      name: functionCall.name ?? "",
      args: functionCall.args ?? {},
      ...(isEmpty(metadata) ? {} : { metadata })
    }
  }
  const { text, ...fields } = rest
  if (typeof text === "string" && part.thought !== true) {
    return isEmpty(fields) ? { _tag: "Text", text } : { _tag: "Text", text, metadata: { [metadataKey]: fields } }
  }
  return { _tag: "Text", text: "", metadata: { [partKey]: part } }
}

/** Fields a part may carry without being content: a thought, or a signature on empty text. */
const nonContentFields = new Set(["text", "thought", "thoughtSignature", "partMetadata"])

/** Whether a Gemini part is part of an answer: a call, text, or data (not a thought, not a bare signature). */
const isContent = (part: GenAI.Part): boolean => {
  if (part.functionCall !== undefined) return true
  if (part.thought === true) return false
  if (typeof part.text === "string" && part.text.length > 0) return true
  for (const key in part) if (!nonContentFields.has(key)) return true
  return false
}

/** Usage metadata as core `Usage`: thoughts count as output, tool-use prompts as input. */
export const toUsage = (usage: GenAI.GenerateContentResponseUsageMetadata | undefined): Model.Usage => {
  if (usage === undefined) return { inputTokens: 0, outputTokens: 0, totalTokens: 0 }
  const inputTokens = (usage.promptTokenCount ?? 0) + (usage.toolUsePromptTokenCount ?? 0)
  const outputTokens = (usage.candidatesTokenCount ?? 0) + (usage.thoughtsTokenCount ?? 0)
  return {
    inputTokens,
    outputTokens,
    totalTokens: usage.totalTokenCount ?? inputTokens + outputTokens,
    ...(usage.cachedContentTokenCount !== undefined ? { cachedInputTokens: usage.cachedContentTokenCount } : {}),
    ...(usage.thoughtsTokenCount !== undefined ? { reasoningTokens: usage.thoughtsTokenCount } : {})
  }
}

const blockedFinishReasons = new Set(["SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII"])

const isBlocked = (reason: string): boolean => blockedFinishReasons.has(reason) || reason.startsWith("IMAGE_")

/** Finish reasons of a function call the model could not form: transient, so retried. */
const unusableFinishReasons = new Set(["MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL"])

/** Finish reasons of an answer cut at a token limit. */
const truncatedFinishReasons = new Set(["MAX_TOKENS", "CONTINUATION"])

/** A Gemini finish reason as a core `FinishReason`. */
export const toFinishReason = (reason: string | undefined, hasCalls: boolean): Model.FinishReason => {
  if (reason === undefined) return hasCalls ? "tool-calls" : "unknown"
  if (reason === "STOP") return hasCalls ? "tool-calls" : "stop"
  if (truncatedFinishReasons.has(reason)) return "max-tokens"
  if (isBlocked(reason)) return "content-filter"
  if (reason === "FINISH_REASON_UNSPECIFIED") return "unknown"
  return "other"
}

const withMessage = (text: string, message: string | undefined): string => message ? `${text}: ${message}` : text

/** A blocked prompt, or a candidate stopped by a filter or by a call the model could not form. */
const stopFailure = (
  response: GenAI.GenerateContentResponse,
  candidate: GenAI.Candidate | undefined
): AgentError.ModelError | undefined => {
  const feedback = response.promptFeedback
  if (feedback?.blockReason !== undefined) {
    return new AgentError.ContentBlocked({
      reason: withMessage(`prompt blocked: ${feedback.blockReason}`, feedback.blockReasonMessage)
    })
  }
  const reason = candidate?.finishReason
  if (reason === undefined) return undefined
  if (isBlocked(reason)) {
    const categories = (candidate?.safetyRatings ?? []).filter((rating) => rating.blocked).map((rating) => rating.category)
    return new AgentError.ContentBlocked({
      reason: withMessage(
        `response stopped: ${reason}${categories.length > 0 ? ` (${categories.join(", ")})` : ""}`,
        candidate?.finishMessage
      )
    })
  }
  if (unusableFinishReasons.has(reason)) {
    return new AgentError.UnusableResponse({
      finishReason: reason,
      detail: withMessage(
        reason === "MALFORMED_FUNCTION_CALL"
          ? "Gemini produced a function call that does not parse"
          : "Gemini called a tool that was not declared",
        candidate?.finishMessage
      )
    })
  }
  return undefined
}

/** What a whole answer amounts to once its finish reason is known, when it is not a normal answer. */
const outcomeFailure = (
  reason: string | undefined,
  finishMessage: string | undefined,
  content: boolean,
  text: string,
  thoughtTokens: number | undefined
): AgentError.ModelError | undefined => {
  const finish = reason ?? "no finish reason"
  if (!content) {
    return new AgentError.UnusableResponse({
      finishReason: finish,
      detail: withMessage(
        reason !== undefined && truncatedFinishReasons.has(reason)
          ? `the output token limit was spent before any answer${
            thoughtTokens ? ` (${thoughtTokens} thinking tokens)` : ""
          }; raise generationConfig.maxOutputTokens or lower thinkingConfig.thinkingBudget`
          : "Gemini returned a candidate without answer parts",
        finishMessage
      )
    })
  }
  if (reason !== undefined && truncatedFinishReasons.has(reason)) {
    return new AgentError.OutputTruncated({
      partialText: text,
      detail: withMessage(
        `Gemini finished with ${reason}; raise generationConfig.maxOutputTokens or ask for a shorter answer`,
        finishMessage
      )
    })
  }
  return undefined
}

const partsOf = (candidate: GenAI.Candidate, nextId: IdGenerator): Array<Content.Part> =>
  (candidate.content?.parts ?? []).map((part) => fromPart(part, nextId))

const hasCall = (parts: ReadonlyArray<Content.Part>): boolean => parts.some((part) => part._tag === "FunctionCall")

/** A unary response as a core `ModelResponse`, or the `ModelError` it amounts to. Only the first candidate is read. */
export const fromResponse = (
  response: GenAI.GenerateContentResponse,
  nextId: IdGenerator
): Either.Either<Model.ModelResponse, AgentError.ModelError> => {
  const candidate = response.candidates?.[0]
  const stopped = stopFailure(response, candidate)
  if (stopped !== undefined) return Either.left(stopped)
  if (candidate === undefined) {
    return Either.left(new AgentError.MalformedResponse({ detail: "Gemini returned no candidates" }))
  }
  const parts = partsOf(candidate, nextId)
  const failure = outcomeFailure(
    candidate.finishReason,
    candidate.finishMessage,
    (candidate.content?.parts ?? []).some(isContent),
    Content.textOf(parts),
    response.usageMetadata?.thoughtsTokenCount
  )
  if (failure !== undefined) return Either.left(failure)
  return Either.right({
    parts,
    usage: toUsage(response.usageMetadata),
    finishReason: toFinishReason(candidate.finishReason, hasCall(parts))
  })
}

/** Per-stream bookkeeping, read when the stream ends. */
export interface StreamState {
  candidates: number
  calls: boolean
  content: boolean
  text: string
  finishReason: string | undefined
  finishMessage: string | undefined
  thoughtTokens: number | undefined
}

/** A fresh `StreamState`. */
export const streamState = (): StreamState => ({
  candidates: 0,
  calls: false,
  content: false,
  text: "",
  finishReason: undefined,
  finishMessage: undefined,
  thoughtTokens: undefined
})

/** One streamed chunk as a core `ModelChunk`, or the `ModelError` it amounts to. */
export const fromChunk = (
  response: GenAI.GenerateContentResponse,
  state: StreamState,
  nextId: IdGenerator
): Either.Either<Model.ModelChunk, AgentError.ModelError> => {
  const candidate = response.candidates?.[0]
  const stopped = stopFailure(response, candidate)
  if (stopped !== undefined) return Either.left(stopped)
  if (response.usageMetadata?.thoughtsTokenCount !== undefined) state.thoughtTokens = response.usageMetadata.thoughtsTokenCount
  const usage = response.usageMetadata !== undefined ? { usage: toUsage(response.usageMetadata) } : {}
  if (candidate === undefined) return Either.right({ parts: [], ...usage })
  state.candidates++
  const parts = partsOf(candidate, nextId)
  if (hasCall(parts)) state.calls = true
  if (!state.content) state.content = (candidate.content?.parts ?? []).some(isContent)
  state.text += Content.textOf(parts)
  if (candidate.finishReason !== undefined) state.finishReason = candidate.finishReason
  if (candidate.finishMessage !== undefined) state.finishMessage = candidate.finishMessage
  return Either.right({
    parts,
    ...usage,
    ...(candidate.finishReason !== undefined ? { finishReason: toFinishReason(candidate.finishReason, state.calls) } : {})
  })
}

/** The failure a stream amounts to once it has ended, if it is not a normal answer. */
export const endOfStream = (state: StreamState): AgentError.ModelError | undefined =>
  state.candidates === 0
    ? new AgentError.MalformedResponse({ detail: "Gemini's stream ended without candidates" })
    : outcomeFailure(state.finishReason, state.finishMessage, state.content, state.text, state.thoughtTokens)
