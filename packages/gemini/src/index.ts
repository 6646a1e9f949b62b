/**
 * `@effect-agents/gemini`: the core `Model` over Google's `@google/genai` SDK, and a Gemini REST
 * protocol emulator for tests and offline demos.
 *
 * @example
 * ```ts
 * import { Agent } from "@effect-agents/core"
 * import { Gemini, GeminiEmulator } from "@effect-agents/gemini"
 * import { Effect } from "effect"
 * declare const math: Agent.Agent
 *
 * // against the real API (GEMINI_API_KEY from the environment)
 * const live = Agent.run(math, "What is 2 + 3?").pipe(Effect.provide(Gemini.layerConfig({ model: "gemini-2.5-flash" })))
 *
 * // against a local, scripted Gemini: same SDK, same HTTP, no network
 * const offline = Agent.run(math, "What is 2 + 3?").pipe(
 *   Effect.provide(GeminiEmulator.layerModel({
 *     script: [GeminiEmulator.callTools([{ name: "add", args: { a: 2, b: 3 } }]), GeminiEmulator.text("5")]
 *   }))
 * )
 * ```
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * as Gemini from "./Gemini.js"
/**
 * @since 0.1.0
 */
export * as GeminiEmulator from "./GeminiEmulator.js"
