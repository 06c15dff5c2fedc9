import { readFileSync } from 'node:fs';
import { createPostgresStore } from '@evco/store-postgres';
import pg from 'pg';
import { databaseUrl } from './env.js';
import { type BenchSection, countingCoordinator, round } from './harness.js';
import { concurrently, events, RAW_DDL, RAW_INSERT, RAW_SCHEMA, rawValues } from './postgres.js';

/**
 * What the Postgres end-to-end case costs the server per event, in units load does not change:
 * transactions committed, statements (round trips), WAL records and bytes, rows written. The
 * same 8-publisher, one-handler workload as the `postgres` section's end-to-end case, and the
 * same raw baseline (8 concurrent INSERTs).
 *
 * The counters are server-wide (`pg_stat_wal`, `pg_stat_database`, and `pg_stat_statements`
 * when it is loaded), so the figures are only this workload's on a server nobody else uses: run
 * it against a private instance (`EVCO_BENCH_DATABASE_URL`), e.g. one started with
 * `-c shared_preload_libraries=pg_stat_statements` and `CREATE EXTENSION pg_stat_statements`.
 */
const SCHEMA = 'evco_bench_cost';
const TOTAL = 4000;
/** Marks the bench's own counter queries, which are not the workload. */
const PROBE = '-- evco-cost-probe\n';

interface Counters {
  walRecords: number;
  walFpi: number;
  walBytes: number;
  /** WAL write() and fsync calls (pg_stat_wal, PostgreSQL 14+): a synchronous commit waits for one. */
  walWrites: number;
  walSyncs: number;
  commits: number;
  statements: number | undefined;
  rowsInserted: number;
  rowsUpdated: number;
  rowsDeleted: number;
  byStatement: Map<string, { calls: number; walRecords: number; execMs: number }>;
  /** CPU time of this process, µs. */
  nodeCpu: number;
  /** CPU time of the server's processes (backends and background workers), µs, when local. */
  serverCpu: number | undefined;
}

const TICK_US = 1e6 / 100; // USER_HZ: 100 on Linux

/** The fields of /proc/<pid>/stat after the command name (field 3 is index 0), or undefined. */
function procStat(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/**
 * CPU time of the server, µs, from /proc, or undefined when it is not on this machine: utime +
 * stime of its live processes, plus the postmaster's own and its reaped children's (cutime +
 * cstime), so a backend that exited between two readings (a pool's idle connection) still counts.
 */
function serverCpuUs(pids: number[]): number | undefined {
  let total = 0;
  let postmaster: number | undefined;
  for (const pid of pids) {
    const fields = procStat(pid);
    if (!fields) continue;
    postmaster ??= Number(fields[1]);
    total += (Number(fields[11]) + Number(fields[12])) * TICK_US;
  }
  const parent = postmaster === undefined ? undefined : procStat(postmaster);
  if (!parent) return undefined;
  return (
    total + (Number(parent[11]) + Number(parent[12]) + Number(parent[13]) + Number(parent[14])) * TICK_US
  );
}

async function counters(admin: pg.Pool, statements: boolean): Promise<Counters> {
  const wal = await admin.query(
    `${PROBE}SELECT wal_records::float8 AS r, wal_fpi::float8 AS f, wal_write::float8 AS w, wal_sync::float8 AS s,
      (pg_current_wal_insert_lsn() - '0/0')::float8 AS b FROM pg_stat_wal`,
  );
  // Statistics of this session's own transaction are cached until it ends: read fresh ones.
  await admin.query(`${PROBE}SELECT pg_stat_clear_snapshot()`);
  const db = await admin.query(
    `${PROBE}SELECT xact_commit::float8 AS c, tup_inserted::float8 AS i, tup_updated::float8 AS u,
       tup_deleted::float8 AS d FROM pg_stat_database WHERE datname = current_database()`,
  );
  const byStatement = new Map<string, { calls: number; walRecords: number; execMs: number }>();
  let total: number | undefined;
  if (statements) {
    const { rows } = await admin.query(
      `${PROBE}SELECT queryid::text AS id, left(regexp_replace(query, '\\s+', ' ', 'g'), 60) AS q,
         calls::float8 AS calls, wal_records::float8 AS w, total_exec_time AS ms
       FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    );
    total = 0;
    for (const r of rows) {
      // The bench's own counter queries are not the workload.
      if (r.q.startsWith(PROBE.trim())) continue;
      total += r.calls;
      byStatement.set(`${r.id} ${r.q}`, { calls: r.calls, walRecords: r.w, execMs: r.ms });
    }
  }
  // Backends and background processes (not the postmaster: found as their parent).
  const pids = await admin.query(`${PROBE}SELECT pid FROM pg_stat_activity`);
  const cpu = process.cpuUsage();
  return {
    nodeCpu: cpu.user + cpu.system,
    serverCpu: serverCpuUs(pids.rows.map((r) => r.pid)),
    walRecords: wal.rows[0].r,
    walFpi: wal.rows[0].f,
    walBytes: wal.rows[0].b,
    walWrites: wal.rows[0].w,
    walSyncs: wal.rows[0].s,
    commits: db.rows[0].c,
    statements: total,
    rowsInserted: db.rows[0].i,
    rowsUpdated: db.rows[0].u,
    rowsDeleted: db.rows[0].d,
    byStatement,
  };
}

/** Per-event deltas between two counter readings, and the statements that ran most. */
function perEvent(before: Counters, after: Counters, n: number): Record<string, unknown> {
  const per = (a: number, b: number) => round((b - a) / n, 2);
  const top: Array<Record<string, unknown>> = [];
  for (const [key, v] of after.byStatement) {
    const calls = v.calls - (before.byStatement.get(key)?.calls ?? 0);
    if (calls <= 0) continue;
    const walRecords = v.walRecords - (before.byStatement.get(key)?.walRecords ?? 0);
    top.push({
      statement: key.slice(key.indexOf(' ') + 1),
      perEvent: round(calls / n, 3),
      walRecordsPerCall: round(walRecords / calls, 1),
      // Server time executing it (pg_stat_statements total_exec_time), per event of the workload.
      execUsPerEvent: round(((v.execMs - (before.byStatement.get(key)?.execMs ?? 0)) * 1000) / n, 1),
    });
  }
  top.sort((a, b) => (b.perEvent as number) - (a.perEvent as number));
  return {
    transactions: per(before.commits, after.commits),
    statements:
      before.statements === undefined
        ? 'pg_stat_statements not loaded'
        : per(before.statements, after.statements!),
    walRecords: per(before.walRecords, after.walRecords),
    walFullPageImages: per(before.walFpi, after.walFpi),
    walBytes: Math.round((after.walBytes - before.walBytes) / n),
    walWrites: per(before.walWrites, after.walWrites),
    walSyncs: per(before.walSyncs, after.walSyncs),
    rowsInserted: per(before.rowsInserted, after.rowsInserted),
    rowsUpdated: per(before.rowsUpdated, after.rowsUpdated),
    rowsDeleted: per(before.rowsDeleted, after.rowsDeleted),
    nodeCpuUs: Math.round((after.nodeCpu - before.nodeCpu) / n),
    serverCpuUs:
      before.serverCpu === undefined || after.serverCpu === undefined
        ? 'server not on this machine'
        : Math.round((after.serverCpu - before.serverCpu) / n),
    ...(top.length > 0 ? { statementsRun: top.slice(0, 8) } : {}),
  };
}

/**
 * An idle backend flushes its statistics (commits, rows, WAL records) up to 10 s late: waits for
 * the run's tail to show. (WAL bytes come from the insert position, statements from
 * pg_stat_statements: both exact at once.)
 */
async function settle(): Promise<void> {
  await new Promise((r) => setTimeout(r, 11_000));
}

export const postgresCostSection: BenchSection = {
  name: 'postgres-cost',
  async run() {
    // Connections never idle out: their server processes' CPU time is read before and after.
    const admin = new pg.Pool({ connectionString: databaseUrl, max: 8, idleTimeoutMillis: 0 });
    const statements =
      (await admin.query(`SELECT count(*)::int AS n FROM pg_extension WHERE extname = 'pg_stat_statements'`))
        .rows[0].n > 0;
    await admin.query(RAW_DDL);
    // One coordinator per asyncCommit mode, each on a schema of its own.
    const modes = ['none', 'leases'] as const;
    const runs: Array<Awaited<ReturnType<typeof countingCoordinator>>> = [];
    for (const asyncCommit of modes) {
      await admin.query(`DROP SCHEMA IF EXISTS ${SCHEMA}_${asyncCommit} CASCADE`);
      const store = createPostgresStore({
        connectionString: databaseUrl,
        schema: `${SCHEMA}_${asyncCommit}`,
        poolSize: 10,
        asyncCommit,
      });
      runs.push(
        await countingCoordinator(store, { eventType: 'CostHappened', name: 'cost', ordering: 'none' }),
      );
    }
    const now = new Date();
    try {
      const raw = async () => {
        const list = events(TOTAL, 'CostHappened');
        await concurrently(8, TOTAL, async (i) => {
          await admin.query(RAW_INSERT, rawValues(list[i]!, now));
        });
      };
      const evco = (asyncCommit: (typeof modes)[number]) => async () => {
        const { coordinator, handled } = runs[modes.indexOf(asyncCommit)]!;
        const list = events(TOTAL, 'CostHappened');
        const target = handled() + TOTAL;
        await concurrently(8, TOTAL, async (i) => {
          await coordinator.publishEvent(list[i]!);
        });
        while (handled() < target) await new Promise((r) => setTimeout(r, 1));
        await coordinator.waitForIdle({ timeoutMs: 60_000 });
      };
      // Warm-up: plans, pools, first pages of every index.
      await raw();
      for (const mode of modes) await evco(mode)();
      const out: Record<string, unknown> = {};
      const cases: Array<[string, () => Promise<void>]> = [
        ['raw: pg INSERT … VALUES ×8', raw],
        ...modes.map((mode): [string, () => Promise<void>] => [
          `evco (asyncCommit: ${mode}): publishEvent ×8 → handled → completed`,
          evco(mode),
        ]),
      ];
      for (const [name, fn] of cases) {
        await settle();
        const before = await counters(admin, statements);
        await fn();
        await settle();
        const after = await counters(admin, statements);
        out[name] = perEvent(before, after, TOTAL);
      }
      return [
        {
          name: `end to end, cost per event (${TOTAL} events, 8 publishers, one handler, completed)`,
          note: 'server-wide counters: only meaningful on a server nobody else uses',
          ...out,
        },
      ];
    } finally {
      for (const mode of modes) {
        await runs[modes.indexOf(mode)]?.coordinator.shutdown();
        await admin.query(`DROP SCHEMA IF EXISTS ${SCHEMA}_${mode} CASCADE`);
      }
      await admin.query(`DROP SCHEMA IF EXISTS ${RAW_SCHEMA} CASCADE`);
      await admin.end();
    }
  },
};
