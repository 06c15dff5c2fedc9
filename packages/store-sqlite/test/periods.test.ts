import { isEvcoError, type RecordedEvent } from '@evco/core';
import type { PruneBatch, PruneRequest } from '@evco/core/adapter';
import { makeEvent } from '@evco/testkit';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { createSqliteStore, type SqliteStore } from '../src/index.js';
import { MIGRATIONS } from '../src/migrations.js';
import { failure, useTempStores } from './store-fixture.js';

const { tmp, open } = useTempStores();
const T0 = new Date('2026-01-01T00:00:00.000Z');
const DAY = 86_400_000;
const at = (ms: number) => new Date(T0.getTime() + ms);

function tables(file: string): { periods: number[]; tables: string[]; watermark: number; kept: number } {
  const db = new Database(file, { readonly: true });
  try {
    const periods = (db.prepare('SELECT n FROM evco_periods ORDER BY n').all() as Array<{ n: number }>).map(
      (r) => r.n,
    );
    const names = (
      db
        .prepare(
          "SELECT name FROM sqlite_master WHERE type = 'table' AND name GLOB 'evco_events_*' ORDER BY name",
        )
        .all() as Array<{ name: string }>
    ).map((r) => r.name);
    const { watermark } = db.prepare('SELECT watermark FROM evco_prune_state').get() as { watermark: number };
    const { kept } = db.prepare('SELECT count(*) AS kept FROM evco_events_kept').get() as { kept: number };
    return { periods, tables: names, watermark, kept };
  } finally {
    db.close();
  }
}

async function pruneAll(
  store: SqliteStore,
  request: Omit<PruneRequest, 'now' | 'after' | 'limit'> & { limit?: number },
): Promise<number> {
  let removed = 0;
  let batch: PruneBatch | undefined;
  do {
    batch = await store.pruneEvents!({
      limit: 4,
      now: at(20 * DAY),
      ...request,
      after: batch?.next ?? undefined,
    });
    removed += batch.removed;
  } while (batch.next);
  return removed;
}

/** `n` events a minute apart from T0, appended three at a time. */
async function fill(store: SqliteStore, n: number, eventType = 'TestHappened'): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = [];
  for (let i = 0; i < n; i += 3) {
    const batch = Array.from({ length: Math.min(3, n - i) }, (_, j) =>
      makeEvent({ eventType, aggregateId: `a${(i + j) % 4}`, occurredAt: at((i + j) * 60_000) }),
    );
    out.push(...(await store.append(batch, { now: T0 })).events);
  }
  return out;
}

/** A store on a new file in periods of 5, with handler 'h' subscribed to TestHappened for a year. */
async function subscribedStore(
  pruneThread?: 'worker' | 'inline',
): Promise<{ file: string; store: SqliteStore }> {
  const file = tmp.file();
  const store = open({ filename: file, periodEvents: 5, pruneThread });
  await store.registerSubscriptions([{ handler: 'h', eventType: 'TestHappened', ordering: 'none' }], {
    consumerId: 'c',
    now: T0,
    ttlMs: 365 * DAY,
  });
  return { file, store };
}

/** Every due delivery of 'h' (up to 100), leased to consumer 'c'. */
function claimAll(store: SqliteStore, now = T0) {
  return store.claimDue({ consumerId: 'c', handlers: ['h'], now, leaseMs: 60_000, limit: 100 });
}

describe('period tables', () => {
  it('a new period starts once the newest holds periodEvents events, also inside one batch', async () => {
    const file = tmp.file();
    const store = open({ filename: file, periodEvents: 5 });
    const events = await fill(store, 12);
    await store.append(
      Array.from({ length: 7 }, () => makeEvent()),
      { now: T0 },
    );
    // Positions 1-4 in period 1 (it starts at 0), then 5-9, 10-14, 15-19.
    expect(tables(file)).toMatchObject({
      periods: [1, 2, 3, 4],
      tables: ['evco_events_1', 'evco_events_2', 'evco_events_3', 'evco_events_4', 'evco_events_kept'],
    });
    expect((await store.read({ limit: 100 })).map((e) => e.position)).toEqual(
      Array.from({ length: 19 }, (_, i) => String(i + 1)),
    );
    expect(
      (await store.read({ limit: 4, order: 'desc', beforePosition: '12' })).map((e) => e.position),
    ).toEqual(['11', '10', '9', '8']);
    expect((await store.read({ aggregateId: 'a1', limit: 100 })).map((e) => e.position)).toEqual([
      '2',
      '6',
      '10',
    ]);
    expect(await store.getEvent(events[7]!.id)).toEqual(events[7]);
    // A duplicate id or a taken version in another period is refused as in one table.
    expect((await failure(store.append([events[1]!], { now: T0 }))).code).toBe('DUPLICATE_EVENT');
    await store.append([makeEvent({ aggregateId: 'v', aggregateVersion: 1 })], { now: T0 });
    await store.append(
      Array.from({ length: 6 }, () => makeEvent()),
      { now: T0 },
    );
    expect(
      (await failure(store.append([makeEvent({ aggregateId: 'v', aggregateVersion: 1 })], { now: T0 }))).code,
    ).toBe('CONCURRENCY');
  });

  it('an append that fails after starting a period leaves no period behind; the next one starts it again', async () => {
    const file = tmp.file();
    const store = open({ filename: file, periodEvents: 3 });
    const first = makeEvent();
    await store.append([first, makeEvent()], { now: T0 });
    // The third event starts period 2, the fourth is a duplicate: all rolled back.
    expect((await failure(store.append([makeEvent(), first], { now: T0 }))).code).toBe('DUPLICATE_EVENT');
    expect(tables(file).periods).toEqual([1]);
    const other = open({ filename: file, periodEvents: 3 });
    await store.append([makeEvent(), makeEvent()], { now: T0 });
    expect(tables(file).periods).toEqual([1, 2]);
    expect((await other.read({ limit: 10 })).map((e) => e.position)).toEqual(['1', '2', '3', '4']);
  });

  it('periodEvents is validated before any I/O', () => {
    for (const periodEvents of [0, 1.5, -1, 200_000_000]) {
      let error: unknown;
      try {
        createSqliteStore({ filename: tmp.file(), periodEvents });
      } catch (e) {
        error = e;
      }
      expect(isEvcoError(error, 'INVALID_OPTIONS'), String(periodEvents)).toBe(true);
      expect(String((error as Error).message)).toContain('periodEvents');
    }
  });
});

describe('watermark prune', () => {
  it('drops the periods it passes, keeps a dead letter readable in the kept table until it is retried and done', async () => {
    const { file, store } = await subscribedStore();
    const events = await fill(store, 20);
    const dead = events[6]!;
    const claimed = await claimAll(store);
    expect(claimed).toHaveLength(20);
    await store.complete(
      claimed.filter((c) => c.event.id !== dead.id),
      { now: T0 },
    );
    await store.fail(
      claimed
        .filter((c) => c.event.id === dead.id)
        .map((c) => ({ ...c, error: 'boom', nextAttemptAt: null })),
      { now: T0 },
    );
    const archived: string[] = [];
    // The first 16 events (minutes 0-15) are old; the dead letter stays.
    const removed = await pruneAll(store, {
      before: at(16 * 60_000),
      archive: async (batch) => {
        archived.push(...batch.map((e) => e.position));
      },
    });
    expect(removed).toBe(15);
    expect(archived.sort((a, b) => Number(a) - Number(b))).toEqual(
      events
        .slice(0, 16)
        .filter((e) => e !== dead)
        .map((e) => e.position),
    );
    // Positions 1-16 are below the watermark: periods 1-3 (1-4, 5-9, 10-14) dropped; 4 holds
    // 15-19, 5 position 20.
    expect(tables(file)).toMatchObject({
      periods: [4, 5],
      tables: ['evco_events_4', 'evco_events_5', 'evco_events_kept'],
      watermark: 17,
      kept: 1,
    });
    expect((await store.read({ limit: 100 })).map((e) => e.id)).toEqual([
      dead.id,
      ...events.slice(16).map((e) => e.id),
    ]);
    expect((await store.read({ limit: 2, order: 'desc', beforePosition: '18' })).map((e) => e.id)).toEqual([
      events[16]!.id,
      dead.id,
    ]);
    expect(await store.getEvent(dead.id)).toEqual(dead);
    expect(await store.getEvent(events[5]!.id)).toBeUndefined();
    const letters = await store.getDeadLetters({ limit: 10 });
    expect(letters.map((l) => l.event.id)).toEqual([dead.id]);
    expect((await store.getDeliveries(dead.id)).map((d) => d.status)).toEqual(['dead']);
    // Its id stays taken while it is kept.
    expect((await failure(store.append([dead], { now: T0 }))).code).toBe('DUPLICATE_EVENT');
    // A replay over the old window finds the kept event alone.
    const job = await store.startReplay(
      { from: T0, to: at(16 * 60_000), handler: 'h', maxEvents: 100 },
      { now: at(20 * DAY) },
    );
    // Still dead: the replay leaves it (it requeues done and dead deliveries).
    const step = await store.continueReplay(job.id, { now: at(20 * DAY), pageSize: 10 });
    expect(step.eventsMatched).toBe(1);
    // Retried and done: the next prune removes it from the kept table.
    for (;;) {
      const again = await claimAll(store, at(20 * DAY));
      if (again.length === 0) break;
      await store.complete(again, { now: at(20 * DAY) });
    }
    expect(await pruneAll(store, { before: at(16 * 60_000) })).toBe(1);
    expect(await store.getEvent(dead.id)).toBeUndefined();
    expect(tables(file).kept).toBe(0);
    expect((await store.read({ limit: 100 })).map((e) => e.id)).toEqual(events.slice(16).map((e) => e.id));
    const ranges = await store.getPrunedRanges!();
    expect(ranges).toEqual([expect.objectContaining({ eventType: 'TestHappened', removed: 16 })]);
  });

  it('an event whose delivery opens again between the choice of a batch and its removal stays, in the kept table', async () => {
    const { file, store } = await subscribedStore();
    const events = await fill(store, 20);
    const claimed = await claimAll(store);
    await store.complete(claimed, { now: T0 });
    const reopened = events[2]!;
    let batches = 0;
    // The archive hook runs after the batch is chosen (every event's delivery done) and before
    // it is removed: another connection opens the third event's delivery again meanwhile.
    const removed = await pruneAll(store, {
      before: at(16 * 60_000),
      archive: async () => {
        if (batches++ > 0) return;
        const db = new Database(file);
        try {
          db.prepare("UPDATE evco_deliveries SET status = 'pending' WHERE event_position = ?").run(
            Number(reopened.position),
          );
        } finally {
          db.close();
        }
      },
    });
    expect(removed).toBe(15);
    expect(tables(file)).toMatchObject({ watermark: 17, kept: 1 });
    expect(await store.getEvent(reopened.id)).toEqual(reopened);
    expect((await store.getDeliveries(reopened.id)).map((d) => d.status)).toEqual(['pending']);
    expect((await store.read({ limit: 100 })).map((e) => e.id)).toEqual([
      reopened.id,
      ...events.slice(16).map((e) => e.id),
    ]);
    expect((await failure(store.append([reopened], { now: T0 }))).code).toBe('DUPLICATE_EVENT');
    // The others' ids and deliveries went with them.
    expect(await store.getEvent(events[3]!.id)).toBeUndefined();
    expect(await store.getDeliveries(events[3]!.id)).toEqual([]);
  });

  it('a watermark batch frees the versions of the events it removed and keeps those of the events that stay', async () => {
    const { file, store } = await subscribedStore();
    const events: RecordedEvent[] = [];
    for (let i = 0; i < 12; i++) {
      const e = makeEvent({ aggregateId: 'v', aggregateVersion: i + 1, occurredAt: at(i * 60_000) });
      events.push(...(await store.append([e], { now: T0 })).events);
    }
    const claimed = await claimAll(store);
    // Version 4's delivery stays open.
    await store.complete(
      claimed.filter((c) => c.event.id !== events[3]!.id),
      { now: T0 },
    );
    expect(await pruneAll(store, { before: at(10 * 60_000) })).toBe(9);
    expect(tables(file)).toMatchObject({ watermark: 11, kept: 1 });
    // Versions 1-3 and 5-10 are free again, 4 (kept) and 11-12 are taken.
    for (const version of [1, 3, 5, 10]) {
      await store.append([makeEvent({ aggregateId: 'v', aggregateVersion: version })], { now: T0 });
    }
    for (const version of [4, 11, 12]) {
      const error = await failure(
        store.append([makeEvent({ aggregateId: 'v', aggregateVersion: version })], { now: T0 }),
      );
      expect(error.code).toBe('CONCURRENCY');
    }
  });

  it('a batch is filled past events that must stay, near its candidates or far from them', async () => {
    const { file, store } = await subscribedStore();
    const events = await fill(store, 30);
    const claimed = await claimAll(store);
    // Events 1-5 (more than a batch in a row) and 9 keep an open delivery.
    const open = new Set([1, 2, 3, 4, 5, 9].map((i) => events[i]!.id));
    await store.complete(
      claimed.filter((c) => !open.has(c.event.id)),
      { now: T0 },
    );
    const batches: string[][] = [];
    const removed: number[] = [];
    const prune = async (before: Date, archived: boolean) => {
      let batch: PruneBatch | undefined;
      do {
        batch = await store.pruneEvents!({
          before,
          limit: 4,
          now: at(20 * DAY),
          after: batch?.next ?? undefined,
          ...(archived
            ? { archive: async (e: readonly RecordedEvent[]) => void batches.push(e.map((x) => x.id)) }
            : {}),
        });
        removed.push(batch.removed);
      } while (batch.next);
    };
    const ids = (...i: number[]) => i.map((k) => events[k]!.id);
    await prune(at(14 * 60_000), true);
    // Full batches of 4 around the six that stay, each archived as removed.
    expect(batches).toEqual([ids(0, 6, 7, 8), ids(10, 11, 12, 13)]);
    expect(removed).toEqual([4, 4]);
    expect(tables(file)).toMatchObject({ kept: 6 });
    // The kept events (positions far below the next candidates) are candidates again; 9's
    // delivery is done now, so it goes in the first batch with the oldest of the rest.
    await store.complete(
      claimed.filter((c) => c.event.id === events[9]!.id),
      { now: T0 },
    );
    removed.length = 0;
    await prune(at(25 * 60_000), false);
    expect(removed).toEqual([4, 4, 4]);
    expect((await store.read({ limit: 100 })).map((e) => e.id)).toEqual([
      ...ids(1, 2, 3, 4, 5),
      ...events.slice(25).map((e) => e.id),
    ]);
  });

  it("the worker's batch, chosen outside the write lock: a delivery that opens again before its removal keeps its event", async () => {
    const { file, store } = await subscribedStore('worker');
    const events = await fill(store, 20);
    await store.complete(await claimAll(store), { now: T0 });
    const now = at(20 * DAY);
    // The worker started and its connection open (nothing that old to remove).
    expect((await store.pruneEvents!({ before: at(-DAY), limit: 4, now })).removed).toBe(0);
    const reopened = events[2]!;
    // Another connection takes the write lock and opens the third event's delivery again,
    // uncommitted: the worker's choice (a read transaction) sees it done and chooses it; its
    // removal waits for the lock, then sees it open.
    const db = new Database(file);
    try {
      db.exec('BEGIN IMMEDIATE');
      db.prepare("UPDATE evco_deliveries SET status = 'pending' WHERE event_position = ?").run(
        Number(reopened.position),
      );
      const pruning = store.pruneEvents!({ before: at(16 * 60_000), limit: 4, now });
      await new Promise((resolve) => setTimeout(resolve, 300));
      db.exec('COMMIT');
      // Chosen before the commit: the four oldest; removed: three (a choice after it would have
      // topped the batch up to four past the open one).
      expect((await pruning).removed).toBe(3);
    } finally {
      db.close();
    }
    expect(await store.getEvent(reopened.id)).toEqual(reopened);
    expect((await store.getDeliveries(reopened.id)).map((d) => d.status)).toEqual(['pending']);
    for (const gone of [0, 1, 3]) expect(await store.getEvent(events[gone]!.id)).toBeUndefined();
  });

  it.each([
    ['inline', 0],
    ['worker', 0],
  ] as const)(
    'a batch without an archive (%s) writes %i lease rows; while another batch holds the lease it waits its turn',
    async (pruneThread, writes) => {
      // Inline: chosen and removed in one write transaction, no lease. In the worker: chosen in a
      // read transaction, removed in one write transaction that checks the lease is free.
      const { file, store } = await subscribedStore(pruneThread);
      const events = await fill(store, 12);
      await store.complete(await claimAll(store), { now: T0 });
      // Every write to the lease table, counted by a trigger on a connection of its own.
      const db = new Database(file);
      db.exec(`CREATE TABLE lease_writes (n INTEGER);
      CREATE TRIGGER lease_insert AFTER INSERT ON evco_leases BEGIN INSERT INTO lease_writes VALUES (1); END;
      CREATE TRIGGER lease_update AFTER UPDATE ON evco_leases BEGIN INSERT INTO lease_writes VALUES (1); END;
      CREATE TRIGGER lease_delete AFTER DELETE ON evco_leases BEGIN INSERT INTO lease_writes VALUES (1); END;`);
      const leaseWrites = () =>
        (db.prepare('SELECT count(*) AS n FROM lease_writes').get() as { n: number }).n;
      try {
        const now = at(20 * DAY);
        const first = await store.pruneEvents!({ before: at(4 * 60_000), limit: 2, now });
        expect(first.removed).toBe(2);
        expect(leaseWrites()).toBe(writes);
        // Another store's batch between its choice and its removal (its archive running).
        const other = open({ filename: file, periodEvents: 5 });
        const lease = { name: 'evco:prune-batch', holder: 'other', now, ttlMs: 60_000 };
        expect(await other.acquireLease!(lease)).toBe(true);
        let settled = false;
        const waiting = store.pruneEvents!({
          before: at(4 * 60_000),
          limit: 2,
          now,
          after: first.next ?? undefined,
        });
        void waiting.then(() => {
          settled = true;
        });
        await new Promise((resolve) => setTimeout(resolve, 50));
        expect(settled).toBe(false);
        expect(await store.getEvent(events[2]!.id)).toBeDefined();
        await other.releaseLease!(lease);
        expect((await waiting).removed).toBe(2);
        expect(await store.getEvent(events[2]!.id)).toBeUndefined();
      } finally {
        db.close();
      }
    },
  );

  it('events out of time order past the watermark are removed row by row; per-type prunes too', async () => {
    const file = tmp.file();
    const store = open({ filename: file, periodEvents: 4 });
    const old = await fill(store, 8);
    // A late event with an old time, then three of another type (minutes 0-2, positions 10-12).
    const late = (await store.append([makeEvent({ occurredAt: at(-60_000) })], { now: T0 })).events[0]!;
    const other = await fill(store, 3, 'Other');
    // Per type: row by row; the watermark cannot pass position 1 (another type).
    expect(await pruneAll(store, { before: at(60_000), eventTypes: ['Other'] })).toBe(1);
    expect(await store.getEvent(other[0]!.id)).toBeUndefined();
    expect(tables(file).watermark).toBeLessThanOrEqual(1);
    // Minutes before 5: positions 1-5 by the watermark (it stops at 6, minute 5), the late
    // event and the two others row by row.
    expect(await pruneAll(store, { before: at(5 * 60_000) })).toBe(8);
    expect(await store.getEvent(late.id)).toBeUndefined();
    expect(tables(file)).toMatchObject({ watermark: 6, periods: [2, 3, 4] });
    expect((await store.read({ limit: 100 })).map((e) => e.id)).toEqual(old.slice(5).map((e) => e.id));
  });

  for (const archived of [false, true]) {
    it(`a replay started between two batches of one prune keeps its events (${archived ? 'archive' : 'keys only'}); a batch chosen with none running removes the rest`, async () => {
      const store = open({ filename: tmp.file(), periodEvents: 5 });
      // No subscription, so no delivery: only the replay's window keeps anything.
      const events = await fill(store, 12);
      const seen: string[] = [];
      const request = {
        before: at(12 * 60_000),
        limit: 3,
        now: at(20 * DAY),
        ...(archived
          ? {
              archive: async (batch: readonly RecordedEvent[]) => {
                seen.push(...batch.map((e) => e.position));
              },
            }
          : {}),
      };
      const first = await store.pruneEvents!(request);
      expect(first.removed).toBe(3);
      expect(first.next).not.toBeNull();
      // Minutes 6, 7 and 8.
      await store.startReplay(
        { from: at(6 * 60_000), to: at(9 * 60_000), maxEvents: 10 },
        { now: at(20 * DAY) },
      );
      const removed = [first.removed];
      let batch: PruneBatch = first;
      while (batch.next) {
        batch = await store.pruneEvents!({ ...request, after: batch.next });
        removed.push(batch.removed);
      }
      // The replay's events are never chosen: every batch removes all it chose.
      expect(removed).toEqual([3, 3, 3]);
      const left = (await store.read({ limit: 100 })).map((e) => e.id);
      expect(left).toEqual(events.slice(6, 9).map((e) => e.id));
      if (archived) expect(seen).toEqual([...events.slice(0, 6), ...events.slice(9)].map((e) => e.position));
    });
  }

  it('two stores on one file pruning at once remove each event once; each archive sees what its batches removed', async () => {
    const file = tmp.file();
    const a = open({ filename: file, periodEvents: 10 });
    const b = open({ filename: file, periodEvents: 10 });
    const events = await fill(a, 90);
    const seen: string[][] = [[], []];
    const prune = (store: SqliteStore, i: number) =>
      pruneAll(store, {
        before: at(80 * 60_000),
        limit: 7,
        archive: async (batch) => {
          await new Promise((resolve) => setTimeout(resolve, 1));
          seen[i]!.push(...batch.map((e) => e.id));
        },
      });
    const [ra, rb] = await Promise.all([prune(a, 0), prune(b, 1)]);
    expect(ra + rb).toBe(80);
    const all = [...seen[0]!, ...seen[1]!].sort();
    expect(all).toEqual(
      events
        .slice(0, 80)
        .map((e) => e.id)
        .sort(),
    );
    expect((await b.read({ limit: 100 })).map((e) => e.id)).toEqual(events.slice(80).map((e) => e.id));
    expect(tables(file)).toMatchObject({ watermark: 81, kept: 0 });
    expect(tables(file).periods.length).toBeLessThanOrEqual(2);
  });
});

describe('migration 5', () => {
  it('a file written at schema version 4 opens, migrates and keeps every event, its positions, ids and versions', async () => {
    const file = tmp.file();
    const db = new Database(file);
    db.exec(
      'CREATE TABLE "evco_schema_version" (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)',
    );
    for (const m of MIGRATIONS.filter((m) => m.version <= 4)) {
      db.exec(m.sql.replaceAll('{p}', 'evco_'));
      db.prepare('INSERT INTO evco_schema_version VALUES (?, ?, ?)').run(m.version, m.name, T0.toISOString());
    }
    const insert = db.prepare(
      `INSERT INTO evco_events (id, event_type, aggregate_id, aggregate_type, aggregate_version, event_data, metadata, occurred_at, recorded_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const old = Array.from({ length: 6 }, (_, i) =>
      makeEvent({
        aggregateId: 'v4',
        aggregateVersion: i + 1,
        occurredAt: at(i * 1000),
        metadata: { correlationId: 'flow' },
      }),
    );
    for (const e of old) {
      insert.run(
        e.id,
        e.eventType,
        e.aggregateId,
        null,
        e.aggregateVersion,
        JSON.stringify(e.eventData),
        JSON.stringify(e.metadata),
        e.occurredAt.toISOString(),
        T0.toISOString(),
      );
    }
    // The newest was removed (a prune): its position must not come back.
    db.prepare('DELETE FROM evco_events WHERE position = 6').run();
    db.close();

    const store = open({ filename: file });
    expect(await store.migrate()).toEqual({ fromVersion: 4, toVersion: 5 });
    const stored = await store.read({ limit: 10 });
    expect(stored.map((e) => [e.position, e.id, e.aggregateVersion])).toEqual(
      old.slice(0, 5).map((e, i) => [String(i + 1), e.id, i + 1]),
    );
    expect(await store.read({ correlationId: 'flow', limit: 10, order: 'desc' })).toEqual(
      [...stored].reverse(),
    );
    expect((await failure(store.append([old[0]!], { now: T0 }))).code).toBe('DUPLICATE_EVENT');
    expect(
      (await failure(store.append([makeEvent({ aggregateId: 'v4', aggregateVersion: 5 })], { now: T0 })))
        .code,
    ).toBe('CONCURRENCY');
    const next = await store.append(
      [makeEvent({ aggregateId: 'v4', aggregateVersion: 6 }), makeEvent(), makeEvent()],
      { now: T0 },
    );
    expect(next.events.map((e) => e.position)).toEqual(['7', '8', '9']);
    // Period 1 is the old table, which takes no more appends: period 2 starts at 7, after its
    // highest position ever.
    expect(tables(file).periods).toEqual([1, 2]);
    expect(await store.getEvent(old[2]!.id)).toEqual(stored[2]);
    expect(await pruneAll(store, { before: at(3000) })).toBe(3);
    expect((await store.read({ limit: 10 })).map((e) => e.position)).toEqual(['4', '5', '7', '8', '9']);
    // Their rows are still in the old table (its unique indexes with them) until it is dropped;
    // appends go to period 2, so a pruned id and version can be stored again, as before.
    expect(tables(file).watermark).toBe(4);
    const again = await store.append([old[0]!], { now: T0 });
    expect(again.events.map((e) => [e.id, e.position, e.aggregateVersion])).toEqual([[old[0]!.id, '10', 1]]);
  });
});
