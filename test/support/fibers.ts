/**
 * Counting the fibers an effect starts, for the specifications that say where no fiber is needed.
 */
import { Effect, Supervisor } from "effect"

/** A supervisor counting every fiber started under it. */
export class StartCounter extends Supervisor.AbstractSupervisor<number> {
  started = 0
  get value() {
    return Effect.sync(() => this.started)
  }
  override onStart() {
    this.started++
  }
}

/** `self`, with the number of fibers started while it ran. */
export const counted = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.suspend(() => {
    const counter = new StartCounter()
    return Effect.map(Effect.supervised(self, counter), (a) => [a, counter.started] as const)
  })
