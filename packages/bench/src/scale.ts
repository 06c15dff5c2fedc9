import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createAdminClient,
  createDomainEvent,
  DEFAULT_PRUNE_BATCH,
  DEFAULT_RETENTION_DUTY_CYCLE,
  type DomainEvent,
  type EventDrivenCoordinator,
  type EventStore,
  silentLogger,
} from '@evco/core';
import { createPostgresStore } from '@evco/store-postgres';
import { createSqliteStore } from '@evco/store-sqlite';
import Database from 'better-sqlite3';
import pg from 'pg';
import { databaseUrl } from './env.js';
import { type BenchSection, countingCoordinator, measure, parseCount, percentile, round } from './harness.js';
import { rawValues } from './postgres.js';
import { rawSqliteValues } from './sqlite.js';
import {
  countSqliteEvents,
  createRawEventsTable,
  fillSqlitePeriods,
  lastSqlitePosition,
  sqlitePeriodTables,
} from './sqlite-fill.js';

/**
 * `pnpm bench scale`: does evco stay flat as the store grows? At each size the store is topped
 * up with bulk SQL (not through the API: millions of appends would take the whole run). Beside it
 * the section keeps two reference stores of the same kind on the same server (Postgres schemas,
 * SQLite files): an empty one (the value "at 0") and a one-page one (`PAGE_EVENTS`, where every
 * query returns what it returns at the largest size). Every figure that a goal compares is taken
 * in the same time windows on both sides, so the machine's noise hits both alike:
 *
 * - queries: history by type, aggregate, time window (alone and with a type), status, dead
 *   letters, unprocessed events; `EVCO_BENCH_SCALE_SAMPLES` samples of each shape (default 2 000)
 *   interleaved call by call between the three stores, p50/p99 of each with a bootstrap 95%
 *   interval of the p99 and of the p99 ratio;
 * - end to end (8 publishers, one handler): alternating rounds on the sized store, on the empty
 *   one and as raw INSERTs into a copy of the sized table, `EVCO_BENCH_SCALE_E2E_ROUNDS` rounds
 *   (default 6), median of the per-round ratios;
 * - prunes next to four appenders that run throughout: windows of prune on and prune off
 *   alternate (each prune window one `pruneEvents` call over the next chunk of old events, each
 *   off window as long as the on window before it), the ratio of each on window's append rate to
 *   the mean of the off windows around it, median over the windows. Back to back, paced as
 *   background retention, and at the goal's rate.
 *
 * Sizes: `EVCO_BENCH_SCALE_SIZES` (both stores) or `EVCO_BENCH_SCALE_POSTGRES_SIZES` /
 * `EVCO_BENCH_SCALE_SQLITE_SIZES`, comma-separated, `k`/`M` suffixes allowed (`0,200k`);
 * defaults 0, 1 M, 5 M on Postgres and 0, 1 M on SQLite. A 0 is accepted and measured beside
 * every other size (the empty reference). `EVCO_BENCH_SCALE_STORES=postgres` runs one store.
 */

const TYPES = 20;
const AGGREGATES = 100_000;
/** Fill events are 10 ms apart, starting two days ago: 5 M of them span about 14 hours. */
const SPACING_MS = 10;
const E2E_EVENTS = 2000;
/** Samples of each query shape on each store, interleaved (`EVCO_BENCH_SCALE_SAMPLES`). */
const SAMPLES = positiveInt('EVCO_BENCH_SCALE_SAMPLES', 2000);
const WARMUP_SAMPLES = 20;
/** Alternating end-to-end rounds (`EVCO_BENCH_SCALE_E2E_ROUNDS`), after one warm-up round each. */
const E2E_ROUNDS = positiveInt('EVCO_BENCH_SCALE_E2E_ROUNDS', 6);
/** Bootstrap resamples for the p99 intervals. */
const BOOTSTRAP = 400;
const PRUNE_BATCH = 10_000;
/** The prune goal: this rate with appends next to it at least 0.8× their rate alone. */
const PRUNE_GOAL_RATE = 50_000;
/**
 * The `maxEventsPerSecond` of the run held at the goal's rate: 5% above it, since the run's
 * measured rate also counts the call's start (the first plan) and its last, empty batch, which
 * the pacer's schedule does not.
 */
const PRUNE_PACED_CAP = Math.round(PRUNE_GOAL_RATE * 1.05);
const APPEND_GOAL_RATIO = 0.8;
/**
 * The page reference: at size 0 every history query returns nothing, so its latency there is a
 * bare round trip and "within 2× of its value at 0" would compare returning 100 rows with
 * returning none. The page store holds `PAGE_EVENTS` fill events, where every query returns what
 * it returns at the largest size (100 by type, a full window, 50 of an aggregate), and the query
 * goals compare with it; the empty store's figures are printed beside. The first `PAGE_EVENTS`
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

function positiveInt(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`bench scale: ${name} must be a positive integer, got "${text}"`);
  return n;
}

function sizes(store: string, defaults: number[]): number[] {
  const text =
    process.env[`EVCO_BENCH_SCALE_${store.toUpperCase()}_SIZES`] ?? process.env.EVCO_BENCH_SCALE_SIZES;
  if (!text) return defaults;
  const parsed = text.split(',').map((s) => {
    const n = parseCount(s);
    if (n === undefined) throw new Error(`bench scale: bad size "${s}" (e.g. 0,200k,1M)`);
    return n;
  });
  return [...new Set(parsed)].sort((a, b) => a - b);
}

/** One store instance (a schema, a file): filling, counting, opening. */
interface Driver {
  name: string;
  /** Fill events numbered [first, last] (see `fill` of each store for what event n looks like). */
  fill(first: number, last: number): Promise<void>;
  count(): Promise<number>;
  open(): EventStore;
  /** Drops what it made. */
  close(): Promise<void>;
}

/** The sized store, with the raw baseline beside it. */
interface MainDriver extends Driver {
  /** A table with the same columns, indexes and rows as the events table, for the raw INSERTs. */
  copyToRaw(): Promise<void>;
  /**
   * Writes out what the bench's own bulk load left dirty (the fill and the raw copy: about 1 GB at
   * 1 M events on Postgres), so that the measurements that follow see the store at that size, not
   * the server flushing the bench's load underneath them; what it did, for the report.
   */
  settle(): Promise<string>;
  rawInsert(e: DomainEvent, now: Date): Promise<void>;
  /** A new reference store of the same kind beside it (`empty`, `page`). */
  reference(label: string): Promise<Driver>;
  /** What the server is (its memory settings), for the report. */
  describe(): Promise<string>;
}

const base = Date.now() - 2 * 86_400_000;
/** When fill event n occurred (the fill spaces them `SPACING_MS` apart, two days back). */
export const fillTime = (n: number) => new Date(base + n * SPACING_MS);

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

/** A deterministic spread of sample points (no Math.random: runs compare). */
const pick = (i: number, n: number) => (i * 7919 + 13) % Math.max(1, n);

/** A seeded generator (mulberry32) for the bootstrap: runs compare. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The p99 of `BOOTSTRAP` resamples (with replacement) of `ms`, in resample order. */
function bootstrapP99(ms: number[], random: () => number): number[] {
  const n = ms.length;
  const k = Math.min(n - 1, Math.max(0, Math.ceil(0.99 * n) - 1));
  const buf = new Float64Array(n);
  const out: number[] = [];
  for (let b = 0; b < BOOTSTRAP; b++) {
    for (let j = 0; j < n; j++) buf[j] = ms[Math.floor(random() * n)]!;
    buf.sort();
    out.push(buf[k]!);
  }
  return out;
}

/** The 2.5th and 97.5th percentiles of `values`, rounded. */
function interval(values: number[]): [number, number] {
  const sorted = [...values].sort((a, b) => a - b);
  return [percentile(sorted, 2.5), percentile(sorted, 97.5)];
}

const median = (values: number[]) => {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** A store measured side by side with the others: its coordinator, what it holds. */
interface Target {
  label: string;
  store: EventStore;
  coordinator: EventDrivenCoordinator;
  handled: () => number;
  /** Fill events numbered below this are gone (pruned); `filled` is the highest one. */
  low: number;
  filled: number;
}

async function target(label: string, store: EventStore, low: number, filled: number): Promise<Target> {
  const { coordinator, handled } = await countingCoordinator(store, {
    eventType: 'ScaleHappened',
    name: 'scale-e2e',
  });
  return { label, store, coordinator, handled, low, filled };
}

/** Fill event i of a target's spread, among those it still holds. */
const fillPoint = (t: Target, i: number) => t.low + pick(i, t.filled - t.low);
/** Windows of 10 s (1 000 fill events) spread over what a target holds; empty on the empty store. */
const window = (t: Target, i: number) => {
  const from = fillTime(fillPoint(t, i));
  return { from, to: new Date(from.getTime() + 10_000) };
};

/** The query shapes; each call returns what the query returned. */
const SHAPES: Record<string, (t: Target, i: number) => Promise<unknown>> = {
  'history by type': (t, i) => t.store.read({ eventType: `Scale${i % TYPES}`, limit: 100, order: 'desc' }),
  'history by type, next page': (t, i) =>
    t.store.read({ eventType: `Scale${i % TYPES}`, afterPosition: String(fillPoint(t, i)), limit: 100 }),
  'history by aggregate': (t, i) =>
    t.store.read({ aggregateId: `agg-${pick(i, aggregatesAt(t.filled))}`, limit: 100, order: 'desc' }),
  'history by time window': (t, i) => t.store.read({ ...window(t, i), limit: 100 }),
  'history by time window and type': (t, i) =>
    t.store.read({ ...window(t, i), eventType: `Scale${i % TYPES}`, limit: 100 }),
  'history by time window and aggregate type': (t, i) =>
    t.store.read({ ...window(t, i), aggregateType: `Agg${i % 5}`, limit: 100 }),
  status: (t) => t.coordinator.getCoordinatorStatus(),
  'dead letters': (t) => t.store.getDeadLetters({ limit: 100 }),
  'unprocessed events': (t) => t.store.getUnprocessedEvents({ limit: 100 }),
};

/**
 * Every shape's samples interleaved call by call over the targets (the order rotating with each
 * sample), so a burst of machine noise lands on all of them: per target p50, p99 with its
 * bootstrap interval, mean rows returned; the sized store's p99 against the page store's (≤ 10 ms
 * and ≤ 2×), with the bootstrap interval of that ratio.
 */
async function queries(targets: { empty: Target; page: Target; sized: Target }) {
  const list = [targets.empty, targets.page, targets.sized];
  const out: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(SHAPES)) {
    for (let i = 0; i < WARMUP_SAMPLES; i++) for (const t of list) await fn(t, i);
    const ms = list.map(() => [] as number[]);
    const rows = list.map(() => 0);
    for (let i = 0; i < SAMPLES; i++) {
      for (let k = 0; k < list.length; k++) {
        const j = (i + k) % list.length;
        const started = performance.now();
        const result = await fn(list[j]!, i);
        ms[j]!.push(performance.now() - started);
        if (Array.isArray(result)) rows[j]! += result.length;
      }
    }
    const random = seeded(0x5ca1e);
    const boot = ms.map((m) => bootstrapP99(m, random));
    const figures = ms.map((samples, j) => {
      const sorted = [...samples].sort((a, b) => a - b);
      return {
        p50: percentile(sorted, 50),
        p99: percentile(sorted, 99),
        p99Interval: interval(boot[j]!),
        rows: round(rows[j]! / SAMPLES, 1),
      };
    });
    const [empty, page, sized] = figures as [(typeof figures)[0], (typeof figures)[0], (typeof figures)[0]];
    const ratio = round(sized.p99 / page.p99, 2);
    const ratios = boot[2]!.map((v, b) => v / boot[1]![b]!);
    out[name] = {
      empty,
      page,
      [`at ${targets.sized.label}`]: sized,
      p99Ratio: ratio,
      p99RatioInterval: interval(ratios).map((r) => round(r, 2)),
      goal: '<= 10 ms and <= 2x the page store, same windows',
      met: sized.p99 <= 10 && ratio <= 2,
    };
  }
  return out;
}

/**
 * End to end in alternating rounds (the order rotating): publishEvent ×8 → handled → completed on
 * the sized store and on the empty one, and raw INSERTs ×8 into the sized store's copy; medians
 * of each rate and of the per-round ratios (sized ÷ empty: the goal's ≥ 0.9; sized ÷ raw).
 */
async function endToEnd(driver: MainDriver, sized: Target, empty: Target) {
  const evco = (t: Target) => async () => {
    const list = e2eEvents(E2E_EVENTS);
    const goal = t.handled() + E2E_EVENTS;
    await concurrently(8, E2E_EVENTS, async (i) => {
      await t.coordinator.publishEvent(list[i]!);
    });
    while (t.handled() < goal) await new Promise((r) => setTimeout(r, 1));
    await t.coordinator.waitForIdle({ timeoutMs: 60_000 });
  };
  const raw = async () => {
    const list = e2eEvents(E2E_EVENTS);
    const now = new Date();
    await concurrently(8, E2E_EVENTS, (i) => driver.rawInsert(list[i]!, now));
  };
  const contenders = [evco(sized), evco(empty), raw];
  const rates: number[][] = contenders.map(() => []);
  for (let round = -1; round < E2E_ROUNDS; round++) {
    for (let k = 0; k < contenders.length; k++) {
      const j = (Math.max(0, round) + k) % contenders.length;
      const m = await measure(E2E_EVENTS, contenders[j]!, { warmup: 0, rounds: 1 });
      if (round >= 0) rates[j]!.push(m.opsPerSec);
    }
  }
  const [atSize, atZero, rawRates] = rates as [number[], number[], number[]];
  const ratio = round(median(atSize.map((r, i) => r / atZero[i]!)), 3);
  return {
    rounds: E2E_ROUNDS,
    events: E2E_EVENTS,
    evcoPerSec: { [`at ${sized.label}`]: Math.round(median(atSize)), 'at 0': Math.round(median(atZero)) },
    ratio,
    ratioPerRound: atSize.map((r, i) => round(r / atZero[i]!, 2)),
    rawPerSec: Math.round(median(rawRates)),
    ratioToRaw: round(median(atSize.map((r, i) => r / rawRates[i]!)), 3),
    goal: '>= 0.9 (median of the rounds, sized / empty)',
    met: ratio >= 0.9,
  };
}

/** Appenders running next to a prune, each appending one event per call. */
const APPENDERS = 4;
/** The first prune-off window, before any prune window. */
const FIRST_OFF_MS = 500;
/** An off window lasts as long as the prune window before it, and at least this. */
const MIN_OFF_MS = 200;

/**
 * Prunes next to `APPENDERS` appenders on another connection that append throughout, in
 * alternating windows: off (appenders alone), then on (one `pruneEvents` call over the next chunk
 * of the oldest events), off, on … Three modes, each over its own stretch of the oldest events:
 * back to back (batches of 10 000, an operator's `pruneEvents`), paced as background retention
 * does by default (batches of 1 000, duty cycle 0.25) and held at the goal's rate (batches of
 * 1 000, `maxEventsPerSecond` 52 500, see PRUNE_PACED_CAP; up to a million events). For each: the
 * prune's events/s over its on windows, and the median over the on windows of the appends' rate
 * in it ÷ the mean of the off windows on either side (goal: ≥ 0.8); whether both held. On SQLite
 * the admin client's store is one of the file's by name, so its batches run in store-sqlite's own
 * prune worker thread (`pruneThread: 'worker'`, the default), beside the appenders' thread.
 */
async function prune(driver: Driver, low: number, filled: number) {
  const appender = driver.open();
  const admin = await createAdminClient({ store: driver.open(), logger: silentLogger });
  let appended = 0;
  let stop = false;
  const appenders = Promise.all(
    Array.from({ length: APPENDERS }, async (_, w) => {
      while (!stop) {
        await appender.append(
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
  const off = async (ms: number) => {
    const count = appended;
    const started = performance.now();
    await new Promise((r) => setTimeout(r, ms));
    return ((appended - count) / (performance.now() - started)) * 1000;
  };
  let cursor = low;
  const run = async (
    events: number,
    chunk: number,
    batchSize: number,
    dutyCycle: number,
    maxEventsPerSecond?: number,
  ) => {
    const upTo = Math.min(filled, cursor + events);
    const offRates = [await off(FIRST_OFF_MS)];
    const onRates: number[] = [];
    let removed = 0;
    let onMs = 0;
    while (cursor < upTo) {
      const next = Math.min(upTo, cursor + chunk);
      const count = appended;
      const started = performance.now();
      const result = await admin.pruneEvents({
        before: fillTime(next),
        batchSize,
        dutyCycle,
        maxEventsPerSecond,
      });
      const ms = performance.now() - started;
      onRates.push(((appended - count) / ms) * 1000);
      removed += result.removed;
      onMs += ms;
      cursor = next;
      offRates.push(await off(Math.max(MIN_OFF_MS, ms)));
    }
    const ratios = onRates.map((r, k) => r / ((offRates[k]! + offRates[k + 1]!) / 2));
    const eventsPerSec = Math.round((removed / onMs) * 1000);
    const ratio = round(median(ratios), 3);
    return {
      batchSize,
      dutyCycle,
      ...(maxEventsPerSecond ? { maxEventsPerSecond } : {}),
      removed,
      windows: onRates.length,
      onMs: round(onMs),
      eventsPerSec,
      concurrentAppends: {
        appenders: APPENDERS,
        offPerSec: Math.round(median(offRates)),
        onPerSec: Math.round(median(onRates)),
        ratio,
        ratioInterquartile: [
          round(
            percentile(
              [...ratios].sort((a, b) => a - b),
              25,
            ),
            2,
          ),
          round(
            percentile(
              [...ratios].sort((a, b) => a - b),
              75,
            ),
            2,
          ),
        ],
      },
      met: eventsPerSec >= PRUNE_GOAL_RATE && ratio >= APPEND_GOAL_RATIO,
    };
  };
  try {
    if (!appender.pruneEvents) return { low, result: 'n/a (the store has no pruneEvents)' as const };
    const result = {
      goal: `>= ${PRUNE_GOAL_RATE} events/s and concurrent appends ratio >= ${APPEND_GOAL_RATIO} (at most 20% slower), at once; ratio: median over alternating windows`,
      operator: await run(Math.min(Math.round(filled / 10), 500_000), 20_000, PRUNE_BATCH, 1),
      background: await run(
        Math.min(Math.round(filled / 20), 100_000),
        5_000,
        DEFAULT_PRUNE_BATCH,
        DEFAULT_RETENTION_DUTY_CYCLE,
      ),
      atGoalRate: await run(
        Math.min(Math.round((3 * filled) / 10), 1_000_000),
        25_000,
        DEFAULT_PRUNE_BATCH,
        1,
        PRUNE_PACED_CAP,
      ),
    };
    return { low: cursor, result };
  } finally {
    stop = true;
    await appenders;
    await appender.close();
    await admin.close();
  }
}

async function runStore(driver: MainDriver, requested: number[]) {
  const rows: Array<Record<string, unknown>> = [];
  const page = await driver.reference('page');
  const pageStore = page.open();
  const pageTarget = await target('page', pageStore, 0, PAGE_EVENTS);
  const server = await driver.describe();
  try {
    await page.fill(1, PAGE_EVENTS);
    let filled = 0;
    let low = 0;
    for (const size of requested.filter((s) => s > 0)) {
      const missing = size - (await driver.count());
      if (missing > 0) {
        const started = performance.now();
        await driver.fill(filled + 1, filled + missing);
        filled += missing;
        process.stderr.write(
          `bench scale: ${driver.name} filled to ${size} in ${Math.round(performance.now() - started)} ms\n`,
        );
      }
      await driver.copyToRaw();
      // A fresh empty store at every size: the end-to-end rounds append to it.
      const empty = await driver.reference('empty');
      const emptyStore = empty.open();
      const store = driver.open();
      try {
        const settled = await driver.settle();
        const events = await driver.count();
        const emptyTarget = await target('empty', emptyStore, 0, 0);
        const sized = await target(String(size), store, low, filled);
        const load = loadAverage();
        const started = new Date().toISOString();
        let q: Record<string, unknown>;
        let e2e: Awaited<ReturnType<typeof endToEnd>>;
        try {
          q = await queries({ empty: emptyTarget, page: pageTarget, sized });
          e2e = await endToEnd(driver, sized, emptyTarget);
        } finally {
          await emptyTarget.coordinator.shutdown();
          await sized.coordinator.shutdown();
        }
        const pruned = await prune(driver, low, filled);
        low = pruned.low;
        rows.push({
          size,
          events,
          started,
          load: `${load} -> ${loadAverage()}`,
          settled,
          queries: q,
          e2e,
          prune: pruned.result,
        });
      } finally {
        await store.close();
        await emptyStore.close();
        await empty.close();
      }
      process.stderr.write(`bench scale: ${driver.name} at ${size} done\n`);
    }
  } finally {
    await pageTarget.coordinator.shutdown();
    await pageStore.close();
    await page.close();
  }
  return { server, sizes: rows, goals: goals(rows) };
}

const loadAverage = () =>
  loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');

/** Every size's verdicts, each against its references measured in the same windows. */
function goals(rows: Array<Record<string, unknown>>) {
  if (rows.length === 0) return 'need a size above 0';
  const out: Record<string, unknown> = {};
  for (const row of rows) {
    const at: Record<string, unknown> = {};
    for (const [name, q] of Object.entries(
      row.queries as Record<string, { p99Ratio: number; met: boolean }>,
    )) {
      const sized = Object.entries(q).find(([k]) => k.startsWith('at '))?.[1] as { p99: number } | undefined;
      at[name] = `${q.met ? 'met' : 'NOT met'}: p99 ${sized?.p99} ms, ${q.p99Ratio}x the page store`;
    }
    const e2e = row.e2e as { ratio: number; met: boolean };
    at['end to end'] = `${e2e.met ? 'met' : 'NOT met'}: ${e2e.ratio}x the empty store`;
    if (typeof row.prune === 'object' && row.prune) {
      for (const [name, run] of Object.entries(row.prune as Record<string, unknown>)) {
        if (typeof run !== 'object' || !run) continue;
        const r = run as { eventsPerSec: number; concurrentAppends: { ratio: number }; met: boolean };
        at[`prune (${name})`] =
          `${r.met ? 'met' : 'NOT met'}: ${r.eventsPerSec} events/s, appends ${r.concurrentAppends.ratio}x`;
      }
    }
    out[`at ${row.size}`] = at;
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

/**
 * A store-postgres schema of its own on the bench's server (dropped first if left over). Fill
 * event n occurs at `spread.base` + n × `spread.spacingMs` (by default `fillTime(n)`).
 */
export async function postgresSchema(
  admin: pg.Pool,
  schema: string,
  spread: { base: number; spacingMs: number } = { base, spacingMs: SPACING_MS },
): Promise<Driver> {
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  const setup = createPostgresStore({ connectionString: databaseUrl, schema });
  await setup.migrate();
  await setup.close();
  const secondaryIndexes = async () =>
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
        const rebuild = last - first > 2_000_000 ? await secondaryIndexes() : [];
        for (const i of rebuild) await client.query(`DROP INDEX ${schema}."${i.indexname}"`);
        for (let from = first; from <= last; from += PG_CHUNK) {
          await client.query(
            `INSERT INTO ${schema}.events (position, event_id, event_type, aggregate_id, aggregate_type,
               aggregate_version, event_data, metadata, occurred_at, recorded_at)
             SELECT g, gen_random_uuid(), 'Scale' || (g % ${TYPES}), ${fillAggregate('g')}, 'Agg' || (g % 5),
               NULL, jsonb_build_object('n', g), '{"schemaVersion":1}'::jsonb,
               $1::timestamptz + g * interval '${spread.spacingMs} milliseconds', $1::timestamptz + g * interval '${spread.spacingMs} milliseconds'
             FROM generate_series($2::bigint, $3::bigint) g`,
            [new Date(spread.base).toISOString(), from, Math.min(last, from + PG_CHUNK - 1)],
          );
        }
        for (const i of rebuild) await client.query(i.indexdef);
        await client.query(`VACUUM ANALYZE ${schema}.events`);
      } finally {
        client.release();
      }
    },
    async count() {
      return Number((await admin.query(`SELECT count(*)::bigint AS n FROM ${schema}.events`)).rows[0].n);
    },
    open: () => createPostgresStore({ connectionString: databaseUrl, schema, poolSize: 10 }),
    async close() {
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    },
  };
}

async function postgresDriver(): Promise<MainDriver> {
  const admin = new pg.Pool({ connectionString: databaseUrl, max: 8 });
  const main = await postgresSchema(admin, PG_SCHEMA);
  const rawInsert = `INSERT INTO ${PG_RAW}.events (event_id, event_type, aggregate_id, aggregate_type,
    aggregate_version, event_data, metadata, occurred_at, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`;
  return {
    ...main,
    reference: (label) => postgresSchema(admin, `${PG_SCHEMA}_${label}`),
    async describe() {
      const { rows } = await admin.query<{ name: string; setting: string }>(
        `SELECT name, current_setting(name) AS setting FROM pg_settings
          WHERE name IN ('shared_buffers', 'max_wal_size', 'autovacuum', 'fsync', 'server_version')`,
      );
      return rows.map((r) => `${r.name}=${r.setting}`).join(', ');
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
    async close() {
      await main.close();
      await admin.query(`DROP SCHEMA IF EXISTS ${PG_RAW} CASCADE`);
      await admin.end();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// SQLite
// ---------------------------------------------------------------------------------------------

/** A store-sqlite file of its own in `dir`, and the connection the bench fills it through. */
async function sqliteFile(
  dir: string,
  name: string,
): Promise<Driver & { db: Database.Database; file: string }> {
  const file = join(dir, `${name}.db`);
  const setup = createSqliteStore({ filename: file });
  await setup.migrate();
  await setup.close();
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  return {
    name: 'sqlite',
    db,
    file,
    async fill(first, last) {
      // Positions after every stored one (the end-to-end rounds appended some); times by number.
      const offset = lastSqlitePosition(db) - first + 1;
      // Into the period tables as appends would have placed them (store-sqlite's default size).
      fillSqlitePeriods(db, first + offset, last + offset, (from, to) => ({
        sql: `WITH RECURSIVE g(n) AS (SELECT CAST(? AS INTEGER) UNION ALL SELECT n + 1 FROM g WHERE n < ?)
         SELECT n + ${offset}, printf('00000000-0000-7000-8000-%012d', n), 'Scale' || (n % ${TYPES}), ${fillAggregate('n')},
           'Agg' || (n % 5), NULL, json_object('n', n), '{"schemaVersion":1}',
           strftime('%Y-%m-%dT%H:%M:%fZ', ?, '+' || (n * ${SPACING_MS} / 1000.0) || ' seconds'),
           strftime('%Y-%m-%dT%H:%M:%fZ', ?, '+' || (n * ${SPACING_MS} / 1000.0) || ' seconds')
         FROM g`,
        params: [from - offset, to - offset, new Date(base).toISOString(), new Date(base).toISOString()],
      }));
      db.exec('ANALYZE');
    },
    async count() {
      return countSqliteEvents(db);
    },
    open: () => createSqliteStore({ filename: file }),
    async close() {
      db.close();
      for (const suffix of ['', '-wal', '-shm']) rmSync(`${file}${suffix}`, { force: true });
    },
  };
}

async function sqliteDriver(): Promise<MainDriver> {
  const dir = mkdtempSync(join(tmpdir(), 'evco-bench-scale-'));
  const main = await sqliteFile(dir, 'scale');
  const { db } = main;
  let insertRaw: Database.Statement | undefined;
  return {
    ...main,
    async copyToRaw() {
      db.exec('DROP TABLE IF EXISTS raw_events');
      // One table of the events' shape holding every event (the baseline: no periods, no keys).
      createRawEventsTable(db);
      for (const table of sqlitePeriodTables(db)) db.exec(`INSERT INTO raw_events SELECT * FROM ${table}`);
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
    reference: (label) => sqliteFile(dir, label),
    async describe() {
      const { v } = db.prepare('SELECT sqlite_version() AS v').get() as { v: string };
      return `SQLite ${v} (better-sqlite3), WAL, files in ${dir}`;
    },
    async close() {
      await main.close();
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
