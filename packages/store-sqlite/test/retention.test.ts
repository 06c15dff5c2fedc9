import { createCoordinator, type EventDrivenCoordinator, type RecordedEvent, silentLogger } from '@evco/core';
import { createInProcPublisher } from '@evco/publisher-inproc';
import { makeEvent, pruneAll, waitFor } from '@evco/testkit';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { useTempStores } from './store-fixture.js';

const T0 = new Date('2026-01-01T00:00:00.000Z');
const at = (ms: number) => new Date(T0.getTime() + ms);
const DAY = 86_400_000;

const { tmp, open } = useTempStores();

/** Page counts of the file, read on a connection of its own. */
function pages(file: string): { pageCount: number; freelist: number; autoVacuum: number } {
  const db = new Database(file, { readonly: true });
  try {
    return {
      pageCount: Number(db.pragma('page_count', { simple: true })),
      freelist: Number(db.pragma('freelist_count', { simple: true })),
      autoVacuum: Number(db.pragma('auto_vacuum', { simple: true })),
    };
  } finally {
    db.close();
  }
}

function count(file: string, table: string): number {
  const db = new Database(file, { readonly: true });
  try {
    return Number((db.prepare(`SELECT count(*) AS n FROM "evco_${table}"`).get() as { n: number }).n);
  } finally {
    db.close();
  }
}

/** Old events with a 2 KiB payload each, every delivery of handler `h` done. */
async function fill(store: ReturnType<typeof open>, n: number): Promise<void> {
  await store.registerSubscriptions([{ handler: 'h', eventType: 'TestHappened', ordering: 'none' }], {
    consumerId: 'c',
    now: T0,
    ttlMs: DAY,
  });
  for (let i = 0; i < n; i += 200) {
    await store.append(
      Array.from({ length: 200 }, () =>
        makeEvent({ occurredAt: at(0), eventData: { blob: 'x'.repeat(2048) } }),
      ),
      { now: T0 },
    );
  }
  for (;;) {
    const claimed = await store.claimDue({
      consumerId: 'c',
      handlers: ['h'],
      now: T0,
      leaseMs: 60_000,
      limit: 500,
    });
    if (claimed.length === 0) break;
    await store.complete(claimed, { now: T0 });
  }
}

describe('space and done deliveries', () => {
  it('creates new files with incremental auto-vacuum: a prune gives the space back, done deliveries go with their events', async () => {
    const file = tmp.file();
    const store = open({ filename: file });
    await fill(store, 1000);
    expect(count(file, 'deliveries')).toBe(1000);
    const before = pages(file);
    expect(before.autoVacuum).toBe(2);
    expect(await pruneAll(store, { before: at(DAY), limit: 250 })).toBe(1000);
    expect(count(file, 'deliveries')).toBe(0);
    expect(count(file, 'events')).toBe(0);
    const after = pages(file);
    // ~2 MiB of payload went; most of it is handed back, a batch's worth at a time.
    expect(after.pageCount).toBeLessThan(before.pageCount / 2);
    expect(after.freelist).toBeLessThan(before.pageCount / 4);
  });

  it('an older file (auto-vacuum off) keeps its free pages until enableIncrementalVacuum() rebuilds it once', async () => {
    const file = tmp.file();
    // A table created first: SQLite fixes auto_vacuum with the first table.
    const db = new Database(file);
    db.exec('CREATE TABLE app_things (id INTEGER PRIMARY KEY)');
    db.close();
    const store = open({ filename: file });
    await fill(store, 600);
    expect(pages(file).autoVacuum).toBe(0);
    expect(await pruneAll(store, { before: at(DAY), limit: 200 })).toBe(600);
    const kept = pages(file);
    expect(kept.freelist).toBeGreaterThan(kept.pageCount / 2);
    expect(await store.enableIncrementalVacuum()).toBe(true);
    const rebuilt = pages(file);
    expect(rebuilt.autoVacuum).toBe(2);
    expect(rebuilt.pageCount).toBeLessThan(kept.pageCount / 2);
    expect(await store.enableIncrementalVacuum()).toBe(false);
    // The store carries on after the rebuild.
    await store.append([makeEvent()], { now: at(1) });
    expect((await store.read({ limit: 10 })).length).toBe(1);
  });
});

describe('retention enforced by two coordinators on one file', () => {
  const coordinators: EventDrivenCoordinator[] = [];
  afterEach(async () => {
    await Promise.all(coordinators.splice(0).map((c) => c.shutdown()));
  });

  it('each old handled event is archived and removed once; a dead letter stays until its handler is retired', async () => {
    const file = tmp.file();
    const archived: string[] = [];
    const archive = async (batch: readonly RecordedEvent[]) => {
      await new Promise((r) => setTimeout(r, 2));
      archived.push(...batch.map((e) => e.id));
    };
    const retention = { maxAge: DAY, intervalMs: 100, batchSize: 9, archive };
    for (let i = 0; i < 2; i++) {
      coordinators.push(
        await createCoordinator({
          store: open({ filename: file }),
          publisher: createInProcPublisher(),
          logger: silentLogger,
          pollIntervalMs: 20,
          retention,
        }),
      );
    }
    const [a, b] = coordinators as [EventDrivenCoordinator, EventDrivenCoordinator];
    await a.registerHandler('TestHappened', async () => {}, { name: 'h' });
    await b.registerHandler(
      'Poison',
      async () => {
        throw Object.assign(new Error('never'), { retryable: false });
      },
      { name: 'poison' },
    );
    const old = Array.from({ length: 50 }, (_, i) => makeEvent({ occurredAt: at(i) }));
    const poison = makeEvent({ eventType: 'Poison', occurredAt: at(0) });
    const recent = makeEvent({ occurredAt: new Date() });
    await a.publishEvents([...old, poison, recent]);
    await waitFor(() => archived.length >= 50, { timeoutMs: 20_000 });
    expect(archived.length).toBe(50);
    expect(new Set(archived).size).toBe(50);
    expect((await b.getEventHistory({})).map((e) => e.id).sort()).toEqual([poison.id, recent.id].sort());
    await b.retireHandler('poison');
    await waitFor(async () => (await a.getEventHistory({})).length === 1, { timeoutMs: 20_000 });
    const history = await a.readEventHistory({});
    expect(history.events.map((e) => e.id)).toEqual([recent.id]);
    expect(history.pruned.map((p) => [p.eventType, p.removed])).toEqual([
      ['Poison', 1],
      ['TestHappened', 50],
    ]);
  });
});
