import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Agent from "../Agent.js"
import * as Handoff from "../Handoff.js"
import * as Tool from "../Tool.js"
import type { Toolset } from "../Toolkit.js"
import { compile, type Compiled } from "./compile.js"
import * as validate from "./validate.js"

/**
 * Toolsets on agents: an agent's own tools joined with the current tools of the toolsets it
 * names. The run loop asks for them at every turn of an agent made with `toolsets`
 * ({@link compiledNow}); `Toolkit.withToolsets` once ({@link withLists}). The agent made for a
 * version of the lists is cached, and so is its compilation: while no list changes, a turn
 * reads the lists and finds both in the cache.
 *
 * @internal
 */

const tags = new Map<string, Context.Tag<any, Toolset>>()

/** The tag of the toolset `name`, one per name. */
export const tagOf = (name: string): Context.Tag<any, Toolset> => {
  let tag = tags.get(name)
  if (tag === undefined) {
    tag = Context.GenericTag<any, Toolset>(`@effect-agents/core/Toolkit/Toolset/${name}`)
    tags.set(name, tag)
  }
  return tag
}

/** The current tool lists of the toolsets `names`, in order. */
export const listsOf = (names: ReadonlyArray<string>): Effect.Effect<ReadonlyArray<ReadonlyArray<Tool.Any>>, never, any> =>
  Effect.forEach(names, (name) => Effect.flatMap(tagOf(name), (set) => set.tools))

/** Per agent and list of toolset names: the lists last seen and the agent made from them. */
const cache = new WeakMap<
  Agent.Any,
  Map<string, { readonly lists: ReadonlyArray<ReadonlyArray<Tool.Any>>; readonly agent: Agent.Any }>
>()

/**
 * The agent with the tools of `lists` (the toolsets `names`) after its own; the same agent while
 * the lists are the same arrays.
 */
export const withLists = <A extends Agent.Any>(
  agent: A,
  names: ReadonlyArray<string>,
  lists: ReadonlyArray<ReadonlyArray<Tool.Any>>
): A => {
  const key = names.join("\u0000")
  let byNames = cache.get(agent)
  const last = byNames?.get(key)
  if (last !== undefined && last.lists.every((list, i) => list === lists[i])) return last.agent as A
  const made = Object.assign(Object.create(Object.getPrototypeOf(agent)), agent, { tools: toolsOf(agent, names, lists) }) as A
  if (byNames === undefined) cache.set(agent, byNames = new Map())
  byNames.set(key, { lists, agent: made })
  return made
}

/** What a turn of an agent made with `toolsets` runs with: its tools and its toolsets' tools as they are now. */
export const compiledNow = (agent: Agent.Any): Effect.Effect<Compiled, never, any> =>
  Effect.map(listsOf(agent.toolsets), (lists) => compile(withLists(agent, agent.toolsets, lists)))

/** The agent's tools followed by the toolsets' tools, every name checked. */
const toolsOf = (
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
