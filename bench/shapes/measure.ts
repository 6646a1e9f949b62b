/**
 * Measuring helpers shared by the benchmarks: statistics, garbage collection, a seeded generator,
 * and running one measurement in a child process of its own (so that one system's heap, JIT state
 * and garbage never pollute another's figures).
 */
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"

export const range = (n: number) => Array.from({ length: n }, (_, i) => i)

/** The heap in use after a full garbage collection (when node runs with `--expose-gc`; without it, without collecting). */
export const collectGarbage = (): number => {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc !== undefined) {
    gc()
    gc()
  }
  return process.memoryUsage().heapUsed
}

/** A small seeded generator of numbers in [0, 1), so that "random" choices repeat from run to run. */
export const mulberry32 = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

/** The `q` quantile (0..1) of `xs`, by the nearest rank. */
export const quantile = (xs: ArrayLike<number>, q: number): number => {
  const sorted = Array.from(xs).sort((a, b) => a - b)
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!
}

export const median = (xs: ArrayLike<number>): number => {
  const sorted = Array.from(xs).sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** CPU time used since `since` (user + system), in µs. */
export const cpuSince = (since: NodeJS.CpuUsage): number => {
  const used = process.cpuUsage(since)
  return used.user + used.system
}

/** A number with thousands separators and `digits` decimals. */
export const fixed = (n: number, digits = 0): string =>
  Number.isFinite(n) ? n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits }) : "–"

/** Cells padded into a table row: the first `left` cells left-aligned, the others right-aligned. */
export const row = (cells: ReadonlyArray<string>, widths: ReadonlyArray<number>, left = 1): string =>
  cells.map((cell, i) => i < left ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)).join("")

// -----------------------------------------------------------------------------
// one measurement per child process
// -----------------------------------------------------------------------------

const childFlag = "--child"

/** The job this process was started to do, when it is a child (see {@link inChild}). */
export const childJob = (): unknown => {
  const at = process.argv.indexOf(childFlag)
  return at === -1 ? undefined : JSON.parse(process.argv[at + 1]!)
}

/** In a child: do `job`, print its JSON result as the last line of output, exit. */
export const answerParent = async (work: () => Promise<unknown>): Promise<void> => {
  const result = await work()
  process.stdout.write(`\n${JSON.stringify(result)}\n`)
  process.exit(0)
}

/**
 * Run `job` in a fresh node process running this same bundle (`--expose-gc`, a heap large enough
 * for 100,000 conversations), and return the JSON result it prints last.
 */
export const inChild = <A>(job: unknown, options?: { readonly heapMegabytes?: number }): Promise<A> =>
  new Promise((resolve, reject) => {
    const script = fileURLToPath(import.meta.url)
    const child = spawn(process.execPath, [
      "--expose-gc",
      `--max-old-space-size=${options?.heapMegabytes ?? 8192}`,
      script,
      childFlag,
      JSON.stringify(job)
    ], { stdio: ["ignore", "pipe", "inherit"] })
    let output = ""
    child.stdout.on("data", (chunk) => output += chunk)
    child.on("error", reject)
    child.on("exit", (code, signal) => {
      const last = output.trim().split("\n").at(-1) ?? ""
      if (code !== 0) return reject(new Error(`child ${JSON.stringify(job)} exited with ${code ?? signal}: ${output.slice(-2000)}`))
      try {
        resolve(JSON.parse(last) as A)
      } catch {
        reject(new Error(`child ${JSON.stringify(job)} printed no result: ${output.slice(-2000)}`))
      }
    })
  })
