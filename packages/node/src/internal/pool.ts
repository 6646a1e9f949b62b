/**
 * The worker pool: `Worker.makePool` (@effect/platform) over `NodeWorker` (@effect/platform-node)
 * with one call per thread at a time.
 *
 * Interrupting a call must stop its computation, but a worker running a synchronous function
 * never reads the interrupt message the platform sends it. So the pool keeps the `Worker` of each
 * thread (the spawner records it): an interrupted call terminates its thread at once and
 * invalidates its pool item, and the pool starts a replacement when the call releases it.
 *
 * @internal
 */
import * as PlatformWorker from "@effect/platform/Worker"
import type { WorkerError } from "@effect/platform/WorkerError"
import * as NodeWorker from "@effect/platform-node/NodeWorker"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as FiberSet from "effect/FiberSet"
import * as LogLevel from "effect/LogLevel"
import * as Pool from "effect/Pool"
import type * as Scope from "effect/Scope"
import { availableParallelism } from "node:os"
import { isAbsolute, resolve } from "node:path"
import { pathToFileURL } from "node:url"
import { Worker } from "node:worker_threads"
import type { PoolOptions, Stats, WorkerPool } from "../WorkerTool.js"
import { ThrownInWorker, WorkerFailed, WorkerPoolError } from "../WorkerToolError.js"

type Request =
  | { readonly _tag: "Init"; readonly functions: ReadonlyArray<readonly [module: string, name: string]> }
  | { readonly _tag: "Call"; readonly module: string; readonly export: string; readonly args: unknown }

/** What the worker sends back when the function throws. */
interface Thrown {
  readonly name: string
  readonly message: string
  readonly stack?: string | undefined
}

/** The worker entry: plain JavaScript beside this module, in `src/` and in `dist/` alike. */
const runner = new URL("./runner.mjs", import.meta.url)

/** @internal */
export const moduleHref = (module: string | URL): string => {
  if (module instanceof URL) return module.href
  if (/^[a-z][a-z0-9+.-]*:/i.test(module) && !isAbsolute(module)) return module
  return pathToFileURL(resolve(module)).href
}

/**
 * The platform's worker logs a warning when a thread exits under it and then restarts it; a
 * thread we terminated is being replaced anyway, so the pool's own fibers log errors only.
 */
const quiet = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.locallyWith(effect, FiberRef.currentMinimumLogLevel, (level) =>
    LogLevel.greaterThan(level, LogLevel.Error) ? level : LogLevel.Error)

/** @internal */
export const makePool = (options: PoolOptions): Effect.Effect<WorkerPool, WorkerPoolError, Scope.Scope> =>
  Effect.gen(function*() {
    const size = options.size ?? Math.max(1, availableParallelism() - 1)
    const functions = (options.tools ?? []).map((tool) => [tool.module, tool.export] as const)
    const threads = new Map<number, Worker>()
    let started = 0
    let terminated = 0

    const spawn = (id: number): Worker => {
      const thread = new Worker(runner, options.execArgv === undefined ? {} : { execArgv: [...options.execArgv] })
      threads.set(id, thread)
      started++
      thread.once("exit", () => {
        if (threads.get(id) === thread) threads.delete(id)
      })
      return thread
    }

    const sizing = options.idleTimeout === undefined
      ? { size }
      : { minSize: options.minSize ?? 0, maxSize: size, timeToLive: options.idleTimeout }
    const pool = yield* PlatformWorker.makePool<Request, unknown, Thrown>({
      ...sizing,
      concurrency: 1,
      initialMessage: () => ({ _tag: "Init", functions })
    }).pipe(
      Effect.provide(NodeWorker.layer(spawn)),
      Effect.mapError((error) => new WorkerPoolError({ detail: describe(error) })),
      quiet
    )

    /** Tell the thread of an interrupted call to stop now (V8 stops running its code at once). */
    const stopThread = (worker: PlatformWorker.Worker<Request, unknown, Thrown>): void => {
      const thread = threads.get(worker.id)
      if (thread === undefined) return
      threads.delete(worker.id)
      terminated++
      void thread.terminate()
    }

    /** The worker a call holds while its request runs: the one to stop if the call is interrupted. */
    interface Holding {
      worker: PlatformWorker.Worker<Request, unknown, Thrown> | undefined
    }

    /** One call: a free worker, the request, and the worker stopped and replaced if the call is interrupted. */
    const call = (module: string, name: string, args: unknown, holding: Holding): Effect.Effect<unknown, WorkerFailed | ThrownInWorker> =>
      Effect.scoped(
        Effect.flatMap(
          Effect.mapError(pool.backing.get, (error) => new WorkerFailed({ module, export: name, detail: describe(error) })),
          (worker) => {
            holding.worker = worker
            return worker.executeEffect({ _tag: "Call", module, export: name, args }).pipe(
              Effect.onInterrupt(() =>
                Effect.suspend(() => {
                  stopThread(worker)
                  // the pool closes the item (awaiting the thread's exit) and starts a replacement
                  return Pool.invalidate(pool.backing, worker)
                })
              ),
              Effect.ensuring(Effect.sync(() => {
                holding.worker = undefined
              })),
              Effect.mapError((error) =>
                isThrown(error)
                  ? new ThrownInWorker({
                    module,
                    export: name,
                    name: error.name,
                    detail: error.message,
                    ...(error.stack ? { stack: error.stack } : {})
                  })
                  : new WorkerFailed({ module, export: name, detail: describe(error) })
              )
            )
          }
        )
      )

    // A call runs in a fiber of the pool, not of the caller, so what the pool does for it (closing
    // a stopped worker, starting a replacement) belongs to the pool. An interrupted caller stops
    // the worker's thread itself, at once, and leaves that cleanup to the pool's fiber: a thread's
    // exit (its heap torn down) takes 20-200 ms that the call does not wait for.
    const fibers = yield* FiberSet.make<unknown, WorkerFailed | ThrownInWorker>()
    const fork = yield* quiet(FiberSet.runtime(fibers)<never>())
    const run = (module: string, name: string, args: unknown): Effect.Effect<unknown, WorkerFailed | ThrownInWorker> =>
      Effect.suspend(() => {
        const holding: Holding = { worker: undefined }
        const fiber = fork(call(module, name, args, holding))
        return Effect.onInterrupt(Fiber.join(fiber), () =>
          Effect.sync(() => {
            if (holding.worker !== undefined) stopThread(holding.worker)
            fork(Fiber.interrupt(fiber))
          }))
      })

    const stats: Effect.Effect<Stats> = Effect.sync(() => ({ threads: threads.size, started, terminated }))
    return { run, stats }
  })

const isThrown = (error: Thrown | WorkerError): error is Thrown => !("_tag" in error && error._tag === "WorkerError")

/** A `WorkerError` with its cause, or a `Thrown` from the init request. */
const describe = (error: unknown): string => {
  if (typeof error !== "object" || error === null) return String(error)
  const cause = (error as { readonly cause?: unknown }).cause
  const inner = typeof cause === "object" && cause !== null && "message" in cause ? String(cause.message) : undefined
  const message = "message" in error ? String(error.message) : String(error)
  return inner !== undefined && inner !== message ? inner : message
}
