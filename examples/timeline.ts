/**
 * The timeline the examples print: one line per instant, `t ms  who  what  detail`, where `t` is
 * milliseconds since the timeline's time origin.
 *
 * A helper module, not an example (the example runner only runs files named `NN-*.ts`).
 */
import type { AgentEvent } from "@effect-agents/core"
import { Clock, Console, Effect } from "effect"

/** Column widths, column titles and time origin of a timeline. */
export interface Options {
  /** Width of the `who` column (an agent path, a tool, a process). */
  readonly who: number
  /** Width of the `what` column (an event tag, a step). */
  readonly what: number
  /** Time origin in ms (default 0, right for `TestClock`); it can be set later on `Timeline.start`. */
  readonly start?: number
  /** Titles of the `who` and `what` columns in the header (default `agent` and `event`). */
  readonly titles?: readonly [who: string, what: string]
}

/** A timeline: its header, and its lines, formatted or printed. */
export interface Timeline {
  /**
   * Time origin in ms. On the real clock, set it when a run starts
   * (`timeline.start = yield* Clock.currentTimeMillis`); every line reads it when it is printed.
   */
  start: number
  /** The column titles, aligned with the lines. */
  readonly header: string
  /** One line at instant `at` (ms, same clock as `start`). */
  readonly row: (at: number, who: string, what: string, detail?: string) => string
  /** Print a line stamped with the Effect clock (virtual under `TestClock`). */
  readonly note: (who: string, what: string, detail?: string) => Effect.Effect<void>
  /** Print a line from plain Promise callbacks (real clock: `Date.now()` is what `Clock` reads). */
  readonly noteNow: (who: string, what: string, detail?: string) => void
  /** Print an agent event at its own timestamp, with `describeEvent` as detail by default; `TextDelta` is skipped. */
  readonly printEvent: (event: AgentEvent.AgentEvent, detail?: string) => Effect.Effect<void>
}

/** Make a timeline with the given column widths. */
export const make = (options: Options): Timeline => {
  const [whoTitle, whatTitle] = options.titles ?? ["agent", "event"]
  const timeline: Timeline = {
    start: options.start ?? 0,
    header: `${"t".padStart(6)}     ${whoTitle.padEnd(options.who)} ${whatTitle.padEnd(options.what)} detail`,
    row: (at, who, what, detail = "") =>
      `${String(at - timeline.start).padStart(6)} ms  ${who.padEnd(options.who)} ${what.padEnd(options.what)} ${detail}`.trimEnd(),
    note: (who, what, detail = "") =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => Console.log(timeline.row(now, who, what, detail))),
    noteNow: (who, what, detail = "") => console.log(timeline.row(Date.now(), who, what, detail)),
    printEvent: (event, detail = describeEvent(event)) =>
      event._tag === "TextDelta" ? Effect.void : Console.log(timeline.row(event.timestamp, event.agent, event._tag, detail))
  }
  return timeline
}

/** A value as compact JSON. */
export const show = (value: unknown): string => JSON.stringify(value) ?? String(value)

/** The detail column for an agent event: what it carries, in a few words. */
export const describeEvent = (event: AgentEvent.AgentEvent): string => {
  switch (event._tag) {
    case "RunStarted":
      return show(event.input)
    case "TurnStarted":
      return `turn ${event.turn}`
    case "ModelRequested":
      return `attempt ${event.attempt}`
    case "TextDelta":
      return show(event.text)
    case "TextReset":
      return `attempt ${event.attempt} failed: discard its text`
    case "ModelResponded":
      return event.functionCalls.length > 0 ? `calls ${event.functionCalls.join(", ")}` : show(event.text)
    case "ToolCallStarted":
      return `${event.tool} (${event.callId}) ${show(event.args)}`
    case "ToolCallSucceeded":
      return `${event.tool} -> ${show(event.output)}`
    case "ToolCallFailed":
      return `${event.tool}: ${event.error} (${event.reported ? "reported to the model" : "fails the run"})`
    case "ToolCallInterrupted":
      return `${event.tool} (${event.reason})`
    case "ApprovalRequested":
      return `${event.tool} (${event.callId}) waits for approval`
    case "ApprovalDecided":
      return `${event.tool} ${event.approved ? "approved" : `denied: ${event.reason ?? ""}`}`
    case "GuardrailStarted":
      return `${event.stage} guardrail ${event.guardrail}${event.tool ? ` on ${event.tool} (${event.callId})` : ""}`
    case "GuardrailPassed":
      return `${event.guardrail} passed after ${event.durationMillis} ms`
    case "GuardrailTripped":
      return `${event.guardrail} tripped after ${event.durationMillis} ms (${event.action}): ${event.reason}`
    case "RetryScheduled":
      return `attempt ${event.attempt} in ${event.delayMillis} ms, after ${event.error}: ${event.message}`
    case "HandoffStarted":
      return `-> ${event.target}`
    case "HandoffCompleted":
      return `<- ${event.target}`
    case "RunCompleted":
      return show(event.text)
    case "RunFailed":
      return `${event.error}: ${event.message}`
  }
}

/**
 * A claim an example checks about its own run: `[what, holds]`, or `[what, holds, "timing"]` for a wall-clock
 * figure (an upper bound on real time) that a loaded machine can miss without anything being wrong.
 */
export type Claim = readonly [claim: string, holds: boolean, kind?: "timing"]

/**
 * Print each claim as `ok`, `FAIL` or (a missed timing claim) `slow`, and tell whether every claim that is not a
 * timing claim holds: an example exits 1 on a `FAIL`, never on a `slow` line.
 */
export const printClaims = (claims: ReadonlyArray<Claim>): Effect.Effect<boolean> =>
  Effect.gen(function*() {
    for (const [claim, holds, kind] of claims) {
      yield* Console.log(`${holds ? "ok  " : kind === "timing" ? "slow" : "FAIL"}  ${claim}`)
    }
    if (claims.some(([, holds, kind]) => !holds && kind === "timing")) {
      yield* Console.log("(a \"slow\" line is a wall-clock figure this machine missed under load: it does not fail the example)")
    }
    return claims.every(([, holds, kind]) => holds || kind === "timing")
  })
