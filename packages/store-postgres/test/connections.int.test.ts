import { describe, expect, it } from 'vitest';
import { createPostgresStore } from '../src/index.js';
import { databaseUrl } from './support.js';

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
