/**
 * Conversations that outlive a run: a store of histories keyed by conversation id, so a backend
 * can continue a conversation across requests.
 *
 * `ConversationStore.run` and `ConversationStore.stream` continue a stored conversation with a
 * new prompt and save the history **only when the run completes**: a run that fails or is
 * interrupted (a client that left, a timeout) leaves the stored conversation exactly as it was,
 * so the next prompt continues from the last completed answer. One run per conversation at a
 * time: a second run of a conversation whose run is still going fails with `ConversationBusy`
 * instead of racing it (two runs would each save a history the other never saw).
 *
 * The service is a `Context.Tag`; `layerMemory` keeps histories in memory, and
 * `@effect-agents/http` has a `KeyValueStore`-backed layer (files by default). A store of your own
 * is a `Backend` (load and save) given to `make` or `layer`, which add the per-conversation lock.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Agent from "./Agent.js"
import type { AgentError } from "./AgentError.js"
import type { AgentEvent } from "./AgentEvent.js"
import type { History } from "./Content.js"
import type { Model } from "./Model.js"

/**
 * A second run was started for a conversation whose run is still going.
 *
 * @since 0.1.0
 * @category errors
 */
export class ConversationBusy extends Schema.TaggedError<ConversationBusy>()("ConversationBusy", {
  conversationId: Schema.String
}) {
  override get message() {
    return `The conversation "${this.conversationId}" already has a run in progress; ` +
      `send the next prompt after that run has completed or failed.`
  }
}

/**
 * The store could not load or save a conversation (a full disk, a stored value that no longer
 * decodes as a history).
 *
 * @since 0.1.0
 * @category errors
 */
export class ConversationStoreError extends Schema.TaggedError<ConversationStoreError>()("ConversationStoreError", {
  conversationId: Schema.String,
  operation: Schema.Literal("load", "save"),
  detail: Schema.String
}) {
  override get message() {
    return `The conversation store could not ${this.operation} the conversation "${this.conversationId}": ${this.detail}. ` +
      `Check the store's backend (its directory or database); the stored history is unchanged.`
  }
}

/**
 * Where histories are kept: what a store of your own implements.
 *
 * @since 0.1.0
 * @category models
 */
export interface Backend {
  /** The stored history of a conversation, `None` when it has none yet. */
  readonly load: (conversationId: string) => Effect.Effect<Option.Option<History>, ConversationStoreError>
  /** Replace the stored history of a conversation. */
  readonly save: (conversationId: string, history: History) => Effect.Effect<void, ConversationStoreError>
}

/**
 * The conversation store: a `Backend` and a per-conversation lock.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service extends Backend {
  /**
   * Hold the conversation's lock for the lifetime of the current scope; fails at once with
   * `ConversationBusy` if another run holds it. The lock is per process.
   */
  readonly acquire: (conversationId: string) => Effect.Effect<void, ConversationBusy, Scope.Scope>
}

/**
 * @example
 * ```ts
 * import { ConversationStore } from "@effect-agents/core"
 * import { Effect } from "effect"
 *
 * const history = Effect.flatMap(ConversationStore.ConversationStore, (store) => store.load("c-42"))
 * ```
 * @since 0.1.0
 * @category tags
 */
export class ConversationStore extends Context.Tag("@effect-agents/core/ConversationStore")<ConversationStore, Service>() {}

/**
 * A store over a backend: the backend's `load` and `save`, and a per-process lock per
 * conversation.
 *
 * @example
 * ```ts
 * import { ConversationStore } from "@effect-agents/core"
 * import { Effect, Option } from "effect"
 *
 * const store = ConversationStore.make({
 *   load: () => Effect.succeed(Option.none()),
 *   save: () => Effect.void
 * })
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const make = (backend: Backend): Effect.Effect<Service> =>
  Effect.sync(() => {
    const running = new Set<string>()
    return {
      load: backend.load,
      save: backend.save,
      acquire: (conversationId) =>
        Effect.acquireRelease(
          Effect.suspend(() => {
            if (running.has(conversationId)) return Effect.fail(new ConversationBusy({ conversationId }))
            running.add(conversationId)
            return Effect.void
          }),
          () => Effect.sync(() => running.delete(conversationId))
        )
    }
  })

/**
 * A store layer over a backend.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (backend: Backend): Layer.Layer<ConversationStore> => Layer.effect(ConversationStore, make(backend))

/**
 * A store that keeps histories in memory, for tests and single-process servers that may forget
 * conversations on restart.
 *
 * @example
 * ```ts
 * import { Agent, ConversationStore } from "@effect-agents/core"
 * import { Effect } from "effect"
 * declare const math: Agent.Agent
 *
 * const answer = ConversationStore.run(math, { conversationId: "c-42", prompt: "And times 4?" }).pipe(
 *   Effect.provide(ConversationStore.layerMemory)
 * )
 * ```
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<ConversationStore> = Layer.effect(
  ConversationStore,
  Effect.suspend(() => {
    const histories = new Map<string, History>()
    return make({
      load: (conversationId) => Effect.sync(() => Option.fromNullable(histories.get(conversationId))),
      save: (conversationId, history) => Effect.sync(() => void histories.set(conversationId, history))
    })
  })
)

/**
 * What to run in a stored conversation.
 *
 * @since 0.1.0
 * @category models
 */
export interface Input {
  readonly conversationId: string
  readonly prompt: string
}

/**
 * Hold the conversation's lock and load its history, for the lifetime of the current scope.
 */
const begin = (input: Input) =>
  Effect.gen(function*() {
    const store = yield* ConversationStore
    yield* store.acquire(input.conversationId)
    const history = yield* store.load(input.conversationId)
    const agentInput: Agent.Input = { prompt: input.prompt, history: Option.getOrUndefined(history) }
    return { store, agentInput }
  })

/**
 * Continue a stored conversation with a prompt and save its history when the run completes. A
 * failed or interrupted run leaves the stored conversation as it was; a conversation with a run
 * in progress fails with `ConversationBusy`.
 *
 * @example
 * ```ts
 * import { Agent, ConversationStore } from "@effect-agents/core"
 * import { Effect } from "effect"
 * declare const math: Agent.Agent
 *
 * const program = Effect.gen(function*() {
 *   yield* ConversationStore.run(math, { conversationId: "c-42", prompt: "What is 2 + 3?" })
 *   const next = yield* ConversationStore.run(math, { conversationId: "c-42", prompt: "And times 4?" })
 *   return next.text
 * })
 * ```
 * @since 0.1.0
 * @category running
 */
export const run = <R>(
  agent: Agent.Agent<R>,
  input: Input
): Effect.Effect<Agent.RunResult, AgentError | ConversationBusy | ConversationStoreError, Model | R | ConversationStore> =>
  Effect.scoped(Effect.flatMap(begin(input), ({ agentInput, store }) =>
    Effect.tap(
      Agent.run(agent, agentInput),
      // once the run has completed, its history is saved even if the caller leaves now
      (result) => Effect.uninterruptible(store.save(input.conversationId, result.history))
    )))

/**
 * Like `run`, emitting the run's events as they happen. `RunCompleted` is emitted after the
 * history is saved; the conversation's lock is released when the stream ends.
 *
 * @example
 * ```ts
 * import { Agent, ConversationStore } from "@effect-agents/core"
 * import { Console, Stream } from "effect"
 * declare const math: Agent.Agent
 *
 * const program = ConversationStore.stream(math, { conversationId: "c-42", prompt: "And times 4?" }).pipe(
 *   Stream.runForEach((event) => Console.log(event._tag))
 * )
 * ```
 * @since 0.1.0
 * @category running
 */
export const stream = <R>(
  agent: Agent.Agent<R>,
  input: Input
): Stream.Stream<AgentEvent, AgentError | ConversationBusy | ConversationStoreError, Model | R | ConversationStore> =>
  Stream.unwrapScoped(Effect.map(begin(input), ({ agentInput, store }) => {
    // the first event is the run's RunStarted; a sub-agent's (`Agent.asTool`) RunCompleted has another run id
    let runId: string | undefined
    return Stream.tap(Agent.stream(agent, agentInput), (event) => {
      runId ??= event.runId
      return event._tag === "RunCompleted" && event.runId === runId
        ? Effect.uninterruptible(store.save(input.conversationId, event.history))
        : Effect.void
    })
  }))
