/**
 * Worker tools: plain functions on a pool of worker threads (`Worker.makePool` over
 * `NodeWorker`). Real threads and real time: these tests are about not blocking the event loop.
 */
import { Agent, AgentError, AgentEvent, Tool } from "@effect-agents/core"
import { WorkerTool, WorkerToolError } from "@effect-agents/node"
import { LeakCheck, ScriptedModel } from "@effect-agents/testing"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Layer, Option, Schema, Scope } from "effect"

const work = new URL("./fixtures/work.mjs", import.meta.url)

/** A tool running the function `exported` of the fixture module. */
const workTool = <const Name extends string, P extends Schema.Schema.AnyNoContext, S extends Schema.Schema.AnyNoContext = typeof Schema.Unknown>(
  name: Name,
  exported: string,
  parameters: P,
  success?: S
) => WorkerTool.make(name, { description: `runs ${exported}`, parameters, success, module: work, export: exported })

const add = workTool("add", "add", Schema.Struct({ a: Schema.Number, b: Schema.Number }), Schema.Number)
const spin = workTool("spin", "spin", Schema.Struct({ ms: Schema.Number }), Schema.Struct({ thread: Schema.Number, iterations: Schema.Boolean }))
// shared memory, so the test sees whether the function still runs (a test-only argument)
const forever = workTool("forever", "forever", Schema.Struct({ counter: Schema.instanceOf(SharedArrayBuffer, { jsonSchema: { type: "object" } }) }))
const thread = workTool("thread", "thread", Schema.Struct({}), Schema.Number)
const fails = workTool("fails", "fails", Schema.Struct({ why: Schema.String }))
const wrongType = workTool("wrong_type", "wrongType", Schema.Struct({}), Schema.Number)

const upper = WorkerTool.make("upper", {
  description: "The default export, the module given as a path",
  parameters: Schema.Struct({ text: Schema.String }),
  success: Schema.String,
  module: work.pathname
})

const boom = Tool.make("boom", {
  description: "Fails after a while",
  parameters: Schema.Struct({}),
  handler: () => Effect.fail("boom").pipe(Effect.delay("150 millis"))
})

const all = [add, spin, forever, thread, fails, wrongType, upper]

const agent = Agent.make({ name: "worker", instructions: "Use the tools.", tools: [...all, boom] })

const requests = Effect.flatMap(ScriptedModel.ScriptedModel, (model) => model.requests)
const outputs = Effect.map(requests, (sent) =>
  sent.at(-1)!.contents.at(-1)!.parts.map((part) => part._tag === "FunctionResponse" ? part.output : undefined))

const stats = Effect.flatMap(WorkerTool.Pool, (pool) => pool.stats)

const run = (input: string, policy?: Agent.Agent["policy"]["toolFailure"]) =>
  LeakCheck.check(Agent.run(policy ? agent.pipe(Agent.withPolicy({ toolFailure: policy })) : agent, input)).pipe(
    Effect.tap((result) => assert.deepStrictEqual(AgentEvent.invariantViolations(result.events), []))
  )

const pool = (options: WorkerTool.PoolOptions = {}) => WorkerTool.layerPool({ tools: all, size: 2, ...options })

describe("worker tools", () => {
  it.live("run the module's function on a worker thread, arguments and results checked by the Schemas", () =>
    Effect.gen(function*() {
      const result = yield* run("go")
      assert.strictEqual(result.text, "done")
      assert.deepStrictEqual(yield* outputs, [5, "SHOUT"])
    }).pipe(
      Effect.provide(pool()),
      Effect.provide(ScriptedModel.layer([
        ScriptedModel.callTools([{ name: "add", args: { a: 2, b: 3 } }, { name: "upper", args: { text: "shout" } }]),
        ScriptedModel.text("done")
      ]))
    ))

  it.live("a CPU-bound call leaves the event loop free, where the same work in Tool.fromSync stalls it", () =>
    Effect.gen(function*() {
      /** How many 10 ms ticks another fiber gets while `effect` runs. */
      const ticksDuring = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
        Effect.gen(function*() {
          let ticks = 0
          const ticker = yield* Effect.fork(Effect.forever(Effect.zipRight(Effect.sleep("10 millis"), Effect.sync(() => ticks++))))
          yield* Effect.sleep("30 millis")
          const before = ticks
          yield* effect
          const during = ticks - before
          yield* Fiber.interrupt(ticker)
          return during
        })
      const onWorker = yield* ticksDuring(Effect.flatMap(WorkerTool.Pool, (pool) => pool.run(spin.module, "spin", { ms: 400 })))
      const inline = Tool.fromSync("spin_inline", {
        description: "Compute for a while, on the event loop",
        parameters: Schema.Struct({ ms: Schema.Number }),
        handler: ({ ms }) => {
          const until = Date.now() + ms
          while (Date.now() < until) { /* compute */ }
          return ms
        }
      })
      const blocking = yield* ticksDuring(Effect.scoped(inline.handler({ ms: 400 })))
      assert.isAtLeast(onWorker, 15, `the event loop ticked ${onWorker} times during 400 ms on a worker`)
      assert.strictEqual(blocking, 0, `the event loop ticked ${blocking} times during 400 ms of fromSync`)
    }).pipe(Effect.provide(pool())))

  it.live("a call interrupted by a failing sibling terminates its worker at once; the pool replaces it", () =>
    Effect.gen(function*() {
      const count = () => Atomics.load(new Int32Array(sharedCounter), 0)
      const firstThread = (yield* run("thread id")).text
      const exit = yield* Effect.exit(run("runaway"))
      const error = Cause.failureOption((exit as Exit.Failure<unknown, unknown>).cause).pipe(Option.getOrThrow)
      assert.instanceOf(error, AgentError.ToolCallFailed)
      assert.deepStrictEqual([...Cause.failures((error as AgentError.ToolCallFailed).cause)], ["boom"])
      assert.isAbove(count(), 0, "the runaway function ran")
      const stopped = count()
      yield* Effect.sleep("100 millis")
      assert.strictEqual(count(), stopped, "the runaway function still runs after its call was interrupted")
      assert.deepInclude(yield* stats, { terminated: 1 })
      const later = yield* run("thread id")
      assert.notStrictEqual(later.text, firstThread)
      assert.deepStrictEqual(yield* stats, { threads: 1, started: 2, terminated: 1 })
    }).pipe(
      Effect.provide(pool({ size: 1 })),
      Effect.provide(ScriptedModel.layer(ScriptedModel.byPrompt({
        "thread id": [ScriptedModel.callTools([{ name: "thread", args: {} }]), (request) => ScriptedModel.text(String((request.contents.at(-1)!.parts[0] as { output: unknown }).output))],
        runaway: [ScriptedModel.callTools([{ name: "forever", args: { counter: sharedCounter } }, { name: "boom", args: {} }])]
      })))
    ))

  it.live("a function that throws fails its call with ThrownInWorker, reported to the model under report", () =>
    Effect.gen(function*() {
      yield* run("go", "report")
      const [response] = (yield* requests).at(-1)!.contents.at(-1)!.parts
      assert.deepInclude(response, {
        isError: true,
        output: `fails (${work.href}) threw on its worker thread: RangeError: cannot do that: no reason`
      })
    }).pipe(
      Effect.provide(pool()),
      Effect.provide(ScriptedModel.layer([
        ScriptedModel.callTools([{ name: "fails", args: { why: "no reason" } }]),
        ScriptedModel.text("sorry")
      ]))
    ))

  it.live("a result that does not match the success Schema fails the call as an invalid result", () =>
    Effect.gen(function*() {
      const result = yield* run("go", "report")
      const failed = result.events.filter((event) => event._tag === "ToolCallFailed")
      assert.strictEqual(failed.length, 1)
      assert.deepInclude(failed[0], { kind: "invalid-result" })
    }).pipe(
      Effect.provide(pool()),
      Effect.provide(ScriptedModel.layer([ScriptedModel.callTools([{ name: "wrong_type", args: {} }]), ScriptedModel.text("sorry")]))
    ))
})

describe("the worker pool", () => {
  it.live("is a scoped resource: its threads stop when its scope closes", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(pool({ size: 2 }), scope)
      const before = yield* Effect.provide(stats, context)
      assert.strictEqual(before.threads, 2)
      yield* Scope.close(scope, Exit.void)
      const after = yield* Effect.provide(stats, context)
      assert.strictEqual(after.threads, 0)
    }))

  it.live("with idleTimeout, idle threads stop and start again on demand", () =>
    Effect.gen(function*() {
      const workers = yield* WorkerTool.Pool
      assert.strictEqual(yield* workers.run(add.module, "add", { a: 1, b: 2 }), 3)
      assert.strictEqual((yield* workers.stats).threads, 1)
      yield* Effect.sleep("600 millis")
      assert.strictEqual((yield* workers.stats).threads, 0)
      assert.strictEqual(yield* workers.run(add.module, "add", { a: 2, b: 2 }), 4)
      assert.deepInclude(yield* workers.stats, { threads: 1, started: 2 })
    }).pipe(Effect.provide(pool({ size: 2, idleTimeout: "200 millis" }))))

  it.live("a worker module that cannot be loaded fails the pool when it is created", () =>
    Effect.gen(function*() {
      const missing = WorkerTool.make("missing", {
        description: "A module that is not there",
        parameters: Schema.Struct({}),
        module: new URL("./fixtures/missing.mjs", import.meta.url)
      })
      const error = yield* Effect.flip(Layer.build(WorkerTool.layerPool({ tools: [add, missing], size: 1 })))
      assert.instanceOf(error, WorkerToolError.WorkerPoolError)
      assert.include(error.detail, `the worker module ${missing.module} cannot be loaded`)
    }).pipe(Effect.scoped))

  it.live("a module without the named export fails the pool when it is created, listing its functions", () =>
    Effect.gen(function*() {
      const misnamed = WorkerTool.make("misnamed", {
        description: "A function that is not exported",
        parameters: Schema.Struct({}),
        module: work,
        export: "substract"
      })
      const error = yield* Effect.flip(Layer.build(WorkerTool.layerPool({ tools: [misnamed], size: 1 })))
      assert.strictEqual(
        error.detail,
        `the worker module ${work.href} has no function exported as "substract" (its functions: add, default, fails, forever, later, spin, thread, wrongType)`
      )
    }).pipe(Effect.scoped))
})

const sharedCounter = new SharedArrayBuffer(4)
