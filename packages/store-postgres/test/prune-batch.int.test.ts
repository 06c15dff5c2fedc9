import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PostgresStore } from '../src/index.js';
import { createPostgresStore } from '../src/index.js';
import { lockKey, PRUNE_LOCK } from '../src/migrations.js';
import * as SQL from '../src/sql.js';
import { canSendPair, sendPair } from '../src/statement-pair.js';
import {
  createTestStore,
  databaseUrl,
  dropSchema,
  explainPruneBatch,
  type PlanNode,
  scans,
  uniqueSchema,
} from './support.js';

const EVENTS = 400;
const BATCH = 300;
const T0 = new Date('2026-01-01T00:00:00.000Z');
const RULE_TABLES = new Set(['deliveries', 'dead_letters', 'replays']);

/** `n` events of one type from `T0` on, one second apart, written straight into the table. */
async function insertOldEvents(store: PostgresStore, n: number): Promise<void> {
  const s = SQL.quoteIdentifier(store.schema);
  await store.pool.query(
    `INSERT INTO ${s}.events (position, event_id, event_type, aggregate_id, event_data, metadata,
       occurred_at, recorded_at)
     SELECT g, gen_random_uuid(), 'Type', 'agg-' || g, '{}', '{"schemaVersion":1}',
       $1::timestamptz + g * interval '1 second', $1::timestamptz + g * interval '1 second'
     FROM generate_series(1, $2::int) g`,
    [T0.toISOString(), n],
  );
}

function find(node: PlanNode, type: string): PlanNode | undefined {
  if (node['Node Type'] === type) return node;
  for (const child of node.Plans ?? []) {
    const found = find(child, type);
    if (found) return found;
  }
  return undefined;
}

/**
 * What a batch without an archive hook costs the server per event: the rules (what must stay)
 * are read in the batch's choice; the delete, in the same statement and so the same snapshot,
 * would find the same answer and does not read them again (it did until 29 November: three
 * probes per removed event, ~1.3 of the batch's ~4 µs of server CPU per event), and the running
 * replays are read once per batch, not once per candidate.
 */
describe('the one-statement prune batch (EXPLAIN ANALYZE, the generic plan the store runs)', () => {
  let store: PostgresStore;
  let plan: PlanNode;

  beforeAll(async () => {
    store = await createTestStore({ poolSize: 2 });
    const s = SQL.quoteIdentifier(store.schema);
    await store.pool.query(
      `INSERT INTO ${s}.events (position, event_id, event_type, aggregate_id, event_data, metadata,
         occurred_at, recorded_at)
       SELECT g, gen_random_uuid(), 'Type' || (g % 5), 'agg-' || g, '{}', '{"schemaVersion":1}',
         $1::timestamptz + g * interval '1 second', $1::timestamptz + g * interval '1 second'
       FROM generate_series(1, ${EVENTS}) g`,
      [T0.toISOString()],
    );
    await store.pool.query(`ANALYZE ${s}.events`);
    plan = await explainPruneBatch(store, [
      new Date(T0.getTime() + 3_600_000),
      '-infinity',
      '-1',
      null,
      null,
      BATCH + 1,
      new Date(),
    ]);
  });

  afterAll(async () => {
    await store?.close();
    if (store) await dropSchema(store.schema);
  });

  it('removes the batch', () => {
    expect(find(plan, 'ModifyTable')?.['Actual Rows']).toBe(BATCH);
  });

  it('the delete reads none of the tables of what must stay', () => {
    const del = find(plan, 'ModifyTable')!;
    expect(
      scans(del)
        .filter((n) => RULE_TABLES.has(n['Relation Name']!))
        .map((n) => n['Relation Name']),
    ).toEqual([]);
  });

  it("the delete reaches the batch's rows in one pass over their addresses, not a lookup per row", () => {
    const tid = scans(find(plan, 'ModifyTable')!).filter((n) => n['Node Type'] === 'Tid Scan');
    expect(tid.map((n) => [n['Relation Name'], n['Actual Loops'], n['Actual Rows']])).toEqual([
      ['events', 1, BATCH],
    ]);
  });

  it('the running replays are read once per batch, not once per candidate', () => {
    const loops = scans(plan)
      .filter((n) => n['Relation Name'] === 'replays')
      .reduce((sum, n) => sum + (n['Actual Loops'] ?? 1), 0);
    expect(loops).toBe(1);
  });
});

/**
 * The batch, its lock and its transaction go to the server together (one round trip), so the
 * batch statement runs whether or not the lock was granted: it must remove nothing unless the
 * lock statement before it, in its transaction, was granted the lock.
 */
describe('the prune batch runs only under the prune lock', () => {
  let store: PostgresStore;
  let s: string;
  const count = async () =>
    Number((await store.pool.query(`SELECT count(*)::int AS n FROM ${s}.events`)).rows[0].n);

  beforeAll(async () => {
    store = await createTestStore({ poolSize: 3 });
    await store.migrate();
    s = SQL.quoteIdentifier(store.schema);
    await insertOldEvents(store, 50);
  });

  afterAll(async () => {
    await store?.close();
    if (store) await dropSchema(store.schema);
  });

  const batchValues = () => [
    new Date(T0.getTime() + 3_600_000),
    '-infinity',
    '-1',
    null,
    null,
    11,
    new Date(),
  ];

  it('without the lock taken in its transaction, the statement removes nothing', async () => {
    const client = await store.pool.connect();
    try {
      await client.query('BEGIN');
      const { rows } = await client.query(SQL.bindSchema(SQL.PRUNE_BATCH, s), batchValues());
      await client.query('COMMIT');
      expect(rows[0]).toMatchObject({ removed: 0, found: 0 });
      expect(await count()).toBe(50);
    } finally {
      client.release();
    }
  });

  it('with the lock held by another transaction, nothing is removed until it ends', async () => {
    const holder = await store.pool.connect();
    try {
      await holder.query('BEGIN');
      await holder.query(
        'SELECT pg_advisory_xact_lock($1::integer, $2::integer)',
        lockKey(store.schema, PRUNE_LOCK),
      );
      const stored = await count();
      let settled = false;
      const pruned = store.pruneEvents!({
        before: new Date(T0.getTime() + 3_600_000),
        limit: 10,
        now: new Date(),
      });
      void pruned.finally(() => {
        settled = true;
      });
      // Several of the batch's tries (one every 10 ms) find the lock taken.
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(settled).toBe(false);
      expect(await count()).toBe(stored);
      await holder.query('COMMIT');
      expect((await pruned).removed).toBe(10);
      expect(await count()).toBe(stored - 10);
    } finally {
      holder.release();
    }
  });
});

describe('a prune batch that fails', () => {
  let store: PostgresStore;
  let s: string;

  beforeAll(async () => {
    // One connection: the next batch runs on whatever the failed one left behind.
    store = await createTestStore({ poolSize: 1 });
    await store.migrate();
    s = SQL.quoteIdentifier(store.schema);
    await insertOldEvents(store, 30);
  });

  afterAll(async () => {
    await store?.close();
    if (store) await dropSchema(store.schema);
  });

  const prune = () =>
    store.pruneEvents!({ before: new Date(T0.getTime() + 3_600_000), limit: 10, now: new Date() });

  it('removes nothing, leaves the lock free, and the next batch runs (the statements parsed again)', async () => {
    // The batch's statement cannot be prepared while the table it records into is missing.
    await store.pool.query(`ALTER TABLE ${s}.pruned RENAME TO pruned_away`);
    await expect(prune()).rejects.toThrow(/pruned/);
    await store.pool.query(`ALTER TABLE ${s}.pruned_away RENAME TO pruned`);
    const other = await store.pool.connect();
    try {
      await other.query('BEGIN');
      const { rows } = await other.query(
        'SELECT pg_try_advisory_xact_lock($1::integer, $2::integer) AS free',
        lockKey(store.schema, PRUNE_LOCK),
      );
      await other.query('ROLLBACK');
      expect(rows[0].free).toBe(true);
      const left = await other.query(`SELECT count(*)::int AS n FROM ${s}.events`);
      expect(left.rows[0].n).toBe(30);
    } finally {
      other.release();
    }
    expect((await prune()).removed).toBe(10);
    // And once more after a failure on a connection that had both statements prepared.
    await store.pool.query(`ALTER TABLE ${s}.pruned RENAME TO pruned_away`);
    await expect(prune()).rejects.toThrow(/pruned/);
    await store.pool.query(`ALTER TABLE ${s}.pruned_away RENAME TO pruned`);
    expect((await prune()).removed).toBe(10);
  });
});

/**
 * What the batch's guarantees rest on: the two statements of a pair run in one transaction, the
 * second with a snapshot of its own taken after the first ran.
 */
describe('sendPair', () => {
  let store: PostgresStore;
  let s: string;

  beforeAll(async () => {
    store = await createTestStore({ poolSize: 3 });
    await store.migrate();
    s = SQL.quoteIdentifier(store.schema);
    await store.pool.query(`CREATE TABLE ${s}.pair_probe (n int)`);
  });

  afterAll(async () => {
    await store?.close();
    if (store) await dropSchema(store.schema);
  });

  it('the second statement sees what committed while the first ran, and the first’s transaction lock is held through it, released after', async () => {
    const client = await store.pool.connect();
    try {
      const first = {
        text: 'SELECT pg_advisory_xact_lock($1::integer, $2::integer) IS NULL AS locked, pg_sleep(0.3) IS NULL AS slept',
      };
      const second = {
        text: `SELECT (SELECT count(*)::int FROM ${s}.pair_probe) AS seen,
          (SELECT count(*)::int FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted) AS held`,
      };
      const pair = sendPair<{ locked: boolean }, { seen: number; held: number }>(
        client,
        first,
        ['7', '11'],
        second,
        [],
      );
      // Committed while the first statement sleeps, after the pair began.
      await new Promise((resolve) => setTimeout(resolve, 100));
      await store.pool.query(`INSERT INTO ${s}.pair_probe VALUES (1)`);
      const [, result] = await pair;
      expect(result.rows[0]).toEqual({ seen: 1, held: 1 });
      const free = await store.pool.query('SELECT pg_try_advisory_xact_lock(7, 11) AS free');
      expect(free.rows[0].free).toBe(true);
    } finally {
      client.release();
    }
  });
});

/**
 * A pool the application passes may hand out clients without pg's JavaScript protocol connection
 * (`pg-native`) or with an older one (no `submittedNamedStatements`): the batch then sends its
 * statements one round trip each, in one transaction, with the same outcome.
 */
describe('a prune batch on a client that cannot take a statement pair', () => {
  /** pg's client with its `connection` out of sight, as a `pg-native` client has none. */
  class NativeLikePool extends pg.Pool {
    connected = 0;
    // biome-ignore lint/suspicious/noExplicitAny: pg's overloaded connect
    override connect(...args: any[]): any {
      if (args.length > 0) return (super.connect as (...a: unknown[]) => unknown)(...args);
      return super.connect().then((client) => {
        this.connected++;
        return new Proxy(client, {
          get(target, prop) {
            if (prop === 'connection') return undefined;
            // pg-native hands a submittable its (absent) protocol connection: it cannot run one.
            if (prop === 'query') {
              return (config: unknown, ...rest: unknown[]) => {
                if (typeof (config as { submit?: unknown } | null)?.submit === 'function') {
                  throw new TypeError('no protocol connection to submit to');
                }
                return (target.query as (...a: unknown[]) => unknown)(config, ...rest);
              };
            }
            const value = Reflect.get(target, prop, target);
            return typeof value === 'function' ? value.bind(target) : value;
          },
        });
      });
    }
  }
  let pool: NativeLikePool;
  let store: PostgresStore;
  let s: string;

  beforeAll(async () => {
    pool = new NativeLikePool({ connectionString: await databaseUrl(), max: 2 });
    store = createPostgresStore({ pool, schema: uniqueSchema() });
    await store.migrate();
    s = SQL.quoteIdentifier(store.schema);
    await insertOldEvents(store, 25);
  });

  afterAll(async () => {
    await store?.close();
    if (store) await dropSchema(store.schema);
    await pool?.end();
  });

  it('is told apart from a client that can', async () => {
    const real = await new pg.Pool({ connectionString: await databaseUrl(), max: 1 }).connect();
    try {
      expect(canSendPair(real)).toBe(true);
    } finally {
      real.release(true);
    }
    const hidden = await pool.connect();
    try {
      expect(canSendPair(hidden)).toBe(false);
    } finally {
      hidden.release();
    }
    expect(
      canSendPair({
        connection: { parse() {}, bind() {}, describe() {}, execute() {}, parsedStatements: {} },
      }),
    ).toBe(false);
  });

  it('removes the batch under the lock, and nothing while another holds it', async () => {
    const prune = () =>
      store.pruneEvents!({ before: new Date(T0.getTime() + 3_600_000), limit: 10, now: new Date() });
    const first = await prune();
    expect(first.removed).toBe(10);
    const holder = await pool.connect();
    try {
      await holder.query('BEGIN');
      await holder.query(
        'SELECT pg_advisory_xact_lock($1::integer, $2::integer)',
        lockKey(store.schema, PRUNE_LOCK),
      );
      let settled = false;
      const blocked = prune().finally(() => {
        settled = true;
      });
      await new Promise((resolve) => setTimeout(resolve, 150));
      expect(settled).toBe(false);
      await holder.query('COMMIT');
      expect((await blocked).removed).toBe(10);
    } finally {
      holder.release();
    }
    const left = await store.pool.query(`SELECT count(*)::int AS n FROM ${s}.events`);
    expect(left.rows[0].n).toBe(5);
    expect(pool.connected).toBeGreaterThan(0);
  });
});
