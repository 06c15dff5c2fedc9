import {
  type DeliveryOutcome,
  type DeliveryScope,
  type DeliveryStart,
  type Instrumentation,
  type PublishOutcome,
  type PublishScope,
  parseOptions,
} from '@evco/core';
import {
  type MeterProvider,
  metrics,
  type TextMapPropagator,
  type TracerProvider,
  trace,
} from '@opentelemetry/api';
import { z } from 'zod';
import { propagatorOf } from './carrier.js';
import { EvcoMetrics } from './metrics.js';
import { type AttemptSpanScope, deliveryScope, EventPublishScope } from './tracing.js';

const SCOPE_NAME = '@evco/opentelemetry';
const SCOPE_VERSION = '0.1.0';

const hasMethods = (methods: string[]) =>
  z.custom<object>(
    (v) =>
      typeof v === 'object' &&
      v !== null &&
      methods.every((m) => typeof (v as Record<string, unknown>)[m] === 'function'),
    { message: `must implement ${methods.join(', ')}` },
  );

export const openTelemetryOptionsSchema = z.strictObject({
  /** Where spans go. @default the global tracer provider (`trace.setGlobalTracerProvider`, or the SDK's `register()`) */
  tracerProvider: hasMethods(['getTracer']).optional(),
  /** Where metrics go. @default the global meter provider, read when the coordinator starts */
  meterProvider: hasMethods(['getMeter']).optional(),
  /** Writes and reads `traceparent` / `tracestate` in event metadata. @default the global propagator (W3C trace context with the SDK) */
  propagator: hasMethods(['inject', 'extract']).optional(),
  /** Emit spans. @default true */
  traces: z.boolean().optional(),
  /** Emit metrics. @default true */
  metrics: z.boolean().optional(),
  /** The gauges read the store at most once per this many ms, however many scrapes ask. @default 10000 */
  statsIntervalMs: z.number().int().min(0).max(3_600_000).optional(),
});

export interface OpenTelemetryOptions {
  tracerProvider?: TracerProvider;
  meterProvider?: MeterProvider;
  propagator?: TextMapPropagator;
  traces?: boolean;
  metrics?: boolean;
  statsIntervalMs?: number;
}

/**
 * Traces, metrics and log correlation for one coordinator, through core's instrumentation hooks:
 * `createCoordinator({ ..., instrumentation: [createOpenTelemetryInstrumentation()] })`.
 * Needs only `@opentelemetry/api`; without an SDK registered every call is a no-op.
 */
export function createOpenTelemetryInstrumentation(options: OpenTelemetryOptions = {}): Instrumentation {
  parseOptions(openTelemetryOptionsSchema, options, 'OpenTelemetry options', 'opentelemetry');
  const propagator = propagatorOf(options.propagator);
  const tracer =
    options.traces === false
      ? undefined
      : (options.tracerProvider ?? trace.getTracerProvider()).getTracer(SCOPE_NAME, SCOPE_VERSION);
  const statsIntervalMs = options.statsIntervalMs ?? 10_000;
  let recorder: EvcoMetrics | undefined;

  const instrumentation: Instrumentation = {
    name: 'opentelemetry',
    start(coordinator) {
      if (options.metrics === false) return;
      // Read here, not at construction: the global meter provider has no proxy, so an SDK
      // registered after this package was set up would otherwise never see a metric.
      recorder ??= new EvcoMetrics(
        (options.meterProvider ?? metrics.getMeterProvider()).getMeter(SCOPE_NAME, SCOPE_VERSION),
        { statsIntervalMs },
      );
      recorder.attach(coordinator);
    },
    stop() {
      recorder?.detach();
    },
    publish(start) {
      const scope = tracer ? new EventPublishScope(tracer, propagator, start) : undefined;
      return recorder ? new MeteredPublish(recorder, scope) : scope;
    },
    delivery(start) {
      const scope = tracer ? deliveryScope(tracer, propagator, start) : undefined;
      if (!recorder) return scope;
      return scope ? new MeteredTracedAttempt(recorder, start, scope) : new MeteredAttempt(recorder, start);
    },
    replay(info) {
      recorder?.replayed(info.deliveries);
    },
  };
  return instrumentation;
}

/** Counts what a publish stored, then ends its spans. */
class MeteredPublish implements PublishScope {
  readonly #metrics: EvcoMetrics;
  readonly #spans: EventPublishScope | undefined;

  constructor(metrics: EvcoMetrics, spans: EventPublishScope | undefined) {
    this.#metrics = metrics;
    this.#spans = spans;
  }

  metadata(index: number, metadata: Readonly<Record<string, string | number | undefined>>) {
    return this.#spans?.metadata(index, metadata);
  }

  end(outcome: PublishOutcome): void {
    if (outcome.events) this.#metrics.published(outcome.events);
    this.#spans?.end(outcome);
  }
}

class MeteredAttempt implements DeliveryScope {
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

class MeteredTracedAttempt implements DeliveryScope {
  readonly metadata: Readonly<Record<string, string>>;
  readonly logBindings: Readonly<Record<string, unknown>>;
  readonly #metrics: EvcoMetrics;
  readonly #start: DeliveryStart;
  readonly #span: AttemptSpanScope;

  constructor(metrics: EvcoMetrics, start: DeliveryStart, span: AttemptSpanScope) {
    this.#metrics = metrics;
    this.#start = start;
    this.#span = span;
    this.metadata = span.metadata;
    this.logBindings = span.logBindings;
  }

  run<T>(fn: () => T): T {
    return this.#span.run(fn);
  }

  end(outcome: DeliveryOutcome): void {
    this.#metrics.delivered(this.#start, outcome);
    this.#span.end(outcome);
  }
}
