/**
 * A named group of tools, to share between agents; and toolsets: tools known only once a
 * resource is up (an MCP server's session), provided by a `Layer` under a name. An agent made
 * with `toolsets: [name]` reads their current tools at every turn.
 *
 * @since 0.1.0
 */
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import { pipeArguments, type Pipeable } from "effect/Pipeable"
import type * as Agent from "./Agent.js"
import * as toolsets from "./internal/toolsets.js"
import * as validate from "./internal/validate.js"
import * as Tool from "./Tool.js"

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
 * Group tools. Every argument must be a tool and no two may share a name; otherwise an
 * `IllegalArgumentException` says which.
 *
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
  tools.forEach((tool, i) => {
    if (!Tool.isTool(tool)) throw validate.invalid("toolkit", `argument ${i + 1} is not a tool, got ${validate.show(tool)}`)
    if (names.has(tool.name)) throw validate.invalid("toolkit", `two tools are named "${tool.name}"`)
    names.add(tool.name)
  })
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

/**
 * @since 0.1.0
 * @category type ids
 */
export const ToolsetTypeId: unique symbol = Symbol.for("@effect-agents/core/Toolkit/Toolset")

/**
 * A toolset: a service holding tools that are known only once its resource is up, such as the
 * tools an MCP server lists. `tools` reads the current list; a toolset whose list changes returns
 * a new array, and the same array until then.
 *
 * @since 0.1.0
 * @category models
 */
export interface Toolset {
  readonly name: string
  readonly tools: Effect.Effect<ReadonlyArray<Tool.Any>>
}

/**
 * The identifier of the toolset named `Name` in the context: what a toolset's layer provides and
 * what {@link withToolsets} requires.
 *
 * @since 0.1.0
 * @category models
 */
export interface ToolsetId<Name extends string> {
  readonly [ToolsetTypeId]: Name
}

/**
 * The tag of the toolset named `Name`. Toolsets are told apart by name: a layer providing a
 * toolset (`McpToolset.layer({ name: "docs", ... })`) provides this tag.
 *
 * @example
 * ```ts
 * import { Toolkit } from "@effect-agents/core"
 * import { Effect } from "effect"
 *
 * const names = Effect.flatMap(Toolkit.toolset("docs"), (docs) => docs.tools).pipe(
 *   Effect.map((tools) => tools.map((tool) => tool.name))
 * )
 * ```
 * @since 0.1.0
 * @category tags
 */
export const toolset = <const Name extends string>(name: Name): Context.Tag<ToolsetId<Name>, Toolset> =>
  toolsets.tagOf(name)

/**
 * What an agent made with `toolsets: Names` requires: the toolset of each name.
 *
 * @since 0.1.0
 * @category models
 */
export type ToolsetRequirements<Name extends string> = Name extends string ? ToolsetId<Name> : never

/**
 * The agent with the current tools of some toolsets added to its own, resolved once, now. An
 * agent made with `toolsets` (`Agent.make({ ..., toolsets: ["docs"] })`) needs none of this: its
 * run resolves them at every turn, so a toolset whose list changes mid-run shows the change to the
 * next model request. This snapshot suits code that wants the tools themselves (to list or test
 * them). The agent made is cached per version of the lists.
 *
 * A toolset's tool named like one of the agent's tools, its handoffs or another toolset's tool, or
 * with a name Gemini does not accept, ends the effect with an `IllegalArgumentException` defect
 * naming both; give the toolset a prefix or a filter.
 *
 * @example
 * ```ts
 * import { Agent, Toolkit } from "@effect-agents/core"
 * import { Effect } from "effect"
 * declare const assistant: Agent.Agent
 *
 * // requires the toolsets "docs" and "files", e.g. from McpToolset.layer({ name: "docs", ... })
 * const names = assistant.pipe(
 *   Toolkit.withToolsets(["docs", "files"]),
 *   Effect.map((agent) => agent.tools.map((tool) => tool.name))
 * )
 * ```
 * @since 0.1.0
 * @category combinators
 */
export const withToolsets: {
  <const Names extends ReadonlyArray<string>>(
    names: Names
  ): <R, A>(agent: Agent.Agent<R, A>) => Effect.Effect<Agent.Agent<R, A>, never, ToolsetId<Names[number]>>
  <R, A, const Names extends ReadonlyArray<string>>(
    agent: Agent.Agent<R, A>,
    names: Names
  ): Effect.Effect<Agent.Agent<R, A>, never, ToolsetId<Names[number]>>
} = dual(2, <R, A>(agent: Agent.Agent<R, A>, names: ReadonlyArray<string>): Effect.Effect<Agent.Agent<R, A>, never, any> =>
  Effect.map(toolsets.listsOf(names), (lists) => toolsets.withLists(agent, names, lists)))
