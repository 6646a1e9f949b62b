/**
 * Checks of configuration values and names, run once when a policy, a tool or an agent is made
 * (never per call). Each failed check throws an `IllegalArgumentException` whose message names
 * what was configured, the value given and the rule: `Invalid policy: toolConcurrency must be a
 * positive integer or "unbounded", got NaN`.
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"

/** The error thrown for a value breaking a rule; `subject` is what was being made (`policy`, `tool "add"`). */
export const invalid = (subject: string, rule: string): Cause.IllegalArgumentException =>
  new Cause.IllegalArgumentException(`Invalid ${subject}: ${rule}`)

/** A value as a message shows it: `NaN`, `-1`, `"abc"`, `10n`, `undefined`. */
export const show = (value: unknown): string => {
  switch (typeof value) {
    case "string":
      return JSON.stringify(value)
    case "bigint":
      return `${value}n`
    case "function":
      return "a function"
    case "symbol":
      return value.toString()
    case "object": {
      if (value === null) return "null"
      if (Duration.isDuration(value)) return `Duration(${Duration.format(value)})`
      try {
        return JSON.stringify(value) ?? String(value)
      } catch {
        return Object.prototype.toString.call(value)
      }
    }
    default:
      return String(value)
  }
}

/** A whole number of at least 1. */
export const positiveInteger = (subject: string, field: string, value: unknown): void => {
  if (!Number.isInteger(value) || (value as number) < 1) {
    throw invalid(subject, `${field} must be a positive integer, got ${show(value)}`)
  }
}

/** A whole number of at least 1, or `"unbounded"`. */
export const concurrency = (subject: string, field: string, value: unknown): void => {
  if (value !== "unbounded" && (!Number.isInteger(value) || (value as number) < 1)) {
    throw invalid(subject, `${field} must be a positive integer or "unbounded", got ${show(value)}`)
  }
}

/** One of a few strings. */
export const oneOf = (subject: string, field: string, value: unknown, allowed: ReadonlyArray<string>): void => {
  if (typeof value !== "string" || !allowed.includes(value)) {
    throw invalid(subject, `${field} must be ${allowed.map((a) => `"${a}"`).join(" or ")}, got ${show(value)}`)
  }
}

/**
 * Whether the numbers in a `DurationInput` are all `>= 0` (and not `NaN`). `Duration.decode` turns
 * `NaN` and negative inputs into a zero duration, so they are refused before decoding.
 */
const nonNegative = (input: unknown): boolean => {
  if (typeof input === "number") return input >= 0
  if (typeof input === "bigint") return input >= BigInt(0)
  if (typeof input === "string") return !input.trimStart().startsWith("-")
  if (Array.isArray(input)) return input.every((n) => typeof n !== "number" || n >= 0)
  return true
}

/** A finite duration of at least 0, decoded. */
export const duration = (subject: string, field: string, input: unknown): Duration.Duration => {
  const decoded = nonNegative(input) ? Duration.decodeUnknown(input) : Option.none()
  if (Option.isNone(decoded) || !Duration.isFinite(decoded.value)) {
    throw invalid(
      subject,
      `${field} must be a finite duration >= 0 (milliseconds, "5 seconds" or a Duration), got ${show(input)}`
    )
  }
  return decoded.value
}

const toolNamePattern = /^[A-Za-z_][A-Za-z0-9_.:-]*$/

/**
 * Why Gemini would refuse `name` as a function name (letters, digits, `_ . : -`, starting with a
 * letter or `_`, at most 64 characters), or `undefined` when it is accepted.
 */
export const toolNameProblem = (name: unknown): string | undefined => {
  if (typeof name !== "string") return `a tool name must be a string, got ${show(name)}`
  if (name.length > 64) {
    return `the tool name "${name}" has ${name.length} characters; Gemini accepts at most 64`
  }
  if (!toolNamePattern.test(name)) {
    return `the tool name ${show(name)} must start with a letter or "_" and contain only letters, digits, "_", ".", ":" and "-" (the names Gemini accepts)`
  }
  return undefined
}

/** An agent name: a non-empty string without `/` (the separator of agent paths such as `triage/math`). */
export const agentName = (name: unknown): void => {
  if (typeof name !== "string" || name.trim().length === 0) {
    throw invalid("agent", `name must be a non-empty string, got ${show(name)}`)
  }
  if (name.includes("/")) {
    throw invalid(`agent ${show(name)}`, `name must not contain "/" (it separates agents in event paths such as "triage/math")`)
  }
}

/**
 * Handoff targets known when the handoff is declared (`Handoff.to(agent)`): `Agent.make` checks
 * them at once. A handoff missing here has a lazy target, checked when the run loop resolves it.
 */
export const knownTargets = new WeakMap<object, unknown>()
