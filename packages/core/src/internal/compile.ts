import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as SchemaAST from "effect/SchemaAST"
import type * as Agent from "../Agent.js"
import { ToolResultInvalid } from "../AgentError.js"
import * as Handoff from "../Handoff.js"
import type { ToolDeclaration } from "../Model.js"
import type * as Tool from "../Tool.js"
import { type Guards, guardsOf } from "./guardrail.js"
import { parametersJsonSchema } from "./jsonSchema.js"

/**
 * What the run loop builds once and reuses: per tool, its synchronous codecs; per agent, its
 * tools by name, its handoff targets and the declarations sent to the model. Both are cached on
 * the (immutable) tool and agent values, so every conversation of an agent shares them.
 *
 * @internal
 */

/** A tool with its synchronous codecs, built once per tool. */
export interface Runnable {
  readonly tool: Tool.Any
  /** Decode the model's arguments; stops with a `Forbidden` issue on a schema with asynchronous transformations. */
  readonly decode: (args: unknown) => Either.Either<unknown, ParseResult.ParseIssue>
  /** Encode a result for the model; stops with a `Forbidden` issue like `decode`. */
  readonly encode: (value: unknown) => Either.Either<unknown, ParseResult.ParseIssue>
  readonly invalidResult: (issue: ParseResult.ParseIssue, callId: string) => ToolResultInvalid
}

const runnables = new WeakMap<Tool.Any, Runnable>()

const runnableOf = (tool: Tool.Any): Runnable => {
  let runnable = runnables.get(tool)
  if (runnable === undefined) {
    runnable = {
      tool,
      decode: plain(tool.parameters.ast, ParseResult.decodeUnknownEither(tool.parameters)),
      encode: plain(tool.success.ast, ParseResult.encodeUnknownEither(tool.success)),
      invalidResult: (issue, callId) =>
        new ToolResultInvalid({ tool: tool.name, callId, detail: ParseResult.TreeFormatter.formatIssueSync(issue) })
    }
    runnables.set(tool, runnable)
  }
  return runnable
}

type Codec = (input: unknown) => Either.Either<unknown, ParseResult.ParseIssue>

/**
 * `parse` for the schemas most tools declare (`String`, `Number`, `Boolean`, or a `Struct` of
 * required fields of those types) with the input checked by hand, as Schema's parser checks it,
 * and the same output: the input itself for a bare type or an empty `Struct`; else a new object
 * with the declared fields in declaration order and no other key. An input it does not accept
 * goes to `parse`, which says what is wrong. Any other schema is `parse` itself. (Schema's parser
 * costs ≈ 5 % of a run with eight tool calls, most of it for arguments like `{ a, b }`.)
 */
const plain = (ast: SchemaAST.AST, parse: Codec): Codec => {
  const bare = plainCheck(ast)
  if (bare !== undefined) return (input) => bare(input) ? Either.right(input) : parse(input)
  if (ast._tag !== "TypeLiteral" || ast.indexSignatures.length > 0 || SchemaAST.getParseOptionsAnnotation(ast)._tag === "Some") {
    return parse
  }
  if (ast.propertySignatures.length === 0) return (input) => input !== null && input !== undefined ? Either.right(input) : parse(input)
  const names: Array<string> = []
  const checks: Array<(value: unknown) => boolean> = []
  for (const field of ast.propertySignatures) {
    const check = plainCheck(field.type)
    if (field.isOptional || typeof field.name !== "string" || check === undefined) return parse
    names.push(field.name)
    checks.push(check)
  }
  return (input) => {
    if (typeof input !== "object" || input === null || Array.isArray(input)) return parse(input)
    const output: Record<string, unknown> = {}
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!
      const value = (input as Record<string, unknown>)[name]
      if (!Object.prototype.hasOwnProperty.call(input, name) || !checks[i]!(value)) return parse(input)
      output[name] = value
    }
    return Either.right(output)
  }
}

const isString = (value: unknown) => typeof value === "string"
const isNumber = (value: unknown) => typeof value === "number"
const isBoolean = (value: unknown) => typeof value === "boolean"

/** The check of a bare `String`, `Number` or `Boolean` (with no parse options of its own). */
const plainCheck = (ast: SchemaAST.AST): ((value: unknown) => boolean) | undefined => {
  if (SchemaAST.getParseOptionsAnnotation(ast)._tag === "Some") return undefined
  switch (ast._tag) {
    case "StringKeyword":
      return isString
    case "NumberKeyword":
      return isNumber
    case "BooleanKeyword":
      return isBoolean
    default:
      return undefined
  }
}

/** Whether a synchronous codec stopped at an asynchronous transformation (the effectful codec must run it). */
export const isForbidden = (issue: ParseResult.ParseIssue): boolean => {
  switch (issue._tag) {
    case "Forbidden":
      return true
    case "Composite":
      return Array.isArray(issue.issues) ? issue.issues.some(isForbidden) : isForbidden(issue.issues as ParseResult.ParseIssue)
    case "Pointer":
    case "Refinement":
    case "Transformation":
      return isForbidden(issue.issue)
    default:
      return false
  }
}

/** Tools made by `Agent.asTool`: they read the caller's run, which is only set for agents that have one. */
const nestedTools = new WeakSet<Tool.Any>()

/** Mark a tool as running a nested agent (`Agent.asTool`). */
export const markNested = <T extends Tool.Any>(tool: T): T => {
  nestedTools.add(tool)
  return tool
}

/** Whether a tool runs a nested agent (`Agent.asTool`). */
export const isNested = (tool: Tool.Any): boolean => nestedTools.has(tool)

/** Per-agent derived data, built once per agent value and shared by all its conversations. */
export interface Compiled {
  readonly tools: ReadonlyMap<string, Runnable>
  readonly handoffs: ReadonlyMap<string, Agent.Any>
  readonly declarations: ReadonlyArray<ToolDeclaration>
  /** The names the model may call, for the message answering an unknown one. */
  readonly available: string
  /** Whether a tool of this agent runs a nested agent and so needs the caller's run. */
  readonly nests: boolean
  /** Structured output: the JSON Schema sent to the model and the decoder of the answer's JSON. */
  readonly output: Output | undefined
  /** Its guardrails and its tools', by where they run; `undefined` when there are none. */
  readonly guards: Guards | undefined
}

/** An agent's structured output, derived once from its `output` Schema. */
export interface Output {
  readonly jsonSchema: { readonly [key: string]: unknown }
  /** The decoded value, or the Schema error as text. */
  readonly decode: (json: unknown) => Either.Either<unknown, string>
}

const outputOf = (agent: Agent.Any): Output | undefined => {
  if (agent.output === undefined) return undefined
  const decode = ParseResult.decodeUnknownEither(agent.output)
  return {
    jsonSchema: parametersJsonSchema(agent.output, `${agent.name} output`),
    decode: (json) => Either.mapLeft(decode(json), (issue) => ParseResult.TreeFormatter.formatIssueSync(issue))
  }
}

const compiledCache = new WeakMap<Agent.Any, Compiled>()

export const compile = (agent: Agent.Any): Compiled => {
  let compiled = compiledCache.get(agent)
  if (compiled !== undefined) return compiled
  const tools = new Map<string, Runnable>()
  const declarations: Array<ToolDeclaration> = []
  for (const tool of agent.tools) {
    tools.set(tool.name, runnableOf(tool))
    declarations.push(tool.declaration)
  }
  const handoffs = new Map<string, Agent.Any>()
  for (const handoff of agent.handoffs) {
    const target = handoff.target()
    const name = Handoff.toolName(target.name)
    if (tools.has(name) || handoffs.has(name)) {
      throw new Error(`Agent "${agent.name}": "${name}" is declared twice`)
    }
    handoffs.set(name, target)
    const about = handoff.description ?? target.description
    declarations.push({
      name,
      description: `Hand the conversation over to the "${target.name}" agent${about ? `: ${about}` : ""}.`,
      parameters: { type: "object", properties: {} }
    })
  }
  compiled = {
    tools,
    handoffs,
    declarations,
    available: declarations.map((d) => d.name).join(", ") || "none",
    nests: agent.tools.some((tool) => nestedTools.has(tool)),
    output: outputOf(agent),
    guards: guardsOf(agent)
  }
  compiledCache.set(agent, compiled)
  return compiled
}
