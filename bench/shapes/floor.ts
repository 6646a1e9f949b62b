/**
 * The bare Effect floor: the same conversations written directly in Effect, with the same waits and
 * the same groups of parallel calls, and nothing else (no timeouts, events, retries, decoding or
 * spans). It is what any Effect program doing this work pays, the runtime's floor.
 *
 * Written against the few functions it needs, so that one implementation serves Effect 3 (the
 * library's runtime) and Effect 4 (`bench/peers`, under an npm alias).
 */
import type { Content } from "@effect-agents/core"
import type * as Effect3 from "effect/Effect"
import {
  answer as realAnswer,
  holdTurn,
  lookup,
  modelMillis,
  partsAt,
  prompt,
  type RealLatency,
  toolMillis,
  turnOf
} from "./conversation.js"
import { add, answer, check, type FunctionCall, isFirstTurn, multiply, question, type Scenario, type ZeroLatency } from "./zeroLatency.js"

/** The Effect functions the floor uses: Effect 3's module, or Effect 4's passed with a cast (same names, same meaning). */
export type EffectModule = Pick<
  typeof Effect3,
  "andThen" | "as" | "forEach" | "gen" | "map" | "promise" | "runPromise" | "sleep" | "succeed" | "sync"
>

type Part = Content.Part

const textOf = (parts: ReadonlyArray<Part>) => {
  let text = ""
  for (const part of parts) if (part._tag === "Text") text += part.text
  return text
}

export interface Floor {
  readonly realLatency: RealLatency
  readonly zeroLatency: ZeroLatency
}

export const floor = (Effect: EffectModule): Floor => {
  /** The turn loop: model, then the calls of its answer `concurrency` at a time, until it answers with text. */
  const conversation = (
    generate: (contents: ReadonlyArray<Content.Content>) => Effect3.Effect<ReadonlyArray<Part>>,
    callTool: (call: FunctionCall) => Effect3.Effect<Part>,
    concurrency: number | "unbounded",
    text: string
  ) =>
    Effect.gen(function*() {
      const history: Array<Content.Content> = [{ role: "user", parts: [{ _tag: "Text", text }] }]
      for (let turn = 1; turn <= 10; turn++) {
        const parts = yield* generate(history.slice())
        history.push({ role: "model", parts })
        const calls = parts.filter((part): part is FunctionCall => part._tag === "FunctionCall")
        if (calls.length === 0) return textOf(parts)
        history.push({ role: "user", parts: yield* Effect.forEach(calls, callTool, { concurrency }) })
      }
      throw new Error("max turns")
    })

  const range = (n: number) => Array.from({ length: n }, (_, i) => i)

  // real latency: each model answer is a 50 ms wait, each call a 20 ms wait, two at a time
  const modelWaits = range(3).map((turn) => Effect.as(Effect.sleep(modelMillis), partsAt(turn)))
  const lookupCall = (call: FunctionCall): Effect3.Effect<Part> =>
    Effect.as(Effect.sleep(toolMillis), {
      _tag: "FunctionResponse",
      id: call.id,
      name: call.name,
      output: lookup((call.args as { q: number }).q),
      isError: false
    })

  const realLatency: RealLatency = {
    conversations: (n, done, hold) => {
      const generate = (contents: ReadonlyArray<Content.Content>) => {
        const turn = turnOf(contents)
        return hold !== undefined && turn === holdTurn
          ? Effect.andThen(Effect.sync(() => hold.holding++), Effect.as(Effect.promise(() => hold.opened), partsAt(turn)))
          : modelWaits[turn]!
      }
      return Effect.runPromise(Effect.forEach(range(n), (i) =>
        Effect.map(conversation(generate, lookupCall, 2, prompt), (text) => {
          check(text, realAnswer)
          done(i)
        }), { concurrency: "unbounded", discard: true }))
    }
  }

  // zero latency: answers and results at once
  const mathCall = (call: FunctionCall): Effect3.Effect<Part> =>
    Effect.sync(() => {
      const { a, b } = call.args as { a: number; b: number }
      return { _tag: "FunctionResponse", id: call.id, name: call.name, output: (call.name === "add" ? add : multiply)(a, b), isError: false }
    })
  const zeroLatency: ZeroLatency = (scenario: Scenario, runs: number) => {
    const calls = Effect.succeed<ReadonlyArray<Part>>(
      scenario.calls.map((call, i) => ({ _tag: "FunctionCall", id: `call_1_${i}`, name: call.name, args: call.args }))
    )
    const text = Effect.succeed<ReadonlyArray<Part>>([{ _tag: "Text", text: answer }])
    const generate = (contents: ReadonlyArray<Content.Content>) => isFirstTurn(contents) ? calls : text
    const one = conversation(generate, mathCall, "unbounded", question)
    return Effect.runPromise(Effect.gen(function*() {
      for (let i = 0; i < runs; i++) check(yield* one)
    }))
  }

  return { realLatency, zeroLatency }
}
