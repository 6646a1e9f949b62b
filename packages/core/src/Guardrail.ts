/**
 * Guardrails: checks that run beside an agent's work and stop it the instant they trip.
 *
 * - **Input** guardrails check the run's input. By default they run *concurrently with the
 *   first model call*: a trip interrupts that call at that instant (its HTTP request is aborted,
 *   nothing of its answer is used) and fails the run with `GuardrailTripped{ stage: "input" }`. A
 *   pass costs nothing beyond the guardrail's own time: when the model answers first, the run
 *   waits for the verdict before acting on the answer (no tool runs on an input that trips).
 *   `mode: "before"` runs the guardrail before the model call instead.
 * - **Output** guardrails check the final answer (its text, and its typed value for an agent
 *   made with `output`) before `RunCompleted`. A trip fails the run, or, with `feedback`, goes back
 *   to the model as a message for at most `maxRetries` more answers. With `Agent.stream`, `watch`
 *   checks the text as it streams: a trip interrupts the model stream at once and the tripping
 *   delta is never emitted.
 * - **Tool** guardrails check a call's decoded arguments (`before`) or its result (`after`), per
 *   agent (`Agent.make({ guardrails: { tools } })`, every tool of the agent) or per tool
 *   (`Tool.make(..., { guardrails })`). `reject(reason)` answers the model with an error
 *   ("blocked by guardrail X: reason") and the handler never runs (or its result is never shown);
 *   `trip(info)` fails the call, and its group acts as for any failure under its policy
 *   (`fail-fast` interrupts the siblings).
 *
 * Several guardrails of one stage run concurrently and the first trip interrupts the others.
 * They run inside the run's structured concurrency (interrupted with it), each bounded by
 * `policy.guardrailTimeout` (past it the guardrail trips, or passes with `onTimeout: "pass"`).
 * A guardrail that fails instead of deciding fails the run with `GuardrailFailed`, never a silent
 * pass. Each one publishes `GuardrailStarted` then `GuardrailPassed` or `GuardrailTripped`, and is
 * a span when the run is traced.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import type { Pipeable } from "effect/Pipeable"
import type { History } from "./Content.js"
import * as internal from "./internal/guardrail.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: typeof internal.TypeId = internal.TypeId

/**
 * Where a guardrail runs.
 *
 * @since 0.1.0
 * @category models
 */
export type Stage = "input" | "output" | "tool"

/**
 * The guardrail lets the work go on.
 *
 * @since 0.1.0
 * @category models
 */
export interface Pass {
  readonly _tag: "Pass"
}

/**
 * The guardrail stops the work; `info` says why (any value; a string is the reason as is).
 *
 * @since 0.1.0
 * @category models
 */
export interface Trip {
  readonly _tag: "Trip"
  readonly info: unknown
}

/**
 * A tool guardrail refuses one call: the model is told why, the run goes on.
 *
 * @since 0.1.0
 * @category models
 */
export interface Reject {
  readonly _tag: "Reject"
  readonly reason: string
}

/**
 * What an input or output guardrail decides.
 *
 * @since 0.1.0
 * @category models
 */
export type Verdict = Pass | Trip

/**
 * What a tool guardrail decides.
 *
 * @since 0.1.0
 * @category models
 */
export type ToolVerdict = Pass | Trip | Reject

/**
 * @since 0.1.0
 * @category constructors
 */
export const pass: Pass = internal.pass

/**
 * @example
 * ```ts
 * import { Guardrail } from "@effect-agents/core"
 *
 * const verdict = Guardrail.trip({ reason: "the input holds an e-mail address", kind: "pii" })
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const trip = (info: unknown): Trip => ({ _tag: "Trip", info })

/**
 * @since 0.1.0
 * @category constructors
 */
export const reject = (reason: string): Reject => ({ _tag: "Reject", reason })

/**
 * What to do when a guardrail has not decided within `policy.guardrailTimeout`: trip (the
 * default) or pass.
 *
 * @since 0.1.0
 * @category models
 */
export type OnTimeout = "trip" | "pass"

/**
 * What an input guardrail checks.
 *
 * @since 0.1.0
 * @category models
 */
export interface InputContext {
  /** The agent the run starts with. */
  readonly agent: string
  /** The run's prompt. */
  readonly prompt: string
  /** The conversation so far, the prompt last. */
  readonly history: History
}

/**
 * What an output guardrail checks.
 *
 * @since 0.1.0
 * @category models
 */
export interface OutputContext {
  /** The path of the agent that answered. */
  readonly agent: string
  readonly text: string
  /** The typed answer (the text, or the value decoded with the agent's `output` Schema). */
  readonly output: unknown
  readonly history: History
}

/**
 * What a tool guardrail checks: the call, its decoded arguments and (after it ran) its result,
 * before encoding.
 *
 * @since 0.1.0
 * @category models
 */
export interface ToolContext<Params = unknown, Result = unknown> {
  readonly agent: string
  readonly tool: string
  readonly callId: string
  readonly args: Params
  /** Only in `after`. */
  readonly result?: Result | undefined
}

interface Base extends Pipeable {
  readonly [TypeId]: typeof TypeId
  readonly name: string
  readonly onTimeout: OnTimeout
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Input<out R = never> extends Base {
  readonly stage: "input"
  readonly mode: "concurrent" | "before"
  readonly check: (input: InputContext) => Effect.Effect<Verdict, unknown, R>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Output<out R = never> extends Base {
  readonly stage: "output"
  readonly feedback: { readonly maxRetries: number } | undefined
  readonly check: (output: OutputContext) => Effect.Effect<Verdict, unknown, R>
  readonly watch: ((text: string) => Effect.Effect<Verdict, unknown, R>) | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Tool<in Params = unknown, in Result = unknown, out R = never> extends Base {
  readonly stage: "tool"
  readonly before: ((call: ToolContext<Params, Result>) => Effect.Effect<ToolVerdict, unknown, R>) | undefined
  readonly after: ((call: ToolContext<Params, Result>) => Effect.Effect<ToolVerdict, unknown, R>) | undefined
}

/**
 * Any guardrail.
 *
 * @since 0.1.0
 * @category models
 */
export type Any = Input<any> | Output<any> | Tool<any, any, any>

/**
 * The guardrails of an agent (`Agent.make({ guardrails })`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Guardrails<R = any> {
  readonly input?: ReadonlyArray<Input<R>> | undefined
  readonly output?: ReadonlyArray<Output<R>> | undefined
  /** Tool guardrails applied to every tool of the agent. */
  readonly tools?: ReadonlyArray<Tool<any, any, R>> | undefined
}

/**
 * The services the guardrails need.
 *
 * @since 0.1.0
 * @category models
 */
export type Requirements<G> = G extends Input<infer R> ? R
  : G extends Output<infer R> ? R
  : G extends Tool<any, any, infer R> ? R
  : G extends Guardrails<any> ? ListRequirements<G, "input"> | ListRequirements<G, "output"> | ListRequirements<G, "tools">
  : never

type ListRequirements<G, K extends keyof Guardrails> = G extends { readonly [k in K]: ReadonlyArray<infer X> } ? Requirements<X>
  : never

/**
 * @since 0.1.0
 * @category guards
 */
export const isGuardrail = (u: unknown): u is Any => typeof u === "object" && u !== null && TypeId in u

/**
 * An input guardrail. The check may take time, call a service or a classifier agent
 * (`Agent.run`); it returns `Guardrail.pass` or `Guardrail.trip(info)`.
 *
 * @example
 * ```ts
 * import { Guardrail } from "@effect-agents/core"
 * import { Effect } from "effect"
 *
 * const noEmail = Guardrail.input("no-email", ({ prompt }) =>
 *   Effect.succeed(/\S+@\S+/.test(prompt) ? Guardrail.trip("the prompt holds an e-mail address") : Guardrail.pass))
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const input = <E = never, R = never>(
  name: string,
  check: (input: InputContext) => Effect.Effect<Verdict, E, R>,
  options?: {
    /** `concurrent` (default): beside the first model call; `before`: before it. */
    readonly mode?: "concurrent" | "before" | undefined
    readonly onTimeout?: OnTimeout | undefined
  }
): Input<R> => internal.make("input", name, { check, ...options }) as Input<R>

/**
 * An output guardrail. With `feedback`, a trip goes back to the model (the trip's info as the
 * reason) for at most `maxRetries` more answers before the run fails. With `watch`, the text
 * streamed so far is checked at each delta under `Agent.stream`.
 *
 * @example
 * ```ts
 * import { Guardrail } from "@effect-agents/core"
 * import { Effect } from "effect"
 *
 * const noSecrets = Guardrail.output(
 *   "no-secrets",
 *   ({ text }) => Effect.succeed(text.includes("sk-") ? Guardrail.trip("the answer leaks a key") : Guardrail.pass),
 *   {
 *     feedback: { maxRetries: 1 },
 *     watch: (text) => Effect.succeed(text.includes("sk-") ? Guardrail.trip("the answer leaks a key") : Guardrail.pass)
 *   }
 * )
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const output = <E = never, R = never>(
  name: string,
  check: (output: OutputContext) => Effect.Effect<Verdict, E, R>,
  options?: {
    readonly feedback?: { readonly maxRetries: number } | undefined
    readonly watch?: ((text: string) => Effect.Effect<Verdict, E, R>) | undefined
    readonly onTimeout?: OnTimeout | undefined
  }
): Output<R> => internal.make("output", name, { check, ...options }) as Output<R>

/**
 * A tool guardrail, checking a call `before` its handler runs (on the decoded arguments), `after`
 * (on its result), or both. Type the arguments with a type argument (`Guardrail.tool<Params>`, for
 * a check that needs no service) or by annotating the check's parameter
 * (`Guardrail.ToolContext<Params>`, so its services are inferred).
 *
 * @example
 * ```ts
 * import { Guardrail } from "@effect-agents/core"
 * import { Effect } from "effect"
 *
 * const noDrop = Guardrail.tool<{ readonly sql: string }>("no-drop", {
 *   before: ({ args }) =>
 *     Effect.succeed(/drop\s+table/i.test(args.sql) ? Guardrail.reject("DROP TABLE is not allowed") : Guardrail.pass)
 * })
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const tool = <Params = unknown, Result = unknown, E = never, R = never>(
  name: string,
  options: {
    readonly before?: ((call: ToolContext<Params, Result>) => Effect.Effect<ToolVerdict, E, R>) | undefined
    readonly after?: ((call: ToolContext<Params, Result>) => Effect.Effect<ToolVerdict, E, R>) | undefined
    readonly onTimeout?: OnTimeout | undefined
  }
): Tool<Params, Result, R> => internal.make("tool", name, options) as Tool<Params, Result, R>
