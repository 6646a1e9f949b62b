import type * as Effect from "effect/Effect"

/**
 * The Promise function and error mapping behind an effect made with `Model.fromPromise`, kept on
 * the effect so that the run loop can await the call itself (`modelCall.ts`).
 *
 * @internal
 */
export interface PromiseCall<A, E> {
  readonly evaluate: (signal: AbortSignal) => PromiseLike<A>
  readonly onError: (cause: unknown) => E
}

const key: unique symbol = Symbol.for("@effect-agents/core/Model/promiseCall")

/** `effect`, marked as being `call`. @internal */
export const mark = <A, E>(effect: Effect.Effect<A, E>, call: PromiseCall<A, E>): Effect.Effect<A, E> =>
  Object.defineProperty(effect, key, { value: call })

/** The Promise call behind `effect` when it was marked (and not wrapped since), else `undefined`. @internal */
export const of = <A, E>(effect: Effect.Effect<A, E>): PromiseCall<A, E> | undefined =>
  (effect as { readonly [key]?: PromiseCall<A, E> })[key]
