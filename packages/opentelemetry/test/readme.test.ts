import { readFileSync } from 'node:fs';
import { createConsoleLogger, createCoordinator, silentLogger } from '@evco/core';
import { createInProcPublisher } from '@evco/publisher-inproc';
import { createMemoryStore } from '@evco/store-memory';
import { describe, expect, it } from 'vitest';
import { ATTR, LOG_KEYS, METRIC } from '../src/index.js';
import { createHarness } from './harness.js';

const README = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

/** The backticked first column of the table that follows `heading` in the README. */
function tableNames(heading: string): string[] {
  const start = README.indexOf(heading);
  expect(start, `README has "${heading}"`).toBeGreaterThanOrEqual(0);
  const names: string[] = [];
  let inTable = false;
  for (const line of README.slice(start).split('\n').slice(1)) {
    if (line.startsWith('|')) {
      inTable = true;
      const name = /^\| `([^`]+)`/.exec(line)?.[1];
      if (name) names.push(name);
    } else if (inTable) {
      break;
    }
  }
  return names.sort();
}

const sorted = (values: Iterable<string>) => [...new Set(values)].sort();

describe('the README lists exactly what is emitted', () => {
  it('span names, span attributes, metric names and log keys', async () => {
    const h = createHarness();
    const lines: Array<Record<string, unknown>> = [];
    const c = await createCoordinator({
      store: createMemoryStore(),
      publisher: createInProcPublisher(),
      logger: createConsoleLogger({ level: 'info', write: (l) => lines.push(JSON.parse(l)) }),
      pollIntervalMs: 20,
      retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 2 },
      instrumentation: [h.instrumentation],
    });
    // Every path: a follow-up, a retry then success, a timeout into a dead letter, a replay.
    let first = true;
    await c.registerHandler('Registered', async function welcome(e, ctx) {
      ctx.logger.info('welcoming');
      if (first) {
        first = false;
        throw new Error('retry me');
      }
      await ctx.publish({ eventType: 'Welcomed', aggregateId: e.aggregateId, aggregateType: 'User' });
    });
    await c.registerHandler(
      'Welcomed',
      (_e, ctx) => new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve())),
      { name: 'hang', timeoutMs: 20, retry: { maxAttempts: 1 } },
    );
    const from = new Date(Date.now() - 60_000);
    await c.publishEvent({ eventType: 'Registered', aggregateId: 'u1', aggregateType: 'User' });
    await c.waitForIdle();
    // A batch of several types: one `publish` span for all of it.
    await c.publishEvents([
      { eventType: 'Audited', aggregateId: 'a1' },
      { eventType: 'Noted', aggregateId: 'n1' },
    ]);
    await c.replayEvents({ from, to: new Date(Date.now() + 60_000), eventType: 'Registered' });
    await c.waitForIdle();

    const spans = h.spans();
    expect(sorted(spans.map((s) => s.name.replace(/ .*$/, ' {eventType}')))).toEqual(tableNames('| span |'));
    const attributes = sorted(spans.flatMap((s) => Object.keys(s.attributes)));
    expect(attributes).toEqual(tableNames('| attribute |'));
    expect(sorted(Object.values(ATTR))).toEqual(attributes);

    const metrics = sorted(await h.metricNames());
    expect(metrics).toEqual(tableNames('| metric |'));
    expect(sorted(Object.values(METRIC))).toEqual(metrics);

    const welcoming = lines.find((l) => l.msg === 'welcoming')!;
    const logKeys = Object.keys(welcoming).filter((k) => (Object.values(LOG_KEYS) as string[]).includes(k));
    expect(sorted(logKeys)).toEqual(tableNames('| key |'));
    expect(sorted(Object.values(LOG_KEYS))).toEqual(sorted(logKeys));
    await c.shutdown();
    await h.shutdown();
  });

  it('the README example runs (no SDK: a no-op)', async () => {
    const { createOpenTelemetryInstrumentation } = await import('../src/index.js');
    const c = await createCoordinator({
      store: createMemoryStore(),
      publisher: createInProcPublisher(),
      logger: silentLogger,
      instrumentation: [createOpenTelemetryInstrumentation({ statsIntervalMs: 15_000 })],
    });
    const seen: string[] = [];
    await c.registerHandler('UserRegistered', async function activateTrial(event, ctx) {
      await ctx.publish({ eventType: 'SubscriptionActivated', aggregateId: event.aggregateId });
      seen.push(event.eventType);
    });
    await c.publishEvent({ eventType: 'UserRegistered', aggregateId: 'user-1' });
    await c.waitForIdle();
    expect(seen).toEqual(['UserRegistered']);
    expect(await c.getEventHistory({ eventType: 'SubscriptionActivated' })).toHaveLength(1);
    await c.shutdown();
  });
});
