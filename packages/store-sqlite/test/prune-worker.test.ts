import { isEvcoError } from '@evco/core';
import { makeEvent } from '@evco/testkit';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { createSqliteStore, type SqliteStore } from '../src/index.js';
import { type PruneWorkerHooks, pruneWorkerHooks } from '../src/prune-thread.js';
import { failure, useTempStores } from './store-fixture.js';

const T0 = new Date('2026-01-01T00:00:00.000Z');
const LATER = new Date('2026-02-01T00:00:00.000Z');
const PRUNE_LOCK = 'evco:prune-batch';

const { tmp, open } = useTempStores();

function hooks(store: SqliteStore): PruneWorkerHooks {
  const h = (store as unknown as Record<symbol, PruneWorkerHooks | undefined>)[pruneWorkerHooks];
  if (!h) throw new Error('the store has no prune worker');
  return h;
}

/** Events in the file, counted on a connection of its own. */
function events(file: string): number {
  const db = new Database(file, { readonly: true });
  try {
    return Number((db.prepare('SELECT count(*) AS n FROM evco_event_keys').get() as { n: number }).n);
  } finally {
    db.close();
  }
}

/** `n` old events without deliveries (every one prunable), appended in batches. */
async function fill(store: SqliteStore, n: number): Promise<void> {
  for (let i = 0; i < n; i += 1000) {
    const size = Math.min(1000, n - i);
    await store.append(
      Array.from({ length: size }, () => makeEvent({ occurredAt: T0 })),
      { now: T0 },
    );
  }
}

/** Batches of `limit` until none is left, as core's retention loop calls them. */
async function pruneAll(store: SqliteStore, limit: number): Promise<number> {
  let removed = 0;
  let after: { occurredAt: Date; position: string } | undefined;
  for (;;) {
    const batch = await store.pruneEvents!({ before: LATER, limit, now: LATER, after });
    removed += batch.removed;
    if (batch.next === null) return removed;
    after = batch.next;
  }
}

describe('store-sqlite prunes in a worker thread', () => {
  it('a store of a file by name prunes in its worker by default; inline, :memory: and a passed database have none', async () => {
    const store = open({ filename: tmp.file() });
    await fill(store, 300);
    expect(hooks(store).running()).toBe(false);
    expect(await pruneAll(store, 100)).toBe(300);
    expect(hooks(store).running()).toBe(true);
    expect(events(tmp.file())).toBe(0);
    expect(await store.getPrunedRanges!()).toEqual([
      expect.objectContaining({ eventType: 'TestHappened', removed: 300 }),
    ]);

    const inline = open({ filename: tmp.file('inline.db'), pruneThread: 'inline' });
    const memory = open({ filename: ':memory:' });
    const db = new Database(tmp.file('passed.db'));
    const passed = open({ database: db });
    for (const s of [inline, memory, passed]) {
      await fill(s, 10);
      expect((await s.pruneEvents!({ before: LATER, limit: 100, now: LATER })).removed).toBe(10);
      expect((s as unknown as Record<symbol, unknown>)[pruneWorkerHooks]).toBeUndefined();
    }
    db.close();
  });

  it("refuses pruneThread: 'worker' without a file opened by name, before any I/O", () => {
    for (const options of [
      { filename: ':memory:', pruneThread: 'worker' as const },
      { filename: 'sqlite::memory:', pruneThread: 'worker' as const },
    ]) {
      let error: unknown;
      try {
        createSqliteStore(options);
      } catch (e) {
        error = e;
      }
      expect(isEvcoError(error, 'INVALID_OPTIONS')).toBe(true);
      expect(String(error)).toMatch(/pruneThread.*needs a file the store opens by name/);
    }
  });

  it("the application's thread goes on while the worker removes a large batch; inline, the batch is removed before the call returns", async () => {
    const N = 30_000;
    const store = open({ filename: tmp.file() });
    await fill(store, N);
    let appended = 0;
    let done = false;
    const pruned = store.pruneEvents!({ before: LATER, limit: N, now: LATER }).finally(() => {
      done = true;
    });
    expect(events(tmp.file())).toBe(N);
    while (!done) {
      await store.append([makeEvent({ occurredAt: LATER })], { now: LATER });
      appended++;
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect((await pruned).removed).toBe(N);
    expect(appended).toBeGreaterThan(0);
    expect(events(tmp.file())).toBe(appended);

    const inline = open({ filename: tmp.file('inline.db'), pruneThread: 'inline' });
    await fill(inline, N);
    const call = inline.pruneEvents!({ before: LATER, limit: N, now: LATER });
    // Chosen and removed on this thread, inside the call: nothing else ran meanwhile.
    expect(events(tmp.file('inline.db'))).toBe(0);
    expect((await call).removed).toBe(N);
  });

  it("a write that meets the worker's write transaction waits for it and succeeds", async () => {
    const store = open({ filename: tmp.file() });
    await fill(store, 10);
    await hooks(store).hold(50);
    const appended = await store.append([makeEvent(), makeEvent()], { now: T0 });
    expect(appended.events).toHaveLength(2);
    expect(events(tmp.file())).toBe(12);
  });

  it('with a busyTimeoutMs shorter than the worker holds the lock, a write fails with the typed busy error and writes nothing', async () => {
    const store = open({ filename: tmp.file(), busyTimeoutMs: 30 });
    await fill(store, 10);
    await hooks(store).hold();
    const error = await failure(store.append([makeEvent(), makeEvent(), makeEvent()], { now: T0 }));
    expect(error.code).toBe('STORE_UNAVAILABLE');
    expect(error.message).toMatch(/stayed locked by another connection beyond the busy timeout.*SQLITE_BUSY/);
    const claim = await failure(
      store.claimDue({ consumerId: 'c', handlers: ['h'], now: T0, leaseMs: 1000, limit: 10 }),
    );
    expect(claim.code).toBe('STORE_UNAVAILABLE');
    await hooks(store).release();
    expect(events(tmp.file())).toBe(10);
    expect((await store.append([makeEvent()], { now: T0 })).events).toHaveLength(1);
    expect(events(tmp.file())).toBe(11);
  });

  it('two stores on one file, two workers pruning at once, remove each event once', async () => {
    const a = open({ filename: tmp.file() });
    await fill(a, 5000);
    const b = open({ filename: tmp.file() });
    const [ra, rb] = await Promise.all([pruneAll(a, 200), pruneAll(b, 200)]);
    expect(ra + rb).toBe(5000);
    expect(hooks(a).running() && hooks(b).running()).toBe(true);
    expect(events(tmp.file())).toBe(0);
    const ranges = await a.getPrunedRanges!();
    expect(ranges.reduce((sum, r) => sum + r.removed, 0)).toBe(5000);
  });

  it('close() during a prune lets the batch under way finish, then ends the worker; the store refuses calls after', async () => {
    const store = createSqliteStore({ filename: tmp.file() });
    await fill(store, 5000);
    const pruned = store.pruneEvents!({ before: LATER, limit: 5000, now: LATER });
    await store.close();
    expect((await pruned).removed).toBe(5000);
    expect(events(tmp.file())).toBe(0);
    expect(hooks(store).running()).toBe(false);
    const after = await failure(store.pruneEvents!({ before: LATER, limit: 10, now: LATER }));
    expect(after.code).toBe('STORE_UNAVAILABLE');
    expect(after.message).toMatch(/the SQLite store is closed/);
  });

  it('close() while the worker waits for the lease fails the call with the closed error and removes nothing', async () => {
    const store = createSqliteStore({ filename: tmp.file() });
    await fill(store, 100);
    const other = open({ filename: tmp.file() });
    expect(await other.acquireLease!({ name: PRUNE_LOCK, holder: 'other', now: LATER, ttlMs: 60_000 })).toBe(
      true,
    );
    const pruned = failure(store.pruneEvents!({ before: LATER, limit: 100, now: LATER }));
    await new Promise((resolve) => setTimeout(resolve, 100));
    await store.close();
    const error = await pruned;
    expect(error.code).toBe('STORE_UNAVAILABLE');
    expect(error.message).toMatch(/the SQLite store is closed/);
    expect(events(tmp.file())).toBe(100);
  });

  it('a worker that crashes fails the call waiting for it with STORE_UNAVAILABLE; the next call starts another worker', async () => {
    const store = open({ filename: tmp.file() });
    await fill(store, 500);
    const other = open({ filename: tmp.file() });
    const lease = { name: PRUNE_LOCK, holder: 'other', now: LATER, ttlMs: 60_000 };
    expect(await other.acquireLease!(lease)).toBe(true);
    const pruned = failure(store.pruneEvents!({ before: LATER, limit: 500, now: LATER }));
    await new Promise((resolve) => setTimeout(resolve, 100));
    hooks(store).crash();
    const error = await pruned;
    expect(error.code).toBe('STORE_UNAVAILABLE');
    expect(error.message).toMatch(/prune worker thread stopped \(exit code 70\)/);
    expect(hooks(store).running()).toBe(false);
    expect(events(tmp.file())).toBe(500);
    await other.releaseLease!(lease);
    expect(await pruneAll(store, 200)).toBe(500);
    expect(hooks(store).running()).toBe(true);
    expect(events(tmp.file())).toBe(0);
  });

  it('errors in the worker come back typed: a file migrated past this release is STORE_SCHEMA', async () => {
    const store = open({ filename: tmp.file() });
    await fill(store, 10);
    const db = new Database(tmp.file());
    db.prepare(
      "INSERT INTO evco_schema_version (version, name, applied_at) SELECT max(version) + 1, 'future', '2026-01-01' FROM evco_schema_version",
    ).run();
    db.close();
    const error = await failure(store.pruneEvents!({ before: LATER, limit: 10, now: LATER }));
    expect(error.code).toBe('STORE_SCHEMA');
    expect(error.message).toMatch(/^\[evco:store-sqlite\] the SQLite file has schema version \d+ where/);
    expect(events(tmp.file())).toBe(10);
  });
});
