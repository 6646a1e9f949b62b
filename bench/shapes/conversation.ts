/**
 * The real-latency conversation every system runs, and how N of them at once are measured.
 *
 * One conversation: model 50 ms → 2 parallel tools 20 ms → model 50 ms → 2 parallel tools 20 ms →
 * model 50 ms (critical path 190 ms). The model is a fake with the same answers for every system:
 * turns 0 and 1 call `lookup` twice, turn 2 answers with text. It does not record requests.
 */
import type { Content } from "@effect-agents/core"
import { collectGarbage, cpuSince, quantile, range } from "./measure.js"
import { check } from "./zeroLatency.js"

export const modelMillis = 50
export const toolMillis = 20
export const criticalPathMillis = 3 * modelMillis + 2 * toolMillis
export const prompt = "Look up both numbers, twice."
export const answer = "Both lookups are done."

/** The model's turn, from the history it is sent: the number of model messages in it. */
export const turnOf = (contents: ReadonlyArray<{ readonly role: string }>): number => {
  let turn = 0
  for (const content of contents) if (content.role === "model" || content.role === "assistant") turn++
  return turn
}

/** The arguments of the two parallel calls made at `turn` (0 or 1); at turn 2 the model answers. */
export const callsAt = (turn: number): ReadonlyArray<{ readonly q: number }> => turn < 2 ? [{ q: 2 * turn + 1 }, { q: 2 * turn + 2 }] : []

/** The fake model's three answers in a peer's own format: `make(calls, text, turn)` for turns 0, 1 and 2. */
export const answersBy = <R>(
  make: (calls: ReadonlyArray<{ readonly name: string; readonly args: unknown }>, text: string, turn: number) => R
): ReadonlyArray<R> => range(3).map((turn) => make(callsAt(turn).map((args) => ({ name: "lookup", args })), answer, turn))

/** The fake model's answer at `turn`, as effect-agents parts. */
export const partsAt = (turn: number): ReadonlyArray<Content.Part> => {
  const calls = callsAt(turn)
  return calls.length === 0
    ? [{ _tag: "Text", text: answer }]
    : calls.map((args, i) => ({ _tag: "FunctionCall", id: `call_${turn}_${i}`, name: "lookup", args }))
}

/** What the `lookup` tool answers. */
export const lookup = (q: number): number => q * 10

/**
 * A barrier at the third model call, to measure the heap of N conversations all in flight: each
 * conversation that reaches it counts itself in `holding` and waits for `open` (instead of the
 * model's 50 ms).
 */
export interface Hold {
  holding: number
  readonly opened: Promise<void>
  readonly open: () => void
}

export const makeHold = (): Hold => {
  let open!: () => void
  const opened = new Promise<void>((resolve) => open = resolve)
  return { holding: 0, opened, open }
}

/** The turn at which a {@link Hold} stops conversations: the last model call, when the history is longest. */
export const holdTurn = 2

/** Wait `millis`; with `signal`, stop early (rejecting) when it aborts, as a `fetch` would. */
export const sleep = (millis: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason)
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort)
      resolve()
    }, millis)
    const onAbort = () => {
      clearTimeout(timer)
      reject(signal!.reason)
    }
    signal?.addEventListener("abort", onAbort, { once: true })
  })

/** The fake model's wait at `turn`, for the Promise-based systems: 50 ms, or the hold at its turn. */
export const modelWait = (turn: number, hold: Hold | undefined): Promise<void> => {
  if (hold === undefined || turn !== holdTurn) return sleep(modelMillis)
  hold.holding++
  return hold.opened
}

/** Start `n` Promise-based conversations at once; each must answer the conversation's text, then `done(i)`. */
export const allAtOnce = (n: number, done: (i: number) => void, conversation: () => Promise<string>): Promise<void> =>
  Promise.all(range(n).map(async (i) => {
    check(await conversation(), answer)
    done(i)
  })).then(() => undefined)

/** A system under measurement: how it runs N real-latency conversations at once. */
export interface RealLatency {
  /**
   * Start `n` conversations at once; `done(i)` is called when conversation `i` completes with the
   * expected answer. With `hold`, each conversation waits at the hold instead of its last model wait.
   */
  readonly conversations: (n: number, done: (i: number) => void, hold: Hold | undefined) => Promise<void>
}

/** What one measurement of N conversations reports (per conversation where it says so). */
export interface ScaleFigures {
  readonly n: number
  readonly cpuMicrosPerConversation: number
  readonly rssKilobytesPerConversation: number
  readonly retainedKilobytesPerConversation: number
  readonly wallMillis: number
  readonly wallOverCriticalPath: number
  readonly p50Millis: number
  readonly p99Millis: number
}

const warmUp = 200

const waitUntil = async (ready: () => boolean) => {
  while (!ready()) await new Promise((resolve) => setTimeout(resolve, 5))
}

/**
 * Measure `n` conversations of `system`, in two passes in this (fresh) process, after a warm-up
 * of 200 conversations:
 * 1. timing: CPU (`process.cpuUsage`), wall time, each conversation's completion time, and peak
 *    RSS (`process.resourceUsage().maxRSS`) over the RSS before it;
 * 2. retained heap: after a full GC, `n` conversations are started again and held at their last
 *    model call; once all are held, the heap after a full GC over the one before, per conversation.
 *    They stay held: the process is a child that exits once it has answered (see `inChild`).
 */
export const measureScale = async (system: RealLatency, n: number): Promise<ScaleFigures> => {
  // a warm-up, so that compiling the code (on background threads too, which `cpuUsage` counts) is not measured
  await system.conversations(Math.min(n, warmUp), () => {}, undefined)
  collectGarbage()
  const rssBefore = process.memoryUsage().rss
  const completions = new Float64Array(n)
  let completed = 0
  const cpu = process.cpuUsage()
  const started = performance.now()
  await system.conversations(n, (i) => {
    completions[i] = performance.now() - started
    completed++
  }, undefined)
  const wallMillis = performance.now() - started
  const cpuMicros = cpuSince(cpu)
  const peakRss = process.resourceUsage().maxRSS * 1024
  if (completed !== n) throw new Error(`${n - completed} of ${n} conversations did not complete`)

  const heapBefore = collectGarbage()
  const hold = makeHold()
  void system.conversations(n, () => {}, hold)
  await waitUntil(() => hold.holding === n)
  const retained = collectGarbage() - heapBefore

  return {
    n,
    cpuMicrosPerConversation: cpuMicros / n,
    rssKilobytesPerConversation: Math.max(0, peakRss - rssBefore) / 1024 / n,
    retainedKilobytesPerConversation: retained / 1024 / n,
    wallMillis,
    wallOverCriticalPath: wallMillis / criticalPathMillis,
    p50Millis: quantile(completions, 0.5),
    p99Millis: quantile(completions, 0.99)
  }
}
