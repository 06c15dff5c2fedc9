import { type SchemaMigration, StoreSchemaError } from '@evco/core/adapter';
import type Database from 'better-sqlite3';
import {
  CREATE_SCHEMA_VERSION,
  INSERT_SCHEMA_VERSION,
  PERIOD_TABLE,
  REGISTER_PERIOD,
  SELECT_SCHEMA_VERSION,
  TABLE_EXISTS,
  withPrefix,
} from './sql.js';

export interface Migration {
  version: number;
  name: string;
  /** DDL run inside the migration's transaction; `{p}` is the table prefix. */
  sql: string;
  /** Run after `sql`, in the same transaction, for what SQL alone cannot decide. */
  afterSql?: ((db: Database.Database, prefix: string) => void) | undefined;
}

/**
 * The schema, version by version. Append new versions; never edit a released one (files in the
 * field have it applied already).
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'events, subscriptions, deliveries, replays',
    sql: `
CREATE TABLE "{p}events" (
  -- AUTOINCREMENT: a position is never handed out twice, even after the highest row is gone.
  position          INTEGER PRIMARY KEY AUTOINCREMENT,
  id                TEXT NOT NULL UNIQUE,
  event_type        TEXT NOT NULL,
  aggregate_id      TEXT NOT NULL,
  aggregate_type    TEXT,
  aggregate_version INTEGER,
  event_data        TEXT NOT NULL,  -- JSON
  metadata          TEXT NOT NULL,  -- JSON
  occurred_at       TEXT NOT NULL,  -- ISO-8601 UTC
  recorded_at       TEXT NOT NULL   -- ISO-8601 UTC
);
-- Optimistic concurrency; events without a version stay out of the index.
CREATE UNIQUE INDEX "{p}events_aggregate_version" ON "{p}events" (aggregate_id, aggregate_version)
  WHERE aggregate_version IS NOT NULL;
CREATE INDEX "{p}events_by_type" ON "{p}events" (event_type, position);
CREATE INDEX "{p}events_by_aggregate" ON "{p}events" (aggregate_id, position);
CREATE INDEX "{p}events_by_aggregate_type" ON "{p}events" (aggregate_type, position)
  WHERE aggregate_type IS NOT NULL;
CREATE INDEX "{p}events_by_time" ON "{p}events" (occurred_at, position);

CREATE TABLE "{p}subscriptions" (
  event_type   TEXT NOT NULL,
  handler      TEXT NOT NULL,
  ordering     TEXT NOT NULL CHECK (ordering IN ('aggregate', 'none')),
  expires_at   TEXT NOT NULL,
  last_seen_at TEXT NOT NULL,
  last_seen_by TEXT NOT NULL,
  PRIMARY KEY (event_type, handler)
) WITHOUT ROWID;

CREATE TABLE "{p}deliveries" (
  -- AUTOINCREMENT: a retired delivery's id is never reused, so a stale lease token cannot match a new delivery.
  id               INTEGER PRIMARY KEY AUTOINCREMENT,
  event_position   INTEGER NOT NULL,
  handler          TEXT NOT NULL,
  -- Copied from the event so the per-aggregate ordering check needs no join.
  aggregate_id     TEXT NOT NULL,
  ordered          INTEGER NOT NULL,
  status           TEXT NOT NULL CHECK (status IN ('pending', 'running', 'done', 'dead')),
  attempts         INTEGER NOT NULL,
  next_attempt_at  TEXT NOT NULL,
  lease_owner      TEXT,
  lease_expires_at TEXT,
  last_error       TEXT,
  is_replay        INTEGER NOT NULL,
  -- 1 for the head of its (handler, aggregate) chain, and for every unordered delivery: see sql.ts.
  ready            INTEGER NOT NULL,
  created_at       TEXT NOT NULL,
  updated_at       TEXT NOT NULL,
  UNIQUE (event_position, handler)
);
-- Claims: a handler's claimable deliveries in event order (done rows, the bulk, are not indexed).
CREATE INDEX "{p}deliveries_due" ON "{p}deliveries" (handler, event_position, next_attempt_at)
  WHERE status = 'pending' AND ready = 1;
-- Expired leases.
CREATE INDEX "{p}deliveries_leases" ON "{p}deliveries" (lease_expires_at) WHERE status = 'running';
-- Per-aggregate ordering: the open deliveries of one handler and aggregate, in event order.
CREATE INDEX "{p}deliveries_chain" ON "{p}deliveries" (handler, aggregate_id, event_position)
  WHERE status IN ('pending', 'running') AND ordered = 1;
-- Unprocessed events and stats.
CREATE INDEX "{p}deliveries_open" ON "{p}deliveries" (event_position, handler, status, created_at)
  WHERE status <> 'done';
-- Dead letters.
CREATE INDEX "{p}deliveries_dead" ON "{p}deliveries" (event_position, handler) WHERE status = 'dead';

CREATE TABLE "{p}replays" (
  id                INTEGER PRIMARY KEY AUTOINCREMENT,
  status            TEXT NOT NULL CHECK (status IN ('running', 'done')),
  from_at           TEXT NOT NULL,
  to_at             TEXT NOT NULL,
  event_type        TEXT,
  handler           TEXT,
  max_events        INTEGER NOT NULL,
  -- Only events that existed when the replay started are replayed.
  until_position    INTEGER NOT NULL,
  cursor            INTEGER,
  events_matched    INTEGER NOT NULL,
  deliveries_queued INTEGER NOT NULL,
  truncated         INTEGER NOT NULL,
  created_at        TEXT NOT NULL,
  updated_at        TEXT NOT NULL
);
CREATE INDEX "{p}replays_running" ON "{p}replays" (updated_at) WHERE status = 'running';
`,
  },
  {
    version: 2,
    name: 'correlation and causation indexes, replay ids on deliveries',
    sql: `
-- Expression indexes rather than columns: the append statement stays as it is, and the
-- expressions are the ones the read statements use (SQLite only matches identical text).
CREATE INDEX "{p}events_by_correlation" ON "{p}events" (json_extract(metadata, '$.correlationId'), position);
-- Root events have no causation id: they stay out of this one.
CREATE INDEX "{p}events_by_causation" ON "{p}events" (json_extract(metadata, '$.causationId'), position)
  WHERE json_extract(metadata, '$.causationId') IS NOT NULL;
-- The replay whose page queued the delivery (its progress counts these); NULL for the others.
ALTER TABLE "{p}deliveries" ADD COLUMN replay_id INTEGER;
CREATE INDEX "{p}deliveries_by_replay" ON "{p}deliveries" (replay_id, status) WHERE replay_id IS NOT NULL;
`,
  },
  {
    version: 3,
    name: 'pruned ranges and leases (retention)',
    sql: `
-- Per event type, the cutoff below which events were removed: history and replay report it.
CREATE TABLE "{p}pruned" (
  event_type     TEXT PRIMARY KEY,
  before         TEXT NOT NULL,
  removed        INTEGER NOT NULL,
  last_pruned_at TEXT NOT NULL
) WITHOUT ROWID;
-- Named leases with an expiry: one retention enforcer per fleet, one prune batch at a time.
CREATE TABLE "{p}leases" (
  name       TEXT PRIMARY KEY,
  holder     TEXT NOT NULL,
  expires_at TEXT NOT NULL
) WITHOUT ROWID;
`,
  },
  {
    version: 4,
    name: 'replay position range',
    sql: `
-- The first position of a replay's window, found once at its start (see WINDOW_BOUNDS in
-- sql.ts); NULL for replays started before: they page from the start of the table.
ALTER TABLE "{p}replays" ADD COLUMN from_position INTEGER;
`,
  },
  {
    version: 5,
    name: 'period tables, global event keys, watermark',
    sql: `
-- Events live in period tables of consecutive positions ("{p}events_<n>", see PERIOD_TABLE in
-- sql.ts); period n holds positions from its first_position up to the next period's.
CREATE TABLE "{p}periods" (
  n              INTEGER PRIMARY KEY,
  first_position INTEGER NOT NULL
);
-- Positions (AUTOINCREMENT: never handed out twice) and unique ids across the periods.
CREATE TABLE "{p}event_keys" (
  position INTEGER PRIMARY KEY AUTOINCREMENT,
  id       TEXT NOT NULL UNIQUE
);
-- Optimistic concurrency across the periods; versioned events only.
CREATE TABLE "{p}event_versions" (
  aggregate_id      TEXT NOT NULL,
  aggregate_version INTEGER NOT NULL,
  position          INTEGER NOT NULL,
  PRIMARY KEY (aggregate_id, aggregate_version)
) WITHOUT ROWID;
-- Positions below the watermark are pruned, except the events copied to events_kept.
CREATE TABLE "{p}prune_state" (
  id        INTEGER PRIMARY KEY CHECK (id = 1),
  watermark INTEGER NOT NULL
);
INSERT INTO "{p}prune_state" (id, watermark) VALUES (1, 0);
${PERIOD_TABLE('kept')}
-- Today's events become the first period, their keys the key tables' first rows.
INSERT INTO "{p}event_keys" (position, id) SELECT position, id FROM "{p}events";
INSERT INTO "{p}event_versions" (aggregate_id, aggregate_version, position)
  SELECT aggregate_id, aggregate_version, position FROM "{p}events" WHERE aggregate_version IS NOT NULL;
-- Positions carry on where the events table's AUTOINCREMENT stood (its highest rows may be gone).
DELETE FROM sqlite_sequence WHERE name = '{p}event_keys';
INSERT INTO sqlite_sequence (name, seq) SELECT '{p}event_keys', seq FROM sqlite_sequence WHERE name = '{p}events';
ALTER TABLE "{p}events" RENAME TO "{p}events_1";
INSERT INTO "{p}periods" (n, first_position) VALUES (1, 0);
`,
    afterSql(db, prefix) {
      const p = (sql: string) => withPrefix(sql, prefix);
      if (!db.prepare(p('SELECT 1 AS found FROM "{p}events_1" LIMIT 1')).get()) {
        // Nothing in the old table (a new file): period 1 becomes a period table like the others.
        db.exec(p('DROP TABLE "{p}events_1"'));
        db.exec(p(PERIOD_TABLE(1)));
        return;
      }
      // The old table keeps its unique id and version indexes, which would refuse an id or a
      // version of an event pruned by the watermark (its row stays until its period is dropped):
      // appends go to a new period from the next position on.
      const next = db
        .prepare(
          p(`SELECT coalesce(max(seq), 0) + 1 AS next FROM sqlite_sequence WHERE name = '{p}event_keys'`),
        )
        .get() as { next: number };
      db.exec(p(PERIOD_TABLE(2)));
      db.prepare(p(REGISTER_PERIOD(2))).run(next.next);
    },
  },
];

export const LATEST_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/**
 * The schema version recorded in the file, 0 for a file without evco tables. Only reads, so a
 * corrupt file or one from a newer evco is refused before anything is written to it.
 */
export function readSchemaVersion(db: Database.Database, prefix: string): number {
  const exists = db.prepare(TABLE_EXISTS).get(`${prefix}schema_version`);
  if (!exists) return 0;
  const row = db.prepare(withPrefix(SELECT_SCHEMA_VERSION, prefix)).get() as { version: number };
  return row.version;
}

export function assertKnownVersion(version: number, file: string, source: string): void {
  if (version > LATEST_VERSION) {
    throw new StoreSchemaError(
      `the SQLite file has schema version ${version}, written by a newer @evco/store-sqlite (this one knows up to ${LATEST_VERSION}); upgrade the package — the file was left untouched`,
      { source, details: { file } },
    );
  }
}

/**
 * For a running process's health check: the file's schema version is past what this process
 * knows, so a newer @evco/store-sqlite migrated it after this process opened it (the check at
 * open could not see it). Its statements were written for the tables it knows.
 */
export function newerThanRunning(
  applied: number,
  file: string,
  source: string,
): StoreSchemaError | undefined {
  if (applied <= LATEST_VERSION) return undefined;
  return new StoreSchemaError(
    `the SQLite file is at schema version ${applied}, newer than this process knows (${LATEST_VERSION}): a newer @evco/store-sqlite migrated it while this process ran; replace this process with one running that release`,
    { source, details: { file } },
  );
}

/**
 * Brings the schema up to date. The version is re-read under the write lock of an immediate
 * transaction, so processes migrating one file at the same time apply each version exactly once.
 */
export function applyMigrations(
  db: Database.Database,
  prefix: string,
  file: string,
  source: string,
  now: () => Date,
): SchemaMigration {
  const run = db.transaction(() => {
    db.exec(withPrefix(CREATE_SCHEMA_VERSION, prefix));
    const current = (db.prepare(withPrefix(SELECT_SCHEMA_VERSION, prefix)).get() as { version: number })
      .version;
    assertKnownVersion(current, file, source);
    const insert = db.prepare(withPrefix(INSERT_SCHEMA_VERSION, prefix));
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue;
      db.exec(withPrefix(m.sql, prefix));
      m.afterSql?.(db, prefix);
      insert.run(m.version, m.name, now().toISOString());
    }
    return { fromVersion: current, toVersion: LATEST_VERSION };
  });
  return run.immediate();
}
