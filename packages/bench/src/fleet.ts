import { type ChildProcess, spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import {
  createCoordinator,
  createDomainEvent,
  type DomainEvent,
  type EventDrivenCoordinator,
  silentLogger,
} from '@evco/core';
import { createRedisPublisher } from '@evco/publisher-redis';
import { createPostgresStore } from '@evco/store-postgres';
import { Redis } from 'ioredis';
import pg from 'pg';
import { databaseUrl, redisUrl } from './env.js';
import { wallClock } from './fleet-report.js';
import { type BenchSection, percentile, round } from './harness.js';
import { rawDdl, rawInsert, rawValues } from './postgres.js';

/**
 * A fleet of worker processes on one Postgres + Redis, fed by this process.
 *
 * - Scaling: 1, 2 and 4 workers, each with `CONCURRENCY` handler slots, each run waiting
 *   `HANDLER_MS` (simulated I/O), so one process tops out near CONCURRENCY / HANDLER_MS
 *   (800 events/s): handler latency, not the database, is the limit, and adding processes should
 *   add throughput. Prints events/s per fleet size, each process's share, and fails the section
 *   if any delivery ran twice.
 * - Latency: publish (here) → handler start (in one worker, default concurrency, a handler that
 *   returns at once) at a steady `LATENCY_RATE`, with every write waiting for its WAL flush and
 *   with `asyncCommit: 'leases'` (the claim on the path does not wait), next to the raw baseline
 *   (the same two processes without evco: INSERT, PUBLISH, SUBSCRIBE, a read of the row) and the
 *   disk's own commit time. The series take turns in blocks of `LATENCY_BLOCK` events on one
 *   schedule; the first `LATENCY_WARMUP` events of each are not counted.
 *
 * Figures are wall-clock on whatever else the machine is doing: on a shared box compare the
 * series of one run with each other, not runs with runs.
 */
const WORKER = fileURLToPath(new URL('./fleet-worker.ts', import.meta.url));
const RAW_WORKER = fileURLToPath(new URL('./fleet-raw-worker.ts', import.meta.url));
const SCHEMA = 'evco_bench_fleet';
const CONCURRENCY = 4;
const HANDLER_MS = 5;
const EVENTS_PER_PROCESS = 2000;
const SIZES = [1, 2, 4];
const LATENCY_RATE = 200;
const LATENCY_EVENTS = 2000;
const LATENCY_WARMUP = 200;
const LATENCY_BLOCK = 20;

interface Worker {
  child: ChildProcess;
  /** Event ids in the order this process started running them, with the start times. */
  ran: string[];
  startedAt: number[];
  /** The raw worker's: when its read of each event's row came back. */
  readAt: number[];
  /** CPU µs the process used between 'mark' and 'stop', once it has stopped. */
  cpuUs: number | undefined;
  ready: Promise<void>;
  stopped: Promise<void>;
}

type AsyncCommit = 'none' | 'leases';

function startWorker(script: string, args: string[]): Worker {
  // The workers run what this process runs: the built packages, or the sources under
  // `pnpm bench:source` (its `--conditions=@evco/source`).
  const conditions = process.execArgv.filter((a) => a.startsWith('--conditions'));
  const child = spawn(process.execPath, ['--import', 'tsx', ...conditions, script, ...args], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const worker = { child, ran: [] as string[], startedAt: [] as number[], readAt: [] as number[] } as Worker;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  worker.ready = new Promise<void>((resolve, reject) => {
    child.on(
      'message',
      (m: { type: string; ids?: string[]; startedAt?: number[]; readAt?: number[]; cpuUs?: number }) => {
        if (m.type === 'ready') resolve();
        if (m.type === 'stopped') worker.cpuUs = m.cpuUs;
        if (m.type === 'ran') {
          worker.ran.push(...m.ids!);
          worker.startedAt.push(...m.startedAt!);
          if (m.readAt) worker.readAt.push(...m.readAt);
        }
      },
    );
    void exited.then((code) => reject(new Error(`a fleet worker exited (${code}) before it was ready`)));
  });
  worker.stopped = exited.then(() => {});
  return worker;
}

function startEvcoWorker(
  schema: string,
  channelPrefix: string,
  handlerMs: number,
  concurrency: number,
  asyncCommit: AsyncCommit = 'none',
): Worker {
  return startWorker(WORKER, [schema, channelPrefix, String(concurrency), String(handlerMs), asyncCommit]);
}

async function stopWorkers(workers: Worker[]): Promise<void> {
  for (const w of workers) {
    if (w.child.connected) w.child.send({ type: 'stop' });
  }
  const deadline = setTimeout(() => {
    for (const w of workers) w.child.kill('SIGKILL');
  }, 30_000);
  await Promise.all(workers.map((w) => w.stopped));
  clearTimeout(deadline);
}

async function adminQuery<R extends pg.QueryResultRow>(
  text: string,
  values?: unknown[],
): Promise<pg.QueryResult<R>> {
  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  try {
    return await admin.query<R>(text, values);
  } finally {
    await admin.end();
  }
}

async function dropSchema(schema: string): Promise<void> {
  await adminQuery(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
}

/** The publishing side: a coordinator with no handlers, on the same store and channel. */
async function feeder(
  schema: string,
  channelPrefix: string,
  asyncCommit: AsyncCommit = 'none',
): Promise<EventDrivenCoordinator> {
  return createCoordinator({
    store: createPostgresStore({ connectionString: databaseUrl, schema, poolSize: 4, asyncCommit }),
    publisher: createRedisPublisher({ url: redisUrl, channelPrefix, logger: silentLogger }),
    logger: silentLogger,
  });
}

function work(n: number): DomainEvent[] {
  return Array.from({ length: n }, (_, i) =>
    createDomainEvent({ eventType: 'FleetWork', aggregateId: `job-${i % 509}`, eventData: { i } }),
  );
}

async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`fleet bench: ${what} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** Runs every event of the fleet and returns its rate, shares and double runs. */
async function scalingRun(processes: number, asyncCommit: AsyncCommit): Promise<Record<string, unknown>> {
  await dropSchema(SCHEMA);
  const prefix = `evco-bench-fleet-${process.pid}-${processes}`;
  const coordinator = await feeder(SCHEMA, prefix, asyncCommit);
  const workers: Worker[] = [];
  try {
    for (let i = 0; i < processes; i++)
      workers.push(startEvcoWorker(SCHEMA, prefix, HANDLER_MS, CONCURRENCY, asyncCommit));
    await Promise.all(workers.map((w) => w.ready));
    const total = EVENTS_PER_PROCESS * processes;
    const events = work(total);
    const ran = () => workers.reduce((n, w) => n + w.ran.length, 0);
    const before = await serverCounters();
    for (const w of workers) w.child.send({ type: 'mark' });
    const feederCpu = process.cpuUsage();
    const started = performance.now();
    for (let i = 0; i < total; i += 100) await coordinator.publishEvents(events.slice(i, i + 100));
    await until(() => ran() >= total, 300_000, `${total} events not run`);
    const ms = performance.now() - started;
    // Runs that are still in flight or come late would show up as doubles: give them a moment.
    await coordinator.waitForIdle({ timeoutMs: 10_000 }).catch(() => {});
    const unique = new Set(workers.flatMap((w) => w.ran));
    const doubles = ran() - unique.size;
    const feederCpuUs = process.cpuUsage(feederCpu);
    await stopWorkers(workers);
    await coordinator.shutdown();
    await new Promise((r) => setTimeout(r, 500));
    const after = await serverCounters();
    const workersCpuUs = workers.reduce((n, w) => n + (w.cpuUs ?? Number.NaN), 0);
    if (unique.size !== total)
      throw new Error(`fleet bench: ${unique.size} distinct events ran, ${total} published`);
    if (doubles > 0)
      throw new Error(`fleet bench: ${doubles} deliveries ran twice with ${processes} processes`);
    return {
      processes,
      events: total,
      ms: round(ms, 1),
      eventsPerSec: Math.round((total / ms) * 1000),
      ceilingPerSec: (processes * CONCURRENCY * 1000) / HANDLER_MS,
      shares: workers.map((w) => round(w.ran.length / total)),
      ranTwice: doubles,
      cpuUsPerEvent: {
        workers: Math.round(workersCpuUs / total),
        feeder: Math.round((feederCpuUs.user + feederCpuUs.system) / total),
      },
      ...(before?.statements !== undefined && after?.statements !== undefined
        ? { statementsPerEvent: round((after.statements - before.statements) / total, 2) }
        : {}),
    };
  } finally {
    await stopWorkers(workers);
    await coordinator.shutdown();
    await dropSchema(SCHEMA);
  }
}

/**
 * WAL write() and fsync calls so far, server-wide (PostgreSQL 14+), and statements run in this
 * database when pg_stat_statements is installed; undefined where not available.
 */
async function serverCounters(): Promise<{ writes: number; syncs: number; statements?: number } | undefined> {
  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  try {
    const { rows } = await admin.query(
      'SELECT wal_write::float8 AS w, wal_sync::float8 AS s FROM pg_stat_wal',
    );
    const counters: { writes: number; syncs: number; statements?: number } = {
      writes: rows[0].w,
      syncs: rows[0].s,
    };
    try {
      const calls = await admin.query(
        `SELECT coalesce(sum(calls), 0)::float8 AS n FROM pg_stat_statements
         WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())`,
      );
      counters.statements = calls.rows[0].n;
    } catch {
      // pg_stat_statements not installed: no statement count.
    }
    return counters;
  } catch {
    return undefined;
  } finally {
    await admin.end();
  }
}

/** One series of the latency case: fed one event at a time by the shared schedule. */
interface Series {
  name: string;
  /** The schema its statements name (for counting them). */
  schema: string;
  send(event: DomainEvent): void;
  /** Events sent and not yet seen through. */
  pending(): number;
  /** Milliseconds from each send to each mark, ascending, the events in `skip` left out. */
  marks(skip: ReadonlySet<string>): Record<string, number[]>;
  /** Its worker process, if it has one. */
  worker?: Worker;
  close(): Promise<void>;
}

/** `times[i] - sent(ids[i])` for the ids not in `skip`, ascending. */
function sinceSent(
  sent: ReadonlyMap<string, number>,
  ids: readonly string[],
  times: readonly number[],
  skip: ReadonlySet<string>,
): number[] {
  const out: number[] = [];
  for (let i = 0; i < ids.length; i++) if (!skip.has(ids[i]!)) out.push(times[i]! - sent.get(ids[i]!)!);
  return out.sort((a, b) => a - b);
}

/** When the feeder's sends were acknowledged (stored and announced), in order. */
function acknowledgements() {
  const ids: string[] = [];
  const at: number[] = [];
  return {
    ids,
    at,
    add(id: string) {
      ids.push(id);
      at.push(wallClock());
    },
  };
}

/**
 * A series across two processes: `publish` sends each event from here (acknowledged when it
 * resolves), the worker process reports its runs; `runs` names the worker's times to measure
 * (aligned with `worker.ran`). `close` stops both sides, also when the worker fails to start.
 */
async function twoProcessSeries(
  o: {
    name: string;
    schema: string;
    worker: Worker;
    close: () => Promise<void>;
    publish: (event: DomainEvent) => Promise<unknown>;
    runs: (worker: Worker) => Record<string, readonly number[]>;
  },
  failures: unknown[],
): Promise<Series> {
  await o.worker.ready.catch(async (error: unknown) => {
    await o.close();
    throw error;
  });
  const sent = new Map<string, number>();
  const acked = acknowledgements();
  return {
    name: o.name,
    schema: o.schema,
    worker: o.worker,
    close: o.close,
    send(event) {
      sent.set(event.id, wallClock());
      o.publish(event).then(
        () => acked.add(event.id),
        (e: unknown) => failures.push(e),
      );
    },
    pending: () => sent.size - o.worker.ran.length,
    marks: (skip) => ({
      acknowledgedMs: sinceSent(sent, acked.ids, acked.at, skip),
      ...Object.fromEntries(
        Object.entries(o.runs(o.worker)).map(([mark, times]) => [
          mark,
          sinceSent(sent, o.worker.ran, times, skip),
        ]),
      ),
    }),
  };
}

/** evco: the feeder's coordinator publishes; one worker process (default concurrency) runs it. */
async function evcoSeries(asyncCommit: AsyncCommit, failures: unknown[]): Promise<Series> {
  const schema = `${SCHEMA}_${asyncCommit}`;
  await dropSchema(schema);
  const prefix = `evco-bench-fleet-latency-${process.pid}-${asyncCommit}`;
  const coordinator = await feeder(schema, prefix, asyncCommit);
  // The coordinator's default concurrency: this case is about latency, not about a slot limit.
  const worker = startEvcoWorker(schema, prefix, 0, 32, asyncCommit);
  return twoProcessSeries(
    {
      name: `evco, asyncCommit: ${asyncCommit}`,
      schema,
      worker,
      async close() {
        await stopWorkers([worker]);
        await coordinator.shutdown();
        await dropSchema(schema);
      },
      publish: (event) => coordinator.publishEvent(event),
      runs: (w) => ({ handlerStartMs: w.startedAt }),
    },
    failures,
  );
}

/**
 * The raw baseline, no evco: the feeder INSERTs the event row (a durable commit, the server's
 * `synchronous_commit`) on a pool like the store's, then PUBLISHes its id and position with
 * ioredis; `fleet-raw-worker.ts` counts the run as started on the message, then reads the row by
 * its key.
 */
async function rawSeries(failures: unknown[]): Promise<Series> {
  const schema = `${SCHEMA}_raw`;
  await adminQuery(rawDdl(schema));
  const channel = `evco-bench-fleet-latency-${process.pid}-raw`;
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 4 });
  const redis = new Redis(redisUrl);
  const worker = startWorker(RAW_WORKER, [schema, channel]);
  const insert = `${rawInsert(schema)} RETURNING position::text`;
  return twoProcessSeries(
    {
      name: 'raw: pg INSERT, then ioredis PUBLISH → SUBSCRIBE',
      schema,
      worker,
      async close() {
        await stopWorkers([worker]);
        await pool.end();
        redis.disconnect();
        await dropSchema(schema);
      },
      publish: async (event) => {
        const { rows } = await pool.query<{ position: string }>(insert, rawValues(event, new Date()));
        await redis.publish(channel, JSON.stringify({ id: event.id, position: rows[0]!.position }));
      },
      runs: (w) => ({ messageMs: w.startedAt, messageAndRowReadMs: w.readAt }),
    },
    failures,
  );
}

/**
 * The disk's commit: a one-row INSERT on an idle connection of this process, alternately on one
 * that waits for the WAL flush (the server default) and one with `synchronous_commit = off`.
 */
async function commitSeries(failures: unknown[]): Promise<Series> {
  const schema = `${SCHEMA}_commit`;
  await adminQuery(`DROP SCHEMA IF EXISTS ${schema} CASCADE; CREATE SCHEMA ${schema};
    CREATE TABLE ${schema}.probe (position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at timestamptz NOT NULL)`);
  const clients = [new pg.Client(databaseUrl), new pg.Client(databaseUrl)] as const;
  for (const c of clients) await c.connect();
  await clients[1].query('SET synchronous_commit = off');
  const insert = `INSERT INTO ${schema}.probe (at) VALUES (now())`;
  const ids: [string[], string[]] = [[], []];
  const took: [number[], number[]] = [[], []];
  // A probe sent while the previous one on its connection still runs waits for it (counted).
  const last: [Promise<unknown>, Promise<unknown>] = [Promise.resolve(), Promise.resolve()];
  let sent = 0;
  let done = 0;
  return {
    name: 'commit: one-row INSERT on an idle connection',
    schema,
    send(event) {
      const k = (sent++ % 2) as 0 | 1;
      const started = performance.now();
      last[k] = last[k]
        .then(() => clients[k].query(insert))
        .then(
          () => {
            ids[k].push(event.id);
            took[k].push(performance.now() - started);
            done++;
          },
          (e: unknown) => failures.push(e),
        );
    },
    pending: () => sent - done,
    marks: (skip) => {
      const kept = (k: 0 | 1) => took[k].filter((_, i) => !skip.has(ids[k][i]!)).sort((a, b) => a - b);
      return { waitingForFlushMs: kept(0), synchronousCommitOffMs: kept(1) };
    },
    async close() {
      for (const c of clients) await c.end();
      await dropSchema(schema);
    },
  };
}

/** Statements run so far naming each schema (pg_stat_statements), or undefined without it. */
async function statementCalls(schemas: readonly string[]): Promise<number[] | undefined> {
  try {
    const { rows } = await adminQuery<{ n: number }>(
      `SELECT (SELECT coalesce(sum(calls), 0)::float8 FROM pg_stat_statements
         WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
           AND position(s IN query) > 0) AS n
       FROM unnest($1::text[]) WITH ORDINALITY AS t(s, i) ORDER BY i`,
      [schemas],
    );
    return rows.map((r) => r.n);
  } catch {
    return undefined;
  }
}

function distribution(ms: number[]): Record<string, number> {
  return {
    n: ms.length,
    p50Ms: percentile(ms, 50),
    p90Ms: percentile(ms, 90),
    p99Ms: percentile(ms, 99),
    maxMs: round(ms.at(-1)!),
  };
}

/**
 * publish → handler start across two processes at a steady rate, evco in both asyncCommit modes
 * against the raw baseline, with the disk's own commit time: the series take turns in blocks on
 * one schedule, so load that comes and goes on a shared machine falls on all of them alike.
 */
async function latencyComparison(): Promise<Record<string, unknown>> {
  const failures: unknown[] = [];
  const series: Series[] = [];
  const startedAt = new Date();
  const loadBefore = loadavg();
  try {
    series.push(await rawSeries(failures));
    for (const mode of ['none', 'leases'] as const) series.push(await evcoSeries(mode, failures));
    series.push(await commitSeries(failures));
    const events = series.map(() => work(LATENCY_EVENTS));
    const callsBefore = await statementCalls(series.map((s) => s.schema));
    const workers = series.flatMap((s) => (s.worker ? [s.worker] : []));
    for (const w of workers) w.child.send({ type: 'mark' });
    const started = performance.now();
    let slot = 0;
    for (let block = 0; block < LATENCY_EVENTS; block += LATENCY_BLOCK) {
      for (let s = 0; s < series.length; s++) {
        for (let i = block; i < block + LATENCY_BLOCK; i++) {
          const wait = started + (slot++ * 1000) / LATENCY_RATE - performance.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          series[s]!.send(events[s]![i]!);
        }
      }
    }
    await until(
      () => failures.length > 0 || series.every((s) => s.pending() <= 0),
      60_000,
      'not every event ran',
    );
    const callsAfter = await statementCalls(series.map((s) => s.schema));
    // Stopped workers report the CPU time they used since 'mark'.
    await stopWorkers(workers);
    if (failures.length > 0)
      throw new Error(`fleet latency: ${failures.length} sends failed: ${failures[0]}`);
    const out: Record<string, Record<string, unknown>> = {};
    for (const [k, s] of series.entries()) {
      const skip = new Set(events[k]!.slice(0, LATENCY_WARMUP).map((e) => e.id));
      const marks = Object.entries(s.marks(skip)).map(([mark, ms]) => [mark, distribution(ms)]);
      out[s.name] = {
        ...Object.fromEntries(marks),
        ...(callsBefore && callsAfter
          ? { statementsPerEvent: round((callsAfter[k]! - callsBefore[k]!) / LATENCY_EVENTS, 2) }
          : {}),
        ...(s.worker?.cpuUs !== undefined
          ? { workerCpuUsPerEvent: Math.round(s.worker.cpuUs / LATENCY_EVENTS) }
          : {}),
      };
    }
    const raw = out[series[0]!.name]!.messageAndRowReadMs as Record<string, number>;
    const overRaw = (name: string) => {
      const evco = out[name]!.handlerStartMs as Record<string, number>;
      return {
        p50Ms: round(evco.p50Ms! - raw.p50Ms!),
        p90Ms: round(evco.p90Ms! - raw.p90Ms!),
        p99Ms: round(evco.p99Ms! - raw.p99Ms!),
        maxMs: round(evco.maxMs! - raw.maxMs!),
        p99Ratio: round(evco.p99Ms! / raw.p99Ms!, 2),
      };
    };
    return {
      name: `publish → handler start, 2 processes (Postgres + Redis), ${LATENCY_RATE} events/s: raw baseline and evco`,
      shape: `${LATENCY_EVENTS} events per series, the series taking turns in blocks of ${LATENCY_BLOCK} on one schedule, the first ${LATENCY_WARMUP} of each not counted`,
      startedAt: startedAt.toISOString(),
      loadAverage: { before: loadBefore.map((l) => round(l, 2)), after: loadavg().map((l) => round(l, 2)) },
      ...out,
      evcoOverRaw: {
        note: 'evco handler start minus raw message + row read (the least a claim must do)',
        ...Object.fromEntries(series.slice(1, 3).map((s) => [s.name, overRaw(s.name)])),
      },
      goal: 'evco p99 <= 5 ms',
    };
  } finally {
    for (const s of series) await s.close();
  }
}

/** The scaling runs for each fleet size, in one mode, with the speed-up over one process. */
async function scaling(asyncCommit: AsyncCommit): Promise<Record<string, unknown>> {
  const runs: Array<Record<string, unknown>> = [];
  for (const size of SIZES) runs.push(await scalingRun(size, asyncCommit));
  const rate = (n: number) => runs.find((r) => r.processes === n)!.eventsPerSec as number;
  return {
    name: `fleet scaling: ${SIZES.join(', ')} worker processes, ${CONCURRENCY} handler slots each, ${HANDLER_MS} ms handler I/O, asyncCommit: ${asyncCommit}`,
    runs,
    speedup: Object.fromEntries(SIZES.map((n) => [`${n}`, round(rate(n) / rate(1), 2)])),
    goal: `${SIZES.at(-1)} processes >= 3x one process, even shares, nothing run twice`,
  };
}

export const fleetSection: BenchSection = {
  name: 'fleet',
  async run() {
    return [await scaling('none'), await scaling('leases'), await latencyComparison()];
  },
};
