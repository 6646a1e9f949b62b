/**
 * Conversions between core content and Gemini's wire types, both ways.
 *
 * Opaque Gemini part fields (`thoughtSignature`, and any field the core has no concept of) are
 * kept in the core part's `metadata.gemini` and written back unchanged on later requests.
 * Function calls that arrived without an id get a synthetic one, marked with
 * `metadata.geminiSyntheticId`, which is never sent back to the API.
 */
import { AgentError, type Content, type Model } from "@effect-agents/core"
import type * as GenAI from "@google/genai"
import * as Either from "effect/Either"

/** Key of the opaque Gemini part fields in a core part's `metadata`. */
export const metadataKey = "gemini"

/** Marks a function call whose id was synthesized (Gemini sent none). */
export const syntheticIdKey = "geminiSyntheticId"

/** Part fields that carry the part's data: a part written back with one of these needs no `text`. */
const dataFields = ["inlineData", "fileData", "executableCode", "codeExecutionResult", "toolCall", "toolResponse"]

type Opaque = Record<string, unknown>

const opaqueOf = (metadata: Content.Metadata | undefined): Opaque | undefined => {
  const value = metadata?.[metadataKey]
  return typeof value === "object" && value !== null ? value as Opaque : undefined
}

const withOpaque = (opaque: Opaque | undefined, extra?: Record<string, unknown>): Content.Metadata | undefined => {
  if (opaque === undefined && extra === undefined) return undefined
  return { ...(opaque !== undefined ? { [metadataKey]: opaque } : {}), ...extra }
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
  const opaque = opaqueOf(part.metadata)
  switch (part._tag) {
    case "Text": {
      if (opaque !== undefined && part.text === "" && dataFields.some((field) => field in opaque)) return { ...opaque }
      return { ...opaque, text: part.text }
    }
    case "FunctionCall":
      return {
        ...opaque,
        functionCall: {
          ...(synthetic.has(part.id) ? {} : { id: part.id }),
          name: part.name,
          args: argsOf(part.args)
        }
      }
    case "FunctionResponse":
      return {
        ...opaque,
        functionResponse: {
          ...(synthetic.has(part.id) ? {} : { id: part.id }),
          name: part.name,
          response: part.isError ? { error: part.output } : { output: part.output }
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

const toolsCache = new WeakMap<ReadonlyArray<Model.ToolDeclaration>, Array<GenAI.Tool>>()

/**
 * Tool declarations as one Gemini `Tool` of `functionDeclarations` with `parametersJsonSchema`.
 * Built once per declarations array (the run loop reuses one array per agent).
 */
export const toTools = (declarations: ReadonlyArray<Model.ToolDeclaration>): Array<GenAI.Tool> | undefined => {
  if (declarations.length === 0) return undefined
  let tools = toolsCache.get(declarations)
  if (tools === undefined) {
    tools = [{
      functionDeclarations: declarations.map((declaration) => ({
        name: declaration.name,
        description: declaration.description,
        parametersJsonSchema: declaration.parameters
      }))
    }]
    toolsCache.set(declarations, tools)
  }
  return tools
}

// -----------------------------------------------------------------------------
// Gemini → core
// -----------------------------------------------------------------------------

/** Makes ids for function calls that arrived without one: unique for the life of a `Gemini` layer. */
export type IdGenerator = () => string

/**
 * A Gemini part as a core part, or `undefined` for parts with nothing to keep (thought
 * summaries without a signature).
 */
export const fromPart = (part: GenAI.Part, nextId: IdGenerator): Content.Part | undefined => {
  const { functionCall, functionResponse: _functionResponse, text, thought, ...rest } = part
  const opaque = isEmpty(rest) ? undefined : rest as Opaque
  if (functionCall !== undefined) {
    const synthesized = functionCall.id === undefined || functionCall.id === ""
    const metadata = withOpaque(opaque, synthesized ? { [syntheticIdKey]: true } : undefined)
    return {
      _tag: "FunctionCall",
      id: synthesized ? nextId() : functionCall.id!,
      name: functionCall.name ?? "",
      args: functionCall.args ?? {},
      ...(metadata !== undefined ? { metadata } : {})
    }
  }
  if (thought === true) {
    // A thought summary is not part of the answer; only its signature (if any) is kept.
    return opaque === undefined ? undefined : { _tag: "Text", text: "", metadata: { [metadataKey]: opaque } }
  }
  if (text !== undefined) {
    return opaque === undefined ? { _tag: "Text", text } : { _tag: "Text", text, metadata: { [metadataKey]: opaque } }
  }
  // Data the core has no part for (inline data, executable code, ...): kept opaque, sent back as is.
  return opaque === undefined ? undefined : { _tag: "Text", text: "", metadata: { [metadataKey]: opaque } }
}

/** Usage metadata as core `Usage` (thoughts count as output, tool-use prompts as input). */
export const toUsage = (usage: GenAI.GenerateContentResponseUsageMetadata | undefined): Model.Usage => {
  if (usage === undefined) return { inputTokens: 0, outputTokens: 0, totalTokens: 0 }
  const inputTokens = (usage.promptTokenCount ?? 0) + (usage.toolUsePromptTokenCount ?? 0)
  const outputTokens = (usage.candidatesTokenCount ?? 0) + (usage.thoughtsTokenCount ?? 0)
  return { inputTokens, outputTokens, totalTokens: usage.totalTokenCount ?? inputTokens + outputTokens }
}

const blockedFinishReasons = new Set([
  "SAFETY",
  "RECITATION",
  "BLOCKLIST",
  "PROHIBITED_CONTENT",
  "SPII",
  "IMAGE_SAFETY",
  "IMAGE_PROHIBITED_CONTENT"
])

const malformedFinishReasons = new Set(["MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL"])

/** A Gemini finish reason as a core `FinishReason`. */
export const toFinishReason = (reason: string | undefined, hasCalls: boolean): Model.FinishReason => {
  if (reason === undefined) return hasCalls ? "tool-calls" : "unknown"
  if (reason === "STOP") return hasCalls ? "tool-calls" : "stop"
  if (reason === "MAX_TOKENS") return "max-tokens"
  if (blockedFinishReasons.has(reason)) return "content-filter"
  if (reason === "FINISH_REASON_UNSPECIFIED") return "unknown"
  return "other"
}

/** A failure a response itself reports: a blocked prompt, a blocked answer, a malformed call. */
const responseFailure = (
  response: GenAI.GenerateContentResponse,
  candidate: GenAI.Candidate | undefined
): AgentError.ModelError | undefined => {
  const feedback = response.promptFeedback
  if (feedback?.blockReason !== undefined) {
    const message = feedback.blockReasonMessage ? `: ${feedback.blockReasonMessage}` : ""
    return new AgentError.ContentBlocked({ reason: `prompt blocked: ${feedback.blockReason}${message}` })
  }
  const reason = candidate?.finishReason
  if (reason === undefined) return undefined
  if (blockedFinishReasons.has(reason)) {
    const categories = (candidate?.safetyRatings ?? []).filter((rating) => rating.blocked).map((rating) => rating.category)
    return new AgentError.ContentBlocked({
      reason: `response stopped: ${reason}${categories.length > 0 ? ` (${categories.join(", ")})` : ""}`
    })
  }
  if (malformedFinishReasons.has(reason)) {
    return new AgentError.MalformedResponse({
      detail: `Gemini finished with ${reason}${candidate?.finishMessage ? `: ${candidate.finishMessage}` : ""}`
    })
  }
  return undefined
}

const partsOf = (candidate: GenAI.Candidate | undefined, nextId: IdGenerator): Array<Content.Part> => {
  const parts: Array<Content.Part> = []
  for (const part of candidate?.content?.parts ?? []) {
    const converted = fromPart(part, nextId)
    if (converted !== undefined) parts.push(converted)
  }
  return parts
}

const hasCall = (parts: ReadonlyArray<Content.Part>): boolean => parts.some((part) => part._tag === "FunctionCall")

/** A unary response as a core `ModelResponse`, or the `ModelError` it amounts to. */
export const fromResponse = (
  response: GenAI.GenerateContentResponse,
  nextId: IdGenerator
): Either.Either<Model.ModelResponse, AgentError.ModelError> => {
  const candidate = response.candidates?.[0]
  const failure = responseFailure(response, candidate)
  if (failure !== undefined) return Either.left(failure)
  if (candidate === undefined) {
    return Either.left(new AgentError.MalformedResponse({ detail: "Gemini returned no candidates" }))
  }
  const parts = partsOf(candidate, nextId)
  return Either.right({
    parts,
    usage: toUsage(response.usageMetadata),
    finishReason: toFinishReason(candidate.finishReason, hasCall(parts))
  })
}

/** Per-stream bookkeeping: whether any candidate or function call has been seen. */
export interface StreamState {
  candidates: number
  calls: boolean
}

/** One streamed chunk as a core `ModelChunk`, or the `ModelError` it amounts to. */
export const fromChunk = (
  response: GenAI.GenerateContentResponse,
  state: StreamState,
  nextId: IdGenerator
): Either.Either<Model.ModelChunk, AgentError.ModelError> => {
  const candidate = response.candidates?.[0]
  const failure = responseFailure(response, candidate)
  if (failure !== undefined) return Either.left(failure)
  if (candidate === undefined) {
    return Either.right(response.usageMetadata !== undefined ? { parts: [], usage: toUsage(response.usageMetadata) } : { parts: [] })
  }
  state.candidates++
  const parts = partsOf(candidate, nextId)
  if (hasCall(parts)) state.calls = true
  return Either.right({
    parts,
    ...(response.usageMetadata !== undefined ? { usage: toUsage(response.usageMetadata) } : {}),
    ...(candidate.finishReason !== undefined ? { finishReason: toFinishReason(candidate.finishReason, state.calls) } : {})
  })
}
