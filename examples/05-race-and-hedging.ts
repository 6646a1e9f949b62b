/**
 * 05 — Races and hedged model calls.
 *
 * Part 1, `Orchestrate.race`: a `quick` agent answers from what it knows; a `thorough` agent
 * first runs a 2-second `deep_search` that holds a connection (a scoped resource). The first
 * success wins: at the instant `quick` answers, `thorough`'s run is interrupted, the search is
 * cancelled and its connection is closed — before `race` returns. If every contender fails, the
 * race fails with `AllFailed`, listing every failure (shown at the end of the part).
 *
 * Part 2, `Model.withHedging`: tail latency. One model replica is stuck and takes 2 s to answer;
 * the others take 150 ms. With `Model.withHedging({ after: "300 millis" })`, a call that has not
 * answered after 300 ms is sent again; the first answer wins and the stuck copy is interrupted
 * (its stream closed). The conversation's second call answers fast, so it is never hedged.
 *
 * Clock: real time with short scripted delays (about 3 s in all); figures are milliseconds
 * since each part started and may vary by a few ms. Offline: the model is `ScriptedModel`. The
 * program checks its own claims and exits 1 if one does not hold.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Agent, AgentError, type AgentEvent, Model, Orchestrate, Tool } from "@effect-agents/core"
import { ScriptedModel } from "@effect-agents/testing"
import { Clock, Console, Effect, Either, Exit, Layer, Schema, Stream } from "effect"
import * as Timeline from "./timeline.js"

// -----------------------------------------------------------------------------
// timeline
// -----------------------------------------------------------------------------

/** Real clock: each part sets the time origin when it starts. */
const timeline = Timeline.make({ who: 10, what: 22, titles: ["who", "what"] })
const lines: Array<{ readonly at: number; readonly who: string; readonly what: string }> = []

/** A timeline line, kept in `lines` for the checks. */
const note = (who: string, what: string, detail = "") =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => {
    lines.push({ at: now - timeline.start, who, what })
    return Console.log(timeline.row(now, who, what, detail))
  })

const at = (who: string, what: string) => lines.find((l) => l.who === who && l.what === what)?.at ?? NaN

const begin = (title: string) =>
  Effect.gen(function*() {
    lines.length = 0
    yield* Console.log(`\n${title}\n\n${timeline.header}`)
    timeline.start = yield* Clock.currentTimeMillis
  })

// -----------------------------------------------------------------------------
// part 1: a race of agents
// -----------------------------------------------------------------------------

const deepSearch = Tool.make("deep_search", {
  description: "Search every archive (slow)",
  scoped: true,
  parameters: Schema.Struct({ query: Schema.String }),
  handler: ({ query }) =>
    Effect.gen(function*() {
      yield* Effect.acquireRelease(
        note("thorough", "connection opened"),
        (_, exit) => note("thorough", "connection closed", Exit.isInterrupted(exit) ? "(search interrupted)" : "")
      )
      yield* Effect.sleep("2 seconds")
      return `archives about ${query}`
    })
})

const quick = Agent.make({ name: "quick", instructions: "Answer from what you know." })
const thorough = Agent.make({ name: "thorough", instructions: "Search before answering.", tools: [deepSearch] })

const raceScript: ScriptedModel.Script = (request) =>
  request.agent === "quick"
    ? ScriptedModel.text("Lyon's old town is a UNESCO site.", { delay: "400 millis" })
    : request.contents.length === 1
    ? ScriptedModel.callTools([{ name: "deep_search", args: { query: "Lyon old town" } }], { delay: "100 millis" })
    : ScriptedModel.text("Vieux Lyon, listed in 1998.", { delay: "100 millis" })

// -----------------------------------------------------------------------------
// part 2: hedged model calls
// -----------------------------------------------------------------------------

const lookup = Tool.fromSync("lookup", {
  description: "Look up a fact",
  parameters: Schema.Struct({ topic: Schema.String }),
  handler: ({ topic }) => `${topic}: 513,000 inhabitants`
})
const guide = Agent.make({ name: "guide", instructions: "Answer with the lookup tool.", tools: [lookup] })

/** The replicas: the first request lands on a stuck one (2 s); every other answers in 150 ms. */
const replicas: ScriptedModel.Script = (request, index) => {
  const slow = index === 0
  const delay = slow ? "2 seconds" : "150 millis"
  return request.contents.length === 1
    ? ScriptedModel.callTools([{ name: "lookup", args: { topic: "Lyon" } }], { delay })
    : ScriptedModel.text("Lyon has about 513,000 inhabitants.", { delay })
}

/** The scripted model with each copy of a call traced: when it is sent, answers, or is closed unanswered. */
const tracedReplicas = Layer.effect(
  Model.Model,
  Effect.map(Model.Model, (model): Model.Model.Service => {
    let sent = 0
    return {
      generate: model.generate,
      stream: (request) =>
        Stream.unwrapScoped(Effect.gen(function*() {
          const copy = `copy ${++sent}`
          yield* note("replica", `${copy} sent`, `(turn ${request.contents.filter((c) => c.role === "model").length + 1})`)
          yield* Effect.addFinalizer((exit) =>
            Exit.isInterrupted(exit) ? note("replica", `${copy} interrupted`, "(stream closed unanswered)") : Effect.void
          )
          let first = true
          return Stream.tap(model.stream(request), () => {
            if (!first) return Effect.void
            first = false
            return note("replica", `${copy} answered`, "(first chunk)")
          })
        }))
    }
  })
).pipe(Layer.provide(ScriptedModel.layer(replicas)))

const showEvent = (event: AgentEvent.AgentEvent) => {
  switch (event._tag) {
    case "ModelRequested":
      return note(event.agent, event._tag, `turn ${event.turn}`)
    case "ModelResponded":
    case "RunCompleted":
      return note(event.agent, event._tag, Timeline.describeEvent(event))
    default:
      return Effect.void
  }
}

// -----------------------------------------------------------------------------
// the program
// -----------------------------------------------------------------------------

const program = Effect.gen(function*() {
  const claims: Array<Timeline.Claim> = []

  // one silent run first, so that JIT compilation does not skew the first timeline
  yield* Orchestrate.race([quick, quick], "warm-up").pipe(
    Effect.provide(ScriptedModel.layer(() => ScriptedModel.text("ok"))),
    Effect.ignore
  )

  yield* begin("Part 1 — Orchestrate.race([thorough, quick], ...): the first success wins")
  const winner = yield* Orchestrate.race([thorough, quick], "Tell me about Lyon's old town.").pipe(
    Effect.provide(ScriptedModel.layer(raceScript))
  )
  yield* note("race", "returned", `winner: ${winner.agent}, ${JSON.stringify(winner.text)}`)
  claims.push(
    ["quick won the race", winner.agent === "quick"],
    [`thorough's search was interrupted when quick answered (at ${at("thorough", "connection closed")} ms)`, !Number.isNaN(at("thorough", "connection closed"))],
    ["... at that instant (within 50 ms of race returning, before 1 s)", Math.abs(at("race", "returned") - at("thorough", "connection closed")) < 50 && at("race", "returned") < 1000, "timing"],
    ["its connection was closed before race returned", at("thorough", "connection closed") <= at("race", "returned")]
  )

  const allFailed = yield* Orchestrate.race([quick, thorough], "Tell me about Lyon's old town.").pipe(
    Effect.provide(ScriptedModel.layer((request) =>
      request.agent === "quick"
        ? ScriptedModel.fail(new AgentError.ContentBlocked({ reason: "RECITATION" }), { delay: "50 millis" })
        : ScriptedModel.fail(new AgentError.InvalidRequest({ status: 400, detail: "tool schema rejected" }), { delay: "80 millis" })
    )),
    Effect.either
  )
  if (Either.isLeft(allFailed)) yield* Console.log(`\nWhen every contender fails: ${allFailed.left._tag}: ${allFailed.left.message}`)
  claims.push(["a race whose contenders all fail reports every failure", Either.isLeft(allFailed) && allFailed.left.causes.length === 2])

  yield* begin("Part 2 — Model.withHedging({ after: \"300 millis\" }): a stuck replica does not stall the run")
  yield* Agent.stream(guide, "How many people live in Lyon?").pipe(
    Stream.runForEach(showEvent),
    Effect.zipRight(note("guide", "done")),
    Effect.provide(tracedReplicas.pipe(Model.withHedging({ after: "300 millis" })))
  )
  const firstTurn = at("guide", "ModelResponded")
  claims.push(
    [`the stuck call was hedged no sooner than 300 ms (copy 2 sent at ${at("replica", "copy 2 sent")} ms)`, at("replica", "copy 2 sent") >= 295],
    [`... and soon after (within 100 ms of it)`, at("replica", "copy 2 sent") < 400, "timing"],
    [`turn 1 answered at ${firstTurn} ms instead of ~2000 ms`, firstTurn < 1000, "timing"],
    ["the stuck copy was interrupted when the hedge answered", lines.some((l) => l.what === "copy 1 interrupted")],
    ["... at that instant (within 50 ms)", Math.abs(at("replica", "copy 1 interrupted") - at("replica", "copy 2 answered")) < 50, "timing"],
    ["turn 2 was not hedged", !lines.some((l) => l.what === "copy 4 sent")],
    ["turn 2 answered fast", at("guide", "done") < 1500, "timing"]
  )

  yield* Console.log("")
  const held = yield* Timeline.printClaims(claims)
  if (!held) return yield* Effect.die("a claim of this example does not hold")
})

program.pipe(NodeRuntime.runMain)
