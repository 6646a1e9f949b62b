/**
 * `finishMessage` on the Gemini API path.
 *
 * The SDK drops `finishMessage` from Gemini API candidates (`@google/genai` 2.32:
 * `candidateFromMldev` copies every other candidate field; its Vertex AI path keeps the candidate
 * whole). Gemini explains abnormal finishes there (`Malformed function call: ...`), so the layer
 * gives the SDK a `fetch` that notes the first candidate's `finishMessage` of each response by
 * `responseId` on the way through, without changing a byte. Only bodies that contain the word are
 * parsed; the notes are taken (removed) when read and bounded in number.
 */

const marker = "\"finishMessage\""
const maxNotes = 64

/** A `fetch` for the SDK, and the messages it noted. */
export interface FinishMessages {
  readonly fetch: typeof globalThis.fetch
  /** The `finishMessage` of the response `responseId`, once. */
  readonly take: (responseId: string | undefined) => string | undefined
}

interface Body {
  readonly responseId?: unknown
  readonly candidates?: ReadonlyArray<{ readonly finishMessage?: unknown }>
}

export const make = (): FinishMessages => {
  const notes = new Map<string, string>()

  const note = (json: string): void => {
    let body: Body
    try {
      body = JSON.parse(json) as Body
    } catch {
      return // the SDK reports a body that is not JSON
    }
    const message = body.candidates?.[0]?.finishMessage
    if (typeof body.responseId !== "string" || typeof message !== "string") return
    if (notes.size >= maxNotes) notes.delete(notes.keys().next().value!)
    notes.set(body.responseId, message)
  }

  /** Passes an SSE body through unchanged, noting the events that carry a `finishMessage`. */
  const events = (): TransformStream<Uint8Array, Uint8Array> => {
    const decoder = new TextDecoder()
    let pending = ""
    return new TransformStream({
      transform(chunk, controller) {
        pending += decoder.decode(chunk, { stream: true })
        for (let end = boundary(pending); end !== undefined; end = boundary(pending)) {
          const event = pending.slice(0, end.at)
          pending = pending.slice(end.at + end.length)
          if (event.includes(marker)) note(event.slice(event.indexOf("{")))
        }
        // noted before the SDK can read the event
        controller.enqueue(chunk)
      }
    })
  }

  const fetchNoting: typeof globalThis.fetch = async (input, init) => {
    const response = await globalThis.fetch(input, init)
    if (!response.ok || response.body === null) return response
    const same = { status: response.status, statusText: response.statusText, headers: response.headers }
    if (response.headers.get("content-type")?.includes("text/event-stream")) {
      return new Response(response.body.pipeThrough(events()), same)
    }
    const text = await response.text()
    if (text.includes(marker)) note(text)
    return new Response(text, same)
  }

  return {
    fetch: fetchNoting,
    take: (responseId) => {
      if (responseId === undefined) return undefined
      const message = notes.get(responseId)
      notes.delete(responseId)
      return message
    }
  }
}

/** Where the first SSE event of `text` ends (`\n\n` or `\r\n\r\n`). */
const boundary = (text: string): { readonly at: number; readonly length: number } | undefined => {
  const lf = text.indexOf("\n\n")
  const crlf = text.indexOf("\r\n\r\n")
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return { at: crlf, length: 4 }
  return lf >= 0 ? { at: lf, length: 2 } : undefined
}
