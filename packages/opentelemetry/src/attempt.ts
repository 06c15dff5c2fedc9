import type { DeliveryOutcome, DeliveryScope, DeliveryStart } from '@evco/core';
import { type Attributes, type Context, type Span, type Tracer, trace } from '@opentelemetry/api';
import { metadataSetter, spanLogFields } from './carrier.js';
import type { EvcoMetrics } from './metrics.js';
import { ATTR, MESSAGING_SYSTEM, SPAN } from './names.js';
import { PairCache } from './pair-cache.js';
import { type ParentContext, type ParentContexts, type Propagator, runIn } from './parents.js';
import { recordFailure } from './tracing.js';

/** What every process span of one (event type, handler) shares, made once. */
interface ProcessKind {
  readonly name: string;
  readonly attributes: Attributes;
}

/**
 * Opens the scope of each handler attempt: a CONSUMER span `process {eventType}`, child of the
 * event's creation context (and linked to it, as the conventions ask of process spans), with the
 * handler running in its context; plus the attempt's metrics. Under an unsampled parent no span
 * is started (see `ParentContext.unsampled`).
 *
 * Per attempt this allocates the span (the SDK's), its context and one scope; the span name and
 * the attributes shared by a (type, handler) pair are made once, the parent is parsed once per
 * distinct trace context, and the follow-ups' `traceparent` and the log bindings are formatted
 * only when the handler publishes or logs.
 */
export class AttemptTracer {
  readonly #propagator: Propagator;
  readonly #parents: ParentContexts;
  readonly #kinds = new PairCache<ProcessKind>((eventType, handler) => ({
    name: SPAN.process(eventType),
    attributes: Object.freeze({
      [ATTR.MESSAGING_SYSTEM]: MESSAGING_SYSTEM,
      [ATTR.MESSAGING_OPERATION_NAME]: 'process',
      [ATTR.MESSAGING_OPERATION_TYPE]: 'process',
      [ATTR.MESSAGING_DESTINATION_NAME]: eventType,
      [ATTR.MESSAGING_CONSUMER_GROUP_NAME]: handler,
    }),
  }));

  constructor(propagator: Propagator, parents: ParentContexts) {
    this.#propagator = propagator;
    this.#parents = parents;
  }

  /** `undefined` when the tracer hands out no-op spans and there are no metrics to keep. */
  open(tracer: Tracer, start: DeliveryStart, metrics: EvcoMetrics | undefined): DeliveryScope | undefined {
    const { event } = start;
    const parent = this.#parents.of(event.metadata);
    if (parent.unsampled) {
      return metrics
        ? new TracedAttempt(undefined, parent.context, parent, this.#propagator, metrics, start)
        : parent.unsampledScope();
    }
    const kind = this.#kinds.get(event.eventType, start.handler);
    const span = tracer.startSpan(kind.name, parent.processOptions, parent.context);
    const recording = span.isRecording();
    if (!recording && !trace.isSpanContextValid(span.spanContext())) {
      // A tracer that records nothing and propagates nothing (tracing suppressed): metrics only.
      return metrics ? new MeteredAttempt(metrics, start) : undefined;
    }
    if (recording) setProcessAttributes(span, kind.attributes, start);
    return new TracedAttempt(
      span,
      trace.setSpan(parent.context, span),
      parent,
      this.#propagator,
      metrics,
      start,
    );
  }
}

/** The attributes known when the attempt starts: the pair's shared ones, then the attempt's own. */
function setProcessAttributes(span: Span, shared: Attributes, start: DeliveryStart): void {
  const { event } = start;
  span.setAttributes(shared);
  span.setAttribute(ATTR.MESSAGING_MESSAGE_ID, event.id);
  span.setAttribute(ATTR.MESSAGING_CLIENT_ID, start.consumerId);
  span.setAttribute(ATTR.AGGREGATE_ID, event.aggregateId);
  span.setAttribute(ATTR.POSITION, event.position);
  span.setAttribute(ATTR.DELIVERY_ID, start.deliveryId);
  span.setAttribute(ATTR.ATTEMPT, start.attempt);
  span.setAttribute(ATTR.MAX_ATTEMPTS, start.maxAttempts);
  span.setAttribute(ATTR.REPLAY, start.isReplay);
  if (event.aggregateType !== undefined) span.setAttribute(ATTR.AGGREGATE_TYPE, event.aggregateType);
  const { correlationId, causationId } = event.metadata;
  if (correlationId !== undefined) span.setAttribute(ATTR.MESSAGING_MESSAGE_CONVERSATION_ID, correlationId);
  if (causationId !== undefined) span.setAttribute(ATTR.CAUSATION_ID, causationId);
}

/** An attempt with a span (or, without one, under an unsampled parent), and its metrics when kept. */
class TracedAttempt implements DeliveryScope {
  readonly #span: Span | undefined;
  readonly #active: Context;
  readonly #parent: ParentContext;
  readonly #propagator: Propagator;
  readonly #metrics: EvcoMetrics | undefined;
  readonly #start: DeliveryStart;
  #metadata: Readonly<Record<string, string>> | undefined;
  #logBindings: Readonly<Record<string, string>> | undefined;

  constructor(
    span: Span | undefined,
    active: Context,
    parent: ParentContext,
    propagator: Propagator,
    metrics: EvcoMetrics | undefined,
    start: DeliveryStart,
  ) {
    this.#span = span;
    this.#active = active;
    this.#parent = parent;
    this.#propagator = propagator;
    this.#metrics = metrics;
    this.#start = start;
  }

  /** The span's trace context, for the handler's follow-ups (the parent's, unchanged, without a span). */
  get metadata(): Readonly<Record<string, string>> {
    if (!this.#span) return this.#parent.carrier;
    if (!this.#metadata) {
      const carrier: Record<string, string> = {};
      this.#propagator.inject(this.#active, carrier, metadataSetter);
      this.#metadata = carrier;
    }
    return this.#metadata;
  }

  get logBindings(): Readonly<Record<string, string>> | undefined {
    if (!this.#span) return this.#parent.logBindings;
    this.#logBindings ??= spanLogFields(this.#span.spanContext());
    return this.#logBindings;
  }

  run<T>(fn: () => T): T {
    return runIn(this.#active, fn);
  }

  end(outcome: DeliveryOutcome): void {
    this.#metrics?.delivered(this.#start, outcome);
    if (this.#span) endProcessSpan(this.#span, outcome);
  }
}

/** An attempt that only counts (no tracer, or tracing suppressed). */
export class MeteredAttempt implements DeliveryScope {
  readonly #metrics: EvcoMetrics;
  readonly #start: DeliveryStart;

  constructor(metrics: EvcoMetrics, start: DeliveryStart) {
    this.#metrics = metrics;
    this.#start = start;
  }

  end(outcome: DeliveryOutcome): void {
    this.#metrics.delivered(this.#start, outcome);
  }
}

function endProcessSpan(span: Span, outcome: DeliveryOutcome): void {
  span.setAttribute(ATTR.OUTCOME, outcome.status);
  if (outcome.status === 'retry' || outcome.status === 'dead') {
    recordFailure(span, outcome.error, outcome.errorMessage);
    if (outcome.timedOut) span.setAttribute(ATTR.TIMED_OUT, true);
    if (outcome.status === 'retry') span.setAttribute(ATTR.RETRY_DELAY_MS, outcome.retryInMs);
    else span.setAttribute(ATTR.DEAD_LETTER_REASON, outcome.reason);
  }
  span.end();
}
