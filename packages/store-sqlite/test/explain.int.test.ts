import { makeEvent } from '@evco/testkit';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSqliteStore, type SqliteStore } from '../src/index.js';
import { PERIOD_TABLE, withPrefix } from '../src/sql.js';
import { tempDir } from './support.js';

const ROWS = 1_000_000;
/** Five period tables of 200 000 events (the default periodEvents). */
const PERIOD = 200_000;
const PERIODS = ROWS / PERIOD;
const T0 = new Date('2026-01-01T00:00:00.000Z');
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

interface Captured {
  sql: string;
  args: unknown[];
}

interface PlanRow {
  id: number;
  parent: number;
  detail: string;
}

/**
 * A step that reads a whole table, or sorts what it found: `SCAN events`, `SCAN d USING INDEX …`
 * (an index walked end to end), `USE TEMP B-TREE FOR ORDER BY` (a sort). SEARCH steps are
 * ranges of an index; scans of `json_each` (the caller's list) and of the small tables are fine.
 */
function wholeTableSteps(plan: PlanRow[], prefix: string): string[] {
  const big = new RegExp(
    `^SCAN (${prefix}events(_\\w+)?|${prefix}event_keys|${prefix}deliveries|e|d|w|b)\\b`,
  );
  return plan
    .map((r) => r.detail)
    .filter((d) => big.test(d) || /TEMP B-TREE FOR (ORDER BY|DISTINCT|GROUP BY)/.test(d));
}

/**
 * 1 000 000 events and 100 000 open or dead deliveries written with one recursive CTE each
 * (indexes built after the load), ANALYZE run so the planner knows the sizes (what
 * `PRAGMA optimize` gives a long-lived file), then every port method once while the statements
 * it runs are recorded with their arguments; each is then explained with those arguments.
 */
describe(`query plans at ${ROWS} rows`, () => {
  const tmp = tempDir();
  const prefix = 'evco_';
  let db: Database.Database;
  let store: SqliteStore;
  const captured: Captured[] = [];
  let capturing = false;

  beforeAll(async () => {
    db = new Database(tmp.file());
    const migrate = createSqliteStore({ database: db, tablePrefix: prefix });
    await migrate.migrate?.();
    // Periods 2-5 as the store starts them (period 1 is the table migration 5 renamed).
    for (let n = 2; n <= PERIODS; n++) {
      db.exec(withPrefix(PERIOD_TABLE(n), prefix));
      db.prepare(`INSERT INTO "${prefix}periods" (n, first_position) VALUES (?, ?)`).run(n, (n - 1) * PERIOD);
    }
    const periodTables = Array.from({ length: PERIODS }, (_, i) => `${prefix}events_${i + 1}`);
    const indexes = db
      .prepare(
        `SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL
         AND tbl_name IN (SELECT value FROM json_each(?))`,
      )
      .all(JSON.stringify([...periodTables, `${prefix}deliveries`, `${prefix}event_keys`])) as Array<{
      name: string;
      sql: string;
    }>;
    for (const i of indexes) db.exec(`DROP INDEX "${i.name}"`);
    db.exec('PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF');
    for (let n = 1; n <= PERIODS; n++) {
      db.prepare(
        `WITH RECURSIVE g(n) AS (SELECT ? UNION ALL SELECT n + 1 FROM g WHERE n < ?)
         INSERT INTO "${prefix}events_${n}" (position, id, event_type, aggregate_id, aggregate_type, aggregate_version,
           event_data, metadata, occurred_at, recorded_at)
         SELECT n, 'id-' || n, 'Type' || (n % 50), 'agg-' || (n % 100000),
           CASE WHEN n % 3 = 0 THEN NULL ELSE 'Agg' || (n % 7) END, NULL, '{}',
           '{"schemaVersion":1,"correlationId":"corr-' || (n / 5) || '"}',
           strftime('%Y-%m-%dT%H:%M:%fZ', ?, '+' || n || ' seconds'),
           strftime('%Y-%m-%dT%H:%M:%fZ', ?, '+' || n || ' seconds')
         FROM g`,
      ).run(
        Math.max(1, (n - 1) * PERIOD),
        n * PERIOD - 1 + (n === PERIODS ? 1 : 0),
        T0.toISOString(),
        T0.toISOString(),
      );
    }
    db.exec(`INSERT INTO "${prefix}event_keys" (position, id)
      ${periodTables.map((t) => `SELECT position, id FROM "${t}"`).join(' UNION ALL ')}`);
    // Every tenth event has a delivery not done: a large backlog, one dead in ten.
    db.prepare(
      `WITH RECURSIVE g(n) AS (SELECT 10 UNION ALL SELECT n + 10 FROM g WHERE n < ?)
       INSERT INTO "${prefix}deliveries" (event_position, handler, aggregate_id, ordered, status, attempts,
         next_attempt_at, is_replay, ready, created_at, updated_at)
       SELECT n, 'h' || (n / 10 % 10), 'agg-' || (n % 100000), 1,
         CASE WHEN n % 100 = 30 THEN 'dead' ELSE 'pending' END, 0, ?, 0, 0, ?, ?
       FROM g`,
    ).run(ROWS, T0.toISOString(), T0.toISOString(), T0.toISOString());
    for (const i of indexes) db.exec(i.sql);
    // A prune has passed the first 100 000 positions: the watermark lies inside period 1, whose
    // statements then carry its bound.
    db.prepare(`UPDATE "${prefix}prune_state" SET watermark = 100000`).run();
    db.prepare(`DELETE FROM "${prefix}event_keys" WHERE position < 100000`).run();
    db.exec('ANALYZE; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL');
    await migrate.close();

    db = new Database(tmp.file());
    const prepare = db.prepare.bind(db);
    (db as { prepare: unknown }).prepare = (sql: string) => {
      const statement = prepare(sql);
      for (const method of ['run', 'get', 'all', 'iterate'] as const) {
        const original = statement[method].bind(statement) as (...args: unknown[]) => unknown;
        (statement as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
          if (capturing) captured.push({ sql, args });
          return original(...args);
        };
      }
      return statement;
    };
    store = createSqliteStore({ database: db, tablePrefix: prefix });
    await store.registerSubscriptions(
      Array.from({ length: 10 }, (_, i) => ({
        handler: `h${i}`,
        eventType: `Type${i}`,
        ordering: 'aggregate',
      })),
      { consumerId: 'c', now: T0, ttlMs: 10 * 365 * 86_400_000 },
    );
    capturing = true;

    const later = at(ROWS + 10);
    const mid = at(500_000);
    const window = (seconds: number) => ({ from: mid, to: at(500_000 + seconds) });
    const first = await store.append([makeEvent({ eventType: 'Type1' })], { now: later });
    await store.append(
      [makeEvent({ eventType: 'Type1' }), makeEvent({ eventType: 'Type2', aggregateVersion: 9 })],
      {
        now: later,
      },
    );
    await store.read({ limit: 100 });
    await store.read({ afterPosition: '10', limit: 100 });
    await store.read({ eventType: 'Type7', afterPosition: '10', limit: 100 });
    await store.read({ limit: 100, order: 'desc' });
    await store.read({ eventType: 'Type7', limit: 100 });
    await store.read({ eventType: ['Type7', 'Type8'], limit: 100 });
    await store.read({ aggregateId: 'agg-42', limit: 100 });
    await store.read({ aggregateType: 'Agg3', limit: 100 });
    await store.read({ correlationId: 'corr-4242', limit: 100 });
    await store.read({ afterPosition: '500000', limit: 1000 });
    await store.read({ beforePosition: '500000', limit: 1000, order: 'desc' });
    await store.read({ afterPosition: '500000', eventType: 'Type9', limit: 1000 });
    await store.read({ ...window(60), limit: 100 });
    await store.read({ ...window(600), limit: 100, order: 'desc' });
    await store.read({ ...window(3600), eventType: 'Type7', limit: 10 });
    await store.read({ ...window(3600), eventType: ['Type7', 'Type8'], limit: 10 });
    await store.read({ ...window(3600), aggregateType: 'Agg3', limit: 100 });
    await store.read({ ...window(86_400), aggregateId: 'agg-42', limit: 100 });
    await store.read({ ...window(3600), afterPosition: '501000', limit: 100 });
    await store.read({ from: at(ROWS - 3000), eventType: 'Type7', limit: 100 });
    await store.read({ to: at(3600), limit: 100, order: 'desc' });
    await store.getEvent(first.events[0]!.id);
    await store.getDeliveries(first.events[0]!.id);
    const claimed = await store.claimDue({
      consumerId: 'c',
      handlers: ['h1', 'h2'],
      now: later,
      leaseMs: 1000,
      limit: 50,
    });
    await store.complete(claimed.slice(0, 10), { now: later });
    await store.fail(
      claimed.slice(10, 20).map((c) => ({ ...c, error: 'x', nextAttemptAt: later })),
      { now: later },
    );
    await store.release(claimed.slice(20), { now: later });
    await store.getUnprocessedEvents({ limit: 100, afterPosition: '400000' });
    await store.getUnprocessedEvents({ limit: 100, handler: 'h4' });
    await store.getDeadLetters({ limit: 100, afterPosition: '400000' });
    await store.getDeadLetters({ limit: 100, handler: 'h4' });
    const dead = await store.getDeadLetters({ limit: 100, handler: 'h3' });
    await store.retryDeadLetters({
      deliveryIds: dead.slice(0, 2).map((d) => d.delivery.deliveryId),
      now: later,
    });
    for (const spec of [
      { ...window(3600), eventType: 'Type5', maxEvents: 100 },
      { ...window(600), maxEvents: 100 },
      { ...window(600), handler: 'h5', maxEvents: 1000 },
    ]) {
      const job = await store.startReplay(spec, { now: later });
      await store.continueReplay(job.id, { now: later, pageSize: 50 });
      await store.continueReplay(job.id, { now: later, pageSize: 50 });
      await store.getReplay(job.id);
    }
    await store.listStaleReplays({ staleBefore: later });
    await store.stats({ now: later });
    capturing = false;
  }, 300_000);

  afterAll(async () => {
    await store?.close();
    db?.close();
    tmp.cleanup();
  });

  it('no statement scans events or deliveries end to end or sorts them (EXPLAIN QUERY PLAN)', () => {
    const seen = new Map<string, Captured>();
    for (const c of captured) if (!seen.has(c.sql)) seen.set(c.sql, c);
    const statements = [...seen.values()].filter((c) => /(events(_\w+)?|event_keys|deliveries)"/.test(c.sql));
    expect(statements.length).toBeGreaterThanOrEqual(30);
    // The shapes ran on the period tables they had to visit: every period was visited by some.
    const visited = new Set(statements.flatMap((c) => c.sql.match(/events_\d+/g) ?? []));
    expect([...visited].sort()).toEqual(
      Array.from({ length: PERIODS + 1 }, (_, i) => `events_${i + 1}`).sort(),
    );
    const offenders: string[] = [];
    for (const { sql, args } of statements) {
      const plan = db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...args) as PlanRow[];
      // The stats counts read the whole backlog by design (marked in sql.ts).
      if (sql.startsWith('-- reads the whole backlog')) continue;
      // An unfiltered read walks the rowid in order and stops at its limit.
      const unfiltered =
        /WHERE 1 = 1( AND position >= \(SELECT watermark FROM "\w+"\))? ORDER BY position (ASC|DESC) LIMIT \?$/.test(
          sql,
        );
      const steps = wholeTableSteps(plan, prefix).filter(
        (s) => !(unfiltered && new RegExp(`^SCAN ${prefix}events_\\d+$`).test(s)),
      );
      if (steps.length > 0) offenders.push(`${steps.join(' | ')} in ${sql}`);
    }
    expect(offenders).toEqual([]);
  });
});
