/**
 * A `ConversationStore` on `@effect/platform`'s `KeyValueStore`: each conversation's history is
 * one value (JSON, encoded with the `Content.History` Schema) under `conversation/<id>`.
 *
 * `layerFileSystem(directory)` keeps one file per conversation (through `@effect/platform-node`);
 * `layer` uses whatever `KeyValueStore` you provide (memory, browser storage, your own backend).
 * The lock that allows one run per conversation at a time is per process.
 *
 * @since 0.1.0
 */
import { Content, ConversationStore } from "@effect-agents/core"
import type * as PlatformError from "@effect/platform/Error"
import * as KeyValueStore from "@effect/platform/KeyValueStore"
import * as NodeKeyValueStore from "@effect/platform-node/NodeKeyValueStore"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

const key = (conversationId: string) => `conversation/${conversationId}`

/**
 * A store over the `KeyValueStore` in context.
 *
 * @example
 * ```ts
 * import { KeyValueConversationStore } from "@effect-agents/http"
 * import { KeyValueStore } from "@effect/platform"
 * import { Effect } from "effect"
 *
 * const store = KeyValueConversationStore.make.pipe(Effect.provide(KeyValueStore.layerMemory))
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<ConversationStore.Service, never, KeyValueStore.KeyValueStore> = Effect.gen(function*() {
  const histories = (yield* KeyValueStore.KeyValueStore).forSchema(Content.History)
  const failure = (conversationId: string, operation: "load" | "save") => (error: { readonly message: string }) =>
    new ConversationStore.ConversationStoreError({ conversationId, operation, detail: error.message })
  return yield* ConversationStore.make({
    load: (conversationId) => Effect.mapError(histories.get(key(conversationId)), failure(conversationId, "load")),
    save: (conversationId, history) => Effect.mapError(histories.set(key(conversationId), history), failure(conversationId, "save"))
  })
})

/**
 * The store as a layer over the `KeyValueStore` in context.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<ConversationStore.ConversationStore, never, KeyValueStore.KeyValueStore> = Layer.effect(
  ConversationStore.ConversationStore,
  make
)

/**
 * The store in a directory of files, one per conversation (created if missing).
 *
 * @example
 * ```ts
 * import { KeyValueConversationStore } from "@effect-agents/http"
 *
 * const ConversationsLive = KeyValueConversationStore.layerFileSystem(".data/conversations")
 * ```
 * @since 0.1.0
 * @category layers
 */
export const layerFileSystem = (
  directory: string
): Layer.Layer<ConversationStore.ConversationStore, PlatformError.PlatformError> =>
  Layer.provide(layer, NodeKeyValueStore.layerFileSystem(directory))
