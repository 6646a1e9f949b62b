/**
 * A tool result as the function response's output: the structured content when the tool gives
 * one; else its text when all of it is text; else the parts in order, images and audio as inline
 * data (`{ inlineData: { mimeType, data } }`, base64), resources as they come.
 *
 * @internal
 */
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js"

/** @internal */
export const output = (result: CallToolResult): unknown => {
  if (result.structuredContent !== undefined) return result.structuredContent
  const content = result.content ?? []
  if (content.every((part) => part.type === "text")) return content.map((part) => part.text).join("\n")
  return content.map((part) => {
    switch (part.type) {
      case "text":
        return { text: part.text }
      case "image":
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
