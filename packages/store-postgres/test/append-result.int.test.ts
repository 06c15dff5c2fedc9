import { isEvcoError } from '@evco/core';
import { makeEvent, waitFor } from '@evco/testkit';
import { describe, expect, it } from 'vitest';
import type { PostgresStore } from '../src/index.js';
import { closedAfterEach, connect, createTestStore } from './support.js';

/**
 * What a single-event append through the pool answers, whichever statement carries it: the
 * deliveries' insert (a row per delivery) while the type has subscribers, the events' insert
 * (always one row) while it has none, and the switch between the two as subscribers come and go.
 */
describe('store-postgres: the single-event append result', () => {
  const stores = closedAfterEach();
  const now = new Date();
  const HOUR = 3_600_000;

  async function subscribe(store: PostgresStore, handlers: string[], ttlMs = HOUR): Promise<void> {
    await store.registerSubscriptions(
      handlers.map((handler) => ({ eventType: 'TestHappened', handler, ordering: 'none' as const })),
      { consumerId: 'c', now, ttlMs },
    );
  }

  /** Appends one event; checks its position against what the store reads back. */
  async function appendOne(store: PostgresStore): Promise<{ position: string; deliveries: number }> {
    const event = makeEvent();
    const appended = await store.append([event], { now });
    const [read] = await store.read({ aggregateId: event.aggregateId, limit: 10 });
    expect(read?.id).toBe(event.id);
    expect(appended.events[0]!.position).toBe(read!.position);
    expect((await store.getDeliveries(event.id)).length).toBe(appended.deliveries[0]);
    return { position: appended.events[0]!.position, deliveries: appended.deliveries[0]! };
  }

  it('counts the deliveries and gives the position, as subscribers come, go and come back', async () => {
    const store = await createTestStore();
    stores.push(store);
    const counts: number[] = [];
    const positions: bigint[] = [];
    const step = async () => {
      const r = await appendOne(store);
      counts.push(r.deliveries);
      positions.push(BigInt(r.position));
    };
    await step(); // nobody subscribed yet
    await step(); // still nobody (the type is remembered as unsubscribed)
    await subscribe(store, ['a']);
    await step();
    await subscribe(store, ['a', 'b', 'c']);
    await step();
    await step();
    await store.retireHandler('a');
    await store.retireHandler('b');
    await store.retireHandler('c');
    await step();
    await subscribe(store, ['b']);
    await step();
    await step();
    expect(counts).toEqual([0, 0, 1, 3, 3, 0, 1, 1]);
    expect(positions).toEqual([...positions].sort((x, y) => (x < y ? -1 : 1)));
    expect(new Set(positions).size).toBe(positions.length);
  });

  it('counts only live subscriptions (an expired one gets no delivery)', async () => {
    const store = await createTestStore();
    stores.push(store);
    await subscribe(store, ['live']);
    await store.registerSubscriptions([{ eventType: 'TestHappened', handler: 'gone', ordering: 'none' }], {
      consumerId: 'c',
      now: new Date(now.getTime() - 2 * HOUR),
      ttlMs: HOUR,
    });
    expect((await appendOne(store)).deliveries).toBe(1);
  });

  it('many concurrent appends of a subscribed and an unsubscribed type: each its own position and count', async () => {
    const store = await createTestStore({ poolSize: 8 });
    stores.push(store);
    await subscribe(store, ['a', 'b']);
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        store.append([makeEvent(i % 2 === 0 ? {} : { eventType: 'Unwatched' })], { now }),
      ),
    );
    expect(results.map((r) => r.deliveries[0])).toEqual(
      Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? 2 : 0)),
    );
    const positions = results.map((r) => r.events[0]!.position);
    expect(new Set(positions).size).toBe(40);
    const stored = await store.read({ limit: 100 });
    expect(stored.map((e) => e.position).sort()).toEqual([...positions].sort());
  });

  it('events in a flow appended with their deliveries keep their flow rows: found by correlation and causation', async () => {
    const store = await createTestStore();
    stores.push(store);
    await subscribe(store, ['a']);
    const root = makeEvent();
    await store.append([root], { now });
    const caused = () => makeEvent({ metadata: { correlationId: root.id, causationId: root.id } });
    const correlatedOnly = makeEvent({ metadata: { correlationId: root.id } });
    const flow = [caused(), caused(), correlatedOnly];
    for (const e of flow) {
      const appended = await store.append([e], { now });
      expect(appended.deliveries).toEqual([1]);
    }
    const ids = (events: Array<{ id: string }>) => events.map((e) => e.id);
    expect(ids(await store.read({ correlationId: root.id, limit: 10 }))).toEqual(ids([root, ...flow]));
    expect(ids(await store.read({ causationId: root.id, limit: 10 }))).toEqual(ids(flow.slice(0, 2)));
  });

  it('a duplicate id or a taken aggregate version fails as it always did, writing nothing', async () => {
    const store = await createTestStore();
    stores.push(store);
    await subscribe(store, ['a']);
    const first = makeEvent({ aggregateId: 'order-1', aggregateVersion: 1 });
    expect((await store.append([first], { now })).deliveries).toEqual([1]);
    const again = await store.append([first], { now }).catch((e: unknown) => e);
    expect(isEvcoError(again, 'DUPLICATE_EVENT')).toBe(true);
    const taken = await store
      .append([makeEvent({ aggregateId: 'order-1', aggregateVersion: 1 })], { now })
      .catch((e: unknown) => e);
    expect(isEvcoError(taken, 'CONCURRENCY')).toBe(true);
    expect((await store.read({ limit: 10 })).map((e) => e.id)).toEqual([first.id]);
    expect(await store.getDeliveries(first.id)).toHaveLength(1);
    // The store goes on appending by the same statement afterwards.
    expect((await appendOne(store)).deliveries).toBe(1);
  });

  /** Makes the type's next single-event append go by the deliveries' insert, then leaves it with no subscriber. */
  async function deliveringThenUnsubscribed(store: PostgresStore): Promise<void> {
    await subscribe(store, ['a']);
    expect((await appendOne(store)).deliveries).toBe(1);
    await store.retireHandler('a');
  }

  it('an event removed right after its append (no subscriber, before its position was read) is a typed error', async () => {
    const store = await createTestStore();
    stores.push(store);
    await deliveringThenUnsubscribed(store);
    // Stands in for a retention batch removing the event between the append and the read of its
    // position: the row is gone when the append commits.
    const admin = await connect();
    try {
      await admin.query(`CREATE FUNCTION "${store.schema}".vanish() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN DELETE FROM "${store.schema}".events WHERE position = NEW.position; RETURN NULL; END $$`);
      await admin.query(
        `CREATE TRIGGER vanish AFTER INSERT ON "${store.schema}".events FOR EACH ROW EXECUTE FUNCTION "${store.schema}".vanish()`,
      );
    } finally {
      await admin.end();
    }
    const event = makeEvent();
    const error = await store.append([event], { now }).catch((e: unknown) => e);
    expect(isEvcoError(error, 'STORE_FAILED')).toBe(true);
    expect((error as Error).message).toContain(event.id);
    expect((error as Error).message).toContain('removed by retention');
  });

  it('its connection terminated mid-statement: STORE_UNAVAILABLE, no crash, the next append goes through', async () => {
    const store = await createTestStore({ applicationName: 'evco-append-terminated' });
    stores.push(store);
    await subscribe(store, ['a']);
    expect((await appendOne(store)).deliveries).toBe(1);
    const blocker = await connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query(`LOCK TABLE "${store.schema}".events IN ACCESS EXCLUSIVE MODE`);
      const appending = store.append([makeEvent()], { now }).catch((e: unknown) => e);
      await waitFor(async () => {
        const { rows } = await blocker.query(
          `SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity
           WHERE application_name = 'evco-append-terminated' AND wait_event_type = 'Lock'`,
        );
        return rows.length > 0;
      });
      expect(isEvcoError(await appending, 'STORE_UNAVAILABLE')).toBe(true);
      await blocker.query('ROLLBACK');
    } finally {
      await blocker.end();
    }
    expect((await appendOne(store)).deliveries).toBe(1);
  });

  it('close() while such an append runs: it finishes, position read and all', async () => {
    const store = await createTestStore();
    stores.push(store);
    await deliveringThenUnsubscribed(store);
    // The watcher is not the locker: inside the locking transaction pg_stat_activity would keep
    // showing what it showed first.
    const [locker, watcher] = [await connect(), await connect()];
    const event = makeEvent();
    try {
      await locker.query('BEGIN');
      await locker.query(`LOCK TABLE "${store.schema}".events IN SHARE MODE`);
      const appending = store.append([event], { now });
      // The append is waiting on the lock when close() starts.
      await waitFor(async () => {
        const { rows } = await watcher.query(
          `SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND strpos(query, $1) > 0`,
          [`"${store.schema}".events`],
        );
        return rows.length > 0;
      });
      const closing = store.close();
      await locker.query('COMMIT');
      const appended = await appending;
      await closing;
      expect(appended.deliveries).toEqual([0]);
      const { rows } = await watcher.query(
        `SELECT position::text AS p FROM "${store.schema}".events WHERE event_id = $1`,
        [event.id],
      );
      expect(appended.events[0]!.position).toBe(rows[0].p);
    } finally {
      await Promise.all([locker.end(), watcher.end()]);
    }
  });
});
