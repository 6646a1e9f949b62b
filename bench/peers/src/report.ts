/**
 * `bench/RESULTS.md` and its chart (hand-written SVG: per system, CPU and memory per conversation
 * on log scales).
 */
import type { ScaleFigures } from "../../shapes/conversation.js"
import { fixed, median } from "../../shapes/measure.js"
import type { Behaviour } from "./behaviour.js"

export interface SystemResults {
  readonly key: string
  readonly name: string
  /** CPU µs per run of each zero-latency scenario, one entry per round. */
  readonly zero: { readonly a: Array<number>; readonly b: Array<number> }
  /** Real-latency figures by N, one entry per round. */
  readonly scale: Map<number, Array<ScaleFigures>>
  behaviour?: Behaviour
}

export interface Run {
  readonly header: string
  readonly sizes: ReadonlyArray<number>
  readonly systems: ReadonlyArray<SystemResults>
  readonly chart: string
}

const m = (xs: ReadonlyArray<number>) => xs.length === 0 ? Number.NaN : median(xs)
const scaleMedian = (s: SystemResults, n: number, f: (r: ScaleFigures) => number) => m((s.scale.get(n) ?? []).map(f))
const ratio = (a: number, b: number) => Number.isFinite(a / b) ? `${fixed(a / b, a / b < 10 ? 2 : 1)}×` : "–"

/** A Markdown table: the first column (and every column when `text`) left-aligned, the others right-aligned. */
const table = (head: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>, text = false) =>
  [`| ${head.join(" | ")} |`, `| ${head.map((_, i) => i === 0 || text ? "---" : "---:").join(" | ")} |`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n")

export const markdown = (run: Run): string => {
  const byKey = (key: string) => run.systems.find((s) => s.key === key)
  const promise = byKey("promise")
  const agents = byKey("effect-agents")
  const floor3 = byKey("effect3")
  const sections: Array<string> = [
    "# Peers and runtimes, side by side",
    "",
    "Written by `npm run bench:peers` (`bench/peers/run.ts`); do not edit by hand. " + run.header,
    "",
    `![CPU and memory per conversation](${run.chart})`,
    "",
    "## Zero latency: CPU µs per run (median of the rounds)",
    "",
    "Fake models that answer at once; (a) one tool call then an answer, (b) eight parallel calls then an answer. " +
      "The floors run each group with `Effect.forEach({ concurrency })`, which at zero latency costs more than effect-agents' hand-written group: " +
      "they are floors for waiting, not for this.",
    "",
    table(
      ["system", "(a) 1 tool call", "× Promise loop", "× effect-agents", "(b) 8 parallel calls", "× Promise loop", "× effect-agents"],
      run.systems.map((s) => {
        const a = m(s.zero.a)
        const b = m(s.zero.b)
        return [s.name, fixed(a, 1), ratio(a, m(promise?.zero.a ?? [])), ratio(a, m(agents?.zero.a ?? [])), fixed(b, 1), ratio(b, m(promise?.zero.b ?? [])), ratio(b, m(agents?.zero.b ?? []))]
      })
    )
  ]
  for (const n of run.sizes) {
    sections.push(
      "",
      `## Real latency, N = ${fixed(n)} conversations at once`,
      "",
      "Model 50 ms → 2 parallel tools 20 ms → model 50 ms → 2 parallel tools 20 ms → model 50 ms (critical path 190 ms). " +
        "Each system in a child process of its own. RSS: peak over the RSS before the run; retained: heap after a full GC while all N wait at their last model call.",
      "",
      table(
        ["system", "CPU µs/conv", "× Effect 3 floor", "× effect-agents", "peak RSS KB/conv", "retained KB/conv", "wall ÷ path", "p50 ms", "p99 ms"],
        run.systems.map((s) => {
          const cpu = scaleMedian(s, n, (r) => r.cpuMicrosPerConversation)
          return [
            s.name,
            fixed(cpu),
            ratio(cpu, floor3 ? scaleMedian(floor3, n, (r) => r.cpuMicrosPerConversation) : Number.NaN),
            ratio(cpu, agents ? scaleMedian(agents, n, (r) => r.cpuMicrosPerConversation) : Number.NaN),
            fixed(scaleMedian(s, n, (r) => r.rssKilobytesPerConversation), 1),
            fixed(scaleMedian(s, n, (r) => r.retainedKilobytesPerConversation), 1),
            fixed(scaleMedian(s, n, (r) => r.wallOverCriticalPath), 2),
            fixed(scaleMedian(s, n, (r) => r.p50Millis)),
            fixed(scaleMedian(s, n, (r) => r.p99Millis))
          ]
        })
      )
    )
  }
  const behaving = run.systems.filter((s) => s.behaviour !== undefined)
  if (behaving.length > 0) {
    sections.push(
      "",
      "## Behaviour",
      "",
      "Real timers; every tool honours its abort signal or interruption, as a `fetch` would. " +
        "**Sibling**: `fail` throws at 10 ms while `slow` (200 ms) runs beside it. " +
        "**Late result**: `slow` has a 50 ms timeout and answers at 100 ms. " +
        "**Caller gives up**: the caller aborts the run at 30 ms while `slow` (200 ms) runs.",
      "",
      table(
        ["system", "sibling after a failure", "late result after a timeout", "caller gives up"],
        behaving.map((s) => [s.name, s.behaviour!.sibling, s.behaviour!.late, s.behaviour!.orphan]),
        true
      )
    )
  }
  return sections.join("\n") + "\n"
}

// -----------------------------------------------------------------------------
// the chart
// -----------------------------------------------------------------------------

const colors: Record<string, string> = {
  "effect-agents": "#2563eb",
  ai: "#111827",
  openai: "#10a37f",
  effect3: "#7c3aed",
  effect4: "#db2777",
  promise: "#f59e0b"
}

/** A coordinate, to a tenth of a pixel. */
const px = (n: number) => Math.round(n * 10) / 10

const escape = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")

/**
 * Two panels of horizontal bars on log scales, one bar per system: CPU µs per conversation, and
 * memory KB per conversation (peak RSS, with retained heap as a thinner bar), at the largest N.
 */
export const chart = (run: Run): string => {
  const n = run.sizes[run.sizes.length - 1]!
  const label = 190
  const panel = 330
  const gap = 40
  const barHeight = 22
  const top = 64
  const height = top + run.systems.length * (barHeight + 12) + 44
  const width = label + 2 * panel + gap + 20
  const decades = (values: ReadonlyArray<number>) => {
    const finite = values.filter((v) => Number.isFinite(v) && v > 0)
    const lo = Math.floor(Math.log10(Math.min(1, ...finite)))
    const hi = Math.ceil(Math.log10(Math.max(10, ...finite)))
    return { lo, hi }
  }
  const parts: Array<string> = []
  const drawPanel = (x0: number, title: string, unit: string, bars: ReadonlyArray<ReadonlyArray<{ value: number; thin?: boolean }>>) => {
    const { hi, lo } = decades(bars.flat().map((b) => b.value))
    const x = (v: number) => px(x0 + ((Math.log10(Math.max(v, 10 ** lo)) - lo) / (hi - lo)) * panel)
    parts.push(`<text x="${x0}" y="${top - 30}" font-weight="bold">${escape(title)}</text>`)
    for (let d = lo; d <= hi; d++) {
      const xd = x(10 ** d)
      parts.push(`<line x1="${xd}" y1="${top - 8}" x2="${xd}" y2="${height - 40}" stroke="#e5e7eb"/>`)
      parts.push(`<text x="${xd}" y="${height - 24}" text-anchor="middle" fill="#6b7280">${fixed(10 ** d)}</text>`)
    }
    parts.push(`<text x="${x0 + panel}" y="${height - 8}" text-anchor="end" fill="#6b7280">${escape(unit)} (log scale)</text>`)
    bars.forEach((row, i) => {
      const y = top + i * (barHeight + 12)
      const color = colors[run.systems[i]!.key] ?? "#6b7280"
      for (const bar of row) {
        if (!Number.isFinite(bar.value)) continue
        const h = bar.thin ? barHeight / 3 : barHeight
        const yy = bar.thin ? y + barHeight - h : y
        parts.push(`<rect x="${x0}" y="${px(yy)}" width="${px(Math.max(1, x(bar.value) - x0))}" height="${px(h)}" fill="${color}" opacity="${bar.thin ? 1 : 0.75}"/>`)
      }
      const main = row[0]!.value
      if (Number.isFinite(main)) parts.push(`<text x="${px(x(main) + 4)}" y="${y + 15}" fill="#374151">${fixed(main, main < 10 ? 1 : 0)}</text>`)
    })
  }
  run.systems.forEach((s, i) => {
    parts.push(`<text x="${label - 8}" y="${top + i * (barHeight + 12) + 15}" text-anchor="end">${escape(s.name)}</text>`)
  })
  drawPanel(label, `CPU per conversation, N = ${fixed(n)}`, "µs", run.systems.map((s) => [{ value: scaleMedian(s, n, (r) => r.cpuMicrosPerConversation) }]))
  drawPanel(
    label + panel + gap,
    `Memory per conversation, N = ${fixed(n)}`,
    "KB: peak RSS (bar), retained heap (thin bar)",
    run.systems.map((s) => [
      { value: scaleMedian(s, n, (r) => r.rssKilobytesPerConversation) },
      { value: scaleMedian(s, n, (r) => r.retainedKilobytesPerConversation), thin: true }
    ])
  )
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="10" y="18" font-size="13" fill="#374151">Real-latency conversation (critical path 190 ms), ${fixed(n)} at once, one process per system</text>`,
    ...parts,
    "</svg>",
    ""
  ].join("\n")
}
