import { type SchemaMigration, StoreSchemaError } from '@evco/core/adapter';
import type { Pool } from 'pg';
import { checkout } from './checkout.js';
import { SOURCE } from './options.js';
import {
  ADD_MIGRATIONS_RUNS_WITH,
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
  MIGRATION_7_DEAD_LETTERS,
  MIGRATION_8_FLOWS,
  MIGRATION_9_REPLAY_DELIVERIES,
  MIGRATION_10_CHAIN_HEAD,
  ROLLBACK,
  SCHEMA_EXISTS,
  SELECT_APPLIED_MIGRATIONS,
  SELECT_MIGRATIONS_TABLE,
} from './sql.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
  /**
   * The oldest schema version a release may know (its `LATEST_VERSION`) and still run correctly on
   * a schema at this version: a release that knows less must be replaced, one that knows at least
   * this keeps working through a rolling upgrade (it starts, and its health stays good, with a
   * note). Default: this version (every older release must be replaced). Recorded in the
   * migrations table (`runs_with`), where an older release reads it.
   */
  runsWith?: number | undefined;
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
  // Drops a constraint only: a release that knows version 5 writes and reads the same columns.
  { version: 6, name: 'no CHECK on the deliveries status', sql: MIGRATION_6_NO_STATUS_CHECK, runsWith: 5 },
  // No runsWith: a release that knows 6 or less writes its dead deliveries into `deliveries`,
  // where this version neither lists, counts nor re-drives them (see MIGRATION_7_DEAD_LETTERS).
  { version: 7, name: 'dead letters in a table of their own', sql: MIGRATION_7_DEAD_LETTERS },
  // No runsWith: a release that knows 7 or less appends events in a flow without their flow row
  // and reads flows through the indexes this drops (see MIGRATION_8_FLOWS; INDEX_LEFTOVER_FLOWS
  // mends its appends during a rolling upgrade).
  { version: 8, name: 'flows in a table of their own', sql: MIGRATION_8_FLOWS },
  // No runsWith: a release that knows 8 or less queues replayed deliveries without their note in
  // replay_deliveries, which this version's replay progress counts (see
  // MIGRATION_9_REPLAY_DELIVERIES; NOTE_LEFTOVER_REPLAYED mends its requeues during a rolling
  // upgrade), and counts its own progress by the index this drops.
  {
    version: 9,
    name: 'replay progress from replay_deliveries, no replay index on deliveries',
    sql: MIGRATION_9_REPLAY_DELIVERIES,
  },
  // Adds a function only this release's unordered claims call: a release that knows 9 runs on it.
  { version: 10, name: 'the chain check as a function', sql: MIGRATION_10_CHAIN_HEAD, runsWith: 9 },
];

export const LATEST_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/**
 * Applies the pending migrations of one schema. Cheap when up to date (one read, no lock, no
 * DDL), so every process may call it at start. Otherwise everything runs in one transaction
 * under a transaction-level advisory lock keyed by the schema: concurrent callers queue on the
 * lock, and each re-reads the applied versions once it holds it, so exactly one applies each.
 */
export async function migrate(pool: Pool, schema: string, quoted: string): Promise<SchemaMigration> {
  const known = await appliedVersions(pool, quoted);
  refuseNewer(known, schema);
  if (known.has(LATEST_VERSION)) {
    // A newer release may have gone further (a schema this one still runs with): report that.
    const at = Math.max(...known.keys());
    return { fromVersion: at, toVersion: at };
  }
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
      await client.query(bindSchema(ADD_MIGRATIONS_RUNS_WITH, quoted));
      const applied = toApplied(
        (await client.query<AppliedRow>(bindSchema(SELECT_APPLIED_MIGRATIONS, quoted))).rows,
      );
      refuseNewer(applied, schema);
      // Re-read under the lock: another process may have migrated since the read above.
      const fromVersion = Math.max(0, ...applied.keys());
      for (const m of MIGRATIONS) {
        if (applied.has(m.version)) continue;
        await client.query(bindSchema(m.sql, quoted));
        await client.query(bindSchema(INSERT_MIGRATION, quoted), [
          m.version,
          m.name,
          m.runsWith ?? m.version,
        ]);
      }
      await client.query(COMMIT);
      return { fromVersion, toVersion: Math.max(fromVersion, LATEST_VERSION) };
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
 * store-sqlite refuses a newer file, instead of reported up to date and written to — unless every
 * newer version says this release still runs on it (`runsWith`), as during a rolling upgrade.
 */
function refuseNewer(applied: Applied, schema: string): void {
  const newer = newerSchema(applied);
  if (newer && !newer.runsHere) {
    throw new StoreSchemaError(
      `schema "${schema}" was migrated to version ${newer.version} by a newer @evco/store-postgres (this one knows up to ${LATEST_VERSION}); upgrade @evco/store-postgres (and @evco/cli) in this process; nothing was changed`,
      { source: SOURCE },
    );
  }
}

/**
 * For a running process's health check, from the same rows as the start-up refusal above (which
 * could not see a migration made after this process started): a newer version this release does
 * not run on is an error (its statements were written for the tables it knows); one it still
 * runs on is a note beside "healthy" (the process keeps working; replace it at the next roll).
 */
export function runningStanding(
  applied: Applied,
  schema: string,
): { error: StoreSchemaError } | { note: string; schemaVersion: number } | undefined {
  const newer = newerSchema(applied);
  if (!newer) return undefined;
  const at = `schema "${schema}" is at version ${newer.version}, newer than this process knows (${LATEST_VERSION})`;
  return newer.runsHere
    ? {
        note: `${at}; that version still runs this release's statements, so the process keeps working: replace it at your next roll`,
        schemaVersion: newer.version,
      }
    : {
        error: new StoreSchemaError(
          `${at}: a newer @evco/store-postgres migrated it while this process ran; replace this process with one running that release`,
          { source: SOURCE },
        ),
      };
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

export interface AppliedRow {
  version: number;
  runs_with: number;
}

/** Applied versions, each with the oldest release version that still runs on it. */
export type Applied = ReadonlyMap<number, number>;

export function toApplied(rows: readonly AppliedRow[]): Applied {
  return new Map(rows.map((r) => [r.version, r.runs_with]));
}

/**
 * The newest applied version past this release's, and whether this release still runs on it
 * (every version past it says so: `runs_with`); undefined when none is past it.
 */
function newerSchema(applied: Applied): { version: number; runsHere: boolean } | undefined {
  let version = 0;
  let needed = 0;
  for (const [v, runsWith] of applied) {
    if (v <= LATEST_VERSION) continue;
    version = Math.max(version, v);
    needed = Math.max(needed, runsWith);
  }
  return version === 0 ? undefined : { version, runsHere: needed <= LATEST_VERSION };
}

async function appliedVersions(pool: Pool, quoted: string): Promise<Applied> {
  const present = await pool.query<{ present: boolean }>(SELECT_MIGRATIONS_TABLE, [`${quoted}.migrations`]);
  if (!present.rows[0]?.present) return new Map();
  const rows = await pool.query<AppliedRow>(bindSchema(SELECT_APPLIED_MIGRATIONS, quoted));
  return toApplied(rows.rows);
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
