import { isEvcoError } from '@evco/core';
import { describeEventStoreContract, makeEvent, waitFor } from '@evco/testkit';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresStore, type PostgresStore } from '../src/index.js';
import { type PgBouncer, pgBouncerMissing, startPgBouncer } from './pgbouncer.js';
import { closedAfterEach, createTestStore, databaseUrl, dropSchema, uniqueSchema } from './support.js';

/**
 * Behind a real PgBouncer in transaction mode (Debian's 1.18: it keeps no prepared statements
 * across transactions and refuses unknown startup parameters), with the store's default options.
 */
let bouncer: PgBouncer | undefined;
const bouncerUrl = async () => {
  bouncer ??= await startPgBouncer(await databaseUrl());
  return bouncer.url;
};
afterAll(async () => {
  await bouncer?.stop();
});

async function storeBehind(url: string, options: Record<string, unknown> = {}): Promise<PostgresStore> {
  return createPostgresStore({ connectionString: url, schema: uniqueSchema(), poolSize: 8, ...options });
}

async function expectPoolerError(promise: Promise<unknown>, mentions: string): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isEvcoError(error, 'TRANSACTION_POOLER'), String(error)).toBe(true);
  expect((error as Error).message).toContain(mentions);
}

describe.skipIf(pgBouncerMissing !== undefined)(
  `behind PgBouncer, transaction pooling ${pgBouncerMissing ?? ''}`,
  () => {
    describeEventStoreContract({
      name: 'store-postgres through PgBouncer (default options)',
      create: async () => createTestStore({ connectionString: await bouncerUrl() }),
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
      await store.registerSubscriptions([{ eventType: 'Work', handler: 'h', ordering: 'none' }], {
        consumerId: 'c',
        now: new Date(),
        ttlMs: 60_000,
      });
      const events = Array.from({ length: 200 }, () => makeEvent({ eventType: 'Work' }));
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
    });

    it('detects a PgBouncer told to ignore the startup parameters (it drops them silently)', async () => {
      const lenient = await startPgBouncer(await databaseUrl(), {
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

    it('a direct connection is left alone: named statements, session settings', async () => {
      const store = await storeBehind(await databaseUrl());
      stores.push(store);
      await store.migrate();
      expect((await store.healthCheck()).details).toMatchObject({ pooler: 'none', preparedStatements: true });
    });

    it('pooler: "none" through PgBouncer fails typed, naming the option', async () => {
      const store = await storeBehind(await bouncerUrl(), { pooler: 'none' });
      stores.push(store);
      await expectPoolerError(store.migrate(), "pooler: 'auto' or 'transaction'");
    });

    it('a pool of your own with named statements fails typed when two sessions meet one server connection', async () => {
      const tight = await startPgBouncer(await databaseUrl(), { poolSize: 1 });
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
  },
);

beforeAll(() => {
  if (pgBouncerMissing) console.warn(`skipping PgBouncer tests: ${pgBouncerMissing}`);
});
