/**
 * The API key never leaks: across successes, retries, refused keys, server text that echoes the
 * key, dropped streams and interruptions, the key string appears in no error, event, log line or
 * span attribute. Logs are captured with a test `Logger`, spans with a recording `Tracer`.
 */
import { Agent, AgentEvent, type Model } from "@effect-agents/core"
import { Gemini, GeminiEmulator } from "@effect-agents/gemini"
import { assert, describe, it } from "@effect/vitest"
import {
  Cause,
  Chunk,
  ConfigProvider,
  Effect,
  Exit,
  Fiber,
  Layer,
  Logger,
  LogLevel,
  Stream,
  Tracer
} from "effect"
import { API_KEY, geminiFor, math } from "./fixtures.js"

interface Capture {
  readonly logs: Array<string>
  readonly spans: Array<string>
  readonly outcomes: Array<string>
}

const recordingTracer = (spans: Array<string>): Tracer.Tracer =>
  Tracer.make({
    span: (name, parent, context, links, startTime, kind, options) => {
      const attributes = new Map<string, unknown>(Object.entries(options?.attributes ?? {}))
      let status: Tracer.SpanStatus = { _tag: "Started", startTime }
      const span: Tracer.Span = {
        _tag: "Span",
        name,
        spanId: `span-${spans.length}`,
        traceId: "trace",
        parent,
        context,
        get status() {
          return status
        },
        attributes,
        links,
        sampled: true,
        kind,
        end: (endTime, exit) => {
          status = { _tag: "Ended", startTime, endTime, exit }
          spans.push(`${name} ${JSON.stringify(Object.fromEntries(attributes))}`)
        },
        attribute: (key, value) => void attributes.set(key, value),
        event: (event, _time, eventAttributes) => void spans.push(`${name} event ${event} ${JSON.stringify(eventAttributes)}`),
        addLinks: () => undefined
      }
      return span
    },
    context: (f) => f()
  })

/** Run a scenario the way an application would: log every event, log failures, keep the outcome. */
const observe = <A>(
  capture: Capture,
  program: Effect.Effect<A, unknown, Model.Model>,
  layer: Layer.Layer<Model.Model, unknown>
) =>
  program.pipe(
    Effect.tapErrorCause((cause) => Effect.logError("run failed", cause)),
    Effect.provide(layer),
    Effect.exit,
    Effect.tap((exit) =>
      Effect.sync(() => {
        capture.outcomes.push(Exit.isSuccess(exit) ? JSON.stringify(exit.value) : Cause.pretty(exit.cause))
        if (Exit.isFailure(exit)) {
          for (const error of Cause.failures(exit.cause)) capture.outcomes.push(JSON.stringify(error), String(error))
        }
      })
    )
  )

const loggedRun = (input: string) =>
  Agent.stream(math, input).pipe(
    Stream.tap((event) => Effect.logDebug(event._tag, event)),
    Stream.runCollect,
    Effect.map((events) => Chunk.toReadonlyArray(events) as ReadonlyArray<AgentEvent.AgentEvent>)
  )

describe("Gemini secrets", () => {
  it.live("the API key appears in no error, event, log line or span attribute", () =>
    Effect.gen(function*() {
      const capture: Capture = { logs: [], spans: [], outcomes: [] }
      const scenarios = Effect.gen(function*() {
        // a success with tools, through layerConfig reading GEMINI_API_KEY from the config provider
        const ok = yield* GeminiEmulator.make({
          apiKey: API_KEY,
          script: [
            GeminiEmulator.callTools([{ name: "add", args: { a: 2, b: 3 }, thoughtSignature: "c2ln" }]),
            GeminiEmulator.text(["2 + 3 ", "= 5"])
          ]
        })
        const fromConfig = Gemini.layerConfig({ model: "gemini-emulated" }).pipe(
          Layer.provide(Layer.setConfigProvider(
            ConfigProvider.fromMap(new Map([["GEMINI_API_KEY", API_KEY], ["GEMINI_BASE_URL", ok.baseUrl]]))
          ))
        )
        yield* observe(capture, loggedRun("What is 2 + 3?"), fromConfig)

        // retries: 429, a dropped stream, then success
        const flaky = yield* GeminiEmulator.make({
          apiKey: API_KEY,
          script: [
            GeminiEmulator.rateLimited({ retryDelay: "10 millis" }),
            GeminiEmulator.dropConnection({ text: ["par", "tial"] }),
            GeminiEmulator.text("fine")
          ]
        })
        yield* observe(capture, loggedRun("Hi"), geminiFor(flaky))

        // a refused key (the client sends the distinctive key, the server wants another)
        const strict = yield* GeminiEmulator.make({ apiKey: "another-key", script: [GeminiEmulator.text("no")] })
        yield* observe(capture, loggedRun("Hi"), geminiFor(strict))

        // server text that echoes the key
        const echo = yield* GeminiEmulator.make({
          apiKey: API_KEY,
          script: [GeminiEmulator.httpError(400, { message: `API key ${API_KEY} is not valid for this project.` })]
        })
        yield* observe(capture, loggedRun("Hi"), geminiFor(echo))

        // an interrupted run
        const slow = yield* GeminiEmulator.make({ apiKey: API_KEY, script: [GeminiEmulator.hang()] })
        const interrupted = Effect.gen(function*() {
          const fiber = yield* Effect.fork(Agent.run(math, "Take your time."))
          yield* slow.awaitRequest(0)
          return yield* Fiber.interrupt(fiber)
        })
        yield* observe(capture, interrupted, geminiFor(slow))
        return [ok, flaky, strict, echo, slow] as const
      }).pipe(Effect.scoped)

      const emulators = yield* scenarios.pipe(
        Logger.withMinimumLogLevel(LogLevel.All),
        Effect.provide(Logger.replace(Logger.defaultLogger, Logger.map(Logger.logfmtLogger, (line) => void capture.logs.push(line)))),
        Effect.withTracer(recordingTracer(capture.spans))
      )

      // the scenarios really ran and produced output worth checking
      assert.isAbove(capture.logs.length, 20)
      assert.isAbove(capture.spans.filter((s) => s.startsWith("Gemini.")).length, 5)
      assert.strictEqual(capture.outcomes.length, 5 + 2 * 2)
      assert.include(capture.outcomes.join("\n"), "AuthenticationFailed")
      assert.include(capture.outcomes.join("\n"), "[redacted]")
      // the key was accepted (it did travel, in the header) and every emulator was reached
      const requests = yield* Effect.forEach(emulators, (emulator) => Effect.map(emulator.requests, (r) => r.length))
      assert.deepStrictEqual(requests, [2, 3, 1, 1, 1])

      for (const [what, lines] of [["log", capture.logs], ["span", capture.spans], ["outcome", capture.outcomes]] as const) {
        for (const line of lines) assert.notInclude(line, API_KEY, `the API key leaked into a ${what}: ${line}`)
      }
      // the key's prefix alone does appear in neither (no partial printing either)
      assert.notInclude([...capture.logs, ...capture.outcomes].join("\n"), API_KEY.slice(0, 12))
    }))
})
