import { StoreSchemaError } from '@evco/core/adapter';
import type { Pool } from 'pg';
import { checkout } from './checkout.js';
import { SOURCE } from './options.js';
import {
  BEGIN,
  bindSchema,
  COMMIT,
  CREATE_MIGRATIONS_TABLE,
  CREATE_SCHEMA,
  DISABLE_STATEMENT_TIMEOUT,
  INSERT_MIGRATION,
  LOCK_MIGRATIONS,
  MIGRATION_1_TABLES,
  MIGRATION_2_FLOWS,
  MIGRATION_3_RETENTION,
  MIGRATION_4_TIME_WINDOWS,
  MIGRATION_5_CORRELATION,
  MIGRATION_6_NO_STATUS_CHECK,
  ROLLBACK,
  SCHEMA_EXISTS,
  SELECT_APPLIED_MIGRATIONS,
  SELECT_MIGRATIONS_TABLE,
} from './sql.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** Append only: a released version is never edited, a change is a new version. */
export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: 'tables', sql: MIGRATION_1_TABLES },
  { version: 2, name: 'correlation and causation indexes, replay ids on deliveries', sql: MIGRATION_2_FLOWS },
  { version: 3, name: 'pruned ranges and leases (retention)', sql: MIGRATION_3_RETENTION },
  {
    version: 4,
    name: 'time windows: (occurred_at, position) index, replay position range',
    sql: MIGRATION_4_TIME_WINDOWS,
  },
  { version: 5, name: 'correlation index without root events', sql: MIGRATION_5_CORRELATION },
  { version: 6, name: 'no CHECK on the deliveries status', sql: MIGRATION_6_NO_STATUS_CHECK },
];

export const LATEST_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/**
 * Applies the pending migrations of one schema. Cheap when up to date (one read, no lock, no
 * DDL), so every process may call it at start. Otherwise everything runs in one transaction
 * under a transaction-level advisory lock keyed by the schema: concurrent callers queue on the
 * lock, and each re-reads the applied versions once it holds it, so exactly one applies each.
 */
export async function migrate(pool: Pool, schema: string, quoted: string): Promise<void> {
  const known = await appliedVersions(pool, quoted);
  refuseNewer(known, schema);
  if (known.has(LATEST_VERSION)) return;
  const held = await checkout(pool);
  const { client } = held;
  try {
    await client.query(BEGIN);
    try {
      await client.query(DISABLE_STATEMENT_TIMEOUT);
      await client.query(LOCK_MIGRATIONS, lockKey(schema));
      const schemaExists = await client.query<{ present: boolean }>(SCHEMA_EXISTS, [schema]);
      if (!schemaExists.rows[0]?.present) await client.query(bindSchema(CREATE_SCHEMA, quoted));
      await client.query(bindSchema(CREATE_MIGRATIONS_TABLE, quoted));
      const applied = new Set(
        (await client.query<{ version: number }>(bindSchema(SELECT_APPLIED_MIGRATIONS, quoted))).rows.map(
          (r) => r.version,
        ),
      );
      refuseNewer(applied, schema);
      for (const m of MIGRATIONS) {
        if (applied.has(m.version)) continue;
        await client.query(bindSchema(m.sql, quoted));
        await client.query(bindSchema(INSERT_MIGRATION, quoted), [m.version, m.name]);
      }
      await client.query(COMMIT);
    } catch (error) {
      await client.query(ROLLBACK).catch(() => {});
      throw held.lost() ?? error;
    }
  } finally {
    held.release();
  }
}

/**
 * A schema a newer @evco/store-postgres migrated (say, before an application was rolled back)
 * holds tables and rows this version does not know how to keep consistent: refused, as
 * store-sqlite refuses a newer file, instead of reported up to date and written to.
 */
function refuseNewer(applied: ReadonlySet<number>, schema: string): void {
  const newest = Math.max(0, ...applied);
  if (newest > LATEST_VERSION) {
    throw new StoreSchemaError(
      `schema "${schema}" was migrated to version ${newest} by a newer @evco/store-postgres (this one knows up to ${LATEST_VERSION}); upgrade @evco/store-postgres (and @evco/cli) in this process; nothing was changed`,
      { source: SOURCE },
    );
  }
}

/**
 * For a running process's health check: the schema's newest applied version is past what this
 * process knows, so a newer @evco/store-postgres migrated it after this process started (the
 * start-up refusal above could not see it). Its statements were written for the tables it knows.
 */
export function newerThanRunning(applied: number | null, schema: string): StoreSchemaError | undefined {
  if (applied === null || applied <= LATEST_VERSION) return undefined;
  return new StoreSchemaError(
    `schema "${schema}" is at version ${applied}, newer than this process knows (${LATEST_VERSION}): a newer @evco/store-postgres migrated it while this process ran; replace this process with one running that release`,
    { source: SOURCE },
  );
}

/**
 * Refuses, at a store's first statement, a schema a newer @evco/store-postgres migrated, as
 * `migrate()` does: a process that uses the store without migrating (an admin client, an
 * older `evco` CLI's status or history) would otherwise run statements written for the tables
 * it knows against ones it does not (schema version 5 took away the index version 4's reads by
 * correlation id need: they scan the whole table). A schema not migrated yet passes (`migrate()`
 * creates it; the first statement then names the missing tables).
 */
export async function refuseNewerSchema(pool: Pool, schema: string, quoted: string): Promise<void> {
  refuseNewer(await appliedVersions(pool, quoted), schema);
}

async function appliedVersions(pool: Pool, quoted: string): Promise<Set<number>> {
  const present = await pool.query<{ present: boolean }>(SELECT_MIGRATIONS_TABLE, [`${quoted}.migrations`]);
  if (!present.rows[0]?.present) return new Set();
  const rows = await pool.query<{ version: number }>(bindSchema(SELECT_APPLIED_MIGRATIONS, quoted));
  return new Set(rows.rows.map((r) => r.version));
}

/**
 * Two 32-bit keys: a fixed namespace for evco plus a hash of the schema, so stores in
 * different schemas migrate independently and nobody else's advisory locks collide with ours.
 */
export function lockKey(schema: string, namespace = MIGRATIONS_LOCK): [number, number] {
  let hash = 0x811c9dc5;
  for (let i = 0; i < schema.length; i++) {
    hash ^= schema.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return [namespace, hash | 0];
}

/** `evc0`: migrations of a schema. */
const MIGRATIONS_LOCK = 0x65766330;
/** `evc1`: prune batches (exclusive) and replay steps (shared) of a schema. */
export const PRUNE_LOCK = 0x65766331;
