/**
 * Map whatever the `@google/genai` SDK throws to the core `ModelError` family.
 *
 * Every piece of SDK or server text goes through `scrub` (which removes the API key) before it
 * lands in an error's `detail`.
 */
import { AgentError } from "@effect-agents/core"
import * as Duration from "effect/Duration"

/** The `error` object of a `google.rpc.Status` body. */
interface RpcStatus {
  readonly code?: number
  readonly message?: string
  readonly status?: string
  readonly details?: ReadonlyArray<Record<string, unknown>>
}

/** The JSON body inside an `ApiError` message (`{...}` or `got status: X. {...}`). */
const rpcStatusOf = (message: string): RpcStatus | undefined => {
  const start = message.indexOf("{")
  if (start < 0) return undefined
  try {
    const body = JSON.parse(message.slice(start)) as unknown
    const error = typeof body === "object" && body !== null ? (body as { error?: unknown }).error : undefined
    return typeof error === "object" && error !== null ? error as RpcStatus : undefined
  } catch {
    return undefined
  }
}

const detailOfType = (status: RpcStatus | undefined, type: string): Record<string, unknown> | undefined =>
  status?.details?.find((detail) => typeof detail["@type"] === "string" && (detail["@type"] as string).endsWith(type))

/** `google.rpc.RetryInfo.retryDelay`: a protobuf Duration, `"7s"` in JSON (or `{ seconds, nanos }`). */
const retryDelayOf = (status: RpcStatus | undefined): Duration.Duration | undefined => {
  const delay = detailOfType(status, "google.rpc.RetryInfo")?.["retryDelay"]
  if (typeof delay === "string") {
    const match = /^(\d+(?:\.\d+)?)s$/.exec(delay.trim())
    return match ? Duration.millis(Math.round(Number(match[1]) * 1000)) : undefined
  }
  if (typeof delay === "object" && delay !== null) {
    const { nanos, seconds } = delay as { seconds?: number | string; nanos?: number }
    return Duration.millis(Number(seconds ?? 0) * 1000 + Math.round((nanos ?? 0) / 1e6))
  }
  return undefined
}

const isApiError = (error: unknown): error is Error & { readonly status: number } =>
  error instanceof Error && error.name === "ApiError" && typeof (error as { status?: unknown }).status === "number"

const networkCodes = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ENETUNREACH",
  "EHOSTUNREACH",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT"
])

const networkMessage = /fetch failed|terminated|other side closed|socket hang up|socket closed|network|ECONN/i

/** The error and its `cause` chain. */
const chain = (error: unknown): Array<{ readonly message: string; readonly code: string | undefined }> => {
  const links: Array<{ readonly message: string; readonly code: string | undefined }> = []
  let current: unknown = error
  for (let depth = 0; depth < 5 && typeof current === "object" && current !== null; depth++) {
    const { code, message } = current as { message?: unknown; code?: unknown }
    links.push({ message: typeof message === "string" ? message : String(current), code: typeof code === "string" ? code : undefined })
    current = (current as { cause?: unknown }).cause
  }
  return links
}

const describeChain = (links: ReadonlyArray<{ readonly message: string; readonly code: string | undefined }>): string =>
  links.map((link) => link.code !== undefined && !link.message.includes(link.code) ? `${link.message} (${link.code})` : link.message)
    .join(": ")

/** How to fix a refused credential: check the key, or the Vertex AI credentials. */
export const apiKeyHint = "Check GEMINI_API_KEY (or the apiKey option)."
export const vertexHint =
  "Check the Vertex AI credentials (application-default credentials, or vertexai.googleAuthOptions) and that they may use Vertex AI in the project."

const fromApiError = (
  error: Error & { readonly status: number },
  scrub: (text: string) => string,
  credentialHint: string
): AgentError.ModelError => {
  const status = error.status
  const rpc = rpcStatusOf(error.message)
  const server = scrub(rpc?.message ?? error.message)
  const detail = rpc?.status !== undefined ? `${rpc.status}: ${server}` : server
  if (status === 429) return new AgentError.RateLimited({ retryAfter: retryDelayOf(rpc), detail })
  if (status === 401 || status === 403) {
    return new AgentError.AuthenticationFailed({
      status,
      detail: `${detail} ${credentialHint}`
    })
  }
  if (status === 400 && detailOfType(rpc, "google.rpc.ErrorInfo")?.["reason"] === "API_KEY_INVALID") {
    return new AgentError.AuthenticationFailed({
      status,
      detail: `${detail} ${credentialHint}`
    })
  }
  if (status === 404) return new AgentError.InvalidRequest({ status, detail: `${detail} Check the model name.` })
  if (status === 408 || status === 499 || status >= 500) return new AgentError.ModelUnavailable({ status, detail })
  return new AgentError.InvalidRequest({ status, detail })
}

/**
 * The `ModelError` for anything the SDK threw. Aborts caused by fiber interruption never get
 * here: `Effect.tryPromise` reports them as interruptions.
 */
export const fromUnknown = (
  error: unknown,
  scrub: (text: string) => string,
  credentialHint: string = apiKeyHint
): AgentError.ModelError => {
  if (isApiError(error)) return fromApiError(error, scrub, credentialHint)
  const links = chain(error)
  const detail = scrub(describeChain(links))
  if (error instanceof SyntaxError || /Incomplete JSON segment|exception parsing stream chunk/.test(detail)) {
    return new AgentError.MalformedResponse({ detail: `the response body is not valid JSON (${detail})` })
  }
  if (error instanceof Error && error.name === "AbortError") {
    return new AgentError.ModelUnavailable({ detail: `the request was aborted (${detail})` })
  }
  if (links.some((link) => (link.code !== undefined && networkCodes.has(link.code)) || networkMessage.test(link.message))) {
    return new AgentError.ModelUnavailable({ detail: `network failure: ${detail}` })
  }
  return new AgentError.InvalidRequest({ detail: `the Gemini SDK failed: ${detail}` })
}
