import { type ChildProcess, spawn } from 'node:child_process';
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
import pg from 'pg';
import { databaseUrl, redisUrl } from './env.js';
import { type BenchSection, percentile, round } from './harness.js';

/**
 * A fleet of worker processes on one Postgres + Redis, fed by this process.
 *
 * - Scaling: 1, 2 and 4 workers, each with `CONCURRENCY` handler slots, each run waiting
 *   `HANDLER_MS` (simulated I/O), so one process tops out near CONCURRENCY / HANDLER_MS
 *   (800 events/s): handler latency, not the database, is the limit, and adding processes should
 *   add throughput. Prints events/s per fleet size, each process's share, and fails the section
 *   if any delivery ran twice.
 * - Latency: publish (here) → handler start (in one worker, default concurrency, a handler that
 *   returns at once) at a steady `LATENCY_RATE`; the first `LATENCY_WARMUP` events are not counted.
 *   Once with every write waiting for its WAL flush, once with `asyncCommit: 'leases'` (the claim
 *   on the path does not wait); with the WAL flushes (fsync calls) per event, server-wide.
 *
 * Figures are wall-clock on whatever else the machine is doing: on a shared box they say little.
 */
const WORKER = fileURLToPath(new URL('./fleet-worker.ts', import.meta.url));
const SCHEMA = 'evco_bench_fleet';
const CONCURRENCY = 4;
const HANDLER_MS = 5;
const EVENTS_PER_PROCESS = 2000;
const SIZES = [1, 2, 4];
const LATENCY_RATE = 200;
const LATENCY_EVENTS = 2000;
const LATENCY_WARMUP = 200;

interface Worker {
  child: ChildProcess;
  /** Event ids in the order this process started running them, with the start times. */
  ran: string[];
  startedAt: number[];
  /** CPU µs the process used between 'mark' and 'stop', once it has stopped. */
  cpuUs: number | undefined;
  ready: Promise<void>;
  stopped: Promise<void>;
}

type AsyncCommit = 'none' | 'leases';

function startWorker(
  channelPrefix: string,
  handlerMs: number,
  concurrency: number,
  asyncCommit: AsyncCommit = 'none',
): Worker {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '--conditions=@evco/source',
      WORKER,
      SCHEMA,
      channelPrefix,
      String(concurrency),
      String(handlerMs),
      asyncCommit,
    ],
    { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
  );
  const worker = { child, ran: [] as string[], startedAt: [] as number[] } as Worker;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  worker.ready = new Promise<void>((resolve, reject) => {
    child.on('message', (m: { type: string; ids?: string[]; startedAt?: number[]; cpuUs?: number }) => {
      if (m.type === 'ready') resolve();
      if (m.type === 'stopped') worker.cpuUs = m.cpuUs;
      if (m.type === 'ran') {
        worker.ran.push(...m.ids!);
        worker.startedAt.push(...m.startedAt!);
      }
    });
    void exited.then((code) => reject(new Error(`a fleet worker exited (${code}) before it was ready`)));
  });
  worker.stopped = exited.then(() => {});
  return worker;
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

async function resetSchema(): Promise<void> {
  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  try {
    await admin.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  } finally {
    await admin.end();
  }
}

/** The publishing side: a coordinator with no handlers, on the same store and channel. */
async function feeder(
  channelPrefix: string,
  asyncCommit: AsyncCommit = 'none',
): Promise<EventDrivenCoordinator> {
  return createCoordinator({
    store: createPostgresStore({ connectionString: databaseUrl, schema: SCHEMA, poolSize: 4, asyncCommit }),
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
  await resetSchema();
  const prefix = `evco-bench-fleet-${process.pid}-${processes}`;
  const coordinator = await feeder(prefix, asyncCommit);
  const workers: Worker[] = [];
  try {
    for (let i = 0; i < processes; i++) workers.push(startWorker(prefix, HANDLER_MS, CONCURRENCY, asyncCommit));
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
    await resetSchema();
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

/** publish → handler start across two processes at a steady rate. */
async function latencyRun(asyncCommit: AsyncCommit): Promise<Record<string, unknown>> {
  await resetSchema();
  const prefix = `evco-bench-fleet-latency-${process.pid}-${asyncCommit}`;
  const coordinator = await feeder(prefix, asyncCommit);
  // The coordinator's default concurrency: this case is about latency, not about a slot limit.
  const worker = startWorker(prefix, 0, 32, asyncCommit);
  let wal: Record<string, unknown> = {};
  try {
    await worker.ready;
    const events = work(LATENCY_EVENTS);
    const walBefore = await serverCounters();
    const publishedAt = new Map<string, number>();
    const failed: unknown[] = [];
    const started = performance.now();
    for (let i = 0; i < events.length; i++) {
      const wait = started + (i * 1000) / LATENCY_RATE - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const event = events[i]!;
      publishedAt.set(event.id, performance.timeOrigin + performance.now());
      coordinator.publishEvent(event).catch((e: unknown) => failed.push(e));
    }
    await until(() => worker.ran.length >= events.length, 60_000, 'not every event ran');
    // A backend reports its WAL counters when idle for a while or when it exits: stop both
    // sides (their pools close) before reading them.
    await stopWorkers([worker]);
    await coordinator.shutdown();
    await new Promise((r) => setTimeout(r, 500));
    const walAfter = await serverCounters();
    if (walBefore && walAfter) {
      wal = {
        walSyncsPerEvent: round((walAfter.syncs - walBefore.syncs) / events.length, 2),
        walWritesPerEvent: round((walAfter.writes - walBefore.writes) / events.length, 2),
        ...(walBefore.statements !== undefined && walAfter.statements !== undefined
          ? { statementsPerEvent: round((walAfter.statements - walBefore.statements) / events.length, 2) }
          : {}),
        countersNote:
          'server-wide (pg_stat_wal, pg_stat_statements): only meaningful on a server nobody else uses',
      };
    }
    if (failed.length > 0) throw new Error(`fleet latency: ${failed.length} publishes failed`);
    const skip = new Set(events.slice(0, LATENCY_WARMUP).map((e) => e.id));
    const ms = worker.ran
      .map((id, i) => (skip.has(id) ? Number.NaN : worker.startedAt[i]! - publishedAt.get(id)!))
      .filter((x) => !Number.isNaN(x))
      .sort((a, b) => a - b);
    return {
      name: `publish → handler start, 2 processes (Postgres + Redis), ${LATENCY_RATE} events/s, asyncCommit: ${asyncCommit}`,
      n: ms.length,
      p50Ms: percentile(ms, 50),
      p99Ms: percentile(ms, 99),
      maxMs: round(ms.at(-1)!),
      ...wal,
      goal: 'p99 <= 5 ms',
    };
  } finally {
    await stopWorkers([worker]);
    await coordinator.shutdown();
    await resetSchema();
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
    return [
      await scaling('none'),
      await scaling('leases'),
      await latencyRun('none'),
      await latencyRun('leases'),
    ];
  },
};
