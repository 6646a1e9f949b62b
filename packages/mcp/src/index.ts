/**
 * @since 0.1.0
 */
export * as McpError from "./McpError.js"
/**
 * @since 0.1.0
 */
export * as McpToolset from "./McpToolset.js"
