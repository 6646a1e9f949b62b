/**
 * Error mapping: every way the emulator (and so the real API) can fail a call, seen through the
 * real SDK, becomes the right `ModelError`, unary and streamed.
 */
import { Agent, AgentError, Model } from "@effect-agents/core"
import { GeminiEmulator } from "@effect-agents/gemini"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Exit, Stream } from "effect"
import { API_KEY, geminiFor, math, ofTag, request, withEmulator } from "./fixtures.js"

const generate = (prompt = "Hi") => Effect.flatMap(Model.Model, (model) => model.generate(request(prompt)))

const stream = (prompt = "Hi") =>
  Effect.flatMap(Model.Model, (model) => Stream.runCollect(model.stream(request(prompt))))

const failureOf = <A>(effect: Effect.Effect<A, AgentError.ModelError, Model.Model>, step: GeminiEmulator.Step) =>
  withEmulator([step], () => Effect.flip(effect))

interface Case {
  readonly name: string
  readonly step: GeminiEmulator.Step
  readonly tag: AgentError.ModelError["_tag"]
  readonly check?: (error: AgentError.ModelError) => void
}

const cases: ReadonlyArray<Case> = [
  {
    name: "429 with a RetryInfo delay becomes RateLimited with retryAfter",
    step: GeminiEmulator.rateLimited({ retryDelay: "7 seconds" }),
    tag: "RateLimited",
    check: (error) => {
      assert.strictEqual(error.retryable, true)
      assert.deepStrictEqual(error._tag === "RateLimited" ? error.retryAfter : undefined, Duration.millis(7000))
    }
  },
  {
    name: "429 without a delay becomes RateLimited without retryAfter",
    step: GeminiEmulator.rateLimited(),
    tag: "RateLimited",
    check: (error) => assert.isUndefined(error._tag === "RateLimited" ? error.retryAfter : "not rate limited")
  },
  {
    name: "500 becomes a retryable ModelUnavailable",
    step: GeminiEmulator.unavailable(500),
    tag: "ModelUnavailable",
    check: (error) => {
      assert.strictEqual(error.retryable, true)
      assert.strictEqual(error._tag === "ModelUnavailable" ? error.status : 0, 500)
    }
  },
  {
    name: "503 becomes a retryable ModelUnavailable",
    step: GeminiEmulator.unavailable(503),
    tag: "ModelUnavailable",
    check: (error) => assert.include(error.message, "overloaded")
  },
  {
    name: "502 becomes a retryable ModelUnavailable",
    step: GeminiEmulator.unavailable(502),
    tag: "ModelUnavailable"
  },
  {
    name: "504 becomes a retryable ModelUnavailable",
    step: GeminiEmulator.unavailable(504),
    tag: "ModelUnavailable"
  },
  {
    name: "400 becomes a non-retryable InvalidRequest",
    step: GeminiEmulator.httpError(400, { message: "Invalid JSON payload received. Unknown name \"foo\"." }),
    tag: "InvalidRequest",
    check: (error) => {
      assert.strictEqual(error.retryable, false)
      assert.include(error.message, "Unknown name")
    }
  },
  {
    name: "403 becomes AuthenticationFailed pointing at GEMINI_API_KEY",
    step: GeminiEmulator.httpError(403, { message: "Permission denied." }),
    tag: "AuthenticationFailed",
    check: (error) => assert.include(error.message, "GEMINI_API_KEY")
  },
  {
    name: "400 API_KEY_INVALID becomes AuthenticationFailed",
    step: GeminiEmulator.httpError(400, {
      message: "API key not valid. Please pass a valid API key.",
      details: [{ "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason: "API_KEY_INVALID", domain: "googleapis.com" }]
    }),
    tag: "AuthenticationFailed"
  },
  {
    name: "a blocked prompt becomes ContentBlocked with the block reason",
    step: GeminiEmulator.blocked("PROHIBITED_CONTENT"),
    tag: "ContentBlocked",
    check: (error) => assert.include(error._tag === "ContentBlocked" ? error.reason : "", "PROHIBITED_CONTENT")
  },
  {
    name: "a SAFETY finish becomes ContentBlocked",
    step: GeminiEmulator.finish("SAFETY"),
    tag: "ContentBlocked",
    check: (error) => assert.include(error._tag === "ContentBlocked" ? error.reason : "", "SAFETY")
  },
  {
    name: "a MALFORMED_FUNCTION_CALL finish becomes a retryable UnusableResponse",
    step: GeminiEmulator.malformedFunctionCall(),
    tag: "UnusableResponse",
    check: (error) => {
      assert.strictEqual(error.retryable, true)
      assert.include(error.message, "MALFORMED_FUNCTION_CALL")
    }
  },
  {
    name: "an answer without candidates becomes MalformedResponse",
    step: GeminiEmulator.noCandidates(),
    tag: "MalformedResponse"
  },
  {
    name: "a body that is not JSON becomes MalformedResponse",
    step: GeminiEmulator.malformedBody(),
    tag: "MalformedResponse",
    check: (error) => assert.include(error.message, "not valid JSON")
  },
  {
    name: "a dropped connection becomes a retryable ModelUnavailable",
    step: GeminiEmulator.dropConnection(),
    tag: "ModelUnavailable",
    check: (error) => assert.strictEqual(error.retryable, true)
  }
]

describe("Gemini error mapping", () => {
  for (const c of cases) {
    it.live(`generate: ${c.name}`, () =>
      Effect.gen(function*() {
        const error = yield* failureOf(generate(), c.step)
        assert.strictEqual(error._tag, c.tag)
        c.check?.(error)
      }))
    it.live(`stream: ${c.name}`, () =>
      Effect.gen(function*() {
        const error = yield* failureOf(stream(), c.step)
        assert.strictEqual(error._tag, c.tag)
        c.check?.(error)
      }))
  }

  it.live("a refused connection (nothing listening) becomes a retryable ModelUnavailable", () =>
    Effect.gen(function*() {
      // an emulator that has been shut down leaves a port nobody listens on
      const closed = yield* Effect.scoped(GeminiEmulator.make({ script: [] }))
      const error = yield* Effect.flip(Effect.provide(generate(), geminiFor(closed)))
      assert.strictEqual(error._tag, "ModelUnavailable")
      assert.strictEqual(error.retryable, true)
      assert.include(error.message, "fetch failed")
    }))

  it.live("a wrong key is refused with 400 API_KEY_INVALID, as Gemini does, and becomes AuthenticationFailed", () =>
    withEmulator([GeminiEmulator.text("never sent")], (emulator) =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(generate())
        assert.strictEqual(error._tag, "AuthenticationFailed")
        assert.strictEqual(error._tag === "AuthenticationFailed" ? error.status : 0, 400)
        assert.include(error.message, "GEMINI_API_KEY")
        assert.strictEqual((yield* emulator.requests).length, 1)
      }), { clientKey: "AIzaWRONG-key" }))

  it.live("the emulator refuses a request without x-goog-api-key with 403", () =>
    withEmulator([GeminiEmulator.text("never sent")], (emulator) =>
      Effect.gen(function*() {
        const response = yield* Effect.promise(() =>
          fetch(`${emulator.baseUrl}/v1beta/models/m:generateContent`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ contents: [{ role: "user", parts: [{ text: "Hi" }] }] })
          })
        )
        assert.strictEqual(response.status, 403)
        const body = yield* Effect.promise(() => response.json() as Promise<{ error: { status: string } }>)
        assert.strictEqual(body.error.status, "PERMISSION_DENIED")
      })))

  it.live("a run that is rate-limited, then finds the model unavailable, then succeeds, ends in success", () =>
    withEmulator([
      GeminiEmulator.rateLimited({ retryDelay: "50 millis" }),
      GeminiEmulator.unavailable(503),
      GeminiEmulator.text("Hello after two retries")
    ], (emulator) =>
      Effect.gen(function*() {
        const result = yield* Agent.run(math, "Hi")
        assert.strictEqual(result.text, "Hello after two retries")
        const retries = ofTag(result.events, "RetryScheduled")
        assert.deepStrictEqual(retries.map((r) => [r.attempt, r.error, r.delayMillis]), [
          [2, "RateLimited", 50],
          [3, "ModelUnavailable", 20]
        ])
        const requests = yield* emulator.requests
        assert.strictEqual(requests.length, 3)
        assert.isAtLeast(requests[1].receivedAt - requests[0].receivedAt, 50)
      })))

  it.live("a non-retryable error fails the run at once", () =>
    withEmulator([GeminiEmulator.httpError(400), GeminiEmulator.text("never sent")], (emulator) =>
      Effect.gen(function*() {
        const exit = yield* Effect.exit(Agent.run(math, "Hi"))
        assert.isTrue(Exit.isFailure(exit))
        const error = Exit.isFailure(exit) ? exit.cause : undefined
        assert.include(String(error), "InvalidRequest")
        assert.strictEqual((yield* emulator.requests).length, 1)
      })))

  it.live("server text that echoes the key is scrubbed from the error detail", () =>
    withEmulator([GeminiEmulator.httpError(400, { message: `API key ${API_KEY} is not valid for this project.` })], () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(generate())
        assert.strictEqual(error._tag, "InvalidRequest")
        assert.notInclude(error.message, API_KEY)
        assert.include(error.message, "[redacted]")
      })))
})
