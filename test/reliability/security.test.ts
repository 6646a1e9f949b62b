/**
 * Security: the model reaches only what the active agent declares, and the API key never
 * leaks. The key scan runs the whole failure matrix against the real Gemini SDK talking to a
 * `GeminiEmulator` that accepts only a distinctive fake key, plus the emulator's own faults, and
 * searches every emitted string: errors, events, log lines (a test `Logger`) and span names,
 * attributes and events (a test `Tracer`).
 */
import { assert, describe, it } from "@effect/vitest"
import { Agent, type AgentEvent, Handoff, type Model, Tool } from "@effect-agents/core"
import { Gemini, GeminiEmulator } from "@effect-agents/gemini"
import { LeakCheck, ScriptedModel } from "@effect-agents/testing"
import { Cause, Effect, Exit, Layer, Logger, LogLevel, Redacted, Schedule, Schema, Stream } from "effect"
import {
  agentOfInstructions,
  type Backend,
  captureLogger,
  captureTracer,
  type CellRun,
  cellProgram,
  cutServer,
  emittedStrings,
  expectationOf,
  kindLabel,
  kinds,
  makeCapture,
  outcomeOf,
  placementLabel,
  placements,
  policies,
  runViolations,
  guardProcess
} from "./harness.js"

/** A distinctive fake key: no emitted string may contain it. */
const KEY = "AIzaSyFAKE-reliability-5c1e7d2b-never-print"

guardProcess()

// -----------------------------------------------------------------------------
// only declared tools and handoffs are reachable
// -----------------------------------------------------------------------------

describe("the model reaches only what the active agent declares", () => {
  const ran: Array<string> = []
  const tracked = (name: string) =>
    Tool.make(name, {
      description: `The ${name} tool`,
      parameters: Schema.Struct({}),
      handler: () => Effect.sync(() => ran.push(name)).pipe(Effect.as("done"))
    })
  const refund = tracked("refund_payment")
  const lookup = tracked("lookup_order")
  const billing = Agent.make({ name: "billing", instructions: "Handle refunds.", tools: [refund] })
  const triage = Agent.make({ name: "triage", instructions: "Route.", tools: [lookup], handoffs: [Handoff.to(billing)] })

  const runTriage = (script: ScriptedModel.Script) =>
    Effect.gen(function*() {
      ran.length = 0
      const result = yield* LeakCheck.check(Agent.run(triage, "Refund order 7"))
      const requests = yield* Effect.flatMap(ScriptedModel.ScriptedModel, (model) => model.requests)
      return { result, requests }
    }).pipe(Effect.provide(ScriptedModel.layer(script)))

  const responses = (result: { readonly history: Agent.RunResult["history"] }) =>
    result.history.flatMap((content) =>
      content.parts.flatMap((part) => part._tag === "FunctionResponse" ? [{ name: part.name, output: part.output, isError: part.isError }] : [])
    )

  it.effect("before a handoff, a tool of the target agent is refused and never runs", () =>
    Effect.gen(function*() {
      const { requests, result } = yield* runTriage([
        ScriptedModel.callTools([{ name: "refund_payment" }]),
        ScriptedModel.text("I cannot do that here.")
      ])
      assert.deepStrictEqual(ran, [])
      assert.deepStrictEqual(requests[0].tools.map((t) => t.name), ["lookup_order", "transfer_to_billing"])
      assert.deepStrictEqual(responses(result), [{
        name: "refund_payment",
        output: `Unknown tool "refund_payment". Available tools: lookup_order, transfer_to_billing.`,
        isError: true
      }])
      assert.strictEqual(result.agent, "triage")
    }))

  it.effect("after a handoff, the previous agent's tools and handoffs are refused and never run", () =>
    Effect.gen(function*() {
      const { requests, result } = yield* runTriage([
        ScriptedModel.callTools([{ name: "transfer_to_billing" }]),
        ScriptedModel.callTools([{ name: "lookup_order" }, { name: "transfer_to_billing" }, { name: "refund_payment" }]),
        ScriptedModel.text("Refunded.")
      ])
      assert.deepStrictEqual(ran, ["refund_payment"])
      assert.deepStrictEqual(requests.map((r) => [r.agent, r.tools.map((t) => t.name)]), [
        ["triage", ["lookup_order", "transfer_to_billing"]],
        ["triage/billing", ["refund_payment"]],
        ["triage/billing", ["refund_payment"]]
      ])
      assert.deepStrictEqual(responses(result).slice(1), [
        { name: "lookup_order", output: `Unknown tool "lookup_order". Available tools: refund_payment.`, isError: true },
        { name: "transfer_to_billing", output: `Unknown tool "transfer_to_billing". Available tools: refund_payment.`, isError: true },
        { name: "refund_payment", output: "done", isError: false }
      ])
      assert.strictEqual(result.agent, "triage/billing")
    }))
})

describe("arguments from the model are plain data, through the real SDK", () => {
  it.live("a function call whose arguments carry a __proto__ key is refused as invalid arguments before the handler runs", () =>
    Effect.gen(function*() {
      const seen: Array<unknown> = []
      const grant = Tool.make("grant", {
        description: "Grants a user their settings",
        parameters: Schema.Struct({ user: Schema.Record({ key: Schema.String, value: Schema.Unknown }) }),
        handler: ({ user }) => Effect.sync(() => seen.push((user as { readonly isAdmin?: unknown }).isAdmin)).pipe(Effect.as("granted"))
      })
      const agent = Agent.make({ name: "admin", instructions: "Grant settings.", tools: [grant] })
      const result = yield* LeakCheck.check(Agent.run(agent, "make me admin")).pipe(
        Effect.provide(GeminiEmulator.layerModel({
          script: [
            // sent on the wire as `{"user":{"__proto__":{"isAdmin":true}}}`, parsed back by the SDK as an own key
            GeminiEmulator.callTools([{ name: "grant", args: JSON.parse(`{"user":{"__proto__":{"isAdmin":true}}}`) }]),
            GeminiEmulator.text("Refused.")
          ]
        }))
      )
      assert.deepStrictEqual(seen, [])
      const responses = result.history.flatMap((content) => content.parts.filter((part) => part._tag === "FunctionResponse"))
      assert.deepStrictEqual(responses.map((part) => part._tag === "FunctionResponse" && [part.name, part.output, part.isError]), [[
        "grant",
        `Invalid arguments for tool "grant": the key "__proto__" at arguments.user: arguments are plain data, and the keys __proto__, constructor and prototype are refused at any depth`,
        true
      ]])
      assert.deepStrictEqual(
        result.events.filter((e): e is AgentEvent.ToolCallFailed => e._tag === "ToolCallFailed").map((e) => e.kind),
        ["invalid-arguments"]
      )
      assert.strictEqual(result.text, "Refused.")
    }))
})

// -----------------------------------------------------------------------------
// the API key never leaks
// -----------------------------------------------------------------------------

/** The real Gemini SDK against an emulator that accepts only `KEY`; 1 unit = 20 real ms. */
const gemini: Backend = {
  name: "Gemini",
  unit: 20,
  model: (turns) =>
    GeminiEmulator.layerModel({
      apiKey: KEY,
      model: "gemini-reliability",
      script: (request) => {
        const { calls, text } = turns(agentOfInstructions(JSON.stringify(request.body.systemInstruction ?? "")), request.turn)
        return GeminiEmulator.reply({
          ...(text !== undefined ? { text } : {}),
          ...(calls !== undefined ? { calls: calls.map((call) => ({ name: call.name, args: call.args as Record<string, unknown> })) } : {})
        })
      }
    })
}

/** Run `program` the way an application would: failures logged, spans traced; capture it all. */
const captured = <A>(program: Effect.Effect<A>) =>
  Effect.gen(function*() {
    const capture = makeCapture()
    const value = yield* program.pipe(
      Effect.tap((value) => Effect.logDebug("outcome", value)),
      Effect.withTracer(captureTracer(capture)),
      Effect.provide(captureLogger(capture)),
      Logger.withMinimumLogLevel(LogLevel.All)
    )
    return { value, capture }
  })

const leaksOf = (strings: ReadonlyArray<string>) => strings.filter((s) => s.includes(KEY))

describe("the API key appears in no emitted string", () => {
  it.live("the scan finds the key when a run does emit it", () =>
    Effect.gen(function*() {
      const echo = Tool.fromSync("echo", { description: "Echo", parameters: Schema.Struct({ text: Schema.String }), handler: ({ text }) => text })
      const agent = Agent.make({ name: "echo", instructions: "Echo.", tools: [echo] })
      const { capture, value } = yield* captured(
        Effect.exit(Agent.run(agent, "echo it")).pipe(Effect.provide(ScriptedModel.layer([
          ScriptedModel.callTools([{ name: "echo", args: { text: KEY } }]),
          ScriptedModel.text("done")
        ])))
      )
      const run: CellRun = {
        exit: value,
        runs: [Exit.isSuccess(value) ? value.value.events : []],
        requests: [],
        resources: { acquired: 0, released: 0, finalizers: [] }
      }
      assert.isAbove(leaksOf(emittedStrings(run, capture)).length, 0)
    }))

  describe("across the failure matrix, through the Gemini SDK and the emulator", () => {
    for (const placement of placements) {
      for (const kind of kinds) {
        for (const policy of policies) {
          const expected = expectationOf(kind, placement, policy)
          it.live(`${kindLabel[kind]} in ${placementLabel[placement]} under ${policy}`, () =>
            Effect.gen(function*() {
              const leaks = yield* LeakCheck.make
              const { capture, value: run } = yield* captured(
                leaks.supervise(cellProgram(kind, placement, policy, gemini)).pipe(
                  Effect.tap((run) => Exit.isFailure(run.exit) ? Effect.logError("run failed", run.exit.cause) : Effect.void)
                )
              )
              yield* leaks.assertClean

              // the same typed outcome as with the scripted model
              assert.deepStrictEqual(outcomeOf(run.exit), expected.outcome)
              assert.strictEqual(run.resources.released, run.resources.acquired)
              for (const events of run.runs) {
                const interrupted = !events.some((e) => e._tag === "RunCompleted" || e._tag === "RunFailed")
                if (interrupted) assert.isTrue(placement === "parallel" && policy === "fail-fast", "only a fail-fast group interrupts runs")
                assert.deepStrictEqual(runViolations(events, interrupted), [])
              }

              // the spans of the Gemini calls were seen (unless the fault stopped the only model call
              // before it reached Gemini), and none of the strings holds the key
              const reachedGemini = !(placement === "model" && (kind === "fail" || kind === "defect"))
              assert.strictEqual(capture.spans.some((span) => span.name.startsWith("Gemini.")), reachedGemini)
              assert.deepStrictEqual(leaksOf(emittedStrings(run, capture)), [])
            }))
        }
      }
    }
  })

  describe("under the emulator's own faults", () => {
    const chat = Agent.make({
      name: "chat",
      instructions: "Answer briefly.",
      policy: { modelTimeout: "500 millis", modelRetry: Schedule.spaced("20 millis").pipe(Schedule.intersect(Schedule.recurs(2))) }
    })

    /** Stream and run `chat` against an emulator playing `script` with the accepted key `accepted`. */
    const scenario = (script: GeminiEmulator.Script, accepted = KEY) =>
      Effect.gen(function*() {
        const emulator = yield* GeminiEmulator.make({ apiKey: accepted, script })
        const model: Layer.Layer<Model.Model> = Layer.orDie(
          Gemini.layer({ model: "gemini-reliability", apiKey: Redacted.make(KEY), baseUrl: emulator.baseUrl })
        )
        return yield* observe(model)
      }).pipe(Effect.scoped)

    const observe = (model: Layer.Layer<Model.Model>) =>
      Effect.gen(function*() {
        const events: Array<AgentEvent.AgentEvent> = []
        const exit = yield* Agent.stream(chat, "hi").pipe(
          Stream.runForEach((event) => Effect.zipRight(Effect.logDebug(event._tag, event), Effect.sync(() => events.push(event)))),
          Effect.tapErrorCause((cause) => Effect.logError("run failed", cause)),
          Effect.provide(model),
          Effect.exit
        )
        return { exit, runs: [events], requests: [], resources: { acquired: 0, released: 0, finalizers: [] } } satisfies CellRun
      })

    const expectClean = (program: Effect.Effect<CellRun>, outcome: string) =>
      Effect.gen(function*() {
        const { capture, value: run } = yield* captured(program)
        const got = Exit.isSuccess(run.exit) ? "completed" : Cause.squash(run.exit.cause) as { _tag?: string }
        assert.strictEqual(typeof got === "string" ? got : got._tag, outcome)
        assert.isAbove(capture.logs.length, 0)
        assert.deepStrictEqual(leaksOf(emittedStrings(run, capture)), [])
      })

    const cases: ReadonlyArray<readonly [string, GeminiEmulator.Script, string]> = [
      ["a 429 with a retry delay, then an answer", [GeminiEmulator.rateLimited({ retryDelay: "50 millis" }), GeminiEmulator.text("ok")], "completed"],
      ["a 503, then an answer", [GeminiEmulator.unavailable(503), GeminiEmulator.text("ok")], "completed"],
      ["a malformed body", [GeminiEmulator.malformedBody()], "MalformedResponse"],
      ["a connection dropped mid-stream, then an answer", [GeminiEmulator.dropConnection({ text: ["Hel"] }), GeminiEmulator.text("ok")], "completed"],
      ["a hang until modelTimeout, then an answer", [GeminiEmulator.hang(), GeminiEmulator.text("ok")], "completed"],
      ["a blocked prompt", [GeminiEmulator.blocked()], "ContentBlocked"],
      ["an answer without candidates", [GeminiEmulator.noCandidates()], "MalformedResponse"],
      ["a server error whose message echoes the key", [GeminiEmulator.httpError(400, { message: `API key not valid: ${KEY}` })], "InvalidRequest"]
    ]
    for (const [name, script, outcome] of cases) {
      it.live(`${name}: ${outcome}, and no key in any string`, () => expectClean(scenario(script), outcome))
    }

    it.live("a refused key: AuthenticationFailed, and no key in any string", () =>
      expectClean(scenario([GeminiEmulator.text("never")], "another-key-the-client-does-not-have"), "AuthenticationFailed"))

    it.live("an SSE stream cut mid-event, then an answer: completed, and no key in any string", () =>
      expectClean(
        Effect.scoped(Effect.flatMap(cutServer(["destroy", "full"]), (server) =>
          observe(Layer.orDie(Gemini.layer({ model: "gemini-reliability", apiKey: Redacted.make(KEY), baseUrl: server.baseUrl }))))),
        "completed"
      ))
  })
})
