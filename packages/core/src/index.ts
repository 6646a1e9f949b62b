/**
 * @since 0.1.0
 */
export * as Agent from "./Agent.js"
/**
 * @since 0.1.0
 */
export * as AgentError from "./AgentError.js"
/**
 * @since 0.1.0
 */
export * as AgentEvent from "./AgentEvent.js"
/**
 * @since 0.1.0
 */
export * as Content from "./Content.js"
/**
 * @since 0.1.0
 */
export * as Guardrail from "./Guardrail.js"
/**
 * @since 0.1.0
 */
export * as Handoff from "./Handoff.js"
/**
 * @since 0.1.0
 */
export * as Model from "./Model.js"
/**
 * @since 0.1.0
 */
export * as Policy from "./Policy.js"
/**
 * @since 0.1.0
 */
export * as Tool from "./Tool.js"
/**
 * @since 0.1.0
 */
export * as Toolkit from "./Toolkit.js"
/**
 * @since 0.1.0
 */
export * as Orchestrate from "./Orchestrate.js"
/**
 * @since 0.1.0
 */
export * as Background from "./Background.js"
/**
 * @since 0.1.0
 */
export * as ConversationStore from "./ConversationStore.js"
/**
 * @since 0.1.0
 */
export * as Approvals from "./Approvals.js"
/**
 * @since 0.1.0
 */
export * as Tracing from "./Tracing.js"
