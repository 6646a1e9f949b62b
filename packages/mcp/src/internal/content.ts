/**
 * A tool result as the function response: the structured content when the tool gives one; else
 * its text when all of it is text; else the parts in order, resources as they come. Images are
 * taken out as media parts (`Content.toolOutput`), which the model receives as data (Gemini:
 * `functionResponse.parts[].inlineData`), not as base64 inside the JSON; audio stays in the JSON
 * (`{ inlineData: { mimeType, data } }`), as Gemini's function responses take images and
 * documents only.
 *
 * @internal
 */
import { Content } from "@effect-agents/core"
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js"

/** @internal */
export const output = (result: CallToolResult): unknown => {
  const content = result.content ?? []
  const media: Array<Content.InlineData> = []
  const rest: typeof content = []
  for (const part of content) {
    if (part.type === "image") media.push({ mimeType: part.mimeType, data: part.data })
    else rest.push(part)
  }
  const value = result.structuredContent ?? json(rest, media)
  return media.length === 0 ? value : Content.toolOutput(value, media)
}

const json = (content: CallToolResult["content"], media: ReadonlyArray<Content.InlineData>): unknown => {
  if (content.length === 0 && media.length > 0) return `Attached: ${media.map((part) => part.mimeType).join(", ")}.`
  if (content.every((part) => part.type === "text")) return content.map((part) => part.text).join("\n")
  return content.map((part) => {
    switch (part.type) {
      case "text":
        return { text: part.text }
      case "audio":
        return { inlineData: { mimeType: part.mimeType, data: part.data } }
      case "resource":
        return { resource: part.resource }
      case "resource_link":
        return { resourceLink: { uri: part.uri, name: part.name, ...(part.mimeType ? { mimeType: part.mimeType } : {}) } }
      default:
        return part
    }
  })
}
