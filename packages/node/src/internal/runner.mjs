// The entry of every pool worker thread: a WorkerRunner (@effect/platform) serving two requests.
// `Init` imports the modules of the pool's tools and checks that each named export is a function,
// so a module that cannot be loaded fails the pool when it is created. `Call` runs one function
// with its arguments (awaiting it if it returns a promise). A thrown error goes back as plain
// data ({ name, message, stack }); so does a result, by structured clone.
//
// Plain JavaScript on purpose: a worker thread runs this file with Node itself, whether the
// package runs from its sources (tests, tsx) or from dist.
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeWorkerRunner from "@effect/platform-node/NodeWorkerRunner"
import * as WorkerRunner from "@effect/platform/WorkerRunner"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

const modules = new Map()

const load = (href) => {
  let module = modules.get(href)
  if (module === undefined) {
    module = import(href)
    modules.set(href, module)
  }
  return module
}

const functionOf = async (href, name) => {
  let module
  try {
    module = await load(href)
  } catch (error) {
    modules.delete(href)
    const message = error?.message ?? String(error)
    const hint = /Unknown file extension "\.[cm]?ts"/.test(message)
      ? " (worker threads do not get a loader registered at run time, such as tsx's: give the pool execArgv: [\"--import\", \"tsx\"], or compiled JavaScript)"
      : ""
    throw new Error(`the worker module ${href} cannot be loaded: ${message}${hint}`)
  }
  const fn = module[name]
  if (typeof fn !== "function") {
    const exported = Object.keys(module).filter((key) => typeof module[key] === "function")
    throw new Error(
      `the worker module ${href} has no function exported as "${name}" (its functions: ${exported.join(", ") || "none"})`
    )
  }
  return fn
}

const plain = (error) =>
  error instanceof Error
    ? { name: error.name, message: error.message, stack: error.stack }
    : { name: "Error", message: String(error) }

const handle = (request) =>
  Effect.tryPromise({
    try: async () => {
      if (request._tag === "Init") {
        for (const [href, name] of request.functions) await functionOf(href, name)
        return null
      }
      const fn = await functionOf(request.module, request.export)
      return await fn(request.args)
    },
    catch: plain
  })

WorkerRunner.layer(handle).pipe(
  Layer.provide(NodeWorkerRunner.layer),
  WorkerRunner.launch,
  NodeRuntime.runMain
)
