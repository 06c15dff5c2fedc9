import type { ClaimedDelivery, ReplayProgress } from '@evco/core';
import { makeEvent } from '@evco/testkit';
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import type { PostgresStore } from '../src/index.js';
import { bindSchema, FINISHED_REPLAYS_WITH_NOTES, RETRY_DEAD, SETTLE_REPLAY_NOTES } from '../src/sql.js';
import { closedAfterEach, connect, createTestStore } from './support.js';

const T0 = new Date('2026-01-01T00:00:00.000Z');
const at = (ms: number) => new Date(T0.getTime() + ms);
const HOUR = 3_600_000;

/** What a prune run does to the notes, on a session of the test's own: how many went. */
async function settle(client: pg.Client, quoted: string): Promise<number> {
  const { ids } = (await client.query(bindSchema(FINISHED_REPLAYS_WITH_NOTES, quoted))).rows[0];
  if (!ids) return 0;
  return (await client.query(bindSchema(SETTLE_REPLAY_NOTES, quoted), [ids])).rows[0].settled;
}

/**
 * A replay notes each delivery it queues (`replay_deliveries`, schema version 9) for its progress.
 * Once its queuing is over, a note whose delivery is done (neither open nor dead with the replay's
 * id) can never count again: each prune run removes such notes (`SETTLE_REPLAY_NOTES`), so the
 * notes stay bounded with the deliveries (issue 16), and the replay's progress reads the same.
 */
describe('the notes of a finished replay go with its deliveries (a prune run)', () => {
  const stores = closedAfterEach();

  async function setUp(events = 3): Promise<{ store: PostgresStore; client: pg.Client }> {
    const store = await createTestStore();
    stores.push(store);
    await store.registerSubscriptions(
      [
        { eventType: 'TestHappened', handler: 'h', ordering: 'none' },
        { eventType: 'TestHappened', handler: 'g', ordering: 'none' },
      ],
      { consumerId: 'c', now: T0, ttlMs: 100 * HOUR },
    );
    await store.append(
      Array.from({ length: events }, (_, i) => makeEvent({ occurredAt: at(i) })),
      { now: at(0) },
    );
    // The appends' own deliveries done, so that the replay queues every (event, handler).
    await complete(store, await claim(store, at(10)), at(10));
    return { store, client: await connect() };
  }

  async function claim(store: PostgresStore, now: Date, handlers = ['h', 'g']): Promise<ClaimedDelivery[]> {
    return store.claimDue({ consumerId: 'c', handlers, now, leaseMs: 60_000, limit: 1000, ordered: false });
  }

  async function complete(store: PostgresStore, claimed: ClaimedDelivery[], now: Date): Promise<void> {
    await store.complete(
      claimed.map((d) => ({ deliveryId: d.deliveryId, attempt: d.attempt, lease: d.lease })),
      { now },
    );
  }

  async function replay(store: PostgresStore, pageSize = 100, maxEvents = 100): Promise<string> {
    const job = await store.startReplay({ from: T0, to: at(HOUR), maxEvents }, { now: at(20) });
    await store.continueReplay(job.id, { now: at(20), pageSize });
    return job.id;
  }

  async function notes(client: pg.Client, schema: string, replayId?: string): Promise<number> {
    const result = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM "${schema}".replay_deliveries WHERE $1::uuid IS NULL OR replay_id = $1::uuid`,
      [replayId ?? null],
    );
    return result.rows[0]!.n;
  }

  /** A prune run that removes no event (`before` T0): what it does to the notes alone. */
  async function pruneRun(store: PostgresStore, before = T0): Promise<number> {
    const batch = await store.pruneEvents!({ before, limit: 1000, now: at(2 * HOUR) });
    return batch.removed;
  }

  const counts = (p: ReplayProgress | undefined) => ({
    status: p?.status,
    deliveriesQueued: p?.deliveriesQueued,
    deliveriesOpen: p?.deliveriesOpen,
    deliveriesDead: p?.deliveriesDead,
    done: p?.done,
  });

  it('removes the notes of a finished replay whose deliveries are all done, its progress unchanged, and its events go', async () => {
    const { store, client } = await setUp();
    try {
      const id = await replay(store);
      expect(await notes(client, store.schema, id)).toBe(6);
      await complete(store, await claim(store, at(30)), at(30));
      const before = counts(await store.getReplay(id));
      expect(before).toEqual({
        status: 'done',
        deliveriesQueued: 6,
        deliveriesOpen: 0,
        deliveriesDead: 0,
        done: true,
      });
      // A run that removes the events too (they are done and no replay runs over them).
      expect(await pruneRun(store, at(HOUR))).toBe(3);
      expect(await notes(client, store.schema)).toBe(0);
      expect(counts(await store.getReplay(id))).toEqual(before);
    } finally {
      await client.end();
    }
  });

  it('removes only the done notes of a replay that still has an open delivery and a dead letter; the rest once handled or retired', async () => {
    const { store, client } = await setUp();
    try {
      const id = await replay(store);
      const claimed = await claim(store, at(30));
      expect(claimed).toHaveLength(6);
      const [dies, stays, ...done] = claimed;
      await complete(store, done, at(30));
      await store.fail([{ ...dies!, error: 'boom', nextAttemptAt: null }], { now: at(30) });
      await store.fail([{ ...stays!, error: 'again', nextAttemptAt: at(40) }], { now: at(30) });
      const before = counts(await store.getReplay(id));
      expect(before).toMatchObject({
        deliveriesQueued: 6,
        deliveriesOpen: 1,
        deliveriesDead: 1,
        done: false,
      });

      await pruneRun(store);
      expect(await notes(client, store.schema, id)).toBe(2);
      expect(counts(await store.getReplay(id))).toEqual(before);

      // The dead letter re-driven: open again, counted through its note, which stays.
      expect(await store.retryDeadLetters({ now: at(50) })).toBe(1);
      await pruneRun(store);
      expect(await notes(client, store.schema, id)).toBe(2);
      expect(counts(await store.getReplay(id))).toMatchObject({ deliveriesOpen: 2, deliveriesDead: 0 });

      // Handled, and the other one's handler retired: nothing left, no note left.
      const again = await claim(store, at(60));
      expect(again).toHaveLength(2);
      await complete(
        store,
        again.filter((d) => d.handler === dies!.handler),
        at(60),
      );
      await pruneRun(store);
      expect(await notes(client, store.schema, id)).toBe(1);
      await store.retireHandler(stays!.handler);
      await pruneRun(store);
      expect(await notes(client, store.schema, id)).toBe(0);
      expect(counts(await store.getReplay(id))).toEqual({
        status: 'done',
        deliveriesQueued: 6,
        deliveriesOpen: 0,
        deliveriesDead: 0,
        done: true,
      });
    } finally {
      await client.end();
    }
  });

  it('leaves every note of a replay that is still running, done deliveries included', async () => {
    const { store, client } = await setUp(4);
    try {
      const id = await replay(store, 2, 4);
      expect((await store.getReplay(id))?.status).toBe('running');
      await complete(store, await claim(store, at(30)), at(30));
      await pruneRun(store);
      expect(await notes(client, store.schema, id)).toBe(4);
      // Its last page, then a run: now they go.
      expect((await store.continueReplay(id, { now: at(40), pageSize: 2 })).status).toBe('done');
      await complete(store, await claim(store, at(50)), at(50));
      await pruneRun(store);
      expect(await notes(client, store.schema, id)).toBe(0);
      expect(counts(await store.getReplay(id))).toMatchObject({
        deliveriesQueued: 8,
        deliveriesOpen: 0,
        done: true,
      });
    } finally {
      await client.end();
    }
  });

  it('keeps the note of a dead letter whose re-drive is uncommitted while the notes are settled, and after', async () => {
    const { store, client } = await setUp(1);
    const other = await connect();
    try {
      const id = await replay(store);
      const claimed = await claim(store, at(30));
      await store.fail(
        claimed.map((d) => ({ ...d, error: 'boom', nextAttemptAt: null })),
        { now: at(30) },
      );
      // The re-drive's statement runs in a transaction of another session, not committed yet:
      // the settle's snapshot still sees the dead letters (their delete is not committed).
      await other.query('BEGIN');
      const quoted = `"${store.schema}"`;
      expect(
        (await other.query(bindSchema(RETRY_DEAD, quoted), [at(40).toISOString()])).rows[0].retried,
      ).toBe(2);
      expect(await settle(client, quoted)).toBe(0);
      await other.query('COMMIT');
      await pruneRun(store);
      expect(await notes(client, store.schema, id)).toBe(2);
      expect(counts(await store.getReplay(id))).toMatchObject({
        deliveriesOpen: 2,
        deliveriesDead: 0,
        done: false,
      });
      // The other way round: the settle's transaction open (its row locks held, nothing to remove),
      // a death and a re-drive committing meanwhile, then the settle again.
      await client.query('BEGIN');
      expect(await settle(client, quoted)).toBe(0);
      const again = await claim(store, at(50));
      await store.fail(
        again.map((d) => ({ ...d, error: 'boom', nextAttemptAt: null })),
        { now: at(50) },
      );
      expect(await store.retryDeadLetters({ now: at(60) })).toBe(2);
      await client.query('COMMIT');
      await pruneRun(store);
      expect(await notes(client, store.schema, id)).toBe(2);
      expect(counts(await store.getReplay(id))).toMatchObject({ deliveriesOpen: 2, deliveriesDead: 0 });
    } finally {
      await other.end();
      await client.end();
    }
  });

  it('never loses the note of a delivery that dies and is re-driven while prune runs settle, concurrently', async () => {
    const { store, client } = await setUp(20);
    try {
      const id = await replay(store);
      let rounds = 0;
      let stop = false;
      const settling = (async () => {
        while (!stop) {
          await pruneRun(store);
          rounds++;
        }
      })();
      for (let i = 0; i < 15; i++) {
        const claimed = await claim(store, at(100 + i));
        await store.fail(
          claimed.map((d) => ({ ...d, error: 'boom', nextAttemptAt: null })),
          { now: at(100 + i) },
        );
        expect(await store.retryDeadLetters({ now: at(100 + i) })).toBe(40);
        // Every one of them open, every one counted: none of their notes went.
        expect(await notes(client, store.schema, id)).toBe(40);
        expect((await store.getReplay(id))?.deliveriesOpen).toBe(40);
      }
      stop = true;
      await settling;
      expect(rounds).toBeGreaterThan(0);
      await complete(store, await claim(store, at(200)), at(200));
      await pruneRun(store);
      expect(await notes(client, store.schema, id)).toBe(0);
      expect(counts(await store.getReplay(id))).toEqual({
        status: 'done',
        deliveriesQueued: 40,
        deliveriesOpen: 0,
        deliveriesDead: 0,
        done: true,
      });
    } finally {
      await client.end();
    }
  });
});
