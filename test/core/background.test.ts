/**
 * Scoped background work: fire-and-forget tasks started from a tool or a run keep running after
 * the call that started them, never lose their failure (logged, and handed to `onFailure`), and
 * never outlive their scope (interrupted when it closes, after an optional grace period).
 */
import { Agent, Background, Tool } from "@effect-agents/core"
import { LeakCheck, ScriptedModel } from "@effect-agents/testing"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Clock, Effect, Exit, Fiber, HashMap, Logger, Ref, Schema, TestClock } from "effect"

type Log = Ref.Ref<ReadonlyArray<string>>

const record = (log: Log, what: string) =>
  Effect.flatMap(Clock.currentTimeMillis, (t) => Ref.update(log, (entries) => [...entries, `${what}@${t}`]))

/** A background task: notes its start, sleeps, then notes its end; its finalizer notes interruption. */
const task = (log: Log, name: string, millis: number) =>
  Effect.gen(function*() {
    yield* record(log, `${name} started`)
    yield* Effect.onInterrupt(Effect.sleep(millis), () => record(log, `${name} interrupted`))
    yield* record(log, `${name} done`)
  })

interface Logged {
  readonly level: string
  readonly message: string
  readonly task: unknown
  readonly failure: string
}

/** A logger keeping what was logged at Error level. */
const captureLogs = (logged: Array<Logged>) =>
  Logger.replace(
    Logger.defaultLogger,
    Logger.make(({ annotations, cause, logLevel, message }) => {
      if (logLevel.label !== "ERROR") return
      logged.push({
        level: logLevel.label,
        message: Array.isArray(message) ? message.join(" ") : String(message),
        task: HashMap.get(annotations, "background.task").pipe((o) => o._tag === "Some" ? o.value : undefined),
        failure: Cause.isEmpty(cause) ? "" : Cause.pretty(cause)
      })
    })
  )

/** An agent whose `audit` tool writes an audit entry in the background (`millis` long, failing when `fail`) and answers at once. */
const auditedAgent = (log: Log, millis: number, fail = false) =>
  Agent.make({
    name: "clerk",
    instructions: "",
    tools: [
      Tool.make("audit", {
        description: "Record and answer",
        parameters: Schema.Struct({}),
        handler: () =>
          Effect.as(
            Background.fork(
              fail ? Effect.zipRight(task(log, "audit", millis), Effect.fail("disk full")) : task(log, "audit", millis),
              { name: "audit" }
            ),
            "recorded"
          )
      })
    ]
  })

const auditScript = ScriptedModel.layer([
  ScriptedModel.callTools([{ name: "audit" }], { delay: "100 millis" }),
  ScriptedModel.text("done", { delay: "100 millis" })
])

describe("Background", () => {
  it.effect("a task forked from a tool keeps running after the call and the run return", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const fiber = yield* Effect.fork(LeakCheck.check(Effect.gen(function*() {
        const result = yield* Agent.run(auditedAgent(log, 1000), "go")
        yield* record(log, "run returned")
        const succeeded = result.events.find((e) => e._tag === "ToolCallSucceeded")
        yield* record(log, `tool call succeeded at ${succeeded?.timestamp}`)
        yield* Background.awaitIdle
        yield* record(log, "idle")
      }).pipe(Effect.provide(Background.layer()), Effect.provide(auditScript))))
      yield* TestClock.adjust(1100)
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(yield* Ref.get(log), [
        "audit started@100",
        "run returned@200",
        "tool call succeeded at 100@200",
        "audit done@1100",
        "idle@1100"
      ])
    }))

  it.effect("a failure is logged with the task's name and handed to onFailure", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const logged: Array<Logged> = []
      const failures: Array<Background.Failure> = []
      const layer = Background.layer({ onFailure: (failure) => Effect.sync(() => failures.push(failure)) })
      const fiber = yield* Effect.fork(LeakCheck.check(Effect.gen(function*() {
        yield* Agent.run(auditedAgent(log, 500, true), "go")
        yield* Background.awaitIdle
      }).pipe(Effect.provide(layer), Effect.provide(auditScript), Effect.provide(captureLogs(logged)))))
      yield* TestClock.adjust(600)
      yield* Fiber.join(fiber)
      assert.strictEqual(failures.length, 1)
      assert.strictEqual(failures[0].task, "audit")
      assert.strictEqual(failures[0].startedAt, 100)
      assert.strictEqual(failures[0].failedAt, 600)
      assert.deepStrictEqual(Cause.failures(failures[0].cause).pipe((c) => Array.from(c)), ["disk full"])
      assert.strictEqual(logged.length, 1)
      assert.strictEqual(logged[0].message, "Background task \"audit\" failed")
      assert.strictEqual(logged[0].task, "audit")
      assert.include(logged[0].failure, "disk full")
    }))

  it.effect("a defect is reported too, and a failing onFailure handler is logged, not lost", () =>
    Effect.gen(function*() {
      const logged: Array<Logged> = []
      const layer = Background.layer({ onFailure: () => Effect.die("handler broke") })
      const fiber = yield* Effect.fork(LeakCheck.check(Effect.gen(function*() {
        yield* Background.fork(Effect.die("cache corrupted"), { name: "cache-warmer" })
        yield* Background.awaitIdle
      }).pipe(Effect.provide(layer), Effect.provide(captureLogs(logged)))))
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(logged.map((l) => l.message), [
        "Background task \"cache-warmer\" failed",
        "The onFailure handler of background task \"cache-warmer\" failed"
      ])
      assert.include(logged[0].failure, "cache corrupted")
      assert.include(logged[1].failure, "handler broke")
    }))

  it.effect("closing the scope interrupts the tasks still running, and that is not a failure", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const logged: Array<Logged> = []
      const failures: Array<Background.Failure> = []
      const fiber = yield* Effect.fork(LeakCheck.check(Effect.scoped(Effect.gen(function*() {
        const background = yield* Background.make({ onFailure: (f) => Effect.sync(() => failures.push(f)) })
        yield* background.fork(task(log, "short", 100))
        yield* background.fork(task(log, "long", 10_000))
        yield* Effect.sleep("1 second")
        assert.strictEqual(yield* background.size, 1)
        yield* record(log, "scope closing")
      })).pipe(Effect.provide(captureLogs(logged)))))
      yield* TestClock.adjust(1000)
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(yield* Ref.get(log), [
        "short started@0",
        "long started@0",
        "short done@100",
        "scope closing@1000",
        "long interrupted@1000"
      ])
      assert.deepStrictEqual(failures, [])
      assert.deepStrictEqual(logged, [])
    }))

  it.effect("with a grace period, running tasks may finish before the scope closes, the others are interrupted", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const fiber = yield* Effect.fork(LeakCheck.check(Effect.gen(function*() {
        yield* Background.fork(task(log, "flush", 1500))
        yield* Background.fork(task(log, "endless", 60_000))
        yield* Effect.sleep("1 second")
        yield* record(log, "scope closing")
      }).pipe(Effect.provide(Background.layer({ gracePeriod: "2 seconds" })))))
      yield* TestClock.adjust(3000)
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(yield* Ref.get(log), [
        "flush started@0",
        "endless started@0",
        "scope closing@1000",
        "flush done@1500",
        "endless interrupted@3000"
      ])
    }))

  it.effect("a task survives the interruption of the tool call that started it, until its scope closes", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const starter = Effect.gen(function*() {
        yield* Background.fork(task(log, "warm cache", 1000))
        yield* Effect.never
      })
      const fiber = yield* Effect.fork(LeakCheck.check(Effect.gen(function*() {
        const caller = yield* Effect.fork(starter)
        yield* Effect.sleep("100 millis")
        yield* Fiber.interrupt(caller)
        yield* record(log, "caller interrupted")
        yield* Background.awaitIdle
      }).pipe(Effect.provide(Background.layer()))))
      yield* TestClock.adjust(1000)
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(yield* Ref.get(log), ["warm cache started@0", "caller interrupted@100", "warm cache done@1000"])
    }))

  it.effect("a task's fiber can still be joined for its result", () =>
    Effect.gen(function*() {
      const exit = yield* LeakCheck.check(Effect.gen(function*() {
        const fiber = yield* Effect.succeed(42).pipe(Background.fork({ name: "answer" }))
        return yield* Fiber.await(fiber)
      }).pipe(Effect.provide(Background.layer())))
      assert.deepStrictEqual(exit, Exit.succeed(42))
    }))
})
