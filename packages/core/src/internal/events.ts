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

/**
 * Where a run publishes its events. `Agent.run` records them in an {@link EventLog}, built into
 * events when the run ends; `Agent.stream` offers each to a mailbox as it happens.
 */
export interface Sink {
  readonly emit: (event: AgentEvent) => void
  /** Whether model calls stream (and emit `TextDelta`s). */
  readonly streaming: boolean
  /** Nobody reads the events (`Agent.run` with `events: false`): none is built. */
  readonly quiet?: boolean | undefined
  /** The events are read only once the run ends: they are recorded here, not emitted. */
  readonly log?: EventLog | undefined
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
  /** When the run started, on its clock (an {@link EventLog} keeps times from it). */
  readonly startedAt: number
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

/** The fields of a tool call's event besides the ones every such event carries (the call's id and tool). */
type OwnOfCall<C extends EventClass> = Omit<Own<C>, "callId" | "tool">

/**
 * An event class with one field of its own, `key`: its events are published with the value of
 * that field alone ({@link publishValue}, {@link publishCallValue} when `call`), so that a log
 * keeps the value and no object for it.
 */
export interface OneField<C extends EventClass, K extends string, Call extends boolean> {
  readonly Class: C
  readonly key: K
  readonly call: Call
}

/** @internal */
export const oneField = <C extends EventClass, K extends keyof Own<C> & string>(Class: C, key: K): OneField<C, K, false> => ({
  Class,
  key,
  call: false
})

/** {@link oneField} for the events of a tool call. @internal */
export const oneCallField = <C extends EventClass, K extends keyof OwnOfCall<C> & string>(Class: C, key: K): OneField<C, K, true> => ({
  Class,
  key,
  call: true
})

/**
 * An event class whose own fields are computed from a value the run holds anyway (a model
 * response): its events are published with that value ({@link publishFrom}), and a log keeps
 * the value, not the fields.
 */
export interface FieldsFrom<C extends EventClass, S> {
  readonly Class: C
  readonly from: (source: S) => Own<C>
  readonly call: false
}

/** @internal */
export const fieldsFrom = <C extends EventClass, S>(Class: C, from: (source: S) => Own<C>): FieldsFrom<C, S> => ({
  Class,
  from,
  call: false
})

/** The events of a tool call of `Class`, published with their own fields in an object. */
interface CallEvent {
  readonly Class: EventClass
  readonly call: true
}

/** Where an event class keeps its {@link CallEvent}. */
const callEventKey: unique symbol = Symbol.for("effect-agents/internal/events/callEvent")

const callEventOf = (Class: EventClass & { [callEventKey]?: CallEvent }): CallEvent => {
  let shape = Class[callEventKey]
  if (shape === undefined) {
    shape = { Class, call: true }
    Object.defineProperty(Class, callEventKey, { value: shape })
  }
  return shape
}

/**
 * What says an event's class, how its own fields are given (in an object, as one field's value,
 * or computed) and whether it is a tool call's (then the call is given beside them).
 */
type Shape = EventClass | OneField<EventClass, string, boolean> | FieldsFrom<EventClass, any> | CallEvent

/**
 * Publish an event of `Class`, timestamped on the run's `Clock`. A quiet sink gets none; a sink
 * with a log gets a record of it ({@link EventLog}); any other gets the event.
 */
export const publish = <C extends EventClass>(state: RunState, Class: C, agent: string, turn: number, fields: Own<C>): void =>
  publishShape(state, agent, turn, Class, fields, undefined)

/** {@link publish} an event of a class with one field of its own, given its value. */
export const publishValue = <C extends EventClass, K extends keyof Own<C> & string>(
  state: RunState,
  kind: OneField<C, K, false>,
  agent: string,
  turn: number,
  value: Own<C>[K]
): void => publishShape(state, agent, turn, kind, value, undefined)

/** {@link publish} an event whose own fields are computed from `source`. */
export const publishFrom = <C extends EventClass, S>(state: RunState, kind: FieldsFrom<C, S>, agent: string, turn: number, source: S): void =>
  publishShape(state, agent, turn, kind, source, undefined)

/** Publish an event of one tool call of the turn. */
export const publishCall = <C extends EventClass>(ctx: TurnContext, call: FunctionCallPart, Class: C, fields: OwnOfCall<C>): void =>
  publishShape(ctx.state, ctx.path, ctx.turn, callEventOf(Class), fields, call)

/** {@link publishCall} an event of a class with one field of its own (besides the call's), given its value. */
export const publishCallValue = <C extends EventClass, K extends keyof OwnOfCall<C> & string>(
  ctx: TurnContext,
  call: FunctionCallPart,
  kind: OneField<C, K, true>,
  value: OwnOfCall<C>[K]
): void => publishShape(ctx.state, ctx.path, ctx.turn, kind, value, call)

const publishShape = (
  state: RunState,
  agent: string,
  turn: number,
  shape: Shape,
  fields: unknown,
  call: FunctionCallPart | undefined
): void => {
  const sink = state.sink
  if (sink.quiet === true) return
  const now = state.clock.unsafeCurrentTimeMillis()
  if (sink.log !== undefined) return sink.log.record(state, agent, turn, now, shape, fields, call)
  sink.emit(build(state.runId, agent, turn, now, shape, fields, call))
}

/** Marks a log record that sets the run, agent path and turn of the records after it. */
const position: unique symbol = Symbol("effect-agents/internal/events/position")

/**
 * The events of a run that are read only once it ends (`RunResult.events`), recorded as they
 * happen in one array: for each, its shape (its class, how its own fields are given, whether it
 * is a tool call's), its time, its fields (or one field's value, or what they are computed from)
 * and, for a tool call's, the call. The run, agent path and turn, the same for most events in a
 * row, are a record of their own when they change. The time is an offset from the run's start:
 * a small integer needs no box. So a waiting conversation holds an event in ≈ 30 bytes, where a
 * built event takes ≈ 100; `events()` builds them, equal to the ones a stream gets.
 */
export class EventLog {
  private readonly records: Array<unknown> = []
  private state: RunState | undefined = undefined
  private agent = ""
  private turn = -1

  record(
    state: RunState,
    agent: string,
    turn: number,
    now: number,
    shape: Shape,
    fields: unknown,
    call: FunctionCallPart | undefined
  ): void {
    const records = this.records
    if (state !== this.state || agent !== this.agent || turn !== this.turn) {
      this.state = state
      this.agent = agent
      this.turn = turn
      records.push(position, state, agent, turn)
    }
    const offset = now - state.startedAt
    const at = state.startedAt + offset === now ? offset : [now]
    if (call === undefined) records.push(shape, at, fields)
    else records.push(shape, at, fields, call)
  }

  /** The events recorded so far, built. */
  events(): Array<AgentEvent> {
    const records = this.records
    const events: Array<AgentEvent> = []
    let state: RunState | undefined
    let agent = ""
    let turn = 0
    for (let i = 0; i < records.length;) {
      const shape = records[i] as Shape | typeof position
      if (shape === position) {
        state = records[i + 1] as RunState
        agent = records[i + 2] as string
        turn = records[i + 3] as number
        i += 4
        continue
      }
      const at = records[i + 1] as number | [number]
      const timestamp = typeof at === "number" ? state!.startedAt + at : at[0]
      const ofCall = typeof shape !== "function" && shape.call
      events.push(build(
        state!.runId,
        agent,
        turn,
        timestamp,
        shape,
        records[i + 2],
        ofCall ? records[i + 3] as FunctionCallPart : undefined
      ))
      i += ofCall ? 4 : 3
    }
    return events
  }
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

/**
 * An event, built without running the Schema class constructor (the fields are ours and
 * already valid, and this is the hot path): an ordinary instance of its class with the fields
 * every event carries, then a tool call's id and name, then its own fields.
 */
const build = (
  runId: string,
  agent: string,
  turn: number,
  timestamp: number,
  shape: Shape,
  fields: unknown,
  call: FunctionCallPart | undefined
): AgentEvent => {
  const Class = typeof shape === "function" ? shape : shape.Class
  const Make = makerOf(Class)
  const event = new Make(Class._tag, runId, agent, turn, timestamp)
  if (call !== undefined) {
    event.callId = call.id
    event.tool = call.name
  }
  if (typeof shape === "function") return Object.assign(event, fields)
  if ("key" in shape) {
    event[shape.key] = fields
    return event
  }
  return Object.assign(event, "from" in shape ? shape.from(fields) : fields)
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
