/**
 * Runtime overhead of one agent run, against a hand-written Promise loop doing the same work.
 *
 * Scenarios, on a zero-latency model (so only the orchestration costs time):
 * - (a) the model calls one tool, then answers;
 * - (b) the model calls eight tools at once (run in parallel), then answers.
 *
 * Variants:
 * - one `runPromise` per run, on a `ManagedRuntime` holding the model: a root fiber per
 *   conversation, as in a server that enters Effect once per request;
 * - N runs in one Effect program, the model provided once: a server written in Effect;
 * - a hand-written `async` loop: same tool functions, same model responses, same history
 *   building, hand-written argument and result checks, `Promise.all` for the calls, and no
 *   events, spans, timeouts, retries or interruption.
 *
 * Both models are zero-latency script functions that record each request (as `ScriptedModel`
 * does); a fresh model is made for every round.
 *
 * Figures: CPU time (`process.cpuUsage`, user + system) and wall time per run, the median of
 * several rounds after a warm-up. Run: `npm run bench` (bundles this file with esbuild, as a
 * production build would, and runs it on node; options after `--`: `--scenario a|b`,
 * `--variant runPromise|program|promise`, `--rounds n`). Under `tsx` it runs too, but `tsx`
 * wraps every closure for `keepNames`, which roughly doubles what a run costs. This is not a
 * test: it never fails, it reports.
 */
import { Agent, Model } from "@effect-agents/core"
import { ScriptedModel } from "@effect-agents/testing"
import { Effect, ManagedRuntime } from "effect"
import os from "node:os"
import { parseArgs } from "node:util"
import { mathAgent } from "./shapes/systems.js"
import {
  answer,
  check,
  isFirstTurn,
  measureZeroLatency,
  promiseLoop,
  question,
  type Scenario,
  scenarios,
  type ZeroLatency
} from "./shapes/zeroLatency.js"

const { values: flags } = parseArgs({
  options: {
    scenario: { type: "string" },
    variant: { type: "string" },
    rounds: { type: "string" }
  }
})
const rounds = Number(flags.rounds ?? 9)
const roundMillis = 300
const warmupMillis = 1500
const minRuns = 500

// -----------------------------------------------------------------------------
// effect-agents
// -----------------------------------------------------------------------------

const scriptedModel = (scenario: Scenario) =>
  Effect.runSync(ScriptedModel.make((request) =>
    isFirstTurn(request.contents) ? ScriptedModel.callTools(scenario.calls) : ScriptedModel.text(answer)
  ))

const conversation = Agent.run(mathAgent, question)

/** One `runPromise` per conversation, on a runtime that holds the model (as a server would build once). */
const runPromisePerRun = async (scenario: Scenario, runs: number) => {
  const runtime = ManagedRuntime.make(Model.layer(scriptedModel(scenario)))
  for (let i = 0; i < runs; i++) check((await runtime.runPromise(conversation)).text)
  await runtime.dispose()
}

/** Every conversation inside one Effect program, the model provided once. */
const runInOneProgram = (scenario: Scenario, runs: number) =>
  Effect.runPromise(
    Effect.gen(function*() {
      for (let i = 0; i < runs; i++) check((yield* conversation).text)
    }).pipe(Effect.provideService(Model.Model, scriptedModel(scenario)))
  )

// -----------------------------------------------------------------------------
// measurement
// -----------------------------------------------------------------------------

interface Variant {
  readonly key: string
  readonly label: string
  readonly run: ZeroLatency
}

const variants: ReadonlyArray<Variant> = [
  { key: "runPromise", label: "runtime.runPromise per run", run: runPromisePerRun },
  { key: "program", label: "N runs in one Effect program", run: runInOneProgram },
  { key: "promise", label: "hand-written Promise loop", run: promiseLoop(true) }
]

/** Median CPU and wall µs per run over `rounds` rounds, after a warm-up that sizes the rounds. */
const measure = (variant: Variant, scenario: Scenario) =>
  measureZeroLatency(variant.run, scenario, { rounds, warmupMillis, roundMillis, minRuns })

const columns: ReadonlyArray<number> = [22, 30, 12, 13, 16, 14, 15]
const line = (cells: ReadonlyArray<string>) =>
  cells.map((cell, i) => i < 2 ? cell.padEnd(columns[i]) : cell.padStart(columns[i])).join("")
const us = (n: number) => n.toFixed(1)

/** Whether this runs from TypeScript source (under `tsx`) rather than from the compiled bundle. */
const fromSource = import.meta.url.endsWith(".ts")

console.log(
  `effect-agents run overhead — Node ${process.version}, ${os.cpus().length} CPUs, load ${os.loadavg()[0].toFixed(1)}; ` +
    `median of ${rounds} rounds of ~${roundMillis} ms each; zero-latency model; ` +
    (fromSource ? "from TypeScript source (tsx: closures wrapped for keepNames)" : "compiled bundle") + "\n"
)
if (fromSource) console.log("Note: the targets are for compiled code; `npm run bench` bundles and runs it.\n")
console.log(line(["scenario", "variant", "runs/round", "CPU µs/run", "CPU min–max", "wall µs/run", "CPU ×Promise"]))
console.log("-".repeat(columns.reduce((a, b) => a + b)))
for (const scenario of scenarios) {
  if (flags.scenario !== undefined && flags.scenario !== scenario.key) continue
  const results = new Map<string, Awaited<ReturnType<typeof measure>>>()
  for (const variant of variants) {
    if (flags.variant !== undefined && flags.variant !== variant.key) continue
    results.set(variant.key, await measure(variant, scenario))
  }
  const baseline = results.get("promise")
  let first = true
  for (const variant of variants) {
    const result = results.get(variant.key)
    if (result === undefined) continue
    console.log(line([
      first ? scenario.label : "",
      variant.label,
      String(result.runs),
      us(result.cpu),
      `${us(result.spread[0])}–${us(result.spread[1])}`,
      us(result.wall),
      baseline === undefined ? "" : `${(result.cpu / baseline.cpu).toFixed(1)}×`
    ]))
    first = false
  }
  const effect = ["runPromise", "program"].flatMap((key) => results.has(key) ? [results.get(key)!.cpu] : [])
  if (effect.length > 0) {
    const best = Math.min(...effect)
    console.log(`${"".padEnd(columns[0])}target ≤ ${scenario.target} µs CPU per run: ${best <= scenario.target ? "met" : "NOT met"} (best Effect variant: ${us(best)} µs)`)
  }
  console.log("")
}
