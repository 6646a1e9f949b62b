/**
 * Effect's `RateLimiter` algorithms (same options, same timing) over the fair semaphore.
 *
 * Why not `RateLimiter.make` (effect 3.22.4): its tokens are an Effect `Semaphore`, whose every
 * release wakes every waiter (see `semaphore.ts`). Measured (`npm run bench:limits`, a token bucket
 * of 1,000 per second, two runs): with 10,000 waiters, one second of waiting took 1.4–2.1 s of
 * CPU (both cores) and served 4–7 tokens; this one takes 70–110 ms of CPU per second and serves
 * 1,000 tokens, in arrival order, at 10,000 or 100,000 waiters.
 *
 * The tokens are a fair semaphore that callers take and never give back; one fiber, forked in the
 * limiter's scope, puts them back: `token-bucket` one every `interval / limit` (rounded up to a
 * millisecond; counted from the clock, so a late timer does not slow the rate) until the bucket
 * is full, `fixed-window` all of them `interval` after the first token of a window was taken. It
 * sleeps while the bucket is full and no token is taken.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as RateLimiter from "effect/RateLimiter"
import type * as Scope from "effect/Scope"
import * as semaphore from "./semaphore.js"

/**
 * A rate limiter with the options and timing of `RateLimiter.make`, serving its waiters first
 * come, first served, with one wake-up per token.
 */
export const make = (options: RateLimiter.RateLimiter.Options): Effect.Effect<RateLimiter.RateLimiter, never, Scope.Scope> =>
  Effect.suspend(() => {
    const { interval, limit } = options
    // set when a token was taken since the refill fiber last looked; `wake` resumes it when it sleeps
    let taken = false
    let wake: (() => void) | undefined
    const tokens = semaphore.unsafeMake(limit, () => {
      if (wake === undefined) {
        taken = true
        return
      }
      const resume = wake
      wake = undefined
      resume()
    })
    const tokenTaken = Effect.async<void>((resume) => {
      if (taken) {
        taken = false
        resume(Effect.void)
      } else {
        wake = () => resume(Effect.void)
      }
    })
    const refill: Effect.Effect<void> = options.algorithm === "fixed-window"
      ? Effect.delay(
        Effect.sync(() => {
          taken = false
          tokens.release(limit - tokens.available)
        }),
        interval
      )
      : tokenBucket(tokens, limit, Math.ceil(Duration.toMillis(interval) / limit), () => taken = false)
    return Effect.as(
      Effect.forkScoped(Effect.interruptible(Effect.forever(Effect.zipRight(tokenTaken, refill)))),
      <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.zipRight(tokens.take, self)
    )
  })

/**
 * Put a token back every `millisPerToken` until the bucket is full. The tokens due are counted
 * from the clock, not from the sleeps, so a timer that fires late (a busy process) does not slow
 * the rate down.
 */
const tokenBucket = (tokens: semaphore.Semaphore, limit: number, millisPerToken: number, onTopUp: () => void) => {
  let since = 0
  const topUp: Effect.Effect<void> = Effect.flatMap(Clock.currentTimeMillis, (now) => {
    const due = Math.floor((now - since) / millisPerToken)
    since += due * millisPerToken
    onTopUp()
    tokens.release(Math.min(due, limit - tokens.available))
    return tokens.available === limit ? Effect.void : Effect.delay(topUp, since + millisPerToken - now)
  })
  return Effect.flatMap(Clock.currentTimeMillis, (now) => {
    since = now
    return Effect.delay(topUp, millisPerToken)
  })
}
