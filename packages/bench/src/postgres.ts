import { createDomainEvent, type DomainEvent } from '@evco/core';
import { createPostgresStore, POSITION_BLOCK, type PostgresStore } from '@evco/store-postgres';
import pg from 'pg';
import { databaseUrl } from './env.js';
import { type BenchSection, type Comparison, compare, countingCoordinator } from './harness.js';

const SCHEMA = 'evco_bench';
export const RAW_SCHEMA = 'evco_bench_raw';
const RAW = RAW_SCHEMA;

/**
 * The raw baseline: what a careful team writes by hand with `pg` for the same data: the same
 * columns (jsonb payload and metadata, timestamptz), the same unique and secondary indexes,
 * a bigint identity for the order, unnamed parameterized statements.
 *
 * `positions: 'xid'` orders the events as evco does instead (`position` = the writing
 * transaction's id × `POSITION_BLOCK` + index, see store-postgres's README, "Gap-safe global
 * order"): what a reader needs to walk them by position without missing a late commit. An
 * identity is not gap-safe: a lower value can commit after a higher one was read.
 */
export const rawDdl = (schema: string, positions: 'identity' | 'xid' = 'identity') => `
DROP SCHEMA IF EXISTS ${schema} CASCADE;
CREATE SCHEMA ${schema};
CREATE TABLE ${schema}.events (
  position bigint ${positions === 'identity' ? 'GENERATED ALWAYS AS IDENTITY ' : ''}PRIMARY KEY,
  event_id uuid NOT NULL UNIQUE,
  event_type text NOT NULL,
  aggregate_id text NOT NULL,
  aggregate_type text,
  aggregate_version bigint,
  event_data jsonb NOT NULL,
  metadata jsonb NOT NULL,
  occurred_at timestamptz NOT NULL,
  recorded_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX ON ${schema}.events (aggregate_id, aggregate_version) WHERE aggregate_version IS NOT NULL;
CREATE INDEX ON ${schema}.events (aggregate_id, position);
CREATE INDEX ON ${schema}.events (event_type, position);
CREATE INDEX ON ${schema}.events (aggregate_type, position) WHERE aggregate_type IS NOT NULL;
CREATE INDEX ON ${schema}.events (occurred_at);`;

/** A single-event INSERT into `rawDdl`'s table, the same nine parameters either way. */
export const rawInsert = (schema: string, positions: 'identity' | 'xid' = 'identity') =>
  positions === 'identity'
    ? `INSERT INTO ${schema}.events (event_id, event_type, aggregate_id,
  aggregate_type, aggregate_version, event_data, metadata, occurred_at, recorded_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`
    : `INSERT INTO ${schema}.events (position, event_id, event_type, aggregate_id,
  aggregate_type, aggregate_version, event_data, metadata, occurred_at, recorded_at)
VALUES (pg_current_xact_id()::text::bigint * ${POSITION_BLOCK} + 1, $1, $2, $3, $4, $5, $6, $7, $8, $9)`;

export const RAW_DDL = rawDdl(RAW);
export const RAW_INSERT = rawInsert(RAW);

const RAW_INSERT_MANY = `INSERT INTO ${RAW}.events (event_id, event_type, aggregate_id, aggregate_type,
  aggregate_version, event_data, metadata, occurred_at, recorded_at)
SELECT event_id, event_type, aggregate_id, aggregate_type, aggregate_version, event_data::jsonb, metadata::jsonb,
  occurred_at, $9
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[],
  $8::timestamptz[]) AS t(event_id, event_type, aggregate_id, aggregate_type, aggregate_version, event_data,
  metadata, occurred_at)`;

const RAW_PAGE = `SELECT position, event_id, event_type, aggregate_id, aggregate_type, aggregate_version,
  event_data, metadata, occurred_at, recorded_at
FROM ${RAW}.events WHERE position > $1 ORDER BY position LIMIT $2`;

export function events(n: number, eventType = 'BenchHappened'): DomainEvent[] {
  return Array.from({ length: n }, (_, i) =>
    createDomainEvent({
      eventType,
      aggregateId: `bench-${i % 997}`,
      aggregateType: 'Bench',
      eventData: { index: i, name: `user-${i}`, email: `user-${i}@example.com`, tags: ['a', 'b'] },
    }),
  );
}

export function rawValues(e: DomainEvent, now: Date): unknown[] {
  return [
    e.id,
    e.eventType,
    e.aggregateId,
    e.aggregateType ?? null,
    e.aggregateVersion ?? null,
    JSON.stringify(e.eventData),
    JSON.stringify(e.metadata),
    e.occurredAt,
    now,
  ];
}

function rawArrays(batch: DomainEvent[], now: Date): unknown[] {
  return [
    batch.map((e) => e.id),
    batch.map((e) => e.eventType),
    batch.map((e) => e.aggregateId),
    batch.map((e) => e.aggregateType ?? null),
    batch.map((e) => e.aggregateVersion ?? null),
    batch.map((e) => JSON.stringify(e.eventData)),
    batch.map((e) => JSON.stringify(e.metadata)),
    batch.map((e) => e.occurredAt.toISOString()),
    now,
  ];
}

/** Runs `total` operations spread over `workers` concurrent loops. */
export async function concurrently(
  workers: number,
  total: number,
  op: (i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      for (let i = next++; i < total; i = next++) await op(i);
    }),
  );
}

/**
 * The raw end-to-end side: `total` fresh events of `eventType`, each inserted by one of 8
 * concurrent callers with `insert` (nine parameters, `rawValues`; a named statement when given
 * a name); `inserted`, when given, runs after each insert.
 */
export async function insertConcurrently(
  pool: pg.Pool,
  insert: string | { name: string; text: string },
  total: number,
  eventType: string,
  inserted?: () => void,
): Promise<void> {
  const list = events(total, eventType);
  const now = new Date();
  await concurrently(8, total, async (i) => {
    const values = rawValues(list[i]!, now);
    await (typeof insert === 'string' ? pool.query(insert, values) : pool.query({ ...insert, values }));
    inserted?.();
  });
}

/**
 * The evco end-to-end side: `total` fresh events of `eventType` published by 8 concurrent callers;
 * resolves when each has been handled and every delivery is completed in the store.
 */
export async function publishAndDrain(
  run: Awaited<ReturnType<typeof countingCoordinator>>,
  total: number,
  eventType: string,
): Promise<void> {
  const list = events(total, eventType);
  const target = run.handled() + total;
  await concurrently(8, total, async (i) => {
    await run.coordinator.publishEvent(list[i]!);
  });
  while (run.handled() < target) await new Promise((r) => setTimeout(r, 1));
  await run.coordinator.waitForIdle({ timeoutMs: 60_000 });
}

export const postgresSection: BenchSection = {
  name: 'postgres',
  async run() {
    const admin = new pg.Pool({ connectionString: databaseUrl, max: 8 });
    await admin.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
    await admin.query(RAW_DDL);
    const store: PostgresStore = createPostgresStore({
      connectionString: databaseUrl,
      schema: SCHEMA,
      poolSize: 8,
    });
    await store.migrate();
    const out: Array<Comparison | Record<string, unknown>> = [];
    try {
      const now = new Date();

      const single = 2000;
      out.push(
        await compare(
          'append: single event, sequential',
          single,
          {
            name: 'pg INSERT … VALUES',
            fn: async () => {
              for (const e of events(single)) await admin.query(RAW_INSERT, rawValues(e, now));
            },
          },
          {
            name: 'store.append([event])',
            fn: async () => {
              for (const e of events(single)) await store.append([e], { now });
            },
          },
          { goal: '>= 0.9' },
        ),
      );

      const parallel = 4000;
      out.push(
        await compare(
          'append: single event, 8 concurrent callers',
          parallel,
          {
            name: 'pg INSERT … VALUES ×8',
            fn: async () => {
              const list = events(parallel);
              await concurrently(8, parallel, async (i) => {
                await admin.query(RAW_INSERT, rawValues(list[i]!, now));
              });
            },
          },
          {
            name: 'store.append([event]) ×8',
            fn: async () => {
              const list = events(parallel);
              await concurrently(8, parallel, async (i) => {
                await store.append([list[i]!], { now });
              });
            },
          },
          { goal: '>= 0.85' },
        ),
      );

      const batches = 20;
      const batchSize = 500;
      out.push(
        await compare(
          'append: 500-event batches',
          batches * batchSize,
          {
            name: 'pg INSERT … SELECT unnest(…)',
            fn: async () => {
              for (let b = 0; b < batches; b++)
                await admin.query(RAW_INSERT_MANY, rawArrays(events(batchSize), now));
            },
          },
          {
            name: 'store.append(batch)',
            fn: async () => {
              for (let b = 0; b < batches; b++) await store.append(events(batchSize), { now });
            },
          },
          { goal: '>= 0.85' },
        ),
      );

      for (const ordering of ['none', 'aggregate'] as const) {
        for (const asyncCommit of ['none', 'leases'] as const)
          out.push(await endToEnd(admin, ordering, asyncCommit));
      }

      const readTotal = 20_000;
      const pageSize = 1000;
      out.push(
        await compare(
          'history: paged read of 20 000 events',
          readTotal,
          {
            name: 'pg SELECT … WHERE position > $1 LIMIT 1000',
            fn: async () => {
              let after = '0';
              let read = 0;
              while (read < readTotal) {
                const { rows } = await admin.query(RAW_PAGE, [after, pageSize]);
                if (rows.length === 0) break;
                read += rows.length;
                after = rows[rows.length - 1].position;
              }
            },
          },
          {
            name: 'store.readAll({ pageSize: 1000 })',
            fn: async () => {
              let read = 0;
              for await (const _ of store.readAll({ pageSize })) if (++read >= readTotal) break;
            },
          },
          { goal: '>= 0.8' },
        ),
      );
    } finally {
      await store.close();
      await admin.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
      await admin.query(`DROP SCHEMA IF EXISTS ${RAW} CASCADE`);
      await admin.end();
    }
    return out;
  },
};

/**
 * Publish → store → claim → handle → complete, 8 concurrent publishers, one handler; a round ends
 * when every event's delivery is completed in the store. Baseline: 8 concurrent raw INSERTs.
 */
async function endToEnd(
  admin: pg.Pool,
  ordering: 'none' | 'aggregate',
  asyncCommit: 'none' | 'leases',
): Promise<Comparison> {
  const total = 4000;
  const schema = `${SCHEMA}_e2e_${ordering}`;
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  const store = createPostgresStore({ connectionString: databaseUrl, schema, poolSize: 10, asyncCommit });
  const run = await countingCoordinator(store, { eventType: 'E2eHappened', name: 'e2e', ordering });
  try {
    return await compare(
      `end to end: 8 publishers, one handler (ordering: ${ordering}), completed (asyncCommit: ${asyncCommit})`,
      total,
      {
        name: 'pg INSERT … VALUES ×8',
        fn: () => insertConcurrently(admin, RAW_INSERT, total, 'E2eHappened'),
      },
      {
        name: 'publishEvent ×8 → handled → completed',
        fn: () => publishAndDrain(run, total, 'E2eHappened'),
      },
      // The goal is for the plain handler; per-aggregate order adds the settle wait and chain checks.
      ordering === 'none' ? { goal: '>= 0.75' } : {},
    );
  } finally {
    await run.coordinator.shutdown();
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  }
}
