/**
 * A named group of tools, to share between agents; and toolsets: tools known only once a
 * resource is up (an MCP server's session), provided by a `Layer` and added to an agent per run.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import { pipeArguments, type Pipeable } from "effect/Pipeable"
import type * as Agent from "./Agent.js"
import * as Handoff from "./Handoff.js"
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
  Context.GenericTag<ToolsetId<Name>, Toolset>(`@effect-agents/core/Toolkit/Toolset/${name}`)

/** Per agent and list of toolset names: the lists last seen and the agent made from them. */
const withToolsetsCache = new WeakMap<
  Agent.Any,
  Map<string, { readonly lists: ReadonlyArray<ReadonlyArray<Tool.Any>>; readonly agent: Agent.Any }>
>()

/**
 * The agent with the current tools of some toolsets added to its own. Run the agent it gives:
 * the toolsets' tools are resolved when the run starts (a toolset whose list changes shows the
 * change to the next run). The agent made is cached per list, so the run loop's per-agent work is
 * done once per version of the lists.
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
 * const answer = assistant.pipe(
 *   Toolkit.withToolsets(["docs", "files"]),
 *   Effect.flatMap((agent) => Agent.run(agent, "Summarize README.md"))
 * )
 * ```
 * @since 0.1.0
 * @category combinators
 */
export const withToolsets: {
  <const Names extends ReadonlyArray<string>>(
    names: Names
  ): <R>(agent: Agent.Agent<R>) => Effect.Effect<Agent.Agent<R>, never, ToolsetId<Names[number]>>
  <R, const Names extends ReadonlyArray<string>>(
    agent: Agent.Agent<R>,
    names: Names
  ): Effect.Effect<Agent.Agent<R>, never, ToolsetId<Names[number]>>
} = dual(2, <R>(agent: Agent.Agent<R>, names: ReadonlyArray<string>): Effect.Effect<Agent.Agent<R>, never, any> =>
  Effect.map(
    Effect.forEach(names, (name) => Effect.flatMap(toolset(name), (set) => set.tools)),
    (lists) => {
      const key = names.join("\u0000")
      let cache = withToolsetsCache.get(agent)
      const last = cache?.get(key)
      if (last !== undefined && last.lists.every((list, i) => list === lists[i])) return last.agent as Agent.Agent<R>
      const made = Object.assign(Object.create(Object.getPrototypeOf(agent)), agent, {
        tools: withToolsetTools(agent, names, lists)
      }) as Agent.Agent<R>
      if (cache === undefined) withToolsetsCache.set(agent, cache = new Map())
      cache.set(key, { lists, agent: made })
      return made
    }
  ))

/** The agent's tools followed by the toolsets' tools, every name checked. */
const withToolsetTools = (
  agent: Agent.Any,
  names: ReadonlyArray<string>,
  lists: ReadonlyArray<ReadonlyArray<Tool.Any>>
): ReadonlyArray<Tool.Any> => {
  const subject = `agent "${agent.name}"`
  const owners = new Map<string, string>()
  for (const tool of agent.tools) owners.set(tool.name, "the agent's own tools")
  for (const handoff of agent.handoffs) {
    try {
      owners.set(Handoff.toolName(handoff.target().name), "its handoffs")
    } catch {
      // a lazy target that does not resolve is reported by the run
    }
  }
  const tools = agent.tools.slice()
  lists.forEach((list, i) => {
    const from = `the toolset "${names[i]}"`
    for (const tool of list) {
      if (!Tool.isTool(tool)) throw validate.invalid(subject, `${from} gave ${validate.show(tool)} instead of a tool`)
      const problem = validate.toolNameProblem(tool.name)
      if (problem !== undefined) throw validate.invalid(subject, `${from}: ${problem}`)
      const owner = owners.get(tool.name)
      if (owner !== undefined) {
        throw validate.invalid(
          subject,
          `${from} has a tool "${tool.name}" and so has ${owner}; give the toolset a prefix or a filter`
        )
      }
      owners.set(tool.name, from)
      tools.push(tool)
    }
  })
  return tools
}
