/**
 * Vertex AI (issue 12, point 5): `Gemini.layer({ vertexai: { project, location } })` sends the
 * SDK's Vertex AI requests (project path, OAuth bearer token, no key) to the emulator, which
 * answers the Vertex paths; without `vertexai`, `GOOGLE_GENAI_USE_VERTEXAI` cannot reroute the key.
 *
 * The credential is a real `google-auth-library` `OAuth2Client` holding an unexpired access
 * token, so it authorizes requests without any network. What this does not exercise:
 * application-default credential discovery (gcloud, a service-account file, the metadata server),
 * token refresh, and the regional host names (`{location}-aiplatform.googleapis.com`), which the
 * emulator's `baseUrl` replaces.
 */
import { Agent, Model } from "@effect-agents/core"
import { Gemini, GeminiEmulator } from "@effect-agents/gemini"
import { LeakCheck } from "@effect-agents/testing"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer, Redacted, Stream } from "effect"
import { OAuth2Client } from "google-auth-library"
import { API_KEY, math, request } from "./fixtures.js"

const TOKEN = "ya29.emulated-access-token"

/** An OAuth client that already holds a token valid for an hour: no refresh, no network. */
const authClient = (token: string) => {
  const client = new OAuth2Client()
  client.setCredentials({ access_token: token, expiry_date: Date.now() + 3_600_000 })
  return client
}

const vertexLayer = (emulator: GeminiEmulator.Emulator, token = TOKEN) =>
  Layer.orDie(Gemini.layer({
    model: "gemini-2.5-flash",
    vertexai: { project: "my-project", location: "us-central1", googleAuthOptions: { authClient: authClient(token) } },
    baseUrl: emulator.baseUrl
  }))

/** Run `f` on Vertex AI against a fresh emulator that accepts `TOKEN`, with no GEMINI_API_KEY anywhere. */
const onVertex = <A, E>(
  script: GeminiEmulator.Script,
  f: (emulator: GeminiEmulator.Emulator) => Effect.Effect<A, E, Model.Model>,
  token?: string
) =>
  Effect.scoped(Effect.gen(function*() {
    const emulator = yield* GeminiEmulator.make({ script, accessToken: TOKEN, apiKey: API_KEY })
    return yield* Effect.provide(f(emulator), vertexLayer(emulator, token))
  })).pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map())))

describe("Gemini on Vertex AI", () => {
  it.live("a run goes to the project's Vertex AI path with a bearer token and no key", () =>
    onVertex([
      GeminiEmulator.callTools([{ name: "add", args: { a: 2, b: 3 }, id: "v-1" }]),
      GeminiEmulator.text("5")
    ], (emulator) =>
      Effect.gen(function*() {
        const result = yield* LeakCheck.check(Agent.run(math, "What is 2 + 3?"))
        assert.strictEqual(result.text, "5")
        const requests = yield* emulator.requests
        assert.deepStrictEqual(requests.map((r) => [r.api, r.path, r.credential]), [
          ["vertex", "/v1beta1/projects/my-project/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent", "access-token"],
          ["vertex", "/v1beta1/projects/my-project/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent", "access-token"]
        ])
        assert.isUndefined(requests[0].headers["x-goog-api-key"])
        assert.include(requests[0].headers["x-goog-api-client"] ?? "", "google-genai-sdk")
        assert.deepStrictEqual(requests[1].body.contents?.[2]?.parts, [
          { functionResponse: { id: "v-1", name: "add", response: { output: 5 } } }
        ])
      })))

  it.live("a streamed call uses the Vertex AI streaming path", () =>
    onVertex([GeminiEmulator.text(["Hello ", "from Vertex"])], (emulator) =>
      Effect.gen(function*() {
        const model = yield* Model.Model
        const chunks = yield* Stream.runCollect(model.stream(request("Hi")))
        assert.strictEqual(Model.collectChunks(chunks).parts.length, 1)
        const [recorded] = yield* emulator.requests
        assert.strictEqual(
          recorded.path,
          "/v1beta1/projects/my-project/locations/us-central1/publishers/google/models/gemini-2.5-flash:streamGenerateContent"
        )
        assert.strictEqual(recorded.credential, "access-token")
      })))

  it.live("a refused access token becomes AuthenticationFailed (401) pointing at the Vertex AI credentials", () =>
    onVertex([GeminiEmulator.text("never sent")], () =>
      Effect.gen(function*() {
        const model = yield* Model.Model
        const error = yield* Effect.flip(model.generate(request("Hi")))
        assert.strictEqual(error._tag, "AuthenticationFailed")
        assert.strictEqual(error._tag === "AuthenticationFailed" ? error.status : 0, 401)
        assert.include(error.message, "application-default credentials")
        assert.notInclude(error.message, "GEMINI_API_KEY")
      }), "ya29.someone-elses-token"))

  it.live("Vertex AI keeps finishMessage, so it reaches the error", () =>
    onVertex([GeminiEmulator.finish("MALFORMED_FUNCTION_CALL", { finishMessage: "Malformed function call: add(" })], () =>
      Effect.gen(function*() {
        const model = yield* Model.Model
        const error = yield* Effect.flip(model.generate(request("Hi")))
        assert.strictEqual(error._tag, "UnusableResponse")
        assert.include(error.message, "Malformed function call: add(")
      })))

  it.live("without vertexai, GOOGLE_GENAI_USE_VERTEXAI in the environment does not reroute the Gemini key", () =>
    Effect.scoped(Effect.gen(function*() {
      const emulator = yield* GeminiEmulator.make({ script: [GeminiEmulator.text("Hello")], apiKey: API_KEY })
      const saved = process.env["GOOGLE_GENAI_USE_VERTEXAI"]
      process.env["GOOGLE_GENAI_USE_VERTEXAI"] = "true"
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          if (saved === undefined) delete process.env["GOOGLE_GENAI_USE_VERTEXAI"]
          else process.env["GOOGLE_GENAI_USE_VERTEXAI"] = saved
        })
      )
      const model = yield* Effect.provide(
        Model.Model,
        Layer.orDie(Gemini.layer({ model: "gemini-2.5-flash", apiKey: Redacted.make(API_KEY), baseUrl: emulator.baseUrl }))
      )
      yield* model.generate(request("Hi"))
      const [recorded] = yield* emulator.requests
      assert.deepStrictEqual([recorded.api, recorded.path, recorded.credential], [
        "gemini",
        "/v1beta/models/gemini-2.5-flash:generateContent",
        "api-key"
      ])
    })))
})
