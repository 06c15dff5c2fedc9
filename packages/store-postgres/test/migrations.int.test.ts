import { createAdminClient, createDomainEvent, silentLogger } from '@evco/core';
import type pg from 'pg';
import { Pool as pgPool } from 'pg';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { createPostgresStore, LATEST_VERSION, MIGRATIONS, type PostgresStoreOptions } from '../src/index.js';
import { LEFTOVER_SWEEP_EVERY_MS } from '../src/postgres-store.js';
import { quoteIdentifier } from '../src/sql.js';
import { connect, databaseUrl, dropSchema, schemaAtVersion, uniqueSchema } from './support.js';

/** One statement on a connection of its own, as another process (a newer release, a DBA) runs it. */
async function sql<R extends pg.QueryResultRow = pg.QueryResultRow>(
  text: string,
  values: unknown[] = [],
): Promise<R[]> {
  const client = await connect();
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end();
  }
}

/**
 * What a newer release's migrate() leaves: a version row past LATEST_VERSION, which this release
 * must be replaced for (no `runs_with`), or one that says which releases still run on it.
 */
async function recordNewerVersion(
  schema: string,
  runsWith?: number,
  version = LATEST_VERSION + 1,
): Promise<void> {
  await sql(
    runsWith === undefined
      ? `INSERT INTO "${schema}".migrations (version, name) VALUES ($1, 'from a newer release')`
      : `INSERT INTO "${schema}".migrations (version, name, runs_with) VALUES ($1, 'from a newer release', $2)`,
    runsWith === undefined ? [version] : [version, runsWith],
  );
}

/**
 * A leftover sweep is never looked for on a schema created at or after the version that brought
 * it (no older release ran there): `leave` writes what an older release would have left (not
 * something a release writes there; it only shows that nobody sweeps), a second process starts,
 * claims for `handler` once the sweeps' interval has passed, and `swept` (what a sweep would
 * have produced) stays empty.
 */
async function expectNoSweepOnAFreshSchema(
  prefix: string,
  handler: string,
  leave: (client: pg.Client, quoted: string) => Promise<unknown>,
  swept: (client: pg.Client, quoted: string) => Promise<unknown[]>,
): Promise<void> {
  const fresh = uniqueSchema(prefix);
  const quoted = quoteIdentifier(fresh);
  const client = await connect();
  const url = await databaseUrl();
  const first = createPostgresStore({ connectionString: url, schema: fresh, poolSize: 1 });
  const second = createPostgresStore({ connectionString: url, schema: fresh, poolSize: 1 });
  try {
    await first.migrate();
    await leave(client, quoted);
    await second.migrate();
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + LEFTOVER_SWEEP_EVERY_MS + 1_000 });
    await second.claimDue({
      consumerId: 'c',
      handlers: [handler],
      now: new Date(),
      leaseMs: 30_000,
      limit: 10,
    });
    vi.useRealTimers();
    await new Promise((r) => setTimeout(r, 200));
    expect(await swept(client, quoted)).toEqual([]);
  } finally {
    vi.useRealTimers();
    await first.close();
    await second.close();
    await client.end();
    await dropSchema(fresh);
  }
}

describe('migrations', () => {
  const schema = uniqueSchema('evco_mig');

  afterAll(() => dropSchema(schema));

  it('a schema a newer version migrated is refused with STORE_SCHEMA, not reported up to date', async () => {
    const url = await databaseUrl();
    const newer = uniqueSchema('evco_mig_new');
    const store = createPostgresStore({ connectionString: url, schema: newer, poolSize: 1 });
    try {
      await store.migrate();
      await recordNewerVersion(newer);
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

  it('every way of building a store refuses a newer schema at its first call, before any write: pooler transaction or none, a pool of your own, nothing sent at startup', async () => {
    const url = await databaseUrl();
    const newer = uniqueSchema('evco_mig_ways');
    const owner = createPostgresStore({ connectionString: url, schema: newer, poolSize: 1 });
    const pool = new pgPool({ connectionString: url, max: 2 });
    const refusal = `was migrated to version ${LATEST_VERSION + 1} by a newer @evco/store-postgres (this one knows up to ${LATEST_VERSION})`;
    try {
      await owner.migrate();
      await recordNewerVersion(newer);
      const ways: Array<[string, Partial<PostgresStoreOptions>]> = [
        ["pooler: 'transaction'", { connectionString: url, pooler: 'transaction' }],
        ["pooler: 'none'", { connectionString: url, pooler: 'none' }],
        [
          "pooler: 'auto' sending nothing at startup",
          { connectionString: url, preparedStatements: false, statementTimeoutMs: 0 },
        ],
        ['a pool of your own', { pool }],
        ["a pool of your own, pooler: 'transaction'", { pool, pooler: 'transaction' }],
      ];
      for (const [way, options] of ways) {
        const store = createPostgresStore({ schema: newer, poolSize: 1, ...options } as PostgresStoreOptions);
        try {
          for (const call of [
            () =>
              store.append([createDomainEvent({ eventType: 'Written', aggregateId: 'a' })], {
                now: new Date(),
              }),
            () => store.read({ limit: 10, order: 'asc' }),
            () => store.migrate(),
          ]) {
            const error = await call().then(
              () => undefined,
              (e: unknown) => e,
            );
            expect(error, way).toMatchObject({
              code: 'STORE_SCHEMA',
              message: expect.stringContaining(refusal),
            });
          }
        } finally {
          await store.close();
        }
      }
      // Nothing was written by any of them.
      expect(await sql(`SELECT 1 FROM "${newer}".events`)).toEqual([]);
    } finally {
      await pool.end();
      await owner.close();
      await dropSchema(newer);
    }
  });

  it('a running process whose schema a newer version migrates meanwhile says so in its health check, without the password', async () => {
    // A password in the URL (trust authentication ignores it; one the server checks is kept).
    const url = new URL(await databaseUrl());
    if (url.password === '') url.password = 's3cret-health';
    const secret = decodeURIComponent(url.password);
    const running = uniqueSchema('evco_mig_run');
    const store = createPostgresStore({ connectionString: url.href, schema: running, poolSize: 2 });
    try {
      await store.migrate();
      await store.append([createDomainEvent({ eventType: 'Before', aggregateId: 'a' })], { now: new Date() });
      expect(await store.healthCheck()).toMatchObject({ healthy: true });
      // A newer release rolls out and migrates the schema, as its migrate() would.
      await recordNewerVersion(running);
      const health = await store.healthCheck();
      expect(health.healthy).toBe(false);
      expect(health.details.error).toBe(
        `[evco:store-postgres] schema "${running}" is at version ${LATEST_VERSION + 1}, newer than this process knows (${LATEST_VERSION}): a newer @evco/store-postgres migrated it while this process ran; replace this process with one running that release`,
      );
      expect(health.details).toMatchObject({ store: 'postgres', schema: running });
      expect(JSON.stringify(health)).not.toContain(secret);
      // What /health/ready, evco status and the dashboard read: core's status carries it.
      const admin = await createAdminClient({ store, logger: silentLogger });
      const status = await admin.getCoordinatorStatus();
      expect(status.store.health.healthy).toBe(false);
      expect(String(status.store.health.details.error)).toContain(
        `newer than this process knows (${LATEST_VERSION})`,
      );
      expect(JSON.stringify(status)).not.toContain(secret);
    } finally {
      await store.close();
      await dropSchema(running);
    }
  });

  it('a newer version that still runs this release (runs_with) keeps a running process healthy, with a note, and lets another start: a rolling upgrade does not take the old processes out of readiness', async () => {
    const url = await databaseUrl();
    const rolling = uniqueSchema('evco_mig_roll');
    const store = createPostgresStore({ connectionString: url, schema: rolling, poolSize: 2 });
    const restarted = createPostgresStore({ connectionString: url, schema: rolling, poolSize: 1 });
    try {
      await store.migrate();
      // What this release records for its own versions: 6 runs with a release that knows 5.
      const recorded = await sql<{ version: number; runs_with: number }>(
        `SELECT version, runs_with FROM "${rolling}".migrations ORDER BY version`,
      );
      expect(recorded.find((r) => r.version === 6)?.runs_with).toBe(5);
      expect(recorded.find((r) => r.version === 5)?.runs_with).toBe(5);
      await recordNewerVersion(rolling, LATEST_VERSION);
      const health = await store.healthCheck();
      expect(health.healthy).toBe(true);
      expect(health.details).toMatchObject({ schemaVersion: LATEST_VERSION + 1 });
      expect(String(health.details.note)).toContain(
        `is at version ${LATEST_VERSION + 1}, newer than this process knows (${LATEST_VERSION}); that version still runs this release's statements`,
      );
      // A process of this release that restarts mid-roll starts, and works; its migrate() reports
      // the version the schema is at, not the one it knows.
      const newer = LATEST_VERSION + 1;
      expect(await restarted.migrate()).toEqual({ fromVersion: newer, toVersion: newer });
      await restarted.append([createDomainEvent({ eventType: 'DuringRoll', aggregateId: 'a' })], {
        now: new Date(),
      });
      expect(await restarted.healthCheck()).toMatchObject({ healthy: true });
      // A later version that needs more than this release: replace it.
      await recordNewerVersion(rolling, LATEST_VERSION + 2, LATEST_VERSION + 2);
      const after = await store.healthCheck();
      expect(after.healthy).toBe(false);
      expect(String(after.details.error)).toContain(
        `is at version ${LATEST_VERSION + 2}, newer than this process knows`,
      );
    } finally {
      await store.close();
      await restarted.close();
      await dropSchema(rolling);
    }
  });

  it('a migrations table made before runs_with existed still answers the health check, and a newer version then counts as one to replace this process for', async () => {
    const url = await databaseUrl();
    const old = uniqueSchema('evco_mig_old');
    const store = createPostgresStore({ connectionString: url, schema: old, poolSize: 1 });
    try {
      await store.migrate();
      await sql(`ALTER TABLE "${old}".migrations DROP COLUMN runs_with`);
      expect(await store.healthCheck()).toMatchObject({ healthy: true });
      await recordNewerVersion(old);
      expect((await store.healthCheck()).healthy).toBe(false);
    } finally {
      await store.close();
      await dropSchema(old);
    }
  });

  it('five stores migrating one schema at once end with one schema, each version applied once', async () => {
    const url = await databaseUrl();
    const stores = Array.from({ length: 5 }, () =>
      createPostgresStore({ connectionString: url, schema, poolSize: 2 }),
    );
    try {
      const first = await Promise.all(stores.map((s) => s.migrate()));
      // One of them created the schema; the others found it created (they re-read under the lock).
      const created = { fromVersion: 0, toVersion: LATEST_VERSION };
      const current = { fromVersion: LATEST_VERSION, toVersion: LATEST_VERSION };
      expect(first.filter((m) => m.fromVersion === 0)).toEqual([created]);
      expect(first.filter((m) => m.fromVersion !== 0)).toEqual(Array(4).fill(current));
      // And again: up to date is a no-op.
      expect(await Promise.all(stores.map((s) => s.migrate()))).toEqual(Array(5).fill(current));
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
        'dead_letters',
        'deliveries',
        'events',
        'flows',
        'flows_swept',
        'leases',
        'migrations',
        'pruned',
        'replay_deliveries',
        'replays',
        'subscriptions',
      ]);
    } finally {
      await client.end();
    }
  });

  it('version 6 drops the deliveries status CHECK of a schema at version 5, keeping its deliveries', async () => {
    const old = uniqueSchema('evco_mig6');
    const quoted = quoteIdentifier(old);
    const checks = async () =>
      (
        await client.query(
          `SELECT conname FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'c' ORDER BY conname`,
          [`${quoted}.deliveries`],
        )
      ).rows.map((r) => r.conname);
    const client = await connect();
    const store = createPostgresStore({ connectionString: await databaseUrl(), schema: old, poolSize: 1 });
    try {
      await schemaAtVersion(client, quoted, 5);
      await client.query(
        `INSERT INTO ${quoted}.deliveries (position, handler, aggregate_id, ordered, run, status, next_attempt_at,
           created_at, updated_at)
         VALUES (1, 'h', 'a', false, 1, 'open', now(), now(), now()), (2, 'h', 'a', false, 1, 'dead', now(), now(), now())`,
      );
      expect(await checks()).toEqual(['deliveries_status_check']);
      expect(await store.migrate()).toEqual({ fromVersion: 5, toVersion: LATEST_VERSION });
      expect(await checks()).toEqual([]);
      expect(await store.migrate()).toEqual({ fromVersion: LATEST_VERSION, toVersion: LATEST_VERSION });
      // (Version 7 then moved the dead one to dead_letters.)
      const kept = await client.query(
        `SELECT position::int, 'open' AS status FROM ${quoted}.deliveries
         UNION ALL SELECT position::int, 'dead' FROM ${quoted}.dead_letters ORDER BY position`,
      );
      expect(kept.rows).toEqual([
        { position: 1, status: 'open' },
        { position: 2, status: 'dead' },
      ]);
    } finally {
      await store.close();
      await client.end();
      await dropSchema(old);
    }
  });

  it('version 7 moves the dead deliveries of a schema at version 6 into dead_letters and drops the dead indexes of deliveries, keeping what a dead letter shows and a re-drive needs', async () => {
    const old = uniqueSchema('evco_mig7');
    const quoted = quoteIdentifier(old);
    const client = await connect();
    const store = createPostgresStore({ connectionString: await databaseUrl(), schema: old, poolSize: 2 });
    const indexes = async (table: string) =>
      (
        await client.query(
          `SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND tablename = $2 ORDER BY 1`,
          [old, table],
        )
      ).rows.map((r) => r.indexname);
    try {
      await schemaAtVersion(client, quoted, 6);
      expect(await indexes('deliveries')).toContain('deliveries_dead_idx');
      const died = new Date('2026-03-01T10:00:00.000Z');
      const replay = '0190f5d2-0000-7000-8000-0000000000aa';
      // Three events; event 2 has an open delivery for h and dead ones for h (replayed) and g.
      await client.query(
        `INSERT INTO ${quoted}.events (position, event_id, event_type, aggregate_id, event_data, metadata, occurred_at, recorded_at)
         SELECT g, ('0190f5d2-0000-7000-8000-00000000000' || g)::uuid, 'T', 'a', '{}', '{"schemaVersion":1}', $1, $1
         FROM generate_series(1, 3) g`,
        [died],
      );
      await client.query(
        `INSERT INTO ${quoted}.deliveries (position, handler, aggregate_id, ordered, run, status, attempts,
           next_attempt_at, last_error, is_replay, replay_id, created_at, updated_at)
         VALUES (1, 'h', 'a', true, 11, 'open', 1, $1, NULL, false, NULL, $1, $1),
                (2, 'h', 'a', true, 12, 'dead', 5, $1, 'boom', true, $2, $1, $1),
                (2, 'g', 'a', false, 13, 'dead', 3, $1, 'bang', false, NULL, $1, $1)`,
        [died, replay],
      );
      expect(await store.migrate()).toEqual({ fromVersion: 6, toVersion: LATEST_VERSION });
      expect(await indexes('deliveries')).toEqual([
        'deliveries_chain_idx',
        'deliveries_open_idx',
        'deliveries_pkey',
      ]);
      expect(await indexes('dead_letters')).toEqual([
        'dead_letters_handler_idx',
        'dead_letters_pkey',
        'dead_letters_replay_idx',
      ]);
      const live = await client.query(`SELECT position::int, handler, status FROM ${quoted}.deliveries`);
      expect(live.rows).toEqual([{ position: 1, handler: 'h', status: 'open' }]);
      const moved = await client.query(
        `SELECT position::int, handler, aggregate_id, ordered, run::int, attempts, last_error, is_replay,
           replay_id::text, updated_at FROM ${quoted}.dead_letters ORDER BY handler`,
      );
      expect(moved.rows).toEqual([
        {
          position: 2,
          handler: 'g',
          aggregate_id: 'a',
          ordered: false,
          run: 13,
          attempts: 3,
          last_error: 'bang',
          is_replay: false,
          replay_id: null,
          updated_at: died,
        },
        {
          position: 2,
          handler: 'h',
          aggregate_id: 'a',
          ordered: true,
          run: 12,
          attempts: 5,
          last_error: 'boom',
          is_replay: true,
          replay_id: replay,
          updated_at: died,
        },
      ]);
      // What the port shows of them, and a re-drive of one.
      const letters = await store.getDeadLetters({ limit: 10 });
      expect(
        letters.map((l) => [
          l.event.position,
          l.delivery.deliveryId,
          l.delivery.attempts,
          l.delivery.lastError,
        ]),
      ).toEqual([
        ['2', '2:13/g', 3, 'bang'],
        ['2', '2:12/h', 5, 'boom'],
      ]);
      expect(await store.stats({ now: died })).toMatchObject({ pending: 1, dead: 2, unprocessedEvents: 2 });
      const now = new Date('2026-03-01T11:00:00.000Z');
      expect(await store.retryDeadLetters({ handler: 'g', now })).toBe(1);
      const redriven = await client.query(
        `SELECT position::int, handler, ordered, status, attempts, lease_owner, created_at FROM ${quoted}.deliveries
         WHERE handler = 'g'`,
      );
      expect(redriven.rows).toEqual([
        {
          position: 2,
          handler: 'g',
          ordered: false,
          status: 'open',
          attempts: 0,
          lease_owner: null,
          created_at: now,
        },
      ]);
      expect(await store.migrate()).toEqual({ fromVersion: LATEST_VERSION, toVersion: LATEST_VERSION });
      const recorded = await client.query(`SELECT runs_with FROM ${quoted}.migrations WHERE version = 7`);
      // An older release would write its dead deliveries where this one no longer looks.
      expect(recorded.rows).toEqual([{ runs_with: 7 }]);
    } finally {
      await store.close();
      await client.end();
      await dropSchema(old);
    }
  });
  describe('after version 7, what a process of an older release dead-lettered in deliveries', () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    /** An old release's `fail` of a last attempt: the delivery row stays in deliveries, marked dead. */
    async function oldReleaseDeadLetters(client: pg.Client, quoted: string, position: number): Promise<void> {
      await client.query(
        `INSERT INTO ${quoted}.events (position, event_id, event_type, aggregate_id, event_data, metadata, occurred_at, recorded_at)
         VALUES ($1::bigint, ('0190f5d2-0000-7000-8000-' || lpad($1::bigint::text, 12, '0'))::uuid, 'T', 'a', '{}', '{"schemaVersion":1}', now(), now())`,
        [position],
      );
      await client.query(
        `INSERT INTO ${quoted}.deliveries (position, handler, aggregate_id, ordered, run, status, attempts,
           next_attempt_at, last_error, is_replay, replay_id, created_at, updated_at)
         VALUES ($1::bigint, 'h', 'a', false, $1::bigint, 'dead', 5, now(), 'old boom', false, NULL, now(), now())`,
        [position],
      );
    }

    const where = async (client: pg.Client, quoted: string) => ({
      deliveries: (await client.query(`SELECT position::int FROM ${quoted}.deliveries ORDER BY 1`)).rows.map(
        (r) => r.position,
      ),
      deadLetters: (
        await client.query(`SELECT position::int, last_error FROM ${quoted}.dead_letters ORDER BY 1`)
      ).rows.map((r) => [r.position, r.last_error]),
    });

    it('is moved to dead_letters by each new process as it starts and, for a day after the upgrade, beside its claims', async () => {
      const old = uniqueSchema('evco_mig7_left');
      const quoted = quoteIdentifier(old);
      const client = await connect();
      const url = await databaseUrl();
      const first = createPostgresStore({ connectionString: url, schema: old, poolSize: 1 });
      const second = createPostgresStore({ connectionString: url, schema: old, poolSize: 2 });
      try {
        await schemaAtVersion(client, quoted, 6);
        expect(await first.migrate()).toEqual({ fromVersion: 6, toVersion: LATEST_VERSION });
        // An old process, still running, dead-letters after the first new one migrated ...
        await oldReleaseDeadLetters(client, quoted, 1);
        // ... and the next new process to start moves it.
        await second.migrate();
        expect(await where(client, quoted)).toEqual({ deliveries: [], deadLetters: [[1, 'old boom']] });
        expect((await second.getDeadLetters({ limit: 10 })).map((l) => l.event.position)).toEqual(['1']);

        // Another, later on: moved beside a claim once the sweep is due again, not before.
        await oldReleaseDeadLetters(client, quoted, 2);
        const claim = { consumerId: 'c', handlers: ['h'], now: new Date(), leaseMs: 30_000, limit: 10 };
        expect(await second.claimDue(claim)).toEqual([]);
        await new Promise((r) => setTimeout(r, 200));
        expect((await where(client, quoted)).deliveries).toEqual([2]);
        vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + LEFTOVER_SWEEP_EVERY_MS + 1_000 });
        expect(await second.claimDue(claim)).toEqual([]);
        await vi.waitFor(async () => expect((await where(client, quoted)).deliveries).toEqual([]), {
          timeout: 10_000,
        });
        expect((await where(client, quoted)).deadLetters).toEqual([
          [1, 'old boom'],
          [2, 'old boom'],
        ]);
        vi.useRealTimers();

        // A day after the upgrade, no process looks any more (the README's statement is left).
        await client.query(
          `UPDATE ${quoted}.migrations SET applied_at = applied_at - interval '25 hours' WHERE version = 7`,
        );
        await oldReleaseDeadLetters(client, quoted, 3);
        const later = createPostgresStore({ connectionString: url, schema: old, poolSize: 1 });
        try {
          await later.migrate();
          expect((await where(client, quoted)).deliveries).toEqual([3]);
        } finally {
          await later.close();
        }
      } finally {
        await first.close();
        await second.close();
        await client.end();
        await dropSchema(old);
      }
    });

    it('is never looked for on a schema created at version 7 or later: no older release ran on it', async () => {
      await expectNoSweepOnAFreshSchema(
        'evco_mig7_fresh',
        'h',
        (client, quoted) => oldReleaseDeadLetters(client, quoted, 1),
        async (client, quoted) => {
          const { deliveries, deadLetters } = await where(client, quoted);
          // Left where it was written, not moved.
          expect(deliveries).toEqual([1]);
          return deadLetters;
        },
      );
    });
  });
  describe('version 8: flows in a table of their own', () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    const ID = (n: number) => `0190f5d2-0000-7000-8000-${String(n).padStart(12, '0')}`;

    /**
     * What a release that knows version 7 appends: the event alone (its statements write no flow
     * row), at the position its transaction gives it. `position` for the small ones a test loads.
     */
    async function oldAppend(
      client: pg.Client,
      quoted: string,
      id: string,
      metadata: Record<string, unknown>,
      position?: number,
    ): Promise<string> {
      const { rows } = await client.query(
        `INSERT INTO ${quoted}.events (position, event_id, event_type, aggregate_id, event_data, metadata, occurred_at, recorded_at)
         VALUES (coalesce($3::bigint, pg_current_xact_id()::text::bigint * 1048576 + 1), $1::uuid, 'T', 'a', '{}', $2::jsonb, now(), now())
         RETURNING position::text`,
        [id, JSON.stringify({ schemaVersion: 1, ...metadata }), position ?? null],
      );
      return rows[0].position;
    }

    /**
     * Until every transaction that could still commit an event at or below `position` is over: a
     * sweep indexes settled events only (other sessions on the server may hold the horizon back).
     */
    const settledPast = (client: pg.Client, position: string) =>
      vi.waitFor(
        async () => {
          const { rows } = await client.query(
            `SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint * 1048576 > $1::bigint AS past`,
            [position],
          );
          expect(rows[0].past).toBe(true);
        },
        { timeout: 30_000, interval: 50 },
      );

    const flowsOf = async (client: pg.Client, quoted: string) =>
      (
        await client.query(
          `SELECT position::text, correlation_id, causation_id FROM ${quoted}.flows ORDER BY position`,
        )
      ).rows.map((r) => [r.position, r.correlation_id, r.causation_id]);

    it('copies the flows of the events of a schema at version 7 and drops the events flow indexes; every flow read answers as before', async () => {
      const old = uniqueSchema('evco_mig8');
      const quoted = quoteIdentifier(old);
      const client = await connect();
      const store = createPostgresStore({ connectionString: await databaseUrl(), schema: old, poolSize: 2 });
      try {
        await schemaAtVersion(client, quoted, 7);
        const root = ID(1);
        // A root, a caused event, one correlated only, one correlated to itself but caused, one
        // correlated to its own id in capitals (not the id as Postgres prints it), one without any.
        await oldAppend(client, quoted, root, { correlationId: root }, 1);
        await oldAppend(client, quoted, ID(2), { correlationId: root, causationId: root }, 2);
        await oldAppend(client, quoted, ID(3), { correlationId: 'order-1' }, 3);
        await oldAppend(client, quoted, ID(4), { correlationId: ID(4), causationId: ID(2) }, 4);
        await oldAppend(client, quoted, ID(5), { correlationId: ID(5).toUpperCase() }, 5);
        await oldAppend(client, quoted, ID(6), {}, 6);
        expect(await store.migrate()).toEqual({ fromVersion: 7, toVersion: LATEST_VERSION });
        expect(await flowsOf(client, quoted)).toEqual([
          ['2', root, root],
          ['3', 'order-1', null],
          ['4', null, ID(2)],
          ['5', ID(5).toUpperCase(), null],
        ]);
        const { rows } = await client.query(
          `SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND tablename IN ('events', 'flows') ORDER BY 1`,
          [old],
        );
        expect(rows.map((r) => r.indexname)).toEqual([
          'events_aggregate_idx',
          'events_aggregate_type_idx',
          'events_aggregate_version_key',
          'events_event_id_key',
          'events_pkey',
          'events_time_idx',
          'events_type_idx',
          'flows_causation_idx',
          'flows_correlation_idx',
          'flows_pkey',
        ]);
        const read = async (q: { correlationId?: string; causationId?: string }) =>
          (await store.read({ ...q, limit: 10 })).map((e) => e.position);
        expect(await read({ correlationId: root })).toEqual(['1', '2']);
        expect(await read({ causationId: root })).toEqual(['2']);
        expect(await read({ causationId: ID(2) })).toEqual(['4']);
        expect(await read({ correlationId: 'order-1' })).toEqual(['3']);
        expect(await read({ correlationId: ID(4) })).toEqual(['4']);
        expect(await read({ correlationId: ID(5).toUpperCase() })).toEqual(['5']);
        expect(await read({ correlationId: ID(5) })).toEqual([]);
        // No correlation id at all: in no flow, not even its own.
        expect(await read({ correlationId: ID(6) })).toEqual([]);
        const recorded = await client.query(`SELECT runs_with FROM ${quoted}.migrations WHERE version = 8`);
        // An older release would append flows without their rows and read them by dropped indexes.
        expect(recorded.rows).toEqual([{ runs_with: 8 }]);
      } finally {
        await store.close();
        await client.end();
        await dropSchema(old);
      }
    });

    it('what a process of an older release appends in a flow after it is indexed by each new process as it starts and, for a day after the upgrade, beside its claims', async () => {
      const old = uniqueSchema('evco_mig8_left');
      const quoted = quoteIdentifier(old);
      const client = await connect();
      const url = await databaseUrl();
      const first = createPostgresStore({ connectionString: url, schema: old, poolSize: 1 });
      const second = createPostgresStore({ connectionString: url, schema: old, poolSize: 2 });
      const root = ID(1);
      const flowsRead = async () => (await second.read({ correlationId: root, limit: 10 })).map((e) => e.id);
      try {
        await schemaAtVersion(client, quoted, 7);
        await oldAppend(client, quoted, root, { correlationId: root }, 1);
        expect(await first.migrate()).toEqual({ fromVersion: 7, toVersion: LATEST_VERSION });
        // An old process, still running, appends in the flow after the first new one migrated ...
        const p2 = await oldAppend(client, quoted, ID(2), { correlationId: root, causationId: root });
        // ... and a root, which needs no row.
        await oldAppend(client, quoted, ID(3), { correlationId: ID(3) });
        // ... and the next new process to start indexes it (once it is settled).
        await settledPast(client, p2);
        await second.migrate();
        expect(await flowsOf(client, quoted)).toEqual([[p2, root, root]]);
        expect(await flowsRead()).toEqual([root, ID(2)]);

        // Another, later on: indexed beside a claim once the sweep is due again, not before.
        const p4 = await oldAppend(client, quoted, ID(4), { correlationId: root, causationId: ID(2) });
        const claim = { consumerId: 'c', handlers: ['h'], now: new Date(), leaseMs: 30_000, limit: 10 };
        expect(await second.claimDue(claim)).toEqual([]);
        await new Promise((r) => setTimeout(r, 200));
        expect(await flowsRead()).toEqual([root, ID(2)]);
        await settledPast(client, p4);
        vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + LEFTOVER_SWEEP_EVERY_MS + 1_000 });
        expect(await second.claimDue(claim)).toEqual([]);
        await vi.waitFor(async () => expect((await flowsOf(client, quoted)).length).toBe(2), {
          timeout: 10_000,
        });
        vi.useRealTimers();
        expect(await flowsOf(client, quoted)).toEqual([
          [p2, root, root],
          [p4, root, ID(2)],
        ]);
        expect(await flowsRead()).toEqual([root, ID(2), ID(4)]);

        // A day after the upgrade, no process looks any more (the README's statement is left).
        await client.query(
          `UPDATE ${quoted}.migrations SET applied_at = applied_at - interval '25 hours' WHERE version = 8`,
        );
        await oldAppend(client, quoted, ID(5), { causationId: root });
        const later = createPostgresStore({ connectionString: url, schema: old, poolSize: 1 });
        try {
          await later.migrate();
          expect((await flowsOf(client, quoted)).length).toBe(2);
        } finally {
          await later.close();
        }
      } finally {
        await first.close();
        await second.close();
        await client.end();
        await dropSchema(old);
      }
    });

    it('is never looked for on a schema created at version 8 or later: no older release ran on it', async () => {
      await expectNoSweepOnAFreshSchema(
        'evco_mig8_fresh',
        'h',
        (client, quoted) => oldAppend(client, quoted, ID(1), { causationId: ID(9) }),
        flowsOf,
      );
    });
  });
  describe('version 9: replay progress from replay_deliveries', () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    const REPLAY = '0190f5d2-0000-7000-8000-0000000000aa';
    const OTHER = '0190f5d2-0000-7000-8000-0000000000bb';
    const noted = async (client: pg.Client, quoted: string) =>
      (
        await client.query(
          `SELECT replay_id::text, position::int, handler FROM ${quoted}.replay_deliveries ORDER BY 1, 2, 3`,
        )
      ).rows.map((r) => [r.replay_id, r.position, r.handler]);

    /** Events 1..n and a replay row, done, as an older release leaves them. */
    async function eventsAndReplay(
      client: pg.Client,
      quoted: string,
      n: number,
      replay = REPLAY,
    ): Promise<void> {
      await client.query(
        `INSERT INTO ${quoted}.events (position, event_id, event_type, aggregate_id, event_data, metadata, occurred_at, recorded_at)
         SELECT g, ('0190f5d2-0000-7000-8000-' || lpad(g::text, 12, '0'))::uuid, 'T', 'a', '{}', '{"schemaVersion":1}', now(), now()
         FROM generate_series(1, $1::int) g ON CONFLICT DO NOTHING`,
        [n],
      );
      await client.query(
        `INSERT INTO ${quoted}.replays (replay_id, from_at, to_at, max_events, from_position, until_position, status,
           events_matched, deliveries_queued, created_at, updated_at)
         VALUES ($1::uuid, now() - interval '1 hour', now(), 100, 1, $2::bigint, 'done', $2::int, $2::int, now(), now())`,
        [replay, n],
      );
    }

    /** What an older release's replay requeue writes: the delivery, with its replay id, and no note. */
    async function oldRequeue(
      client: pg.Client,
      quoted: string,
      position: number,
      handler: string,
      replay = REPLAY,
    ) {
      await client.query(
        `INSERT INTO ${quoted}.deliveries (position, handler, aggregate_id, ordered, run, status, next_attempt_at,
           is_replay, replay_id, created_at, updated_at)
         VALUES ($1::bigint, $2, 'a', false, 7, 'open', now(), true, $3::uuid, now(), now())`,
        [position, handler, replay],
      );
    }

    it('notes the replayed open deliveries and dead letters of a schema at version 8 and drops deliveries_replay_idx; the progress counts as before', async () => {
      const old = uniqueSchema('evco_mig9');
      const quoted = quoteIdentifier(old);
      const client = await connect();
      const store = createPostgresStore({ connectionString: await databaseUrl(), schema: old, poolSize: 2 });
      try {
        await schemaAtVersion(client, quoted, 8);
        await eventsAndReplay(client, quoted, 4);
        await eventsAndReplay(client, quoted, 4, OTHER);
        // The replay's: two open deliveries (one leased) and a dead letter; event 3's delivery is
        // no replay's, event 4's another replay's.
        await oldRequeue(client, quoted, 1, 'h');
        await oldRequeue(client, quoted, 2, 'h');
        await client.query(
          `UPDATE ${quoted}.deliveries SET lease_owner = 'c', attempts = 1 WHERE position = 2`,
        );
        await client.query(
          `INSERT INTO ${quoted}.deliveries (position, handler, aggregate_id, ordered, run, status, next_attempt_at,
             created_at, updated_at) VALUES (3, 'h', 'a', false, 7, 'open', now(), now(), now())`,
        );
        await oldRequeue(client, quoted, 4, 'h', OTHER);
        await client.query(
          `INSERT INTO ${quoted}.dead_letters (position, handler, aggregate_id, ordered, run, attempts, last_error,
             is_replay, replay_id, updated_at) VALUES (2, 'g', 'a', false, 7, 5, 'boom', true, $1::uuid, now())`,
          [REPLAY],
        );
        expect(await store.migrate()).toEqual({ fromVersion: 8, toVersion: LATEST_VERSION });
        expect(await noted(client, quoted)).toEqual([
          [REPLAY, 1, 'h'],
          [REPLAY, 2, 'g'],
          [REPLAY, 2, 'h'],
          [OTHER, 4, 'h'],
        ]);
        const { rows } = await client.query(
          `SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND tablename = 'deliveries' ORDER BY 1`,
          [old],
        );
        expect(rows.map((r) => r.indexname)).toEqual([
          'deliveries_chain_idx',
          'deliveries_open_idx',
          'deliveries_pkey',
        ]);
        expect(await store.getReplay(REPLAY)).toMatchObject({
          deliveriesOpen: 2,
          deliveriesDead: 1,
          done: false,
        });
        expect(await store.getReplay(OTHER)).toMatchObject({
          deliveriesOpen: 1,
          deliveriesDead: 0,
          done: false,
        });
        // A delivery done (deleted, as a completion does), the dead letter re-driven: counted as before.
        await client.query(`DELETE FROM ${quoted}.deliveries WHERE position = 1`);
        expect(await store.retryDeadLetters({ handler: 'g', now: new Date() })).toBe(1);
        expect(await store.getReplay(REPLAY)).toMatchObject({
          deliveriesOpen: 2,
          deliveriesDead: 0,
          done: false,
        });
        await client.query(`DELETE FROM ${quoted}.deliveries WHERE replay_id = $1::uuid`, [REPLAY]);
        expect(await store.getReplay(REPLAY)).toMatchObject({
          deliveriesOpen: 0,
          deliveriesDead: 0,
          done: true,
        });
        const recorded = await client.query(`SELECT runs_with FROM ${quoted}.migrations WHERE version = 9`);
        // An older release would queue replayed deliveries without their note.
        expect(recorded.rows).toEqual([{ runs_with: 9 }]);
      } finally {
        await store.close();
        await client.end();
        await dropSchema(old);
      }
    });

    it('what a process of an older release queues in a replay after it is noted by each new process as it starts and, for a day after the upgrade, beside its claims', async () => {
      const old = uniqueSchema('evco_mig9_left');
      const quoted = quoteIdentifier(old);
      const client = await connect();
      const url = await databaseUrl();
      const first = createPostgresStore({ connectionString: url, schema: old, poolSize: 1 });
      const second = createPostgresStore({ connectionString: url, schema: old, poolSize: 2 });
      const open = async () => (await second.getReplay(REPLAY))?.deliveriesOpen;
      try {
        await schemaAtVersion(client, quoted, 8);
        await eventsAndReplay(client, quoted, 4);
        expect(await first.migrate()).toEqual({ fromVersion: 8, toVersion: LATEST_VERSION });
        // An old process, still running, requeues after the first new one migrated ...
        await oldRequeue(client, quoted, 1, 'h');
        expect(await open()).toBe(0);
        // ... and the next new process to start notes it.
        await second.migrate();
        expect(await open()).toBe(1);

        // Another, later on: noted beside a claim once the sweep is due again, not before.
        await oldRequeue(client, quoted, 2, 'h');
        const claim = { consumerId: 'c', handlers: ['x'], now: new Date(), leaseMs: 30_000, limit: 10 };
        expect(await second.claimDue(claim)).toEqual([]);
        await new Promise((r) => setTimeout(r, 200));
        expect(await open()).toBe(1);
        vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + LEFTOVER_SWEEP_EVERY_MS + 1_000 });
        expect(await second.claimDue(claim)).toEqual([]);
        await vi.waitFor(async () => expect(await open()).toBe(2), { timeout: 10_000 });
        vi.useRealTimers();

        // A day after the upgrade, no process looks any more.
        await client.query(
          `UPDATE ${quoted}.migrations SET applied_at = applied_at - interval '25 hours' WHERE version = 9`,
        );
        await oldRequeue(client, quoted, 3, 'h');
        const later = createPostgresStore({ connectionString: url, schema: old, poolSize: 1 });
        try {
          await later.migrate();
          expect(await noted(client, quoted)).toEqual([
            [REPLAY, 1, 'h'],
            [REPLAY, 2, 'h'],
          ]);
        } finally {
          await later.close();
        }
      } finally {
        await first.close();
        await second.close();
        await client.end();
        await dropSchema(old);
      }
    });

    it('is never looked for on a schema created at version 9 or later: no older release ran on it', async () => {
      await expectNoSweepOnAFreshSchema(
        'evco_mig9_fresh',
        'x',
        async (client, quoted) => {
          await eventsAndReplay(client, quoted, 1);
          await oldRequeue(client, quoted, 1, 'h');
        },
        noted,
      );
    });
  });
  it("version 10 adds the chain check function to a schema at version 9 with deliveries: an unordered claim holds an ordered delivery behind its aggregate's earlier one; a release that knows 9 runs on it", async () => {
    const old = uniqueSchema('evco_mig10');
    const quoted = quoteIdentifier(old);
    const client = await connect();
    const store = createPostgresStore({ connectionString: await databaseUrl(), schema: old, poolSize: 2 });
    try {
      await schemaAtVersion(client, quoted, 9);
      await client.query(
        `INSERT INTO ${quoted}.events (position, event_id, event_type, aggregate_id, event_data, metadata, occurred_at, recorded_at)
         SELECT g, ('0190f5d2-0000-7000-8000-' || lpad(g::text, 12, '0'))::uuid, 'T', CASE WHEN g = 3 THEN 'b' ELSE 'a' END,
           '{}', '{"schemaVersion":1}', now(), now()
         FROM generate_series(1, 3) g`,
      );
      // Made while h was ordered: two of aggregate a, one of b.
      await client.query(
        `INSERT INTO ${quoted}.deliveries (position, handler, aggregate_id, ordered, run, status, next_attempt_at,
           created_at, updated_at)
         SELECT g, 'h', CASE WHEN g = 3 THEN 'b' ELSE 'a' END, true, 7, 'open', now() - interval '1 minute', now(), now()
         FROM generate_series(1, 3) g`,
      );
      expect(await store.migrate()).toEqual({ fromVersion: 9, toVersion: LATEST_VERSION });
      const claimed = await store.claimDue({
        consumerId: 'c',
        handlers: ['h'],
        now: new Date(),
        leaseMs: 30_000,
        limit: 10,
        ordered: false,
      });
      expect(claimed.map((c) => c.event.position)).toEqual(['1', '3']);
      const recorded = await client.query(`SELECT runs_with FROM ${quoted}.migrations WHERE version = 10`);
      expect(recorded.rows).toEqual([{ runs_with: 9 }]);
    } finally {
      await store.close();
      await client.end();
      await dropSchema(old);
    }
  });
});
