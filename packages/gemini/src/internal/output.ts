import type { Content, Model } from "@effect-agents/core"
import type * as GenAI from "@google/genai"

/**
 * Structured output on Gemini (`ModelRequest.output`): JSON mode (`responseMimeType:
 * "application/json"` + `responseJsonSchema`) when the model takes it next to the request's
 * tools — always without tools, and on Gemini 3 models with them; otherwise a `final_answer`
 * tool whose parameters are the output schema: its call becomes the answer's JSON text, so the
 * run loop reads it as the final answer.
 *
 * @internal
 */

/** The name of the tool that carries the final answer when JSON mode cannot be used. */
export const finalAnswerTool = "final_answer"

/** Whether the model takes JSON mode together with function tools (Gemini 3 does; 2.x does not). */
export const jsonModeWithTools = (model: string): boolean => /(^|\/)gemini-3/.test(model)

/** How a request asks for structured output: by JSON mode, by the final-answer tool, or not at all. */
export const modeOf = (request: Model.ModelRequest, model: string): "json" | "tool" | undefined =>
  request.output === undefined
    ? undefined
    : request.tools.length === 0 || jsonModeWithTools(model)
    ? "json"
    : "tool"

/** The generation config of JSON mode. */
export const jsonConfig = (schema: { readonly [key: string]: unknown }): GenAI.GenerateContentConfig => ({
  responseMimeType: "application/json",
  responseJsonSchema: schema
})

const withFinalAnswer = new WeakMap<ReadonlyArray<Model.ToolDeclaration>, ReadonlyArray<Model.ToolDeclaration>>()

/** The request's declarations and the final-answer tool, built once per declarations array. */
export const declarationsWithFinalAnswer = (
  tools: ReadonlyArray<Model.ToolDeclaration>,
  schema: { readonly [key: string]: unknown }
): ReadonlyArray<Model.ToolDeclaration> => {
  let declarations = withFinalAnswer.get(tools)
  if (declarations === undefined) {
    declarations = [...tools, {
      name: finalAnswerTool,
      description: "Give the final answer. Call it once, alone, when the task is done; its arguments are the answer.",
      parameters: schema as Record<string, unknown>
    }]
    withFinalAnswer.set(tools, declarations)
  }
  return declarations
}

/**
 * The answer of a `final_answer` call: its arguments as the only part, JSON text (the call ends
 * the run, so calls and text beside it are dropped); parts without that call unchanged.
 */
export const finalAnswerAsText = (parts: ReadonlyArray<Content.Part>): ReadonlyArray<Content.Part> => {
  const call = parts.find((part) => part._tag === "FunctionCall" && part.name === finalAnswerTool)
  if (call === undefined || call._tag !== "FunctionCall") return parts
  const text: Content.Part = call.metadata !== undefined
    ? { _tag: "Text", text: JSON.stringify(call.args), metadata: call.metadata }
    : { _tag: "Text", text: JSON.stringify(call.args) }
  return [text]
}
