import { createAdminClient, createDomainEvent, type EventStore, silentLogger } from '@evco/core';
import pg from 'pg';
import { databaseUrl } from './env.js';
import { type BenchSection, parseCount, percentile, round } from './harness.js';
import { postgresSchema } from './scale.js';

/**
 * `pnpm bench postgres-day-prune`: issue 16's "removal of a day of old events at 10 M rows must
 * not bloat or lock the table for writers", as days of retention in compressed time. Not part of
 * the default run.
 *
 * A store-postgres schema is filled as `pnpm bench scale` fills one (`postgresSchema`), with
 * `EVCO_BENCH_DAY_PRUNE_SIZE` events (default 10 M, `k`/`M`
 * allowed) spread evenly over `EVCO_BENCH_DAY_PRUNE_DAYS` days (default 10) ending an hour ago, so
 * a day is size ÷ days events. Then `EVCO_BENCH_DAY_PRUNE_ROUNDS` days (default 3) go by, each in
 * `EVCO_BENCH_DAY_PRUNE_SLICES` slices (default 10): prune the next slice of the oldest day
 * (`pruneEvents`, batches of 1 000, back to back), then append a slice of new events through the
 * store (batches of 1 000), as retention and the application do all day. Four single-event
 * appenders run throughout. Counted: the table's heap and index sizes and dead tuples after each
 * slice, autovacuum's runs on it, and `pg_stat_activity` every 10 ms for client backends waiting
 * on a heavyweight lock (a writer blocked by the prune or by vacuum), by lock and statement. Then a
 * `VACUUM` of the table (what autovacuum does in real time) and one more day of events appended,
 * to see them reuse the space. Each variant
 * (`EVCO_BENCH_DAY_PRUNE_VARIANTS`, default `default,scale-0.01`) fills its own table: `default`
 * leaves the table's autovacuum settings as the server has them; `scale-<f>` sets
 * `autovacuum_vacuum_scale_factor = f` on the events table; `vacuum-daily` runs `VACUUM` on it at
 * the end of each day, as autovacuum does in real time once its threshold is a day's prune or
 * less (here the days pass faster than a throttled autovacuum finishes on a 10 M-row table). Autovacuum must be on for the figures
 * to mean anything; days pass in about a minute, so start the server with a short
 * `autovacuum_naptime` (e.g. 10 s) or autovacuum will look at the table once a "day" at most.
 */

const SCHEMA = 'evco_bench_day_prune';
const APPENDERS = 4;
const BATCH = 1_000;
const SAMPLE_MS = 10;

function count(name: string, fallback: number): number {
  const text = process.env[`EVCO_BENCH_DAY_PRUNE_${name}`];
  if (text === undefined || text === '') return fallback;
  const n = parseCount(text);
  if (n === undefined || n < 1)
    throw new Error(
      `bench postgres-day-prune: EVCO_BENCH_DAY_PRUNE_${name} must be a count of at least 1 (e.g. 200k, 10M), got "${text}"`,
    );
  return n;
}

interface TableState {
  heapMB: number;
  indexesMB: number;
  deadTuples: number;
  liveTuples: number;
  autovacuums: number;
}

async function tableState(admin: pg.Pool): Promise<TableState> {
  const { rows } = await admin.query(
    `SELECT pg_relation_size(relid) AS heap, pg_indexes_size(relid) AS idx, n_dead_tup, n_live_tup, autovacuum_count
       FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = 'events'`,
    [SCHEMA],
  );
  const r = rows[0];
  return {
    heapMB: round(Number(r.heap) / 1048576, 1),
    indexesMB: round(Number(r.idx) / 1048576, 1),
    deadTuples: Number(r.n_dead_tup),
    liveTuples: Number(r.n_live_tup),
    autovacuums: Number(r.autovacuum_count),
  };
}

/**
 * Client backends of this database waiting on a heavyweight lock, every `SAMPLE_MS`, counted by
 * lock kind (`pg_stat_activity.wait_event`: `relation`, `extend`, `transactionid`, `tuple`,
 * `advisory` …) and by the statement waiting (an append, a prune batch, …), so that a writer held
 * up by the prune is told apart from appenders extending the table together.
 */
function lockSampler(admin: pg.Pool) {
  let samples = 0;
  let withWaiters = 0;
  let maxWaiters = 0;
  const byKind: Record<string, number> = {};
  let stop = false;
  const done = (async () => {
    const client = await admin.connect();
    try {
      while (!stop) {
        const { rows } = await client.query<{ wait_event: string; statement: string }>(
          `SELECT wait_event, regexp_replace(left(query, 60), '\\s+', ' ', 'g') AS statement FROM pg_stat_activity
            WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()
              AND wait_event_type = 'Lock'`,
        );
        samples++;
        if (rows.length > 0) withWaiters++;
        if (rows.length > maxWaiters) maxWaiters = rows.length;
        for (const r of rows) {
          const key = `${r.wait_event}: ${r.statement.trim()}`;
          byKind[key] = (byKind[key] ?? 0) + 1;
        }
        await new Promise((r) => setTimeout(r, SAMPLE_MS));
      }
    } finally {
      client.release();
    }
  })();
  return {
    async stop() {
      stop = true;
      await done;
      return {
        samples,
        samplesWithLockWaiters: withWaiters,
        maxLockWaiters: maxWaiters,
        waitersByLockAndStatement: byKind,
      };
    },
  };
}

/** `VACUUM` of the events table; its seconds. */
async function vacuum(admin: pg.Pool): Promise<number> {
  const started = performance.now();
  await admin.query(`VACUUM ${SCHEMA}.events`);
  return round((performance.now() - started) / 1000, 0);
}

function appenders(store: EventStore) {
  const latencies: number[] = [];
  let stop = false;
  const done = Promise.all(
    Array.from({ length: APPENDERS }, async (_, w) => {
      while (!stop) {
        const started = performance.now();
        await store.append(
          [createDomainEvent({ eventType: 'DayAppended', aggregateId: `append-${w}`, eventData: { w } })],
          { now: new Date() },
        );
        latencies.push(performance.now() - started);
      }
    }),
  );
  return {
    async stop() {
      stop = true;
      await done;
      latencies.sort((a, b) => a - b);
      return {
        appends: latencies.length,
        msP50: round(percentile(latencies, 50), 2),
        msP99: round(percentile(latencies, 99), 2),
        msMax: round(latencies[latencies.length - 1] ?? 0, 1),
      };
    },
  };
}

async function appendSlice(store: EventStore, events: number, day: number): Promise<void> {
  for (let done = 0; done < events; done += BATCH) {
    const n = Math.min(BATCH, events - done);
    await store.append(
      Array.from({ length: n }, (_, i) =>
        createDomainEvent({
          eventType: `Day${(done + i) % 20}`,
          aggregateId: `new-${(done + i) % 100000}`,
          eventData: { day },
        }),
      ),
      { now: new Date() },
    );
  }
}

async function variant(name: string) {
  const size = count('SIZE', 10_000_000);
  const days = count('DAYS', 10);
  const rounds = Math.min(days, count('ROUNDS', 3));
  const slices = count('SLICES', 10);
  const perDay = Math.floor(size / days);
  const perSlice = Math.floor(perDay / slices);
  const spacingMs = (days * 86_400_000) / size;
  const base = Date.now() - days * 86_400_000 - 3_600_000;
  const scale = /^scale-(\d+(?:\.\d+)?)$/.exec(name);
  const vacuumDaily = name === 'vacuum-daily';
  if (name !== 'default' && !scale && !vacuumDaily)
    throw new Error(`bench postgres-day-prune: unknown variant "${name}" (default, scale-<f>, vacuum-daily)`);

  const admin = new pg.Pool({ connectionString: databaseUrl, max: 4 });
  let driver: Awaited<ReturnType<typeof postgresSchema>> | undefined;
  let store: EventStore | undefined;
  try {
    driver = await postgresSchema(admin, SCHEMA, { base, spacingMs });
    if (scale)
      await admin.query(
        `ALTER TABLE ${SCHEMA}.events SET (autovacuum_vacuum_scale_factor = ${Number(scale[1])})`,
      );
    const fillStarted = performance.now();
    await driver.fill(1, size);
    await admin.query('CHECKPOINT').catch(() => {});
    const fillSeconds = round((performance.now() - fillStarted) / 1000, 0);
    const { rows: settings } = await admin.query(
      `SELECT name, setting FROM pg_settings WHERE name IN ('autovacuum', 'autovacuum_naptime', 'autovacuum_vacuum_scale_factor', 'autovacuum_vacuum_threshold')`,
    );
    store = driver.open();
    const client = await createAdminClient({ store, logger: silentLogger });
    const start = await tableState(admin);
    const sampler = lockSampler(admin);
    const writers = appenders(store);
    const timeline: Array<Record<string, unknown>> = [];
    let pruned = 0;
    let pruneMs = 0;
    const started = performance.now();
    for (let d = 0; d < rounds; d++) {
      for (let s = 0; s < slices; s++) {
        const upTo = d * perDay + (s + 1) * perSlice;
        const t0 = performance.now();
        const result = await client.pruneEvents({
          before: new Date(base + (upTo + 0.5) * spacingMs),
          batchSize: BATCH,
        });
        pruneMs += performance.now() - t0;
        pruned += result.removed;
        await appendSlice(store, perSlice, d);
      }
      const vacuumSeconds = vacuumDaily ? await vacuum(admin) : undefined;
      timeline.push({
        day: d + 1,
        seconds: round((performance.now() - started) / 1000, 0),
        ...(vacuumSeconds === undefined ? {} : { vacuumSeconds }),
        ...(await tableState(admin)),
      });
    }
    const appendStats = await writers.stop();
    const locks = await sampler.stop();
    const end = await tableState(admin);
    // What autovacuum does once the dead rows pass its threshold (in real time, days apart; here
    // the days went by faster than it could follow): then one more day of events, into the space
    // the vacuum made reusable.
    const vacuumSeconds = await vacuum(admin);
    const vacuumed = await tableState(admin);
    await appendSlice(store, perDay, rounds);
    const nextDay = await tableState(admin);
    return {
      name: `${name}: ${rounds} days of retention at ${size} events (${perDay} a day), pruned and appended in ${slices} slices a day`,
      server: Object.fromEntries(settings.map((r) => [r.name, r.setting])),
      tableSetting: scale
        ? `autovacuum_vacuum_scale_factor = ${scale[1]}`
        : vacuumDaily
          ? 'none; a VACUUM of the table at the end of each day (what autovacuum does in real time once a day of dead rows passes its threshold)'
          : 'none',
      fillSeconds,
      pruned,
      pruneEventsPerSec: Math.round((pruned / pruneMs) * 1000),
      start,
      timeline,
      heapGrowth: round(end.heapMB / start.heapMB, 3),
      indexGrowth: round(end.indexesMB / start.indexesMB, 3),
      autovacuumsOfTheTable: end.autovacuums - start.autovacuums,
      afterVacuum: { seconds: vacuumSeconds, ...vacuumed },
      afterOneMoreDayAppended: {
        ...nextDay,
        heapGrowthOverVacuumed: round(nextDay.heapMB / vacuumed.heapMB, 3),
      },
      singleEventAppenders: appendStats,
      lockWaits: locks,
    };
  } finally {
    await store?.close().catch(() => {});
    await driver?.close().catch(() => {});
    await admin.end();
  }
}

export const postgresDayPruneSection: BenchSection = {
  name: 'postgres-day-prune',
  onlyWhenNamed: true,
  async run() {
    const names = (process.env.EVCO_BENCH_DAY_PRUNE_VARIANTS ?? 'default,scale-0.01')
      .split(',')
      .map((s) => s.trim());
    const results = [];
    for (const name of names) results.push(await variant(name));
    return results;
  },
};
