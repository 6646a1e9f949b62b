/**
 * 02 — A tool-call group is an asyncio `TaskGroup`.
 *
 * Scenario: a shop agent checks order #1042. One model response asks for three tools at once:
 *
 * - `reserve_stock` (400 ms) holds a warehouse lock, a scoped resource with a finalizer;
 * - `fetch_shipping_quote` (`Tool.fromPromise`) calls a slow carrier over real HTTP with
 *   `fetch(url, { signal })` (a loopback `@effect/platform` server that answers after 500 ms);
 * - `check_fraud` fails at ~100 ms: the fraud service is down.
 *
 * Part 1 runs the group under `toolFailure: "fail-fast"` (the default). The output shows that at
 * the failing instant both siblings are interrupted: the lock's finalizer runs, the fetch's
 * AbortSignal fires and the carrier server sees the client hang up. The run fails with
 * `ToolCallFailed`, whose cause lists the real failure only (not the interruptions).
 *
 * Part 2 runs the same group under `toolFailure: "report"` (`gather(return_exceptions=True)`):
 * the siblings finish, and the model receives the three results in call order (not completion
 * order), the failure as an error function response it can reason about.
 *
 * Clock: real time (the HTTP request is real); figures are milliseconds since each run started,
 * so they may differ by a millisecond or two between runs. Offline: the model is `ScriptedModel`.
 * The program checks its own claims and exits 1 if one does not hold.
 */
import { HttpRouter, HttpServer, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer, NodeRuntime } from "@effect/platform-node"
import { Agent, AgentError, type AgentEvent, Tool } from "@effect-agents/core"
import { ScriptedModel } from "@effect-agents/testing"
import { Cause, Clock, Console, Deferred, Effect, Either, Schema, Stream } from "effect"
import { createServer } from "node:http"
import * as Timeline from "./timeline.js"

// -----------------------------------------------------------------------------
// timeline
// -----------------------------------------------------------------------------

/** Real clock: `printRun` sets the time origin when each run starts. */
const timeline = Timeline.make({ who: 10, what: 22 })
const { note, noteNow } = timeline

/** Run the agent as a stream and print each event the moment it is published. */
const printRun = (agent: Agent.Agent<never>, prompt: string) =>
  Effect.gen(function*() {
    timeline.start = yield* Clock.currentTimeMillis
    const events: Array<AgentEvent.AgentEvent> = []
    const outcome = yield* Agent.stream(agent, prompt).pipe(
      Stream.runForEach((event) => {
        events.push(event)
        return timeline.printEvent(event)
      }),
      Effect.either
    )
    return { outcome, events }
  })

// -----------------------------------------------------------------------------
// the slow carrier: a real HTTP server on loopback
// -----------------------------------------------------------------------------

/** Starts the carrier server in the current scope; `hungUp` completes when a client leaves before the answer. */
const carrier = (hungUp: Deferred.Deferred<void>) =>
  Effect.gen(function*() {
    const quote = Effect.gen(function*() {
      yield* note("carrier", "HTTP GET /quote", "answering in 500 ms")
      yield* Effect.sleep("500 millis")
      return HttpServerResponse.unsafeJson({ carrier: "ParcelCo", price: 4.9 })
    }).pipe(
      Effect.onInterrupt(() =>
        note("carrier", "client hung up", "request aborted; the server stops working on it").pipe(
          Effect.zipRight(Deferred.succeed(hungUp, undefined))
        )
      )
    )
    yield* HttpServer.serveEffect()(HttpRouter.empty.pipe(HttpRouter.get("/quote", quote)))
    return yield* HttpServer.addressWith((address) =>
      Effect.succeed(address._tag === "TcpAddress" ? `http://127.0.0.1:${address.port}` : "")
    )
  })

// -----------------------------------------------------------------------------
// tools
// -----------------------------------------------------------------------------

class FraudServiceDown extends Schema.TaggedError<FraudServiceDown>()("FraudServiceDown", {
  status: Schema.Number
}) {
  override get message() {
    return `the fraud service is unavailable (HTTP ${this.status})`
  }
}

interface Witness {
  lockReleased: boolean
  abortSeen: boolean
}

const makeTools = (carrierUrl: string, witness: Witness) => {
  const reserveStock = Tool.make("reserve_stock", {
    description: "Reserve stock for an order while holding the warehouse lock",
    scoped: true,
    parameters: Schema.Struct({ sku: Schema.String, quantity: Schema.Number }),
    handler: ({ quantity, sku }) =>
      Effect.gen(function*() {
        yield* Effect.acquireRelease(
          Effect.succeed(`lock:${sku}`),
          (lock, exit) =>
            Effect.sync(() => {
              witness.lockReleased = true
            }).pipe(
              Effect.zipRight(note("shop", "  reserve_stock", `finalizer: ${lock} released (${exit._tag === "Success" ? "call done" : "interrupted"})`))
            )
        )
        yield* Effect.sleep("400 millis")
        return { reserved: quantity, sku }
      })
  })

  const fetchShippingQuote = Tool.fromPromise("fetch_shipping_quote", {
    description: "Ask the carrier for a shipping quote",
    parameters: Schema.Struct({ zip: Schema.String }),
    handler: ({ zip }, signal) => {
      signal.addEventListener("abort", () => {
        witness.abortSeen = true
        noteNow("shop", "  fetch_shipping_quote", `AbortSignal fired: the fetch is cancelled (${(signal.reason as Error).name})`)
      })
      return fetch(`${carrierUrl}/quote?zip=${zip}`, { signal }).then((response) => response.json())
    }
  })

  const checkFraud = Tool.make("check_fraud", {
    description: "Score the order for fraud",
    parameters: Schema.Struct({ orderId: Schema.String }),
    handler: () => Effect.zipRight(Effect.sleep("100 millis"), Effect.fail(new FraudServiceDown({ status: 503 })))
  })

  return [reserveStock, fetchShippingQuote, checkFraud] as const
}

const calls = [
  { name: "reserve_stock", args: { sku: "sku-7", quantity: 2 } },
  { name: "fetch_shipping_quote", args: { zip: "75011" } },
  { name: "check_fraud", args: { orderId: "1042" } }
]

const prompt = "Check order #1042: reserve the stock, quote shipping, run the fraud check."

// -----------------------------------------------------------------------------
// the program
// -----------------------------------------------------------------------------

const program = Effect.gen(function*() {
  const hungUp = yield* Deferred.make<void>()
  const carrierUrl = yield* carrier(hungUp)
  const witness: Witness = { lockReleased: false, abortSeen: false }
  const shop = Agent.make({
    name: "shop",
    instructions: "Process orders with the tools.",
    tools: makeTools(carrierUrl, witness),
    policy: { toolFailure: "fail-fast" }
  })
  const claims: Array<Timeline.Claim> = []

  // one silent run first, so that JIT compilation does not skew the first timeline
  const echo = Tool.fromSync("echo", {
    description: "Echo a text",
    parameters: Schema.Struct({ text: Schema.String }),
    handler: ({ text }) => text
  })
  yield* Agent.stream(Agent.make({ name: "warmup", instructions: "", tools: [echo] }), "hi").pipe(
    Stream.runDrain,
    Effect.provide(ScriptedModel.layer([
      ScriptedModel.callTools([{ name: "echo", args: { text: "a" } }, { name: "echo", args: { text: "b" } }]),
      ScriptedModel.text("done")
    ]))
  )

  yield* Console.log(`Part 1 — toolFailure: "fail-fast" (asyncio TaskGroup)\n\n${timeline.header}`)
  const failFast = yield* printRun(shop, prompt).pipe(
    Effect.provide(ScriptedModel.layer([ScriptedModel.callTools(calls)]))
  )
  // the server learns of the hang-up when its socket closes, a moment after the abort
  yield* Deferred.await(hungUp).pipe(Effect.timeout("2 seconds"), Effect.ignore)
  const failedAt = failFast.events.find((e) => e._tag === "ToolCallFailed")?.timestamp ?? NaN
  const interrupted = failFast.events.filter((e): e is AgentEvent.ToolCallInterrupted => e._tag === "ToolCallInterrupted")
  yield* Console.log("")
  if (Either.isLeft(failFast.outcome) && failFast.outcome.left._tag === "ToolCallFailed") {
    const error = failFast.outcome.left
    yield* Console.log(`The run failed with ToolCallFailed. Failed calls: ${error.calls.map((c) => `${c.tool} (${c.callId})`).join(", ")}`)
    for (const failure of Cause.failures(error.cause)) {
      yield* Console.log(`  real failure in the cause: ${AgentError.describeError(failure)}`)
    }
    claims.push([
      "the cause holds exactly the one real failure (no sibling interruptions)",
      error.calls.length === 1 && Array.from(Cause.failures(error.cause)).length === 1
    ])
  } else {
    claims.push(["the run failed with ToolCallFailed", false])
  }
  claims.push(
    [
      `both siblings were interrupted because a sibling failed (${
        interrupted.map((e) => `${e.tool} +${e.timestamp - failedAt} ms after the failure`).join(", ")
      })`,
      interrupted.length === 2 && interrupted.every((e) => e.reason === "sibling-failed") &&
      !failFast.events.some((e) => e._tag === "ToolCallSucceeded")
    ],
    ["reserve_stock's finalizer released the lock", witness.lockReleased],
    ["fetch_shipping_quote's AbortSignal fired", witness.abortSeen],
    ["the carrier server saw the client hang up", yield* Deferred.isDone(hungUp)]
  )

  yield* Console.log(`\nPart 2 — the same group under toolFailure: "report" (gather(return_exceptions=True))\n\n${timeline.header}`)
  witness.lockReleased = false
  const reportModel = ScriptedModel.layer([
    ScriptedModel.callTools(calls),
    ScriptedModel.text("Stock reserved and shipping is EUR 4.90; the fraud check could not run, so I flagged the order for review.")
  ])
  const report = yield* Effect.gen(function*() {
    const run = yield* printRun(shop.pipe(Agent.withPolicy({ toolFailure: "report" })), prompt)
    const requests = yield* Effect.flatMap(ScriptedModel.ScriptedModel, (model) => model.requests)
    return { ...run, requests }
  }).pipe(Effect.provide(reportModel))
  const received = report.requests[1]?.contents.at(-1)?.parts ?? []
  yield* Console.log("\nWhat the model received on turn 2, in call order (not completion order):")
  for (const part of received) {
    if (part._tag === "FunctionResponse") {
      yield* Console.log(`  ${part.name.padEnd(22)} ${part.isError ? "error: " : ""}${part.isError ? String(part.output) : Timeline.show(part.output)}`)
    }
  }
  const names = received.flatMap((part) => part._tag === "FunctionResponse" ? [part.name] : [])
  claims.push(
    ["under report the run completes", Either.isRight(report.outcome)],
    ["the model received the three results in call order", names.join() === calls.map((c) => c.name).join()],
    ["the siblings finished (no interruption)", !report.events.some((e) => e._tag === "ToolCallInterrupted") && witness.lockReleased]
  )

  yield* Console.log(`
Compare asyncio.gather(*calls) (default return_exceptions=False): check_fraud's error is re-raised
to the awaiting caller at ~100 ms, but the other awaitables are not cancelled. reserve_stock keeps
the lock and the HTTP request keeps running until they finish on their own, with nobody awaiting
them; what they return or raise later is silently dropped. asyncio.TaskGroup, like the fail-fast
group above, cancels the siblings, waits for their cleanup, then raises an ExceptionGroup of the
real failures: here, ToolCallFailed with its Cause.
`)
  const held = yield* Timeline.printClaims(claims)
  if (!held) return yield* Effect.die("a claim of this example does not hold")
})

program.pipe(
  Effect.scoped,
  Effect.provide(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" })),
  NodeRuntime.runMain
)
