/**
 * A fair semaphore: waiters get permits strictly first come, first served, and each permit handed
 * over wakes exactly one waiter.
 *
 * Why not Effect's `Semaphore` (effect 3.22.4): its release wakes *every* waiter; each re-checks
 * the count, one takes the permit and the others go back to waiting. W waiters therefore cost
 * O(W²) wake-ups. Measured (`npm run
 * bench:limits`, 5 permits, a tenth of the waiters interrupted): 1,000 waiters cost 82,000 fiber
 * wake-ups, 2,000 cost 326,000 (163 per waiter, 7.9 s of CPU on the shared 2-core development
 * machine); `Model.withConcurrency(5)` with 10,000 waiting conversations ran out of memory. This
 * queue costs 1.8 wake-ups per waiter at any size (the permit's arrival, then the holder's own
 * work): 100,000 waiters in 1.9 s of CPU on the same machine.
 *
 * How it stays leak-free: a caller first gets a *ticket* (granted at once when a permit is free and
 * nobody waits, else queued) and registers the ticket's disposal (a finalizer, or `ensuring`)
 * before it waits, with interruption masked; only the wait itself is interruptible. Disposing a
 * ticket returns its permit (to the next waiter) when it was granted — even if the holder was
 * interrupted at the very instant the permit was handed to it — and unlinks it from the queue in
 * O(1) otherwise. The queue is a doubly linked list, so an interrupted waiter leaves no trace.
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"

/**
 * A semaphore whose waiters are served first come, first served.
 */
export interface Semaphore {
  /** Run `self` holding one permit; the wait is interruptible and takes no permit away when interrupted. */
  readonly withPermit: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** Take one permit until the current scope closes (released by a finalizer, after the ones added later). */
  readonly permitScoped: Effect.Effect<void, never, Scope.Scope>
  /** Take one permit and keep it (a rate limiter's token: `release` puts tokens back). */
  readonly take: Effect.Effect<void>
  /** Put `n` permits back: each goes to the longest waiter, or becomes free when nobody waits. */
  readonly release: (n: number) => void
  /** Permits free right now. */
  readonly available: number
  /** Callers waiting right now. */
  readonly waiting: number
}

/** A claim on one permit: queued until `granted`. */
interface Ticket {
  granted: boolean
  resume: ((effect: Effect.Effect<void>) => void) | undefined
  prev: Ticket | undefined
  next: Ticket | undefined
}

/** The ticket of a caller who found a free permit: it was never queued. */
const grantedAtOnce: Ticket = { granted: true, resume: undefined, prev: undefined, next: undefined }

class FairSemaphore implements Semaphore {
  private free: number
  private head: Ticket | undefined = undefined
  private tail: Ticket | undefined = undefined
  private queued = 0

  constructor(permits: number, private readonly onTaken: (() => void) | undefined) {
    this.free = permits
  }

  get available() {
    return this.free
  }

  get waiting() {
    return this.queued
  }

  /** A granted ticket when a permit is free (nobody waits then: permits are handed to waiters), else a queued one. */
  private ticket(): Ticket {
    if (this.free > 0) {
      this.free--
      this.onTaken?.()
      return grantedAtOnce
    }
    const ticket: Ticket = { granted: false, resume: undefined, prev: this.tail, next: undefined }
    if (this.tail === undefined) this.head = ticket
    else this.tail.next = ticket
    this.tail = ticket
    this.queued++
    return ticket
  }

  private unlink(ticket: Ticket) {
    if (ticket.prev === undefined) this.head = ticket.next
    else ticket.prev.next = ticket.next
    if (ticket.next === undefined) this.tail = ticket.prev
    else ticket.next.prev = ticket.prev
    ticket.prev = ticket.next = undefined
    this.queued--
  }

  /** Wait until `ticket` is granted (interruptible: the caller disposes of the ticket whatever happens). */
  private wait(ticket: Ticket): Effect.Effect<void> {
    return Effect.async<void>((resume) => {
      if (ticket.granted) resume(Effect.void)
      else ticket.resume = resume
    })
  }

  /** Give a ticket up: a granted one returns its permit, a queued one leaves the queue. */
  private dispose(ticket: Ticket) {
    ticket.resume = undefined
    if (ticket.granted) this.release(1)
    else this.unlink(ticket)
  }

  readonly release = (n: number) => {
    for (let i = 0; i < n; i++) {
      const next = this.head
      if (next === undefined) {
        this.free++
        continue
      }
      this.unlink(next)
      next.granted = true
      this.onTaken?.()
      // a no-op when the waiter was interrupted meanwhile: its disposal then passes the permit on
      next.resume?.(Effect.void)
    }
  }

  readonly withPermit = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.uninterruptibleMask((restore) =>
      Effect.suspend(() => {
        const ticket = this.ticket()
        return Effect.ensuring(
          restore(ticket.granted ? self : Effect.zipRight(this.wait(ticket), self)),
          Effect.sync(() => this.dispose(ticket))
        )
      })
    )

  readonly permitScoped: Effect.Effect<void, never, Scope.Scope> = Effect.uninterruptibleMask((restore) =>
    Effect.suspend(() => {
      const ticket = this.ticket()
      const added = Effect.addFinalizer(() => Effect.sync(() => this.dispose(ticket)))
      return ticket.granted ? added : Effect.zipRight(added, restore(this.wait(ticket)))
    })
  )

  readonly take: Effect.Effect<void> = Effect.uninterruptibleMask((restore) =>
    Effect.suspend(() => {
      const ticket = this.ticket()
      if (ticket.granted) return Effect.void
      return Effect.onInterrupt(restore(this.wait(ticket)), () => Effect.sync(() => this.dispose(ticket)))
    })
  )
}

/**
 * A fair semaphore of `permits`. `onTaken` runs synchronously each time a permit is taken (by a
 * caller who found it free, or handed to a waiter).
 */
export const unsafeMake = (permits: number, onTaken?: () => void): Semaphore => new FairSemaphore(permits, onTaken)

/**
 * A fair semaphore of `permits` (see {@link unsafeMake}).
 */
export const make = (permits: number): Effect.Effect<Semaphore> => Effect.sync(() => unsafeMake(permits))
