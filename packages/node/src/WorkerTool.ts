/**
 * Tools that run on a pool of worker threads: the answer to `asyncio.to_thread` for blocking and
 * CPU-heavy work. A `Tool.fromSync` handler that computes for 2 s stalls every conversation of the
 * process for 2 s; `WorkerTool.make` runs a plain function exported by a module on a worker thread
 * instead, so the event loop (every other model call, tool call and conversation) goes on.
 *
 * Arguments and results cross as structured-clone data, checked by the tool's Schemas as for any
 * tool (arguments decoded before the call, results encoded after it). Interrupting a call (a
 * failing sibling, a timeout, the run's interruption) terminates its worker thread at once and the
 * pool starts a replacement: a runaway computation really stops, where a promise could only be
 * abandoned.
 *
 * The pool is built with `@effect/platform`'s `Worker.makePool` on `@effect/platform-node`'s
 * `NodeWorker`: a scoped resource (`WorkerTool.layerPool`) whose threads are stopped when its scope
 * closes, with a configurable size and idle shutdown. It loads the modules of the tools it is given
 * when it starts, so a module that cannot be loaded fails the pool's creation, not the first call.
 *
 * @since 0.1.0
 */
import { Tool } from "@effect-agents/core"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/pool.js"
import type { ThrownInWorker, WorkerFailed, WorkerPoolError } from "./WorkerToolError.js"

/**
 * A pool of worker threads running the functions of worker tools.
 *
 * @since 0.1.0
 * @category models
 */
export interface WorkerPool {
  /** Run `module`'s export `name` with `args` on a free worker; interrupting terminates that worker. */
  readonly run: (module: string, name: string, args: unknown) => Effect.Effect<unknown, WorkerFailed | ThrownInWorker>
  /** What the pool did so far. */
  readonly stats: Effect.Effect<Stats>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Stats {
  /** Worker threads running now. */
  readonly threads: number
  /** Workers started so far (replacements included). */
  readonly started: number
  /** Workers terminated because their call was interrupted. */
  readonly terminated: number
}

/**
 * The default pool, used by worker tools made without `pool`.
 *
 * @since 0.1.0
 * @category tags
 */
export class Pool extends Context.Tag("@effect-agents/node/WorkerTool/Pool")<Pool, WorkerPool>() {}

/**
 * @since 0.1.0
 * @category models
 */
export interface PoolOptions {
  /** The tools whose modules every worker loads when it starts: a module that cannot be loaded fails the pool. */
  readonly tools?: ReadonlyArray<Any> | undefined
  /** At most this many threads (default: the available parallelism minus one, at least 1). */
  readonly size?: number | undefined
  /**
   * Stop a thread idle this long (threads start again on demand). Without it the pool keeps
   * `size` threads until its scope closes.
   */
  readonly idleTimeout?: Duration.DurationInput | undefined
  /** With `idleTimeout`: threads kept even when idle (default 0). */
  readonly minSize?: number | undefined
  /**
   * Node options of the worker threads (default: the process's own). A loader the main thread
   * registered at run time (such as `tsx`'s) does not reach worker threads: to run TypeScript
   * modules there, add it here (`["--import", "tsx"]`) or give compiled JavaScript.
   */
  readonly execArgv?: ReadonlyArray<string> | undefined
}

/**
 * A tool running on a worker pool. `Id` is the pool's identifier in the context.
 *
 * @since 0.1.0
 * @category models
 */
export interface WorkerTool<Name extends string, Params, Success, Id = Pool>
  extends Tool.Tool<Name, Params, Success, WorkerFailed | ThrownInWorker, Id>
{
  /** The module's URL (`file:` for a path). */
  readonly module: string
  /** The name of the function the module exports. */
  readonly export: string
}

/**
 * Any worker tool.
 *
 * @since 0.1.0
 * @category models
 */
export interface Any extends WorkerTool<string, any, any, any> {}

/**
 * A tool whose handler is the function `export` (default `"default"`) of `module`, run on a
 * worker thread of `pool` (default {@link Pool}). The function receives the decoded arguments
 * and returns the result, or a promise of it; both cross threads by structured clone, so keep
 * them plain data. Give `module` as an absolute path or a `file:` URL; a TypeScript module
 * needs a process whose worker threads load TypeScript (such as one started by `tsx`).
 *
 * @example
 * ```ts
 * import { WorkerTool } from "@effect-agents/node"
 * import { Schema } from "effect"
 *
 * // primes.js: export const countPrimes = ({ below }) => { ...a sieve... }
 * const countPrimes = WorkerTool.make("count_primes", {
 *   description: "Count the primes below a bound",
 *   parameters: Schema.Struct({ below: Schema.Int }),
 *   success: Schema.Number,
 *   module: new URL("./primes.js", import.meta.url),
 *   export: "countPrimes",
 *   timeout: "10 seconds"
 * })
 * const Workers = WorkerTool.layerPool({ tools: [countPrimes], size: 2, idleTimeout: "1 minute" })
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const make = <
  const Name extends string,
  Params extends Schema.Schema.AnyNoContext,
  Success extends Schema.Schema.AnyNoContext = typeof Schema.Unknown,
  Id = Pool
>(
  name: Name,
  options: Tool.Options<Params, Success, WorkerFailed | ThrownInWorker> & {
    readonly module: string | URL
    readonly export?: string | undefined
    readonly pool?: Context.Tag<Id, WorkerPool> | undefined
  }
): WorkerTool<Name, Schema.Schema.Type<Params>, Schema.Schema.Type<Success>, Id> => {
  const module = internal.moduleHref(options.module)
  const exported = options.export ?? "default"
  const pool = (options.pool ?? Pool) as Context.Tag<Id, WorkerPool>
  // `Id` is never a `Scope`: a worker call needs no scope of its own
  const tool: Tool.Tool<Name, Schema.Schema.Type<Params>, Schema.Schema.Type<Success>, WorkerFailed | ThrownInWorker, Id> = Tool
    .make(name, {
      ...options,
      handler: (params: Schema.Schema.Type<Params>) => Effect.flatMap(pool, (workers) => workers.run(module, exported, params))
    } as any)
  return Object.assign(tool, { module, export: exported })
}

/**
 * Start a pool in the current scope; its threads stop when the scope closes.
 *
 * @example
 * ```ts
 * import { WorkerTool } from "@effect-agents/node"
 * import { Context, Layer } from "effect"
 *
 * class Heavy extends Context.Tag("Heavy")<Heavy, WorkerTool.WorkerPool>() {}
 * const HeavyPool = Layer.scoped(Heavy, WorkerTool.makePool({ size: 1 }))
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const makePool = (options: PoolOptions = {}): Effect.Effect<WorkerPool, WorkerPoolError, Scope.Scope> =>
  internal.makePool(options)

/**
 * The default {@link Pool} as a layer.
 *
 * @example
 * ```ts
 * import { WorkerTool } from "@effect-agents/node"
 * declare const countPrimes: WorkerTool.Any
 *
 * const Workers = WorkerTool.layerPool({ tools: [countPrimes], size: 2, idleTimeout: "30 seconds" })
 * ```
 * @since 0.1.0
 * @category layers
 */
export const layerPool = (options: PoolOptions = {}): Layer.Layer<Pool, WorkerPoolError> =>
  Layer.scoped(Pool, makePool(options))
