/**
 * Human in the loop: decisions on tool calls that need approval.
 *
 * A tool made with `needsApproval` (`true`, or a predicate on its decoded arguments) does not run
 * its handler until someone decides: the call emits `ApprovalRequested`, waits for a decision
 * from the `Approvals` service, then emits `ApprovalDecided`. Approved, the handler runs; denied
 * (or no decision within `policy.approvalTimeout`), the handler never runs and the model reads an
 * error function response with the reason (`ToolCallFailed{kind: "denied", reported: true}`).
 * Siblings in the same group keep running while a call waits; an interrupted run stops waiting at
 * once (the call ends as interrupted).
 *
 * Decisions are keyed by run id and call id. When no `Approvals` service is provided, runs use
 * one process-wide in-memory instance, `Approvals.global`, so a server that decides through
 * `Approvals.global` (what `@effect-agents/http` does by default) reaches every run of the
 * process. Provide `layerMemory` (or a service of your own) to keep decisions apart.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as FiberId from "effect/FiberId"
import * as Layer from "effect/Layer"

/**
 * A decision on one call: `approve`, and an optional `reason` the model reads when denied.
 *
 * @since 0.1.0
 * @category models
 */
export interface Decision {
  readonly approve: boolean
  readonly reason?: string | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** Wait for the decision on a call. Interrupting the wait withdraws the request. */
  readonly request: (runId: string, callId: string) => Effect.Effect<Decision>
  /**
   * Decide on a call. A decision that arrives before its call waits is kept until the call asks
   * for it (a client may answer as soon as it reads `ApprovalRequested`).
   */
  readonly decide: (runId: string, callId: string, decision: Decision) => Effect.Effect<void>
  /** The calls waiting for a decision now, as `{ runId, callId }`. */
  readonly pending: Effect.Effect<ReadonlyArray<{ readonly runId: string; readonly callId: string }>>
}

/**
 * The approvals service.
 *
 * @since 0.1.0
 * @category tags
 */
export class Approvals extends Context.Tag("@effect-agents/core/Approvals")<Approvals, Service>() {}

interface Entry {
  readonly runId: string
  readonly callId: string
  readonly deferred: Deferred.Deferred<Decision>
  waiting: boolean
}

/**
 * An in-memory approvals service.
 *
 * @example
 * ```ts
 * import { Approvals } from "@effect-agents/core"
 *
 * const approvals = Approvals.unsafeMakeMemory()
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const unsafeMakeMemory = (): Service => {
  const entries = new Map<string, Entry>()
  const entry = (runId: string, callId: string): Entry => {
    const key = `${runId}/${callId}`
    let found = entries.get(key)
    if (found === undefined) {
      found = { runId, callId, deferred: Deferred.unsafeMake<Decision>(FiberId.none), waiting: false }
      entries.set(key, found)
    }
    return found
  }
  return {
    request: (runId, callId) =>
      Effect.suspend(() => {
        const found = entry(runId, callId)
        found.waiting = true
        return Effect.ensuring(
          Deferred.await(found.deferred),
          Effect.sync(() => entries.delete(`${runId}/${callId}`))
        )
      }),
    decide: (runId, callId, decision) =>
      Effect.suspend(() => Effect.asVoid(Deferred.succeed(entry(runId, callId).deferred, decision))),
    pending: Effect.sync(() =>
      Array.from(entries.values()).filter((e) => e.waiting).map(({ callId, runId }) => ({ runId, callId }))
    )
  }
}

/**
 * The process-wide in-memory instance runs use when no `Approvals` service is provided.
 *
 * @since 0.1.0
 * @category constructors
 */
export const global: Service = unsafeMakeMemory()

/**
 * A fresh in-memory approvals service.
 *
 * @example
 * ```ts
 * import { Agent, Approvals } from "@effect-agents/core"
 * import { Effect } from "effect"
 *
 * declare const agent: Agent.Any
 * const program = Agent.run(agent, "Delete the file").pipe(Effect.provide(Approvals.layerMemory))
 * ```
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<Approvals> = Layer.sync(Approvals, unsafeMakeMemory)

/**
 * The approvals service of the context, `global` when none is provided.
 *
 * @since 0.1.0
 * @category accessors
 */
export const current: Effect.Effect<Service> = Effect.map(
  Effect.serviceOption(Approvals),
  (option) => option._tag === "Some" ? option.value : global
)
