import { createCoordinator, type EventDrivenCoordinator, type EventStore, silentLogger } from '@evco/core';
import { createInProcPublisher } from '@evco/publisher-inproc';
import { createMemoryStore } from '@evco/store-memory';
import { afterEach, describe, expect, it } from 'vitest';
import { ATTR, METRIC } from '../src/index.js';
import { createHarness, type Harness } from './harness.js';

let h: Harness;
const coordinators: EventDrivenCoordinator[] = [];

afterEach(async () => {
  for (const c of coordinators.splice(0)) await c.shutdown();
  await h?.shutdown();
});

async function coordinator(
  store: EventStore,
  options: Partial<Parameters<typeof createCoordinator>[0]> = {},
) {
  const c = await createCoordinator({
    store,
    publisher: createInProcPublisher(),
    logger: silentLogger,
    pollIntervalMs: 20,
    retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 2 },
    closeAdapters: false,
    ...options,
  });
  coordinators.push(c);
  return c;
}

const pair = (eventType: string, handler: string) => ({
  [ATTR.MESSAGING_DESTINATION_NAME]: eventType,
  [ATTR.MESSAGING_CONSUMER_GROUP_NAME]: handler,
});

describe('metrics', () => {
  it('counters equal what was published, handled, failed, retried, timed out and dead-lettered', async () => {
    h = createHarness();
    const c = await coordinator(createMemoryStore(), { instrumentation: [h.instrumentation] });
    // flaky: fails the first attempt of every even order; hopeless: always fails; slow: times out once.
    const attempts = new Map<string, number>();
    await c.registerHandler('OrderPlaced', async function flaky(e) {
      const n = (attempts.get(e.id) ?? 0) + 1;
      attempts.set(e.id, n);
      if (Number(e.aggregateId) % 2 === 0 && n === 1) throw new Error('blip');
    });
    await c.registerHandler('OrderPlaced', async function audit() {});
    await c.registerHandler('OrderCancelled', async function hopeless() {
      throw new Error('never');
    });
    let slowCalls = 0;
    await c.registerHandler(
      'OrderCancelled',
      (_e, ctx) =>
        slowCalls++ === 0
          ? new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()))
          : Promise.resolve(),
      { name: 'slow', timeoutMs: 30 },
    );
    for (let i = 0; i < 10; i++) await c.publishEvent({ eventType: 'OrderPlaced', aggregateId: String(i) });
    await c.publishEvents([{ eventType: 'OrderCancelled', aggregateId: '1' }]);
    await c.waitForIdle();

    expect(await h.count(METRIC.PUBLISHED, { [ATTR.MESSAGING_DESTINATION_NAME]: 'OrderPlaced' })).toBe(10);
    expect(await h.count(METRIC.PUBLISHED, { [ATTR.MESSAGING_DESTINATION_NAME]: 'OrderCancelled' })).toBe(1);
    expect(await h.count(METRIC.HANDLED, pair('OrderPlaced', 'flaky'))).toBe(10);
    expect(await h.count(METRIC.HANDLED, pair('OrderPlaced', 'audit'))).toBe(10);
    expect(await h.count(METRIC.FAILED, pair('OrderPlaced', 'flaky'))).toBe(5);
    expect(await h.count(METRIC.RETRIED, pair('OrderPlaced', 'flaky'))).toBe(5);
    expect(await h.count(METRIC.FAILED, pair('OrderCancelled', 'hopeless'))).toBe(3);
    expect(await h.count(METRIC.RETRIED, pair('OrderCancelled', 'hopeless'))).toBe(2);
    expect(await h.count(METRIC.DEAD_LETTERED, pair('OrderCancelled', 'hopeless'))).toBe(1);
    expect(await h.count(METRIC.TIMED_OUT, pair('OrderCancelled', 'slow'))).toBe(1);
    expect(await h.count(METRIC.HANDLED, pair('OrderCancelled', 'slow'))).toBe(1);

    // The same totals the coordinator counts itself.
    const m = c.metrics;
    expect(await h.count(METRIC.PUBLISHED)).toBe(m.published);
    expect(await h.count(METRIC.HANDLED)).toBe(m.handled);
    expect(await h.count(METRIC.FAILED)).toBe(m.failed);
    expect(await h.count(METRIC.RETRIED)).toBe(m.retried);
    expect(await h.count(METRIC.TIMED_OUT)).toBe(m.timedOut);
    expect(await h.count(METRIC.DEAD_LETTERED)).toBe(m.dead);

    // One duration per attempt, by outcome; one end-to-end latency per success.
    const durations = await h.metric(METRIC.HANDLER_DURATION);
    const countOf = (outcome: string, handler: string) =>
      durations
        .filter(
          (p) =>
            p.attributes[ATTR.OUTCOME] === outcome &&
            p.attributes[ATTR.MESSAGING_CONSUMER_GROUP_NAME] === handler,
        )
        .reduce((n, p) => n + (p.value as { count: number }).count, 0);
    expect(countOf('handled', 'flaky')).toBe(10);
    expect(countOf('retry', 'flaky')).toBe(5);
    expect(countOf('dead', 'hopeless')).toBe(1);
    const latency = (await h.metric(METRIC.END_TO_END_LATENCY)).reduce(
      (n, p) => n + (p.value as { count: number }).count,
      0,
    );
    expect(latency).toBe(m.handled);
  });

  it('gauges match getCoordinatorStatus(), per handler, across the fleet', async () => {
    h = createHarness();
    const store = createMemoryStore();
    const c = await coordinator(store, { instrumentation: [h.instrumentation] });
    // Handled elsewhere: a second coordinator registers it and stops, leaving a pending backlog.
    const other = await coordinator(store);
    await other.registerHandler('Invoice', async function bill() {}, { name: 'billing' });
    await other.shutdown();
    await c.registerHandler('Invoice', async function broken() {
      throw Object.assign(new Error('x'), { retryable: false });
    });
    for (let i = 0; i < 3; i++) await c.publishEvent({ eventType: 'Invoice', aggregateId: `i${i}` });
    await c.waitForIdle();

    const status = await c.getCoordinatorStatus();
    const observed = async (name: string) =>
      Object.fromEntries(
        (await h.metric(name)).map((p) => [p.attributes[ATTR.MESSAGING_CONSUMER_GROUP_NAME], p.value]),
      );
    const expected = (key: 'pending' | 'running' | 'dead') =>
      Object.fromEntries(status.handlers.map((x) => [x.name, x[key]]));
    expect(await observed(METRIC.PENDING)).toEqual(expected('pending'));
    expect(await observed(METRIC.RUNNING)).toEqual(expected('running'));
    expect(await observed(METRIC.DEAD)).toEqual(expected('dead'));
    expect(expected('pending')).toEqual({ billing: 3, broken: 0 });
    expect(expected('dead')).toEqual({ billing: 0, broken: 3 });
    const lag = await observed(METRIC.LAG);
    const lagMs = Object.fromEntries(status.handlers.map((x) => [x.name, x.lagMs]));
    expect(lag.broken).toBe(0);
    expect(lagMs.broken).toBe(0);
    // Read a moment apart: the same age within the time between the two reads.
    expect(Math.abs((lag.billing as number) * 1000 - lagMs.billing!)).toBeLessThan(1000);
    expect(lag.billing).toBeGreaterThan(0);
  });

  it('reads the store at most once per statsIntervalMs, however many scrapes', async () => {
    h = createHarness({ statsIntervalMs: 60_000 });
    const memory = createMemoryStore();
    let reads = 0;
    const store = new Proxy(memory, {
      get(target, key, receiver) {
        if (key === 'stats') {
          return (options: { now: Date }) => {
            reads += 1;
            return target.stats(options);
          };
        }
        const value = Reflect.get(target, key, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const c = await coordinator(store, { instrumentation: [h.instrumentation] });
    await c.registerHandler('Ping', async function pong() {});
    const before = reads;
    for (let i = 0; i < 5; i++) await h.metric(METRIC.PENDING);
    expect(reads - before).toBe(1);
    expect(
      (await h.metric(METRIC.PENDING)).map((p) => p.attributes[ATTR.MESSAGING_CONSUMER_GROUP_NAME]),
    ).toEqual(['pong']);
  });

  it('stops reading the store when the coordinator shuts down', async () => {
    h = createHarness();
    let reads = 0;
    const memory = createMemoryStore();
    const stats = memory.stats.bind(memory);
    memory.stats = (options) => {
      reads += 1;
      return stats(options);
    };
    const c = await coordinator(memory, { instrumentation: [h.instrumentation] });
    await c.registerHandler('Ping', async function pong() {});
    await h.metric(METRIC.PENDING);
    expect(reads).toBeGreaterThan(0);
    await c.shutdown();
    const after = reads;
    await h.metric(METRIC.PENDING);
    expect(reads).toBe(after);
  });
});
