/**
 * @since 0.1.0
 */
export * as LeakCheck from "./LeakCheck.js"
/**
 * @since 0.1.0
 */
export * as ScriptedModel from "./ScriptedModel.js"
/**
 * @since 0.1.0
 */
export * as FaultInjection from "./FaultInjection.js"
