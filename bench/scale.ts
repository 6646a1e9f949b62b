/**
 * Scale: N real-latency conversations at once in one process — model 50 ms → 2 parallel tools
 * 20 ms → model 50 ms → 2 parallel tools 20 ms → model 50 ms (critical path 190 ms) — for
 * effect-agents, next to the bare Effect 3 floor (the same waits and 2-wide groups, nothing
 * else) and the hand-written Promise loop.
 *
 * Each system runs in a child process of its own (`--expose-gc`), so that one system's heap never
 * counts in another's. Figures per conversation: CPU (`process.cpuUsage`), peak RSS over the RSS
 * before the run, heap retained after a full GC while all N wait at their last model call; and
 * wall time ÷ critical path, p50 and p99 completion time. Systems take turns (`--rounds`, default
 * 1; with more, the table shows medians).
 *
 *   npm run bench:scale -- [N=10000] [--rounds 3]
 */
import { parseArgs } from "node:util"
import { criticalPathMillis, measureScale, type ScaleFigures } from "./shapes/conversation.js"
import { answerParent, childJob, fixed, inChild, median, row } from "./shapes/measure.js"
import { systems as allSystems } from "./shapes/systems.js"

interface Job {
  readonly system: string
  readonly n: number
}

const job = childJob() as Job | undefined

if (job !== undefined) {
  await answerParent(() => measureScale(allSystems.find((s) => s.key === job.system)!.realLatency, job.n))
} else {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: { rounds: { type: "string" }, systems: { type: "string" } }
  })
  const n = Number(positionals[0] ?? 10_000)
  const rounds = Number(values.rounds ?? 1)
  // `--systems effect-agents,effect3`: only these (the floor is always measured, for the ratio)
  const keys = values.systems?.split(",")
  const systems = allSystems.filter((s) => keys === undefined || keys.includes(s.key) || s.key === "effect3")
  const results = new Map<string, Array<ScaleFigures>>(systems.map((s) => [s.key, []]))
  for (let round = 0; round < rounds; round++) {
    for (const system of systems) results.get(system.key)!.push(await inChild<ScaleFigures>({ system: system.key, n } satisfies Job))
  }
  const widths = [30, 12, 12, 18, 13, 10, 10]
  console.log(
    `Scale — ${fixed(n)} real-latency conversations at once (critical path ${criticalPathMillis} ms), Node ${process.version}, ` +
      `one child process per system${rounds > 1 ? `, median of ${rounds} rounds` : ""}\n`
  )
  console.log(row(["system", "CPU µs/conv", "RSS KB/conv", "retained KB/conv", "wall ÷ path", "p50 ms", "p99 ms"], widths))
  console.log("-".repeat(widths.reduce((a, b) => a + b)))
  for (const system of systems) {
    const rs = results.get(system.key)!
    const m = (f: (r: ScaleFigures) => number) => median(rs.map(f))
    console.log(row([
      system.name,
      fixed(m((r) => r.cpuMicrosPerConversation)),
      fixed(m((r) => r.rssKilobytesPerConversation), 1),
      fixed(m((r) => r.retainedKilobytesPerConversation), 1),
      fixed(m((r) => r.wallOverCriticalPath), 2),
      fixed(m((r) => r.p50Millis)),
      fixed(m((r) => r.p99Millis))
    ], widths))
  }
  console.log()
  for (const system of systems.filter((s) => s.key.startsWith("effect-agents"))) {
    const rs = results.get(system.key)!
    const ratio = (f: (r: ScaleFigures) => number) => fixed(median(rs.map(f)) / median(results.get("effect3")!.map(f)), 2)
    console.log(
      `${system.name} ÷ bare Effect 3 floor: CPU ${ratio((r) => r.cpuMicrosPerConversation)}×, ` +
        `peak RSS ${ratio((r) => r.rssKilobytesPerConversation)}×, retained ${ratio((r) => r.retainedKilobytesPerConversation)}×`
    )
  }
}
