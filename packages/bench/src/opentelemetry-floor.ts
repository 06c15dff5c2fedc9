import type { RecordedEvent } from '@evco/core';
import { ATTR, MESSAGING_SYSTEM, METRIC, SPAN } from '@evco/opentelemetry';
import {
  type Attributes,
  type Context,
  context,
  type Histogram,
  type MeterProvider,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  type SpanOptions,
  type Tracer,
  type TracerProvider,
  trace,
} from '@opentelemetry/api';

const CONSUMER_ID = 'bench';
const MAX_ATTEMPTS = 5;

/** A delivery of a recorded event: what an attempt's attributes are read from (made untimed). */
export interface FloorDelivery {
  event: RecordedEvent;
  deliveryId: string;
}

/** The trace context a batch's events carry (`carrier`), as a consumer reads it back. */
export interface FloorParent {
  carrier: Readonly<Record<string, string>>;
  context: Context;
  /** CONSUMER, linked to the creation context (as the conventions ask of process spans). */
  options: SpanOptions;
}

/**
 * The floor under `@evco/opentelemetry`: the OpenTelemetry SDK calls issue 13 asks for, made
 * directly, without evco, in the cheapest way the SDK allows, with the same span and metric
 * names and the same attributes. What no implementation of the issue can avoid on this SDK:
 *
 * - per batch: one PRODUCER span with its attributes, its context written into a carrier (what
 *   the events store) and read back once by the consumer;
 * - per delivery attempt: one CONSUMER span, child of (and linked to) that context, with the
 *   ~14 attributes of an attempt (set after the start: passing them in the start options makes
 *   the SDK copy them twice more), the handler run with the span as the active context, the
 *   outcome attribute, `end`, and two `Histogram.record` calls (handler duration by outcome,
 *   end-to-end latency);
 * - the counters as observable counters over plain tallies (an increment per attempt; the SDK
 *   reads them once per collection).
 *
 * Left out, because they are evco's choices rather than the SDK's price: copying the trace
 * context into each event's metadata and validating it, the hooks' scope objects, caches and
 * lookups.
 */
export class SdkFloor {
  readonly #tracer: Tracer;
  readonly #duration: Histogram;
  readonly #latency: Histogram;
  readonly #processName: string;
  readonly #publishName: string;
  readonly #batchAttributes: Attributes;
  readonly #processShared: Attributes;
  readonly #handledOutcome: Attributes;
  readonly #base: Attributes;
  #published = 0;
  #handled = 0;
  #lastParent: FloorParent | undefined;

  constructor(
    tracerProvider: TracerProvider,
    meterProvider: MeterProvider,
    eventType: string,
    handler: string,
  ) {
    this.#tracer = tracerProvider.getTracer('@evco/bench-floor');
    const meter = meterProvider.getMeter('@evco/bench-floor');
    this.#duration = meter.createHistogram(METRIC.HANDLER_DURATION, { unit: 's' });
    this.#latency = meter.createHistogram(METRIC.END_TO_END_LATENCY, { unit: 's' });
    this.#base = {
      [ATTR.MESSAGING_DESTINATION_NAME]: eventType,
      [ATTR.MESSAGING_CONSUMER_GROUP_NAME]: handler,
    };
    this.#handledOutcome = { ...this.#base, [ATTR.OUTCOME]: 'handled' };
    const published = meter.createObservableCounter(METRIC.PUBLISHED, { unit: '{event}' });
    const handled = meter.createObservableCounter(METRIC.HANDLED, { unit: '{delivery}' });
    const byType = { [ATTR.MESSAGING_DESTINATION_NAME]: eventType };
    meter.addBatchObservableCallback(
      (result) => {
        result.observe(published, this.#published, byType);
        result.observe(handled, this.#handled, this.#base);
      },
      [published, handled],
    );
    this.#publishName = SPAN.publish(eventType);
    this.#processName = SPAN.process(eventType);
    this.#batchAttributes = {
      [ATTR.MESSAGING_SYSTEM]: MESSAGING_SYSTEM,
      [ATTR.MESSAGING_OPERATION_NAME]: 'publish',
      [ATTR.MESSAGING_OPERATION_TYPE]: 'send',
      [ATTR.MESSAGING_DESTINATION_NAME]: eventType,
    };
    this.#processShared = {
      [ATTR.MESSAGING_SYSTEM]: MESSAGING_SYSTEM,
      [ATTR.MESSAGING_OPERATION_NAME]: 'process',
      [ATTR.MESSAGING_OPERATION_TYPE]: 'process',
      [ATTR.MESSAGING_DESTINATION_NAME]: eventType,
      [ATTR.MESSAGING_CONSUMER_GROUP_NAME]: handler,
    };
  }

  /** The PRODUCER span of a batch of `count` events (ended at once) and the context its events carry, read back. */
  publishBatch(count: number): FloorParent {
    const active = context.active();
    const span = this.#tracer.startSpan(this.#publishName, { kind: SpanKind.PRODUCER }, active);
    span.setAttributes(this.#batchAttributes);
    const carrier: Record<string, string> = {};
    propagation.inject(trace.setSpan(active, span), carrier);
    span.setAttribute(ATTR.MESSAGING_BATCH_MESSAGE_COUNT, count);
    span.end();
    this.#published += count;
    return this.parentOf(carrier);
  }

  /** A consumer's view of a stored trace context. */
  parentOf(carrier: Readonly<Record<string, string>>): FloorParent {
    const parent = propagation.extract(ROOT_CONTEXT, carrier);
    const linked = trace.getSpanContext(parent);
    return {
      carrier,
      context: parent,
      options: { kind: SpanKind.CONSUMER, links: linked ? [{ context: linked }] : [] },
    };
  }

  /** The parent an event's metadata names, parsed once per distinct `traceparent` (as evco does). */
  parentOfEvent(event: RecordedEvent): FloorParent {
    const traceparent = event.metadata.traceparent ?? '';
    const last = this.#lastParent;
    if (last && last.carrier.traceparent === traceparent) return last;
    this.#lastParent = this.parentOf({ traceparent });
    return this.#lastParent;
  }

  /** Starts an attempt's span; the handler then runs in `trace.setSpan(parent.context, span)`. */
  startAttempt(parent: FloorParent, { event, deliveryId }: FloorDelivery): Span {
    const span = this.#tracer.startSpan(this.#processName, parent.options, parent.context);
    span.setAttributes(this.#processShared);
    span.setAttribute(ATTR.MESSAGING_MESSAGE_ID, event.id);
    span.setAttribute(ATTR.MESSAGING_CLIENT_ID, CONSUMER_ID);
    span.setAttribute(ATTR.AGGREGATE_ID, event.aggregateId);
    span.setAttribute(ATTR.POSITION, event.position);
    span.setAttribute(ATTR.DELIVERY_ID, deliveryId);
    span.setAttribute(ATTR.ATTEMPT, 1);
    span.setAttribute(ATTR.MAX_ATTEMPTS, MAX_ATTEMPTS);
    span.setAttribute(ATTR.REPLAY, false);
    const { correlationId } = event.metadata;
    if (correlationId !== undefined) span.setAttribute(ATTR.MESSAGING_MESSAGE_CONVERSATION_ID, correlationId);
    return span;
  }

  /** Ends a handled attempt: its outcome, the span, the tally and the two histogram records. */
  endAttempt(span: Span, event: RecordedEvent, durationMs: number): void {
    span.setAttribute(ATTR.OUTCOME, 'handled');
    span.end();
    this.#handled++;
    this.#duration.record(durationMs / 1000, this.#handledOutcome);
    this.#latency.record(Math.max(0, Date.now() - event.recordedAt.getTime()) / 1000, this.#base);
  }

  /** One handled attempt: its span started, `handler` awaited with the span active, the attempt ended. */
  async attempt(parent: FloorParent, delivery: FloorDelivery, handler: () => Promise<void>): Promise<void> {
    const startedAt = performance.now();
    const span = this.startAttempt(parent, delivery);
    await context.with(trace.setSpan(parent.context, span), handler);
    this.endAttempt(span, delivery.event, performance.now() - startedAt);
  }

  /**
   * `count` events end to end as far as the SDK sees them, in batches of `batch`: a PRODUCER span
   * per batch, then each event's attempt with an async handler awaited in the span's context.
   */
  async run(
    deliveries: readonly FloorDelivery[],
    count: number,
    batch: number,
    handler: () => Promise<void>,
  ) {
    for (let b = 0; b < count; b += batch) {
      const parent = this.publishBatch(batch);
      for (let i = b; i < b + batch; i++)
        await this.attempt(parent, deliveries[i % deliveries.length]!, handler);
    }
  }
}
