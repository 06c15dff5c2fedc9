import type { RecordedEvent } from '@evco/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PostgresStore } from '../src/index.js';
import * as SQL from '../src/sql.js';
import { createTestStore, dropSchema, explainPruneBatch, type PlanNode, scans } from './support.js';

const T0 = new Date('2026-01-01T00:00:00.000Z');
const BEFORE = new Date(T0.getTime() + 3_600_000);
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000).toISOString();

/**
 * Events at positions `from`..`to`, one second apart from `T0` (event g at g seconds), of type
 * `types[g % types.length]`, each with its flow row (as an event correlated to another id has).
 */
async function insertEvents(store: PostgresStore, from: number, to: number, types = ['A']): Promise<void> {
  const s = SQL.quoteIdentifier(store.schema);
  await store.pool.query(
    `INSERT INTO ${s}.events (position, event_id, event_type, aggregate_id, event_data, metadata,
       occurred_at, recorded_at)
     SELECT g, gen_random_uuid(), ($4::text[])[1 + g % cardinality($4::text[])], 'agg-' || g, '{}',
       '{"schemaVersion":1}', $1::timestamptz + g * interval '1 second', $1::timestamptz + g * interval '1 second'
     FROM generate_series($2::bigint, $3::bigint) g`,
    [T0.toISOString(), from, to, types],
  );
  await store.pool.query(
    `INSERT INTO ${s}.flows (position, correlation_id, causation_id)
     SELECT g, 'corr-' || g, NULL FROM generate_series($1::bigint, $2::bigint) g`,
    [from, to],
  );
}

/** One event at `position` that occurred at `seconds` after `T0`, with its flow row. */
async function insertEventAt(store: PostgresStore, position: number, seconds: number): Promise<void> {
  const s = SQL.quoteIdentifier(store.schema);
  await store.pool.query(
    `INSERT INTO ${s}.events (position, event_id, event_type, aggregate_id, event_data, metadata,
       occurred_at, recorded_at)
     VALUES ($1, gen_random_uuid(), 'A', 'agg-late', '{}', '{"schemaVersion":1}', $2, $2)`,
    [position, at(seconds)],
  );
  await store.pool.query(`INSERT INTO ${s}.flows (position, correlation_id) VALUES ($1, 'corr-late')`, [
    position,
  ]);
}

async function insertOpenDeliveries(store: PostgresStore, from: number, to: number): Promise<void> {
  const s = SQL.quoteIdentifier(store.schema);
  await store.pool.query(
    `INSERT INTO ${s}.deliveries (position, handler, aggregate_id, ordered, run, status, next_attempt_at,
       created_at, updated_at)
     SELECT g, 'h', 'agg-' || g, true, 1, 'open', $3, $3, $3 FROM generate_series($1::bigint, $2::bigint) g`,
    [from, to, T0.toISOString()],
  );
}

async function insertDeadLetters(store: PostgresStore, from: number, to: number): Promise<void> {
  const s = SQL.quoteIdentifier(store.schema);
  await store.pool.query(
    `INSERT INTO ${s}.dead_letters (position, handler, aggregate_id, ordered, run, attempts, last_error,
       is_replay, updated_at)
     SELECT g, 'h', 'agg-' || g, true, 1, 5, 'boom', false, $3 FROM generate_series($1::bigint, $2::bigint) g`,
    [from, to, T0.toISOString()],
  );
}

async function positions(store: PostgresStore, table: 'events' | 'flows'): Promise<string[]> {
  const s = SQL.quoteIdentifier(store.schema);
  const { rows } = await store.pool.query<{ position: string }>(
    `SELECT t.position::text AS position FROM ${s}.${table} t ORDER BY t.position`,
  );
  return rows.map((r) => r.position);
}

/** A whole prune run, batch by batch: what each batch removed and where the next starts. */
async function pruneRun(
  store: PostgresStore,
  limit: number,
  extra: { eventTypes?: string[]; archive?: (events: readonly RecordedEvent[]) => Promise<void> } = {},
): Promise<Array<[number, string | null]>> {
  const batches: Array<[number, string | null]> = [];
  let after: { occurredAt: Date; position: string } | undefined;
  for (;;) {
    const batch = await store.pruneEvents!({ before: BEFORE, limit, now: new Date(), after, ...extra });
    batches.push([batch.removed, batch.next?.position ?? null]);
    if (!batch.next) return batches;
    after = batch.next;
  }
}

/**
 * A batch's candidates come in time order, in practice close to position order: what must stay
 * (deliveries, dead letters) and the flow rows to delete are read once per batch over the span of
 * its positions, not probed per event (a probe of each primary key per event cost the server
 * about a fifth of a batch's CPU; bench README, "The prune's rules over the batch's span").
 */
describe("a prune batch reads the rules and the flow rows once over its positions' span (EXPLAIN ANALYZE, the generic plan the store runs)", () => {
  const EVENTS = 400;
  const BATCH = 300;
  let store: PostgresStore;
  let plan: PlanNode;

  beforeAll(async () => {
    store = await createTestStore({ poolSize: 2 });
    const s = SQL.quoteIdentifier(store.schema);
    await insertEvents(store, 1, EVENTS, ['A', 'B', 'C', 'D', 'E']);
    // A backlog and dead letters of later events, beyond the batch's span: with statistics that
    // show them, the per-event form probes each table's primary key once per candidate.
    await insertOpenDeliveries(store, 100_001, 110_000);
    await insertDeadLetters(store, 200_001, 201_000);
    for (const table of ['events', 'flows', 'deliveries', 'dead_letters'])
      await store.pool.query(`ANALYZE ${s}.${table}`);
    plan = await explainPruneBatch(
      store,
      [BEFORE, '-infinity', '-1', null, null, BATCH + 1, new Date()],
      async (client) => {
        const { rows: flows } = await client.query(`SELECT count(*)::int AS n FROM ${s}.flows`);
        expect(flows[0].n).toBe(EVENTS - BATCH);
      },
    );
  });

  afterAll(async () => {
    await store?.close();
    if (store) await dropSchema(store.schema);
  });

  it('removes the batch', () => {
    const deleted = scans(plan).filter(
      (n) => n['Node Type'] === 'Tid Scan' && n['Relation Name'] === 'events',
    );
    expect(deleted.map((n) => n['Actual Rows'])).toEqual([BATCH]);
  });

  it('reads deliveries, dead letters and flows once each per batch (one range, or one pass of addresses), not once per event', () => {
    const loops = (table: string) =>
      scans(plan)
        .filter((n) => n['Relation Name'] === table)
        .map((n) => n['Actual Loops'] ?? 0);
    for (const table of ['deliveries', 'dead_letters', 'flows']) {
      const ran = loops(table);
      expect(ran.length, table).toBeGreaterThan(0);
      expect(Math.max(...ran), `${table}: ${ran.join(', ')}`).toBeLessThanOrEqual(1);
    }
  });
});

/**
 * The span's check answers for the whole batch only when nothing in the span must stay; else the
 * batch is chosen event by event, so each batch is what the per-event choice makes it: the same
 * events removed, the same cursor.
 */
describe('a prune whose batches span what must stay, and an event out of time order', () => {
  let store: PostgresStore;

  /**
   * Events 1..300 (one a second), an open delivery of event 50, a dead letter of event 120; an
   * event appended late (position 5 000 000) that occurred between events 200 and 201; a recent
   * event (position 4 000 000, after the cutoff) with an open delivery. Every event has a flow row.
   */
  async function seed(): Promise<void> {
    store = await createTestStore({ poolSize: 2 });
    await insertEvents(store, 1, 300);
    await insertOpenDeliveries(store, 50, 50);
    await insertDeadLetters(store, 120, 120);
    await insertEventAt(store, 5_000_000, 200.5);
    await insertEventAt(store, 4_000_000, 10 * 86_400);
    await insertOpenDeliveries(store, 4_000_000, 4_000_000);
  }

  afterAll(async () => {
    await store?.close();
    if (store) await dropSchema(store.schema);
  });

  // Batch 1: 1..101 but 50 (its span holds 50's delivery: chosen per event, reading on past 50).
  // Batch 2: 102..200 but 120, the late event, 201 (its span reaches 5 000 000, over the recent
  // delivery). Batch 3: 202..300, the last (a clear span: chosen whole).
  const expectedBatches = [
    [100, '101'],
    [100, '201'],
    [99, null],
  ];

  it('without an archive: each batch as the per-event choice makes it; only what must stay is left, with its flow rows', async () => {
    await seed();
    expect(await pruneRun(store, 100)).toEqual(expectedBatches);
    expect(await positions(store, 'events')).toEqual(['50', '120', '4000000']);
    expect(await positions(store, 'flows')).toEqual(['50', '120', '4000000']);
  });

  it('with an archive: the same batches, and the archive sees exactly what is removed', async () => {
    await store.close();
    await dropSchema(store.schema);
    await seed();
    const archived: string[] = [];
    const batches = await pruneRun(store, 100, {
      archive: async (events) => {
        archived.push(...events.map((e) => e.position));
      },
    });
    expect(batches).toEqual(expectedBatches);
    const left = ['50', '120', '4000000'];
    expect(await positions(store, 'events')).toEqual(left);
    expect(await positions(store, 'flows')).toEqual(left);
    expect(archived).toHaveLength(299);
    expect(new Set(archived).size).toBe(299);
    expect(archived.filter((p) => left.includes(p))).toEqual([]);
  });

  it('a delivery added to a chosen event before the delete (archive path) keeps it: the delete checks again', async () => {
    await store.close();
    await dropSchema(store.schema);
    await seed();
    const batches = await pruneRun(store, 100, {
      archive: async (events) => {
        // While the first batch is archived, event 7 gets an open delivery (as a replay step
        // would, had it not been excluded by the lock: the delete must still see it).
        if (events.some((e) => e.position === '7')) await insertOpenDeliveries(store, 7, 7);
      },
    });
    expect(batches[0]).toEqual([99, '101']);
    expect(await positions(store, 'events')).toEqual(['7', '50', '120', '4000000']);
    expect(await positions(store, 'flows')).toEqual(['7', '50', '120', '4000000']);
  });
});

/**
 * A batch of one type among others spans the others' events too: more flow rows in its span than
 * the range read takes (twice the batch), so the removed events' flow rows are found one by one.
 */
describe("a prune of one type among others (more flow rows in the span than the batch's)", () => {
  let store: PostgresStore;

  beforeAll(async () => {
    store = await createTestStore({ poolSize: 2 });
    await insertEvents(store, 1, 90, ['A', 'B', 'C']);
  });

  afterAll(async () => {
    await store?.close();
    if (store) await dropSchema(store.schema);
  });

  it("removes that type's events and their flow rows, and leaves the others' flow rows", async () => {
    const batches = await pruneRun(store, 10, { eventTypes: ['B'] });
    expect(batches.map(([removed]) => removed)).toEqual([10, 10, 10]);
    const others = Array.from({ length: 90 }, (_, i) => i + 1)
      .filter((g) => g % 3 !== 1)
      .map(String);
    expect(await positions(store, 'events')).toEqual(others);
    expect(await positions(store, 'flows')).toEqual(others);
  });
});
