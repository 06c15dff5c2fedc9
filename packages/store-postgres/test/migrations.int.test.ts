import { afterAll, describe, expect, it } from 'vitest';
import { createPostgresStore, LATEST_VERSION, MIGRATIONS } from '../src/index.js';
import { connect, databaseUrl, dropSchema, uniqueSchema } from './support.js';

describe('migrations', () => {
  const schema = uniqueSchema('evco_mig');

  afterAll(() => dropSchema(schema));

  it('a schema a newer version migrated is refused with STORE_SCHEMA, not reported up to date', async () => {
    const url = await databaseUrl();
    const newer = uniqueSchema('evco_mig_new');
    const store = createPostgresStore({ connectionString: url, schema: newer, poolSize: 1 });
    try {
      await store.migrate();
      const client = await connect();
      try {
        await client.query(
          `INSERT INTO "${newer}".migrations (version, name) VALUES ($1, 'from the future')`,
          [LATEST_VERSION + 1],
        );
      } finally {
        await client.end();
      }
      const again = createPostgresStore({ connectionString: url, schema: newer, poolSize: 1 });
      try {
        await expect(again.migrate()).rejects.toMatchObject({
          code: 'STORE_SCHEMA',
          message: expect.stringContaining(
            `was migrated to version ${LATEST_VERSION + 1} by a newer @evco/store-postgres (this one knows up to ${LATEST_VERSION})`,
          ),
        });
      } finally {
        await again.close();
      }
      // Used without migrate() (an admin client, an older CLI's status or history): refused at
      // its first statement too, and its health says why.
      const unmigrated = createPostgresStore({ connectionString: url, schema: newer, poolSize: 1 });
      try {
        const refusal = `was migrated to version ${LATEST_VERSION + 1} by a newer @evco/store-postgres (this one knows up to ${LATEST_VERSION})`;
        await expect(unmigrated.read({ limit: 10, order: 'asc' })).rejects.toMatchObject({
          code: 'STORE_SCHEMA',
          message: expect.stringContaining(refusal),
        });
        const health = await unmigrated.healthCheck();
        expect(health.healthy).toBe(false);
        expect(String(health.details.error)).toContain(refusal);
      } finally {
        await unmigrated.close();
      }
    } finally {
      await store.close();
      await dropSchema(newer);
    }
  });

  it('five stores migrating one schema at once end with one schema, each version applied once', async () => {
    const url = await databaseUrl();
    const stores = Array.from({ length: 5 }, () =>
      createPostgresStore({ connectionString: url, schema, poolSize: 2 }),
    );
    try {
      await Promise.all(stores.map((s) => s.migrate()));
      // And again: up to date is a no-op.
      await Promise.all(stores.map((s) => s.migrate()));
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
    const client = await connect();
    try {
      const schemas = await client.query('SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = $1', [
        schema,
      ]);
      expect(schemas.rows[0].n).toBe(1);
      const versions = await client.query(
        `SELECT version, name FROM "${schema}".migrations ORDER BY version`,
      );
      expect(versions.rows).toEqual(MIGRATIONS.map((m) => ({ version: m.version, name: m.name })));
      expect(versions.rows[versions.rows.length - 1].version).toBe(LATEST_VERSION);
      const tables = await client.query(
        `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name`,
        [schema],
      );
      expect(tables.rows.map((r) => r.table_name)).toEqual([
        'deliveries',
        'events',
        'leases',
        'migrations',
        'pruned',
        'replays',
        'subscriptions',
      ]);
    } finally {
      await client.end();
    }
  });
});
