import { type Instrumentation, parseOptions } from '@evco/core';
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
import { deliveryScope, publishScope } from './tracing.js';

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
      if (!tracer && !recorder) return undefined;
      const scope = tracer ? publishScope(tracer, propagator, start) : undefined;
      const m = recorder;
      if (!m) return scope;
      return {
        metadata: scope?.metadata,
        end(outcome) {
          if (outcome.events) m.published(outcome.events);
          scope?.end(outcome);
        },
      };
    },
    delivery(start) {
      const m = recorder;
      if (!tracer) {
        return m ? { end: (outcome) => m.delivered(start, outcome) } : undefined;
      }
      const scope = deliveryScope(tracer, propagator, start);
      if (!m) return scope;
      const endSpan = scope.end;
      return {
        run: scope.run,
        metadata: scope.metadata,
        logBindings: scope.logBindings,
        end(outcome) {
          m.delivered(start, outcome);
          endSpan(outcome);
        },
      };
    },
    replay(info) {
      recorder?.replayed(info.deliveries);
    },
  };
  return instrumentation;
}
