import { readFileSync } from 'node:fs';
import type pg from 'pg';
import { type Contender, round } from './harness.js';

/**
 * Server-wide counters of a PostgreSQL instance and of this process, read before and after a
 * workload and turned into per-event figures (`perEvent`): transactions, statements (round trips,
 * from `pg_stat_statements` when it is loaded), WAL records and bytes, rows written, and the CPU
 * time of this process and of the server's processes (from `/proc`, when the server runs on this
 * machine). Only meaningful on a server nobody else uses.
 */

/** Marks the bench's own counter queries, which are not the workload. */
export const PROBE = '-- evco-cost-probe\n';

/** Whether `pg_stat_statements` is installed in the database (statement counts need it). */
export async function hasStatementStats(admin: pg.Pool): Promise<boolean> {
  const { rows } = await admin.query(
    `SELECT count(*)::int AS n FROM pg_extension WHERE extname = 'pg_stat_statements'`,
  );
  return rows[0].n > 0;
}

export interface Counters {
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
  byStatement: Map<string, { calls: number; walRecords: number; execMs: number; planMs: number }>;
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

/** CPU time so far of this process and of the server's processes (`serverCpuUs`), µs. */
export async function cpuTimes(admin: pg.Pool): Promise<{ nodeCpu: number; serverCpu: number | undefined }> {
  // Backends and background processes (not the postmaster: found as their parent).
  const pids = await admin.query(`${PROBE}SELECT pid FROM pg_stat_activity`);
  const cpu = process.cpuUsage();
  return { nodeCpu: cpu.user + cpu.system, serverCpu: serverCpuUs(pids.rows.map((r) => r.pid)) };
}

export async function counters(admin: pg.Pool, statements: boolean): Promise<Counters> {
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
  const byStatement = new Map<
    string,
    { calls: number; walRecords: number; execMs: number; planMs: number }
  >();
  let total: number | undefined;
  if (statements) {
    const { rows } = await admin.query(
      `${PROBE}SELECT queryid::text AS id, left(regexp_replace(query, '\\s+', ' ', 'g'), 60) AS q,
         calls::float8 AS calls, wal_records::float8 AS w, total_exec_time AS ms, total_plan_time AS pms
       FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    );
    total = 0;
    for (const r of rows) {
      // The bench's own counter queries are not the workload.
      if (r.q.startsWith(PROBE.trim())) continue;
      total += r.calls;
      byStatement.set(`${r.id} ${r.q}`, { calls: r.calls, walRecords: r.w, execMs: r.ms, planMs: r.pms });
    }
  }
  return {
    ...(await cpuTimes(admin)),
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
export function perEvent(before: Counters, after: Counters, n: number): Record<string, unknown> {
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
      // And planning it (total_plan_time): counted only with `pg_stat_statements.track_planning = on`.
      planUsPerEvent: round(((v.planMs - (before.byStatement.get(key)?.planMs ?? 0)) * 1000) / n, 1),
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
export async function settle(): Promise<void> {
  await new Promise((r) => setTimeout(r, 11_000));
}

/**
 * Runs each case once and counts it (`perEvent`, `n` events each), in turn: one settle before
 * the first case and one after each, so that every reading holds all of the work before it and
 * none after. A case's `check` runs after its reading; its statements carry `PROBE`, so the next
 * case's statement count leaves them out.
 */
export async function countEach(
  admin: pg.Pool,
  cases: Array<Pick<Contender, 'name' | 'fn' | 'check'>>,
  n: number,
): Promise<Record<string, Record<string, unknown>>> {
  const statements = await hasStatementStats(admin);
  const out: Record<string, Record<string, unknown>> = {};
  await settle();
  let before = await counters(admin, statements);
  for (const c of cases) {
    await c.fn();
    await settle();
    const after = await counters(admin, statements);
    out[c.name] = perEvent(before, after, n);
    await c.check?.();
    before = after;
  }
  return out;
}
