import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DomainEvent } from '@evco/core';
import { createPostgresStore, POSITION_BLOCK } from '@evco/store-postgres';
import pg from 'pg';
import { databaseUrl } from './env.js';
import { type BenchSection, percentile, round } from './harness.js';
import { PROBE } from './pg-counters.js';
import { concurrently, events } from './postgres.js';
import { rawSqliteValues } from './sqlite.js';

/** The append's nine parameters as store-postgres sends them (dates as ISO text). */
const values = (e: DomainEvent, now: Date): unknown[] => rawSqliteValues(e, now.toISOString());

/**
 * Where the append statement's server time goes (run only when named: `pnpm bench
 * postgres-append`, against a private server: it resets `pg_stat_statements`). The schema and the
 * statement are built up one feature at a time, from a bare INSERT into a table with only its
 * primary key to evco's own append (each secondary index of `events`, the parameter casts, the
 * delivery row through a CTE joined to the subscriptions, the deliveries' indexes, the `tx` CTE,
 * RETURNING and the count), and the last rungs are the store itself, migrated (its own
 * `append` through its pool), so the ladder's top can be checked against it.
 *
 * Every rung runs on a FRESH schema: 8 connections, each a named statement, 8 concurrent
 * writers, `EVENTS` single-event appends of the `postgres` section's events (aggregate type set,
 * no aggregate version, no causation id: a root event). The rungs go in turns, forward then
 * backward, `ROUNDS` times, so a drift of the machine's load spreads over all of them. Per event,
 * load-independent or nearly so: the server's execution time of the statement
 * (`pg_stat_statements.total_exec_time`: wall time inside the executor, so waits for a buffer
 * lock or for a CPU count too), the CPU time of the 8 backends (`/proc`, user + system, commit
 * and WAL flush included), WAL records, and shared buffers hit.
 */
const SCHEMA = 'evco_bench_append';
const EVENTS = Number(process.env.EVCO_BENCH_APPEND_EVENTS ?? 4000);
const ROUNDS = Number(process.env.EVCO_BENCH_APPEND_ROUNDS ?? 3);
const WRITERS = 8;
const WARMUP = 10;
const TYPE = 'AppendHappened';
const HANDLER = 'append';

/** A rung of the ladder: the schema it runs on and how an append is made. */
interface Rung {
  name: string;
  /** Tables and indexes, `{s}` the schema; ignored by the store's rungs (they migrate). */
  ddl?: string;
  /** The statement (nine parameters, `values`), or undefined: the store's own append. */
  sql?: string;
  /** SQL run after the store migrated (a candidate schema change), `{s}` the schema. */
  after?: string;
  /** Startup settings of the rung's connections (`sql` rungs), as the store sends them. */
  connection?: Pick<pg.ClientConfig, 'options' | 'statement_timeout'>;
}

const CORRELATION_FULL =
  "CREATE INDEX events_correlation_idx ON {s}.events ((metadata->>'correlationId'), position);";
/** Migration 5: root events (correlated to their own id) left out. */
const CORRELATION_PARTIAL = `CREATE INDEX events_correlated_idx ON {s}.events ((metadata->>'correlationId'), position)
  WHERE (metadata->>'correlationId') <> event_id::text;`;

/** Migration 2's causation index (dropped by migration 8 with the correlation one). */
const CAUSATION_PARTIAL = `CREATE INDEX events_causation_idx ON {s}.events ((metadata->>'causationId'), position)
  WHERE (metadata->>'causationId') IS NOT NULL;`;

/** Each secondary index of `events`, in the order of the ladder (evco's migrations 1, 2 and 4). */
const EVENT_INDEXES: Array<[string, string]> = [
  ['event_id unique', 'ALTER TABLE {s}.events ADD CONSTRAINT events_event_id_key UNIQUE (event_id);'],
  [
    'aggregate_version unique partial',
    `CREATE UNIQUE INDEX events_aggregate_version_key ON {s}.events (aggregate_id, aggregate_version)
  WHERE aggregate_version IS NOT NULL;`,
  ],
  ['aggregate', 'CREATE INDEX events_aggregate_idx ON {s}.events (aggregate_id, position);'],
  ['type', 'CREATE INDEX events_type_idx ON {s}.events (event_type, position);'],
  [
    'aggregate_type partial',
    `CREATE INDEX events_aggregate_type_idx ON {s}.events (aggregate_type, position)
  WHERE aggregate_type IS NOT NULL;`,
  ],
  ['time', 'CREATE INDEX events_time_idx ON {s}.events (occurred_at, position);'],
  ['correlation (schema 4: every event)', CORRELATION_FULL],
  ['causation partial', CAUSATION_PARTIAL],
];

const TABLES = `
CREATE TABLE {s}.events (
  position bigint PRIMARY KEY, event_id uuid NOT NULL, event_type text NOT NULL, aggregate_id text NOT NULL,
  aggregate_type text, aggregate_version bigint, event_data jsonb NOT NULL, metadata jsonb NOT NULL,
  occurred_at timestamptz NOT NULL, recorded_at timestamptz NOT NULL
);
CREATE TABLE {s}.subscriptions (
  event_type text NOT NULL, handler text NOT NULL,
  ordering text NOT NULL CHECK (ordering IN ('aggregate', 'none')),
  expires_at timestamptz NOT NULL, last_seen_at timestamptz NOT NULL, last_seen_by text NOT NULL,
  PRIMARY KEY (event_type, handler)
);
CREATE INDEX subscriptions_handler_idx ON {s}.subscriptions (handler);
INSERT INTO {s}.subscriptions VALUES ('${TYPE}', '${HANDLER}', 'none', now() + interval '1 day', now(), 'bench');
CREATE TABLE {s}.deliveries (
  position bigint NOT NULL, handler text NOT NULL, aggregate_id text NOT NULL, ordered boolean NOT NULL,
  run bigint NOT NULL, status text NOT NULL CHECK (status IN ('open', 'dead')),
  attempts integer NOT NULL DEFAULT 0, next_attempt_at timestamptz NOT NULL, lease_owner text,
  last_error text, is_replay boolean NOT NULL DEFAULT false, created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL, replay_id uuid,
  PRIMARY KEY (position, handler)
) WITH (fillfactor = 70);`;

const OPEN_IDX = `CREATE INDEX deliveries_open_idx ON {s}.deliveries (handler, position) WHERE status = 'open';`;
const OTHER_DELIVERY_IDX = `
CREATE INDEX deliveries_chain_idx ON {s}.deliveries (handler, aggregate_id, position) WHERE ordered AND status = 'open';
CREATE INDEX deliveries_dead_idx ON {s}.deliveries (position, handler) WHERE status = 'dead';
CREATE INDEX deliveries_replay_idx ON {s}.deliveries (replay_id) WHERE replay_id IS NOT NULL;
CREATE INDEX deliveries_dead_handler_idx ON {s}.deliveries (handler, position) WHERE status = 'dead';`;

const COLUMNS = `position, event_id, event_type, aggregate_id, aggregate_type, aggregate_version,
    event_data, metadata, occurred_at, recorded_at`;
const PLAIN = '$1, $2, $3, $4, $5, $6, $7, $8, $9';
const CAST =
  '$1::uuid, $2::text, $3::text, $4::text, $5::bigint, $6::jsonb, $7::jsonb, $8::timestamptz, $9::timestamptz';
const RUN = 'pg_current_xact_id()::text::bigint';
const DELIVER = `INSERT INTO {s}.deliveries (position, handler, aggregate_id, ordered, run, status, next_attempt_at,
    created_at, updated_at)
  SELECT i.position, s.handler, i.aggregate_id, s.ordering = 'aggregate', ${RUN}, 'open', $9::timestamptz,
    $9::timestamptz, $9::timestamptz
  FROM inserted i JOIN {s}.subscriptions s ON s.event_type = i.event_type AND s.expires_at > $9::timestamptz`;

/** The statement of a rung: which of the statement's features it has. */
function statement(f: { casts: boolean; deliver: boolean; tx: boolean; returning: boolean }): string {
  const values = f.casts ? CAST : PLAIN;
  const insert = f.tx
    ? `INSERT INTO {s}.events (${COLUMNS})
  SELECT tx.lo + 1, ${values} FROM tx`
    : `INSERT INTO {s}.events (${COLUMNS})
  VALUES (${RUN} * ${POSITION_BLOCK} + 1, ${values})`;
  const tx = `tx AS MATERIALIZED (SELECT ${RUN} * ${POSITION_BLOCK} AS lo)`;
  if (!f.deliver) return f.tx ? `WITH ${tx} ${insert}` : insert;
  const inserted = `inserted AS (
  ${insert}
  RETURNING position, event_type, aggregate_id
)`;
  const head = f.tx ? `WITH ${tx}, ${inserted}` : `WITH ${inserted}`;
  if (!f.returning) return `${head}\n${DELIVER}`;
  return `${head}, delivered AS (
  ${DELIVER}
  RETURNING position
)
SELECT i.position::text AS position, (SELECT count(*) FROM delivered)::int AS deliveries
FROM inserted i`;
}

function ladder(): Rung[] {
  const rungs: Rung[] = [];
  let ddl = TABLES;
  const none = { casts: false, deliver: false, tx: false, returning: false };
  rungs.push({ name: 'bare: event row, primary key only', ddl, sql: statement(none) });
  for (const [name, index] of EVENT_INDEXES) {
    ddl += `\n${index}`;
    rungs.push({ name: `+ events ${name}`, ddl, sql: statement(none) });
  }
  rungs.push({ name: '+ parameter casts', ddl, sql: statement({ ...none, casts: true }) });
  const deliver = { ...none, casts: true, deliver: true };
  rungs.push({
    name: '+ delivery row (CTE, subscriptions join), its primary key',
    ddl,
    sql: statement(deliver),
  });
  ddl += `\n${OPEN_IDX}`;
  rungs.push({ name: '+ deliveries_open_idx', ddl, sql: statement(deliver) });
  ddl += OTHER_DELIVERY_IDX;
  rungs.push({
    name: '+ deliveries chain, dead, dead_handler, replay (partial)',
    ddl,
    sql: statement(deliver),
  });
  rungs.push({ name: '+ tx CTE', ddl, sql: statement({ ...deliver, tx: true }) });
  rungs.push({
    name: '+ RETURNING and count (evco APPEND_ONE)',
    ddl,
    sql: statement({ ...deliver, tx: true, returning: true }),
  });
  const top = statement({ ...deliver, tx: true, returning: true });
  rungs.push({
    name: "+ generic plans, jit and sequential scans off (the store's startup options)",
    ddl,
    sql: top,
    connection: { options: '-c plan_cache_mode=force_generic_plan -c jit=off -c enable_seqscan=off' },
  });
  rungs.push({
    name: "+ statement_timeout 30 s (the store's default)",
    ddl,
    sql: top,
    connection: {
      options: '-c plan_cache_mode=force_generic_plan -c jit=off -c enable_seqscan=off',
      statement_timeout: 30_000,
    },
  });
  rungs.push({
    name: 'ladder top, correlation index without roots (schema 5)',
    ddl: ddl.replace(CORRELATION_FULL, CORRELATION_PARTIAL),
    sql: top,
    connection: {
      options: '-c plan_cache_mode=force_generic_plan -c jit=off -c enable_seqscan=off',
      statement_timeout: 30_000,
    },
  });
  // Schema 8 moved the flows out of `events`: the store's rungs before it put its indexes back.
  rungs.push({
    name: 'evco store, schema 4 (correlation index of every event)',
    after: `${CORRELATION_FULL} ${CAUSATION_PARTIAL}`,
  });
  rungs.push({
    name: 'evco store, schema 7 (flow indexes on events)',
    after: `${CORRELATION_PARTIAL} ${CAUSATION_PARTIAL}`,
  });
  rungs.push({ name: 'evco store: migrations, store.append([event])' });
  return rungs;
}

interface Sample {
  execUs: number;
  planUs: number;
  walRecords: number;
  walBytes: number;
  blocksHit: number;
  backendCpuUs: number;
  calls: number;
}

const TICK_US = 1e6 / 100;

function procCpuUs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * TICK_US;
  } catch {
    return Number.NaN;
  }
}

const bind = (sql: string) => sql.replaceAll('{s}', SCHEMA);

/** The writers' connections, told apart from anything else on the server by their application name. */
function writersUrl(): string {
  const url = new URL(databaseUrl);
  url.searchParams.set('application_name', SCHEMA);
  return url.toString();
}

async function runRung(admin: pg.Client, rung: Rung, list: DomainEvent[]): Promise<Sample> {
  await admin.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  const now = new Date();
  let append: (e: DomainEvent) => Promise<void>;
  let close: () => Promise<void>;
  if (rung.sql) {
    await admin.query(`CREATE SCHEMA ${SCHEMA}`);
    await admin.query(bind(rung.ddl!));
    const clients = await Promise.all(
      Array.from({ length: WRITERS }, async () => {
        const c = new pg.Client({ connectionString: writersUrl(), ...rung.connection });
        await c.connect();
        return c;
      }),
    );
    const text = bind(rung.sql);
    const name = `bench_append_${Math.random().toString(36).slice(2)}`;
    const free = [...clients];
    append = async (e) => {
      const c = free.pop()!;
      try {
        await c.query({ name, text, values: values(e, now) });
      } finally {
        free.push(c);
      }
    };
    close = async () => {
      await Promise.all(clients.map((c) => c.end()));
    };
  } else {
    const store = createPostgresStore({ connectionString: writersUrl(), schema: SCHEMA, poolSize: WRITERS });
    await store.migrate();
    if (rung.after) await admin.query(bind(rung.after));
    await store.registerSubscriptions([{ eventType: TYPE, handler: HANDLER, ordering: 'none' }], {
      consumerId: 'bench',
      now,
      ttlMs: 86_400_000,
    });
    append = async (e) => {
      await store.append([e], { now });
    };
    close = () => store.close();
  }
  try {
    // Warm up every connection (connect, prepare, the first custom plans), then count.
    await concurrently(WRITERS, WRITERS * WARMUP, (i) => append(list[i]!));
    await admin.query(`${PROBE}SELECT pg_stat_statements_reset()`);
    const pids = (
      await admin.query(`${PROBE}SELECT pid FROM pg_stat_activity WHERE application_name = '${SCHEMA}'`)
    ).rows.map((r) => r.pid as number);
    const cpuBefore = pids.map(procCpuUs);
    await concurrently(WRITERS, EVENTS, (i) => append(list[WRITERS * WARMUP + i]!));
    const cpuAfter = pids.map(procCpuUs);
    const { rows } = await admin.query(
      `${PROBE}SELECT sum(calls)::float8 AS calls, sum(total_exec_time)::float8 AS ms, sum(total_plan_time)::float8 AS pms,
         sum(wal_records)::float8 AS wal, sum(wal_bytes)::float8 AS wal_bytes, sum(shared_blks_hit)::float8 AS hit
       FROM pg_stat_statements
       WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
         AND query NOT LIKE '${PROBE.trim()}%' AND query LIKE '%${SCHEMA}%'`,
    );
    const r = rows[0];
    const total = EVENTS + WRITERS * WARMUP;
    const counted = (
      await admin.query(
        `${PROBE}SELECT (SELECT count(*) FROM ${SCHEMA}.events)::int AS events,
           (SELECT count(*) FROM ${SCHEMA}.deliveries)::int AS deliveries`,
      )
    ).rows[0];
    const delivers = !rung.sql || rung.sql.includes('INSERT INTO {s}.deliveries');
    if (counted.events !== total || counted.deliveries !== (delivers ? total : 0))
      throw new Error(
        `[postgres-append] ${rung.name}: ${counted.events} events and ${counted.deliveries} deliveries after ${total} appends`,
      );
    let cpu = 0;
    for (let i = 0; i < pids.length; i++) cpu += cpuAfter[i]! - cpuBefore[i]!;
    return {
      execUs: (r.ms * 1000) / EVENTS,
      planUs: (r.pms * 1000) / EVENTS,
      walRecords: r.wal / EVENTS,
      walBytes: r.wal_bytes / EVENTS,
      blocksHit: r.hit / EVENTS,
      backendCpuUs: cpu / EVENTS,
      calls: r.calls / EVENTS,
    };
  } finally {
    await close();
  }
}

const median = (xs: number[]) =>
  percentile(
    [...xs].sort((a, b) => a - b),
    50,
  );

/**
 * Instructions instead of time (`EVCO_BENCH_APPEND_SINGLE_USER=<dir>`): writes, per rung of the
 * ladder that is plain SQL, input for `postgres --single` (the rung's schema, its statement
 * prepared with a generic plan, then `count` EXECUTEs of distinct events) as
 * `<dir>/<rung>-<count>.sql`, for `count` = 100 and 600. Run each under `valgrind
 * --tool=callgrind` (see the README, "The append statement, rung by rung"): the difference of
 * the two runs' instruction counts over 500 is the rung's instructions per append, which no
 * other load on the machine changes.
 */
function writeSingleUserInputs(dir: string): Array<Record<string, unknown>> {
  mkdirSync(dir, { recursive: true });
  const list = events(600, TYPE);
  const now = new Date('2026-01-01T00:00:00.000Z');
  const literal = (v: unknown) =>
    v === null || v === undefined ? 'NULL' : `'${String(v).replaceAll("'", "''")}'`;
  const oneLine = (sql: string) => sql.replace(/\s+/g, ' ').trim();
  const out: Array<Record<string, unknown>> = [];
  ladder().forEach((rung, i) => {
    if (!rung.sql) return;
    const head = [
      'SET plan_cache_mode = force_generic_plan',
      'SET jit = off',
      'SET enable_seqscan = off',
      `DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`,
      `CREATE SCHEMA ${SCHEMA}`,
      oneLine(bind(rung.ddl!)),
      `PREPARE a (uuid, text, text, text, bigint, jsonb, jsonb, timestamptz, timestamptz) AS ${oneLine(bind(rung.sql))}`,
    ];
    for (const count of [100, 600]) {
      const lines = list.slice(0, count).map((e) => `EXECUTE a (${values(e, now).map(literal).join(', ')})`);
      const file = join(dir, `${String(i).padStart(2, '0')}-${count}.sql`);
      writeFileSync(file, `${[...head, ...lines].join('\n')}\n`);
    }
    out.push({ rung: rung.name, files: `${String(i).padStart(2, '0')}-{100,600}.sql` });
  });
  return out;
}

export const postgresAppendSection: BenchSection = {
  name: 'postgres-append',
  onlyWhenNamed: true,
  async run() {
    const singleUser = process.env.EVCO_BENCH_APPEND_SINGLE_USER;
    if (singleUser) return writeSingleUserInputs(singleUser);
    const admin = new pg.Client({ connectionString: databaseUrl });
    await admin.connect();
    const only = process.env.EVCO_BENCH_APPEND_RUNGS?.split(',').map(Number);
    const rungs = ladder().filter((_, i) => !only || only.includes(i));
    const samples = rungs.map(() => [] as Sample[]);
    try {
      for (let round = 0; round < ROUNDS; round++) {
        const order = rungs.map((_, i) => i);
        if (round % 2 === 1) order.reverse();
        for (const i of order) {
          const list = events(EVENTS + WRITERS * WARMUP, TYPE);
          samples[i]!.push(await runRung(admin, rungs[i]!, list));
          process.stderr.write('.');
        }
      }
    } finally {
      await admin.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`).catch(() => {});
      await admin.end();
    }
    process.stderr.write('\n');
    return rungs.map((rung, i) => {
      const s = samples[i]!;
      const pick = (k: keyof Sample) => s.map((x) => round(x[k], 1));
      return {
        rung: rung.name,
        execUsPerEvent: round(median(s.map((x) => x.execUs)), 1),
        execUsRounds: pick('execUs'),
        backendCpuUsPerEvent: round(median(s.map((x) => x.backendCpuUs)), 1),
        backendCpuUsRounds: pick('backendCpuUs'),
        planUsPerEvent: round(median(s.map((x) => x.planUs)), 1),
        walRecordsPerEvent: round(median(s.map((x) => x.walRecords)), 2),
        walBytesPerEvent: Math.round(median(s.map((x) => x.walBytes))),
        blocksHitPerEvent: round(median(s.map((x) => x.blocksHit)), 1),
        statementsPerEvent: round(median(s.map((x) => x.calls)), 2),
      };
    });
  },
};
