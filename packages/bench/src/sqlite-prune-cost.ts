import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSqliteStore, type SqliteStoreOptions } from '@evco/store-sqlite';
import Database from 'better-sqlite3';
import { type BenchSection, parseCount, round } from './harness.js';
import { fillSqlitePeriods } from './sqlite-fill.js';

/**
 * `pnpm bench sqlite-prune-cost`: what one pruned event costs store-sqlite, in CPU time (user +
 * system of the process, less sensitive to neighbours than wall-clock time), at a size. One file
 * of `EVCO_BENCH_SQLITE_PRUNE_SIZE` fill events (default 1 M, `k`/`M` allowed) made as `pnpm
 * bench scale` makes them (20 types, 100 000 aggregates, 10 ms apart); with
 * `EVCO_BENCH_SQLITE_PRUNE_SCATTER=1` consecutive events belong to aggregates far apart in the
 * aggregate index, as UUIDs would. Each run copies the file and prunes its oldest
 * `EVCO_BENCH_SQLITE_PRUNE_EVENTS` (default 100 000) with `store.pruneEvents` in a loop, no
 * archive; the variants take turns, `EVCO_BENCH_SQLITE_PRUNE_ROUNDS` (default 3) rounds.
 */

const TYPES = 20;
const AGGREGATES = 100_000;
const SPACING_MS = 10;
const BASE_TIME = Date.UTC(2026, 0, 1);

interface Variant {
  name: string;
  tempStore: NonNullable<SqliteStoreOptions['tempStore']>;
  batch: number;
}

const VARIANTS: Variant[] = [
  { name: "tempStore 'FILE', batches of 1 000", tempStore: 'FILE', batch: 1_000 },
  { name: "tempStore 'MEMORY', batches of 1 000", tempStore: 'MEMORY', batch: 1_000 },
  { name: "tempStore 'FILE', batches of 10 000", tempStore: 'FILE', batch: 10_000 },
  { name: "tempStore 'MEMORY', batches of 10 000", tempStore: 'MEMORY', batch: 10_000 },
];

function count(name: string, fallback: number): number {
  const text = process.env[name];
  if (!text) return fallback;
  const n = parseCount(text);
  if (n === undefined) throw new Error(`bench sqlite-prune-cost: bad ${name} "${text}" (e.g. 200k, 1M)`);
  return n;
}

/** The store's schema with `size` fill events, indexes built after the rows (as `scale` fills). */
async function makeFile(file: string, size: number, scatter: boolean): Promise<void> {
  const setup = createSqliteStore({ filename: file });
  await setup.migrate();
  await setup.close();
  const db = new Database(file);
  try {
    const aggregate = scatter ? `(n * 7919) % ${AGGREGATES}` : `n % ${AGGREGATES}`;
    // Into the period tables as appends would have placed them (store-sqlite's default size).
    fillSqlitePeriods(db, 1, size, (from, to) => ({
      sql: `WITH RECURSIVE g(n) AS (SELECT CAST(? AS INTEGER) UNION ALL SELECT n + 1 FROM g WHERE n < ?)
       SELECT n, printf('00000000-0000-7000-8000-%012d', n), 'Scale' || (n % ${TYPES}), 'agg-' || (${aggregate}),
         'Agg' || (n % 5), NULL, json_object('n', n), '{"schemaVersion":1}',
         strftime('%Y-%m-%dT%H:%M:%fZ', ?, '+' || (n * ${SPACING_MS} / 1000.0) || ' seconds'),
         strftime('%Y-%m-%dT%H:%M:%fZ', ?, '+' || (n * ${SPACING_MS} / 1000.0) || ' seconds')
       FROM g`,
      params: [from, to, new Date(BASE_TIME).toISOString(), new Date(BASE_TIME).toISOString()],
    }));
    db.exec('ANALYZE');
    db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
}

async function pruneCopy(template: string, work: string, v: Variant, events: number) {
  for (const suffix of ['', '-wal', '-shm']) rmSync(work + suffix, { force: true });
  copyFileSync(template, work);
  // The store opens the copy itself, so `tempStore` and its other defaults apply as in production.
  const store = createSqliteStore({ filename: work, tempStore: v.tempStore });
  await store.migrate();
  const before = new Date(BASE_TIME + (events + 1) * SPACING_MS);
  let after: { occurredAt: Date; position: string } | undefined;
  let removed = 0;
  const started = performance.now();
  const cpu0 = process.cpuUsage();
  for (;;) {
    const batch = await store.pruneEvents!({ before, limit: v.batch, now: new Date(), after });
    removed += batch.removed;
    if (!batch.next) break;
    after = batch.next;
  }
  const cpu = process.cpuUsage(cpu0);
  const ms = performance.now() - started;
  await store.close();
  for (const suffix of ['', '-wal', '-shm']) rmSync(work + suffix, { force: true });
  return {
    removed,
    cpuUsPerEvent: round((cpu.user + cpu.system) / removed, 1),
    systemUsPerEvent: round(cpu.system / removed, 1),
    wallUsPerEvent: round((ms * 1000) / removed, 1),
    eventsPerSec: Math.round((removed / ms) * 1000),
  };
}

export const sqlitePruneCostSection: BenchSection = {
  name: 'sqlite-prune-cost',
  onlyWhenNamed: true,
  async run() {
    const size = count('EVCO_BENCH_SQLITE_PRUNE_SIZE', 1_000_000);
    const events = Math.min(size, count('EVCO_BENCH_SQLITE_PRUNE_EVENTS', 100_000));
    const rounds = count('EVCO_BENCH_SQLITE_PRUNE_ROUNDS', 3);
    const scatter = process.env.EVCO_BENCH_SQLITE_PRUNE_SCATTER === '1';
    const dir = mkdtempSync(join(tmpdir(), 'evco-bench-sqlite-prune-'));
    try {
      const template = join(dir, 'template.db');
      const started = performance.now();
      await makeFile(template, size, scatter);
      process.stderr.write(
        `bench sqlite-prune-cost: ${size} events in ${Math.round(performance.now() - started)} ms\n`,
      );
      const runs = new Map<string, Array<Awaited<ReturnType<typeof pruneCopy>>>>();
      for (let r = 0; r < rounds; r++) {
        for (const v of VARIANTS) {
          const result = await pruneCopy(template, join(dir, 'work.db'), v, events);
          runs.set(v.name, [...(runs.get(v.name) ?? []), result]);
        }
      }
      const each = (v: Variant, pick: (x: Awaited<ReturnType<typeof pruneCopy>>) => number) =>
        runs
          .get(v.name)!
          .map((x) => String(pick(x)))
          .join(' / ');
      return VARIANTS.map((v) => ({
        name: `${v.name}: prune ${events} of ${size} events${scatter ? ', aggregates scattered' : ''}`,
        'CPU µs per event, each round': each(v, (x) => x.cpuUsPerEvent),
        'of which system': each(v, (x) => x.systemUsPerEvent),
        'wall µs per event': each(v, (x) => x.wallUsPerEvent),
        'events/s': each(v, (x) => x.eventsPerSec),
      }));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
