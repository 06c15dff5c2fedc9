import {
  createCoordinator,
  createDomainEvent,
  type RecordedEvent,
  recordEvent,
  silentLogger,
} from '@evco/core';
import { createInProcPublisher } from '@evco/publisher-inproc';
import { createMemoryStore } from '@evco/store-memory';
import { metrics, trace } from '@opentelemetry/api';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createOpenTelemetryInstrumentation, METRIC } from '../src/index.js';
import { createHarness, type Harness } from './harness.js';

// These tests register the SDK globally, so they live in a file of their own and unregister it.
let h: Harness | undefined;

afterEach(async () => {
  vi.useRealTimers();
  trace.disable();
  metrics.disable();
  await h?.shutdown();
  h = undefined;
});

const view = {
  id: 'c1',
  storeName: 'memory',
  stats: async () => ({ handlers: [] }) as never,
  handlerNames: () => [],
};

const attempt = (event: RecordedEvent) => ({
  event,
  handler: 'count',
  deliveryId: 'd1',
  attempt: 1,
  maxAttempts: 3,
  isReplay: false,
  consumerId: 'c1',
});

describe('global providers registered after the instrumentation was made', () => {
  it('traces: no span while the global tracer provider is a no-op, spans from the next publish on', async () => {
    h = createHarness();
    const instrumentation = createOpenTelemetryInstrumentation({ metrics: false });
    const c = await createCoordinator({
      store: createMemoryStore(),
      publisher: createInProcPublisher(),
      logger: silentLogger,
      instrumentation: [instrumentation],
    });
    await c.registerHandler('Late', async function count() {});
    await c.publishEvent({ eventType: 'Late', aggregateId: 'before' });
    await c.waitForIdle();
    expect(h.spans()).toEqual([]);

    expect(trace.setGlobalTracerProvider(h.tracerProvider)).toBe(true);
    await c.publishEvent({ eventType: 'Late', aggregateId: 'after' });
    await c.waitForIdle();
    expect(h.spans().map((s) => s.name)).toEqual(['publish Late', 'process Late']);
    const history = await c.getEventHistory({ eventType: 'Late' });
    expect(history.map((e) => [e.aggregateId, typeof e.metadata.traceparent])).toEqual([
      ['before', 'undefined'],
      ['after', 'string'],
    ]);
    await c.shutdown();
  });

  it('metrics: no tallies while the global meter provider is a no-op, counted within a second of one being registered', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    h = createHarness();
    const instrumentation = createOpenTelemetryInstrumentation({ traces: false });
    instrumentation.start?.(view);
    const event = recordEvent(createDomainEvent({ eventType: 'Late', aggregateId: 'a' }), 1, new Date());
    expect(instrumentation.delivery?.(attempt(event))).toBeUndefined();

    expect(metrics.setGlobalMeterProvider(h.meterProvider)).toBe(true);
    // Not yet looked up again: still nothing per attempt.
    expect(instrumentation.delivery?.(attempt(event))).toBeUndefined();
    vi.advanceTimersByTime(1_000);
    const scope = instrumentation.delivery?.(attempt(event));
    expect(scope).toBeDefined();
    scope!.end({ status: 'handled', durationMs: 1 });
    expect(await h.count(METRIC.HANDLED)).toBe(1);
    instrumentation.stop?.();
  });

  it('stops looking for a meter provider when the coordinator stops', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    h = createHarness();
    const instrumentation = createOpenTelemetryInstrumentation({ traces: false });
    const before = vi.getTimerCount(); // the SDK's periodic metric reader
    instrumentation.start?.(view);
    expect(vi.getTimerCount()).toBe(before + 1);
    instrumentation.stop?.();
    expect(vi.getTimerCount()).toBe(before);
  });
});
