/**
 * The demo's OpenTelemetry setup, on its own so the HTTP layer can change around it: `main.ts`
 * creates it, hands `instrumentation` to the coordinator and mounts `GET /metrics`.
 *
 * - Always: metrics in Prometheus text format at `/metrics` (OpenTelemetry's Prometheus exporter
 *   as a reader of the same meter provider, served by the app rather than a second port), and
 *   trace context carried through events (so handler log lines have `trace_id`/`span_id`).
 * - With `OTEL_EXPORTER_OTLP_ENDPOINT`: traces and metrics also go over OTLP/HTTP, the exporters
 *   reading the standard `OTEL_EXPORTER_OTLP_*` variables; `OTEL_SERVICE_NAME` names the service.
 */
import type { Instrumentation } from '@evco/core';
import { createOpenTelemetryInstrumentation } from '@evco/opentelemetry';
import { metrics } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider, type MetricReader, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { BatchSpanProcessor, NodeTracerProvider, type SpanProcessor } from '@opentelemetry/sdk-trace-node';
import type { FastifyInstance } from 'fastify';

export interface DemoTelemetry {
  instrumentation: Instrumentation;
  /** Whether traces and metrics are exported over OTLP. */
  otlp: boolean;
  serviceName: string;
  /** Adds `GET /metrics` and flushes the exporters when the app closes. */
  mount(app: FastifyInstance): void;
  shutdown(): Promise<void>;
}

export interface TelemetryOptions {
  /** Extra span processors (tests: an in-memory exporter). */
  spanProcessors?: SpanProcessor[];
  /** Extra metric readers (tests). */
  metricReaders?: MetricReader[];
  /** How often the gauges read the store. @default 10000 */
  statsIntervalMs?: number;
}

export async function createDemoTelemetry(
  env: Record<string, string | undefined>,
  options: TelemetryOptions = {},
): Promise<DemoTelemetry> {
  const serviceName = env.OTEL_SERVICE_NAME?.trim() || 'evco-demo';
  const otlp = Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim());
  const resource = resourceFromAttributes({ 'service.name': serviceName });
  const prometheus = new PrometheusExporter({ preventServerStart: true });
  const readers: MetricReader[] = [prometheus, ...(options.metricReaders ?? [])];
  const spanProcessors = [...(options.spanProcessors ?? [])];
  if (otlp) {
    // Loaded only when used: the OTLP exporters (and their protobuf code) cost start-up time.
    const [{ OTLPMetricExporter }, { OTLPTraceExporter }] = await Promise.all([
      import('@opentelemetry/exporter-metrics-otlp-http'),
      import('@opentelemetry/exporter-trace-otlp-http'),
    ]);
    readers.push(new PeriodicExportingMetricReader({ exporter: new OTLPMetricExporter() }));
    spanProcessors.push(new BatchSpanProcessor(new OTLPTraceExporter()));
  }
  const meterProvider = new MeterProvider({ resource, readers });
  const tracerProvider = new NodeTracerProvider({ resource, spanProcessors });
  // Async context (AsyncLocalStorage) and the W3C propagator, globally: what carries a handler's
  // span into its follow-ups and the trace into other processes.
  tracerProvider.register();
  metrics.setGlobalMeterProvider(meterProvider);
  const instrumentation = createOpenTelemetryInstrumentation({
    tracerProvider,
    meterProvider,
    statsIntervalMs: options.statsIntervalMs ?? 10_000,
  });
  let stopped: Promise<void> | undefined;
  const shutdown = () => {
    stopped ??= Promise.all([tracerProvider.shutdown(), meterProvider.shutdown()]).then(() => undefined);
    return stopped;
  };
  return {
    instrumentation,
    otlp,
    serviceName,
    shutdown,
    mount(app) {
      app.get('/metrics', { schema: { hide: true } }, (request, reply) => {
        // The exporter writes the Prometheus text exposition itself.
        reply.hijack();
        prometheus.getMetricsRequestHandler(request.raw, reply.raw);
      });
      app.addHook('onClose', async () => {
        await shutdown();
      });
    },
  };
}
