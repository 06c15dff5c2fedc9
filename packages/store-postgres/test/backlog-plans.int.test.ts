import { makeEvent } from '@evco/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PostgresStore } from '../src/index.js';
import { leaseTokens } from '../src/postgres-store.js';
import { createTestStore, dropSchema, nodeRowsRead, type PlanNode, sqlLiteral } from './support.js';

const BACKLOG = 40_000;
const T0 = new Date('2026-01-01T00:00:00.000Z');

/** Rows the plan's scans of `tables` (and bitmap scans of their indexes) read: passed on and filtered out. */
function rowsRead(node: PlanNode, tables: readonly string[]): number {
  const scanned =
    tables.includes(node['Relation Name'] ?? '') ||
    (node['Node Type'] === 'Bitmap Index Scan' &&
      tables.some((table) => node['Index Name']?.startsWith(`${table}_`)));
  const own = scanned ? nodeRowsRead(node) : 0;
  return own + (node.Plans ?? []).reduce((sum, child) => sum + rowsRead(child, tables), 0);
}

const deliveryRowsRead = (node: PlanNode) => rowsRead(node, ['deliveries']);

/**
 * The claims as the dispatcher sends them: `ordered: false` (every handler unordered: the claim
 * without the `unsettled` row), and without the hint (the claim with it).
 */
const HINTS = [false, undefined] as const;

/**
 * The completion's two forms (sql.ts, `DELETE_BY_LEASE`): one claim's deliveries (every
 * combination of their positions, handler and lease), and two claims' (token by token).
 */
const FORMS = ['product', 'each'] as const;
type Form = (typeof FORMS)[number];

const request = (ordered: boolean | undefined, limit = 10) => ({
  consumerId: 'c',
  handlers: ['h'],
  now: T0,
  leaseMs: 60_000,
  limit,
  ordered,
});

/**
 * Claims and completes through the store (its one connection prepares the statement: the
 * completion of one claim's 10 deliveries, or of two claims' 5 each), then runs the prepared
 * `completeAndClaim` under `EXPLAIN ANALYZE EXECUTE` on that connection, rolled back. Each call
 * leases 20 deliveries.
 */
async function explainClaim(
  store: PostgresStore,
  ordered: boolean | undefined,
  form: Form,
): Promise<{ jit: string; explained: { Plan: PlanNode; JIT?: unknown } }> {
  const first =
    form === 'product'
      ? await store.claimDue(request(ordered))
      : [...(await store.claimDue(request(ordered, 5))), ...(await store.claimDue(request(ordered, 5)))];
  const second = await store.completeAndClaim!(first, request(ordered));
  expect(second).toHaveLength(10);
  const client = await store.pool.connect();
  try {
    const { rows: settings } = await client.query<{ jit: string }>(`SELECT current_setting('jit') AS jit`);
    const { rows: prepared } = await client.query<{ name: string }>(
      `SELECT name FROM pg_prepared_statements WHERE statement LIKE '%WITH done AS%' AND statement LIKE '%claimed AS%'
         AND (statement LIKE '%UNION ALL%') = $1 AND (statement LIKE '%USING unnest(%') = $2`,
      [ordered !== false, form === 'each'],
    );
    expect(prepared).toHaveLength(1);
    const tokens = second.map((d) => {
      const m = /^(\d+):(\d+)\/(.+)$/s.exec(d.deliveryId)!;
      return { position: m[1]!, handler: m[3]!, lease: d.lease! };
    });
    const completing = leaseTokens(
      tokens.map((t) => t.position),
      tokens.map((t) => t.handler),
      tokens.map((t) => t.lease),
    );
    expect(completing.product).toBe(true);
    const values = [
      ...(form === 'product'
        ? completing.params
        : [tokens.map((t) => t.position), tokens.map((t) => t.handler), tokens.map((t) => t.lease)]),
      ['h'],
      T0,
      10,
      'c:probe',
      new Date(T0.getTime() + 60_000),
    ];
    await client.query('BEGIN');
    try {
      const { rows } = await client.query(
        `EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE ${prepared[0]!.name}(${values.map(sqlLiteral).join(', ')})`,
      );
      const explained = (rows[0]['QUERY PLAN'] as Array<{ Plan: PlanNode; JIT?: unknown }>)[0]!;
      return { jit: settings[0]!.jit, explained };
    } finally {
      await client.query('ROLLBACK');
    }
  } finally {
    client.release();
  }
}

async function subscribe(store: PostgresStore): Promise<void> {
  await store.registerSubscriptions([{ eventType: 'Backlogged', handler: 'h', ordering: 'none' }], {
    consumerId: 'c',
    now: T0,
    ttlMs: 3_600_000,
  });
}

async function appendBacklog(store: PostgresStore, count: number): Promise<void> {
  for (let i = 0; i < count; i += 5_000) {
    await store.append(
      Array.from({ length: Math.min(5_000, count - i) }, (_, j) =>
        makeEvent({ eventType: 'Backlogged', aggregateId: `a-${(i + j) % 977}` }),
      ),
      { now: T0 },
    );
  }
}

/**
 * Autovacuum off for the store's tables whatever the server says (nothing then replaces a plan
 * but the connection's end), a subscription, 60 events, and both claims planned on the store's
 * one connection while the tables hold them.
 */
async function planWhileSmall(store: PostgresStore): Promise<void> {
  const client = await store.pool.connect();
  try {
    await client.query(`ALTER TABLE "${store.schema}".deliveries SET (autovacuum_enabled = false)`);
    await client.query(`ALTER TABLE "${store.schema}".events SET (autovacuum_enabled = false)`);
  } finally {
    client.release();
  }
  await subscribe(store);
  // Each claim planned (with and without the hint, each form) leases 20 of them.
  await appendBacklog(store, 30 * HINTS.length * FORMS.length);
  for (const ordered of HINTS) for (const form of FORMS) await explainClaim(store, ordered, form);
}

/**
 * The claim as the store's own connection runs it: a named statement with a generic plan, made
 * after the tables grew and were analyzed (what autovacuum does). A generic plan does not know
 * the claim's LIMIT and assumes a tenth of the backlog: the lease update used to hash-join the
 * whole deliveries table, and the plan's estimated cost set off JIT compilation on every claim
 * (~0.8 s at 200 000 open deliveries).
 */
describe(`the claim's generic plan with ${BACKLOG} open deliveries`, () => {
  let store: PostgresStore;

  beforeAll(async () => {
    store = await createTestStore({ poolSize: 1 });
    await subscribe(store);
    await appendBacklog(store, BACKLOG);
    const client = await store.pool.connect();
    try {
      await client.query(`ANALYZE "${store.schema}".deliveries`);
      await client.query(`ANALYZE "${store.schema}".events`);
    } finally {
      client.release();
    }
  }, 300_000);

  afterAll(async () => {
    await store?.close();
    if (store) await dropSchema(store.schema);
  });

  for (const ordered of HINTS)
    for (const form of FORMS) {
      it(`reads about what it claims and completes, and compiles nothing (ordered: ${ordered}, ${form})`, async () => {
        const { jit, explained } = await explainClaim(store, ordered, form);
        expect(jit).toBe('off');
        expect(explained.JIT).toBeUndefined();
        // The ten it completes, the ten it claims and their index neighbours; never the backlog.
        expect(deliveryRowsRead(explained.Plan)).toBeLessThan(500);
      });
    }
});

/**
 * Without autovacuum nothing replaces a plan made while the tables were small (the completion
 * then bitmap-scans every open delivery, the lease update and the event join scan their tables):
 * the connection's lifetime does. Autovacuum is off for these tables whatever the server says.
 */
describe('a plan made while the tables were small', () => {
  let store: PostgresStore;

  beforeAll(async () => {
    store = await createTestStore({ poolSize: 1, connectionMaxLifetimeMs: 1_000 });
    await planWhileSmall(store);
    await appendBacklog(store, BACKLOG);
  }, 300_000);

  afterAll(async () => {
    await store?.close();
    if (store) await dropSchema(store.schema);
  });

  it('is made again once the connection has lived connectionMaxLifetimeMs', async () => {
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    for (const ordered of HINTS)
      for (const form of FORMS) {
        const { explained } = await explainClaim(store, ordered, form);
        expect(deliveryRowsRead(explained.Plan)).toBeLessThan(500);
      }
  });
});

/**
 * The same, with the plan kept for good (lifetime 0): a plan made at 30 rows must seek under a
 * backlog too. It completed by a bitmap scan of all of `deliveries_open_idx` (every open delivery,
 * 40 020, for 10 tokens), and before sequential scans were turned off it also scanned the
 * deliveries and events tables (120 080 rows read).
 */
describe('a plan made while the tables were small, kept', () => {
  let store: PostgresStore;

  beforeAll(async () => {
    store = await createTestStore({ poolSize: 1, connectionMaxLifetimeMs: 0 });
    await planWhileSmall(store);
    await appendBacklog(store, BACKLOG);
  }, 300_000);

  afterAll(async () => {
    await store?.close();
    if (store) await dropSchema(store.schema);
  });

  for (const ordered of HINTS)
    for (const form of FORMS) {
      it(`completes and claims reading about what it completes and claims (ordered: ${ordered}, ${form})`, async () => {
        const { explained } = await explainClaim(store, ordered, form);
        expect(deliveryRowsRead(explained.Plan)).toBeLessThan(500);
      });
    }
});

/**
 * A new schema in steady use: the store's connection planned the claim while the tables held a
 * few rows, and kept the plan (autovacuum off, lifetime not reached) while events piled up.
 * Planned at that size with sequential scans allowed, the claim joined its events by a scan of
 * the whole events table (and found the rows it leases by a scan of deliveries): every claim
 * read every event stored so far. The events in between are of a type nobody subscribes to, so
 * the deliveries table holds only the claim's own rows (no dead index entries to count).
 */
describe('a claim planned while the tables were small, after the events grew', () => {
  let store: PostgresStore;

  beforeAll(async () => {
    store = await createTestStore({ poolSize: 1 });
    await planWhileSmall(store);
    for (let i = 0; i < 20_000; i += 5_000) {
      await store.append(
        Array.from({ length: 5_000 }, () => makeEvent({ eventType: 'Unsubscribed', aggregateId: 'a' })),
        { now: T0 },
      );
    }
    await appendBacklog(store, 20 * HINTS.length * FORMS.length);
  }, 300_000);

  afterAll(async () => {
    await store?.close();
    if (store) await dropSchema(store.schema);
  });

  for (const ordered of HINTS)
    for (const form of FORMS) {
      it(`reads the deliveries it completes and claims and their events, not the tables (ordered: ${ordered}, ${form})`, async () => {
        const { explained } = await explainClaim(store, ordered, form);
        // The ten it completes, the ten it claims, their events and index neighbours (20 060 events
        // stored: a scan of events reads them all).
        expect(rowsRead(explained.Plan, ['events', 'deliveries'])).toBeLessThan(500);
      });
    }
});
