/**
 * A named group of tools, to share between agents.
 *
 * @since 0.1.0
 */
import { pipeArguments, type Pipeable } from "effect/Pipeable"
import type * as Tool from "./Tool.js"

/**
 * @since 0.1.0
 */
export const TypeId: unique symbol = Symbol.for("@effect-agents/core/Toolkit")

/**
 * @since 0.1.0
 */
export interface Toolkit<out Tools extends ReadonlyArray<Tool.Any>> extends Pipeable {
  readonly [TypeId]: typeof TypeId
  readonly tools: Tools
}

/**
 * @since 0.1.0
 */
export const isToolkit = (u: unknown): u is Toolkit<ReadonlyArray<Tool.Any>> =>
  typeof u === "object" && u !== null && TypeId in u

const Proto = {
  [TypeId]: TypeId,
  pipe() {
    return pipeArguments(this, arguments)
  }
}

/**
 * @example
 * ```ts
 * import { Toolkit } from "@effect-agents/core"
 * declare const add: any, multiply: any
 *
 * const arithmetic = Toolkit.make(add, multiply)
 * ```
 * @since 0.1.0
 */
export const make = <const Tools extends ReadonlyArray<Tool.Any>>(...tools: Tools): Toolkit<Tools> => {
  const names = new Set<string>()
  for (const tool of tools) {
    if (names.has(tool.name)) throw new Error(`Toolkit.make: two tools are named "${tool.name}"`)
    names.add(tool.name)
  }
  const toolkit = Object.create(Proto)
  toolkit.tools = tools
  return toolkit
}

/**
 * The tools of several toolkits together.
 *
 * @since 0.1.0
 */
export const merge = <const Toolkits extends ReadonlyArray<Toolkit<ReadonlyArray<Tool.Any>>>>(
  ...toolkits: Toolkits
): Toolkit<Array<Toolkits[number]["tools"][number]>> => make(...toolkits.flatMap((t) => t.tools)) as any
