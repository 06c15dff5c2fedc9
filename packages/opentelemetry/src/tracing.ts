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
 * One PRODUCER span per published event, started when the event gets its metadata (so its
 * context is what the event carries: the creation context) and ended when the append and the
 * announcement are done. Parent: a `traceparent` the caller put on the event, else the active
 * context (a handler's attempt span when published with `context.publish`).
 */
export function publishScope(tracer: Tracer, propagator: Propagator, start: PublishStart): PublishScope {
  const spans: Array<Span | undefined> = new Array(start.inputs.length);
  const active = context.active();
  return {
    metadata(index, metadata) {
      const input = start.inputs[index]!;
      const parent =
        typeof metadata.traceparent === 'string'
          ? propagator.extract(ROOT_CONTEXT, metadata, metadataGetter)
          : active;
      const eventType = typeof input.eventType === 'string' ? input.eventType : 'unknown';
      const span = tracer.startSpan(
        SPAN.publish(eventType),
        { kind: SpanKind.PRODUCER, attributes: publishAttributes(input, eventType, metadata) },
        parent,
      );
      spans[index] = span;
      if (!trace.isSpanContextValid(span.spanContext())) return undefined;
      const carrier: Record<string, string> = {};
      propagator.inject(trace.setSpan(parent, span), carrier, metadataSetter);
      return carrier;
    },
    end(outcome: PublishOutcome) {
      for (let i = 0; i < spans.length; i++) {
        const span = spans[i];
        if (!span) continue;
        const recorded = outcome.events?.[i];
        if (recorded) {
          span.setAttribute(ATTR.MESSAGING_MESSAGE_ID, recorded.id);
          span.setAttribute(ATTR.POSITION, String(recorded.position));
        } else if (outcome.error !== undefined) {
          recordFailure(span, outcome.error, errorMessage(outcome.error));
        }
        span.end();
      }
    },
  };
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
 * context, its follow-ups carry it, and `context.logger` lines get its ids.
 */
export function deliveryScope(tracer: Tracer, propagator: Propagator, start: DeliveryStart): DeliveryScope {
  const { event } = start;
  const parent = propagator.extract(ROOT_CONTEXT, event.metadata, metadataGetter);
  const parentSpan = trace.getSpanContext(parent);
  const attributes: Attributes = {
    [ATTR.MESSAGING_SYSTEM]: MESSAGING_SYSTEM,
    [ATTR.MESSAGING_OPERATION_NAME]: 'process',
    [ATTR.MESSAGING_OPERATION_TYPE]: 'process',
    [ATTR.MESSAGING_DESTINATION_NAME]: event.eventType,
    [ATTR.MESSAGING_CONSUMER_GROUP_NAME]: start.handler,
    [ATTR.MESSAGING_MESSAGE_ID]: event.id,
    [ATTR.MESSAGING_CLIENT_ID]: start.consumerId,
    [ATTR.AGGREGATE_ID]: event.aggregateId,
    [ATTR.POSITION]: String(event.position),
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
  const span = tracer.startSpan(
    SPAN.process(event.eventType),
    {
      kind: SpanKind.CONSUMER,
      attributes,
      links: parentSpan && trace.isSpanContextValid(parentSpan) ? [{ context: parentSpan }] : undefined,
    },
    parent,
  );
  const sc = span.spanContext();
  const active: Context = trace.setSpan(parent, span);
  if (!trace.isSpanContextValid(sc)) {
    return { run: (fn) => context.with(active, fn), end: () => span.end() };
  }
  const metadata: Record<string, string> = {};
  propagator.inject(active, metadata, metadataSetter);
  return {
    run: (fn) => context.with(active, fn),
    metadata,
    logBindings: {
      [LOG_KEYS.TRACE_ID]: sc.traceId,
      [LOG_KEYS.SPAN_ID]: sc.spanId,
      [LOG_KEYS.TRACE_FLAGS]: `0${sc.traceFlags.toString(16)}`.slice(-2),
    },
    end: (outcome) => endDelivery(span, outcome),
  };
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
