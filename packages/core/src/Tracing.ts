/**
 * Tracing: what a run's spans record beyond their names and `gen_ai.*` metadata.
 *
 * With a tracer that exports spans (`@effect/opentelemetry`, or any `Tracer` you provide), a run
 * opens spans by the OpenTelemetry GenAI conventions: an `invoke_agent {agent}` span per run and
 * per handoff segment, a `generate_content {model}` span per model call (`chat` for a model that
 * does not say it is Gemini) and an `execute_tool {tool}` span per tool call. By default they
 * carry no message contents: prompts, answers and tool arguments and results often hold personal
 * data. Opt in with {@link withContents} (one effect) or {@link layerContents} (a whole server):
 * model-call spans then record `gen_ai.system_instructions`, `gen_ai.input.messages` and
 * `gen_ai.output.messages`, tool-call spans `gen_ai.tool.call.arguments` and
 * `gen_ai.tool.call.result`, each as JSON text in the GenAI message format (media a tool returned
 * appears as a `blob` part with its MIME type, without its bytes). Credentials are never part of
 * them: they live in the model layer, never in a message.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as Layer from "effect/Layer"

/**
 * Whether runs started in this fiber record message contents in their spans; `false` by default.
 * Read once when a run starts, and only when a tracer exports its spans.
 *
 * @since 0.1.0
 * @category fiber refs
 */
export const currentContents: FiberRef.FiberRef<boolean> = FiberRef.unsafeMake(false)

/**
 * Runs inside `self` record message contents in their spans (GenAI `gen_ai.input.messages`,
 * `gen_ai.output.messages`, `gen_ai.tool.call.arguments`, `gen_ai.tool.call.result`).
 *
 * @example
 * ```ts
 * import { Agent, Tracing } from "@effect-agents/core"
 *
 * declare const agent: Agent.Any
 * const program = Agent.run(agent, "What is 2 + 3?").pipe(Tracing.withContents)
 * ```
 * @since 0.1.0
 * @category combinators
 */
export const withContents = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.locally(self, currentContents, true)

/**
 * Every run of the effects this layer is provided to (a server's runtime, a test) records message
 * contents in its spans.
 *
 * @example
 * ```ts
 * import { Tracing } from "@effect-agents/core"
 * import { Layer } from "effect"
 *
 * declare const TracerLive: Layer.Layer<never> // e.g. `NodeSdk.layer(...)` of @effect/opentelemetry
 * const Observability = Layer.merge(TracerLive, Tracing.layerContents)
 * ```
 * @since 0.1.0
 * @category layers
 */
export const layerContents: Layer.Layer<never> = Layer.locallyScoped(currentContents, true)
