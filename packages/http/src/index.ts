/**
 * @since 0.1.0
 */
export * as AgentHttp from "./AgentHttp.js"
/**
 * @since 0.1.0
 */
export * as AgentHttpClient from "./AgentHttpClient.js"
/**
 * @since 0.1.0
 */
export * as KeyValueConversationStore from "./KeyValueConversationStore.js"
/**
 * @since 0.1.0
 */
export * as Protocol from "./Protocol.js"
