import type Database from 'better-sqlite3';

/** store-sqlite's default periodEvents and table prefix. */
export const SQLITE_PERIOD_EVENTS = 200_000;
const PREFIX = 'evco_';

const EVENT_COLUMNS = `position, id, event_type, aggregate_id, aggregate_type, aggregate_version,
  event_data, metadata, occurred_at, recorded_at`;

/**
 * Writes fill rows straight into store-sqlite's period tables (`evco_events_<n>`) as its appends
 * would have placed them: a new period starts where the newest holds `periodEvents` positions,
 * made from the kept table's schema (the same columns and indexes), registered in
 * `evco_periods`; every event gets its row in `evco_event_keys` (positions and ids across
 * periods). Each table's indexes are dropped for the load and built after it.
 * `select(from, to)` is a SELECT of the event columns (`EVENT_COLUMNS` order) for positions
 * `from`..`to` (inclusive), with its parameters.
 */
export function fillSqlitePeriods(
  db: Database.Database,
  first: number,
  last: number,
  select: (from: number, to: number) => { sql: string; params: unknown[] },
  periodEvents = SQLITE_PERIOD_EVENTS,
): void {
  const periods = db.prepare(`SELECT n, first_position FROM ${PREFIX}periods ORDER BY n`).all() as Array<{
    n: number;
    first_position: number;
  }>;
  let newest = periods[periods.length - 1]!;
  for (let from = first; from <= last; ) {
    if (from - newest.first_position >= periodEvents) {
      newest = { n: newest.n + 1, first_position: from };
      const schema = db
        .prepare(`SELECT sql FROM sqlite_master WHERE tbl_name = ? AND sql IS NOT NULL ORDER BY type DESC`)
        .all(`${PREFIX}events_kept`) as Array<{ sql: string }>;
      // The table first ("table" sorts after "index": DESC), then its indexes.
      for (const { sql } of schema)
        db.exec(sql.replaceAll(`${PREFIX}events_kept`, `${PREFIX}events_${newest.n}`));
      db.prepare(`INSERT INTO ${PREFIX}periods (n, first_position) VALUES (?, ?)`).run(newest.n, from);
    }
    const to = Math.min(last, newest.first_position + periodEvents - 1);
    const table = `${PREFIX}events_${newest.n}`;
    const indexes = db
      .prepare(
        `SELECT name, sql FROM sqlite_master WHERE tbl_name = ? AND type = 'index' AND sql IS NOT NULL`,
      )
      .all(table) as Array<{ name: string; sql: string }>;
    for (const i of indexes) db.exec(`DROP INDEX "${i.name}"`);
    const rows = select(from, to);
    db.prepare(`INSERT INTO ${table} (${EVENT_COLUMNS}) ${rows.sql}`).run(...rows.params);
    for (const i of indexes) db.exec(i.sql);
    db.prepare(
      `INSERT INTO ${PREFIX}event_keys (position, id) SELECT position, id FROM ${table} WHERE position BETWEEN ? AND ?`,
    ).run(from, to);
    from = to + 1;
  }
}

/** Stored events: every one has its key. */
export function countSqliteEvents(db: Database.Database): number {
  return Number((db.prepare(`SELECT count(*) AS n FROM ${PREFIX}event_keys`).get() as { n: number }).n);
}

/** The highest stored position (0 when empty). */
export function lastSqlitePosition(db: Database.Database): number {
  return Number(
    (db.prepare(`SELECT coalesce(max(position), 0) AS p FROM ${PREFIX}event_keys`).get() as { p: number }).p,
  );
}

/** Every period table, oldest first. */
export function sqlitePeriodTables(db: Database.Database): string[] {
  return (db.prepare(`SELECT n FROM ${PREFIX}periods ORDER BY n`).all() as Array<{ n: number }>).map(
    (r) => `${PREFIX}events_${r.n}`,
  );
}

/**
 * The raw baselines' `raw_events`: one table of the events' shape (the kept table's columns and
 * indexes, from a file the store migrated with table prefix `prefix`), its position
 * `AUTOINCREMENT` and its id unique as the store keeps them in `<prefix>event_keys`, without
 * periods. Returns the table's name.
 */
export function createRawEventsTable(db: Database.Database, prefix = PREFIX): string {
  const shape = `${prefix}events_kept`;
  const objects = db
    .prepare(`SELECT type, sql FROM sqlite_master WHERE tbl_name = ? AND sql IS NOT NULL ORDER BY type DESC`)
    .all(shape) as Array<{ type: string; sql: string }>;
  for (const o of objects) {
    db.exec(
      o.sql
        .replaceAll(`"${shape}_`, '"raw_events_')
        .replaceAll(`"${shape}"`, 'raw_events')
        .replace(/position\s+INTEGER PRIMARY KEY/, 'position INTEGER PRIMARY KEY AUTOINCREMENT'),
    );
  }
  db.exec('CREATE UNIQUE INDEX raw_events_id ON raw_events (id)');
  return 'raw_events';
}
