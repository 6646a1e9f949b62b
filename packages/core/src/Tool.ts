/**
 * Tools: functions the model may call, with Schema-checked arguments and results, and
 * declarative `timeout`, `retry` and `onFailure`. A tool whose handler acquires resources is
 * made with `scoped: true`: each call then has its own `Scope`, closed when the call ends.
 *
 * Everything that can be built once per tool is built in the constructor: the JSON Schema
 * declaration, the argument decoder and the result encoder.
 *
 * At a call, the model's arguments are plain data: a `__proto__`, `constructor` or `prototype`
 * key at any depth refuses the call as invalid arguments (the model is told which key, and the
 * handler never runs), so no decoded parameter inherits properties from the model's input. A
 * result that cannot be sent as JSON (a cycle, a `bigint`, a function) fails that call as
 * `invalid-result`. A handler that throws instead of returning an Effect is a defect of its call.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as ParseResult from "effect/ParseResult"
import { pipeArguments, type Pipeable } from "effect/Pipeable"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { ToolException } from "./AgentError.js"
import type * as Guardrail from "./Guardrail.js"
import * as guardrail from "./internal/guardrail.js"
import { permitScoped } from "./internal/concurrency.js"
import * as fairSemaphore from "./internal/semaphore.js"
import { declarationParameters, parametersJsonSchema } from "./internal/jsonSchema.js"
import * as validate from "./internal/validate.js"
import type { ToolDeclaration } from "./Model.js"
import type { ToolFailure } from "./Policy.js"

/**
 * @since 0.1.0
 */
export const TypeId: unique symbol = Symbol.for("@effect-agents/core/Tool")

/**
 * @since 0.1.0
 */
export type TypeId = typeof TypeId

/**
 * A tool. `Params` is what the handler receives after decoding; `Success` what it returns
 * before encoding; `E` its typed failure; `R` the services it needs.
 *
 * @since 0.1.0
 */
export interface Tool<out Name extends string, in out Params, in out Success, out E = never, out R = never>
  extends Pipeable
{
  readonly [TypeId]: TypeId
  readonly name: Name
  readonly description: string
  readonly parameters: Schema.Schema<Params, any>
  readonly success: Schema.Schema<Success, any>
  /** The handler; the run loop passes the call it serves as `call` (absent when called directly). */
  readonly handler: (params: Params, call?: Call) => Effect.Effect<Success, E, R | Scope.Scope>
  readonly timeout: Duration.Duration | undefined
  readonly retry: Schedule.Schedule<unknown, any> | undefined
  readonly onFailure: ToolFailure | undefined
  /** Calls of this tool that may run at once in the whole process, or `undefined` for no limit. */
  readonly concurrency: number | undefined
  /** The declaration sent to the model, built once. */
  readonly declaration: ToolDeclaration
  /** Whether a call needs its own `Scope` (the handler may acquire scoped resources). */
  readonly scoped: boolean
  /** How a durable run may replay a call (see `Options.durability`); `"at-most-once"` by default. */
  readonly durability: Durability
  /** Whether a call with these decoded arguments waits for a decision first (see `Approvals`); `undefined`: never. */
  readonly needsApproval: ((params: Params) => boolean) | undefined
  /** Decode raw model arguments (built once). */
  readonly decodeArgs: (args: unknown) => Effect.Effect<Params, ParseResult.ParseError>
  /** Encode a handler result for the model (built once). */
  readonly encodeResult: (value: Success) => Effect.Effect<unknown, ParseResult.ParseError>
  /** Its own tool guardrails (see `Guardrail.tool`), run before those of the agent. */
  readonly guardrails: ReadonlyArray<Guardrail.Tool<any, any, any>>
}

/**
 * The call a handler serves, as the run loop passes it: the call id from the model's answer, the
 * tool's name, the agent path and that agent's turn. Wrappers that record calls (durable runs)
 * key them with it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Call {
  readonly id: string
  readonly name: string
  readonly agent: string
  readonly turn: number
}

/**
 * How a durable run (`@effect-agents/cluster`) may replay a call after a crash. `"idempotent"`: a
 * call whose result was not recorded runs again. `"at-most-once"`: a call that had started but has
 * no recorded result is not run again; the model reads that its outcome is unknown
 * (`ToolOutcomeUnknown`). Outside durable runs it changes nothing.
 *
 * @since 0.1.0
 * @category models
 */
export type Durability = "idempotent" | "at-most-once"

/**
 * Any tool.
 *
 * @since 0.1.0
 */
export interface Any extends Tool<string, any, any, any, any> {}

/**
 * The services a tool (or a union of tools) needs. Never `Scope`: every call runs in its own
 * scope (inferring through a subtype of `Tool` would otherwise pick it up from the handler).
 *
 * @since 0.1.0
 */
export type Requirements<T> = T extends Tool<any, any, any, any, infer R> ? Exclude<R, Scope.Scope> : never

/**
 * @since 0.1.0
 */
export type Failure<T> = T extends Tool<any, any, any, infer E, any> ? E : never

/**
 * @since 0.1.0
 */
export const isTool = (u: unknown): u is Any => typeof u === "object" && u !== null && TypeId in u

/**
 * Options shared by every tool constructor. Values are checked when the tool is made: `timeout`
 * must be a finite duration `>= 0`, `concurrency` a positive integer, `onFailure` `"fail-fast"` or
 * `"report"`, `retry` a `Schedule`; a bad value throws an `IllegalArgumentException` naming the
 * tool, the value and the rule. The tool's name is checked by `Agent.make` (names Gemini accepts).
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<Params extends Schema.Schema.AnyNoContext, Success extends Schema.Schema.AnyNoContext, E, RG = never> {
  readonly description: string
  /** Schema of the arguments object. The declaration's JSON Schema is derived from it. */
  readonly parameters: Params
  /** Schema of the result; defaults to `Schema.Unknown` (sent as is). */
  readonly success?: Success | undefined
  /** Interrupt a call after this long; counts as the call's failure (`ToolTimeout`). Covers retries. */
  readonly timeout?: Duration.DurationInput | undefined
  /** Retry the handler's typed failures on this schedule. */
  readonly retry?: Schedule.Schedule<unknown, NoInfer<E>> | undefined
  /** Override the agent's `toolFailure` policy for this tool. */
  readonly onFailure?: ToolFailure | undefined
  /**
   * At most this many calls of this tool run at once in the whole process, whatever the run,
   * agent or conversation (one semaphore, built with the tool). A call waits for a slot in
   * arrival order (traced as a `Tool.waitForPermit` span; the wait counts toward `timeout`) and
   * keeps it until its scoped resources are released; each retry attempt takes the slot again.
   */
  readonly concurrency?: number | undefined
  /**
   * A call waits for a decision from the `Approvals` service before its handler runs: always
   * (`true`), or when the predicate holds for its decoded arguments. It emits `ApprovalRequested`
   * then `ApprovalDecided`; a denied call is answered with an error the model reads
   * (`policy.approvalTimeout` bounds the wait, then the call is denied).
   */
  readonly needsApproval?: boolean | ((params: NoInfer<Schema.Schema.Type<Params>>) => boolean) | undefined
  /**
   * How a durable run may replay a call after a crash (see `Durability`): `"at-most-once"` (the
   * default) or `"idempotent"`. Only `@effect-agents/cluster` reads it.
   */
  readonly durability?: Durability | undefined
  /**
   * Tool guardrails of this tool (see `Guardrail.tool`): checks of a call's decoded arguments
   * (`before`) or of its result (`after`), run before the agent's own tool guardrails.
   */
  readonly guardrails?:
    | ReadonlyArray<Guardrail.Tool<NoInfer<Schema.Schema.Type<Params>>, NoInfer<Schema.Schema.Type<Success>>, RG>>
    | undefined
}

const Proto = {
  [TypeId]: TypeId,
  pipe() {
    return pipeArguments(this, arguments)
  }
}

const build = <Name extends string, Params, Success, E, R>(
  name: Name,
  options: Options<Schema.Schema<Params, any>, Schema.Schema<Success, any>, E>,
  handler: (params: Params) => Effect.Effect<Success, E, R | Scope.Scope>,
  scoped: boolean
): Tool<Name, Params, Success, E, R> => {
  const subject = `tool ${validate.show(name)}`
  const timeout = options.timeout !== undefined ? validate.duration(subject, "timeout", options.timeout) : undefined
  if (options.concurrency !== undefined) validate.positiveInteger(subject, "concurrency", options.concurrency)
  if (options.onFailure !== undefined) validate.oneOf(subject, "onFailure", options.onFailure, ["fail-fast", "report"])
  if (options.durability !== undefined) {
    validate.oneOf(subject, "durability", options.durability, ["idempotent", "at-most-once"])
  }
  if (options.retry !== undefined && !Schedule.isSchedule(options.retry)) {
    throw validate.invalid(subject, `retry must be a Schedule, got ${validate.show(options.retry)}`)
  }
  const success = (options.success ?? Schema.Unknown) as Schema.Schema<Success, any>
  const tool = Object.create(Proto)
  tool.name = name
  tool.description = options.description
  tool.parameters = options.parameters
  tool.success = success
  tool.handler = options.concurrency === undefined ? handler : limited(name, options.concurrency, handler)
  tool.timeout = timeout
  tool.retry = options.retry
  tool.onFailure = options.onFailure
  tool.concurrency = options.concurrency
  tool.durability = options.durability ?? "at-most-once"
  tool.needsApproval = options.needsApproval === true
    ? always
    : typeof options.needsApproval === "function"
    ? options.needsApproval
    : undefined
  tool.scoped = scoped || options.concurrency !== undefined
  tool.declaration = {
    name,
    description: options.description,
    parameters: parametersJsonSchema(options.parameters, name)
  } satisfies ToolDeclaration
  tool.decodeArgs = Schema.decodeUnknown(options.parameters)
  tool.encodeResult = Schema.encode(success)
  tool.guardrails = guardrail.checkedForTool(subject, options.guardrails)
  return tool
}

const always = () => true

/** The handler behind one process-wide fair semaphore of `permits`, taken in the call's scope. */
const limited = <Params, Success, E, R>(
  name: string,
  permits: number,
  handler: (params: Params, call?: Call) => Effect.Effect<Success, E, R | Scope.Scope>
): (params: Params, call?: Call) => Effect.Effect<Success, E, R | Scope.Scope> => {
  const semaphore = fairSemaphore.unsafeMake(permits)
  const permit = permitScoped(semaphore, "Tool.waitForPermit", { tool: name, permits })
  return (params, call) => Effect.zipRight(permit, handler(params, call))
}

/**
 * `scoped: true` is required exactly when the handler needs a `Scope`, and allowed otherwise.
 *
 * @since 0.1.0
 */
export type ScopedOption<R> = [Extract<R, Scope.Scope>] extends [never] ? {
    /** Give each call its own `Scope`, closed when the call ends. */
    readonly scoped?: boolean | undefined
  }
  : {
    /** The handler acquires scoped resources: each call gets its own `Scope`, closed when the call ends. */
    readonly scoped: true
  }

/**
 * A tool whose handler is an Effect. The handler may need services. A handler that acquires
 * scoped resources (`Effect.acquireRelease`, `Effect.addFinalizer`, `Effect.forkScoped`, ...)
 * says so with `scoped: true` (the compiler asks for it when the handler needs a `Scope`): each
 * call then gets its own `Scope`, closed when the call ends, whatever the outcome. Other tools
 * do not pay for a scope.
 *
 * @example
 * ```ts
 * import { Tool } from "@effect-agents/core"
 * import { Effect, Schedule, Schema } from "effect"
 *
 * const add = Tool.make("add", {
 *   description: "Add two numbers",
 *   parameters: Schema.Struct({ a: Schema.Number, b: Schema.Number }),
 *   success: Schema.Number,
 *   handler: ({ a, b }) => Effect.succeed(a + b),
 *   timeout: "5 seconds",
 *   retry: Schedule.recurs(2),
 *   concurrency: 4 // at most 4 calls at once in the whole process
 * })
 *
 * // a handler holding a resource for the duration of its call
 * const lookup = Tool.make("lookup", {
 *   description: "Look a word up",
 *   parameters: Schema.Struct({ word: Schema.String }),
 *   scoped: true,
 *   handler: ({ word }) =>
 *     Effect.acquireRelease(Effect.succeed(new Map([["effect", "a program"]])), (dictionary) =>
 *       Effect.sync(() => dictionary.clear())).pipe(Effect.map((dictionary) => dictionary.get(word) ?? "unknown"))
 * })
 * ```
 * @since 0.1.0
 */
export const make = <
  const Name extends string,
  Params extends Schema.Schema.AnyNoContext,
  Success extends Schema.Schema.AnyNoContext = typeof Schema.Unknown,
  E = never,
  R = never,
  RG = never
>(
  name: Name,
  options: Options<Params, Success, E, RG> & {
    readonly handler: (params: Schema.Schema.Type<Params>) => Effect.Effect<Schema.Schema.Type<Success>, E, R>
  } & ScopedOption<R>
): Tool<Name, Schema.Schema.Type<Params>, Schema.Schema.Type<Success>, E, Exclude<R | RG, Scope.Scope>> =>
  build(name, options as any, options.handler as any, options.scoped === true)

/**
 * A tool whose handler returns a Promise. The `AbortSignal` is aborted when the call is
 * interrupted (sibling failure, timeout, run interrupted); a rejection becomes a
 * `ToolException`. A handler that ignores the signal cannot delay the run: its call ends at
 * once and its late result is discarded.
 *
 * @example
 * ```ts
 * import { Tool } from "@effect-agents/core"
 * import { Schema } from "effect"
 *
 * const fetchPage = Tool.fromPromise("fetch_page", {
 *   description: "Fetch a web page",
 *   parameters: Schema.Struct({ url: Schema.String }),
 *   handler: ({ url }, signal) => fetch(url, { signal }).then((r) => r.text())
 * })
 * ```
 * @since 0.1.0
 */
export const fromPromise = <
  const Name extends string,
  Params extends Schema.Schema.AnyNoContext,
  Success extends Schema.Schema.AnyNoContext = typeof Schema.Unknown
>(
  name: Name,
  options: Options<Params, Success, ToolException> & {
    readonly handler: (params: Schema.Schema.Type<Params>, signal: AbortSignal) => PromiseLike<Schema.Schema.Type<Success>>
  }
): Tool<Name, Schema.Schema.Type<Params>, Schema.Schema.Type<Success>, ToolException> =>
  build(name, options as any, (params) =>
    Effect.async<any, ToolException>((resume, signal) => {
      const thrown = (error: unknown) => resume(Effect.fail(new ToolException({ tool: name, error })))
      try {
        const promise: unknown = options.handler(params, signal)
        if (!isPromiseLike(promise)) {
          return resume(Effect.die(
            new Error(
              `the handler of Tool.fromPromise("${name}") returned ${validate.show(promise)} instead of a Promise; ` +
                `return a Promise (an async function does) or make the tool with Tool.fromSync`
            )
          ))
        }
        promise.then((value) => resume(Effect.succeed(value)), thrown)
      } catch (error) {
        thrown(error)
      }
    }), false)

/**
 * A tool whose handler is a plain function. A thrown exception becomes a `ToolException`.
 *
 * @example
 * ```ts
 * import { Tool } from "@effect-agents/core"
 * import { Schema } from "effect"
 *
 * const multiply = Tool.fromSync("multiply", {
 *   description: "Multiply two numbers",
 *   parameters: Schema.Struct({ a: Schema.Number, b: Schema.Number }),
 *   handler: ({ a, b }) => a * b
 * })
 * ```
 * @since 0.1.0
 */
export const fromSync = <
  const Name extends string,
  Params extends Schema.Schema.AnyNoContext,
  Success extends Schema.Schema.AnyNoContext = typeof Schema.Unknown
>(
  name: Name,
  options: Options<Params, Success, ToolException> & {
    readonly handler: (params: Schema.Schema.Type<Params>) => Schema.Schema.Type<Success>
  }
): Tool<Name, Schema.Schema.Type<Params>, Schema.Schema.Type<Success>, ToolException> =>
  build(name, options as any, (params) =>
    Effect.suspend(() => {
      let value: unknown
      try {
        value = options.handler(params)
      } catch (error) {
        return Effect.fail(new ToolException({ tool: name, error }))
      }
      if (isPromiseLike(value)) {
        return Effect.die(
          new Error(`the handler of Tool.fromSync("${name}") returned a Promise; make the tool with Tool.fromPromise`)
        )
      }
      return Effect.succeed(value as Schema.Schema.Type<Success>)
    }), false)

const isPromiseLike = (u: unknown): u is PromiseLike<unknown> =>
  typeof u === "object" && u !== null && typeof (u as { readonly then?: unknown }).then === "function"

/**
 * Check a JSON Schema as the parameters of a function declaration: the subset Gemini documents,
 * the same check every tool's declaration passes. Returns the parameters as they will be declared
 * (annotations dropped, constraints Gemini does not take moved into descriptions) or why the
 * schema cannot be declared, naming the keyword and where it is. For tools declared by someone
 * else, such as an MCP server.
 *
 * @example
 * ```ts
 * import { Tool } from "@effect-agents/core"
 * import { Either } from "effect"
 *
 * const checked = Tool.checkParametersJsonSchema({ type: "object", properties: { q: { type: "string" } } })
 * if (Either.isLeft(checked)) console.warn(checked.left)
 * ```
 * @since 0.1.0
 * @category declarations
 */
export const checkParametersJsonSchema = (schema: unknown): Either.Either<{ readonly [key: string]: unknown }, string> =>
  declarationParameters(schema)

/**
 * The arguments of a tool declared with a JSON Schema: an object, checked by whoever runs the tool.
 *
 * @since 0.1.0
 * @category schemas
 */
export const JsonArguments = Schema.Record({ key: Schema.String, value: Schema.Unknown })

/**
 * A tool declared with a plain JSON Schema instead of an Effect Schema: a tool that lives
 * elsewhere (an MCP server's), whose arguments its owner checks. The schema is declared to the
 * model as given once it passes {@link checkParametersJsonSchema}; the name must be one Gemini
 * accepts. Both are checked here, since such a tool is often made at run time, after
 * `Agent.make`: a problem throws an `IllegalArgumentException` naming the tool. The handler
 * receives the model's arguments object and its result is sent as is.
 *
 * @example
 * ```ts
 * import { Tool } from "@effect-agents/core"
 * import { Effect } from "effect"
 *
 * const search = Tool.fromJsonSchema("search", {
 *   description: "Search the documents",
 *   parameters: { type: "object", properties: { query: { type: "string" } }, required: ["query"] },
 *   handler: (args) => Effect.succeed(`results for ${String(args.query)}`)
 * })
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const fromJsonSchema = <const Name extends string, E = never, R = never>(
  name: Name,
  options: Omit<Options<typeof JsonArguments, typeof Schema.Unknown, E>, "parameters" | "success"> & {
    /** The JSON Schema of the arguments object, as its owner declares it. */
    readonly parameters: unknown
    readonly handler: (args: { readonly [key: string]: unknown }) => Effect.Effect<unknown, E, R>
  } & ScopedOption<R>
): Tool<Name, { readonly [key: string]: unknown }, unknown, E, Exclude<R, Scope.Scope>> => {
  const subject = `tool ${validate.show(name)}`
  const problem = validate.toolNameProblem(name)
  if (problem !== undefined) throw validate.invalid(subject, problem)
  const parameters = declarationParameters(options.parameters)
  if (Either.isLeft(parameters)) throw validate.invalid(subject, `its parameters JSON Schema ${parameters.left}`)
  const tool = build(name, { ...options, parameters: JsonArguments, success: Schema.Unknown } as any, options.handler as any, options.scoped === true)
  ;(tool as { declaration: ToolDeclaration }).declaration = { name, description: options.description, parameters: parameters.right }
  return tool as any
}
