import { makeEvent, waitFor } from '@evco/testkit';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createPostgresStore } from '../src/index.js';
import { closedAfterEach, createTestStore, databaseUrl, uniqueSchema } from './support.js';

async function settings(connectionString: string, preparedStatements = true) {
  const store = createPostgresStore({ connectionString, preparedStatements, poolSize: 1 });
  try {
    const { rows } = await store.pool.query(
      `SELECT current_setting('plan_cache_mode') AS plans, current_setting('TimeZone') AS tz,
         current_setting('application_name') AS app, current_setting('jit') AS jit`,
    );
    return rows[0];
  } finally {
    await store.close();
  }
}

describe("the store's own connections", () => {
  it('use generic plans, keeping startup options the connection string already has', async () => {
    const url = await databaseUrl();
    expect(await settings(url)).toMatchObject({ plans: 'force_generic_plan', app: 'evco', jit: 'off' });
    const withOptions = new URL(url);
    withOptions.searchParams.set('options', '-c TimeZone=Asia/Kolkata');
    expect(await settings(withOptions.toString())).toMatchObject({
      plans: 'force_generic_plan',
      tz: 'Asia/Kolkata',
    });
  });

  it('leave the planner alone without prepared statements (a transaction pooler would leak the setting)', async () => {
    expect(await settings(await databaseUrl(), false)).toMatchObject({ plans: 'auto' });
  });
});

describe('a session the server ends while the store holds it in a transaction', () => {
  const stores = closedAfterEach();

  it('fails the retention batch typed, naming the setting, removes nothing and leaves the process and the store working', async () => {
    const schema = uniqueSchema();
    const applicationName = `evco_${schema}`;
    // What an operator's `idle_in_transaction_session_timeout` below the archive hook's time does.
    const url = new URL(await databaseUrl());
    url.searchParams.set('options', '-c idle_in_transaction_session_timeout=200');
    const store = await createTestStore({ connectionString: url.toString(), schema, applicationName });
    stores.push(store);
    const old = new Date('2020-01-01T00:00:00Z');
    await store.append(
      [1, 2, 3].map((i) => makeEvent({ aggregateId: `page-${i}`, occurredAt: old })),
      { now: new Date() },
    );
    const observer = new pg.Client({ connectionString: await databaseUrl() });
    await observer.connect();
    const idleInTransaction = async () =>
      (
        await observer.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND state = 'idle in transaction'`,
          [applicationName],
        )
      ).rows[0]!.n;
    let archived = 0;
    try {
      const prune = (archive?: () => Promise<void>) =>
        store.pruneEvents!({
          before: new Date('2021-01-01T00:00:00Z'),
          limit: 100,
          now: new Date(),
          archive,
        });
      // The hook outlives the timeout: Postgres ends the batch's session while it runs.
      const error = await prune(async () => {
        archived++;
        await waitFor(async () => (await idleInTransaction()) === 1, {
          message: 'the batch never went idle',
        });
        await waitFor(async () => (await idleInTransaction()) === 0, {
          message: 'postgres kept the session',
        });
      }).catch((e: unknown) => e);
      expect(archived).toBe(1);
      expect(error).toMatchObject({
        code: 'STORE_FAILED',
        message: expect.stringMatching(/idle_in_transaction_session_timeout.*archiveTimeoutMs/),
      });
      const count = async () =>
        (await store.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${schema}".events`)).rows[0]!
          .n;
      expect(await count()).toBe(3);
      expect(await prune()).toMatchObject({ removed: 3 });
      expect(await count()).toBe(0);
    } finally {
      await observer.end();
    }
  });
});
