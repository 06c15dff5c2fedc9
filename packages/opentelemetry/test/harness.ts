import { context, propagation } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  AggregationTemporality,
  type DataPoint,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { createOpenTelemetryInstrumentation, type OpenTelemetryOptions } from '../src/index.js';

let installed = false;

/** The global pieces an application's SDK setup registers: async context and W3C propagation. */
export function installGlobals(): void {
  if (installed) return;
  installed = true;
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
}

/** An SDK with in-memory exporters, and the instrumentation wired to it. */
export function createHarness(options: OpenTelemetryOptions = {}) {
  installGlobals();
  const spanExporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spanExporter)] });
  const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({
    exporter: metricExporter,
    exportIntervalMillis: 3_600_000,
  });
  const meterProvider = new MeterProvider({ readers: [reader] });
  const instrumentation = createOpenTelemetryInstrumentation({
    tracerProvider,
    meterProvider,
    statsIntervalMs: 0,
    ...options,
  });

  /** Exports now (cumulative: everything so far) through the in-memory exporter. */
  async function collect() {
    await reader.forceFlush();
    const batches = metricExporter.getMetrics();
    metricExporter.reset();
    return batches[batches.length - 1] ?? { scopeMetrics: [] };
  }

  /** Collects now and returns every data point of `name`, with its attributes. */
  async function metric(name: string): Promise<Array<DataPoint<unknown>>> {
    const resourceMetrics = await collect();
    for (const scope of resourceMetrics.scopeMetrics) {
      for (const m of scope.metrics)
        if (m.descriptor.name === name) return m.dataPoints as Array<DataPoint<unknown>>;
    }
    return [];
  }

  /** Every metric name with data, collected now. */
  async function metricNames(): Promise<string[]> {
    const resourceMetrics = await collect();
    return resourceMetrics.scopeMetrics.flatMap((s) =>
      s.metrics.filter((m) => m.dataPoints.length > 0).map((m) => m.descriptor.name),
    );
  }

  /** Sum of a counter's points whose attributes include `where`. */
  async function count(name: string, where: Record<string, string> = {}): Promise<number> {
    return (await metric(name))
      .filter((p) => Object.entries(where).every(([k, v]) => p.attributes[k] === v))
      .reduce((sum, p) => sum + (p.value as number), 0);
  }

  return {
    instrumentation,
    tracerProvider,
    meterProvider,
    spanExporter,
    metricExporter,
    metric,
    metricNames,
    count,
    spans: (): ReadableSpan[] => spanExporter.getFinishedSpans(),
    async shutdown() {
      await tracerProvider.shutdown();
      await meterProvider.shutdown();
    },
  };
}

export type Harness = ReturnType<typeof createHarness>;

/** The span's parent span id (SDK 2 moved it into `parentSpanContext`). */
export function parentOf(span: ReadableSpan): string | undefined {
  return span.parentSpanContext?.spanId;
}

/** `traceparent` → span id. */
export function spanIdOf(traceparent: unknown): string | undefined {
  return typeof traceparent === 'string' ? traceparent.split('-')[2] : undefined;
}
