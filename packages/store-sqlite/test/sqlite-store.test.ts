import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type DomainEvent, type EvcoError, isEvcoError } from '@evco/core';
import { makeEvent } from '@evco/testkit';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { createSqliteStore, SCHEMA_VERSION } from '../src/index.js';
import { MIGRATIONS } from '../src/migrations.js';
import * as SQL from '../src/sql.js';
import { failure, useTempStores } from './store-fixture.js';

const T0 = new Date('2026-01-01T00:00:00.000Z');
const at = (ms: number) => new Date(T0.getTime() + ms);

const { tmp, open } = useTempStores();

/**
 * Messages reach HTTP clients (a 409, a 503): they never carry a server path. Operators find
 * the file in the error's `details` (logged) and in the health details.
 */
function expectFileInDetailsOnly(error: EvcoError, file: string): void {
  expect(error.message).not.toContain(file);
  expect(error.message).not.toContain(tmp.dir);
  expect(error.details).toMatchObject({ file });
}

function sha(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

describe('options', () => {
  it('lists every problem at once, before touching the file system', () => {
    let error: unknown;
    try {
      createSqliteStore({
        filename: '',
        busyTimeoutMs: -5,
        synchronous: 'OFF' as 'FULL',
        tempStore: 'DEFAULT' as 'FILE',
        tablePrefix: 'Bad-Prefix',
        colour: 'blue',
      } as never);
    } catch (e) {
      error = e;
    }
    expect(isEvcoError(error, 'INVALID_OPTIONS')).toBe(true);
    const issues = (error as { issues: Array<{ path: string }> }).issues.map((i) => i.path).sort();
    expect(issues).toEqual([
      'busyTimeoutMs',
      'colour',
      'filename',
      'synchronous',
      'tablePrefix',
      'tempStore',
    ]);
    expect((error as Error).message).toMatch(/^\[evco:store-sqlite\] invalid SQLite store options: /);
    expect(readdirSync(tmp.dir)).toEqual([]);
  });

  it('a path given instead of options is refused with the call to write, before touching the file system', () => {
    const path = tmp.file('events.db');
    let error: unknown;
    try {
      createSqliteStore(path as never);
    } catch (e) {
      error = e;
    }
    expect(isEvcoError(error, 'INVALID_OPTIONS')).toBe(true);
    expect((error as Error).message).toBe(
      "[evco:store-sqlite] invalid SQLite store options: (root): expected an options object, received a string: pass the path as filename, e.g. { filename: './events.db' }",
    );
    expectFileInDetailsOnly(error as EvcoError, path);
    expect(readdirSync(tmp.dir)).toEqual([]);
  });

  it('needs exactly one of filename and database', () => {
    const db = new Database(':memory:');
    const cases: unknown[] = [
      {},
      { filename: tmp.file(), database: db },
      { database: { prepare: 1 } },
      { filename: 'sqlite:' },
    ];
    for (const options of cases) {
      let error: unknown;
      try {
        createSqliteStore(options as never);
      } catch (e) {
        error = e;
      }
      expect(isEvcoError(error, 'INVALID_OPTIONS')).toBe(true);
    }
    db.close();
    expect(readdirSync(tmp.dir)).toEqual([]);
  });

  it('an undefined filename (an unset environment variable) says that neither filename nor database is set', () => {
    expect(() => createSqliteStore({ filename: undefined })).toThrow(
      expect.objectContaining({
        code: 'INVALID_OPTIONS',
        message:
          '[evco:store-sqlite] invalid SQLite store options: filename: give a filename or an open database; neither is set (an undefined filename, say from an unset environment variable, counts as not set)',
      }),
    );
  });

  it('accepts sqlite: URLs and opens the file they name', async () => {
    const absolute = open({ filename: `sqlite://${tmp.file('a.db')}` });
    await absolute.append([makeEvent()], { now: T0 });
    expect(absolute.filename).toBe(tmp.file('a.db'));
    expect(existsSync(tmp.file('a.db'))).toBe(true);
    const plain = open({ filename: `sqlite:${tmp.file('b.db')}` });
    await plain.migrate();
    expect(existsSync(tmp.file('b.db'))).toBe(true);
  });

  it('applies WAL, synchronous and the busy timeout to the file it opens', async () => {
    const store = open({ filename: tmp.file(), synchronous: 'FULL', busyTimeoutMs: 1234 });
    const health = await store.healthCheck();
    expect(health).toMatchObject({
      healthy: true,
      details: { journalMode: 'wal', schemaVersion: SCHEMA_VERSION },
    });
    const db = new Database(tmp.file());
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
    expect(store.capabilities).toEqual({ durable: true, crossProcess: true });
  });

  it('applies synchronous, temp_store and the busy timeout to a passed database only when given', async () => {
    const given = new Database(tmp.file('given.db'));
    await open({ database: given, synchronous: 'FULL', busyTimeoutMs: 4321, tempStore: 'MEMORY' }).migrate();
    expect(given.pragma('synchronous', { simple: true })).toBe(2);
    expect(given.pragma('busy_timeout', { simple: true })).toBe(4321);
    expect(given.pragma('temp_store', { simple: true })).toBe(2);
    given.close();
    const file = new Database(tmp.file('file.db'));
    file.pragma('temp_store = MEMORY');
    await open({ database: file, tempStore: 'FILE' }).migrate();
    expect(file.pragma('temp_store', { simple: true })).toBe(1);
    file.close();
    const untouched = new Database(tmp.file('untouched.db'), { timeout: 777 });
    untouched.pragma('synchronous = OFF');
    untouched.exec('CREATE TEMP TABLE scratch (x)');
    await open({ database: untouched }).migrate();
    expect(untouched.pragma('synchronous', { simple: true })).toBe(0);
    expect(untouched.pragma('busy_timeout', { simple: true })).toBe(777);
    expect(untouched.pragma('temp_store', { simple: true })).toBe(0);
    // temp_store left alone: the application's temporary tables survive.
    expect(untouched.prepare('SELECT count(*) AS n FROM temp.scratch').get()).toEqual({ n: 0 });
    untouched.close();
  });

  it('works in memory for one process, saying it is neither durable nor shared', async () => {
    const store = open({ filename: ':memory:' });
    await store.append([makeEvent()], { now: T0 });
    expect((await store.read({ limit: 10 })).length).toBe(1);
    expect(store.capabilities).toEqual({ durable: false, crossProcess: false });
  });
});

describe('storage', () => {
  it('stores dates as ISO-8601 UTC text, data as JSON text, positions as integers', async () => {
    const store = open({ filename: tmp.file() });
    const event = makeEvent({
      aggregateVersion: 4,
      occurredAt: '2026-03-04T05:06:07.089+05:30',
      eventData: { list: [1, 'two'], nested: { ok: true } },
    });
    const { events } = await store.append([event], { now: at(42) });
    expect(events[0]!.position).toBe('1');
    const db = new Database(tmp.file(), { readonly: true });
    const row = db.prepare('SELECT * FROM evco_events_1').get() as Record<string, unknown>;
    expect(row).toMatchObject({
      position: 1,
      id: event.id,
      occurred_at: '2026-03-03T23:36:07.089Z',
      recorded_at: '2026-01-01T00:00:00.042Z',
      aggregate_version: 4,
      event_data: '{"list":[1,"two"],"nested":{"ok":true}}',
    });
    expect(JSON.parse(row.metadata as string)).toEqual(event.metadata);
    db.close();
  });

  it('hands out frozen events, like every other store', async () => {
    const store = open({ filename: tmp.file() });
    await store.append([makeEvent({ eventData: { nested: { list: [1] } } })], { now: T0 });
    const [e] = await store.read({ limit: 1 });
    expect(Object.isFrozen(e)).toBe(true);
    expect(Object.isFrozen((e!.eventData as { nested: { list: number[] } }).nested.list)).toBe(true);
    expect(Object.isFrozen(e!.metadata)).toBe(true);
  });

  it('refuses occurredAt outside the years 0000-9999 before any I/O, and takes any query bound', async () => {
    const store = open({ filename: tmp.file() });
    // Core refuses such a date (years 1-9999) in createDomainEvent; the store still defends
    // itself against a hand-built event.
    const far = { ...makeEvent(), occurredAt: new Date(8.64e15) } as DomainEvent;
    const error = await failure(store.append([makeEvent(), far], { now: T0 }));
    expect(error.code).toBe('EVENT_VALIDATION');
    expect(error.message).toContain('[1].occurredAt');
    expect(existsSync(tmp.file())).toBe(false);
    const { events } = await store.append([makeEvent({ occurredAt: at(0) })], { now: T0 });
    const huge = { from: new Date(-8.64e15), to: new Date(8.64e15), limit: 10 };
    expect((await store.read(huge)).map((e) => e.id)).toEqual([events[0]!.id]);
    expect(await store.read({ from: new Date(8.64e15), limit: 10 })).toEqual([]);
    expect(await store.read({ to: new Date(-8.64e15), limit: 10 })).toEqual([]);
  });

  it('never reuses a delivery id, even after retiring the handler that held the newest one', async () => {
    const store = open({ filename: tmp.file() });
    const subscribe = () =>
      store.registerSubscriptions([{ handler: 'h', eventType: 'TestHappened', ordering: 'none' }], {
        consumerId: 'c',
        now: T0,
        ttlMs: 60_000,
      });
    await subscribe();
    await store.append([makeEvent(), makeEvent()], { now: T0 });
    const first = await store.claimDue({
      consumerId: 'c',
      handlers: ['h'],
      now: T0,
      leaseMs: 1000,
      limit: 10,
    });
    expect(await store.retireHandler('h')).toBe(2);
    await subscribe();
    await store.append([makeEvent()], { now: T0 });
    const [second] = await store.claimDue({
      consumerId: 'c',
      handlers: ['h'],
      now: T0,
      leaseMs: 1000,
      limit: 10,
    });
    const oldIds = first.map((c) => Number(c.deliveryId));
    expect(Number(second!.deliveryId)).toBeGreaterThan(Math.max(...oldIds));
    // A stale token of a retired delivery cannot complete anything.
    await store.complete(first, { now: at(1) });
    expect((await store.stats({ now: at(1) })).running).toBe(1);
  });

  it('keeps stores with different table prefixes in one file apart', async () => {
    const a = open({ filename: tmp.file(), tablePrefix: 'app_a_' });
    const b = open({ filename: tmp.file(), tablePrefix: 'app_b_' });
    await a.append([makeEvent(), makeEvent()], { now: T0 });
    await b.append([makeEvent()], { now: T0 });
    expect((await a.read({ limit: 10 })).length).toBe(2);
    expect((await b.read({ limit: 10 })).length).toBe(1);
    const db = new Database(tmp.file(), { readonly: true });
    const tables = (
      db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>
    )
      .map((t) => t.name)
      .filter((n) => n.startsWith('app_'));
    db.close();
    expect(tables.sort()).toEqual(
      [
        'deliveries',
        'events_1',
        'events_kept',
        'event_keys',
        'event_versions',
        'leases',
        'periods',
        'prune_state',
        'pruned',
        'replays',
        'schema_version',
        'subscriptions',
      ]
        .flatMap((t) => [`app_a_${t}`, `app_b_${t}`])
        .sort(),
    );
  });

  it('tells a duplicate id from a version conflict, whatever the prefix is called', async () => {
    const store = open({ filename: tmp.file(), tablePrefix: 'aggregate_version_' });
    const first = makeEvent({ aggregateId: 'a', aggregateVersion: 1 });
    await store.append([first], { now: T0 });
    const duplicate = await failure(store.append([first], { now: T0 }));
    expect(duplicate.code).toBe('DUPLICATE_EVENT');
    // Answered to HTTP clients as a 409: the event id, never the server's path.
    expect(duplicate.message).toContain(first.id);
    expectFileInDetailsOnly(duplicate, tmp.file());
    const clash = makeEvent({ aggregateId: 'a', aggregateVersion: 1 });
    const error = await failure(store.append([clash], { now: T0 }));
    expect(error.code).toBe('CONCURRENCY');
    expect(error).toMatchObject({ aggregateId: 'a', aggregateVersion: 1 });
    expectFileInDetailsOnly(error, tmp.file());
    // The same versioned event twice in one batch is a duplicate too, as in the reference store.
    const twice = makeEvent({ aggregateId: 'b', aggregateVersion: 1 });
    expect((await failure(store.append([twice, twice], { now: T0 }))).code).toBe('DUPLICATE_EVENT');
    expect(await store.read({ aggregateId: 'b', limit: 10 })).toEqual([]);
  });

  it('uses a database the caller opened, and leaves it open on close', async () => {
    const db = new Database(tmp.file());
    const store = open({ database: db });
    await store.append([makeEvent()], { now: T0 });
    await store.close();
    expect(db.open).toBe(true);
    expect((db.prepare('SELECT count(*) AS n FROM evco_events_1').get() as { n: number }).n).toBe(1);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
  });

  it('an open that meets a busy file (SQLITE_BUSY without a wait: switching to WAL beside other processes) tries again within the busy timeout', async () => {
    /** The database, its journal-mode switch failing with SQLITE_BUSY the first `busyTimes` times. */
    const busyAtFirst = (busyTimes: number, name: string) => {
      const db = new Database(tmp.file(name));
      const pragma = db.pragma.bind(db);
      const calls = { journalMode: 0 };
      db.pragma = ((source: string, options?: Database.PragmaOptions) => {
        if (/^journal_mode\s*=/.test(source) && ++calls.journalMode <= busyTimes) {
          throw Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
        }
        return pragma(source, options);
      }) as typeof db.pragma;
      return { db, calls };
    };
    const passing = busyAtFirst(2, 'passing.db');
    const store = open({ database: passing.db, busyTimeoutMs: 2000 });
    await store.append([makeEvent()], { now: T0 });
    expect(passing.calls.journalMode).toBe(3);
    expect(passing.db.pragma('journal_mode', { simple: true })).toBe('wal');
    await store.close();
    passing.db.close();

    // Busy for good: refused, typed, once the busy timeout has run out, with nothing written.
    const stuck = busyAtFirst(Number.POSITIVE_INFINITY, 'stuck.db');
    const refused = open({ database: stuck.db, busyTimeoutMs: 50 });
    const error = await failure(refused.append([makeEvent()], { now: T0 }));
    expect(error.code).toBe('STORE_UNAVAILABLE');
    expect(error.message).toMatch(/locked/);
    expect(stuck.calls.journalMode).toBeGreaterThan(2);
    expect(stuck.db.prepare(SQL.ANY_TABLE).get()).toBeUndefined();
    stuck.db.close();
  });

  it('sees subscriptions, events and claims of another connection to the same file', async () => {
    const a = open({ filename: tmp.file() });
    const b = open({ filename: tmp.file() });
    await a.registerSubscriptions([{ handler: 'h', eventType: 'TestHappened', ordering: 'none' }], {
      consumerId: 'a',
      now: T0,
      ttlMs: 60_000,
    });
    const { deliveries } = await b.append([makeEvent(), makeEvent(), makeEvent()], { now: T0 });
    expect(deliveries).toEqual([1, 1, 1]);
    const byA = await a.claimDue({ consumerId: 'a', handlers: ['h'], now: T0, leaseMs: 1000, limit: 2 });
    const byB = await b.claimDue({ consumerId: 'b', handlers: ['h'], now: T0, leaseMs: 1000, limit: 2 });
    expect(byA.length).toBe(2);
    expect(byB.length).toBe(1);
    expect(new Set([...byA, ...byB].map((c) => c.deliveryId)).size).toBe(3);
  });
});

describe('migrations', () => {
  it('are recorded per version and safe to run again, keeping the data; migrate() says what it did', async () => {
    const first = open({ filename: tmp.file() });
    const created = { fromVersion: 0, toVersion: SCHEMA_VERSION };
    expect(await first.migrate()).toEqual(created);
    await first.append([makeEvent()], { now: T0 });
    // The same store opened (and migrated) the file once: the same answer.
    expect(await first.migrate()).toEqual(created);
    await first.close();
    const second = open({ filename: tmp.file() });
    expect(await second.migrate()).toEqual({ fromVersion: SCHEMA_VERSION, toVersion: SCHEMA_VERSION });
    expect((await second.read({ limit: 10 })).length).toBe(1);
    const db = new Database(tmp.file(), { readonly: true });
    const versions = db.prepare('SELECT version FROM evco_schema_version').all() as Array<{
      version: number;
    }>;
    db.close();
    expect(versions.map((v) => v.version)).toEqual(Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1));
  });

  it('upgrades a version 1 file in place: its events gain the correlation and causation indexes', async () => {
    const db = new Database(tmp.file());
    db.exec(
      'CREATE TABLE "evco_schema_version" (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)',
    );
    db.exec(MIGRATIONS[0]!.sql.replaceAll('{p}', 'evco_'));
    db.prepare('INSERT INTO evco_schema_version VALUES (1, ?, ?)').run(MIGRATIONS[0]!.name, T0.toISOString());
    const root = makeEvent();
    const effect = makeEvent({ metadata: { correlationId: root.id, causationId: root.id } });
    const insert = db.prepare(
      'INSERT INTO evco_events (id, event_type, aggregate_id, event_data, metadata, occurred_at, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    for (const e of [root, effect]) {
      insert.run(
        e.id,
        e.eventType,
        e.aggregateId,
        JSON.stringify(e.eventData),
        JSON.stringify(e.metadata),
        T0.toISOString(),
        T0.toISOString(),
      );
    }
    db.close();
    const store = open({ filename: tmp.file() });
    expect(await store.migrate()).toEqual({ fromVersion: 1, toVersion: SCHEMA_VERSION });
    expect((await store.read({ correlationId: root.id, limit: 10 })).map((e) => e.id)).toEqual([
      root.id,
      effect.id,
    ]);
    expect((await store.read({ causationId: root.id, limit: 10 })).map((e) => e.id)).toEqual([effect.id]);
    const check = new Database(tmp.file(), { readonly: true });
    const indexes = (
      check.prepare("SELECT name FROM sqlite_master WHERE type = 'index'").all() as Array<{ name: string }>
    ).map((r) => r.name);
    check.close();
    expect(indexes).toEqual(
      expect.arrayContaining([
        'evco_events_by_correlation',
        'evco_events_by_causation',
        'evco_deliveries_by_replay',
      ]),
    );
  });

  /** What a newer release's migration leaves in the file: a version row past SCHEMA_VERSION. */
  function recordNewerVersion(file: string): void {
    const db = new Database(file);
    db.prepare('INSERT INTO evco_schema_version (version, name, applied_at) VALUES (?, ?, ?)').run(
      SCHEMA_VERSION + 1,
      'from a newer release',
      T0.toISOString(),
    );
    db.close();
  }

  it('refuses a file written by a newer schema version, naming it (in details) and leaving it untouched', async () => {
    const store = open({ filename: tmp.file() });
    await store.append([makeEvent()], { now: T0 });
    await store.close();
    recordNewerVersion(tmp.file());
    const before = sha(tmp.file());
    const newer = open({ filename: tmp.file() });
    const error = await failure(newer.append([makeEvent()], { now: T0 }));
    expect(error.code).toBe('STORE_SCHEMA');
    expectFileInDetailsOnly(error, tmp.file());
    expect(error.message).toContain(`schema version ${SCHEMA_VERSION + 1}`);
    expect(sha(tmp.file())).toBe(before);
    expect((await newer.healthCheck()).healthy).toBe(false);
  });

  it('a store already open when a newer version migrates the file says so in its health check', async () => {
    const store = open({ filename: tmp.file() });
    await store.append([makeEvent()], { now: T0 });
    expect((await store.healthCheck()).healthy).toBe(true);
    // A newer release sharing the file migrates it while this store runs.
    recordNewerVersion(tmp.file());
    const health = await store.healthCheck();
    expect(health.healthy).toBe(false);
    expect(health.details.error).toBe(
      `[evco:store-sqlite] the SQLite file is at schema version ${SCHEMA_VERSION + 1}, newer than this process knows (${SCHEMA_VERSION}): a newer @evco/store-sqlite migrated it while this process ran; replace this process with one running that release`,
    );
    await store.close();
  });

  it.each([
    ['a text file', () => Buffer.from('this is not a database, just some text\n'.repeat(200))],
    [
      'a database whose pages are garbage',
      () => {
        const db = new Database(tmp.file('seed.db'));
        db.exec('CREATE TABLE t (x); INSERT INTO t VALUES (1);');
        db.close();
        const bytes = readFileSync(tmp.file('seed.db'));
        for (let i = 100; i < bytes.length; i++) bytes[i] = (i * 7) & 255;
        return bytes;
      },
    ],
  ])(
    'refuses %s with STORE_SCHEMA naming the file (in details), overwriting nothing',
    async (_name, content) => {
      const file = tmp.file('corrupt.db');
      writeFileSync(file, content());
      const before = sha(file);
      const store = open({ filename: file });
      const error = await failure(store.migrate());
      expect(error.code).toBe('STORE_SCHEMA');
      expectFileInDetailsOnly(error, file);
      expect(error.message).toContain('left untouched');
      expect(sha(file)).toBe(before);
    },
  );

  it('reports a path it cannot open (a directory, a missing directory) as STORE_UNAVAILABLE naming it in details', async () => {
    mkdirSync(join(tmp.dir, 'sub'));
    for (const file of [join(tmp.dir, 'sub'), join(tmp.dir, 'missing', 'events.db')]) {
      const store = open({ filename: file });
      const error = await failure(store.read({ limit: 1 }));
      expect(error.code).toBe('STORE_UNAVAILABLE');
      expectFileInDetailsOnly(error, file);
    }
    expect(existsSync(join(tmp.dir, 'missing'))).toBe(false);
  });
});

describe('locking', () => {
  it('fails with STORE_UNAVAILABLE after the busy timeout when another connection holds the write lock, then recovers', async () => {
    const store = open({ filename: tmp.file(), busyTimeoutMs: 50 });
    await store.append([makeEvent()], { now: T0 });
    const other = new Database(tmp.file());
    other.exec('BEGIN IMMEDIATE');
    const error = await failure(store.append([makeEvent()], { now: T0 }));
    expect(error.code).toBe('STORE_UNAVAILABLE');
    expect(error.message).toContain('locked');
    expectFileInDetailsOnly(error, tmp.file());
    // Reads go on while another connection writes (WAL).
    expect((await store.read({ limit: 10 })).length).toBe(1);
    other.exec('ROLLBACK');
    other.close();
    await store.append([makeEvent()], { now: T0 });
    expect((await store.read({ limit: 10 })).length).toBe(2);
  });
});

describe('indexes', () => {
  const plan = (db: Database.Database, sql: string, ...params: unknown[]) =>
    (
      db
        .prepare(
          `EXPLAIN QUERY PLAN ${SQL.withPrefix(
            sql
              .replaceAll('{e}', '"{p}events_1"')
              .replaceAll('{lo}', ' AND position >= (SELECT watermark FROM "{p}prune_state")')
              .replaceAll('{wlo}', ''),
            'evco_',
          )}`,
        )
        .all(...params) as Array<{
        detail: string;
      }>
    )
      .map((r) => r.detail)
      .join('\n');

  it('serve every query the store makes: no full scan of events or deliveries on a hot path', async () => {
    const store = open({ filename: tmp.file() });
    await store.migrate();
    const db = new Database(tmp.file(), { readonly: true });
    const F = SQL.READ_FRAGMENTS;
    const expectations: Array<[string, string, unknown[]]> = [
      [SQL.SELECT_DUE_FOR_HANDLER, 'evco_deliveries_due', ['h', 'x', 1]],
      [SQL.INSERT_DELIVERY, 'evco_deliveries_chain', [1, 'h', 'a', 1, 'x', 'x', 'x', 1, 'h', 'a']],
      [SQL.PROMOTE_CHAIN_HEAD, 'evco_deliveries_chain', ['h', 'a']],
      [SQL.DEMOTE_CHAIN, 'evco_deliveries_chain', ['h', 'a']],
      [SQL.SELECT_EXPIRED_FOR_HANDLER, 'evco_deliveries_leases', ['x', 'h']],
      [SQL.SELECT_LIVE_SUBSCRIPTIONS_OF_TYPE, 'PRIMARY KEY', ['t', 'x']],
      [SQL.SELECT_UNPROCESSED_POSITIONS, 'evco_deliveries_open', [0, 1]],
      [SQL.SELECT_DEAD, 'evco_deliveries_dead', [0, 1]],
      [F.select + F.eventType + F.asc, 'evco_events_1_by_type', ['t', 1]],
      [F.select + F.aggregateId + F.asc, 'evco_events_1_by_aggregate', ['a', 1]],
      [F.select + F.aggregateType + F.asc, 'evco_events_1_by_aggregate_type', ['a', 1]],
      [F.select + F.from + F.to + F.asc, 'evco_events_1_by_time', ['a', 'b', 1]],
      [F.select + F.afterPosition + F.asc, 'INTEGER PRIMARY KEY', [1, 1]],
      [F.select + F.correlationId + F.asc, 'evco_events_1_by_correlation', ['c', 1]],
      [F.select + F.correlationId + F.desc, 'evco_events_1_by_correlation', ['c', 1]],
      [F.select + F.causationId + F.asc, 'evco_events_1_by_causation', ['c', 1]],
      [SQL.SELECT_DELIVERIES_OF_EVENT, 'sqlite_autoindex_evco_deliveries', ['e']],
      [SQL.COUNT_REPLAY_DELIVERIES, 'evco_deliveries_by_replay', [1]],
    ];
    for (const [sql, index, params] of expectations) {
      const detail = plan(db, sql, ...params);
      expect(detail, sql).toContain(index);
      expect(detail, sql).not.toMatch(/SCAN evco_(events|deliveries)\b(?! USING)/);
    }
    db.close();
  });
});
