import { isEvcoError, type Logger, silentLogger } from '@evco/core';
import { describeEventStoreContract, makeEvent, waitFor } from '@evco/testkit';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createPostgresStore, type PostgresStore, type PostgresStoreOptions } from '../src/index.js';
import {
  atLeast,
  MODERN_PGBOUNCER,
  type PgBouncer,
  type PgBouncerBinary,
  type PgBouncerOptions,
  SYSTEM_PGBOUNCER,
  startPgBouncer,
  withPgBouncer,
} from './pgbouncer.js';
import { closedAfterEach, createTestStore, databaseUrl, dropSchema, uniqueSchema } from './support.js';

/**
 * Behind a real PgBouncer in transaction mode, with the store's default options: the system's
 * (Debian bookworm's 1.18: it refuses unknown startup parameters and keeps no prepared
 * statements across transactions: the store uses unnamed statements) and a modern one (1.24: it
 * reads `options` and refuses what it cannot track inside it, and keeps named statements,
 * `max_prepared_statements` 200 by default: the store uses named ones).
 */

async function storeBehind(url: string, options: Record<string, unknown> = {}): Promise<PostgresStore> {
  return createPostgresStore({
    connectionString: url,
    schema: uniqueSchema(),
    poolSize: 8,
    logger: silentLogger,
    ...options,
  });
}

/**
 * A store behind `url` (closed after the test with `stores`), migrated: its health check reports
 * `details`, what it chose there.
 */
async function migratedBehind(
  stores: PostgresStore[],
  url: string,
  options: Record<string, unknown>,
  details: Record<string, unknown>,
): Promise<PostgresStore> {
  const store = await storeBehind(url, options);
  stores.push(store);
  await store.migrate();
  expect((await store.healthCheck()).details).toMatchObject(details);
  return store;
}

/** What `healthCheck().details.preparedStatementsWhy` says after the named-statement check. */
const KEPT = expect.stringContaining('the transaction pooler keeps named statements');
const PASSED_THROUGH = expect.stringContaining('the transaction pooler passes named statements through');

/** A logger keeping the messages logged at info and warn. */
function capturingLogger(): Logger & { infos: string[]; warns: string[] } {
  const infos: string[] = [];
  const warns: string[] = [];
  const into =
    (list: string[]) =>
    (objOrMsg: object | string, msg?: string): void => {
      list.push(typeof objOrMsg === 'string' ? objOrMsg : (msg ?? ''));
    };
  return {
    ...silentLogger,
    infos,
    warns,
    info: into(infos) as Logger['info'],
    warn: into(warns) as Logger['warn'],
  };
}

/** A PgBouncer admin console command (simple protocol only). */
async function bouncerCommand(bouncer: PgBouncer, command: string): Promise<void> {
  const admin = new pg.Client({ connectionString: bouncer.adminUrl });
  await admin.connect();
  try {
    await admin.query({ text: command, queryMode: 'simple' } as pg.QueryConfig);
  } finally {
    await admin.end();
  }
}

/** The store's statements prepared on the server connection a query lands on, by name. */
async function serverStatements(store: PostgresStore): Promise<string[]> {
  const { rows } = await store.pool.query<{ name: string; statement: string }>(
    'SELECT name, statement FROM pg_prepared_statements ORDER BY name',
  );
  return rows.filter((r) => r.statement.includes(store.schema)).map((r) => r.name);
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
 * PgBouncers of `binary` of one test's own (a configuration the others must not share), stopped
 * after it. Call before `closedAfterEach`: hooks registered later run first, so the test's stores
 * close while their PgBouncer is up.
 */
function ownBouncers(binary: PgBouncerBinary) {
  const started: PgBouncer[] = [];
  afterEach(async () => {
    for (const b of started.splice(0)) await b.stop();
  });
  return async (options: PgBouncerOptions = {}): Promise<PgBouncer> => {
    const b = await startPgBouncer(await databaseUrl(), { ...options, binary });
    started.push(b);
    return b;
  };
}

/**
 * The contract suite through the PgBouncer at `url`, every store (shared and reopened ones too)
 * built with `options`; the first must report `details` in its health check.
 */
function describeContractThrough(
  name: string,
  url: () => Promise<string>,
  options: Partial<PostgresStoreOptions>,
  details: Record<string, unknown>,
): void {
  const open = async (schema?: string) =>
    createTestStore({
      connectionString: await url(),
      ...options,
      ...(schema === undefined ? {} : { schema }),
    });
  describeEventStoreContract({
    name,
    create: async () => {
      const store = await open();
      expect((await store.healthCheck()).details).toMatchObject(details);
      return store;
    },
    capabilities: { durable: true, crossProcess: true, retention: true },
    share: (store) => open(store.schema),
    reopen: (store) => open(store.schema),
    destroy: (store) => dropSchema(store.schema),
  });
}

/**
 * Everything that must hold through any PgBouncer in transaction mode. `untracked`: its
 * configuration with `max_prepared_statements = 0` (or none at all: before 1.21). `named`:
 * whether its own default configuration keeps named statements (1.22+), so that the store,
 * left to choose, uses them.
 */
function describeThroughPgBouncer(
  binary: PgBouncerBinary,
  untracked: PgBouncerOptions,
  named: boolean,
): void {
  describe(`behind PgBouncer ${binary.label}, transaction pooling`, () => {
    const bouncer = bouncers(binary);
    const bouncerUrl = async () => (await bouncer()).url;
    const chosen = {
      pooler: 'transaction',
      preparedStatements: named,
      preparedStatementsWhy: named ? KEPT : PASSED_THROUGH,
    };

    describeContractThrough(
      `store-postgres through PgBouncer ${binary.label} (default options: ${named ? 'named' : 'unnamed'} statements)`,
      bouncerUrl,
      { logger: silentLogger },
      chosen,
    );

    const fresh = ownBouncers(binary);
    const stores = closedAfterEach();

    it(`default options: detects the pooler from its refusal of the startup parameters and ${named ? 'keeps' : 'drops'} named statements`, async () => {
      const store = await migratedBehind(stores, await bouncerUrl(), {}, chosen);
      // 8 store connections share 5 server connections: every statement meets other sessions.
      await busyWork(store, 200);
    });

    it('statementTimeoutMs: 0 (only plan_cache_mode is sent, in options): detected the same way', async () => {
      const store = await migratedBehind(stores, await bouncerUrl(), { statementTimeoutMs: 0 }, chosen);
      await busyWork(store, 50);
    });

    it('detects a PgBouncer told to ignore the startup parameters (it drops them silently)', async () => {
      const lenient = await fresh({ ignoreStartupParameters: ['options', 'statement_timeout'] });
      const store = await migratedBehind(stores, lenient.url, {}, chosen);
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
      const tight = await fresh({ ...untracked, poolSize: 1 });
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
        // The option it names works with the same pool: unnamed statements, this pooler keeping none.
        const fixed = createPostgresStore({
          pool,
          schema: store.schema,
          pooler: 'transaction',
          logger: silentLogger,
        });
        await expect(
          Promise.all([fixed.getEvent(makeEvent().id), fixed.getEvent(makeEvent().id)]),
        ).resolves.toEqual([undefined, undefined]);
        expect((await fixed.healthCheck()).details).toMatchObject({
          pooler: 'transaction',
          preparedStatements: false,
          preparedStatementsWhy: PASSED_THROUGH,
        });
      } finally {
        await pool.end();
      }
    });

    it('preparedStatements: true where PgBouncer keeps no named statements fails typed at startup, naming the option and max_prepared_statements', async () => {
      const plain = await fresh(untracked);
      for (const pooler of ['auto', 'transaction'] as const) {
        const store = await storeBehind(plain.url, { preparedStatements: true, pooler });
        stores.push(store);
        await expectPoolerError(store.migrate(), 'preparedStatements: true', 'max_prepared_statements');
        // Configuration, not an outage: every call says the same, nothing ran.
        await expectPoolerError(store.append([makeEvent()], { now: new Date() }), 'preparedStatements: true');
      }
      // Left unset, the same pooler works, with unnamed statements, and the store says so once.
      const logged = capturingLogger();
      const store = await migratedBehind(
        stores,
        plain.url,
        { logger: logged },
        {
          pooler: 'transaction',
          preparedStatements: false,
          preparedStatementsWhy: PASSED_THROUGH,
        },
      );
      const before = await serverStatements(store);
      await busyWork(store, 50);
      // Nothing of the store's prepared on the server, under any name.
      expect(await serverStatements(store)).toEqual(before);
      expect(before).toEqual([]);
      expect(logged.infos).toEqual([expect.stringContaining('passes named statements through')]);
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
  describe(`behind PgBouncer ${binary.label} keeping named statements (max_prepared_statements > 0)`, () => {
    const bouncer = bouncers(binary);

    describeContractThrough(
      `store-postgres through PgBouncer ${binary.label} (preparedStatements: true)`,
      async () => (await bouncer({ maxPreparedStatements: 100 })).url,
      { preparedStatements: true },
      { pooler: 'transaction', preparedStatements: true },
    );

    const fresh = ownBouncers(binary);
    const stores = closedAfterEach();
    /** 2 server connections keeping named statements, for counting what PgBouncer does with them. */
    const keeping = () => fresh({ maxPreparedStatements: 100, poolSize: 2 });

    /**
     * 8 store connections over 2 server connections: each statement meets both. Every append and
     * claim binds a named statement its store connection parsed once; PgBouncer prepares each
     * once per server connection, under its own name.
     */
    async function expectNamedStatements(own: PgBouncer, store: PostgresStore): Promise<void> {
      const before = await bouncerStats(own);
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
      const names = await serverStatements(store);
      expect(names.length).toBeGreaterThan(0);
      for (const name of names) expect(name).toMatch(/^PGBOUNCER_\d+$/);
    }

    for (const option of [true, undefined] as const) {
      it(`preparedStatements: ${option === undefined ? 'unset (the default)' : 'true'}: the statements are named, PgBouncer prepares each once per server connection and binds it on every use`, async () => {
        const own = await keeping();
        const logged = capturingLogger();
        const store = await migratedBehind(
          stores,
          own.url,
          { preparedStatements: option, logger: logged },
          {
            pooler: 'transaction',
            preparedStatements: true,
            preparedStatementsWhy:
              option === undefined
                ? KEPT
                : expect.stringMatching(/^preparedStatements: true; the transaction pooler keeps/),
          },
        );
        // Found, not asked for: said once.
        expect(logged.infos).toEqual(
          option === undefined ? [expect.stringContaining('keeps named statements')] : [],
        );
        await expectNamedStatements(own, store);
      });
    }

    it('max_prepared_statements turned to 0 while the store runs on named statements it chose: the calls that meet another session fail typed, then the store goes unnamed and works on, saying so', async () => {
      const own = await keeping();
      const logged = capturingLogger();
      const store = await migratedBehind(stores, own.url, { logger: logged }, { preparedStatements: true });
      await busyWork(store, 50);
      // PgBouncer passes named statements through from now on, to both server connections.
      await bouncerCommand(own, 'SET max_prepared_statements = 0');
      const events = Array.from({ length: 40 }, () => makeEvent({ eventType: 'Late' }));
      const results = await Promise.allSettled(events.map((e) => store.append([e], { now: new Date() })));
      const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
      expect(failures.length, 'some appends meet another session').toBeGreaterThan(0);
      for (const f of failures) {
        expect(isEvcoError(f, 'TRANSACTION_POOLER'), String(f)).toBe(true);
        expect(f.message).toContain('no longer does');
        expect(f.message).toContain('preparedStatements: false');
      }
      // Nothing of a failed append was written.
      const stored = await store.read({ eventType: 'Late', limit: 100, order: 'asc' });
      expect(stored.length).toBe(events.length - failures.length);
      expect((await store.healthCheck()).details).toMatchObject({
        pooler: 'transaction',
        preparedStatements: false,
        preparedStatementsWhy: expect.stringContaining('no longer does'),
      });
      expect(logged.warns).toEqual([expect.stringContaining('unnamed statements since')]);
      // Unnamed from now on: 8 store connections over the 2 server connections, nothing fails.
      await busyWork(store, 100);
    });

    it('max_prepared_statements below what the store prepares (2): PgBouncer evicts and prepares again, correct, with a server prepare per few uses', async () => {
      const small = await bouncer({ maxPreparedStatements: 2, poolSize: 2 });
      const store = await migratedBehind(
        stores,
        small.url,
        {},
        {
          preparedStatements: true,
          preparedStatementsWhy: KEPT,
        },
      );
      const before = await bouncerStats(small);
      // Three statements in turn, one after the other, on server connections keeping two each.
      for (let i = 0; i < 20; i++) {
        const e = makeEvent();
        await store.append([e], { now: new Date() });
        expect((await store.getEvent(e.id))?.id).toBe(e.id);
        expect(await store.read({ limit: 1, order: 'desc' })).toHaveLength(1);
      }
      const after = await bouncerStats(small);
      const delta = (key: string) => after[key]! - before[key]!;
      expect(delta('total_bind_count')).toBeGreaterThanOrEqual(60);
      // Prepared again on the server at least once per round (a roomy cache: once per connection).
      expect(delta('total_server_parse_count')).toBeGreaterThanOrEqual(20);
    });

    it("a pool of your own with pooler: 'transaction': checked the same way, named statements", async () => {
      const own = await keeping();
      const pool = new pg.Pool({ connectionString: own.url, max: 8 });
      try {
        const store = createPostgresStore({
          pool,
          schema: uniqueSchema(),
          pooler: 'transaction',
          logger: silentLogger,
        });
        stores.push(store);
        await store.migrate();
        expect((await store.healthCheck()).details).toMatchObject({
          pooler: 'transaction',
          preparedStatements: true,
          preparedStatementsWhy: KEPT,
        });
        await expectNamedStatements(own, store);
        // preparedStatements: false keeps them unnamed on the same pool.
        const unnamed = createPostgresStore({
          pool,
          schema: store.schema,
          pooler: 'transaction',
          preparedStatements: false,
        });
        stores.push(unnamed);
        expect((await unnamed.healthCheck()).details).toMatchObject({
          preparedStatements: false,
          preparedStatementsWhy: 'preparedStatements: false',
        });
        const before = await bouncerStats(own);
        await Promise.all(
          Array.from({ length: 20 }, () => unnamed.append([makeEvent()], { now: new Date() })),
        );
        const after = await bouncerStats(own);
        expect(after.total_client_parse_count! - before.total_client_parse_count!).toBe(0);
      } finally {
        await pool.end();
      }
    });

    it("PgBouncer's own default (max_prepared_statements 200): named statements, asked for or left unset", async () => {
      const defaults = await bouncer({});
      for (const option of [true, undefined] as const) {
        const store = await migratedBehind(
          stores,
          defaults.url,
          { preparedStatements: option, logger: silentLogger },
          {
            pooler: 'transaction',
            preparedStatements: true,
          },
        );
        await busyWork(store, 50);
        for (const name of await serverStatements(store)) expect(name).toMatch(/^PGBOUNCER_\d+$/);
      }
    });

    it('track_extra_parameters naming what the store sends: accepted at startup but never set on the server, still detected', async () => {
      const tracked = await bouncer({
        trackExtraParameters: ['IntervalStyle', 'statement_timeout', 'plan_cache_mode'],
      });
      const store = await migratedBehind(
        stores,
        tracked.url,
        { logger: silentLogger },
        {
          pooler: 'transaction',
          preparedStatements: true,
          preparedStatementsWhy: KEPT,
        },
      );
      await busyWork(store, 50);
    });
  });
}

describe('a direct connection', () => {
  const stores = closedAfterEach();
  it('is left alone: named statements, session settings', async () => {
    await migratedBehind(
      stores,
      await databaseUrl(),
      {},
      {
        pooler: 'none',
        preparedStatements: true,
        preparedStatementsWhy: 'no transaction pooler found (a direct connection)',
      },
    );
  });
});

withPgBouncer(SYSTEM_PGBOUNCER, 'behind the system PgBouncer', () => {
  // Debian bookworm's 1.18 knows no max_prepared_statements; a system PgBouncer 1.21+ is told 0.
  describeThroughPgBouncer(
    SYSTEM_PGBOUNCER,
    atLeast(SYSTEM_PGBOUNCER.version, 1, 21) ? { maxPreparedStatements: 0 } : {},
    atLeast(SYSTEM_PGBOUNCER.version, 1, 22),
  );
});

withPgBouncer(MODERN_PGBOUNCER, 'behind PgBouncer 1.21+ (EVCO_PGBOUNCER_124)', () => {
  // Its own default, max_prepared_statements = 200, keeps named statements.
  describeThroughPgBouncer(MODERN_PGBOUNCER, { maxPreparedStatements: 0 }, true);
  describeThroughModernPgBouncer(MODERN_PGBOUNCER);
});
