import { Agent, AgentError, AgentEvent, ConversationStore, type Model } from "@effect-agents/core"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Mailbox from "effect/Mailbox"
import * as Option from "effect/Option"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Protocol from "../Protocol.js"
import * as Frames from "./frames.js"

/**
 * The live runs of one set of routes.
 *
 * A run is not tied to the request that started it: it runs in a fiber of the routes' scope and
 * publishes its frames to every subscribed client (a `Mailbox` each, so a slow client never slows
 * the run) and to a buffer of its last `replay` frames, so a client that lost its connection can
 * reconnect with `Last-Event-ID` and miss nothing. When its last client leaves, the run waits
 * `reconnectWindow` for one to come back, then is interrupted (`client-disconnected`); when the
 * routes' scope closes, every run is interrupted (`server-shutdown`). A finished run's frames stay
 * available for `reconnectWindow` too, so a client that lost the last frames can still get them.
 */

export interface Options {
  readonly replay: number
  readonly reconnectWindow: Duration.Duration
  readonly onOutcome: (outcome: Protocol.Outcome) => Effect.Effect<void>
}

/** One run and its clients. Mutated only by synchronous code, so each change is atomic. */
interface LiveRun {
  readonly agent: string
  readonly conversationId: string | undefined
  runId: string | undefined
  /** The turn of the root run's last event. */
  turn: number
  /** Sequence number of the last frame published. */
  seq: number
  /** The last `replay` frames, oldest first. */
  readonly frames: Array<Frames.Encoded>
  readonly clients: Set<Mailbox.Mailbox<Frames.Encoded>>
  done: boolean
  fiber: Fiber.RuntimeFiber<void> | undefined
  /** Why the run is interrupted if it is: the routes' scope closing unless a disconnect said otherwise. */
  reason: Protocol.InterruptionReason
  /** Bumped whenever a client arrives, so an older wait for a reconnect knows it is stale. */
  generation: number
}

/** A client's view of a run: its frames after the one it asked for, then each new one; ends after the last. */
export interface Subscription {
  readonly runId: string
  readonly frames: Mailbox.ReadonlyMailbox<Frames.Encoded>
}

export interface Runs {
  /**
   * Start a run with one client subscribed from its first frame (for the lifetime of the current
   * scope). Succeeds once the run has started or failed to start; fails with `ConversationBusy`
   * when its conversation has a run in progress.
   */
  readonly start: <R>(
    agent: Agent.Agent<R>,
    request: Protocol.RunRequest
  ) => Effect.Effect<Subscription, ConversationStore.ConversationBusy | Protocol.BadRunRequest, Model.Model | R | Scope.Scope>
  /** Whether a run with this id is going on (not ended). */
  readonly isRunning: (runId: string) => boolean
  /** Subscribe to a live run's frames after `lastEventId` (for the lifetime of the current scope). */
  readonly resume: (
    runId: string,
    lastEventId: number
  ) => Effect.Effect<Subscription, Protocol.RunNotFound | Protocol.EventsExpired, Scope.Scope>
}

export const make = (options: Options): Effect.Effect<Runs, never, Scope.Scope> =>
  Effect.gen(function*() {
    const live = new Map<string, LiveRun>()
    // Runs live in a scope of their own. When the routes' scope closes, the live runs are
    // interrupted first and each publishes its RunInterrupted{server-shutdown} to its clients;
    // then that scope closes (timers, runs that had not started yet).
    const scope = yield* Scope.fork(yield* Effect.scope, ExecutionStrategy.sequential)
    yield* Effect.addFinalizer(() =>
      Effect.forEach(live.values(), (run) => run.done || run.fiber === undefined ? Effect.void : Fiber.interrupt(run.fiber), {
        concurrency: "unbounded",
        discard: true
      })
    )
    const windowMillis = Duration.toMillis(options.reconnectWindow)

    const publish = (run: LiveRun, value: Protocol.Frame): void => {
      const frame = Frames.encode(++run.seq, value)
      run.frames.push(frame)
      if (run.frames.length > options.replay) run.frames.shift()
      for (const client of run.clients) client.unsafeOffer(frame)
    }

    /**
     * After `reconnectWindow` (on the Effect `Clock`), run `f` in the routes' scope. Called from
     * finalizers: the wait is made interruptible, or closing the routes' scope would wait for it.
     */
    const later = (f: () => Effect.Effect<void>): Effect.Effect<void> =>
      windowMillis === 0
        ? Effect.suspend(f)
        : Effect.asVoid(Effect.forkIn(Effect.interruptible(Effect.zipRight(Effect.sleep(options.reconnectWindow), Effect.suspend(f))), scope))

    /**
     * Interrupt a run. Its stream stops being read at once, so the events the agent publishes
     * while it is interrupted (`ToolCallInterrupted{run-interrupted}`) reach no client: the
     * `RunInterrupted` frame ends every call still open. (`Agent.stream` offers no way to keep
     * reading them; see the package README.)
     */
    const interrupt = (run: LiveRun): Effect.Effect<void> =>
      run.fiber === undefined ? Effect.void : Effect.asVoid(Fiber.interruptFork(run.fiber))

    const subscribe = (run: LiveRun, after: number): Effect.Effect<Subscription, never, Scope.Scope> =>
      Effect.acquireRelease(
        Effect.map(Mailbox.make<Frames.Encoded>(), (client) => {
          for (const frame of run.frames) if (frame.seq > after) client.unsafeOffer(frame)
          if (run.done) client.unsafeDone(Exit.void)
          else run.clients.add(client)
          run.generation++
          return client
        }),
        (client) => {
          run.clients.delete(client)
          if (run.done || run.clients.size > 0) return Effect.void
          // the last client left: wait for a reconnect, then interrupt the run
          const generation = run.generation
          return later(() => {
            if (run.done || run.clients.size > 0 || run.generation !== generation || run.fiber === undefined) {
              return Effect.void
            }
            run.reason = "client-disconnected"
            return interrupt(run)
          })
        }
      ).pipe(Effect.map((client) => ({ runId: run.runId ?? "", frames: client })))

    /** The run's program: publish its events; when it ends, publish and hand over its outcome. */
    const execute = <E, R>(
      run: LiveRun,
      events: Stream.Stream<AgentEvent.AgentEvent, E, R>,
      started: Deferred.Deferred<void, ConversationStore.ConversationBusy>
    ): Effect.Effect<void, never, R> =>
      Effect.suspend(() => {
        // the root run's RunCompleted is held back until the stream has ended: by then the
        // conversation is saved and unlocked, so a client may send its next prompt at once
        let completed: AgentEvent.RunCompleted | undefined
        let failed: AgentEvent.RunFailed | undefined
        const onEvent = (event: AgentEvent.AgentEvent): void => {
          if (run.runId === undefined) {
            // the first event is the root run's RunStarted
            run.runId = event.runId
            live.set(event.runId, run)
            Deferred.unsafeDone(started, Exit.void)
          }
          if (event.runId === run.runId) {
            run.turn = event.turn
            if (event._tag === "RunCompleted") return void (completed = event)
            if (event._tag === "RunFailed") failed = event
          }
          publish(run, event)
        }
        return Stream.runForEach(events, (event) => Effect.sync(() => onEvent(event))).pipe(
          Effect.onExit((exit) => finish(run, exit, completed, failed, started)),
          // `finish` has reported every outcome
          Effect.catchAllCause(() => Effect.void)
        )
      })

    const finish = (
      run: LiveRun,
      exit: Exit.Exit<void, unknown>,
      completed: AgentEvent.RunCompleted | undefined,
      failed: AgentEvent.RunFailed | undefined,
      started: Deferred.Deferred<void, ConversationStore.ConversationBusy>
    ): Effect.Effect<void> =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const runId = run.runId
        if (runId === undefined) {
          const busy = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
          if (Option.isSome(busy) && busy.value instanceof ConversationStore.ConversationBusy) {
            yield* Deferred.fail(started, busy.value)
          } else {
            const cause = Exit.isFailure(exit) ? exit.cause : Cause.empty
            if (!Cause.isInterruptedOnly(cause)) yield* Effect.logError("an agent run failed before it started", cause)
            publish(run, notStarted(cause))
            yield* Deferred.succeed(started, undefined)
          }
          return end(run)
        }
        let outcome: Protocol.Outcome
        if (Exit.isSuccess(exit) && completed !== undefined) {
          outcome = completed
        } else if (Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause)) {
          outcome = new Protocol.RunInterrupted({
            runId,
            agent: run.agent,
            turn: run.turn,
            timestamp: now,
            reason: run.reason,
            ...(run.conversationId === undefined ? {} : { conversationId: run.conversationId })
          })
          yield* Effect.logInfo(`agent run ${runId} was interrupted: ${run.reason}`)
        } else {
          // the loop published RunFailed; a failure after RunCompleted is the conversation's save
          outcome = failed ?? new AgentEvent.RunFailed({
            runId,
            agent: completed?.agent ?? run.agent,
            turn: run.turn,
            timestamp: now,
            ...describe(Exit.isFailure(exit) ? exit.cause : Cause.empty)
          })
          yield* Effect.logWarning(`agent run ${runId} failed: ${outcome.message}`)
        }
        if (outcome !== failed) publish(run, outcome)
        yield* options.onOutcome(outcome).pipe(
          Effect.catchAllCause((cause) => Effect.logError("the onOutcome handler of AgentHttp failed", cause))
        )
        end(run)
        yield* later(() => Effect.sync(() => live.delete(runId)))
      }).pipe(Effect.annotateLogs(run.conversationId === undefined ? { agent: run.agent } : { agent: run.agent, conversationId: run.conversationId }))

    const end = (run: LiveRun): void => {
      run.done = true
      for (const client of run.clients) client.unsafeDone(Exit.void)
      run.clients.clear()
    }

    const start: Runs["start"] = (agent, request) =>
      Effect.gen(function*() {
        const events = yield* eventsOf(agent, request)
        const run: LiveRun = {
          agent: agent.name,
          conversationId: request.conversationId,
          runId: undefined,
          turn: 0,
          seq: 0,
          frames: [],
          clients: new Set(),
          done: false,
          fiber: undefined,
          reason: "server-shutdown",
          generation: 0
        }
        const subscription = yield* subscribe(run, 0)
        const started = yield* Deferred.make<void, ConversationStore.ConversationBusy>()
        run.fiber = yield* Effect.forkIn(execute(run, events, started), scope)
        yield* Deferred.await(started)
        return { ...subscription, runId: run.runId ?? "" }
      })

    const resume: Runs["resume"] = (runId, lastEventId) =>
      Effect.suspend((): ReturnType<Runs["resume"]> => {
        const run = live.get(runId)
        if (run === undefined) return Effect.fail(new Protocol.RunNotFound({ runId }))
        const oldestKept = run.frames[0]?.seq ?? run.seq + 1
        if (lastEventId + 1 < oldestKept) return Effect.fail(new Protocol.EventsExpired({ runId, lastEventId, oldestKept }))
        return subscribe(run, lastEventId)
      })

    const isRunning = (runId: string) => live.get(runId)?.done === false

    return { start, resume, isRunning }
  })

/** The run's events: a plain run, or a stored conversation continued (when the request names one). */
const eventsOf = <R>(agent: Agent.Agent<R>, request: Protocol.RunRequest) =>
  Effect.gen(function*() {
    const conversationId = request.conversationId
    if (conversationId === undefined) return Agent.stream(agent, request.prompt)
    const store = yield* Effect.serviceOption(ConversationStore.ConversationStore)
    if (Option.isNone(store)) {
      return yield* new Protocol.BadRunRequest({
        message: "this server keeps no conversations (no ConversationStore is provided to its routes); " +
          "send the request without conversationId"
      })
    }
    return ConversationStore.stream(agent, { conversationId, prompt: request.prompt }).pipe(
      Stream.provideService(ConversationStore.ConversationStore, store.value)
    )
  })

/** Error tag and message of a failure, without stack traces. */
const describe = (cause: Cause.Cause<unknown>): { readonly error: string; readonly message: string } => {
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) {
    const error = failure.value
    const tag = typeof error === "object" && error !== null && "_tag" in error ? String(error._tag) : "Error"
    return { error: tag, message: AgentError.describeError(error) }
  }
  return Cause.isInterruptedOnly(cause)
    ? { error: "Interrupted", message: "the run was interrupted before it started (the server is shutting down)" }
    : { error: "Defect", message: AgentError.describeError(Cause.squash(cause)) }
}

const notStarted = (cause: Cause.Cause<unknown>) => new Protocol.RunNotStarted(describe(cause))

