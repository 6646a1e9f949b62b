/**
 * The errors of worker tools: a pool that cannot start (a module that cannot be loaded), a worker
 * that failed under a call, a function that threw on its thread.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * The pool could not start a worker, or a worker could not load a tool's module.
 *
 * @since 0.1.0
 * @category errors
 */
export class WorkerPoolError extends Schema.TaggedError<WorkerPoolError>()("WorkerPoolError", {
  detail: Schema.String
}) {
  override get message() {
    return `The worker pool could not start: ${this.detail}. ` +
      `Check the module paths (absolute paths or file: URLs, e.g. new URL("./tool.js", import.meta.url)) and their exports.`
  }
}

/**
 * A worker thread running the call failed: it exited or could not be started.
 *
 * @since 0.1.0
 * @category errors
 */
export class WorkerFailed extends Schema.TaggedError<WorkerFailed>()("WorkerFailed", {
  module: Schema.String,
  export: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `The worker running ${this.export} from ${this.module} failed: ${this.detail}`
  }
}

/**
 * The function threw (or its promise rejected) on the worker thread.
 *
 * @since 0.1.0
 * @category errors
 */
export class ThrownInWorker extends Schema.TaggedError<ThrownInWorker>()("ThrownInWorker", {
  module: Schema.String,
  export: Schema.String,
  name: Schema.String,
  detail: Schema.String,
  stack: Schema.optional(Schema.String)
}) {
  override get message() {
    return `${this.export} (${this.module}) threw on its worker thread: ${this.name}: ${this.detail}`
  }
}
