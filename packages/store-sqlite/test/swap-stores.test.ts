/**
 * Swapping stores in tests is one line: this file's scenario runs unchanged against the memory
 * store and a SQLite file; only the factory differs. Copy the pattern into your own tests.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCoordinator, type EventStore, type RecordedEvent, silentLogger } from '@evco/core';
import { createInProcPublisher } from '@evco/publisher-inproc';
import { createMemoryStore } from '@evco/store-memory';
import { afterAll, describe, expect, it } from 'vitest';
import { createSqliteStore } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'evco-swap-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const factories: Array<[string, () => EventStore]> = [
  ['store-memory', () => createMemoryStore()],
  [
    'store-sqlite',
    () => createSqliteStore({ filename: join(dir, `${Math.random().toString(36).slice(2)}.db`) }),
  ],
];

describe.each(factories)('the same order scenario on %s', (_name, createStore) => {
  it('publishes, handles in order with a retry, lists history, replays and drains', async () => {
    const coordinator = await createCoordinator({
      store: createStore(),
      publisher: createInProcPublisher(),
      logger: silentLogger,
      retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 2 },
    });
    const seen: Array<{ step: unknown; attempt: number; replay: boolean }> = [];
    await coordinator.registerHandler(
      'OrderStepped',
      async (event: RecordedEvent, ctx) => {
        if (event.eventData.step === 2 && ctx.attempt === 1) throw new Error('transient');
        seen.push({ step: event.eventData.step, attempt: ctx.attempt, replay: ctx.isReplay });
      },
      { name: 'orders.track' },
    );
    const at = Date.parse('2026-03-01T00:00:00Z');
    await coordinator.publishEvents(
      [1, 2, 3].map((step) => ({
        eventType: 'OrderStepped',
        aggregateId: 'order-1',
        eventData: { step },
        occurredAt: new Date(at + step),
      })),
    );
    await coordinator.waitForIdle();
    expect(seen).toEqual([
      { step: 1, attempt: 1, replay: false },
      { step: 2, attempt: 2, replay: false },
      { step: 3, attempt: 1, replay: false },
    ]);
    expect(
      (await coordinator.getEventHistory({ aggregateId: 'order-1', order: 'desc', limit: 2 })).map(
        (e) => e.eventData.step,
      ),
    ).toEqual([3, 2]);
    expect(await coordinator.replayEvents({ from: new Date(at + 3), to: new Date(at + 4) })).toMatchObject({
      events: 1,
    });
    await coordinator.waitForIdle();
    expect(seen.at(-1)).toEqual({ step: 3, attempt: 1, replay: true });
    expect(await coordinator.getUnprocessedEvents()).toEqual([]);
    await coordinator.shutdown();
  });
});
