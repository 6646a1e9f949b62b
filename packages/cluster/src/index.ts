/**
 * @since 0.1.0
 */
export * as Conversation from "./Conversation.js"
/**
 * @since 0.1.0
 */
export * as Durable from "./Durable.js"
/**
 * @since 0.1.0
 */
export * as DurableAgent from "./DurableAgent.js"
/**
 * @since 0.1.0
 */
export * as DurableError from "./DurableError.js"
