/**
 * Shared machinery of the reliability suites: the failure matrix (fault kind × tool-failure
 * policy × placement), resource accounting, event checks, and captures of everything a run
 * emits (events, errors, log lines, span attributes) for the security scan.
 */
import { Agent, AgentError, AgentEvent, Handoff, type Model, Orchestrate, type Policy, Tool } from "@effect-agents/core"
import { FaultInjection, ScriptedModel } from "@effect-agents/testing"
import { afterAll, afterEach, assert, beforeAll } from "@effect/vitest"
import * as Headers from "@effect/platform/Headers"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberRef from "effect/FiberRef"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"
import { createServer } from "node:http"
import { type RecordedSpan, recordingTracer } from "../support/tracing.js"

// -----------------------------------------------------------------------------
// resources: every acquisition must be released
// -----------------------------------------------------------------------------

export interface Resources {
  acquired: number
  released: number
  readonly finalizers: Array<string>
}

export const makeResources = (): Resources => ({ acquired: 0, released: 0, finalizers: [] })

/** A scoped resource held by a tool call: released when the call ends, whatever the outcome. */
export const hold = (resources: Resources, name: string) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      resources.acquired++
    }),
    (_, exit) =>
      Effect.sync(() => {
        resources.released++
        resources.finalizers.push(`${name}:${Exit.isSuccess(exit) ? "done" : Exit.isInterrupted(exit) ? "interrupted" : "failed"}`)
      })
  )

/** `lookup`: holds a resource for 1 unit, answers "42"; times out after 10 units. */
export const lookupTool = (resources: Resources, unit = 1000) =>
  Tool.make("lookup", {
    description: "Look a fact up",
    scoped: true,
    parameters: Schema.Struct({ query: Schema.String }),
    success: Schema.String,
    timeout: Duration.millis(10 * unit),
    handler: () => Effect.zipRight(hold(resources, "lookup"), Effect.as(Effect.sleep(Duration.millis(unit)), "42"))
  })

/** `slow`: holds a resource for 5 units, answers "ok". */
export const slowTool = (resources: Resources, unit = 1000) =>
  Tool.make("slow", {
    description: "A slow sibling",
    scoped: true,
    parameters: Schema.Struct({}),
    success: Schema.String,
    handler: () => Effect.zipRight(hold(resources, "slow"), Effect.as(Effect.sleep(Duration.millis(5 * unit)), "ok"))
  })

// -----------------------------------------------------------------------------
// the matrix
// -----------------------------------------------------------------------------

export const kinds = ["fail", "defect", "hang", "latency", "rate-limited", "unavailable", "stream-cut", "malformed"] as const
export type Kind = typeof kinds[number]
export const policies = ["fail-fast", "report"] as const
export type ToolPolicy = typeof policies[number]
export const placements = ["tool", "model", "handoff", "parallel"] as const
export type Placement = typeof placements[number]

export const kindLabel: Record<Kind, string> = {
  "fail": "a typed failure",
  "defect": "a defect",
  "hang": "a hang",
  "latency": "2 s of added latency",
  "rate-limited": "a 429 with a 3 s retry delay",
  "unavailable": "a 503",
  "stream-cut": "a stream cut",
  "malformed": "a malformed response"
}

export const placementLabel: Record<Placement, string> = {
  tool: "a tool",
  model: "the model",
  handoff: "a handoff target",
  parallel: "one of three parallel sub-agents"
}

/** The fault of a cell, firing on the first call of its target (durations in units). */
export const faultOf = (kind: Kind, unit = 1000): FaultInjection.Fault<never> => {
  const first = { calls: [1] }
  switch (kind) {
    case "fail":
      return FaultInjection.fail(first)
    case "defect":
      return FaultInjection.defect(first)
    case "hang":
      return FaultInjection.hang(first)
    case "latency":
      return FaultInjection.latency(Duration.millis(2 * unit), first)
    case "rate-limited":
      return FaultInjection.rateLimited({ ...first, retryAfter: Duration.millis(3 * unit) })
    case "unavailable":
      return FaultInjection.unavailable(first)
    case "stream-cut":
      return FaultInjection.streamCut({ ...first, afterChunks: 2 })
    case "malformed":
      return FaultInjection.malformed(first)
  }
}

export type Outcome =
  | { readonly _tag: "Completed"; readonly texts: ReadonlyArray<string> }
  | { readonly _tag: "Failed"; readonly error: string; readonly inner: string | undefined }
  | { readonly _tag: "Died"; readonly defect: string }
  | { readonly _tag: "Interrupted" }

export interface Expectation {
  readonly outcome: Outcome
  /** Virtual instant (ms) of the faulty run's terminal event. */
  readonly endsAt: number
  /** Sub-agents (parallel placement) interrupted by the group's fail-fast. */
  readonly interrupted: ReadonlyArray<string>
  /** What the model reads next turn for the faulty `lookup` call (report policy). */
  readonly modelSees: { readonly output: unknown; readonly isError: boolean } | undefined
  /** `RetryScheduled` delays (model placement). */
  readonly retries: ReadonlyArray<number>
  /** How and when the faulty `lookup` call ends (tool-ish placements): event tag, kind or reason. */
  readonly lookup: { readonly end: string; readonly at: number } | undefined
  /** How the faulty run's `slow` sibling call ends (tool-ish placements). */
  readonly sibling: "ToolCallSucceeded" | "sibling-failed" | undefined
  readonly summary: string
}

/** Path of the agent owning the faulty tool, and the id of its `lookup` call. */
export const faultyAgent: Record<Exclude<Placement, "model">, { readonly path: string; readonly callId: string }> = {
  tool: { path: "worker", callId: "call_1_0" },
  handoff: { path: "triage/specialist", callId: "call_2_0" },
  parallel: { path: "b", callId: "call_1_0" }
}

/** What a tool fault does to `lookup`: how the call ends, when, and what the model is told. */
const toolFaultEffect = (kind: Kind, callId: string) => {
  switch (kind) {
    case "fail":
      return { at: 0, end: "failure", inner: "InjectedFailure", message: `Injected failure on call 1 of "lookup".` }
    case "defect":
      return { at: 0, end: "defect", inner: "InjectedDefect", message: `Tool "lookup" crashed: Injected defect on call 1 of "lookup".` }
    case "hang":
      return {
        at: 10_000,
        end: "timeout",
        inner: "ToolTimeout",
        message: `Tool "lookup" (call ${callId}) timed out after 10s and was interrupted.`
      }
    case "latency":
      return undefined
    case "rate-limited":
      return { at: 0, end: "failure", inner: "InjectedFailure", message: `Injected 429 on call 1 of "lookup": rate limited, retry in 3s.` }
    case "unavailable":
      return { at: 0, end: "failure", inner: "InjectedFailure", message: `Injected 503 on call 1 of "lookup": service unavailable.` }
    case "stream-cut":
      return {
        at: 1000,
        end: "failure",
        inner: "InjectedFailure",
        message: `Injected stream cut on call 1 of "lookup": the connection dropped before the result arrived.`
      }
    case "malformed":
      return {
        at: 1000,
        end: "invalid-result",
        inner: "ToolResultInvalid",
        message: `Tool "lookup" (call ${callId}) returned a value that does not match its success schema: ` +
          `Expected string, actual {"FaultInjection.malformed":true}`
      }
  }
}

/** The expected outcome of a cell, from the policy rules (not from running anything). */
export const expectationOf = (kind: Kind, placement: Placement, policy: ToolPolicy): Expectation => {
  if (placement === "model") {
    // Model errors are not tool failures: the tool policy does not matter. Retryable ones are
    // retried (modelTimeout 30 s, backoff 1 s; a server delay wins), then the turn's tools take 5 s.
    switch (kind) {
      case "fail":
        return model({ _tag: "Failed", error: "InvalidRequest", inner: undefined }, 0, [], "fails the run with InvalidRequest at t=0")
      case "defect":
        return model({ _tag: "Died", defect: "InjectedDefect" }, 0, [], "dies with the defect at t=0")
      case "hang":
        return model(completed(["done"]), 36_000, [1000], "times out at 30 s, retries after 1 s and completes at t=36000")
      case "latency":
        return model(completed(["done"]), 7000, [], "completes 2 s late at t=7000")
      case "rate-limited":
        return model(completed(["done"]), 8000, [3000], "retries after the server's 3 s and completes at t=8000")
      case "unavailable":
        return model(completed(["done"]), 6000, [1000], "retries after 1 s and completes at t=6000")
      case "stream-cut":
        return model(completed(["done"]), 6000, [1000], "retries the cut stream after 1 s and completes at t=6000")
      case "malformed":
        return model(
          { _tag: "Failed", error: "MalformedResponse", inner: undefined },
          0,
          [],
          "fails the run with MalformedResponse at t=0"
        )
    }
  }
  const { callId } = faultyAgent[placement]
  const effect = toolFaultEffect(kind, callId)
  const texts = placement === "parallel" ? ["done a", "done b", "done c"] : ["done"]
  if (effect === undefined) {
    return {
      outcome: completed(texts),
      endsAt: 5000,
      interrupted: [],
      modelSees: { output: "42", isError: false },
      retries: [],
      lookup: { end: "ToolCallSucceeded", at: 3000 },
      sibling: "ToolCallSucceeded",
      summary: "completes at t=5000 (the slow sibling bounds the turn)"
    }
  }
  if (policy === "report") {
    const endsAt = Math.max(5000, effect.at)
    return {
      outcome: completed(texts),
      endsAt,
      interrupted: [],
      modelSees: { output: effect.message, isError: true },
      retries: [],
      lookup: { end: effect.end, at: effect.at },
      sibling: "ToolCallSucceeded",
      summary: `reports the error to the model and completes at t=${endsAt}`
    }
  }
  const interrupted = placement === "parallel" && effect.at < 5000 ? ["a", "c"] : []
  return {
    outcome: { _tag: "Failed", error: "ToolCallFailed", inner: effect.inner },
    endsAt: effect.at,
    interrupted,
    modelSees: undefined,
    retries: [],
    lookup: { end: effect.end, at: effect.at },
    sibling: effect.at < 5000 ? "sibling-failed" : "ToolCallSucceeded",
    summary: `fails the run with ToolCallFailed (${effect.inner}) at t=${effect.at}` +
      (interrupted.length > 0 ? " and interrupts the other sub-agents" : "")
  }
}

const completed = (texts: ReadonlyArray<string>): Outcome => ({ _tag: "Completed", texts })

const model = (outcome: Outcome, endsAt: number, retries: ReadonlyArray<number>, summary: string): Expectation => ({
  outcome,
  endsAt,
  interrupted: [],
  modelSees: undefined,
  retries,
  lookup: undefined,
  sibling: undefined,
  summary
})

// -----------------------------------------------------------------------------
// running a cell
// -----------------------------------------------------------------------------

export interface CellRun {
  readonly exit: Exit.Exit<unknown, unknown>
  /** Events per run, in emission order. */
  readonly runs: ReadonlyArray<ReadonlyArray<AgentEvent.AgentEvent>>
  /** What the model received (empty when the backend does not record core requests). */
  readonly requests: ReadonlyArray<Model.ModelRequest>
  readonly resources: Resources
}

/** One scripted answer, whatever the model backend. */
export interface Turn {
  readonly text?: ReadonlyArray<string> | undefined
  readonly calls?: ReadonlyArray<{ readonly name: string; readonly args?: unknown }> | undefined
}

/** The answer an agent (by name) gets on a turn (model messages already in its history). */
export type Turns = (agent: string, turn: number) => Turn

/**
 * Where the cells' model comes from, and how long a time unit is: the `ScriptedModel` in
 * virtual time (1 unit = 1 s on the `TestClock`), or the real Gemini SDK against a
 * `GeminiEmulator` (real time, short units).
 */
export interface Backend {
  readonly name: string
  readonly unit: number
  readonly model: (turns: Turns) => Layer.Layer<Model.Model>
}

/** The agent a worker's system instruction names (`… You are <name>.`). */
export const agentOfInstructions = (instructions: string | undefined): string =>
  /You are ([a-z]+)\./.exec(instructions ?? "")?.[1] ?? "triage"

export const scripted: Backend = {
  name: "ScriptedModel",
  unit: 1000,
  model: (turns) =>
    ScriptedModel.layer((request) => {
      const turn = request.contents.filter((content) => content.role === "model").length
      const { calls, text } = turns(agentOfInstructions(request.system), turn)
      const step = { ...(calls !== undefined ? { calls } : {}), ...(text !== undefined ? { text: text.join("") } : {}) }
      return step
    })
}

const policyOf = (toolFailure: ToolPolicy, unit: number): Policy.Options => ({
  toolFailure,
  modelTimeout: Duration.millis(30 * unit),
  modelRetry: Schedule.exponential(Duration.millis(unit)).pipe(Schedule.intersect(Schedule.recurs(3)))
})

/** File an event under its run (one array per run id, in order of first appearance). */
const byRun = (runs: Array<Array<AgentEvent.AgentEvent>>, event: AgentEvent.AgentEvent) => {
  const events = runs.find((events) => events[0]?.runId === event.runId)
  if (events === undefined) runs.push([event])
  else events.push(event)
}

/** Run one conversation with `Agent.stream`, keeping its events even when it fails. */
const collect = (
  agent: Agent.Any,
  prompt: string,
  sink: Array<Array<AgentEvent.AgentEvent>>
): Effect.Effect<string, AgentError.AgentError, Model.Model> =>
  Effect.suspend(() => {
    const events: Array<AgentEvent.AgentEvent> = []
    sink.push(events)
    return Agent.stream(agent, prompt).pipe(
      Stream.runForEach((event) => Effect.sync(() => events.push(event))),
      Effect.map(() => {
        const last = events.at(-1)
        return last?._tag === "RunCompleted" ? last.text : ""
      })
    )
  })

/**
 * The program of a cell: the agents, the script and the fault, run with `Agent.stream` (or
 * `Orchestrate.parallel`) so the events of failed runs are kept. Returns when every run is
 * over; under `TestClock`, time must be driven by `TestClock.adjust`.
 */
export const cellProgram = (
  kind: Kind,
  placement: Placement,
  policy: ToolPolicy,
  backend: Backend = scripted
): Effect.Effect<CellRun> =>
  Effect.suspend(() => {
    const unit = backend.unit
    const resources = makeResources()
    const runs: Array<Array<AgentEvent.AgentEvent>> = []
    const lookup = lookupTool(resources, unit)
    const slow = slowTool(resources, unit)
    const faulty = FaultInjection.tool(lookup, [faultOf(kind, unit)], { seed: 1 })
    const calls = [{ name: "lookup", args: { query: "answer" } }, { name: "slow", args: {} }]
    const worker = (name: string, tools: ReadonlyArray<Tool.Any>) =>
      Agent.make({ name, instructions: `Use the tools. You are ${name}.`, tools, policy: policyOf(policy, unit) })
    // every worker calls its tools, then answers; by turn, so a retried request gets the same answer
    const work = (answer: string): Turns => (_, turn) => turn === 0 ? { calls } : { text: [answer] }

    let program: Effect.Effect<ReadonlyArray<string>, AgentError.AgentError, Model.Model>
    let layer: Layer.Layer<Model.Model>
    switch (placement) {
      case "tool": {
        program = Effect.map(collect(worker("worker", [faulty, slow]), "go", runs), (text) => [text])
        layer = backend.model(work("done"))
        break
      }
      case "model": {
        program = Effect.map(collect(worker("worker", [lookup, slow]), "go", runs), (text) => [text])
        const turns: Turns = (_, turn) =>
          turn === 0 ? { calls, text: ["Let ", "me ", "look ", "that ", "up."] } : { text: ["done"] }
        layer = FaultInjection.model([faultOf(kind, unit)], { seed: 1 }).pipe(Layer.provideMerge(backend.model(turns)))
        break
      }
      case "handoff": {
        const specialist = worker("specialist", [faulty, slow])
        const triage = Agent.make({
          name: "triage",
          instructions: "Route to the specialist.",
          handoffs: [Handoff.to(specialist)],
          policy: policyOf(policy, unit)
        })
        program = Effect.map(collect(triage, "go", runs), (text) => [text])
        layer = backend.model((agent, turn) =>
          agent === "triage" ? { calls: [{ name: "transfer_to_specialist", args: {} }] } : work("done")(agent, turn - 1)
        )
        break
      }
      case "parallel": {
        const agents = [worker("a", [lookup, slow]), worker("b", [faulty, slow]), worker("c", [lookup, slow])]
        // fail-fast: TaskGroup, the first failing sub-agent interrupts the others;
        // settle-all: gather(return_exceptions=True), every sub-agent goes to its end
        const mode = policy === "fail-fast" ? "fail-fast" : "settle-all"
        program = Orchestrate.parallel(agents, "go", { mode }).pipe(
          Stream.runForEach((event) => Effect.sync(() => byRun(runs, event))),
          Effect.map(() => runs.map((events) => events.at(-1)).flatMap((e) => e?._tag === "RunCompleted" ? [e.text] : []))
        )
        layer = backend.model((agent, turn) => work(`done ${agent}`)(agent, turn))
        break
      }
    }
    return Effect.gen(function*() {
      const context = yield* Layer.build(layer)
      const exit = yield* Effect.exit(Effect.provide(program, context))
      const scriptedModel = Context.getOption(context, ScriptedModel.ScriptedModel)
      const requests = Option.isSome(scriptedModel) ? yield* scriptedModel.value.requests : []
      return { exit, runs, requests, resources }
    }).pipe(Effect.scoped)
  })

/** The typed outcome of a cell's exit. */
export const outcomeOf = (exit: Exit.Exit<unknown, unknown>): Outcome => {
  if (Exit.isSuccess(exit)) return { _tag: "Completed", texts: exit.value as ReadonlyArray<string> }
  const failure = Cause.failureOption(exit.cause)
  if (Option.isSome(failure)) {
    const error = failure.value as { readonly _tag: string }
    const inner = error instanceof AgentError.ToolCallFailed ? tagOf(Cause.squash(error.cause)) : undefined
    return { _tag: "Failed", error: error._tag, inner }
  }
  if (Cause.isDie(exit.cause)) return { _tag: "Died", defect: tagOf(Cause.squash(exit.cause)) }
  return { _tag: "Interrupted" }
}

const tagOf = (u: unknown): string =>
  typeof u === "object" && u !== null && "_tag" in u ? String(u._tag) : u instanceof Error ? u.name : String(u)

/**
 * The event checks of one run: the tool-call invariant (every `ToolCallStarted` has exactly
 * one terminal event), and exactly one terminal run event (`RunCompleted` or `RunFailed`),
 * last — or none when the run was interrupted from outside.
 */
export const runViolations = (events: ReadonlyArray<AgentEvent.AgentEvent>, interrupted: boolean): ReadonlyArray<string> => {
  const violations: Array<string> = []
  const first = events[0]
  if (first?._tag !== "RunStarted") violations.push(`the run does not start with RunStarted (${first?._tag})`)
  const terminals = events.filter((e) => e._tag === "RunCompleted" || e._tag === "RunFailed")
  const invariant = AgentEvent.invariantViolations(events)
  if (interrupted) {
    if (terminals.length > 0) violations.push(`an interrupted run emitted ${terminals.map((e) => e._tag).join(", ")}`)
  } else {
    if (terminals.length !== 1) violations.push(`expected one terminal run event, got ${terminals.length}`)
    else if (events.at(-1) !== terminals[0]) violations.push(`${terminals[0]._tag} is not the last event`)
  }
  violations.push(...invariant)
  return violations
}

// -----------------------------------------------------------------------------
// captures: every string a run emits (for the API-key scan)
// -----------------------------------------------------------------------------

export interface Capture {
  readonly logs: Array<string>
  readonly spans: Array<RecordedSpan>
}

export const makeCapture = (): Capture => ({ logs: [], spans: [] })

/** A Logger recording every log line (message, annotations, cause) as text. */
export const captureLogger = (capture: Capture) =>
  Logger.replace(
    Logger.defaultLogger,
    Logger.make(({ annotations, cause, logLevel, message }) => {
      capture.logs.push(
        `${logLevel.label} ${Array.isArray(message) ? message.map(String).join(" ") : String(message)} ` +
          `${JSON.stringify(Object.fromEntries(annotations))} ${Cause.isEmpty(cause) ? "" : Cause.pretty(cause)}`
      )
    })
  )

/** A Tracer recording every span, its attributes, its events and its failure. */
export const captureTracer = (capture: Capture): Tracer.Tracer => recordingTracer(capture.spans)

/** Every string a cell emitted: errors (pretty cause and messages), events, logs, span names, attributes and events. */
export const emittedStrings = (run: CellRun, capture: Capture): ReadonlyArray<string> => [
  Exit.isFailure(run.exit) ? Cause.pretty(run.exit.cause) : String(JSON.stringify(run.exit.value)),
  ...(Exit.isFailure(run.exit) ? Array.from(Cause.failures(run.exit.cause), (e) => AgentError.describeError(e)) : []),
  ...run.runs.flat().map((event) => JSON.stringify(event)),
  ...capture.logs,
  ...capture.spans.flatMap((span) => [
    span.name,
    JSON.stringify(Object.fromEntries(span.attributes), (_, v) => typeof v === "bigint" ? String(v) : v),
    ...span.events
  ])
]

// -----------------------------------------------------------------------------
// a Gemini-speaking server that cuts its SSE answers in the middle of an event
// -----------------------------------------------------------------------------

const encoder = new TextEncoder()
const sse = (event: unknown) => encoder.encode(`data: ${JSON.stringify(event)}\r\n\r\n`)
const textEvent = (text: string, finishReason?: string) =>
  sse({
    candidates: [{ content: { role: "model", parts: [{ text }] }, ...(finishReason ? { finishReason } : {}) }],
    ...(finishReason ? { usageMetadata: { promptTokenCount: 3, candidatesTokenCount: 2, totalTokenCount: 5 } } : {})
  })
/** The first half of an SSE event: its JSON stops in the middle of a string. */
const halfEvent = encoder.encode(`data: {"candidates": [{"content": {"role": "model", "parts": [{"text": "wor`)

/**
 * How each request to a `cutServer` is answered: `destroy` sends "Hello " then half an event
 * and drops the connection; `end` sends the same and ends the response cleanly; `full`
 * streams "Hello " and "world." properly.
 */
export type CutAnswer = "destroy" | "end" | "full"

/**
 * A loopback HTTP server (`@effect/platform`) answering `:streamGenerateContent` the way Gemini
 * does, with SSE streams cut mid-event. Lives in the current scope; returns its base URL and a
 * count of the requests it received.
 */
export const cutServer = (answers: ReadonlyArray<CutAnswer>) =>
  Effect.gen(function*() {
    let requests = 0
    const handler = Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const answer = answers[requests++] ?? "full"
      const response = NodeHttpServerRequest.toServerResponse(request)
      const body = answer === "full"
        ? Stream.make(textEvent("Hello "), textEvent("world.", "STOP"))
        : Stream.make(textEvent("Hello "), halfEvent).pipe(
          Stream.concat(
            answer === "destroy"
              ? Stream.concat(Stream.execute(Effect.sync(() => response.socket?.destroySoon())), Stream.never)
              : Stream.empty
          )
        )
      return HttpServerResponse.stream(body, { contentType: "text/event-stream" })
    })
    const server = yield* Effect.orDie(NodeHttpServer.make(() => createServer(), { port: 0, host: "127.0.0.1" }))
    // the server's tracing middleware records request headers as span attributes: x-goog-api-key
    // is not among @effect/platform's default redacted names, so add it
    const redacted = yield* FiberRef.get(Headers.currentRedactedNames)
    yield* HttpServer.serveEffect(HttpRouter.empty.pipe(HttpRouter.post("/v1beta/models/:call", handler))).pipe(
      Effect.provideService(HttpServer.HttpServer, server),
      Effect.locally(Headers.currentRedactedNames, [...redacted, "x-goog-api-key"])
    )
    const address = server.address
    return {
      baseUrl: address._tag === "TcpAddress" ? `http://127.0.0.1:${address.port}` : "",
      requests: Effect.sync(() => requests)
    }
  })

/**
 * Fail every test of the calling file after which an unhandled rejection or an uncaught
 * exception reached the process (listeners installed for the file's lifetime).
 */
export const guardProcess = (): void => {
  const escaped: Array<unknown> = []
  const onEscape = (error: unknown) => {
    escaped.push(error)
  }
  beforeAll(() => {
    process.on("unhandledRejection", onEscape)
    process.on("uncaughtException", onEscape)
  })
  afterAll(() => {
    process.off("unhandledRejection", onEscape)
    process.off("uncaughtException", onEscape)
  })
  afterEach(async () => {
    // let any stray rejection of the test reach the listeners before checking
    await new Promise((resolve) => setImmediate(resolve))
    assert.deepStrictEqual(escaped, [], "an unhandled rejection or uncaught exception reached the process")
  })
}
