/**
 * @since 0.1.0
 */
export * as WorkerTool from "./WorkerTool.js"
/**
 * @since 0.1.0
 */
export * as WorkerToolError from "./WorkerToolError.js"
