import * as Cause from "effect/Cause"
import * as Schema from "effect/Schema"

/**
 * Causes and error values as the library shows them: one Schema for a `Cause` field of an
 * error, one way to describe an error value, one way to describe a whole `Cause`.
 *
 * @internal
 */

/** A `Cause` held in a field of a `Schema.TaggedError` (`ToolCallFailed.cause`, `AllFailed.causes`). */
export const CauseSchema = Schema.declare((u): u is Cause.Cause<unknown> => Cause.isCause(u), { identifier: "Cause" })

/**
 * A short human-readable description of any value something failed with. It never throws: a
 * value whose `message` cannot be read, or that cannot be printed, is described as such.
 */
export const describeError = (error: unknown): string => {
  try {
    if (typeof error === "string") return error
    if (typeof error === "object" && error !== null && "message" in error) {
      let message: unknown
      try {
        message = error.message
      } catch (thrown) {
        return `an error whose message cannot be read (reading it threw: ${describeThrown(thrown)})`
      }
      return typeof message === "string" ? message : printed(message)
    }
    return printed(error)
  } catch (thrown) {
    return `an error that cannot be described (inspecting it threw: ${describeThrown(thrown)})`
  }
}

/** What reading a value threw, described without looking into it any further than its message. */
const describeThrown = (thrown: unknown): string => {
  try {
    if (typeof thrown === "string") return thrown
    if (thrown instanceof Error && typeof thrown.message === "string") return thrown.message
    return printed(thrown)
  } catch {
    return unprintable
  }
}

const unprintable = "a value that cannot be printed"

/** The JSON text of a value, or its `String` form (a bigint, a cycle), or a note that neither works. */
const printed = (value: unknown): string => {
  try {
    const json = JSON.stringify(value)
    if (json !== undefined) return json
  } catch {
    // a bigint or a cycle: try String
  }
  try {
    return String(value)
  } catch {
    return unprintable
  }
}

/**
 * Every failure and defect of a cause, described and joined with `; ` (defects marked
 * `defect:`); `interrupted` when it holds only interruptions.
 */
export const describeCause = (cause: Cause.Cause<unknown>): string => {
  const all = [
    ...Array.from(Cause.failures(cause), describeError),
    ...Array.from(Cause.defects(cause), (defect) => `defect: ${describeError(defect)}`)
  ]
  return all.length > 0 ? all.join("; ") : Cause.isInterrupted(cause) ? "interrupted" : "no failure"
}

/** `left` then `right`, without an `Empty` on either side. */
export const sequential = <E>(left: Cause.Cause<E>, right: Cause.Cause<E>): Cause.Cause<E> =>
  left._tag === "Empty" ? right : right._tag === "Empty" ? left : Cause.sequential(left, right)

/** `left` beside `right`, without an `Empty` on either side. */
export const parallel = <E>(left: Cause.Cause<E>, right: Cause.Cause<E>): Cause.Cause<E> =>
  left._tag === "Empty" ? right : right._tag === "Empty" ? left : Cause.parallel(left, right)

/**
 * The cause without its interruptions: what a child raised besides being interrupted (a
 * finalizer that died, a failure at the same instant). `Empty` when it was only interrupted.
 */
export const withoutInterruptions = <E>(cause: Cause.Cause<E>): Cause.Cause<E> =>
  Cause.match(cause, {
    onEmpty: Cause.empty,
    onFail: (error) => Cause.fail(error),
    onDie: (defect) => Cause.die(defect),
    onInterrupt: () => Cause.empty,
    onSequential: sequential,
    onParallel: parallel
  })

/** Only the interruptions of a cause, in their structure (`Empty` when there are none). */
export const interruptionsOf = <E>(cause: Cause.Cause<E>): Cause.Cause<never> =>
  Cause.match(cause, {
    onEmpty: Cause.empty as Cause.Cause<never>,
    onFail: () => Cause.empty,
    onDie: () => Cause.empty,
    onInterrupt: (fiberId) => Cause.interrupt(fiberId),
    onSequential: sequential,
    onParallel: parallel
  })
