import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createAdminClient,
  createDomainEvent,
  DEFAULT_PRUNE_BATCH,
  DEFAULT_RETENTION_DUTY_CYCLE,
  type DomainEvent,
  type EventStore,
  silentLogger,
} from '@evco/core';
import { createPostgresStore } from '@evco/store-postgres';
import { createSqliteStore } from '@evco/store-sqlite';
import Database from 'better-sqlite3';
import pg from 'pg';
import { databaseUrl } from './env.js';
import { type BenchSection, compare, countingCoordinator, percentile, round } from './harness.js';
import { rawValues } from './postgres.js';
import { rawSqliteValues } from './sqlite.js';

/**
 * `pnpm bench scale`: does evco stay flat as the store grows? At each size the store is topped
 * up with bulk SQL (not through the API: millions of appends would take the whole run), then:
 * end to end (8 publishers, one handler) next to raw INSERTs into a table with the same indexes
 * and the same rows, history p50/p99 by type, aggregate, time window (alone and with a type),
 * status, dead letters and unprocessed events p99, and prunes of the oldest three tenths with four
 * appenders writing meanwhile: back to back, paced as background retention, and at the goal's
 * rate. From 0, a page row too (`PAGE_EVENTS`): the goals compare the largest size with it.
 *
 * Sizes: `EVCO_BENCH_SCALE_SIZES` (both stores) or `EVCO_BENCH_SCALE_POSTGRES_SIZES` /
 * `EVCO_BENCH_SCALE_SQLITE_SIZES`, comma-separated, `k`/`M` suffixes allowed (`0,200k`);
 * defaults 0, 1 M, 5 M on Postgres and 0, 1 M on SQLite. `EVCO_BENCH_SCALE_STORES=postgres` runs one.
 */

const TYPES = 20;
const AGGREGATES = 100_000;
/** Fill events are 10 ms apart, starting two days ago: 5 M of them span about 14 hours. */
const SPACING_MS = 10;
const E2E_EVENTS = 2000;
const SAMPLES = 200;
const WARMUP_SAMPLES = 20;
const PRUNE_BATCH = 10_000;
/** The prune goal: this rate with appends next to it at least 0.8× their rate alone. */
const PRUNE_GOAL_RATE = 50_000;
/**
 * The `maxEventsPerSecond` of the run held at the goal's rate: 5% above it, since the run's
 * measured rate also counts the call's start (the lease, the first plan) and its last, empty
 * batch, which the pacer's schedule does not.
 */
const PRUNE_PACED_CAP = Math.round(PRUNE_GOAL_RATE * 1.05);
const APPEND_GOAL_RATIO = 0.8;
/**
 * The page row: at size 0 every history query returns nothing, so its latency there is a bare
 * round trip and "within 2× of its value at 0" would compare returning 100 rows with returning
 * none. When the sizes start at 0 the section also measures the store at `PAGE_EVENTS`, where
 * every query returns what it returns at the largest size (100 by type, a full window, 50 of an
 * aggregate), and the goals compare the largest size with that row. The first `PAGE_EVENTS`
 * fill events belong to `PAGE_AGGREGATES` aggregates, 50 each; later ones spread over
 * `AGGREGATES` (50 each at 5 M).
 */
const PAGE_EVENTS = 20_000;
const PAGE_AGGREGATES = 400;
/** The aggregate of fill event n, in SQL (both stores). */
const fillAggregate = (n: string) =>
  `'agg-' || (CASE WHEN ${n} <= ${PAGE_EVENTS} THEN ${n} % ${PAGE_AGGREGATES} ELSE ${n} % ${AGGREGATES} END)`;
/** Aggregates the by-aggregate query samples: those holding events at this size. */
const aggregatesAt = (filled: number) => (filled <= PAGE_EVENTS ? PAGE_AGGREGATES : AGGREGATES);

function sizes(store: string, defaults: number[]): number[] {
  const text =
    process.env[`EVCO_BENCH_SCALE_${store.toUpperCase()}_SIZES`] ?? process.env.EVCO_BENCH_SCALE_SIZES;
  if (!text) return defaults;
  const parsed = text.split(',').map((s) => {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*$/.exec(s);
    if (!m) throw new Error(`bench scale: bad size "${s}" (e.g. 0,200k,1M)`);
    const unit = m[2]!.toLowerCase() === 'k' ? 1_000 : m[2]!.toLowerCase() === 'm' ? 1_000_000 : 1;
    return Math.round(Number(m[1]) * unit);
  });
  return [...new Set(parsed)].sort((a, b) => a - b);
}

/** What differs between the stores: filling, the raw baseline, opening the store. */
interface Driver {
  name: string;
  /** Fill events numbered [first, last] (see `fillEvent` for what event n looks like). */
  fill(first: number, last: number): Promise<void>;
  count(): Promise<number>;
  /** A table with the same columns, indexes and rows as the events table, for the raw INSERTs. */
  copyToRaw(): Promise<void>;
  /**
   * Writes out what the bench's own bulk load left dirty (the fill and the raw copy: about 1 GB at
   * 1 M events on Postgres), so that the measurements that follow see the store at that size, not
   * the server flushing the bench's load underneath them; what it did, for the report.
   */
  settle(): Promise<string>;
  rawInsert(e: DomainEvent, now: Date): Promise<void>;
  open(): EventStore;
  close(): Promise<void>;
}

const base = Date.now() - 2 * 86_400_000;
const fillTime = (n: number) => new Date(base + n * SPACING_MS);

function e2eEvents(n: number): DomainEvent[] {
  return Array.from({ length: n }, (_, i) =>
    createDomainEvent({
      eventType: 'ScaleHappened',
      aggregateId: `e2e-${i % 997}`,
      aggregateType: 'Scale',
      eventData: { index: i, name: `user-${i}`, email: `user-${i}@example.com` },
    }),
  );
}

async function concurrently(workers: number, total: number, op: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      for (let i = next++; i < total; i = next++) await op(i);
    }),
  );
}

/**
 * p50/p99 of `SAMPLES` calls, and the mean number of rows they returned: at size 0 a history
 * query returns nothing, so its latency there is a bare round trip.
 */
async function latencies(
  fn: (i: number) => Promise<unknown>,
): Promise<{ p50: number; p99: number; rows?: number }> {
  for (let i = 0; i < WARMUP_SAMPLES; i++) await fn(i);
  const ms: number[] = [];
  let rows = 0;
  for (let i = 0; i < SAMPLES; i++) {
    const started = performance.now();
    const result = await fn(i);
    ms.push(performance.now() - started);
    if (Array.isArray(result)) rows += result.length;
  }
  ms.sort((a, b) => a - b);
  return { p50: percentile(ms, 50), p99: percentile(ms, 99), rows: round(rows / SAMPLES, 1) };
}

/** A deterministic spread of sample points (no Math.random: runs compare). */
const pick = (i: number, n: number) => (i * 7919 + 13) % Math.max(1, n);

async function measureSize(driver: Driver, filled: number) {
  const store = driver.open();
  const { coordinator, handled } = await countingCoordinator(store, {
    eventType: 'ScaleHappened',
    name: 'scale-e2e',
  });
  try {
    const now = new Date();
    const e2e = await compare(
      'end to end: 8 publishers, one handler, completed',
      E2E_EVENTS,
      {
        name: 'INSERT … VALUES ×8 into a table with the same indexes and rows',
        fn: async () => {
          const list = e2eEvents(E2E_EVENTS);
          await concurrently(8, E2E_EVENTS, (i) => driver.rawInsert(list[i]!, now));
        },
      },
      {
        name: 'publishEvent ×8 → handled → completed',
        fn: async () => {
          const list = e2eEvents(E2E_EVENTS);
          const target = handled() + E2E_EVENTS;
          await concurrently(8, E2E_EVENTS, async (i) => {
            await coordinator.publishEvent(list[i]!);
          });
          while (handled() < target) await new Promise((r) => setTimeout(r, 1));
          await coordinator.waitForIdle({ timeoutMs: 60_000 });
        },
      },
    );
    // Windows of 10 s (1 000 fill events) spread over what was filled; at size 0 they are empty.
    const window = (i: number) => {
      const from = fillTime(pick(i, filled));
      return { from, to: new Date(from.getTime() + 10_000) };
    };
    const queries = {
      'history by type': await latencies((i) =>
        store.read({ eventType: `Scale${i % TYPES}`, limit: 100, order: 'desc' }),
      ),
      'history by type, next page': await latencies((i) =>
        store.read({ eventType: `Scale${i % TYPES}`, afterPosition: String(pick(i, filled)), limit: 100 }),
      ),
      'history by aggregate': await latencies((i) =>
        store.read({ aggregateId: `agg-${pick(i, aggregatesAt(filled))}`, limit: 100, order: 'desc' }),
      ),
      'history by time window': await latencies((i) => store.read({ ...window(i), limit: 100 })),
      'history by time window and type': await latencies((i) =>
        store.read({ ...window(i), eventType: `Scale${i % TYPES}`, limit: 100 }),
      ),
      'history by time window and aggregate type': await latencies((i) =>
        store.read({ ...window(i), aggregateType: `Agg${i % 5}`, limit: 100 }),
      ),
      status: await latencies(() => coordinator.getCoordinatorStatus()),
      'dead letters': await latencies(() => store.getDeadLetters({ limit: 100 })),
      'unprocessed events': await latencies(() => store.getUnprocessedEvents({ limit: 100 })),
    };
    return { e2e, queries };
  } finally {
    await coordinator.shutdown();
  }
}

/** Appenders running next to a prune, each appending one event per call. */
const APPENDERS = 4;
/** How long the appenders run alone, for the rate a prune is compared with. */
const APPEND_ALONE_MS = 2_000;

/** `APPENDERS` concurrent single-event appends until `done()`; events/s. */
async function appendRate(store: EventStore, done: () => boolean): Promise<number> {
  let appended = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: APPENDERS }, async (_, w) => {
      while (!done()) {
        await store.append(
          [createDomainEvent({ eventType: 'ScaleAppended', aggregateId: `append-${w}`, eventData: { w } })],
          { now: new Date() },
        );
        appended++;
        // As an application's appends arrive from I/O: each turn of the event loop, not a loop of
        // microtasks (with store-sqlite an append resolves without I/O, and such a loop would
        // starve the timers a paced prune waits on).
        await new Promise((resolve) => setImmediate(resolve));
      }
    }),
  );
  return (appended / (performance.now() - started)) * 1000;
}

/**
 * Prunes next to four appenders on another connection, three times: the oldest tenth of the
 * filled events back to back (batches of 10 000, an operator's `pruneEvents`), the next tenth as
 * background retention does by default (batches of 1 000, duty cycle 0.25: it pauses three times
 * as long as each batch took), and the third tenth held at the goal's rate (batches of 1 000,
 * `maxEventsPerSecond` 52 500, see PRUNE_PACED_CAP: what the appenders keep when the prune runs
 * as fast as the goal asks and no faster). For each: the prune's events/s and the appenders' rate during it against their
 * rate alone just before (goal: at most 20% slower), and whether both halves of the goal held.
 * "n/a" without `pruneEvents`.
 */
async function prune(driver: Driver, filled: number): Promise<Record<string, unknown> | string> {
  const appender = driver.open();
  const admin = await createAdminClient({ store: driver.open(), logger: silentLogger });
  try {
    if (!appender.pruneEvents) return 'n/a (the store has no pruneEvents)';
    const aloneUntil = performance.now() + APPEND_ALONE_MS;
    const alone = await appendRate(appender, () => performance.now() >= aloneUntil);
    const run = async (upTo: number, batchSize: number, dutyCycle: number, maxEventsPerSecond?: number) => {
      let pruning = true;
      const during = appendRate(appender, () => !pruning);
      const started = performance.now();
      let removed = 0;
      try {
        ({ removed } = await admin.pruneEvents({
          before: fillTime(upTo),
          batchSize,
          dutyCycle,
          maxEventsPerSecond,
        }));
      } finally {
        pruning = false;
      }
      const ms = performance.now() - started;
      const duringRate = await during;
      const eventsPerSec = Math.round((removed / ms) * 1000);
      const ratio = round(duringRate / alone);
      return {
        batchSize,
        dutyCycle,
        ...(maxEventsPerSecond ? { maxEventsPerSecond } : {}),
        removed,
        ms: round(ms),
        eventsPerSec,
        concurrentAppends: {
          appenders: APPENDERS,
          alonePerSec: Math.round(alone),
          duringPrunePerSec: Math.round(duringRate),
          ratio,
        },
        met: eventsPerSec >= PRUNE_GOAL_RATE && ratio >= APPEND_GOAL_RATIO,
      };
    };
    return {
      goal: `>= ${PRUNE_GOAL_RATE} events/s and concurrent appends ratio >= ${APPEND_GOAL_RATIO} (at most 20% slower), at once`,
      operator: await run(Math.floor(filled / 10), PRUNE_BATCH, 1),
      background: await run(Math.floor(filled / 5), DEFAULT_PRUNE_BATCH, DEFAULT_RETENTION_DUTY_CYCLE),
      atGoalRate: await run(Math.floor((3 * filled) / 10), DEFAULT_PRUNE_BATCH, 1, PRUNE_PACED_CAP),
    };
  } finally {
    await appender.close();
    await admin.close();
  }
}

async function runStore(driver: Driver, requested: number[]) {
  const rows: Array<Record<string, unknown>> = [];
  let filled = 0;
  // From 0, the page row too (see PAGE_EVENTS), measured for the queries only.
  const withPage = requested[0] === 0 && requested.some((s) => s > PAGE_EVENTS);
  const list = withPage
    ? [0, PAGE_EVENTS, ...requested.slice(1).filter((s) => s !== PAGE_EVENTS)]
    : requested;
  for (const size of list) {
    const page = withPage && size === PAGE_EVENTS;
    // The page row counts fill events (all of its pages are fill events); other sizes count the
    // stored events, end-to-end ones included.
    const missing = page ? PAGE_EVENTS - filled : size - (await driver.count());
    if (missing > 0) {
      const started = performance.now();
      await driver.fill(filled + 1, filled + missing);
      filled += missing;
      process.stderr.write(
        `bench scale: ${driver.name} filled to ${size} in ${Math.round(performance.now() - started)} ms\n`,
      );
    }
    await driver.copyToRaw();
    const settled = await driver.settle();
    const events = await driver.count();
    const measured = await measureSize(driver, filled);
    const pruned =
      size === 0
        ? 'n/a (nothing to prune at 0)'
        : page
          ? 'n/a (the page row measures the queries)'
          : await prune(driver, filled);
    rows.push({
      size,
      ...(page ? { label: 'one page: every query returns what it returns at the largest size' } : {}),
      events,
      settled,
      ...measured,
      prune: pruned,
    });
    process.stderr.write(`bench scale: ${driver.name} at ${size} done\n`);
  }
  return { sizes: rows, goals: goals(rows) };
}

/**
 * At the largest size: every query p99 ≤ 10 ms and ≤ 2× its value at the page row (at the
 * smallest size when there is none; the empty row's p99 is printed next to it); end to end ≥ 0.9×
 * its value at the smallest size; each prune's verdict (≥ 50 000 events/s with appends ≥ 0.8×).
 */
function goals(rows: Array<Record<string, unknown>>) {
  type Row = {
    size: number;
    label?: string;
    e2e: { evco: { opsPerSec: number }; ratio: number };
    queries: Record<string, { p99: number; rows?: number }>;
    prune:
      | Record<string, { eventsPerSec: number; concurrentAppends: { ratio: number }; met: boolean }>
      | string;
  };
  const first = rows[0] as Row | undefined;
  const last = rows[rows.length - 1] as Row | undefined;
  if (!first || !last || first === last) return 'need two sizes';
  const base = (rows as Row[]).find((r) => r.label !== undefined && r !== last) ?? first;
  const out: Record<string, unknown> = {};
  for (const [name, q] of Object.entries(last.queries)) {
    const ref = base.queries[name]!;
    out[`${name} p99`] = {
      ...(base !== first ? { [`at ${first.size} (empty)`]: first.queries[name]!.p99 } : {}),
      [`at ${base.size}${base !== first ? ' (one page)' : ''}`]: ref.p99,
      [`at ${last.size}`]: q.p99,
      rows: `${ref.rows} -> ${q.rows}`,
      goal: `<= 10 ms and <= 2x (${round(2 * ref.p99)} ms)`,
      met: q.p99 <= 10 && q.p99 <= 2 * ref.p99,
    };
  }
  const e2e = round(last.e2e.evco.opsPerSec / first.e2e.evco.opsPerSec);
  out['end to end'] = {
    [`at ${first.size}`]: first.e2e.evco.opsPerSec,
    [`at ${last.size}`]: last.e2e.evco.opsPerSec,
    ratio: e2e,
    goal: '>= 0.9',
    met: e2e >= 0.9,
  };
  if (typeof last.prune !== 'string') {
    for (const [name, run] of Object.entries(last.prune)) {
      if (typeof run !== 'object') continue;
      out[`prune (${name}) at ${last.size}`] = {
        eventsPerSec: run.eventsPerSec,
        appendsRatio: run.concurrentAppends.ratio,
        goal: `>= ${PRUNE_GOAL_RATE} events/s and appends >= ${APPEND_GOAL_RATIO}x, at once`,
        met: run.met,
      };
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Postgres
// ---------------------------------------------------------------------------------------------

const PG_SCHEMA = 'evco_bench_scale';
const PG_RAW = 'evco_bench_scale_raw';
/**
 * Rows per fill or copy transaction. Kept short: while one runs it holds back the settled horizon
 * of every store-postgres user of the server (a shared test server's other suites wait on it).
 */
const PG_CHUNK = 50_000;

async function postgresDriver(): Promise<Driver> {
  const admin = new pg.Pool({ connectionString: databaseUrl, max: 8 });
  await admin.query(`DROP SCHEMA IF EXISTS ${PG_SCHEMA} CASCADE`);
  const setup = createPostgresStore({ connectionString: databaseUrl, schema: PG_SCHEMA });
  await setup.migrate();
  await setup.close();
  const rawInsert = `INSERT INTO ${PG_RAW}.events (event_id, event_type, aggregate_id, aggregate_type,
    aggregate_version, event_data, metadata, occurred_at, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`;
  const secondaryIndexes = async (schema: string) =>
    (
      await admin.query<{ indexname: string; indexdef: string }>(
        `SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = $1 AND i.tablename = 'events'
           AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname AND c.connamespace = $1::regnamespace)`,
        [schema],
      )
    ).rows;
  return {
    name: 'postgres',
    async fill(first, last) {
      const client = await admin.connect();
      try {
        await client.query('SET synchronous_commit = off');
        await client.query(`SET maintenance_work_mem = '256MB'`);
        // Very big top-ups load without the secondary indexes and rebuild them after (minutes
        // saved, but each rebuild is one long transaction).
        const rebuild = last - first > 2_000_000 ? await secondaryIndexes(PG_SCHEMA) : [];
        for (const i of rebuild) await client.query(`DROP INDEX ${PG_SCHEMA}."${i.indexname}"`);
        for (let from = first; from <= last; from += PG_CHUNK) {
          await client.query(
            `INSERT INTO ${PG_SCHEMA}.events (position, event_id, event_type, aggregate_id, aggregate_type,
               aggregate_version, event_data, metadata, occurred_at, recorded_at)
             SELECT g, gen_random_uuid(), 'Scale' || (g % ${TYPES}), ${fillAggregate('g')}, 'Agg' || (g % 5),
               NULL, jsonb_build_object('n', g), '{"schemaVersion":1}'::jsonb,
               $1::timestamptz + g * interval '${SPACING_MS} milliseconds', $1::timestamptz + g * interval '${SPACING_MS} milliseconds'
             FROM generate_series($2::bigint, $3::bigint) g`,
            [new Date(base).toISOString(), from, Math.min(last, from + PG_CHUNK - 1)],
          );
        }
        for (const i of rebuild) await client.query(i.indexdef);
        await client.query(`VACUUM ANALYZE ${PG_SCHEMA}.events`);
      } finally {
        client.release();
      }
    },
    async count() {
      return Number((await admin.query(`SELECT count(*)::bigint AS n FROM ${PG_SCHEMA}.events`)).rows[0].n);
    },
    async copyToRaw() {
      await admin.query(`DROP SCHEMA IF EXISTS ${PG_RAW} CASCADE`);
      await admin.query(`CREATE SCHEMA ${PG_RAW}`);
      await admin.query(`CREATE TABLE ${PG_RAW}.events (LIKE ${PG_SCHEMA}.events INCLUDING DEFAULTS)`);
      await admin.query(`CREATE SEQUENCE ${PG_RAW}.positions START 1000000000000000`);
      await admin.query(
        `ALTER TABLE ${PG_RAW}.events ALTER position SET DEFAULT nextval('${PG_RAW}.positions')`,
      );
      const { rows } = await admin.query<{ indexdef: string }>(
        `SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = 'events'`,
        [PG_SCHEMA],
      );
      for (const r of rows)
        await admin.query(r.indexdef.replace(` ON ${PG_SCHEMA}.events `, ` ON ${PG_RAW}.events `));
      // In position order, a chunk per transaction (see PG_CHUNK).
      for (let after = '-1'; ; ) {
        const { rows: last } = await admin.query<{ position: string | null }>(
          `WITH chunk AS (
             INSERT INTO ${PG_RAW}.events
             SELECT * FROM ${PG_SCHEMA}.events WHERE position > $1 ORDER BY position LIMIT ${PG_CHUNK}
             RETURNING position
           ) SELECT max(position)::text AS position FROM chunk`,
          [after],
        );
        if (last[0]?.position == null) break;
        after = last[0].position;
      }
      await admin.query(`VACUUM ANALYZE ${PG_RAW}.events`);
    },
    async settle() {
      // A checkpoint needs a superuser or pg_checkpoint (PostgreSQL 15+); without one the
      // measurements run while the server writes the load out, and the report says so.
      try {
        await admin.query('CHECKPOINT');
        return 'CHECKPOINT after the fill and the raw copy';
      } catch (error) {
        return `no CHECKPOINT (${error instanceof Error ? error.message : String(error)}): the server may still be writing the fill out`;
      }
    },
    async rawInsert(e, now) {
      await admin.query(rawInsert, rawValues(e, now));
    },
    open: () => createPostgresStore({ connectionString: databaseUrl, schema: PG_SCHEMA, poolSize: 10 }),
    async close() {
      await admin.query(`DROP SCHEMA IF EXISTS ${PG_SCHEMA} CASCADE`);
      await admin.query(`DROP SCHEMA IF EXISTS ${PG_RAW} CASCADE`);
      await admin.end();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// SQLite
// ---------------------------------------------------------------------------------------------

/** The store's default table prefix. */
const EVENTS = 'evco_events';

async function sqliteDriver(): Promise<Driver> {
  const dir = mkdtempSync(join(tmpdir(), 'evco-bench-scale-'));
  const file = join(dir, 'scale.db');
  const setup = createSqliteStore({ filename: file });
  await setup.migrate();
  await setup.close();
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  const schemaOf = (table: string) =>
    db
      .prepare(`SELECT type, name, sql FROM sqlite_master WHERE tbl_name = ? AND sql IS NOT NULL`)
      .all(table) as Array<{
      type: string;
      name: string;
      sql: string;
    }>;
  let insertRaw: Database.Statement | undefined;
  return {
    name: 'sqlite',
    async fill(first, last) {
      const indexes = schemaOf(EVENTS).filter((o) => o.type === 'index');
      for (const i of indexes) db.exec(`DROP INDEX "${i.name}"`);
      // Positions after every stored one (the end-to-end rounds appended some); times by number.
      const offset =
        Number(
          (db.prepare(`SELECT coalesce(max(position), 0) AS p FROM ${EVENTS}`).get() as { p: number }).p,
        ) -
        first +
        1;
      db.prepare(
        `WITH RECURSIVE g(n) AS (SELECT CAST(? AS INTEGER) UNION ALL SELECT n + 1 FROM g WHERE n < ?)
         INSERT INTO ${EVENTS} (position, id, event_type, aggregate_id, aggregate_type, aggregate_version,
           event_data, metadata, occurred_at, recorded_at)
         SELECT n + ${offset}, printf('00000000-0000-7000-8000-%012d', n), 'Scale' || (n % ${TYPES}), ${fillAggregate('n')},
           'Agg' || (n % 5), NULL, json_object('n', n), '{"schemaVersion":1}',
           strftime('%Y-%m-%dT%H:%M:%fZ', ?, '+' || (n * ${SPACING_MS} / 1000.0) || ' seconds'),
           strftime('%Y-%m-%dT%H:%M:%fZ', ?, '+' || (n * ${SPACING_MS} / 1000.0) || ' seconds')
         FROM g`,
      ).run(first, last, new Date(base).toISOString(), new Date(base).toISOString());
      for (const i of indexes) db.exec(i.sql);
      db.exec('ANALYZE');
    },
    async count() {
      return Number((db.prepare(`SELECT count(*) AS n FROM ${EVENTS}`).get() as { n: number }).n);
    },
    async copyToRaw() {
      db.exec('DROP TABLE IF EXISTS raw_events');
      const objects = schemaOf(EVENTS);
      const rename = (sql: string) =>
        sql.replace(/INDEX "evco_(\w+)"/, 'INDEX "raw_$1"').replaceAll(`"${EVENTS}"`, 'raw_events');
      db.exec(rename(objects.find((o) => o.type === 'table')!.sql));
      db.exec(`INSERT INTO raw_events SELECT * FROM ${EVENTS}`);
      for (const i of objects.filter((o) => o.type === 'index')) db.exec(rename(i.sql));
      insertRaw =
        db.prepare(`INSERT INTO raw_events (id, event_type, aggregate_id, aggregate_type, aggregate_version,
        event_data, metadata, occurred_at, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    },
    async settle() {
      db.pragma('wal_checkpoint(TRUNCATE)');
      return 'wal_checkpoint(TRUNCATE) after the fill and the raw copy';
    },
    async rawInsert(e, now) {
      insertRaw!.run(...rawSqliteValues(e, now.toISOString()));
    },
    open: () => createSqliteStore({ filename: file }),
    async close() {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const scaleSection: BenchSection = {
  name: 'scale',
  onlyWhenNamed: true,
  async run() {
    const stores = (process.env.EVCO_BENCH_SCALE_STORES ?? 'postgres,sqlite').split(',').map((s) => s.trim());
    const out: Array<Record<string, unknown>> = [];
    for (const name of stores) {
      const driver =
        name === 'postgres' ? await postgresDriver() : name === 'sqlite' ? await sqliteDriver() : undefined;
      if (!driver) throw new Error(`bench scale: unknown store "${name}" (postgres, sqlite)`);
      const list = sizes(name, name === 'postgres' ? [0, 1_000_000, 5_000_000] : [0, 1_000_000]);
      try {
        out.push({ store: name, ...(await runStore(driver, list)) });
      } catch (error) {
        out.push({ store: name, error: error instanceof Error ? error.message : String(error) });
      } finally {
        await driver.close();
      }
    }
    return out;
  },
};
