import type {
  DeliveryOutcome,
  DeliveryScope,
  DeliveryStart,
  Instrumentation,
  PublishOutcome,
  PublishScope,
} from '@evco/core';
import { type OptionsMatchSchema, parseOptions } from '@evco/core/adapter';
import {
  createNoopMeter,
  type Meter,
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

const hasMethods = <T extends object>(methods: string[]) =>
  z.custom<T>(
    (v) =>
      typeof v === 'object' &&
      v !== null &&
      methods.every((m) => typeof (v as Record<string, unknown>)[m] === 'function'),
    { message: `must implement ${methods.join(', ')}` },
  );

/** Every default, once: applied by the schema, documented on `OpenTelemetryOptions`. */
export const DEFAULTS = {
  traces: true,
  metrics: true,
  statsIntervalMs: 10_000,
} as const;

/**
 * Validates `OpenTelemetryOptions` and applies `DEFAULTS` (see core's options.ts for the
 * convention: the documented interface is what users hover, the schema is checked against it).
 * The providers and the propagator default to the global ones, read when they are used.
 */
export const openTelemetryOptionsSchema = z.strictObject({
  tracerProvider: hasMethods<TracerProvider>(['getTracer']).optional(),
  meterProvider: hasMethods<MeterProvider>(['getMeter']).optional(),
  propagator: hasMethods<TextMapPropagator>(['inject', 'extract']).optional(),
  traces: z.boolean().default(DEFAULTS.traces),
  metrics: z.boolean().default(DEFAULTS.metrics),
  statsIntervalMs: z.number().int().min(0).max(3_600_000).default(DEFAULTS.statsIntervalMs),
});

export interface OpenTelemetryOptions {
  /** Where spans go. @default the global tracer provider (`trace.setGlobalTracerProvider`, or the SDK's `register()`) */
  tracerProvider?: TracerProvider;
  /** Where metrics go. @default the global meter provider, read when the coordinator starts */
  meterProvider?: MeterProvider;
  /** Writes and reads `traceparent` / `tracestate` in event metadata. @default the global propagator (W3C trace context with the SDK) */
  propagator?: TextMapPropagator;
  /** Emit spans. @default true */
  traces?: boolean;
  /** Emit metrics. @default true */
  metrics?: boolean;
  /** The gauges read the store at most once per this many ms, however many scrapes ask. @default 10000 */
  statsIntervalMs?: number;
}
true satisfies OptionsMatchSchema<OpenTelemetryOptions, typeof openTelemetryOptionsSchema>;

/**
 * Traces, metrics and log correlation for one coordinator, through core's instrumentation hooks:
 * `createCoordinator({ ..., instrumentation: [createOpenTelemetryInstrumentation()] })`.
 * Needs only `@opentelemetry/api`; without an SDK registered every call is a no-op.
 */
export function createOpenTelemetryInstrumentation(options: OpenTelemetryOptions = {}): Instrumentation {
  const o = parseOptions(openTelemetryOptionsSchema, options, 'OpenTelemetry options', 'opentelemetry');
  const propagator = propagatorOf(o.propagator);
  const tracer =
    o.traces === false
      ? undefined
      : (o.tracerProvider ?? trace.getTracerProvider()).getTracer(SCOPE_NAME, SCOPE_VERSION);
  const statsIntervalMs = o.statsIntervalMs;
  let recorder: EvcoMetrics | undefined;

  const instrumentation: Instrumentation = {
    name: 'opentelemetry',
    start(coordinator) {
      if (!o.metrics) return;
      // Read here, not at construction: the global meter provider has no proxy, so an SDK
      // registered after this package was set up would otherwise never see a metric.
      if (!recorder) {
        const meter = (o.meterProvider ?? metrics.getMeterProvider()).getMeter(SCOPE_NAME, SCOPE_VERSION);
        // No SDK: every instrument would be a no-op, so keep no tallies and open no attempt scope
        // (the delivery path then costs what it costs without this package).
        if (isNoopMeter(meter)) return;
        recorder = new EvcoMetrics(meter, { statsIntervalMs });
      }
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

const NoopMeter = createNoopMeter().constructor;

/** The API's no-op meter: what `metrics.getMeterProvider()` hands out while no SDK is registered. */
function isNoopMeter(meter: Meter): boolean {
  return meter instanceof NoopMeter;
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
