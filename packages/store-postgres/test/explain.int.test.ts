import { makeEvent } from '@evco/testkit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresStore, type PostgresStore } from '../src/index.js';
import { lockKey, PRUNE_LOCK } from '../src/migrations.js';
import * as SQL from '../src/sql.js';
import {
  createTestStore,
  databaseUrl,
  dropSchema,
  nodeRowsRead,
  type PlanNode,
  recordStatements,
  scans,
  sqlLiteral,
} from './support.js';

const ROWS = 1_000_000;
const CHUNK = 50_000;
const BURST = 30_000;
const T0 = new Date('2026-01-01T00:00:00.000Z');
const BIG_TABLES = new Set(['events', 'deliveries', 'dead_letters', 'flows', 'replay_deliveries']);
/** The statements these tests look at: those that read or write the big tables. */
const ON_BIG_TABLES = /\b(events|deliveries|dead_letters|flows|replay_deliveries)\b/;
/**
 * A replay that queued every loaded delivery again (its notes: 1 000 000 rows of
 * `replay_deliveries`): the progress of another replay must not read them.
 */
const BULK_REPLAY = '0190f5d2-0000-7000-8000-00000000b01c';

interface Captured {
  text: string;
  values: unknown[];
}

/** The plan in one line, for a failure message: node types, indexes and rows. */
function outline(node: PlanNode): string {
  const name = `${node['Node Type']}${node['Index Name'] ? ` ${node['Index Name']}` : ''} ${nodeRowsRead(node)}`;
  return node.Plans ? `${name} [${node.Plans.map(outline).join(', ')}]` : name;
}

/**
 * What one statement may read, far below the table (1 000 000 rows each): the largest page or
 * window the calls above ask for is a few thousand rows. Statements that change rows run too
 * (inside a transaction that is rolled back). Two read what they act on, which is large here by
 * construction: the stats counts (the whole backlog, see sql.ts) and retiring a handler (all its
 * 100 000 deliveries go).
 */
const ROWS_READ_BUDGET = 20_000;
const APPEND = /INSERT INTO \S+\.events /;
/** Cursors near the start and near the end of the table, for the pages after (before) them. */
const CURSORS = ['20000', '980000'] as const;

/** Index and heap pages a plan's scans of a big table touched (EXPLAIN BUFFERS). */
function pagesTouched(node: PlanNode): number {
  return scans(node)
    .filter((n) => BIG_TABLES.has(n['Relation Name']!))
    .reduce((sum, n) => sum + (n['Shared Hit Blocks'] ?? 0) + (n['Shared Read Blocks'] ?? 0), 0);
}
const READS_WHAT_IT_REMOVES = /^\s*WITH gone AS \(DELETE FROM \S+\.subscriptions/;

type Explained = Array<{ Plan: PlanNode }>;

/** `EXPLAIN`s it, and under ANALYZE inside a transaction rolled back (statements that change rows run too). */
async function explain(
  client: pg.PoolClient,
  analyze: boolean,
  text: string,
  values?: unknown[],
): Promise<PlanNode> {
  if (analyze) await client.query('BEGIN');
  try {
    const { rows } = await client.query({
      text: `EXPLAIN (${analyze ? 'ANALYZE, BUFFERS, ' : ''}FORMAT JSON) ${text}`,
      values,
    });
    return (rows[0]['QUERY PLAN'] as Explained)[0]!.Plan;
  } finally {
    if (analyze) await client.query('ROLLBACK');
  }
}

/** The custom plan: `EXPLAIN` of the text with the values bound is planned for those values. */
function customPlan(client: pg.PoolClient, { text, values }: Captured, analyze: boolean): Promise<PlanNode> {
  return explain(client, analyze, text, values);
}

/**
 * The generic plan, as the store's own connections run the statement (a named prepared statement
 * under `plan_cache_mode = force_generic_plan`, see GENERIC_PLANS_OPTION): PREPARE, then `EXPLAIN
 * EXECUTE` with the values as literals, then DEALLOCATE. The plan is made without the values
 * (a LIMIT of a tenth of the rows, no parameter's selectivity); the values only run it. Asks
 * pg_prepared_statements that the plan was indeed generic.
 */
async function genericPlan(
  client: pg.PoolClient,
  { text, values }: Captured,
  analyze: boolean,
): Promise<PlanNode> {
  await client.query(`PREPARE evco_explain AS ${text}`);
  try {
    const args = values.length > 0 ? `(${values.map(sqlLiteral).join(', ')})` : '';
    const plan = await explain(client, analyze, `EXECUTE evco_explain${args}`);
    const { rows } = await client.query<{ generic_plans: string; custom_plans: string }>(
      `SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE name = 'evco_explain'`,
    );
    expect(rows[0]).toEqual({ generic_plans: '1', custom_plans: '0' });
    return plan;
  } finally {
    await client.query('DEALLOCATE evco_explain');
  }
}

/** A connection of the test store set as the store's own are (what GENERIC_PLANS_OPTION sets). */
async function generic(client: pg.PoolClient): Promise<void> {
  await client.query('SET plan_cache_mode = force_generic_plan');
  await client.query('SET jit = off');
  await client.query('SET enable_seqscan = off');
}

/**
 * Each statement's custom plan, then its generic plan, on one connection of the store set as its
 * own are (no JIT), reset before the connection goes back to the pool.
 */
async function forEachPlan(
  store: PostgresStore,
  statements: readonly Captured[],
  analyze: boolean,
  visit: (mode: 'custom' | 'generic', statement: Captured, plan: PlanNode) => void,
): Promise<void> {
  const client = await store.pool.connect();
  try {
    // Custom plans as a connection without the store's startup options makes them (behind a
    // transaction pooler): sequential scans allowed.
    await client.query('SET plan_cache_mode = auto');
    await client.query('SET jit = off');
    await client.query('SET enable_seqscan = on');
    for (const [mode, plan] of [
      ['custom', customPlan],
      ['generic', genericPlan],
    ] as const) {
      if (mode === 'generic') await generic(client);
      for (const statement of statements) visit(mode, statement, await plan(client, statement, analyze));
    }
  } finally {
    await client.query('RESET plan_cache_mode');
    await client.query('RESET jit');
    await client.query('RESET enable_seqscan');
    client.release();
  }
}

/**
 * Loads 1 000 000 events and 1 000 000 open deliveries or dead letters (a large backlog: done ones
 * are deleted) with generate_series, indexes dropped during the load and rebuilt after, then runs
 * every port method once while capturing its statements (text and values), and checks each
 * statement's custom plan (`EXPLAIN` with the values bound: planned for those values, whatever
 * plan_cache_mode says) and its generic plan, the one the store's own connections run
 * (`PREPARE`, then `EXPLAIN EXECUTE` with the values as literals, under force_generic_plan and
 * jit off): no sequential scan of the big tables, and (under ANALYZE) rows read within budget.
 */
describe(`query plans at ${ROWS} rows`, () => {
  let store: PostgresStore;
  let loader: PostgresStore | undefined;
  const captured: Captured[] = [];
  // Only what the port methods below send, not the tests' own EXPLAIN statements.
  let capturing = true;

  beforeAll(async () => {
    store = await createTestStore({ poolSize: 2 });
    const s = `"${store.schema}"`;
    const client = await store.pool.connect();
    try {
      await client.query('SET synchronous_commit = off');
      await client.query(`SET maintenance_work_mem = '256MB'`);
      const { rows: indexes } = await client.query<{ indexname: string; indexdef: string }>(
        `SELECT i.indexname, i.indexdef FROM pg_indexes i
         WHERE i.schemaname = $1 AND i.tablename IN ('events', 'deliveries')
           AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname
             AND c.connamespace = $1::regnamespace)`,
        [store.schema],
      );
      for (const i of indexes) await client.query(`DROP INDEX ${s}."${i.indexname}"`);
      // In chunks, each its own short transaction: a long one would hold back the settled
      // horizon of every store-postgres user of this server (other test files, other packages).
      for (let from = 1; from <= ROWS; from += CHUNK) {
        await load(from, Math.min(ROWS, from + CHUNK - 1));
      }
      for (const i of indexes) await client.query(i.indexdef);
      // The loaded events' flow rows (every one is in a flow: correlated to 'corr-…'), as the
      // sweep after an upgrade writes them for events appended without (migration 8).
      await client.query(`UPDATE ${s}.flows_swept SET position = 0`);
      await client.query(SQL.bindSchema(SQL.INDEX_LEFTOVER_FLOWS, s));
      await client.query(`VACUUM ANALYZE ${s}.flows`);
      // What autovacuum does to a table that grew: statistics, and the visibility map that lets
      // the window bounds be an index-only scan.
      await client.query(`VACUUM ANALYZE ${s}.events`);
      await client.query(`VACUUM ANALYZE ${s}.deliveries`);
      await client.query(`VACUUM ANALYZE ${s}.dead_letters`);
      await client.query(`VACUUM ANALYZE ${s}.replay_deliveries`);
      // After the statistics, a burst of one type at the end that the planner does not know of
      // (appended since the last ANALYZE): the newest events of every other type are behind it.
      await client.query(
        `INSERT INTO ${s}.events (position, event_id, event_type, aggregate_id, event_data, metadata,
           occurred_at, recorded_at)
         SELECT g, gen_random_uuid(), 'Burst', 'burst', '{}', '{"schemaVersion":1}', $1::timestamptz, $1::timestamptz
         FROM generate_series(${ROWS + 1}, ${ROWS + BURST}) g`,
        // Dated inside the loaded range, away from every window the calls below ask for.
        [new Date(T0.getTime() + 200_000 * 1000).toISOString()],
      );
    } finally {
      client.release();
    }

    async function load(first: number, last: number): Promise<void> {
      await client.query(
        `INSERT INTO ${s}.events (position, event_id, event_type, aggregate_id, aggregate_type, aggregate_version,
           event_data, metadata, occurred_at, recorded_at)
         SELECT g, gen_random_uuid(), CASE WHEN g % 100000 = 0 THEN 'Rare' ELSE 'Type' || (g % 20) END, 'agg-' || (g % 100000),
           CASE WHEN g % 3 = 0 THEN NULL ELSE 'Agg' || (g % 7) END, g / 100000,
           jsonb_build_object('n', g),
           jsonb_strip_nulls(jsonb_build_object('schemaVersion', 1, 'correlationId', 'corr-' || (g / 5),
             'causationId', CASE WHEN g % 5 <> 0 THEN 'cause-' || (g - 1) END)),
           $1::timestamptz + g * interval '1 second', $1::timestamptz + g * interval '1 second'
         FROM generate_series($2::int, $3::int) g`,
        [T0.toISOString(), first, last],
      );
      await client.query(
        `INSERT INTO ${s}.deliveries (position, handler, aggregate_id, ordered, run, status, attempts,
           next_attempt_at, lease_owner, is_replay, replay_id, created_at, updated_at)
         SELECT g, 'h' || (g % 10), 'agg-' || (g % 100000), g % 2 = 0, 1, 'open', 0,
           $1::timestamptz + g * interval '1 second', CASE WHEN g % 1000 = 1 THEN 'c' END,
           true, $4::uuid, $1::timestamptz, $1::timestamptz
         FROM generate_series($2::int, $3::int) g WHERE g % 10 <> 3`,
        [T0.toISOString(), first, last, BULK_REPLAY],
      );
      await client.query(
        `INSERT INTO ${s}.replay_deliveries (replay_id, position, handler)
         SELECT $3::uuid, g, 'h' || (g % 10) FROM generate_series($1::int, $2::int) g`,
        [first, last, BULK_REPLAY],
      );
      // Every tenth delivery is dead: 100 000 dead letters, all of handler h3.
      await client.query(
        `INSERT INTO ${s}.dead_letters (position, handler, aggregate_id, ordered, run, attempts, last_error,
           is_replay, replay_id, updated_at)
         SELECT g, 'h' || (g % 10), 'agg-' || (g % 100000), g % 2 = 0, 1, 5, 'boom', true, $4::uuid, $1::timestamptz
         FROM generate_series($2::int, $3::int) g WHERE g % 10 = 3`,
        [T0.toISOString(), first, last, BULK_REPLAY],
      );
    }
    await store.registerSubscriptions(
      Array.from({ length: 10 }, (_, i) => ({
        handler: `h${i}`,
        eventType: `Type${i}`,
        ordering: 'aggregate' as const,
      })),
      { consumerId: 'c', now: T0, ttlMs: 3_600_000 },
    );

    // A second store on the same tables, whose every connection records what the store sends.
    loader = store;
    store = createPostgresStore({
      connectionString: await databaseUrl(),
      schema: loader.schema,
      poolSize: 2,
    });
    recordStatements(store.pool, (c) => {
      if (capturing) captured.push(c);
    });

    const later = new Date(T0.getTime() + ROWS * 1000 + 10_000);
    const mid = new Date(T0.getTime() + 500_000 * 1000);
    const recent = new Date(T0.getTime() + (ROWS - 3_000) * 1000);
    const first = await store.append([makeEvent({ eventType: 'Type1' })], { now: later });
    await store.append(
      [makeEvent({ eventType: 'Type1' }), makeEvent({ eventType: 'Type2', aggregateVersion: 99 })],
      {
        now: later,
      },
    );
    const tx = await store.pool.connect();
    try {
      await tx.query('BEGIN');
      await store.appendInTransaction(tx, [makeEvent({ eventType: 'Type3' })], { now: later });
      await store.appendInTransaction(tx, [makeEvent(), makeEvent({ eventType: 'Type3' })], { now: later });
      await tx.query('COMMIT');
    } finally {
      tx.release();
    }
    await store.read({ limit: 100 });
    await store.read({ limit: 100, order: 'desc' });
    await store.read({ eventType: 'Type7', limit: 100 });
    // Ten events of a rare type: a plan that walks the primary key and filters reads everything.
    await store.read({ eventType: 'Rare', limit: 100 });
    await store.read({ eventType: 'Rare', limit: 100, order: 'desc' });
    await store.read({ eventType: 'Type7', limit: 100, order: 'desc' });
    await store.read({ eventType: 'Rare', afterPosition: '1000', limit: 100 });
    await store.read({ eventType: 'Rare', beforePosition: '900000', limit: 100, order: 'desc' });
    await store.read({ eventType: ['Type7', 'Type8'], limit: 100 });
    await store.read({ aggregateId: 'agg-42', limit: 100 });
    await store.read({ aggregateId: 'agg-42', eventType: 'Type42', limit: 100, order: 'desc' });
    await store.read({ aggregateType: 'Agg3', limit: 100 });
    await store.read({ from: mid, to: new Date(mid.getTime() + 60_000), limit: 100 });
    await store.read({ eventType: 'Type7', from: recent, limit: 100 });
    await store.read({ from: mid, to: new Date(mid.getTime() + 600_000), limit: 100, order: 'desc' });
    await store.read({ eventType: 'Type7', from: mid, to: new Date(mid.getTime() + 3_600_000), limit: 10 });
    await store.read({
      eventType: ['Type7', 'Type8'],
      from: mid,
      to: new Date(mid.getTime() + 3_600_000),
      limit: 10,
    });
    await store.read({
      aggregateType: 'Agg3',
      from: mid,
      to: new Date(mid.getTime() + 3_600_000),
      limit: 100,
    });
    await store.read({
      aggregateId: 'agg-42',
      from: mid,
      to: new Date(mid.getTime() + 86_400_000),
      limit: 100,
    });
    await store.read({ to: new Date(T0.getTime() + 3_600_000), limit: 100, order: 'desc' });
    await store.read({
      from: mid,
      to: new Date(mid.getTime() + 3_600_000),
      afterPosition: String(500_000 + 1_000),
      limit: 100,
    });
    await store.read({ afterPosition: '500000', limit: 1000 });
    await store.read({ beforePosition: '500000', limit: 1000, order: 'desc' });
    await store.read({ afterPosition: '500000', eventType: 'Type9', limit: 1000 });
    // A page after a cursor near the start of a type and near its end, either way (see the test
    // "a page after a cursor…").
    for (const cursor of CURSORS) {
      await store.read({ eventType: 'Type9', afterPosition: cursor, limit: 100 });
      await store.read({ eventType: 'Type9', beforePosition: cursor, limit: 100, order: 'desc' });
      await store.read({ aggregateId: 'agg-9', afterPosition: cursor, limit: 5 });
    }
    await store.getEvent('0190f5d2-0000-7000-8000-000000000001');
    await store.read({ correlationId: 'corr-4242', limit: 100 });
    await store.read({ correlationId: 'corr-4242', eventType: 'Type7', limit: 100, order: 'desc' });
    // A flow's root is outside the correlation index (migration 5): found by its event id.
    await store.read({ correlationId: first.events[0]!.id, limit: 100 });
    await store.read({
      correlationId: first.events[0]!.id,
      afterPosition: '1000',
      limit: 100,
      order: 'desc',
    });
    await store.read({ causationId: 'cause-4242', limit: 100 });
    // Flow reads with cursors either way, near the start and the end of the flows table, and with
    // other filters beside the flow's.
    for (const cursor of CURSORS) {
      await store.read({ correlationId: `corr-${Number(cursor) / 5}`, afterPosition: cursor, limit: 100 });
      await store.read({
        correlationId: `corr-${Number(cursor) / 5}`,
        beforePosition: String(Number(cursor) + 3),
        limit: 100,
        order: 'desc',
      });
      await store.read({
        causationId: `cause-${cursor}`,
        afterPosition: String(Number(cursor) - 10),
        limit: 10,
      });
      await store.read({
        causationId: `cause-${cursor}`,
        beforePosition: cursor + '9',
        limit: 10,
        order: 'desc',
      });
    }
    await store.read({ correlationId: 'corr-4242', causationId: 'cause-21211', limit: 100 });
    await store.read({ causationId: 'cause-4242', eventType: 'Type3', aggregateType: 'Agg1', limit: 100 });
    await store.read({
      correlationId: 'corr-4242',
      from: mid,
      to: new Date(mid.getTime() + 60_000),
      limit: 100,
    });
    // Events in a flow appended, alone, in a batch with a root, and inside a transaction: the
    // statements with the flow rows' insert.
    const flowing = (n: number) =>
      makeEvent({ eventType: 'Type4', metadata: { correlationId: 'corr-4242', causationId: `cause-x${n}` } });
    await store.append([flowing(1)], { now: later });
    await store.append([makeEvent({ eventType: 'Type4' }), flowing(2)], { now: later });
    const flowTx = await store.pool.connect();
    try {
      await flowTx.query('BEGIN');
      await store.appendInTransaction(flowTx, [flowing(3)], { now: later });
      await store.appendInTransaction(flowTx, [flowing(4), makeEvent()], { now: later });
      await flowTx.query('COMMIT');
    } finally {
      flowTx.release();
    }
    await store.read({ correlationId: 'corr-4242', afterPosition: '4000', limit: 100 });
    await store.getDeliveries(first.events[0]!.id);
    await store.listSubscriptions();
    const claimed = await store.claimDue({
      consumerId: 'c',
      handlers: ['h1', 'h2'],
      now: later,
      leaseMs: 1000,
      limit: 50,
    });
    await store.complete(claimed.slice(0, 10), { now: later });
    // Retries and deaths in one statement: the retried stay, the dead move to dead_letters.
    await store.fail(
      claimed.slice(10, 20).map((c, i) => ({ ...c, error: 'x', nextAttemptAt: i < 5 ? later : null })),
      { now: later },
    );
    await store.release(claimed.slice(20), { now: later });
    // Completions riding on claims, as the dispatcher sends them: the claim with the `unsettled`
    // row (an ordered handler, or no hint) and without it (every handler unordered).
    const ride = { consumerId: 'c', handlers: ['h1', 'h2'], now: later, leaseMs: 1000, limit: 10 };
    const leased = await store.claimDue(ride);
    const next = await store.completeAndClaim(leased, { ...ride, ordered: true });
    await store.completeAndClaim(next, { ...ride, ordered: false });
    // The completion's two forms (sql.ts, `DELETE_BY_LEASE`): one claim's deliveries of one
    // handler (every combination of their positions, handler and lease), and two claims' (token
    // by token), in both claims.
    for (const ordered of [true, false]) {
      const one = { ...ride, handlers: ['h1'], limit: 3, ordered };
      await store.completeAndClaim(await store.claimDue(one), one);
      const two = [...(await store.claimDue(one)), ...(await store.claimDue(one))];
      await store.completeAndClaim(two, one);
    }
    await store.getUnprocessedEvents({ limit: 100, afterPosition: '400000' });
    await store.getUnprocessedEvents({ limit: 100, handler: 'h4' });
    await store.getDeadLetters({ limit: 100, afterPosition: '400000' });
    const dead = await store.getDeadLetters({ limit: 100, handler: 'h3' });
    // A handler without dead letters among 100 000 of another one's.
    await store.getDeadLetters({ limit: 100, handler: 'h4' });
    await store.retryDeadLetters({
      deliveryIds: dead.slice(0, 2).map((d) => d.delivery.deliveryId),
      now: later,
    });
    await store.retryDeadLetters({
      deliveryIds: dead.slice(2, 3).map((d) => d.delivery.deliveryId),
      handler: 'h3',
      now: later,
    });
    const job = await store.startReplay(
      { from: mid, to: new Date(mid.getTime() + 3_600_000), eventType: 'Type5', maxEvents: 100 },
      { now: later },
    );
    await store.continueReplay(job.id, { now: later, pageSize: 50 });
    await store.getReplay(job.id);
    const all = await store.startReplay(
      { from: mid, to: new Date(mid.getTime() + 600_000), maxEvents: 100 },
      { now: later },
    );
    await store.continueReplay(all.id, { now: later, pageSize: 50 });
    const byHandler = await store.startReplay(
      { from: mid, to: new Date(mid.getTime() + 600_000), handler: 'h5', maxEvents: 1000 },
      { now: later },
    );
    await store.continueReplay(byHandler.id, { now: later, pageSize: 100 });
    await store.continueReplay(byHandler.id, { now: later, pageSize: 100 });
    // Type3's deliveries are h3's dead letters: the replay queues them again (for a live
    // subscription: those above expired long before `later`) and removes them.
    await store.registerSubscriptions([{ handler: 'h3', eventType: 'Type3', ordering: 'aggregate' }], {
      consumerId: 'c',
      now: later,
      ttlMs: 3_600_000,
    });
    const revived = await store.startReplay(
      { from: mid, to: new Date(mid.getTime() + 600_000), eventType: 'Type3', maxEvents: 100 },
      { now: later },
    );
    expect((await store.continueReplay(revived.id, { now: later, pageSize: 50 })).deliveriesQueued).toBe(30);
    // Its progress: its own 30 notes, among the bulk replay's million (and a million deliveries).
    expect(await store.getReplay(revived.id)).toMatchObject({ deliveriesOpen: 30, deliveriesDead: 0 });
    // A subscribed type's appends: the first makes a delivery, so the next single event of the
    // type, in a flow, goes as the deliveries' insert with its flow row (APPEND_ONE_DELIVERING_FLOWS).
    await store.append([makeEvent({ eventType: 'Type3' })], { now: later });
    await store.append(
      [makeEvent({ eventType: 'Type3', metadata: { correlationId: 'corr-4242', causationId: 'cause-d' } })],
      { now: later },
    );
    await store.listStaleReplays({ staleBefore: later });
    await store.stats({ now: later });
    await store.retryDeadLetters({ handler: 'h9', now: later });
    await store.retireHandler('h8');
    // The first 999 events all have deliveries: a prune steps over them (and removes none).
    const oldest = new Date(T0.getTime() + 1_000_000);
    await store.pruneEvents!({ before: oldest, limit: 100, now: later });
    await store.pruneEvents!({ before: oldest, limit: 100, now: later, archive: async () => {} });
    capturing = false;
  }, 600_000);

  afterAll(async () => {
    await store?.close();
    await loader?.close();
    if (store) await dropSchema(store.schema);
  });

  it('a page after (before) a cursor touches as many pages near the end of a type or aggregate as near its start (EXPLAIN BUFFERS, custom and generic plans)', async () => {
    // With the key's equality and only a row comparison for the cursor, the B-tree scan starts
    // at the key's first entry (an equality is the start key it prefers) and steps over every
    // entry before the cursor inside the index: rows read stay at the page's, pages touched grow
    // with the cursor (Type9 at 980 000: ~49 000 index entries stepped over).
    // Once each (a short or descending page is read again after the settle probe).
    const pages = [
      ...new Map(
        captured
          .filter(
            (c) =>
              /^SELECT e\.position/.test(c.text) &&
              CURSORS.includes(c.values[1] as (typeof CURSORS)[number]) &&
              (c.values[0] === 'Type9' || c.values[0] === 'agg-9'),
          )
          .map((c) => [JSON.stringify([c.text, c.values]), c]),
      ).values(),
    ];
    expect(pages).toHaveLength(CURSORS.length * 3);
    const touched = new Map<string, number>();
    await forEachPlan(store, pages, true, (mode, { text, values }, plan) => {
      touched.set(
        `${mode} ${values[0]} ${/DESC/.test(text) ? 'before' : 'after'} ${values[1]}`,
        pagesTouched(plan),
      );
    });
    const report: string[] = [];
    for (const [name, n] of touched) {
      if (!name.endsWith(CURSORS[1])) continue;
      const near = touched.get(name.replace(CURSORS[1], CURSORS[0]))!;
      // The same page's rows either way: heap pages alike, a few index pages more or less.
      if (Math.abs(n - near) > 20) report.push(`${name}: ${n} pages against ${near} at ${CURSORS[0]}`);
    }
    expect(touched.size).toBe(CURSORS.length * 3 * 2);
    expect(report).toEqual([]);
  });

  it('the calls above ran every statement that reads or writes dead letters (but the re-drive of all of them, and the sweep after an upgrade)', () => {
    const ran = new Set(captured.map((c) => c.text));
    const quoted = SQL.quoteIdentifier(store.schema);
    const missing = [...Object.entries(SQL), ['LEASE_STATEMENTS.FAIL', SQL.LEASE_STATEMENTS.FAIL] as const]
      .filter(
        ([name, text]) =>
          typeof text === 'string' &&
          text.includes('{s}.dead_letters') &&
          !name.startsWith('MIGRATION_') &&
          // Re-drives every dead letter: it reads all it moves, as retiring a handler does.
          name !== 'RETRY_DEAD' &&
          // Runs only for a day after an upgrade to version 7 (this schema was created at it): a
          // scan of the backlog for what older processes still dead-lettered in deliveries.
          name !== 'MOVE_LEFTOVER_DEAD' &&
          // Runs only for a day after an upgrade to version 9: a scan of the backlog for what older
          // processes still queued in a replay without its note.
          name !== 'NOTE_LEFTOVER_REPLAYED' &&
          !ran.has(SQL.bindSchema(text, quoted)),
      )
      .map(([name]) => name);
    expect(missing).toEqual([]);
  });

  it('the calls above ran every statement that reads or writes replay notes (but the sweep after an upgrade)', () => {
    const ran = new Set(captured.map((c) => c.text));
    const quoted = SQL.quoteIdentifier(store.schema);
    const touching = Object.entries(SQL).filter(
      ([name, text]) =>
        typeof text === 'string' &&
        text.includes('{s}.replay_deliveries') &&
        !name.startsWith('MIGRATION_') &&
        name !== 'NOTE_LEFTOVER_REPLAYED',
    );
    expect(touching.map(([name]) => name).sort()).toEqual([
      'FINISHED_REPLAYS_WITH_NOTES',
      'GET_REPLAY',
      'REPLAY_REQUEUE',
      'SETTLE_REPLAY_NOTES',
    ]);
    expect(touching.filter(([, text]) => !ran.has(SQL.bindSchema(text as string, quoted)))).toEqual([]);
  });

  it('the calls above ran every statement that reads or writes flows (but the sweep after an upgrade, and the appends that notify or coalesce)', () => {
    const ran = new Set(captured.map((c) => c.text));
    const quoted = SQL.quoteIdentifier(store.schema);
    const missing = Object.entries(SQL)
      .filter(
        ([name, text]) =>
          typeof text === 'string' &&
          text.includes('{s}.flows') &&
          !name.startsWith('MIGRATION_') &&
          // Runs only for a day after an upgrade to version 8 (this schema was created at it): the
          // events appended since its last run, by the primary key.
          name !== 'INDEX_LEFTOVER_FLOWS' &&
          // The same statements with a notification or several callers' events (this store does
          // neither): their reads and writes are the ones checked here.
          !/_NOTIFY|_COALESCED/.test(name) &&
          !ran.has(SQL.bindSchema(text, quoted)),
      )
      .map(([name]) => name);
    expect(missing).toEqual([]);
    // The flow reads (not exported: made per shape) ran too.
    expect([...ran].filter((t) => /FROM \S+\.flows f JOIN/.test(t)).length).toBeGreaterThanOrEqual(8);
  });

  it('every statement the store ran uses indexes on events and deliveries, with custom and generic plans', async () => {
    const seen = new Map<string, Captured>();
    for (const c of captured) if (!seen.has(c.text)) seen.set(c.text, c);
    const statements = [...seen.values()].filter((c) => ON_BIG_TABLES.test(c.text));
    expect(statements.length).toBeGreaterThanOrEqual(25);
    const offenders: string[] = [];
    await forEachPlan(store, statements, false, (mode, { text }, plan) => {
      const seqScans = scans(plan).filter(
        (n) => n['Node Type'] === 'Seq Scan' && BIG_TABLES.has(n['Relation Name']!),
      );
      if (seqScans.length === 0) return;
      // The one exception, marked in sql.ts: the stats counts aggregate every undelivered
      // row, so they read the whole backlog whatever the plan (done deliveries are deleted:
      // the backlog is all the table holds). Everything else must seek.
      if (
        text.startsWith('-- reads the whole backlog') &&
        seqScans.every((n) => n['Relation Name'] === 'deliveries' || n['Relation Name'] === 'dead_letters')
      ) {
        return;
      }
      offenders.push(`${mode}: ${seqScans.map((n) => n['Relation Name']).join(', ')} in ${text}`);
    });
    expect(offenders).toEqual([]);
  });

  it('every statement reads rows in proportion to its result, not to the table (EXPLAIN ANALYZE, custom and generic plans)', async () => {
    const seen = new Map<string, Captured>();
    for (const c of captured) if (!seen.has(c.text)) seen.set(c.text, c);
    const statements = [...seen.values()].filter(
      (c) =>
        ON_BIG_TABLES.test(c.text) &&
        !c.text.startsWith('-- reads the whole backlog') &&
        !READS_WHAT_IT_REMOVES.test(c.text) &&
        // Appends read nothing but their own positions' block; run again they would only
        // collide with the events they stored (same ids).
        !APPEND.test(c.text),
    );
    const report: string[] = [];
    await forEachPlan(store, statements, true, (mode, { text }, explained) => {
      const read = scans(explained)
        .filter((n) => BIG_TABLES.has(n['Relation Name']!))
        .reduce((sum, n) => sum + nodeRowsRead(n), 0);
      if (read > ROWS_READ_BUDGET) report.push(`${mode}: ${read} rows (${outline(explained)}): ${text}`);
    });
    expect(statements.length).toBeGreaterThanOrEqual(30);
    expect(report).toEqual([]);
  });
  it("a prune batch reads rows in proportion to its batch whatever its positions' span: clear, holding what must stay, stretched over the backlog by an event out of time order (EXPLAIN ANALYZE, custom and generic plans)", async () => {
    // The calls above ran PRUNE_BATCH once (its first values only are planned above, and without
    // the prune lock in EXPLAIN's transaction it chooses nothing): here each case runs under the
    // lock, in a transaction rolled back.
    const s = SQL.quoteIdentifier(store.schema);
    const text = SQL.bindSchema(SQL.PRUNE_BATCH, s);
    const burstAt = new Date(T0.getTime() + 200_000 * 1000);
    const later = new Date(T0.getTime() + ROWS * 1000 + 10_000);
    const LATE = '4000000000000000000';
    const cases: Array<{ name: string; values: unknown[]; setup?: string; removed: number; once?: boolean }> =
      [
        // The burst's first 101 (after loaded event 200 000, at the same instant): no delivery, dead
        // letter or flow row in their span. Chosen whole; the rules and flows read once each.
        {
          name: 'clear',
          values: [new Date(burstAt.getTime() + 1), burstAt, '200000', null, null, 101, later],
          removed: 100,
          once: true,
        },
        // Loaded events 199 991..200 000 (each with a delivery or a dead letter), then the burst:
        // the span holds deliveries, so the choice goes event by event, past the ten.
        {
          name: 'holding',
          values: [
            new Date(burstAt.getTime() + 1),
            new Date(burstAt.getTime() - 10_000),
            '199990',
            null,
            null,
            101,
            later,
          ],
          removed: 100,
        },
        // An event appended late (the highest position) that occurred among loaded events 501..999:
        // the span runs over the whole backlog and every flow row. The loaded events stay (their
        // deliveries), the late one goes; its flow row is found by its key (the span's flow rows are
        // more than twice the batch).
        {
          name: 'stretched',
          setup: `INSERT INTO ${s}.events (position, event_id, event_type, aggregate_id, event_data, metadata, occurred_at, recorded_at)
          VALUES (${LATE}, gen_random_uuid(), 'Type0', 'late', '{}', '{"schemaVersion":1}', '${new Date(T0.getTime() + 500_500).toISOString()}', now());
          INSERT INTO ${s}.flows (position, correlation_id) VALUES (${LATE}, 'corr-late')`,
          values: [
            new Date(T0.getTime() + 1_000_000),
            new Date(T0.getTime() + 500_000),
            '500',
            null,
            null,
            101,
            later,
          ],
          removed: 1,
        },
      ];
    const client = await store.pool.connect();
    const report: string[] = [];
    try {
      for (const mode of ['custom', 'generic'] as const) {
        if (mode === 'generic') {
          await generic(client);
          await client.query(`PREPARE evco_prune_batch AS ${text}`);
        }
        for (const c of cases) {
          await client.query('BEGIN');
          try {
            if (c.setup) await client.query(c.setup);
            await client.query(SQL.TRY_LOCK_PRUNE, lockKey(store.schema, PRUNE_LOCK));
            const explained = await client.query(
              mode === 'generic'
                ? `EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE evco_prune_batch(${c.values.map(sqlLiteral).join(', ')})`
                : { text: `EXPLAIN (ANALYZE, FORMAT JSON) ${text}`, values: c.values },
            );
            const plan = (explained.rows[0]['QUERY PLAN'] as Explained)[0]!.Plan;
            const big = scans(plan).filter((n) => BIG_TABLES.has(n['Relation Name']!));
            const read = big.reduce((sum, n) => sum + nodeRowsRead(n), 0);
            const removed = big
              .filter((n) => n['Node Type'] === 'Tid Scan' && n['Relation Name'] === 'events')
              .reduce((sum, n) => sum + (n['Actual Rows'] ?? 0), 0);
            const loops = Math.max(
              ...big
                .filter((n) => ['deliveries', 'dead_letters', 'flows'].includes(n['Relation Name']!))
                .map((n) => n['Actual Loops'] ?? 0),
            );
            // A batch of 100: its read, the rules' and flows' ranges, and (per event) what stays.
            if (read > 2_000) report.push(`${mode} ${c.name}: ${read} rows (${outline(plan)})`);
            if (removed !== c.removed) report.push(`${mode} ${c.name}: removed ${removed}, not ${c.removed}`);
            if (c.once && loops > 1)
              report.push(`${mode} ${c.name}: a rule or flow table scanned ${loops} times`);
          } finally {
            await client.query('ROLLBACK');
          }
        }
      }
    } finally {
      await client.query('DEALLOCATE ALL');
      await client.query('RESET plan_cache_mode');
      await client.query('RESET jit');
      await client.query('RESET enable_seqscan');
      client.release();
    }
    expect(report).toEqual([]);
  });

  it("a prune run's settling of replay notes reads the finished replays' notes, not a running one's million (EXPLAIN ANALYZE, custom and generic plans)", async () => {
    const client = await store.pool.connect();
    const s = SQL.quoteIdentifier(store.schema);
    const find = SQL.bindSchema(SQL.FINISHED_REPLAYS_WITH_NOTES, s);
    const settle = SQL.bindSchema(SQL.SETTLE_REPLAY_NOTES, s);
    try {
      for (const mode of ['custom', 'generic'] as const) {
        if (mode === 'generic') await generic(client);
        await client.query('BEGIN');
        try {
          // The bulk replay's million notes, as a replay still running leaves them.
          await client.query(
            `INSERT INTO ${s}.replays (replay_id, from_at, to_at, max_events, until_position, status, created_at,
               updated_at) VALUES ($1, $2, $2, ${ROWS}, ${ROWS}, 'running', $2, $2)`,
            [BULK_REPLAY, T0.toISOString()],
          );
          const { rows } = await client.query<{ notes: number; replays: number }>(
            `SELECT count(*)::int AS notes, count(DISTINCT q.replay_id)::int AS replays
             FROM ${s}.replay_deliveries q JOIN ${s}.replays r USING (replay_id) WHERE r.status <> 'running'`,
          );
          const finished = rows[0]!;
          // The replays above left notes of open deliveries (the prune run above settled the rest).
          expect(finished.notes, mode).toBeGreaterThan(0);
          const ids = (await client.query<{ ids: string[] }>(find)).rows[0]!.ids;
          expect(ids, mode).toHaveLength(finished.replays);
          const planOf = async (name: string, text: string, values: unknown[]): Promise<PlanNode> => {
            if (mode === 'custom') return analyzed(text, values);
            await client.query(`PREPARE ${name} AS ${text}`);
            const args = values.length > 0 ? `(${values.map(sqlLiteral).join(', ')})` : '';
            return analyzed(`EXECUTE ${name}${args}`, []);
          };
          const analyzed = async (text: string, values: unknown[]): Promise<PlanNode> => {
            const { rows: plan } = await client.query({
              text: `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${text}`,
              values,
            });
            return (plan[0]['QUERY PLAN'] as Explained)[0]!.Plan;
          };
          const notesRead = (plan: PlanNode) =>
            scans(plan)
              .filter((n) => n['Relation Name'] === 'replay_deliveries')
              .reduce((sum, n) => sum + nodeRowsRead(n), 0);
          // One descent per replay with notes (the running one's first note, each next replay's).
          const finding = await planOf('evco_find', find, []);
          expect(notesRead(finding), `${mode}: ${outline(finding)}`).toBeLessThanOrEqual(
            2 * (finished.replays + 2),
          );
          // The finished replays' notes, each probed in deliveries and dead_letters.
          const settling = await planOf('evco_settle', settle, [ids]);
          expect(notesRead(settling), `${mode}: ${outline(settling)}`).toBeLessThanOrEqual(finished.notes);
          for (const plan of [finding, settling]) {
            const seqScans = scans(plan).filter(
              (n) => n['Node Type'] === 'Seq Scan' && BIG_TABLES.has(n['Relation Name']!),
            );
            expect(seqScans, `${mode}: ${outline(plan)}`).toEqual([]);
            expect(pagesTouched(plan), `${mode}: ${outline(plan)}`).toBeLessThan(20 * finished.notes + 100);
          }
        } finally {
          await client.query('ROLLBACK');
          if (mode === 'generic') {
            await client.query('DEALLOCATE evco_find');
            await client.query('DEALLOCATE evco_settle');
          }
        }
      }
    } finally {
      await client.query('RESET plan_cache_mode');
      await client.query('RESET jit');
      await client.query('RESET enable_seqscan');
      client.release();
    }
  });
  it("schema 10's chain_head, which the unordered claims call for an ordered row, reads its aggregate's chain, not the handler's deliveries (EXPLAIN BUFFERS, custom and generic plans)", async () => {
    const client = await store.pool.connect();
    const s = SQL.quoteIdentifier(store.schema);
    try {
      for (const mode of ['custom', 'generic'] as const) {
        if (mode === 'generic') await generic(client);
        // h2's deliveries of agg-2 are ordered (even positions): 2, 100002, …, 900002.
        for (const [position, aggregate, head] of [
          [900_002, 'agg-2', false],
          [2, 'agg-2', true],
          [900_002, 'agg-none', true],
        ] as const) {
          const call = `SELECT ${s}.chain_head('h2', '${aggregate}', ${position}) AS head`;
          expect((await client.query(call)).rows[0].head, `${mode} ${call}`).toBe(head);
          const plan = await explain(client, true, call);
          // The function's own reads count toward the node that calls it.
          const pages = (plan['Shared Hit Blocks'] ?? 0) + (plan['Shared Read Blocks'] ?? 0);
          expect(pages, `${mode} ${call}`).toBeLessThan(30);
        }
      }
    } finally {
      await client.query('RESET plan_cache_mode');
      await client.query('RESET jit');
      await client.query('RESET enable_seqscan');
      client.release();
    }
  });
});
