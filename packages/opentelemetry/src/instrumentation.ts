import type { Instrumentation, PublishOutcome, PublishScope } from '@evco/core';
import { type OptionsMatchSchema, parseOptions } from '@evco/core/adapter';
import {
  createNoopMeter,
  type Meter,
  type MeterProvider,
  metrics,
  ProxyTracerProvider,
  type TextMapPropagator,
  type Tracer,
  type TracerProvider,
  trace,
} from '@opentelemetry/api';
import { z } from 'zod';
import manifest from '../package.json' with { type: 'json' };
import { AttemptTracer, MeteredAttempt } from './attempt.js';
import { propagatorOf } from './carrier.js';
import { EvcoMetrics } from './metrics.js';
import { ParentContexts } from './parents.js';
import { EventPublishScope } from './tracing.js';

const SCOPE_NAME = '@evco/opentelemetry';
/** This package's version (the build inlines the manifest), so a release needs no code change. */
const SCOPE_VERSION: string = manifest.version;

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
  tracerProvider?: TracerProvider | undefined;
  /** Where metrics go. @default the global meter provider, read when the coordinator starts */
  meterProvider?: MeterProvider | undefined;
  /** Writes and reads `traceparent` / `tracestate` in event metadata. @default the global propagator (W3C trace context with the SDK) */
  propagator?: TextMapPropagator | undefined;
  /** Emit spans. @default true */
  traces?: boolean | undefined;
  /** Emit metrics. @default true */
  metrics?: boolean | undefined;
  /** The gauges read the store at most once per this many ms, however many scrapes ask. @default 10000 */
  statsIntervalMs?: number | undefined;
}
true satisfies OptionsMatchSchema<OpenTelemetryOptions, typeof openTelemetryOptionsSchema>;

/** How often a coordinator started without an SDK's meter provider looks for one again. */
const METER_RECHECK_MS = 1_000;

/**
 * Traces, metrics and log correlation for one coordinator, through core's instrumentation hooks:
 * `createCoordinator({ ..., instrumentation: [createOpenTelemetryInstrumentation()] })`.
 * Needs only `@opentelemetry/api`.
 *
 * Without an SDK nothing is done per event: while the tracer provider is the API's no-op one
 * (the global one with no SDK registered) no span is started, and while the meter is a no-op no
 * tally is kept, so the publish and attempt hooks return nothing and core runs them as without
 * instrumentation. An SDK registered later is picked up: the global tracer provider on the next
 * publish or attempt, the global meter provider within a second (the metrics API has no proxy, so
 * it is looked up again on a timer while the coordinator runs; what happened before is not counted).
 */
export function createOpenTelemetryInstrumentation(options: OpenTelemetryOptions = {}): Instrumentation {
  const o = parseOptions(openTelemetryOptionsSchema, options, 'OpenTelemetry options', 'opentelemetry');
  const propagator = propagatorOf(o.propagator);
  const tracers = o.traces ? new TracerSource(o.tracerProvider ?? trace.getTracerProvider()) : undefined;
  const parents = new ParentContexts(propagator);
  const attempts = new AttemptTracer(propagator, parents);
  const statsIntervalMs = o.statsIntervalMs;
  let recorder: EvcoMetrics | undefined;
  let recheck: ReturnType<typeof setInterval> | undefined;

  /** The SDK's meter, or `undefined` while the provider hands out the API's no-op meter. */
  const recordingMeter = (): Meter | undefined => {
    const meter = (o.meterProvider ?? metrics.getMeterProvider()).getMeter(SCOPE_NAME, SCOPE_VERSION);
    return isNoopMeter(meter) ? undefined : meter;
  };

  const instrumentation: Instrumentation = {
    name: 'opentelemetry',
    start(coordinator) {
      if (!o.metrics) return;
      // Read here, not at construction: the global meter provider has no proxy, so an SDK
      // registered after this package was set up would otherwise never see a metric.
      if (!recorder) {
        const meter = recordingMeter();
        if (meter) recorder = new EvcoMetrics(meter, { statsIntervalMs });
      }
      if (recorder) {
        recorder.attach(coordinator);
        return;
      }
      // No SDK yet: keep no tallies (the attempt path then costs what it costs without this
      // package), and look again now and then for a global provider registered later.
      if (o.meterProvider) return;
      clearInterval(recheck);
      recheck = setInterval(() => {
        const meter = recordingMeter();
        if (!meter) return;
        clearInterval(recheck);
        recheck = undefined;
        recorder = new EvcoMetrics(meter, { statsIntervalMs });
        recorder.attach(coordinator);
      }, METER_RECHECK_MS);
      recheck.unref();
    },
    stop() {
      clearInterval(recheck);
      recheck = undefined;
      recorder?.detach();
    },
    publish(start) {
      const tracer = tracers?.current();
      const scope = tracer ? new EventPublishScope(tracer, propagator, parents, start) : undefined;
      return recorder ? new MeteredPublish(recorder, scope) : scope;
    },
    delivery(start) {
      const tracer = tracers?.current();
      if (tracer) return attempts.open(tracer, start, recorder);
      return recorder ? new MeteredAttempt(recorder, start) : undefined;
    },
    replay(info) {
      recorder?.replayed(info.deliveries);
    },
  };
  return instrumentation;
}

const NoopMeter = createNoopMeter().constructor;
/** The API's no-op tracer provider: what the global proxy delegates to while no SDK is registered. */
const NoopTracerProvider = new ProxyTracerProvider().getDelegate().constructor;

/** The API's no-op meter: what `metrics.getMeterProvider()` hands out while no SDK is registered. */
function isNoopMeter(meter: Meter): boolean {
  return meter instanceof NoopMeter;
}

/** A tracer provider that can still get an SDK: the API's global proxy. */
interface DelegatingTracerProvider extends TracerProvider {
  getDelegateTracer(name: string, version?: string): Tracer | undefined;
}

function isDelegating(provider: TracerProvider): provider is DelegatingTracerProvider {
  return typeof (provider as Partial<DelegatingTracerProvider>).getDelegateTracer === 'function';
}

/**
 * The tracer to use now, or `undefined` while the provider is the API's no-op one. The global
 * provider is a proxy: while it has no SDK behind it each call asks it again (one property read),
 * and once it has one its tracer is kept.
 */
class TracerSource {
  #tracer: Tracer | undefined;
  #proxy: DelegatingTracerProvider | undefined;

  constructor(provider: TracerProvider) {
    if (isDelegating(provider)) this.#proxy = provider;
    else if (!(provider instanceof NoopTracerProvider))
      this.#tracer = provider.getTracer(SCOPE_NAME, SCOPE_VERSION);
  }

  current(): Tracer | undefined {
    if (this.#tracer || !this.#proxy) return this.#tracer;
    this.#tracer = this.#proxy.getDelegateTracer(SCOPE_NAME, SCOPE_VERSION);
    if (this.#tracer) this.#proxy = undefined;
    return this.#tracer;
  }
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
