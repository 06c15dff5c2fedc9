import { createServer } from 'node:net';
import { isEvcoError } from '@evco/core';
import { makeEvent, waitFor } from '@evco/testkit';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createPostgresStore } from '../src/index.js';
import { connect, createTestStore, databaseUrl, dropSchema } from './support.js';

const SECRET = 'hunter2-s3cr3t';

/** A port nothing listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('driver errors', () => {
  it('a first migrate() by a role without CREATE on the database says which privilege it lacks', async () => {
    // A throwaway role with no privilege of its own (PostgreSQL 15 gives PUBLIC no CREATE on a
    // database or on the public schema); the test's own URL, logged in as that role.
    const role = `evco_noc_${Math.random().toString(36).slice(2, 10)}`;
    const admin = await connect();
    await admin.query(`CREATE ROLE "${role}" LOGIN PASSWORD '${SECRET}'`);
    try {
      const url = new URL(await databaseUrl());
      url.username = role;
      url.password = SECRET;
      const store = createPostgresStore({
        connectionString: url.toString(),
        schema: `${role}_s`,
        poolSize: 1,
      });
      try {
        const error = await store.migrate().catch((e: unknown) => e);
        expect(isEvcoError(error, 'STORE_FAILED')).toBe(true);
        expect((error as Error).message).toMatch(
          /denied the store's role a privilege: permission denied for database \S+ \(migrations need CREATE on the database the first time/,
        );
        expect((error as Error).message).not.toContain(SECRET);
      } finally {
        await store.close();
      }
    } finally {
      await admin.query(`DROP ROLE "${role}"`);
      await admin.end();
    }
  });

  it('a refused connection is STORE_UNAVAILABLE with the URL shown and the password masked, everywhere', async () => {
    const port = await closedPort();
    const store = createPostgresStore({
      connectionString: `postgresql://evco:${SECRET}@127.0.0.1:${port}/evco`,
      connectionTimeoutMs: 2000,
    });
    try {
      for (const attempt of [
        () => store.migrate(),
        () => store.append([makeEvent()], { now: new Date() }),
        () => store.read({ limit: 1 }),
        () => store.claimDue({ consumerId: 'c', handlers: ['h'], now: new Date(), leaseMs: 1000, limit: 1 }),
      ]) {
        const error = await attempt().catch((e: unknown) => e);
        expect(isEvcoError(error, 'STORE_UNAVAILABLE')).toBe(true);
        const message = (error as Error).message;
        expect(message).toMatch(/^\[evco:store-postgres\] /);
        expect(message).toContain(`postgresql://evco:***@127.0.0.1:${port}/evco`);
        expect(message).not.toContain(SECRET);
        expect(JSON.stringify(error)).not.toContain(SECRET);
      }
      const health = await store.healthCheck();
      expect(health.healthy).toBe(false);
      expect(JSON.stringify(health)).not.toContain(SECRET);
      expect(health.details.url).toBe(`postgresql://evco:***@127.0.0.1:${port}/evco`);
    } finally {
      await store.close();
    }
  });

  it('a given pool is used and left open; its server shows in messages without a password', async () => {
    const port = await closedPort();
    const pool = new pg.Pool({ host: '127.0.0.1', port, user: 'app', password: SECRET, database: 'db' });
    pool.on('error', () => {});
    const store = createPostgresStore({ pool });
    const error = await store.read({ limit: 1 }).catch((e: unknown) => e);
    expect(isEvcoError(error, 'STORE_UNAVAILABLE')).toBe(true);
    expect((error as Error).message).toContain(`postgresql://app@127.0.0.1:${port}/db`);
    expect((error as Error).message).not.toContain(SECRET);
    await store.close();
    expect(pool.ending).toBe(false);
    await pool.end();
  });

  it('a connection terminated mid-statement is STORE_UNAVAILABLE; the store recovers on the next call', async () => {
    const store = await createTestStore({ applicationName: 'evco-terminated' });
    const blocker = await connect();
    try {
      await store.append([makeEvent()], { now: new Date() });
      // Hold the table so the store's read waits inside the server, then kill that backend.
      await blocker.query('BEGIN');
      await blocker.query(`LOCK TABLE "${store.schema}".events IN ACCESS EXCLUSIVE MODE`);
      const read = store.read({ limit: 10 }).catch((e: unknown) => e);
      await waitFor(async () => {
        const { rows } = await blocker.query(
          `SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity
           WHERE application_name = 'evco-terminated' AND wait_event_type = 'Lock'`,
        );
        return rows.length > 0;
      });
      const error = await read;
      expect(isEvcoError(error, 'STORE_UNAVAILABLE')).toBe(true);
      expect((error as Error).message).toMatch(/^\[evco:store-postgres\] postgres at postgresql:\/\//);
      await blocker.query('ROLLBACK');
      expect((await store.read({ limit: 10 })).length).toBe(1);
    } finally {
      await blocker.end();
      await store.close();
      await dropSchema(store.schema);
    }
  });

  it('a value postgres rejects is EVENT_VALIDATION, not a crash', async () => {
    const store = await createTestStore();
    try {
      const bad = { ...makeEvent(), id: 'not-a-uuid' };
      const error = await store.append([bad], { now: new Date() }).catch((e: unknown) => e);
      expect(isEvcoError(error, 'EVENT_VALIDATION')).toBe(true);
      expect(await store.read({ limit: 10 })).toEqual([]);
    } finally {
      await store.close();
      await dropSchema(store.schema);
    }
  });
});
