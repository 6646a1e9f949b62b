/**
 * Peers and runtimes measured side by side, in one run: effect-agents, the Vercel AI SDK 7 and
 * OpenAI Agents 0.20 (fake models, same delays), the bare Effect 3 and Effect 4 floors (the same
 * waits and groups, nothing else) and the hand-written Promise loop.
 *
 * - zero latency: CPU per run of (a) one tool call and (b) eight parallel calls;
 * - real latency: N conversations at once (model 50 ms → 2 tools 20 ms → model → 2 tools → model,
 *   critical path 190 ms) at N = 1,000 and 10,000: CPU, peak RSS and retained heap per
 *   conversation, wall ÷ critical path, p50/p99 completion;
 * - behaviour: sibling cancellation after a failure, late results after a timeout, orphaned tools.
 *
 * Every measurement runs in a child process of its own (`--expose-gc`); systems take turns within
 * each round, and the tables show medians of the rounds. Writes `bench/RESULTS.md` and
 * `bench/peers.svg` (not with `--quick`).
 *
 *   npm run bench:peers                    # ≈ 7 min; rounds: 3 at zero latency and N = 1,000, 1 at N = 10,000
 *   npm run bench:peers -- --quick         # ≈ 1 min; one round, N = 1,000 only, shorter zero-latency rounds
 *   npm run bench:peers -- --rounds 5 --sizes 1000,10000,100000
 */
import { writeFileSync } from "node:fs"
import os from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import { measureScale, type ScaleFigures } from "../shapes/conversation.js"
import { answerParent, childJob, fixed, inChild } from "../shapes/measure.js"
import { type System, systems as rootSystems } from "../shapes/systems.js"
import { measureZeroLatency, scenarios } from "../shapes/zeroLatency.js"
import { aiSdk } from "./src/aiSdk.js"
import { type Behaviour, behaviours } from "./src/behaviour.js"
import { effect4Floor } from "./src/effect4.js"
import { openaiAgents } from "./src/openaiAgents.js"
import { chart, markdown, type SystemResults } from "./src/report.js"

const bySystem = new Map(rootSystems.map((s) => [s.key, s]))
const systems: ReadonlyArray<System> = [
  bySystem.get("effect-agents")!,
  aiSdk,
  openaiAgents,
  bySystem.get("effect3")!,
  effect4Floor,
  bySystem.get("promise")!
]

type Job =
  | { readonly kind: "zero"; readonly system: string; readonly quick: boolean }
  | { readonly kind: "scale"; readonly system: string; readonly n: number }
  | { readonly kind: "behaviour"; readonly system: string }

const system = (key: string) => systems.find((s) => s.key === key)!

const work = (job: Job): Promise<unknown> => {
  switch (job.kind) {
    case "zero": {
      // a warm-up as long as `npm run bench`'s: with 300 ms, a round's figure moved by up to 3× with the JIT's progress
      const options = job.quick ? { rounds: 3, warmupMillis: 300, roundMillis: 150 } : { rounds: 5, warmupMillis: 1500, roundMillis: 200 }
      const [a, b] = scenarios.map((scenario) => (o: typeof options) => measureZeroLatency(system(job.system).zeroLatency, scenario, o))
      const warm = { rounds: 1, warmupMillis: 300, roundMillis: 100 }
      return (async () => {
        // a short pass over both scenarios warms up the code they share, then the measured pass
        await a!(warm)
        await b!(warm)
        return { a: (await a!(options)).cpu, b: (await b!(options)).cpu }
      })()
    }
    case "scale":
      return measureScale(system(job.system).realLatency, job.n)
    case "behaviour":
      return behaviours.find((b) => b.key === job.system)!.run()
  }
}

const job = childJob() as Job | undefined

if (job !== undefined) {
  await answerParent(() => work(job))
} else {
  const { values } = parseArgs({ options: { quick: { type: "boolean" }, rounds: { type: "string" }, sizes: { type: "string" } } })
  const quick = values.quick === true
  const sizes = values.sizes !== undefined ? values.sizes.split(",").map(Number) : quick ? [1_000] : [1_000, 10_000]
  const rounds = Number(values.rounds ?? (quick ? 1 : 3))
  /** Fewer rounds where one takes long: the largest sizes run once unless `--rounds` says otherwise. */
  const roundsAt = (n: number) => values.rounds !== undefined || n < 10_000 ? rounds : 1
  const results: Array<SystemResults> = systems.map((s) => ({ key: s.key, name: s.name, zero: { a: [], b: [] }, scale: new Map(sizes.map((n) => [n, []])) }))
  const started = performance.now()
  const progress = (what: string) => console.log(`[${fixed((performance.now() - started) / 1000)} s] ${what}`)
  const header = `Node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model.trim()}), load ${os.loadavg()[0]!.toFixed(1)} at the start; ` +
    `${rounds} round(s)${sizes.some((n) => roundsAt(n) !== rounds) ? " (1 at N ≥ 10,000)" : ""}; ${new Date().toISOString().slice(0, 10)}.`
  console.log(`Peers and runtimes — ${header}\n`)

  for (let round = 0; round < rounds; round++) {
    for (const [i, s] of systems.entries()) {
      const zero = await inChild<{ a: number; b: number }>({ kind: "zero", system: s.key, quick } satisfies Job)
      results[i]!.zero.a.push(zero.a)
      results[i]!.zero.b.push(zero.b)
      progress(`round ${round + 1}: ${s.name}, zero latency: (a) ${fixed(zero.a, 1)} µs, (b) ${fixed(zero.b, 1)} µs`)
    }
    for (const n of sizes) {
      if (round >= roundsAt(n)) continue
      for (const [i, s] of systems.entries()) {
        const figures = await inChild<ScaleFigures>({ kind: "scale", system: s.key, n } satisfies Job)
        results[i]!.scale.get(n)!.push(figures)
        progress(`round ${round + 1}: ${s.name}, N = ${fixed(n)}: ${fixed(figures.cpuMicrosPerConversation)} µs CPU/conv, wall ${fixed(figures.wallMillis)} ms`)
      }
    }
  }
  for (const [i, s] of systems.entries()) {
    if (!behaviours.some((b) => b.key === s.key)) continue
    results[i]!.behaviour = await inChild<Behaviour>({ kind: "behaviour", system: s.key } satisfies Job)
  }
  progress("done")

  const run = { header, sizes, systems: results, chart: "peers.svg" }
  const text = markdown(run)
  console.log(`\n${text}`)
  if (quick) {
    console.log("A quick run: bench/RESULTS.md and bench/peers.svg are left as they were.")
  } else {
    const bench = join(dirname(fileURLToPath(import.meta.url)), "..", "bench")
    writeFileSync(join(bench, "RESULTS.md"), text)
    writeFileSync(join(bench, run.chart), chart(run))
    console.log(`Wrote bench/RESULTS.md and bench/${run.chart}.`)
  }
}
