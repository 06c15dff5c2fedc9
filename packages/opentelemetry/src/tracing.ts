import type { DomainEvent, DomainEventInput, PublishOutcome, PublishScope, PublishStart } from '@evco/core';
import {
  type Attributes,
  type Context,
  context,
  type Span,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { metadataSetter } from './carrier.js';
import { ATTR, MESSAGING_SYSTEM, SPAN } from './names.js';
import type { ParentContexts, Propagator } from './parents.js';

const PRODUCER = Object.freeze({ kind: SpanKind.PRODUCER });

/**
 * PRODUCER spans for one publish, started when the events get their metadata (so a span's
 * context is what its events carry: their creation context) and ended when the append and the
 * announcement are done.
 *
 * - One event: one span `publish {eventType}`, parent a `traceparent` the caller put on the
 *   event, else the active context (a handler's attempt span when published with
 *   `context.publish`).
 * - A batch (`publishEvents` with several events): one span for the whole batch, child of the
 *   active context, with `messaging.batch.message_count`; every event carries its context (as
 *   the conventions allow for a batch: a span per message would double the tracing cost of a
 *   batch publish). An event in a batch that names its own `traceparent` keeps a span of its
 *   own under that parent, so it stays in the trace it asked for.
 * - Under an unsampled parent (its sampled flag off) no span is started: nothing under it is
 *   recorded, and the events carry the parent's trace context unchanged.
 *
 * Classes rather than object literals of closures: one is made per publish and per attempt.
 */
export class EventPublishScope implements PublishScope {
  readonly #tracer: Tracer;
  readonly #propagator: Propagator;
  readonly #parents: ParentContexts;
  readonly #inputs: PublishStart['inputs'];
  readonly #spans: Array<Span | undefined>;
  readonly #active: Context;
  /** The active context's trace context, when its span is not sampled (computed on first use). */
  #activeUnsampled: Record<string, string> | null | undefined;
  /** The batch span and what its events carry (`undefined` until the first event asks). */
  #batch: { span: Span | undefined; carrier: Record<string, string> | undefined; events: number } | undefined;

  constructor(tracer: Tracer, propagator: Propagator, parents: ParentContexts, start: PublishStart) {
    this.#tracer = tracer;
    this.#propagator = propagator;
    this.#parents = parents;
    this.#inputs = start.inputs;
    this.#spans = new Array(start.inputs.length);
    this.#active = context.active();
  }

  metadata(
    index: number,
    metadata: Readonly<Record<string, string | number | undefined>>,
  ): Record<string, string> | undefined {
    const own = typeof metadata.traceparent === 'string';
    if (this.#inputs.length > 1 && !own) return this.#batchCarrier();
    let parent = this.#active;
    if (own) {
      const carried = this.#parents.of(metadata);
      // Its own unsampled trace: keep the `traceparent` it carries as it is.
      if (carried.unsampled) return undefined;
      parent = carried.context;
    } else {
      const unsampled = this.#unsampledActive();
      if (unsampled) return unsampled;
    }
    const input = this.#inputs[index]!;
    const eventType = typeof input.eventType === 'string' ? input.eventType : 'unknown';
    const span = this.#tracer.startSpan(SPAN.publish(eventType), PRODUCER, parent);
    this.#spans[index] = span;
    // Attributes only for a span that keeps them: without an SDK (or unsampled) this is free.
    if (span.isRecording()) span.setAttributes(publishAttributes(input, eventType, metadata));
    return this.#carrierOf(span, parent);
  }

  end(outcome: PublishOutcome): void {
    const spans = this.#spans;
    for (let i = 0; i < spans.length; i++) {
      const span = spans[i];
      if (!span) continue;
      const recorded = outcome.events?.[i];
      if (recorded) {
        span.setAttribute(ATTR.MESSAGING_MESSAGE_ID, recorded.id);
        span.setAttribute(ATTR.POSITION, recorded.position);
      } else if (outcome.error !== undefined) {
        recordFailure(span, outcome.error, errorMessage(outcome.error));
      }
      span.end();
    }
    const batch = this.#batch;
    if (batch?.span) {
      batch.span.setAttribute(ATTR.MESSAGING_BATCH_MESSAGE_COUNT, batch.events);
      if (outcome.error !== undefined) recordFailure(batch.span, outcome.error, errorMessage(outcome.error));
      batch.span.end();
    }
  }

  #batchCarrier(): Record<string, string> | undefined {
    let batch = this.#batch;
    if (!batch) {
      const unsampled = this.#unsampledActive();
      if (unsampled) {
        batch = { span: undefined, carrier: unsampled, events: 0 };
      } else {
        const eventType = commonEventType(this.#inputs);
        const span = this.#tracer.startSpan(
          eventType === undefined ? SPAN.publishBatch : SPAN.publish(eventType),
          PRODUCER,
          this.#active,
        );
        if (span.isRecording()) span.setAttributes(batchAttributes(eventType));
        batch = { span, carrier: this.#carrierOf(span, this.#active), events: 0 };
      }
      this.#batch = batch;
    }
    batch.events++;
    return batch.carrier;
  }

  /**
   * The active context's trace context when its span is valid but not sampled (a handler's
   * attempt under an unsampled parent, or the caller's own unsampled span), else `undefined`.
   */
  #unsampledActive(): Record<string, string> | undefined {
    if (this.#activeUnsampled === undefined) {
      const sc = trace.getSpanContext(this.#active);
      this.#activeUnsampled = null;
      if (sc && trace.isSpanContextValid(sc) && (sc.traceFlags & TraceFlags.SAMPLED) === 0) {
        const carrier: Record<string, string> = {};
        this.#propagator.inject(this.#active, carrier, metadataSetter);
        this.#activeUnsampled = carrier;
      }
    }
    return this.#activeUnsampled ?? undefined;
  }

  /** The `traceparent` / `tracestate` of `span`, or `undefined` for a no-op span (no SDK). */
  #carrierOf(span: Span, parent: Context): Record<string, string> | undefined {
    if (!trace.isSpanContextValid(span.spanContext())) return undefined;
    const carrier: Record<string, string> = {};
    this.#propagator.inject(trace.setSpan(parent, span), carrier, metadataSetter);
    return carrier;
  }
}

/** The event type every event of a batch shares, or `undefined` when they differ. */
function commonEventType(inputs: PublishStart['inputs']): string | undefined {
  const first = inputs[0]?.eventType;
  if (typeof first !== 'string') return undefined;
  for (let i = 1; i < inputs.length; i++) if (inputs[i]!.eventType !== first) return undefined;
  return first;
}

function batchAttributes(eventType: string | undefined): Attributes {
  const attributes: Attributes = {
    [ATTR.MESSAGING_SYSTEM]: MESSAGING_SYSTEM,
    [ATTR.MESSAGING_OPERATION_NAME]: 'publish',
    [ATTR.MESSAGING_OPERATION_TYPE]: 'send',
  };
  if (eventType !== undefined) attributes[ATTR.MESSAGING_DESTINATION_NAME] = eventType;
  return attributes;
}

function publishAttributes(
  input: DomainEvent | DomainEventInput,
  eventType: string,
  metadata: Readonly<Record<string, string | number | undefined>>,
): Attributes {
  const attributes: Attributes = {
    [ATTR.MESSAGING_SYSTEM]: MESSAGING_SYSTEM,
    [ATTR.MESSAGING_OPERATION_NAME]: 'publish',
    [ATTR.MESSAGING_OPERATION_TYPE]: 'send',
    [ATTR.MESSAGING_DESTINATION_NAME]: eventType,
  };
  if (typeof input.id === 'string') attributes[ATTR.MESSAGING_MESSAGE_ID] = input.id;
  if (typeof input.aggregateId === 'string') attributes[ATTR.AGGREGATE_ID] = input.aggregateId;
  if (typeof input.aggregateType === 'string') attributes[ATTR.AGGREGATE_TYPE] = input.aggregateType;
  if (typeof metadata.correlationId === 'string') {
    attributes[ATTR.MESSAGING_MESSAGE_CONVERSATION_ID] = metadata.correlationId;
  }
  if (typeof metadata.causationId === 'string') attributes[ATTR.CAUSATION_ID] = metadata.causationId;
  return attributes;
}

export function recordFailure(span: Span, error: unknown, message: string): void {
  span.recordException(error instanceof Error ? error : message);
  span.setStatus({ code: SpanStatusCode.ERROR, message });
  span.setAttribute(ATTR.ERROR_TYPE, errorType(error));
}

/** Low-cardinality error class: an evco code, else the error's name, else the conventions' `_OTHER`. */
export function errorType(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' ? code : error.name;
  }
  return '_OTHER';
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
