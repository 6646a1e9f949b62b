/**
 * 10 — Guardrails are tripwires that run beside the work and stop it the instant they trip.
 *
 * Scenario: a database assistant (`dba`) with one tool, `run_sql`, and three guardrails:
 *
 * - an input guardrail `pii` that asks a small classifier agent (`pii-classifier`, its own model
 *   call of 120 ms) whether the prompt holds personal data. It runs *concurrently with the first
 *   model call*, which would answer at 300 ms;
 * - a tool guardrail `no-drop` that rejects a `run_sql` call whose SQL drops a table: the model
 *   reads "blocked by guardrail no-drop: …" and the handler never runs;
 * - an output guardrail `no-secrets` that refuses an answer holding a password, with feedback: the
 *   reason goes back to the model, which answers again.
 *
 * Part 1 sends a prompt holding a social security number: the classifier says PII at 120 ms, and
 * at that instant the main model call is interrupted (its request aborted; with Gemini the HTTP
 * request is cancelled), no tool runs, and the run fails with `GuardrailTripped`.
 *
 * Part 2 sends a clean prompt: the guardrail passes at 120 ms while the model is still thinking,
 * so it costs nothing; the model asks for a `DROP TABLE` and a `SELECT` at once: the first is
 * blocked, the second runs; the first answer leaks a password and goes back with feedback; the
 * second answer completes the run.
 *
 * Clock: virtual (`TestClock`): every figure is an exact instant in ms. Offline: the model is
 * `ScriptedModel`. The program checks its own claims and exits 1 if one does not hold.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Agent, AgentError, type AgentEvent, Guardrail, Model, Tool } from "@effect-agents/core"
import { ScriptedModel } from "@effect-agents/testing"
import { Clock, Console, Context, Effect, Either, Exit, Fiber, Layer, Schema, Stream, TestClock, TestContext } from "effect"
import * as Timeline from "./timeline.js"

const timeline = Timeline.make({ who: 14, what: 18 })

// -----------------------------------------------------------------------------
// the model: one scripted model for the classifier and the assistant
// -----------------------------------------------------------------------------

const modelTurns = (request: Model.ModelRequest) => request.contents.filter((c) => c.role === "model").length

const script: ScriptedModel.Script = (request) => {
  const prompt = request.contents.find((c) => c.role === "user")?.parts.find((p) => p._tag === "Text")
  const text = prompt?._tag === "Text" ? prompt.text : ""
  if (request.agent === "pii-classifier") {
    return ScriptedModel.text(/\d{3}-\d{2}-\d{4}/.test(text) ? "PII" : "CLEAN", { delay: 120 })
  }
  switch (modelTurns(request)) {
    case 0:
      return ScriptedModel.callTools([
        { name: "run_sql", args: { sql: "DROP TABLE users" } },
        { name: "run_sql", args: { sql: "SELECT count(*) FROM users" } }
      ], { delay: 300 })
    case 1:
      return ScriptedModel.text("There are 42 users. The admin password is hunter2.", { delay: 100 })
    default:
      return ScriptedModel.text("There are 42 users.", { delay: 100 })
  }
}

/** The scripted model, with a line on the timeline when a model stream is cut before it ends. */
const model = Layer.effectContext(Effect.map(ScriptedModel.make(script), (scripted) =>
  Context.make(Model.Model, {
    generate: scripted.generate,
    stream: (request) =>
      Stream.unwrapScoped(Effect.as(
        Effect.addFinalizer((exit) =>
          Exit.isInterrupted(exit) ? timeline.note(request.agent, "model call cut", "its request is aborted") : Effect.void
        ),
        scripted.stream(request)
      ))
  }).pipe(Context.add(ScriptedModel.ScriptedModel, { requests: scripted.requests }))))

// -----------------------------------------------------------------------------
// the agent and its guardrails
// -----------------------------------------------------------------------------

const ran: Array<string> = []

const runSql = Tool.make("run_sql", {
  description: "Run one SQL statement on the users database",
  parameters: Schema.Struct({ sql: Schema.String }),
  success: Schema.String,
  handler: ({ sql }) => Effect.sync(() => (ran.push(sql), "42"))
})

const classifier = Agent.make({ name: "pii-classifier", instructions: "Answer PII or CLEAN." })

/** Input: a classifier agent decides; this races the assistant's first model call. */
const pii = Guardrail.input("pii", ({ prompt }) =>
  Effect.map(
    Agent.run(classifier, prompt),
    (result) => result.text === "PII" ? Guardrail.trip("the prompt holds personal data (a social security number)") : Guardrail.pass
  ))

/** Tool: no statement that drops a table ever runs. */
const noDrop = Guardrail.tool<{ readonly sql: string }>("no-drop", {
  before: ({ args }) => Effect.succeed(/drop\s+table/i.test(args.sql) ? Guardrail.reject("dropping tables is not allowed") : Guardrail.pass)
})

/** Output: no password in an answer; the model gets one more chance. */
const noSecrets = Guardrail.output(
  "no-secrets",
  ({ text }) => Effect.succeed(/password/i.test(text) ? Guardrail.trip("the answer reveals a password; leave it out") : Guardrail.pass),
  { feedback: { maxRetries: 1 } }
)

const dba = Agent.make({
  name: "dba",
  instructions: "Answer questions about the users database with run_sql.",
  tools: [runSql],
  policy: { toolFailure: "report" },
  guardrails: { input: [pii], tools: [noDrop], output: [noSecrets] }
})

// -----------------------------------------------------------------------------
// the program
// -----------------------------------------------------------------------------

/** Stream a run, printing each event as it happens; virtual time is driven to `millis`. */
const printRun = (prompt: string, millis: number) =>
  Effect.gen(function*() {
    const events: Array<AgentEvent.AgentEvent> = []
    timeline.start = yield* Clock.currentTimeMillis
    const fiber = yield* Agent.stream(dba, prompt).pipe(
      Stream.runForEach((event) => {
        events.push(event)
        return timeline.printEvent(event)
      }),
      Effect.either,
      Effect.fork
    )
    yield* TestClock.adjust(millis)
    return { events, outcome: yield* Fiber.join(fiber) }
  })

const program = Effect.gen(function*() {
  const at = (events: ReadonlyArray<AgentEvent.AgentEvent>, tag: AgentEvent.AgentEvent["_tag"]) =>
    events.filter((e) => e._tag === tag).map((e) => e.timestamp - events[0]!.timestamp)

  yield* Console.log(`Virtual time (TestClock): every figure is an exact instant in ms.\n`)
  yield* Console.log(`Part 1 — a prompt with personal data\n\n${timeline.header}`)
  const first = yield* printRun("My SSN is 123-45-6789: how many users are there?", 1000)
  const tripped = Either.isLeft(first.outcome) ? first.outcome.left : undefined
  yield* Console.log(`\nThe run failed with: ${tripped === undefined ? "nothing" : AgentError.describeError(tripped)}\n`)

  yield* Console.log(`Part 2 — a clean prompt\n\n${timeline.header}`)
  const second = yield* printRun("How many users are there?", 1000)
  const requests = yield* Effect.flatMap(ScriptedModel.ScriptedModel, (scripted) => scripted.requests)
  const completed = second.events.find((e): e is AgentEvent.RunCompleted => e._tag === "RunCompleted")
  const toModel = requests.filter((r) => r.agent === "dba").at(-2)?.contents.at(-1)?.parts ?? []
  yield* Console.log("")

  const claims: Array<Timeline.Claim> = [
    [
      "part 1: the pii guardrail tripped at 120 ms, and the run failed then with GuardrailTripped",
      at(first.events, "GuardrailTripped").join() === "120" && at(first.events, "RunFailed").join() === "120" &&
      tripped instanceof AgentError.GuardrailTripped && tripped.stage === "input"
    ],
    ["part 1: the assistant's model call (due at 300 ms) never answered", at(first.events, "ModelResponded").length === 0],
    [
      "part 2: the passing guardrail did not delay the run (the model answered at 300 ms, as without it)",
      at(second.events, "GuardrailPassed")[0] === 120 && at(second.events, "ModelResponded")[0] === 300
    ],
    ["part 2: DROP TABLE never ran; the SELECT did", ran.join() === "SELECT count(*) FROM users"],
    [
      "part 2: the model was told the DROP was blocked by guardrail no-drop",
      toModel.some((p) => p._tag === "FunctionResponse" && p.isError && String(p.output).includes(`blocked by guardrail "no-drop"`))
    ],
    [
      "part 2: the answer with a password went back as feedback; the second answer completed the run",
      second.events.some((e) => e._tag === "GuardrailTripped" && e.action === "feedback") &&
      Either.isRight(second.outcome) && completed?.text === "There are 42 users."
    ]
  ]
  const held = yield* Timeline.printClaims(claims)
  if (!held) return yield* Effect.die("a claim of this example does not hold")
})

program.pipe(
  Effect.provide(model),
  Effect.provide(TestContext.TestContext),
  NodeRuntime.runMain
)
