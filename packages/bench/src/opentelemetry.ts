import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DomainEventInput, EventDrivenCoordinator, EventStore, Instrumentation } from '@evco/core';
import { createOpenTelemetryInstrumentation } from '@evco/opentelemetry';
import { createMemoryStore } from '@evco/store-memory';
import { createSqliteStore } from '@evco/store-sqlite';
import { context, propagation } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  InMemorySpanExporter,
  ParentBasedSampler,
  type Sampler,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace-base';
import { type BenchSection, type Comparison, compare, countingCoordinator, round } from './harness.js';

const BATCH = 100;
/** Rounds per contender (alternating; each keeps its best): short rounds on 2 shared cores are noisy. */
const ROUNDS = 5;

function inputs(n: number, offset: number): DomainEventInput[] {
  return Array.from({ length: n }, (_, i) => ({
    eventType: 'BenchTraced',
    aggregateId: `agg-${(offset + i) % 97}`,
    eventData: { n: offset + i },
  }));
}

async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setImmediate(r));
}

/** One round: a fresh coordinator, `total` events published in batches, all handled. */
function roundOn(makeStore: () => EventStore, total: number, instrumentation: () => Instrumentation[]) {
  let offset = 0;
  return async () => {
    const { coordinator, handled } = await countingCoordinator(
      makeStore(),
      { eventType: 'BenchTraced', name: 'traced', ordering: 'none' },
      { concurrency: 64, instrumentation: instrumentation() },
    );
    try {
      for (let b = 0; b < total; b += BATCH) await coordinator.publishEvents(inputs(BATCH, offset + b));
      offset += total;
      await until(() => handled() >= total);
    } finally {
      await (coordinator as EventDrivenCoordinator).shutdown();
    }
  };
}

let contextRegistered = false;

/**
 * An SDK as an application registers it: async context, W3C propagation, batched in-memory
 * exporters; every trace sampled unless a sampler is given.
 */
function sdk(sampler?: Sampler) {
  if (!contextRegistered) {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    contextRegistered = true;
  }
  const spans = new InMemorySpanExporter();
  // Batched, as in production: a span costs its creation, not an export call each.
  const tracerProvider = new BasicTracerProvider({
    ...(sampler ? { sampler } : {}),
    spanProcessors: [new BatchSpanProcessor(spans, { maxQueueSize: 65_536, maxExportBatchSize: 4096 })],
  });
  const reader = new PeriodicExportingMetricReader({
    exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE),
    exportIntervalMillis: 3_600_000,
  });
  const meterProvider = new MeterProvider({ readers: [reader] });
  return {
    instrumentation: () => {
      // Each round starts empty, as an exporter that ships its batches would.
      spans.reset();
      return [createOpenTelemetryInstrumentation({ tracerProvider, meterProvider })];
    },
    spans,
  };
}

const slower = (c: Comparison) => `${round((1 - c.ratio) * 100, 1)}%`;

/**
 * End to end (publish in batches of 100, one handler, all handled) without instrumentation and
 * with `@evco/opentelemetry`: first with only the API (no SDK registered: every call a no-op),
 * then with the SDK and in-memory exporters (a span per publish and per attempt, every metric).
 * The API case runs first: registering the SDK's async context manager is process-wide and
 * cannot be undone, so the SDK case's baseline runs with it too (its ratio leaves out the cost
 * async context adds to every promise; `vsFirstBaseline` puts it back, with more noise).
 */
export const opentelemetrySection: BenchSection = {
  name: 'opentelemetry',
  async run() {
    const dir = mkdtempSync(join(tmpdir(), 'evco-bench-otel-'));
    let files = 0;
    const stores = {
      memory: { total: 40_000, make: () => createMemoryStore() },
      sqlite: {
        total: 10_000,
        make: () => createSqliteStore({ filename: join(dir, `otel-${files++}.db`) }),
      },
    };
    const out: Array<Comparison | Record<string, unknown>> = [];
    try {
      const firstBaseline: Record<string, number> = {};
      for (const [name, s] of Object.entries(stores)) {
        const api = await compare(
          `${name}: no instrumentation vs @evco/opentelemetry with the API only (no SDK), ${s.total} events`,
          s.total,
          { name: 'no instrumentation', fn: roundOn(s.make, s.total, () => []) },
          {
            name: 'API only',
            fn: roundOn(s.make, s.total, () => [createOpenTelemetryInstrumentation()]),
          },
          { goal: '<= 3% slower (ratio >= 0.97)', rounds: ROUNDS },
        );
        firstBaseline[name] = api.baseline.opsPerSec;
        out.push({ ...api, slower: slower(api) });
      }
      const cases = [
        { label: 'the SDK and in-memory exporters', sdk: sdk(), goal: '<= 15% slower (ratio >= 0.85)' },
        {
          // Not a goal of its own: what sampling buys at high rates (unsampled spans cost next to nothing).
          label: 'the SDK sampling 10% of traces',
          sdk: sdk(new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(0.1) })),
          goal: undefined,
        },
      ];
      for (const c of cases) {
        for (const [name, s] of Object.entries(stores)) {
          const full = await compare(
            `${name}: no instrumentation vs @evco/opentelemetry with ${c.label}, ${s.total} events`,
            s.total,
            { name: 'no instrumentation', fn: roundOn(s.make, s.total, () => []) },
            { name: c.label, fn: roundOn(s.make, s.total, c.sdk.instrumentation) },
            { ...(c.goal ? { goal: c.goal } : {}), rounds: ROUNDS },
          );
          out.push({
            ...full,
            slower: slower(full),
            extra: {
              spansExportedLastRound: c.sdk.spans.getFinishedSpans().length,
              vsFirstBaseline: round(full.evco.opsPerSec / firstBaseline[name]!),
            },
          });
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    return out;
  },
};
