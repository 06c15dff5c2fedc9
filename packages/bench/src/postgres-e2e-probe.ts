import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { createPostgresStore, type PostgresStore } from '@evco/store-postgres';
import pg from 'pg';
import { databaseUrl } from './env.js';
import { type BenchSection, countingCoordinator, round } from './harness.js';
import { events, RAW_DDL, RAW_INSERT, RAW_SCHEMA, rawValues } from './postgres.js';

/**
 * Where the time of the Postgres end-to-end case goes (`pnpm bench postgres-e2e-probe`): the
 * `postgres` section's case (8 publishers, one handler, every delivery completed; raw: 8
 * concurrent INSERTs), rounds of each flow in turns, and per round what bounds the rate:
 *
 * - Node: CPU per event, the main thread's time on a CPU and waiting for one (run queue,
 *   `/proc/self/task/<pid>/schedstat`), event-loop utilisation and delay;
 * - the server's processes (every child of the postmaster, found from `/proc`, so only when the
 *   server runs on this machine): time on a CPU and in the run queue per event;
 * - the machine (`/proc/stat`): the share of its CPUs busy and waiting for I/O;
 * - each publish's (or raw INSERT's) latency, evco's `store.append` inside it, the claim rounds
 *   per event and deliveries per round, WAL records, syncs and commits per event, and the
 *   statements' execution time per event (`pg_stat_statements`, when loaded);
 * - with `EVCO_BENCH_PROBE_SAMPLE_MS=<ms>`, `pg_stat_activity` sampled from a process of its own:
 *   per statement kind, how many backends were on the CPU or waiting (and for what) on average,
 *   and from that (Little's law) how a publisher's cycle splits between the server (executing,
 *   waiting for the WAL flush) and the client side (the Node process between a reply and the
 *   next statement: event-loop queueing and the process waiting for a CPU included).
 *
 * Server-wide counters and processes: run it against a private server nobody else uses.
 * `EVCO_BENCH_PROBE_ROUNDS` (default 8) and `EVCO_BENCH_PROBE_FLOWS` (default `raw,none,leases`:
 * the raw INSERTs and evco with `asyncCommit` `'none'` and `'leases'`; `none/<n>` is `'none'` with
 * the coordinator's `concurrency` at n, i.e. claim rounds of at most n deliveries).
 */
const SCHEMA = 'evco_bench_probe';
const TOTAL = 4000;
const EVENT_TYPE = 'ProbeHappened';

type Kind = 'raw insert' | 'append' | 'completeAndClaim' | 'claim' | 'other';

/** The statement kind of a statement's text, as the store and the raw flow write them. */
function kindOf(text: string): Kind {
  const t = text.trimStart();
  if (t.startsWith(`INSERT INTO ${RAW_SCHEMA}.events`)) return 'raw insert';
  if (t.startsWith('WITH tx')) return 'append';
  if (t.startsWith('WITH done')) return 'completeAndClaim';
  if (t.startsWith('WITH horizon') || t.startsWith('WITH candidates')) return 'claim';
  return 'other';
}

/** Time on a CPU and waiting in the run queue, in ns, of one thread or process. */
function schedstat(path: string): [number, number] {
  try {
    const [run, wait] = readFileSync(path, 'utf8').split(' ').map(Number);
    return [run ?? 0, wait ?? 0];
  } catch {
    return [0, 0];
  }
}

function childrenOf(parent: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === parent) pids.push(Number(entry));
    } catch {
      // Gone since the listing.
    }
  }
  return pids;
}

/** The server processes' summed schedstat, or undefined when they are not on this machine. */
function serverSched(postmaster: number | undefined): Map<number, [number, number]> | undefined {
  if (postmaster === undefined) return undefined;
  return new Map(childrenOf(postmaster).map((pid) => [pid, schedstat(`/proc/${pid}/schedstat`)]));
}

function cpuTicks(): { busy: number; iowait: number; all: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.split(/\s+/).slice(1, 9).map(Number);
  const all = f.reduce((a, b) => a + b, 0);
  return { busy: all - f[3]! - f[4]!, iowait: f[4]!, all };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
function quantile(xs: number[], q: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}
const median = (xs: number[]) => quantile(xs, 0.5);

interface Flow {
  name: string;
  /** Runs one round; pushes each publish's latency (ms) and, for evco, each append's. */
  run(latencies: number[], appends: number[]): Promise<void>;
  claims(): { rounds: number; claimed: number };
  close(): Promise<void>;
}

function rawFlow(admin: pg.Pool): Flow {
  return {
    name: 'raw: pg INSERT … VALUES ×8',
    async run(latencies) {
      const list = events(TOTAL, EVENT_TYPE);
      const now = new Date();
      let next = 0;
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          for (let i = next++; i < TOTAL; i = next++) {
            const started = performance.now();
            await admin.query(RAW_INSERT, rawValues(list[i]!, now));
            latencies.push(performance.now() - started);
          }
        }),
      );
    },
    claims: () => ({ rounds: 0, claimed: 0 }),
    close: async () => {},
  };
}

async function evcoFlow(admin: pg.Pool, asyncCommit: 'none' | 'leases', concurrency?: number): Promise<Flow> {
  const schema = `${SCHEMA}_${asyncCommit}${concurrency ?? ''}`;
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  const store: PostgresStore = createPostgresStore({
    connectionString: databaseUrl,
    schema,
    poolSize: 10,
    asyncCommit,
  });
  // Timed and counted in place: the coordinator calls these through the store object.
  let appends: number[] | undefined;
  let rounds = 0;
  let claimed = 0;
  const append = store.append.bind(store);
  store.append = async (list, options) => {
    const started = performance.now();
    const result = await append(list, options);
    appends?.push(performance.now() - started);
    return result;
  };
  const claimDue = store.claimDue.bind(store);
  store.claimDue = async (request) => {
    rounds++;
    const got = await claimDue(request);
    claimed += got.length;
    return got;
  };
  const completeAndClaim = store.completeAndClaim.bind(store);
  store.completeAndClaim = async (tokens, request) => {
    rounds++;
    const got = await completeAndClaim(tokens, request);
    claimed += got.length;
    return got;
  };
  const run = await countingCoordinator(
    store,
    { eventType: EVENT_TYPE, name: 'probe', ordering: 'none' },
    concurrency ? { concurrency } : {},
  );
  return {
    name: `evco (asyncCommit: ${asyncCommit}${concurrency ? `, concurrency ${concurrency}` : ''}): publishEvent ×8 → handled → completed`,
    async run(latencies, appended) {
      appends = appended;
      // publishAndDrain's round, each publish timed.
      const list = events(TOTAL, EVENT_TYPE);
      const target = run.handled() + TOTAL;
      let next = 0;
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          for (let i = next++; i < TOTAL; i = next++) {
            const started = performance.now();
            await run.coordinator.publishEvent(list[i]!);
            latencies.push(performance.now() - started);
          }
        }),
      );
      while (run.handled() < target) await new Promise((r) => setTimeout(r, 1));
      await run.coordinator.waitForIdle({ timeoutMs: 60_000 });
      appends = undefined;
    },
    claims: () => ({ rounds, claimed }),
    async close() {
      await run.coordinator.shutdown();
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    },
  };
}

interface Counters {
  walRecords: number;
  walSyncs: number;
  commits: number;
  statements: Map<string, { kind: Kind; calls: number; execMs: number }> | undefined;
}

async function counters(client: pg.Client, statements: boolean): Promise<Counters> {
  const { rows } = await client.query<{ records: string; syncs: string; commits: string }>(
    `SELECT wal_records AS records, wal_sync AS syncs,
       (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()) AS commits
     FROM pg_stat_wal`,
  );
  const out: Counters = {
    walRecords: Number(rows[0]!.records),
    walSyncs: Number(rows[0]!.syncs),
    commits: Number(rows[0]!.commits),
    statements: undefined,
  };
  if (statements) {
    const s = await client.query<{ id: string; calls: string; exec: number; query: string }>(
      `SELECT queryid::text AS id, calls, total_exec_time AS exec, left(query, 60) AS query
       FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    );
    out.statements = new Map(
      s.rows.map((r) => [r.id, { kind: kindOf(r.query), calls: Number(r.calls), execMs: r.exec }]),
    );
  }
  return out;
}

/** Execution µs and calls per event of each statement kind between two readings. */
function statementsPerEvent(before: Counters, after: Counters): Record<string, string> | undefined {
  if (!before.statements || !after.statements) return undefined;
  const by = new Map<Kind, { calls: number; execMs: number }>();
  for (const [id, s] of after.statements) {
    const b = before.statements.get(id) ?? { calls: 0, execMs: 0 };
    const calls = s.calls - b.calls;
    if (calls <= 0 || s.kind === 'other') continue;
    const acc = by.get(s.kind) ?? { calls: 0, execMs: 0 };
    acc.calls += calls;
    acc.execMs += s.execMs - b.execMs;
    by.set(s.kind, acc);
  }
  return Object.fromEntries(
    [...by].map(([kind, s]) => [
      kind,
      `${round((s.execMs * 1000) / TOTAL, 1)} µs exec, ${round(s.calls / TOTAL, 3)} calls`,
    ]),
  );
}

type Row = Record<string, number | string | undefined | Record<string, string>> & {
  flow: string;
  window: string;
};

export const postgresE2eProbeSection: BenchSection = {
  name: 'postgres-e2e-probe',
  onlyWhenNamed: true,
  async run() {
    const rounds = Number(process.env.EVCO_BENCH_PROBE_ROUNDS ?? 8);
    const wanted = (process.env.EVCO_BENCH_PROBE_FLOWS ?? 'raw,none,leases').split(',');
    const sampleMs = process.env.EVCO_BENCH_PROBE_SAMPLE_MS;
    const admin = new pg.Pool({ connectionString: databaseUrl, max: 8, idleTimeoutMillis: 0 });
    const stats = new pg.Client({ connectionString: databaseUrl });
    await stats.connect();
    await admin.query(RAW_DDL);
    const hasStatements =
      (await stats.query(`SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'`)).rowCount === 1;
    // The postmaster is the parent of this connection's backend, when that is on this machine.
    const backend = (await stats.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    let postmaster: number | undefined;
    try {
      const stat = readFileSync(`/proc/${backend}/stat`, 'utf8');
      postmaster = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    } catch {
      postmaster = undefined;
    }
    const flows: Flow[] = [];
    let sampler: ChildProcess | undefined;
    const sampleFile = `/tmp/evco-bench-activity-${process.pid}.jsonl`;
    const loopDelay = monitorEventLoopDelay({ resolution: 1 });
    const rows: Row[] = [];
    try {
      for (const name of wanted) {
        if (name === 'raw') flows.push(rawFlow(admin));
        else if (name === 'none' || name === 'leases') flows.push(await evcoFlow(admin, name));
        else if (/^none\/[1-9][0-9]*$/.test(name))
          flows.push(await evcoFlow(admin, 'none', Number(name.slice(5))));
        else throw new Error(`EVCO_BENCH_PROBE_FLOWS: unknown flow ${name} (raw, none, leases, none/<n>)`);
      }
      if (sampleMs) {
        const script = new URL('../scripts/pg-activity-sampler.mjs', import.meta.url).pathname;
        sampler = spawn(process.execPath, [script, databaseUrl, sampleFile, sampleMs], { stdio: 'inherit' });
      }
      loopDelay.enable();
      // One warm-up turn, then the rounds in turns.
      for (let turn = -1; turn < rounds; turn++) {
        for (const flow of flows) {
          const latencies: number[] = [];
          const appends: number[] = [];
          const c0 = await counters(stats, hasStatements);
          const claims0 = flow.claims();
          const s0 = serverSched(postmaster);
          const main0 = schedstat(`/proc/self/task/${process.pid}/schedstat`);
          const m0 = cpuTicks();
          const elu0 = performance.eventLoopUtilization();
          const cpu0 = process.cpuUsage();
          loopDelay.reset();
          const started = performance.now();
          await flow.run(latencies, appends);
          const ms = performance.now() - started;
          const cpu = process.cpuUsage(cpu0);
          const elu = performance.eventLoopUtilization(elu0);
          const m1 = cpuTicks();
          const main1 = schedstat(`/proc/self/task/${process.pid}/schedstat`);
          const s1 = serverSched(postmaster);
          const claims1 = flow.claims();
          const c1 = await counters(stats, hasStatements);
          if (turn < 0) continue;
          let serverRun = 0;
          let serverQueue = 0;
          for (const [pid, [run, wait]] of s1 ?? []) {
            const [run0, wait0] = s0?.get(pid) ?? [0, 0];
            serverRun += run - run0;
            serverQueue += wait - wait0;
          }
          const claimRounds = claims1.rounds - claims0.rounds;
          const perEvent = (ns: number) => round(ns / 1000 / TOTAL, 1);
          rows.push({
            flow: flow.name,
            window: `${performance.timeOrigin + started}-${performance.timeOrigin + started + ms}`,
            at: new Date().toISOString().slice(11, 19),
            eventsPerSec: Math.round((TOTAL / ms) * 1000),
            nodeCpuUs: round((cpu.user + cpu.system) / TOTAL, 1),
            nodeMainThreadRunUs: perEvent(main1[0] - main0[0]),
            nodeMainThreadRunQueueUs: perEvent(main1[1] - main0[1]),
            eventLoopUtilisation: round(elu.utilization, 3),
            eventLoopDelayP99Ms: round(loopDelay.percentile(99) / 1e6, 2),
            serverRunUs: s1 ? perEvent(serverRun) : undefined,
            serverRunQueueUs: s1 ? perEvent(serverQueue) : undefined,
            machineBusy: round((m1.busy - m0.busy) / (m1.all - m0.all), 3),
            machineIowait: round((m1.iowait - m0.iowait) / (m1.all - m0.all), 3),
            publishMeanMs: round(mean(latencies), 3),
            publishP99Ms: round(quantile(latencies, 0.99), 3),
            appendMeanMs: appends.length > 0 ? round(mean(appends), 3) : undefined,
            claimRoundsPerEvent: round(claimRounds / TOTAL, 4),
            deliveriesPerClaimRound:
              claimRounds > 0 ? round((claims1.claimed - claims0.claimed) / claimRounds, 2) : undefined,
            walRecordsPerEvent: round((c1.walRecords - c0.walRecords) / TOTAL, 2),
            walSyncsPerEvent: round((c1.walSyncs - c0.walSyncs) / TOTAL, 3),
            commitsPerEvent: round((c1.commits - c0.commits) / TOTAL, 3),
            statements: statementsPerEvent(c0, c1),
          });
        }
      }
    } finally {
      loopDelay.disable();
      sampler?.kill('SIGTERM');
      for (const flow of flows) await flow.close();
      await admin.query(`DROP SCHEMA IF EXISTS ${RAW_SCHEMA} CASCADE`);
      await admin.end();
      await stats.end();
    }
    let activity: Awaited<ReturnType<typeof activityByFlow>> | undefined;
    try {
      activity = sampleMs ? await activityByFlow(sampleFile, rows) : undefined;
    } finally {
      // The sampler's file is this run's scratch: read above, then gone.
      rmSync(sampleFile, { force: true });
    }
    const summary = flows.map((flow) => {
      const mine = rows.filter((r) => r.flow === flow.name);
      const med: Record<string, unknown> = { flow: flow.name, rounds: mine.length };
      for (const key of Object.keys(mine[0] ?? {})) {
        const values = mine.map((r) => r[key]).filter((v): v is number => typeof v === 'number');
        if (values.length === mine.length && values.length > 0) med[key] = round(median(values), 3);
      }
      const baseline = rows.filter((r) => r.flow === flows[0]!.name);
      const ratios = mine.map((r, i) => (r.eventsPerSec as number) / (baseline[i]!.eventsPerSec as number));
      med[`ratioTo ${flows[0]!.name} (median of the turns)`] = round(median(ratios), 3);
      if (activity?.[flow.name]) med.activity = activity[flow.name];
      return med;
    });
    return [
      {
        name: `end to end, where the time goes (${TOTAL} events a round, 8 publishers, one handler, completed; medians of ${rounds} rounds)`,
        note: 'server-wide counters and processes: only meaningful on a private server on this machine',
        summary,
        rounds: rows.map(({ window: _w, ...r }) => r),
      },
    ];
  },
};

/**
 * The sampled backends per flow: for each statement kind, the mean number of backends per
 * sample on the CPU (`cpu`) or waiting (by wait event; `idle` is a connection between
 * statements), and for the publishers (append or raw insert) the split of their cycle.
 */
async function activityByFlow(file: string, rows: Row[]): Promise<Record<string, Record<string, number>>> {
  await new Promise((resolve) => setTimeout(resolve, 200));
  let samples: Array<{ t: number; rows: Array<[string, string, string]> }>;
  try {
    samples = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => JSON.parse(l));
  } catch {
    return {};
  }
  const out: Record<string, Record<string, number>> = {};
  for (const flow of new Set(rows.map((r) => r.flow))) {
    const counts: Record<string, number> = {};
    let n = 0;
    let rate = 0;
    for (const row of rows.filter((r) => r.flow === flow)) {
      const [from, to] = row.window.split('-').map(Number) as [number, number];
      rate += row.eventsPerSec as number;
      for (const s of samples) {
        if (s.t < from || s.t > to) continue;
        n++;
        for (const [state, wait, query] of s.rows) {
          if (state !== 'active') continue;
          const key = `${kindOf(query)}: ${wait || 'cpu'}`;
          counts[key] = (counts[key] ?? 0) + 1;
        }
      }
    }
    if (n === 0) continue;
    const result: Record<string, number> = { samples: n };
    let publishersAtServer = 0;
    for (const [key, count] of Object.entries(counts).sort((a, b) => b[1] - a[1])) {
      if (key.startsWith('other')) continue;
      result[key] = round(count / n, 2);
      if (key.startsWith('append') || key.startsWith('raw insert')) publishersAtServer += count / n;
    }
    // Little's law: 8 publishers in a closed loop, each cycle 8 / rate; the part at the server.
    const cycleMs = (8 / (rate / rows.filter((r) => r.flow === flow).length)) * 1000;
    result.publisherCycleMs = round(cycleMs, 3);
    result.publisherAtServerMs = round((publishersAtServer / 8) * cycleMs, 3);
    result.publisherClientSideMs = round(((8 - publishersAtServer) / 8) * cycleMs, 3);
    out[flow] = result;
  }
  return out;
}
