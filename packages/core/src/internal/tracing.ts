import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type { Content, Part } from "../Content.js"
import type { ModelRequest, ModelResponse } from "../Model.js"
import type { RunState } from "./events.js"

/**
 * What spans record, by the OpenTelemetry GenAI conventions: the `invoke_agent` span of a run or
 * handoff segment, span events, and message contents (only when `RunState.contents`, see
 * `Tracing.ts`) as JSON text in the GenAI message format. Everything here runs only when
 * `RunState.traced`: a run whose tracer exports nothing builds none of it.
 *
 * @internal
 */

/** `self` as the `invoke_agent {path}` span of the agent at `path` (a run's root agent, or a handoff's target). */
export const agentSpan = <A, E, R>(self: Effect.Effect<A, E, R>, state: RunState, path: string): Effect.Effect<A, E, R> =>
  Effect.withSpan(self, `invoke_agent ${path}`, {
    attributes: {
      "gen_ai.operation.name": "invoke_agent",
      "gen_ai.agent.name": path,
      "gen_ai.conversation.id": state.runId,
      agent: path,
      runId: state.runId
    },
    captureStackTrace: false
  })

/** Add an event to the current span, stamped on the Effect `Clock`. */
export const spanEvent = (name: string, attributes: Record<string, unknown>): Effect.Effect<void> =>
  Effect.flatMap(Effect.option(Effect.currentSpan), (span) =>
    span._tag === "None"
      ? Effect.void
      : Effect.map(Clock.currentTimeNanos, (now) => span.value.event(name, now, attributes)))

/** JSON text for an attribute; a value JSON cannot carry becomes its description instead of failing the call. */
export const json = (value: unknown): string => {
  try {
    return JSON.stringify(value) ?? "null"
  } catch (error) {
    return JSON.stringify(`[not JSON: ${String(error)}]`)
  }
}

/**
 * A part in the GenAI message format (`text`, `tool_call`, `tool_call_response`); provider metadata
 * is left out, and so are the bytes of a tool's media: a `blob` part says only its MIME type.
 */
const partsOf = (part: Part): ReadonlyArray<object> => {
  switch (part._tag) {
    case "Text":
      return [{ type: "text", content: part.text }]
    case "FunctionCall":
      return [{ type: "tool_call", id: part.id, name: part.name, arguments: part.args }]
    case "FunctionResponse": {
      const response = { type: "tool_call_response", id: part.id, response: part.output }
      return part.parts === undefined ? [response] : [response, ...part.parts.map((media) => ({ type: "blob", mime_type: media.mimeType }))]
    }
  }
}

/** `model` is the `assistant`; a user turn holding only function responses is the `tool` role. */
const roleOf = (content: Content): string =>
  content.role === "model"
    ? "assistant"
    : content.parts.length > 0 && content.parts.every((part) => part._tag === "FunctionResponse")
    ? "tool"
    : "user"

const finishReasons: Record<string, string> = {
  "tool-calls": "tool_call",
  "max-tokens": "length",
  "content-filter": "content_filter"
}

/** The contents attributes of a model call's span: `gen_ai.input.messages` and `gen_ai.system_instructions`. */
export const requestContents = (request: ModelRequest): Record<string, string> => {
  const attributes: Record<string, string> = {
    "gen_ai.input.messages": json(request.contents.map((content) => ({ role: roleOf(content), parts: content.parts.flatMap(partsOf) })))
  }
  if (request.system !== undefined) {
    attributes["gen_ai.system_instructions"] = json([{ type: "text", content: request.system }])
  }
  return attributes
}

/** `gen_ai.output.messages`: the answer as one `assistant` message with its finish reason. */
export const responseContents = (response: ModelResponse): string =>
  json([{
    role: "assistant",
    parts: response.parts.flatMap(partsOf),
    finish_reason: finishReasons[response.finishReason] ?? response.finishReason
  }])
