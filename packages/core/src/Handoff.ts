/**
 * Handoffs: let the model transfer the conversation to another agent.
 *
 * `Handoff.to(agent)` exposes a `transfer_to_<name>` tool. When the model calls it, the target
 * agent takes over the whole conversation in the same run and its answer is the run's answer.
 * Only declared targets are reachable; `policy.maxHandoffs` stops cycles.
 *
 * @since 0.1.0
 */
import type { Agent } from "./Agent.js"
import * as validate from "./internal/validate.js"

/**
 * @since 0.1.0
 */
export const TypeId: unique symbol = Symbol.for("@effect-agents/core/Handoff")

/**
 * @since 0.1.0
 */
export interface Handoff<out R = never> {
  readonly [TypeId]: typeof TypeId
  /** The target, resolved lazily so agents can hand off to each other in a cycle. */
  readonly target: () => Agent<R, unknown>
  readonly description: string | undefined
}

/**
 * @since 0.1.0
 */
export interface Any extends Handoff<any> {}

/**
 * @since 0.1.0
 */
export type Requirements<H> = H extends Handoff<infer R> ? R : never

/**
 * @since 0.1.0
 * @category guards
 */
export const isHandoff = (u: unknown): u is Any => typeof u === "object" && u !== null && TypeId in u

/**
 * The tool name the model calls to hand off to an agent.
 *
 * @since 0.1.0
 */
export const toolName = (agentName: string): string => `transfer_to_${agentName.replace(/[^a-zA-Z0-9_]/g, "_")}`

/**
 * Declare a handoff target. Pass a function to refer to an agent defined later (cycles).
 *
 * `Agent.make` checks the handoff's tool name (a name Gemini accepts, distinct from the agent's
 * tools and other handoffs). A function target is checked when a run first resolves it: if it
 * returns no agent, or its tool name clashes, that run ends with a defect naming the declaring
 * agent and the rule.
 *
 * @example
 * ```ts
 * import { Agent, Handoff } from "@effect-agents/core"
 *
 * const math = Agent.make({ name: "math", instructions: "Solve math problems." })
 * const triage = Agent.make({
 *   name: "triage",
 *   instructions: "Route the user to the right specialist.",
 *   handoffs: [Handoff.to(math, { description: "for arithmetic and algebra" })]
 * })
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const to = <R>(
  target: Agent<R, unknown> | (() => Agent<R, unknown>),
  options?: { readonly description?: string | undefined }
): Handoff<R> => {
  if (typeof target === "function") return { [TypeId]: TypeId, target, description: options?.description }
  if (typeof target !== "object" || target === null) {
    throw validate.invalid("handoff", `Handoff.to needs an agent or a function returning one, got ${validate.show(target)}`)
  }
  const handoff: Handoff<R> = { [TypeId]: TypeId, target: () => target, description: options?.description }
  validate.knownTargets.set(handoff, target)
  return handoff
}
