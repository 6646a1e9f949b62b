import * as Sse from "@effect/experimental/Sse"
import type * as Either from "effect/Either"
import type * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Protocol from "../Protocol.js"

/** A frame of a run's stream, encoded once and written to every client of the run. */
export interface Encoded {
  readonly seq: number
  readonly value: Protocol.Frame
  /** The frame encoded with its Schema, as JSON (one line). */
  readonly json: string
}

const encodeFrame = Schema.encodeSync(Protocol.Frame)

export const encode = (seq: number, value: Protocol.Frame): Encoded => ({
  seq,
  value,
  json: JSON.stringify(encodeFrame(value))
})

/** The SSE text of some frames: `id:` the sequence number, `event:` the tag, `data:` the encoded frame. */
export const sse = (frames: ReadonlyArray<Encoded>): string => {
  let text = ""
  for (const frame of frames) {
    text += Sse.encoder.write({ _tag: "Event", id: String(frame.seq), event: frame.value._tag, data: frame.json })
  }
  return text
}

/** The NDJSON text of some frames: one encoded frame per line. */
export const ndjson = (frames: ReadonlyArray<Encoded>): string => {
  let text = ""
  for (const frame of frames) text += frame.json + "\n"
  return text
}

/** What a client sends while a run is idle, so proxies and clients keep the connection open. */
export const keepAlive = { sse: ": keep-alive\n\n", ndjson: "\n" } as const

/** The first SSE line: an `EventSource` that lost its connection reconnects (with `Last-Event-ID`) after 1 s. */
export const retryHint = "retry: 1000\n\n"

const decodeFrame = Schema.decodeUnknownEither(Schema.parseJson(Protocol.Frame))

/** Decode a frame's JSON with the shared Schemas. */
export const decode = (json: string): Either.Either<Protocol.Frame, ParseResult.ParseError> => decodeFrame(json)
