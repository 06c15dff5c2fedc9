import { createDomainEvent, type DomainEvent } from '@evco/core';
import { createPostgresStore, type PostgresStore } from '@evco/store-postgres';
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
 */
export const rawDdl = (schema: string) => `
DROP SCHEMA IF EXISTS ${schema} CASCADE;
CREATE SCHEMA ${schema};
CREATE TABLE ${schema}.events (
  position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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

export const rawInsert = (
  schema: string,
) => `INSERT INTO ${schema}.events (event_id, event_type, aggregate_id,
  aggregate_type, aggregate_version, event_data, metadata, occurred_at, recorded_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`;

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
  const { coordinator, handled } = await countingCoordinator(store, {
    eventType: 'E2eHappened',
    name: 'e2e',
    ordering,
  });
  const now = new Date();
  try {
    return await compare(
      `end to end: 8 publishers, one handler (ordering: ${ordering}), completed (asyncCommit: ${asyncCommit})`,
      total,
      {
        name: 'pg INSERT … VALUES ×8',
        fn: async () => {
          const list = events(total, 'E2eHappened');
          await concurrently(8, total, async (i) => {
            await admin.query(RAW_INSERT, rawValues(list[i]!, now));
          });
        },
      },
      {
        name: 'publishEvent ×8 → handled → completed',
        fn: async () => {
          const list = events(total, 'E2eHappened');
          const target = handled() + total;
          await concurrently(8, total, async (i) => {
            await coordinator.publishEvent(list[i]!);
          });
          while (handled() < target) await new Promise((r) => setTimeout(r, 1));
          await coordinator.waitForIdle({ timeoutMs: 60_000 });
        },
      },
      // The goal is for the plain handler; per-aggregate order adds the settle wait and chain checks.
      ordering === 'none' ? { goal: '>= 0.75' } : {},
    );
  } finally {
    await coordinator.shutdown();
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  }
}
