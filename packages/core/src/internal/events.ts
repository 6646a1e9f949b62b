import type * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Mailbox from "effect/Mailbox"
import * as Stream from "effect/Stream"
import type { AgentEvent } from "../AgentEvent.js"
import type { FunctionCallPart } from "../Content.js"
import type { Model, Usage } from "../Model.js"
import type * as Policy from "../Policy.js"
import type { Compiled } from "./compile.js"

/**
 * Publishing: where a run's events go, and the bookkeeping every step of a run publishes
 * under (the run, the agent path, the turn).
 *
 * @internal
 */

/** Where a run publishes its events. `Agent.run` collects them in an array, `Agent.stream` offers them to a mailbox. */
export interface Sink {
  readonly emit: (event: AgentEvent) => void
  /** Whether model calls stream (and emit `TextDelta`s). */
  readonly streaming: boolean
  /** Nobody reads the events (`Agent.run` with `events: false`): none is built. */
  readonly quiet?: boolean | undefined
}

/** Mutable bookkeeping of one run (one conversation), shared by its handoff segments. */
export interface RunState {
  readonly runId: string
  readonly clock: Clock.Clock
  readonly sink: Sink
  readonly model: Model["Type"]
  readonly maxHandoffs: number
  readonly maxTokens: number | undefined
  /** Whether the run's spans go anywhere (a tracer that exports them): steps open spans only then. */
  readonly traced: boolean
  /** Whether its spans record message contents (`Tracing.currentContents`, read only when traced). */
  readonly contents: boolean
  handoffs: number
  turns: number
  /** Tokens used so far by the whole run (every agent of it). */
  usage: Usage
}

/** What the steps of one turn share: the run, the agent's compiled tools and policy, its path and the turn number. */
export interface TurnContext {
  readonly state: RunState
  readonly compiled: Compiled
  readonly policy: Policy.Policy
  readonly path: string
  readonly turn: number
}

interface EventClass {
  readonly prototype: object
  readonly _tag: string
  new(props: any, options?: any): any
}

/** The fields of an event besides the ones every event carries. */
type Own<C extends EventClass> = Omit<ConstructorParameters<C>[0], "runId" | "agent" | "turn" | "timestamp">

/**
 * Publish an event of `Class`. The instance is built without running the Schema class
 * constructor: the fields are ours and already valid, and this is the hot path. The result is an
 * ordinary instance of the class, timestamped on the run's `Clock`. A quiet sink gets none.
 */
export const publish = <C extends EventClass>(state: RunState, Class: C, agent: string, turn: number, fields: Own<C>): void => {
  if (state.sink.quiet === true) return
  state.sink.emit(Object.assign(instance(state, Class, agent, turn), fields))
}

/** Publish an event of one tool call of the turn. */
export const publishCall = <C extends EventClass>(
  ctx: TurnContext,
  call: FunctionCallPart,
  Class: C,
  fields: Omit<Own<C>, "callId" | "tool">
): void => {
  if (ctx.state.sink.quiet === true) return
  const event = instance(ctx.state, Class, ctx.path, ctx.turn)
  event.callId = call.id
  event.tool = call.name
  ctx.state.sink.emit(Object.assign(event, fields))
}

/**
 * Per event class, a constructor of its instances that sets the fields every event carries, in
 * one order: each class's events share one hidden class with their fields in the object itself.
 * (`Object.create(Class.prototype)` then assigning the fields keeps them in a separate property
 * array: ≈ 56 more bytes per event, and slower access.)
 */
type Maker = new(tag: string, runId: string, agent: string, turn: number, timestamp: number) => any

/** Where an event class keeps its maker (a property of the class: one load, where a `WeakMap` costs a lookup per event). */
const makerKey: unique symbol = Symbol.for("effect-agents/internal/events/maker")

const makerOf = (Class: EventClass & { [makerKey]?: Maker }): Maker => {
  let maker = Class[makerKey]
  if (maker === undefined) {
    maker = function(this: any, tag: string, runId: string, agent: string, turn: number, timestamp: number) {
      this._tag = tag
      this.runId = runId
      this.agent = agent
      this.turn = turn
      this.timestamp = timestamp
    } as unknown as Maker
    maker.prototype = Class.prototype
    Object.defineProperty(Class, makerKey, { value: maker })
  }
  return maker
}

const instance = (state: RunState, Class: EventClass, agent: string, turn: number) => {
  const Make = makerOf(Class)
  return new Make(Class._tag, state.runId, agent, turn, state.clock.unsafeCurrentTimeMillis())
}

/**
 * A stream of the events `program` emits, as they happen: `program` runs in a fiber of the
 * stream's scope and offers each event to a mailbox the stream reads; its exit ends the stream.
 * A consumer that stops early closes the scope, which interrupts `program`.
 */
export const eventStream = <E, R>(
  program: (emit: (event: AgentEvent) => void) => Effect.Effect<unknown, E, R>
): Stream.Stream<AgentEvent, E, R> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const mailbox = yield* Mailbox.make<AgentEvent, E>()
    yield* program((event) => {
      mailbox.unsafeOffer(event)
    }).pipe(
      Effect.exit,
      Effect.flatMap((exit) => mailbox.done(Exit.asVoid(exit))),
      Effect.forkScoped
    )
    return Mailbox.toStream(mailbox)
  }))
