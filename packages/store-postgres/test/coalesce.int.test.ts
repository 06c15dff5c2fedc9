import { type AppendResult, type DomainEvent, isEvcoError } from '@evco/core';
import { makeEvent, waitFor } from '@evco/testkit';
import type pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import type { PostgresStore, PostgresStoreOptions } from '../src/index.js';
import { closedAfterEach, connect, createTestStore } from './support.js';

/** Positions of one transaction share a block of 2^20 (see `POSITION_BLOCK`): its id. */
const transactionOf = (position: string) => BigInt(position) >> 20n;

const clients: pg.Client[] = [];

/**
 * Holds a lock on the store's events table that appends wait for, so the test decides when
 * the appends it started run: the first goes (and waits), the later ones queue behind it.
 */
async function blockAppends(store: PostgresStore): Promise<{ admin: pg.Client; release(): Promise<void> }> {
  // Watches from outside the locking transaction: inside it, pg_stat_activity would keep
  // showing what it showed first.
  const [locker, admin] = [await connect(), await connect()];
  clients.push(locker, admin);
  await locker.query('BEGIN');
  await locker.query(`LOCK TABLE "${store.schema}".events IN SHARE MODE`);
  return {
    admin,
    release: async () => {
      await locker.query('COMMIT');
    },
  };
}

/** The store's statements now waiting for the lock of `blockAppends`: pid and text. */
async function waiting(
  admin: pg.Client,
  store: PostgresStore,
): Promise<Array<{ pid: number; query: string }>> {
  const { rows } = await admin.query<{ pid: number; query: string }>(
    `SELECT pid, query FROM pg_stat_activity
     WHERE wait_event_type = 'Lock' AND datname = current_database() AND strpos(query, $1) > 0`,
    [`"${store.schema}".events`],
  );
  return rows;
}

/** A coalesced statement is the multi-event append with each event's own time ($9 an array). */
const isCoalesced = (query: string) => query.includes('$9::timestamptz[]');

/** Starts one append per batch while an earlier one waits on the lock; returns their promises. */
async function appendBehindOne(
  store: PostgresStore,
  admin: pg.Client,
  batches: DomainEvent[][],
  nows: Date[] = batches.map((_, i) => new Date(Date.UTC(2026, 0, 1, 0, 0, i))),
): Promise<{ first: Promise<AppendResult>; rest: Array<Promise<AppendResult>> }> {
  const first = store.append([makeEvent()], { now: new Date() });
  await waitFor(async () => (await waiting(admin, store)).length === 1, {
    message: 'the first append waits',
  });
  const rest = batches.map((events, i) => store.append(events, { now: nows[i]! }));
  return { first, rest };
}

async function storedIds(admin: pg.Client, store: PostgresStore): Promise<string[]> {
  const { rows } = await admin.query<{ event_id: string }>(
    `SELECT event_id FROM "${store.schema}".events ORDER BY position`,
  );
  return rows.map((r) => r.event_id);
}

describe('coalesced appends (coalesceAppends)', () => {
  const stores = closedAfterEach();
  // Registered after, so it runs before: dropping a schema waits for a lock still held.
  afterEach(async () => {
    for (const client of clients.splice(0)) await client.end().catch(() => {});
  });
  // Coalescing is opt-in: these stores turn it on unless a test says otherwise.
  const make = async (options: Partial<PostgresStoreOptions> = {}) => {
    const store = await createTestStore({ coalesceAppends: true, ...options });
    stores.push(store);
    return store;
  };

  it('appends that wait behind one in flight go as one transaction, each caller getting its own results', async () => {
    const store = await make();
    await store.registerSubscriptions([{ eventType: 'Watched', handler: 'h', ordering: 'none' }], {
      consumerId: 'c',
      now: new Date(),
      ttlMs: 60_000,
    });
    const batches = Array.from({ length: 10 }, (_, i) =>
      Array.from({ length: 1 + (i % 3) }, (_, j) => makeEvent({ eventType: j === 0 ? 'Watched' : 'Other' })),
    );
    const lock = await blockAppends(store);
    const { first, rest } = await appendBehindOne(store, lock.admin, batches);
    await lock.release();
    await first;
    const results = await Promise.all(rest);

    const seen = new Set<string>();
    results.forEach((result, i) => {
      const batch = batches[i]!;
      expect(result.events.map((e) => e.id)).toEqual(batch.map((e) => e.id));
      expect(result.deliveries).toEqual(batch.map((e) => (e.eventType === 'Watched' ? 1 : 0)));
      const positions = result.events.map((e) => BigInt(e.position));
      // One caller's events are contiguous and in its order.
      expect(positions).toEqual(positions.map((_, j) => positions[0]! + BigInt(j)));
      for (const e of result.events) {
        expect(seen.has(e.position)).toBe(false);
        seen.add(e.position);
        expect(e.recordedAt.getTime()).toBe(Date.UTC(2026, 0, 1, 0, 0, i));
      }
    });
    // Stored as returned, at each caller's own time, with the deliveries of its own time.
    for (const [i, result] of results.entries()) {
      for (const e of result.events) {
        const stored = await store.getEvent(e.id);
        expect(stored?.position).toBe(e.position);
        expect(stored?.recordedAt.getTime()).toBe(Date.UTC(2026, 0, 1, 0, 0, i));
      }
      const deliveries = await store.getDeliveries(result.events[0]!.id);
      expect(deliveries.map((d) => d.handler)).toEqual(['h']);
    }
    expect(await storedIds(lock.admin, store)).toHaveLength(1 + batches.flat().length);
    // Ten callers, at most two transactions (one more if a second statement may be in flight).
    const transactions = new Set(results.flatMap((r) => r.events.map((e) => transactionOf(e.position))));
    expect(transactions.size).toBeLessThanOrEqual(2);
  });

  it('by default (and with coalesceAppends: false), one transaction per append', async () => {
    for (const options of [{}, { coalesceAppends: false }]) {
      const store = await createTestStore(options);
      stores.push(store);
      const batches = Array.from({ length: 10 }, () => [makeEvent()]);
      const lock = await blockAppends(store);
      const { first, rest } = await appendBehindOne(store, lock.admin, batches);
      await lock.release();
      await first;
      const results = await Promise.all(rest);
      const transactions = new Set(results.map((r) => transactionOf(r.events[0]!.position)));
      expect(transactions.size, JSON.stringify(options)).toBe(10);
    }
  });

  it('a conflict in a coalesced statement fails only its caller; the others are stored once', async () => {
    const store = await make();
    const taken = makeEvent({ aggregateId: 'acc', aggregateVersion: 1 });
    await store.append([taken], { now: new Date() });
    const a = makeEvent({ aggregateId: 'acc', aggregateVersion: 2 });
    const b = makeEvent({ aggregateId: 'acc', aggregateVersion: 2 });
    const duplicate = makeEvent({ id: taken.id });
    const fine = [makeEvent(), makeEvent()];
    const last = makeEvent();
    const lock = await blockAppends(store);
    const { first, rest } = await appendBehindOne(store, lock.admin, [[a], [b], [duplicate], fine, [last]]);
    await lock.release();
    const firstResult = await first;
    const [sa, sb, sDuplicate, sFine, sLast] = await Promise.allSettled(rest);
    // Exactly one of the two callers appending version 2 of "acc" wins.
    expect([sa!.status, sb!.status].sort()).toEqual(['fulfilled', 'rejected']);
    const loser = (sa!.status === 'rejected' ? sa : sb) as PromiseRejectedResult;
    expect(isEvcoError(loser.reason, 'CONCURRENCY')).toBe(true);
    expect(sDuplicate!.status).toBe('rejected');
    expect(isEvcoError((sDuplicate as PromiseRejectedResult).reason, 'DUPLICATE_EVENT')).toBe(true);
    expect(sFine!.status).toBe('fulfilled');
    expect(sLast!.status).toBe('fulfilled');
    const won = sa!.status === 'fulfilled' ? a : b;
    const ids = await storedIds(lock.admin, store);
    expect([...ids].sort()).toEqual(
      [taken.id, firstResult.events[0]!.id, won.id, ...fine.map((e) => e.id), last.id].sort(),
    );
    // The winner's result is what was stored.
    const winner = (sa!.status === 'fulfilled' ? sa : sb) as PromiseFulfilledResult<AppendResult>;
    expect((await store.getEvent(won.id))?.position).toBe(winner.value.events[0]!.position);
  });

  it('a statement that may or may not have committed (its connection killed) fails every caller, run again never', async () => {
    const store = await make();
    const lock = await blockAppends(store);
    const batches = Array.from({ length: 6 }, () => [makeEvent(), makeEvent()]);
    const { first, rest } = await appendBehindOne(store, lock.admin, batches);
    const all = Promise.allSettled([first, ...rest]);
    // Ends every statement of the store that waits, up to and including a coalesced one.
    let killedCoalesced = false;
    await waitFor(
      async () => {
        for (const w of await waiting(lock.admin, store)) {
          await lock.admin.query('SELECT pg_terminate_backend($1)', [w.pid]);
          if (isCoalesced(w.query)) killedCoalesced = true;
        }
        return killedCoalesced;
      },
      { message: 'a coalesced statement waits' },
    );
    // Had the store run a killed caller's append again, it would now go through.
    await lock.release();
    const settled = await all;
    for (const s of settled) {
      expect(s.status).toBe('rejected');
      expect(isEvcoError((s as PromiseRejectedResult).reason, 'STORE_UNAVAILABLE')).toBe(true);
    }
    expect(await storedIds(lock.admin, store)).toEqual([]);
    // The store goes on.
    const after = await store.append([makeEvent()], { now: new Date() });
    expect(after.events).toHaveLength(1);
  });

  it('bad input fails its caller before anything is sent or queued', async () => {
    const store = await make();
    // Built before the lock is taken: a million events cost seconds of CPU on a loaded machine,
    // and the append held behind the lock meanwhile runs into its statement timeout. The count
    // is checked before anything else, so one event repeated is enough.
    const tooMany = new Array<DomainEvent>(1_048_576).fill(makeEvent());
    const lock = await blockAppends(store);
    const { first, rest } = await appendBehindOne(store, lock.admin, [[makeEvent()]]);
    // Still behind the lock: an append that queued would wait for it.
    const error = await store.append(tooMany, { now: new Date() }).catch((e: unknown) => e);
    expect(isEvcoError(error, 'EVENT_VALIDATION')).toBe(true);
    expect(await store.append([], { now: new Date() })).toEqual({ events: [], deliveries: [] });
    await lock.release();
    await first;
    expect((await rest[0]!).events).toHaveLength(1);
  });

  it('close rejects the appends still waiting with STORE_UNAVAILABLE and lets the running one finish', async () => {
    const store = await make();
    const lock = await blockAppends(store);
    const queued = [makeEvent(), makeEvent(), makeEvent()];
    const { first, rest } = await appendBehindOne(
      store,
      lock.admin,
      queued.map((e) => [e]),
    );
    const closing = store.close();
    for (const s of await Promise.allSettled(rest)) {
      expect(s.status).toBe('rejected');
      expect(isEvcoError((s as PromiseRejectedResult).reason, 'STORE_UNAVAILABLE')).toBe(true);
    }
    await lock.release();
    const done = await first;
    await closing;
    expect(await storedIds(lock.admin, store)).toEqual([done.events[0]!.id]);
  });
});
