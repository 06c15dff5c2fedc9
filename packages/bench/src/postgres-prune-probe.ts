import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { type AdminClient, createAdminClient, createDomainEvent, silentLogger } from '@evco/core';
import { createPostgresStore } from '@evco/store-postgres';
import pg from 'pg';
import { databaseUrl } from './env.js';
import { type BenchSection, percentile, round } from './harness.js';
import { probeUrl, SAMPLER_APP, variantOptions } from './postgres-prune-probe-worker.js';
import { fillTime, postgresSchema } from './scale.js';

/**
 * `pnpm bench postgres-prune-probe`: what a prune capped at the goal's rate takes from four
 * single-event appenders, and through what, counted per window. Not part of the default run.
 *
 * The store is filled as `pnpm bench scale` fills it (`EVCO_BENCH_PRUNE_PROBE_SIZE`, default
 * 1 M), then a `CHECKPOINT`. Four appenders run throughout in this process (as in the scale
 * section). Windows alternate: appenders alone, then one prune window per variant in turn
 * (`EVCO_BENCH_PRUNE_PROBE_ROUNDS` rounds, default 6), each followed by appenders alone for as
 * long; a window's append rate is divided by the mean of the off windows either side (median
 * over the windows). A prune window is one `pruneEvents` call over the next
 * `EVCO_BENCH_PRUNE_PROBE_CHUNK` events (25 000) at `maxEventsPerSecond` 52 500, batches of
 * 1 000. Variants (`EVCO_BENCH_PRUNE_PROBE_VARIANTS`, comma-separated, default `inproc,child`):
 * - `inproc`: the prune in the appenders' process (what the scale section does); `child`: in a
 *   process of its own. `-async` in the name: the prune's connection with
 *   `synchronous_commit=off`; `-lz4`: with `wal_compression=lz4` (needs a superuser); `-b<n>`:
 *   batches of n;
 * - synthetic loads for the same time in 20 ms periods, nothing pruned: `walonly` (the prune's
 *   WAL and commits, `EVCO_BENCH_PRUNE_PROBE_WAL` bytes per period, default 210 000, through
 *   `pg_logical_emit_message`, almost no CPU), `cpuonly` (server CPU without WAL: a
 *   `generate_series` of `EVCO_BENCH_PRUNE_PROBE_BURN` rows per period, default 25 000) and
 *   `walcpu` (both).
 * Counted per window: WAL from the insert LSN and `pg_stat_wal` (page images, flushes and their
 * time: start the server with `track_wal_io_timing = on` for the time), `pg_stat_bgwriter`
 * (checkpoints, buffers written by backends), CPU and run-queue time per process group from
 * `/proc/<pid>/schedstat` (the appenders' backends, the prune's, the walwriter, this process, a
 * pruning child), this process's event-loop utilization and delay, and (a child process)
 * `pg_stat_activity` every 5 ms: states and wait events per window kind. `pg_stat_wal` is
 * reported by each backend at most once a second, so its counts smear across the windows'
 * edges; the LSN does not. Only meaningful on a server nobody else uses (`/tmp/mkpg.sh`).
 */

const SCHEMA = 'evco_bench_prune_probe';
const WORKER = fileURLToPath(new URL('./postgres-prune-probe-worker.ts', import.meta.url));
const APPENDERS = 4;
const GOAL_RATE = 52_500;
const BATCH = 1000;
const SYNTHETIC = new Set(['walonly', 'cpuonly', 'walcpu']);

function env(name: string, fallback: number): number {
  const text = process.env[`EVCO_BENCH_PRUNE_PROBE_${name}`];
  if (text === undefined || text === '') return fallback;
  const n = Number(text.replace(/[kK]$/, '000').replace(/[mM]$/, '000000'));
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`bench postgres-prune-probe: EVCO_BENCH_PRUNE_PROBE_${name} must be a positive integer`);
  return n;
}

/** CPU and run-queue time of a process so far, µs. */
function schedstat(pid: number): { cpu: number; wait: number } {
  try {
    const [run, wait] = readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ').map(Number);
    return { cpu: run! / 1000, wait: wait! / 1000 };
  } catch {
    return { cpu: 0, wait: 0 };
  }
}

function startWorker(args: string[]): { child: ChildProcess; ready: Promise<unknown> } {
  const conditions = process.execArgv.filter((a) => a.startsWith('--conditions'));
  const child = spawn(process.execPath, ['--import', 'tsx', ...conditions, WORKER, ...args], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return { child, ready: new Promise((resolve) => child.once('message', resolve)) };
}

const reply = (child: ChildProcess) => new Promise<unknown>((resolve) => child.once('message', resolve));
const median = (xs: number[]) =>
  percentile(
    [...xs].sort((a, b) => a - b),
    50,
  );

async function probe() {
  const size = env('SIZE', 1_000_000);
  const chunk = env('CHUNK', 25_000);
  const rounds = env('ROUNDS', 6);
  const walBytes = env('WAL', 210_000);
  const burn = env('BURN', 25_000);
  const variants = (process.env.EVCO_BENCH_PRUNE_PROBE_VARIANTS ?? 'inproc,child')
    .split(',')
    .map((v) => v.trim());
  const batchOf = (v: string) => Number(/-b(\d+)/.exec(v)?.[1] ?? BATCH);
  const admin = new pg.Pool({ connectionString: databaseUrl, max: 3 });
  const driver = await postgresSchema(admin, SCHEMA);
  const closers: Array<() => Promise<unknown>> = [];
  try {
    const started = performance.now();
    await driver.fill(1, size);
    process.stderr.write(
      `bench postgres-prune-probe: filled ${size} in ${Math.round(performance.now() - started)} ms\n`,
    );
    await admin.query('CHECKPOINT');

    const appender = createPostgresStore({
      connectionString: probeUrl('evco-probe-appender'),
      schema: SCHEMA,
      applicationName: 'evco-probe-appender',
    });
    closers.push(() => appender.close());
    let appended = 0;
    let latency = 0;
    let stop = false;
    const appenders = Promise.all(
      Array.from({ length: APPENDERS }, async (_, w) => {
        while (!stop) {
          const t = performance.now();
          await appender.append(
            [createDomainEvent({ eventType: 'ProbeAppended', aggregateId: `append-${w}`, eventData: { w } })],
            { now: new Date() },
          );
          latency += performance.now() - t;
          appended++;
          await new Promise((resolve) => setImmediate(resolve));
        }
      }),
    );
    closers.unshift(async () => {
      stop = true;
      await appenders;
    });

    const sampler = startWorker(['sampler']);
    closers.push(async () => {
      sampler.child.send({ dump: true });
    });
    await sampler.ready;
    const inproc = new Map<string, AdminClient>();
    const children = new Map<string, ChildProcess>();
    const synthetic = new Map<string, { client: pg.Client; sql: string }>();
    for (const v of variants) {
      if (SYNTHETIC.has(v)) {
        const client = new pg.Client({ connectionString: probeUrl('evco-probe-prune') });
        await client.connect();
        closers.push(() => client.end());
        const wal = `pg_logical_emit_message(true, 'evco-probe', repeat('x', ${walBytes}))`;
        const cpu = `(SELECT count(*) FROM generate_series(1, ${burn}))`;
        synthetic.set(v, {
          client,
          sql: `SELECT ${v === 'walonly' ? wal : v === 'cpuonly' ? cpu : `${wal}, ${cpu}`}`,
        });
      } else if (v.startsWith('child')) {
        const w = startWorker(['pruner', SCHEMA, v]);
        closers.push(async () => w.child.send({ stop: true }));
        await w.ready;
        children.set(v, w.child);
      } else if (v.startsWith('inproc')) {
        const client = await createAdminClient({
          store: createPostgresStore({
            connectionString: probeUrl('evco-probe-prune', variantOptions(v)),
            schema: SCHEMA,
            applicationName: 'evco-probe-prune',
          }),
          logger: silentLogger,
        });
        closers.push(() => client.close());
        inproc.set(v, client);
      } else {
        throw new Error(
          `bench postgres-prune-probe: unknown variant "${v}" (inproc…, child…, walonly, cpuonly, walcpu)`,
        );
      }
    }

    const snap = async () => {
      const wal = (await admin.query("SELECT *, pg_current_wal_insert_lsn() - '0/0' AS lsn FROM pg_stat_wal"))
        .rows[0];
      const bg = (await admin.query('SELECT * FROM pg_stat_bgwriter')).rows[0];
      const { rows } = await admin.query<{ pid: number; who: string }>(
        `SELECT pid, coalesce(nullif(application_name, ''), backend_type) AS who FROM pg_stat_activity`,
      );
      const cpu: Record<string, { cpu: number; wait: number }> = {};
      const add = (k: string, c: { cpu: number; wait: number }) => {
        cpu[k] ??= { cpu: 0, wait: 0 };
        const acc = cpu[k]!;
        acc.cpu += c.cpu;
        acc.wait += c.wait;
      };
      for (const { pid, who } of rows)
        if (who !== SAMPLER_APP) add(who.replace(/^evco-probe-/, ''), schedstat(pid));
      add('this process', schedstat(process.pid));
      for (const child of children.values()) add('pruning child', schedstat(child.pid!));
      return {
        wal,
        bg,
        cpu,
        appended,
        latency,
        t: performance.now(),
        elu: performance.eventLoopUtilization(),
      };
    };
    type Snap = Awaited<ReturnType<typeof snap>>;
    const loop = monitorEventLoopDelay({ resolution: 1 });
    loop.enable();
    closers.push(async () => loop.disable());
    const diff = (a: Snap, b: Snap) => {
      const ms = b.t - a.t;
      const appends = b.appended - a.appended;
      const w = (k: string) => Number(b.wal[k]) - Number(a.wal[k]);
      const g = (k: string) => Number(b.bg[k]) - Number(a.bg[k]);
      const cpu: Record<string, { cpuMs: number; runQueueMs: number }> = {};
      for (const [k, c] of Object.entries(b.cpu)) {
        const cpuMs = (c.cpu - (a.cpu[k]?.cpu ?? 0)) / 1000;
        const runQueueMs = (c.wait - (a.cpu[k]?.wait ?? 0)) / 1000;
        if (cpuMs > 0 || runQueueMs > 0)
          cpu[k] = { cpuMs: round(cpuMs, 1), runQueueMs: round(runQueueMs, 1) };
      }
      return {
        ms: round(ms, 0),
        appends,
        appendsPerSec: round((appends / ms) * 1000, 0),
        appendMs: round((b.latency - a.latency) / appends, 2),
        walBytes: w('lsn'),
        walFpi: w('wal_fpi'),
        walSyncs: w('wal_sync'),
        walSyncMs: round(w('wal_sync_time'), 0),
        checkpoints: g('checkpoints_timed') + g('checkpoints_req'),
        buffersBackend: g('buffers_backend'),
        eventLoopUtilization: round(performance.eventLoopUtilization(b.elu, a.elu).utilization, 2),
        eventLoopDelayP99Ms: round(loop.percentile(99) / 1e6, 2),
        cpu,
      };
    };
    const window = async (label: string, body: () => Promise<number>) => {
      sampler.child.send({ window: label });
      loop.reset();
      const a = await snap();
      const removed = await body();
      return { ...diff(a, await snap()), removed };
    };
    const pause = (ms: number) => async () => {
      await new Promise((resolve) => setTimeout(resolve, ms));
      return 0;
    };

    let cursor = 0;
    type Window = ReturnType<typeof diff> & { removed: number };
    const runs: Record<string, Array<{ ratio: number; on: Window; off: Window }>> = {};
    const load = loadavg()[0]!.toFixed(1);
    const at = new Date().toISOString();
    let before = await window('off', pause(1000));
    for (let r = 0; r < rounds; r++) {
      for (const v of variants) {
        const synth = synthetic.get(v);
        const next = synth ? cursor : cursor + chunk;
        const on = await window(v, async () => {
          if (synth) {
            const period = (BATCH / GOAL_RATE) * 1000;
            const end = performance.now() + (chunk / GOAL_RATE) * 1000;
            for (let due = performance.now(); due < end; due += period) {
              await synth.client.query(synth.sql);
              const wait = due + period - performance.now();
              if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
            }
            return 0;
          }
          const request = { before: fillTime(next), batchSize: batchOf(v), rate: GOAL_RATE };
          const child = children.get(v);
          if (child) {
            child.send({ ...request, before: request.before.toISOString() });
            return ((await reply(child)) as { removed: number }).removed;
          }
          return (
            await inproc.get(v)!.pruneEvents({
              before: request.before,
              batchSize: request.batchSize,
              dutyCycle: 1,
              maxEventsPerSecond: request.rate,
            })
          ).removed;
        });
        cursor = next;
        const after = await window('off', pause(Math.max(200, on.ms)));
        const ratio = round(on.appendsPerSec / ((before.appendsPerSec + after.appendsPerSec) / 2), 3);
        runs[v] ??= [];
        runs[v]!.push({ ratio, on, off: after });
        before = after;
      }
    }
    stop = true;
    await appenders;
    sampler.child.send({ dump: true });
    const waits = (await reply(sampler.child)) as Record<string, Record<string, number>>;

    const perAppend = (ws: Array<ReturnType<typeof diff>>, group: string, f: 'cpuMs' | 'runQueueMs') =>
      round(
        (ws.reduce((s, w) => s + (w.cpu[group]?.[f] ?? 0), 0) * 1000) / ws.reduce((s, w) => s + w.appends, 0),
        0,
      );
    const side = (ws: Array<ReturnType<typeof diff>>) => ({
      appendsPerSec: median(ws.map((w) => w.appendsPerSec)),
      appendMs: median(ws.map((w) => w.appendMs)),
      appenderBackendsUsPerAppend: {
        cpu: perAppend(ws, 'appender', 'cpuMs'),
        runQueue: perAppend(ws, 'appender', 'runQueueMs'),
      },
      thisProcessUsPerAppend: {
        cpu: perAppend(ws, 'this process', 'cpuMs'),
        runQueue: perAppend(ws, 'this process', 'runQueueMs'),
      },
      // pg_stat_wal counts (flushes, their time) are reported by each backend at most once a
      // second and smear across windows: approximate, unlike the LSN.
      approxWalBytesPerFlush: round(
        ws.reduce((s, w) => s + w.walBytes, 0) /
          Math.max(
            1,
            ws.reduce((s, w) => s + w.walSyncs, 0),
          ),
        0,
      ),
      approxMsPerFlush: round(
        ws.reduce((s, w) => s + w.walSyncMs, 0) /
          Math.max(
            1,
            ws.reduce((s, w) => s + w.walSyncs, 0),
          ),
        2,
      ),
      approxAppendsPerFlush: round(
        ws.reduce((s, w) => s + w.appends, 0) /
          Math.max(
            1,
            ws.reduce((s, w) => s + w.walSyncs, 0),
          ),
        2,
      ),
      checkpoints: ws.reduce((s, w) => s + w.checkpoints, 0),
      buffersBackend: ws.reduce((s, w) => s + w.buffersBackend, 0),
      eventLoopUtilization: median(ws.map((w) => w.eventLoopUtilization)),
      eventLoopDelayP99Ms: median(ws.map((w) => w.eventLoopDelayP99Ms)),
    });
    const offs = Object.values(runs).flatMap((rs) => rs.map((r) => r.off));
    const walPerAppend =
      offs.reduce((s, w) => s + w.walBytes, 0) /
      Math.max(
        1,
        offs.reduce((s, w) => s + w.appends, 0),
      );
    const summary: Record<string, unknown> = {};
    for (const [v, rs] of Object.entries(runs)) {
      const on = rs.map((r) => r.on);
      const removed = on.reduce((s, w) => s + w.removed, 0);
      const sum = (group: string) => on.reduce((s, w) => s + (w.cpu[group]?.cpuMs ?? 0), 0);
      summary[v] = {
        appendsRatio: median(rs.map((r) => r.ratio)),
        ratios: rs.map((r) => r.ratio),
        prunedPerSec: round((removed / on.reduce((s, w) => s + w.ms, 0)) * 1000, 0),
        pruneBackendCpuMsPerWindow: round(sum('prune') / on.length, 1),
        ...(removed > 0
          ? {
              perPrunedEvent: {
                serverCpuUs: round((sum('prune') * 1000) / removed, 2),
                applicationCpuUs: children.has(v)
                  ? round((sum('pruning child') * 1000) / removed, 2)
                  : undefined,
                // Less what the window's appends wrote (their WAL per append alone).
                walBytes: round(
                  (on.reduce((s, w) => s + w.walBytes, 0) -
                    on.reduce((s, w) => s + w.appends, 0) * walPerAppend) /
                    removed,
                  0,
                ),
                pageImages: round(on.reduce((s, w) => s + w.walFpi, 0) / removed, 4),
              },
            }
          : { walBytesPerWindow: round(on.reduce((s, w) => s + w.walBytes, 0) / on.length, 0) }),
        during: side(on),
        alone: side(rs.map((r) => r.off)),
      };
    }
    const perWindowKind = Object.fromEntries(
      Object.entries(waits).map(([k, counts]) => [
        k,
        Object.fromEntries(
          Object.entries(counts)
            .filter(([key]) => key !== 'samples')
            .map(([key, n]) => [key, round(n / counts.samples!, 2)]),
        ),
      ]),
    );
    return {
      started: at,
      load: `${load} -> ${loadavg()[0]!.toFixed(1)}`,
      size,
      chunk,
      summary,
      waitsPerSample: perWindowKind,
      windows: runs,
    };
  } finally {
    for (const close of closers) await close().catch(() => {});
    await driver.close();
    await admin.end();
  }
}

export const postgresPruneProbeSection: BenchSection = {
  name: 'postgres-prune-probe',
  onlyWhenNamed: true,
  async run() {
    return [await probe()];
  },
};
