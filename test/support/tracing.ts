/**
 * A `Tracer` that records every span, as an exporting tracer (OpenTelemetry) would receive them.
 */
import { Cause, type Context, Exit, type Option, Tracer } from "effect"

/** A span as recorded: name, parent, attributes, events (and the pretty cause of a failure). */
export interface RecordedSpan {
  readonly name: string
  readonly parent: Option.Option<Tracer.AnySpan>
  readonly attributes: Map<string, unknown>
  readonly events: Array<string>
}

class RecordingSpan implements Tracer.Span, RecordedSpan {
  readonly _tag = "Span"
  readonly spanId: string
  readonly traceId = "trace"
  readonly sampled = true
  status: Tracer.SpanStatus
  readonly attributes = new Map<string, unknown>()
  readonly events: Array<string> = []
  links: Array<Tracer.SpanLink>
  constructor(
    readonly name: string,
    readonly parent: Option.Option<Tracer.AnySpan>,
    readonly context: Context.Context<never>,
    links: ReadonlyArray<Tracer.SpanLink>,
    startTime: bigint,
    readonly kind: Tracer.SpanKind,
    id: number
  ) {
    this.spanId = `span${id}`
    this.links = links.slice()
    this.status = { _tag: "Started", startTime }
  }
  end(endTime: bigint, exit: Exit.Exit<unknown, unknown>) {
    this.status = { _tag: "Ended", startTime: this.status.startTime, endTime, exit }
    if (Exit.isFailure(exit)) this.events.push(Cause.pretty(exit.cause))
  }
  attribute(key: string, value: unknown) {
    this.attributes.set(key, value)
  }
  event(name: string, _startTime: bigint, attributes?: Record<string, unknown>) {
    this.events.push(`${name} ${JSON.stringify(attributes ?? {})}`)
  }
  addLinks(links: ReadonlyArray<Tracer.SpanLink>) {
    this.links.push(...links)
  }
}

/** A Tracer pushing every span it starts to `spans`. */
export const recordingTracer = (spans: Array<RecordedSpan>): Tracer.Tracer => {
  let id = 0
  return Tracer.make({
    span: (name, parent, context, links, startTime, kind) => {
      const span = new RecordingSpan(name, parent, context, links, startTime, kind, id++)
      spans.push(span)
      return span
    },
    context: (f) => f()
  })
}
