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
  readonly target: () => Agent<R>
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
 * The tool name the model calls to hand off to an agent.
 *
 * @since 0.1.0
 */
export const toolName = (agentName: string): string => `transfer_to_${agentName.replace(/[^a-zA-Z0-9_]/g, "_")}`

/**
 * Declare a handoff target. Pass a function to refer to an agent defined later (cycles).
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
 */
export const to = <R>(
  target: Agent<R> | (() => Agent<R>),
  options?: { readonly description?: string | undefined }
): Handoff<R> => ({
  [TypeId]: TypeId,
  target: typeof target === "function" ? target : () => target,
  description: options?.description
})
