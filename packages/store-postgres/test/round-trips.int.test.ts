/**
 * Statements (each one round trip: pg writes Bind … Sync in one write and waits for the reply) per
 * call on the end-to-end path: a single-event append, whichever statement carries it, and a claim
 * round. Counted on the pool's connections, so a transaction wrapper, a session setting, a second
 * statement or an empty extra claim would show. The counts the bench README gives per event.
 */
import { makeEvent } from '@evco/testkit';
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import type { PostgresStore } from '../src/index.js';
import { closedAfterEach, createTestStore } from './support.js';

const now = new Date();

/** Counts every statement the store's pool connections run from now on. */
function countStatements(store: PostgresStore): { texts: string[] } {
  const seen = new WeakSet<pg.PoolClient>();
  const counted = { texts: [] as string[] };
  store.pool.on('acquire', (client) => {
    if (seen.has(client)) return;
    seen.add(client);
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as { query: unknown }).query = (config: unknown, ...rest: unknown[]) => {
      const text = typeof config === 'string' ? config : (config as { text: string }).text;
      counted.texts.push(text.trimStart().slice(0, 16));
      return query(config, ...rest);
    };
  });
  return counted;
}

async function subscribe(store: PostgresStore, handlers: string[]): Promise<void> {
  await store.registerSubscriptions(
    handlers.map((handler) => ({ eventType: 'TestHappened', handler, ordering: 'none' as const })),
    { consumerId: 'c', now, ttlMs: 3_600_000 },
  );
}

const request = (now: Date) => ({
  consumerId: 'c',
  handlers: ['h'],
  now,
  leaseMs: 30_000,
  limit: 10,
  ordered: false,
});

describe('store-postgres: round trips on the end-to-end path', () => {
  const stores = closedAfterEach();

  it('a single-event append is one statement, for a type nobody subscribes to and for a subscribed one', async () => {
    const store = await createTestStore({ poolSize: 4 });
    stores.push(store);
    await store.append([makeEvent({ eventType: 'Unwatched' })], { now });
    await subscribe(store, ['h']);
    // The type's first append finds the subscriber; later ones go by the deliveries' insert.
    await store.append([makeEvent()], { now });
    const counted = countStatements(store);
    for (let i = 0; i < 5; i++) {
      await store.append([makeEvent({ eventType: 'Unwatched' })], { now });
      await store.append([makeEvent()], { now });
    }
    await Promise.all(Array.from({ length: 8 }, () => store.append([makeEvent()], { now })));
    expect(counted.texts).toHaveLength(18);
    expect(counted.texts.every((t) => t.startsWith('WITH'))).toBe(true);
  });

  it('a claim round is one statement: completing the last batch and claiming the next together', async () => {
    const store = await createTestStore();
    stores.push(store);
    await subscribe(store, ['h']);
    for (let i = 0; i < 6; i++) await store.append([makeEvent()], { now });
    const counted = countStatements(store);
    const first = await store.claimDue({ ...request(now), limit: 3 });
    expect(first).toHaveLength(3);
    const second = await store.completeAndClaim(first, { ...request(now), limit: 3 });
    expect(second).toHaveLength(3);
    const last = await store.completeAndClaim(second, request(now));
    expect(last).toEqual([]);
    expect(counted.texts).toHaveLength(3);
    // All six completed: nothing left to claim even once the leases would have run out.
    expect(await store.claimDue(request(new Date(now.getTime() + 60_000)))).toEqual([]);
  });
});
