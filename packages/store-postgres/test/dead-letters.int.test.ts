import type { ClaimedDelivery } from '@evco/core/adapter';
import { makeEvent } from '@evco/testkit';
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import type { PostgresStore } from '../src/index.js';
import { bindSchema, LEASE_STATEMENTS, quoteIdentifier } from '../src/sql.js';
import { closedAfterEach, connect, createTestStore } from './support.js';

const T0 = new Date('2026-01-01T00:00:00.000Z');
const at = (ms: number) => new Date(T0.getTime() + ms);

/**
 * A `fail` that dead-letters `claimed`, left uncommitted on `client`: the store's own FAIL
 * statement, holding the delivery's row (deleted from `deliveries`, written to `dead_letters`).
 */
async function failInOpenTransaction(
  client: pg.Client,
  schema: string,
  claimed: ClaimedDelivery,
): Promise<void> {
  const m = /^(\d+):(\d+)\/(.*)$/s.exec(claimed.deliveryId)!;
  await client.query('BEGIN');
  await client.query(bindSchema(LEASE_STATEMENTS.FAIL, quoteIdentifier(schema)), [
    [m[1]],
    [m[3]],
    [m[2]],
    [claimed.attempt],
    [claimed.lease ?? null],
    ['boom'],
    [null],
    at(5).toISOString(),
  ]);
}

/** Until a statement waits for the open transaction of `client` (for the row it holds). */
async function untilBlockedBy(client: pg.Client): Promise<void> {
  for (let i = 0; i < 400; i++) {
    const { rows } = await client.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM pg_stat_activity WHERE pg_backend_pid() = ANY(pg_blocking_pids(pid))',
    );
    if (rows[0]!.n > 0) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('no statement of the store waited for the open transaction');
}

async function oneClaimed(store: PostgresStore): Promise<{ id: string; claimed: ClaimedDelivery }> {
  await store.registerSubscriptions([{ eventType: 'TestHappened', handler: 'h', ordering: 'none' }], {
    consumerId: 'c',
    now: T0,
    ttlMs: 3_600_000,
  });
  const event = makeEvent({ occurredAt: T0 });
  await store.append([event], { now: T0 });
  const [claimed] = await store.claimDue({
    consumerId: 'c',
    handlers: ['h'],
    now: at(1),
    leaseMs: 60_000,
    limit: 1,
  });
  return { id: event.id, claimed: claimed! };
}

/**
 * A dead delivery moves from `deliveries` to `dead_letters` in one statement; the statements
 * that act on both tables must not leave a dead letter behind when that move commits while they
 * run (one statement's snapshot predates the dead letter).
 */
describe('dead letters while a delivery is moving to them', () => {
  const stores = closedAfterEach();

  it('retiring a handler removes the dead letter a concurrent fail wrote', async () => {
    const store = await createTestStore();
    stores.push(store);
    const { claimed } = await oneClaimed(store);
    const failing = await connect();
    try {
      await failInOpenTransaction(failing, store.schema, claimed);
      const retiring = store.retireHandler('h');
      await untilBlockedBy(failing);
      await failing.query('COMMIT');
      expect(await retiring).toBe(1);
    } finally {
      await failing.end();
    }
    expect(await store.getDeadLetters({ limit: 10 })).toEqual([]);
    expect(await store.stats({ now: at(6) })).toMatchObject({ dead: 0, pending: 0, unprocessedEvents: 0 });
  });

  it('a replay step queues the delivery a concurrent fail dead-lettered, and removes that dead letter', async () => {
    const store = await createTestStore();
    stores.push(store);
    const { id, claimed } = await oneClaimed(store);
    const job = await store.startReplay(
      { from: T0, to: at(1), eventType: 'TestHappened', maxEvents: 10 },
      { now: at(2) },
    );
    const failing = await connect();
    try {
      await failInOpenTransaction(failing, store.schema, claimed);
      const step = store.continueReplay(job.id, { now: at(3), pageSize: 10 });
      await untilBlockedBy(failing);
      await failing.query('COMMIT');
      expect((await step).deliveriesQueued).toBe(1);
    } finally {
      await failing.end();
    }
    expect(await store.getDeadLetters({ limit: 10 })).toEqual([]);
    expect(await store.getDeliveries(id)).toEqual([
      expect.objectContaining({ handler: 'h', status: 'pending', attempts: 0, isReplay: true }),
    ]);
    expect(await store.getReplay(job.id)).toMatchObject({ deliveriesOpen: 1, deliveriesDead: 0 });
  });
});
