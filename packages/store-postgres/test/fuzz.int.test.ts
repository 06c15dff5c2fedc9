import { isEvcoError } from '@evco/core';
import { makeEvent } from '@evco/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresStore, type PostgresStore } from '../src/index.js';
import { connect, createTestStore, databaseUrl, dropSchema } from './support.js';

const PIECES = [
  "'",
  '"',
  ';',
  '--',
  '/*',
  '*/',
  '\\',
  '%',
  '_',
  '*',
  '?',
  '[',
  ']',
  '(',
  ')',
  '$1',
  '$$',
  '$tag$',
  "E'\\x00'",
  ' DROP TABLE events',
  ' OR 1=1',
  "'); DELETE FROM deliveries; --",
  '\n',
  '\t',
  '::text',
  '{s}',
  '/',
  'ü',
  '🚀',
  'x',
];

function fuzz(seed: number): string {
  let s = seed;
  const next = () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s;
  };
  const n = 1 + (next() % 6);
  return Array.from({ length: n }, () => PIECES[next() % PIECES.length]).join('');
}

const T0 = new Date('2026-01-01T00:00:00.000Z');
const VALUES = Array.from({ length: 150 }, (_, i) => `${fuzz(i + 1)}#${i}`);

async function snapshot(schema: string): Promise<unknown> {
  const client = await connect();
  try {
    const schemas = await client.query(`SELECT nspname FROM pg_namespace ORDER BY nspname`);
    const tables = await client.query(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name`,
      [schema],
    );
    const counts: Record<string, number> = {};
    for (const t of tables.rows) {
      counts[t.table_name] = (
        await client.query(`SELECT count(*)::int AS n FROM "${schema}"."${t.table_name}"`)
      ).rows[0].n;
    }
    return {
      schemas: schemas.rows.map((r) => r.nspname).filter((n: string) => !n.startsWith('evco_')),
      counts,
    };
  } finally {
    await client.end();
  }
}

describe('SQL metacharacters in every value', () => {
  let store: PostgresStore;

  beforeAll(async () => {
    store = await createTestStore();
  });

  afterAll(async () => {
    await store?.close();
    if (store) await dropSchema(store.schema);
  });

  it('bad schema names are rejected before any I/O; the database is unchanged', async () => {
    const before = await snapshot(store.schema);
    const url = await databaseUrl();
    for (const schema of [...VALUES, 'evco;', 'EVCO', 'pg_catalog"', 'a b', `${'a'.repeat(41)}b`]) {
      let error: unknown;
      try {
        const s = createPostgresStore({ connectionString: url, schema });
        await s.migrate();
        await s.close();
      } catch (e) {
        error = e;
      }
      expect(isEvcoError(error, 'INVALID_OPTIONS'), JSON.stringify(schema)).toBe(true);
    }
    expect(await snapshot(store.schema)).toEqual(before);
  });

  it('aggregate ids, types, handlers, consumers, metadata, payload keys and errors are stored and matched literally', async () => {
    const events = VALUES.map((value) =>
      makeEvent({
        eventType: 'Fuzz',
        aggregateId: value,
        metadata: { note: value },
        eventData: { [value]: value, nested: [value] },
      }),
    );
    await store.registerSubscriptions(
      VALUES.map((handler) => ({ handler, eventType: 'Fuzz', ordering: 'none' as const })),
      { consumerId: VALUES[0]!, now: T0, ttlMs: 3_600_000 },
    );
    // Subscriptions first, so every event gets a delivery for every fuzzed handler.
    const { deliveries } = await store.append(events, { now: T0 });
    expect(deliveries.every((d) => d === VALUES.length)).toBe(true);
    const before = await snapshot(store.schema);

    expect((await store.listSubscriptions()).map((s) => s.handler).sort()).toEqual([...VALUES].sort());
    for (const [i, value] of VALUES.entries()) {
      const [stored, ...rest] = await store.read({ aggregateId: value, limit: 10 });
      expect(rest).toEqual([]);
      expect(stored!.id).toBe(events[i]!.id);
      expect(stored!.metadata.note).toBe(value);
      expect(stored!.eventData).toEqual({ [value]: value, nested: [value] });
      expect(await store.read({ eventType: value, limit: 10 })).toEqual([]);
      expect(await store.read({ eventType: [value, 'Fuzz'], aggregateId: value, limit: 10 })).toHaveLength(1);
      expect(await store.read({ aggregateType: value, limit: 10 })).toEqual([]);
      expect(await store.getEvent(value)).toBeUndefined();
    }
    expect(await snapshot(store.schema)).toEqual(before);

    // Each fuzzed handler claims (as a fuzzed consumer) one delivery, fails it for good with a
    // fuzzed error, and finds exactly that dead letter under its own name.
    for (const [i, handler] of VALUES.slice(0, 40).entries()) {
      const claimed = await store.claimDue({
        consumerId: handler,
        handlers: [handler],
        now: T0,
        leaseMs: 1000,
        limit: 1,
      });
      expect(claimed).toHaveLength(1);
      expect(claimed[0]!.handler).toBe(handler);
      await store.fail([{ ...claimed[0]!, error: VALUES[(i + 7) % VALUES.length]!, nextAttemptAt: null }], {
        now: T0,
      });
      const dead = await store.getDeadLetters({ handler, limit: 10 });
      expect(dead.map((d) => [d.delivery.handler, d.delivery.lastError, d.event.id])).toEqual([
        [handler, VALUES[(i + 7) % VALUES.length], claimed[0]!.event.id],
      ]);
      const unprocessed = await store.getUnprocessedEvents({ handler, limit: 1 });
      expect(unprocessed[0]!.deliveries.map((d) => d.handler)).toContain(handler);
      expect(
        await store.retryDeadLetters({ deliveryIds: [dead[0]!.delivery.deliveryId], handler, now: T0 }),
      ).toBe(1);
      expect(await store.getDeadLetters({ handler, limit: 10 })).toEqual([]);
    }
    // Ids shaped like this store's but out of range or unknown match nothing.
    for (const id of ['9999999999999999999:1/h', '1:99999999999999999999/h', `1:1/${VALUES[0]}`]) {
      expect(await store.retryDeadLetters({ deliveryIds: [id], now: T0 })).toBe(0);
      await store.complete([{ deliveryId: id, attempt: 1 }], { now: T0 });
    }
    const job = await store.startReplay(
      { from: T0, to: new Date(T0.getTime() + 1), eventType: VALUES[3], handler: VALUES[4], maxEvents: 10 },
      { now: T0 },
    );
    expect((await store.continueReplay(job.id, { now: T0, pageSize: 10 })).eventsMatched).toBe(0);
    expect(await store.retireHandler(VALUES[5]!)).toBe(VALUES.length);
    expect((await store.listSubscriptions()).some((s) => s.handler === VALUES[5])).toBe(false);
    const stats = await store.stats({ now: T0 });
    expect(stats.pending + stats.running).toBe(VALUES.length * (VALUES.length - 1));
  });
});
