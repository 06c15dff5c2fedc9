import { isEvcoError } from '@evco/core';
import { describeEventStoreContract, makeEvent, waitFor } from '@evco/testkit';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresStore, type PostgresStore } from '../src/index.js';
import {
  atLeast,
  MODERN_PGBOUNCER,
  type PgBouncer,
  type PgBouncerBinary,
  type PgBouncerOptions,
  SYSTEM_PGBOUNCER,
  startPgBouncer,
} from './pgbouncer.js';
import { closedAfterEach, createTestStore, databaseUrl, dropSchema, uniqueSchema } from './support.js';

/**
 * Behind a real PgBouncer in transaction mode, with the store's default options: the system's
 * (Debian bookworm's 1.18: it refuses unknown startup parameters and keeps no prepared
 * statements across transactions) and a modern one (1.24: it reads `options` and refuses what
 * it cannot track inside it, and keeps named statements, `max_prepared_statements` 200 by default).
 */

async function storeBehind(url: string, options: Record<string, unknown> = {}): Promise<PostgresStore> {
  return createPostgresStore({ connectionString: url, schema: uniqueSchema(), poolSize: 8, ...options });
}

async function expectPoolerError(promise: Promise<unknown>, ...mentions: string[]): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isEvcoError(error, 'TRANSACTION_POOLER'), String(error)).toBe(true);
  for (const mention of mentions) expect((error as Error).message).toContain(mention);
}

/** PgBouncer's own counters for the test database (`SHOW STATS`, 1.23+ counts prepared statements). */
async function bouncerStats(bouncer: PgBouncer): Promise<Record<string, number>> {
  const admin = new pg.Client({ connectionString: bouncer.adminUrl });
  await admin.connect();
  try {
    // The admin console speaks the simple protocol only.
    const { rows } = await admin.query({ text: 'SHOW STATS', queryMode: 'simple' } as pg.QueryConfig);
    const row = (rows as Array<Record<string, string>>).find((r) => r.database !== 'pgbouncer')!;
    return Object.fromEntries(Object.entries(row).map(([k, v]) => [k, Number(v)]));
  } finally {
    await admin.end();
  }
}

/** Appends and claims from 8 store connections over fewer server connections: sessions meet. */
async function busyWork(store: PostgresStore, count: number): Promise<void> {
  await store.registerSubscriptions([{ eventType: 'Work', handler: 'h', ordering: 'none' }], {
    consumerId: 'c',
    now: new Date(),
    ttlMs: 60_000,
  });
  const events = Array.from({ length: count }, () => makeEvent({ eventType: 'Work' }));
  await Promise.all(events.map((e) => store.append([e], { now: new Date() })));
  const claimed = (
    await Promise.all(
      Array.from({ length: 8 }, () =>
        store.claimDue({ consumerId: 'c', handlers: ['h'], now: new Date(), leaseMs: 60_000, limit: 50 }),
      ),
    )
  ).flat();
  expect(new Set(claimed.map((d) => d.event.id))).toEqual(new Set(events.map((e) => e.id)));
  expect(claimed.length).toBe(events.length);
}

/** One PgBouncer of `binary` per test file and configuration, started on first use. */
function bouncers(binary: PgBouncerBinary) {
  const started = new Map<string, Promise<PgBouncer>>();
  afterAll(async () => {
    for (const b of started.values()) await (await b).stop();
  });
  return async (options: PgBouncerOptions = {}): Promise<PgBouncer> => {
    const key = JSON.stringify(options);
    let b = started.get(key);
    if (!b) {
      b = startPgBouncer(await databaseUrl(), { ...options, binary });
      started.set(key, b);
    }
    return b;
  };
}

/**
 * Everything that must hold through any PgBouncer in transaction mode. `untracked`: its
 * configuration with `max_prepared_statements = 0` (or none at all: before 1.21).
 */
function describeThroughPgBouncer(binary: PgBouncerBinary, untracked: PgBouncerOptions): void {
  describe(`behind PgBouncer ${binary.label}, transaction pooling`, () => {
    const bouncer = bouncers(binary);
    const bouncerUrl = async () => (await bouncer()).url;

    describeEventStoreContract({
      name: `store-postgres through PgBouncer ${binary.label} (default options)`,
      create: async () => {
        const store = await createTestStore({ connectionString: await bouncerUrl() });
        expect((await store.healthCheck()).details).toMatchObject({
          pooler: 'transaction',
          preparedStatements: false,
        });
        return store;
      },
      capabilities: { durable: true, crossProcess: true, retention: true },
      share: async (store) => createTestStore({ connectionString: await bouncerUrl(), schema: store.schema }),
      reopen: async (store) =>
        createTestStore({ connectionString: await bouncerUrl(), schema: store.schema }),
      destroy: (store) => dropSchema(store.schema),
    });

    const extraBouncers: PgBouncer[] = [];
    afterEach(async () => {
      for (const b of extraBouncers.splice(0)) await b.stop();
    });
    // Registered after the bouncers' hook, so it runs before it: stores close while their bouncer is up.
    const stores = closedAfterEach();

    it('default options: detects the pooler from its refusal of the startup parameters and drops named statements', async () => {
      const store = await storeBehind(await bouncerUrl());
      stores.push(store);
      await store.migrate();
      const health = await store.healthCheck();
      expect(health.details).toMatchObject({ pooler: 'transaction', preparedStatements: false });
      // 8 store connections share 5 server connections: every statement meets other sessions.
      await busyWork(store, 200);
    });

    it('statementTimeoutMs: 0 (only plan_cache_mode is sent, in options): detected the same way', async () => {
      const store = await storeBehind(await bouncerUrl(), { statementTimeoutMs: 0 });
      stores.push(store);
      await store.migrate();
      expect((await store.healthCheck()).details).toMatchObject({
        pooler: 'transaction',
        preparedStatements: false,
      });
      await busyWork(store, 50);
    });

    it('detects a PgBouncer told to ignore the startup parameters (it drops them silently)', async () => {
      const lenient = await startPgBouncer(await databaseUrl(), {
        binary,
        ignoreStartupParameters: ['options', 'statement_timeout'],
      });
      extraBouncers.push(lenient);
      const store = await storeBehind(lenient.url);
      stores.push(store);
      await store.migrate();
      expect((await store.healthCheck()).details).toMatchObject({
        pooler: 'transaction',
        preparedStatements: false,
      });
      await store.append([makeEvent(), makeEvent()], { now: new Date() });
      expect(await store.read({ limit: 10, order: 'asc' })).toHaveLength(2);
    });

    it('pooler: "none" through PgBouncer fails typed, naming the option and the refused parameter', async () => {
      const store = await storeBehind(await bouncerUrl(), { pooler: 'none' });
      stores.push(store);
      await expectPoolerError(store.migrate(), "pooler: 'auto' or 'transaction'", '"statement_timeout"');
      // Only `options` sent: 1.18 refuses `options` itself, 1.20+ the parameter inside it.
      const optionsOnly = await storeBehind(await bouncerUrl(), { pooler: 'none', statementTimeoutMs: 0 });
      stores.push(optionsOnly);
      await expectPoolerError(
        optionsOnly.migrate(),
        "pooler: 'auto' or 'transaction'",
        atLeast(binary.version, 1, 20) ? '"plan_cache_mode" (in options)' : '"options"',
      );
    });

    it('a pool of your own with named statements fails typed when two sessions meet one server connection', async () => {
      const tight = await startPgBouncer(await databaseUrl(), { ...untracked, binary, poolSize: 1 });
      extraBouncers.push(tight);
      const pool = new pg.Pool({ connectionString: tight.url, max: 4 });
      try {
        const store = createPostgresStore({ pool, schema: uniqueSchema() });
        stores.push(store);
        await store.migrate();
        // Two pool clients each prepare the same named statement on the single server connection.
        const [a, b] = await Promise.allSettled([
          store.getEvent(makeEvent().id),
          store.getEvent(makeEvent().id),
        ]);
        const failure = [a, b].find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
        expect(failure, 'one of the two must meet the other statement').toBeDefined();
        expect(isEvcoError(failure!.reason, 'TRANSACTION_POOLER')).toBe(true);
        expect((failure!.reason as Error).message).toContain("pooler: 'transaction'");
        // The option it names works with the same pool.
        const fixed = createPostgresStore({ pool, schema: store.schema, pooler: 'transaction' });
        await expect(
          Promise.all([fixed.getEvent(makeEvent().id), fixed.getEvent(makeEvent().id)]),
        ).resolves.toEqual([undefined, undefined]);
      } finally {
        await pool.end();
      }
    });

    it('preparedStatements: true where PgBouncer keeps no named statements fails typed at startup, naming the option and max_prepared_statements', async () => {
      const plain = await startPgBouncer(await databaseUrl(), { ...untracked, binary });
      extraBouncers.push(plain);
      for (const pooler of ['auto', 'transaction'] as const) {
        const store = await storeBehind(plain.url, { preparedStatements: true, pooler });
        stores.push(store);
        await expectPoolerError(store.migrate(), 'preparedStatements: true', 'max_prepared_statements');
        // Configuration, not an outage: every call says the same, nothing ran.
        await expectPoolerError(store.append([makeEvent()], { now: new Date() }), 'preparedStatements: true');
      }
      // Left unset, the same pooler works.
      const store = await storeBehind(plain.url);
      stores.push(store);
      await store.migrate();
      await busyWork(store, 50);
    });

    it('notify: true through the pooler without a direct connection for LISTEN fails at startup, naming listenConnectionString', async () => {
      const store = await storeBehind(await bouncerUrl(), { notify: true });
      stores.push(store);
      await expectPoolerError(store.migrate(), 'listenConnectionString');
      // The answer stays the same: it is configuration, not an outage.
      await expectPoolerError(store.append([makeEvent()], { now: new Date() }), 'listenConnectionString');
    });

    it('notify: true with listenConnectionString: appends through the pooler ring the direct LISTEN', async () => {
      const store = await storeBehind(await bouncerUrl(), {
        notify: true,
        listenConnectionString: await databaseUrl(),
      });
      stores.push(store);
      await store.migrate();
      const heard: Array<readonly string[] | undefined> = [];
      const stop = store.onAppended((types) => heard.push(types));
      try {
        // The first call says "look" once listening, whatever was missed before.
        await waitFor(() => heard.length > 0, { message: 'LISTEN never connected' });
        await store.append([makeEvent({ eventType: 'Rung' })], { now: new Date() });
        await waitFor(() => heard.some((t) => t?.includes('Rung')), { message: 'notification not heard' });
      } finally {
        stop();
      }
    });
  });
}

/** What only PgBouncer 1.21+ does: keep named statements, track parameters inside `options`. */
function describeThroughModernPgBouncer(binary: PgBouncerBinary): void {
  describe(`behind PgBouncer ${binary.label} with max_prepared_statements = 100`, () => {
    const bouncer = bouncers(binary);
    const tracking = () => bouncer({ maxPreparedStatements: 100 });

    describeEventStoreContract({
      name: `store-postgres through PgBouncer ${binary.label} (preparedStatements: true)`,
      create: async () => {
        const store = await createTestStore({
          connectionString: (await tracking()).url,
          preparedStatements: true,
        });
        expect((await store.healthCheck()).details).toMatchObject({
          pooler: 'transaction',
          preparedStatements: true,
        });
        return store;
      },
      capabilities: { durable: true, crossProcess: true, retention: true },
      share: async (store) =>
        createTestStore({
          connectionString: (await tracking()).url,
          schema: store.schema,
          preparedStatements: true,
        }),
      reopen: async (store) =>
        createTestStore({
          connectionString: (await tracking()).url,
          schema: store.schema,
          preparedStatements: true,
        }),
      destroy: (store) => dropSchema(store.schema),
    });

    const stores = closedAfterEach();

    it('preparedStatements: true: the statements are named, PgBouncer prepares each once per server connection and binds it on every use', async () => {
      const own = await startPgBouncer(await databaseUrl(), {
        binary,
        maxPreparedStatements: 100,
        poolSize: 2,
      });
      try {
        const store = await storeBehind(own.url, { preparedStatements: true });
        stores.push(store);
        await store.migrate();
        expect((await store.healthCheck()).details).toMatchObject({
          pooler: 'transaction',
          preparedStatements: true,
        });
        const before = await bouncerStats(own);
        // 8 store connections over 2 server connections: each statement meets both.
        await busyWork(store, 200);
        const after = await bouncerStats(own);
        const delta = (key: string) => after[key]! - before[key]!;
        // Every append and claim executed a named statement (at least 200 appends + 8 claims)...
        expect(delta('total_bind_count')).toBeGreaterThanOrEqual(208);
        // ...that its store connection parsed once (8 connections, a few statements each)...
        expect(delta('total_client_parse_count')).toBeGreaterThan(0);
        expect(delta('total_client_parse_count')).toBeLessThanOrEqual(8 * 5);
        // ...and PgBouncer prepared once per server connection (2), not once per use.
        expect(delta('total_server_parse_count')).toBeLessThanOrEqual(2 * 5);
        // On the server they are PgBouncer's names for the store's statements.
        const { rows } = await store.pool.query<{ name: string; statement: string }>(
          'SELECT name, statement FROM pg_prepared_statements',
        );
        const ours = rows.filter((r) => r.statement.includes(store.schema));
        expect(ours.length).toBeGreaterThan(0);
        for (const r of ours) expect(r.name).toMatch(/^PGBOUNCER_\d+$/);
      } finally {
        for (const s of stores.splice(0)) {
          await s.close();
          await dropSchema(s.schema);
        }
        await own.stop();
      }
    });

    it("PgBouncer's own default (max_prepared_statements 200): preparedStatements: true works, left unset the store still uses unnamed statements", async () => {
      const defaults = await bouncer({});
      const prepared = await storeBehind(defaults.url, { preparedStatements: true });
      stores.push(prepared);
      await prepared.migrate();
      expect((await prepared.healthCheck()).details).toMatchObject({
        pooler: 'transaction',
        preparedStatements: true,
      });
      await busyWork(prepared, 50);
      const unset = await storeBehind(defaults.url);
      stores.push(unset);
      await unset.migrate();
      expect((await unset.healthCheck()).details).toMatchObject({
        pooler: 'transaction',
        preparedStatements: false,
      });
    });

    it('track_extra_parameters naming what the store sends: accepted at startup but never set on the server, still detected', async () => {
      const tracked = await bouncer({
        trackExtraParameters: ['IntervalStyle', 'statement_timeout', 'plan_cache_mode'],
      });
      const store = await storeBehind(tracked.url);
      stores.push(store);
      await store.migrate();
      expect((await store.healthCheck()).details).toMatchObject({
        pooler: 'transaction',
        preparedStatements: false,
      });
      await busyWork(store, 50);
    });
  });
}

describe('a direct connection', () => {
  const stores = closedAfterEach();
  it('is left alone: named statements, session settings', async () => {
    const store = await storeBehind(await databaseUrl());
    stores.push(store);
    await store.migrate();
    expect((await store.healthCheck()).details).toMatchObject({ pooler: 'none', preparedStatements: true });
  });
});

if (SYSTEM_PGBOUNCER.missing === undefined) {
  // Debian bookworm's 1.18 knows no max_prepared_statements; a system PgBouncer 1.21+ is told 0.
  describeThroughPgBouncer(
    SYSTEM_PGBOUNCER,
    atLeast(SYSTEM_PGBOUNCER.version, 1, 21) ? { maxPreparedStatements: 0 } : {},
  );
} else {
  beforeAll(() => {
    console.warn(`skipping the system PgBouncer's tests: ${SYSTEM_PGBOUNCER.missing}`);
  });
}

if (MODERN_PGBOUNCER.missing === undefined) {
  describeThroughPgBouncer(MODERN_PGBOUNCER, { maxPreparedStatements: 0 });
  describeThroughModernPgBouncer(MODERN_PGBOUNCER);
} else {
  // The versions production runs do not drop out unnoticed: this fails, saying how to get one.
  it('PgBouncer 1.21+ is available (EVCO_PGBOUNCER_124)', () => {
    throw new Error(MODERN_PGBOUNCER.missing);
  });
}
