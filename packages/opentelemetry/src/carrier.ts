import type { DomainEvent } from '@evco/core';
import {
  type Context,
  context,
  propagation,
  ROOT_CONTEXT,
  type SpanContext,
  type TextMapGetter,
  type TextMapPropagator,
  type TextMapSetter,
  trace,
} from '@opentelemetry/api';
import { LOG_KEYS } from './names.js';

type Metadata = Readonly<Record<string, string | number | undefined>>;

/** Reads trace context from an event's metadata (string values only; numbers are never headers). */
export const metadataGetter: TextMapGetter<Metadata> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => {
    const value = carrier[key];
    return typeof value === 'string' ? value : undefined;
  },
};

export const metadataSetter: TextMapSetter<Record<string, string>> = {
  set: (carrier, key, value) => {
    carrier[key] = value;
  },
};

/** The propagator given in the options, or the globally registered one (W3C with the SDK). */
export function propagatorOf(
  given: TextMapPropagator | undefined,
): Pick<TextMapPropagator, 'inject' | 'extract'> {
  return given ?? propagation;
}

/**
 * The trace context an event was created in (its `traceparent` / `tracestate`), for code that
 * acts on an event outside a handler and wants its work in the event's trace:
 * `context.with(eventContext(event), () => coordinator.publishEvent(next))`.
 */
export function eventContext(event: Pick<DomainEvent, 'metadata'>, propagator?: TextMapPropagator): Context {
  return propagatorOf(propagator).extract(ROOT_CONTEXT, event.metadata, metadataGetter);
}

/**
 * `trace_id`, `span_id` and `trace_flags` of the active span, or `{}` when none: pass it as
 * pino's `mixin` so every line logged inside a handler attempt (or any traced work) carries
 * its trace.
 */
export function traceLogFields(): Record<string, string> {
  const span = trace.getSpan(context.active());
  if (!span) return {};
  const sc = span.spanContext();
  return trace.isSpanContextValid(sc) ? spanLogFields(sc) : {};
}

/** `trace_id`, `span_id`, `trace_flags` of a span context, as log lines carry them. */
export function spanLogFields(sc: SpanContext): Record<string, string> {
  return {
    [LOG_KEYS.TRACE_ID]: sc.traceId,
    [LOG_KEYS.SPAN_ID]: sc.spanId,
    [LOG_KEYS.TRACE_FLAGS]: `0${sc.traceFlags.toString(16)}`.slice(-2),
  };
}
