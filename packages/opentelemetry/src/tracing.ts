import type {
  DeliveryOutcome,
  DeliveryScope,
  DeliveryStart,
  DomainEvent,
  DomainEventInput,
  PublishOutcome,
  PublishScope,
  PublishStart,
} from '@evco/core';
import {
  type Attributes,
  type Context,
  context,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapPropagator,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { metadataGetter, metadataSetter } from './carrier.js';
import { ATTR, LOG_KEYS, MESSAGING_SYSTEM, SPAN } from './names.js';

type Propagator = Pick<TextMapPropagator, 'inject' | 'extract'>;

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
 *
 * Classes rather than object literals of closures: one is made per publish and per attempt.
 */
export class EventPublishScope implements PublishScope {
  readonly #tracer: Tracer;
  readonly #propagator: Propagator;
  readonly #inputs: PublishStart['inputs'];
  readonly #spans: Array<Span | undefined>;
  readonly #active: Context;
  /** The batch span and what its events carry (`undefined` until the first event asks). */
  #batch: { span: Span; carrier: Record<string, string> | undefined; events: number } | undefined;

  constructor(tracer: Tracer, propagator: Propagator, start: PublishStart) {
    this.#tracer = tracer;
    this.#propagator = propagator;
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
    const input = this.#inputs[index]!;
    const parent = own ? this.#propagator.extract(ROOT_CONTEXT, metadata, metadataGetter) : this.#active;
    const eventType = typeof input.eventType === 'string' ? input.eventType : 'unknown';
    const span = this.#tracer.startSpan(SPAN.publish(eventType), { kind: SpanKind.PRODUCER }, parent);
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
    if (batch) {
      batch.span.setAttribute(ATTR.MESSAGING_BATCH_MESSAGE_COUNT, batch.events);
      if (outcome.error !== undefined) recordFailure(batch.span, outcome.error, errorMessage(outcome.error));
      batch.span.end();
    }
  }

  #batchCarrier(): Record<string, string> | undefined {
    let batch = this.#batch;
    if (!batch) {
      const eventType = commonEventType(this.#inputs);
      const span = this.#tracer.startSpan(
        eventType === undefined ? SPAN.publishBatch : SPAN.publish(eventType),
        { kind: SpanKind.PRODUCER },
        this.#active,
      );
      if (span.isRecording()) span.setAttributes(batchAttributes(eventType));
      batch = { span, carrier: this.#carrierOf(span, this.#active), events: 0 };
      this.#batch = batch;
    }
    batch.events++;
    return batch.carrier;
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

/**
 * One CONSUMER span per handler attempt, child of the event's creation context (and linked to
 * it, as the conventions ask of process spans). The handler runs with it as the active
 * context, its follow-ups carry it, and `context.logger` lines get its ids. `undefined` when
 * the span is a no-op (no SDK, or no trace to continue and nothing sampled).
 */
export function deliveryScope(
  tracer: Tracer,
  propagator: Propagator,
  start: DeliveryStart,
): AttemptSpanScope | undefined {
  const { event } = start;
  const parent = propagator.extract(ROOT_CONTEXT, event.metadata, metadataGetter);
  const parentSpan = trace.getSpanContext(parent);
  const span = tracer.startSpan(
    SPAN.process(event.eventType),
    {
      kind: SpanKind.CONSUMER,
      links: parentSpan && trace.isSpanContextValid(parentSpan) ? [{ context: parentSpan }] : undefined,
    },
    parent,
  );
  if (!trace.isSpanContextValid(span.spanContext()) && !span.isRecording()) return undefined;
  if (span.isRecording()) span.setAttributes(processAttributes(start));
  return new AttemptSpanScope(span, trace.setSpan(parent, span), propagator);
}

export class AttemptSpanScope implements DeliveryScope {
  readonly metadata: Record<string, string> = {};
  readonly logBindings: Readonly<Record<string, unknown>>;
  readonly #span: Span;
  readonly #active: Context;

  constructor(span: Span, active: Context, propagator: Propagator) {
    this.#span = span;
    this.#active = active;
    propagator.inject(active, this.metadata, metadataSetter);
    const sc = span.spanContext();
    this.logBindings = {
      [LOG_KEYS.TRACE_ID]: sc.traceId,
      [LOG_KEYS.SPAN_ID]: sc.spanId,
      [LOG_KEYS.TRACE_FLAGS]: `0${sc.traceFlags.toString(16)}`.slice(-2),
    };
  }

  run<T>(fn: () => T): T {
    return context.with(this.#active, fn);
  }

  end(outcome: DeliveryOutcome): void {
    endDelivery(this.#span, outcome);
  }
}

function processAttributes(start: DeliveryStart): Attributes {
  const { event } = start;
  const attributes: Attributes = {
    [ATTR.MESSAGING_SYSTEM]: MESSAGING_SYSTEM,
    [ATTR.MESSAGING_OPERATION_NAME]: 'process',
    [ATTR.MESSAGING_OPERATION_TYPE]: 'process',
    [ATTR.MESSAGING_DESTINATION_NAME]: event.eventType,
    [ATTR.MESSAGING_CONSUMER_GROUP_NAME]: start.handler,
    [ATTR.MESSAGING_MESSAGE_ID]: event.id,
    [ATTR.MESSAGING_CLIENT_ID]: start.consumerId,
    [ATTR.AGGREGATE_ID]: event.aggregateId,
    [ATTR.POSITION]: event.position,
    [ATTR.DELIVERY_ID]: start.deliveryId,
    [ATTR.ATTEMPT]: start.attempt,
    [ATTR.MAX_ATTEMPTS]: start.maxAttempts,
    [ATTR.REPLAY]: start.isReplay,
  };
  if (event.aggregateType !== undefined) attributes[ATTR.AGGREGATE_TYPE] = event.aggregateType;
  if (event.metadata.correlationId !== undefined) {
    attributes[ATTR.MESSAGING_MESSAGE_CONVERSATION_ID] = event.metadata.correlationId;
  }
  if (event.metadata.causationId !== undefined) attributes[ATTR.CAUSATION_ID] = event.metadata.causationId;
  return attributes;
}

function endDelivery(span: Span, outcome: DeliveryOutcome): void {
  span.setAttribute(ATTR.OUTCOME, outcome.status);
  if (outcome.status === 'retry' || outcome.status === 'dead') {
    recordFailure(span, outcome.error, outcome.errorMessage);
    if (outcome.timedOut) span.setAttribute(ATTR.TIMED_OUT, true);
    if (outcome.status === 'retry') span.setAttribute(ATTR.RETRY_DELAY_MS, outcome.retryInMs);
    else span.setAttribute(ATTR.DEAD_LETTER_REASON, outcome.reason);
  }
  span.end();
}

function recordFailure(span: Span, error: unknown, message: string): void {
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
