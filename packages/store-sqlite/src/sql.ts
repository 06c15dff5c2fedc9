/**
 * Every statement the SQLite store runs. `{p}` stands for the table prefix (validated against
 * `IDENTIFIER_PATTERN`, so it cannot break out of the quotes around it) and is substituted once,
 * when the statements are prepared; every value is a bind parameter.
 *
 * Dates are ISO-8601 UTC text (`2026-01-01T00:00:00.000Z`), fixed width for years 0000–9999, so
 * text comparison is time comparison whatever the process's TZ. Delivery status is one of
 * `pending | running | done | dead`.
 */

/** Replaces the `{p}` placeholder with the table prefix. */
export function withPrefix(sql: string, prefix: string): string {
  return sql.replaceAll('{p}', prefix);
}

// ---------------------------------------------------------------------------------------------
// Schema version
// ---------------------------------------------------------------------------------------------

export const ANY_TABLE = `SELECT 1 AS found FROM sqlite_master WHERE type = 'table' LIMIT 1`;

export const TABLE_EXISTS = `SELECT 1 AS found FROM sqlite_master WHERE type = 'table' AND name = ?`;

export const CREATE_SCHEMA_VERSION = `
CREATE TABLE IF NOT EXISTS "{p}schema_version" (
  version    INTEGER PRIMARY KEY,
  name       TEXT NOT NULL,
  applied_at TEXT NOT NULL
)`;

export const SELECT_SCHEMA_VERSION = `SELECT coalesce(max(version), 0) AS version FROM "{p}schema_version"`;

export const INSERT_SCHEMA_VERSION = `INSERT INTO "{p}schema_version" (version, name, applied_at) VALUES (?, ?, ?)`;

// ---------------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------------

export const EVENT_COLUMNS = `position, id, event_type, aggregate_id, aggregate_type, aggregate_version,
  event_data, metadata, occurred_at, recorded_at`;

/**
 * A period table (`n` a number) or the kept table (`n` = 'kept'): the columns of the events,
 * the position given by `{p}event_keys`, and the read indexes. Ids and aggregate versions are
 * unique across the periods through their own tables (migration 5), so no unique index here.
 */
export const PERIOD_TABLE = (n: number | 'kept') => `
CREATE TABLE "{p}events_${n}" (
  position          INTEGER PRIMARY KEY,
  id                TEXT NOT NULL,
  event_type        TEXT NOT NULL,
  aggregate_id      TEXT NOT NULL,
  aggregate_type    TEXT,
  aggregate_version INTEGER,
  event_data        TEXT NOT NULL,
  metadata          TEXT NOT NULL,
  occurred_at       TEXT NOT NULL,
  recorded_at       TEXT NOT NULL
);
CREATE INDEX "{p}events_${n}_by_type" ON "{p}events_${n}" (event_type, position);
CREATE INDEX "{p}events_${n}_by_aggregate" ON "{p}events_${n}" (aggregate_id, position);
CREATE INDEX "{p}events_${n}_by_aggregate_type" ON "{p}events_${n}" (aggregate_type, position)
  WHERE aggregate_type IS NOT NULL;
CREATE INDEX "{p}events_${n}_by_time" ON "{p}events_${n}" (occurred_at, position);
CREATE INDEX "{p}events_${n}_by_correlation" ON "{p}events_${n}" (json_extract(metadata, '$.correlationId'), position);
CREATE INDEX "{p}events_${n}_by_causation" ON "{p}events_${n}" (json_extract(metadata, '$.causationId'), position)
  WHERE json_extract(metadata, '$.causationId') IS NOT NULL;
`;

/** A new period, in the append's write transaction. Parameters: first position. */
export const REGISTER_PERIOD = (n: number) => `INSERT INTO "{p}periods" (n, first_position) VALUES (${n}, ?)`;

export const SELECT_PERIODS = `SELECT n, first_position FROM "{p}periods" ORDER BY n`;

/**
 * Read at the start of every operation on events, in its transaction: the schema cookie (it
 * changes with every CREATE or DROP, so a period another process created or dropped is seen),
 * the watermark and whether the kept table holds anything.
 */
export const SELECT_PERIOD_STATE = `
SELECT (SELECT schema_version FROM pragma_schema_version) AS sv,
  (SELECT watermark FROM "{p}prune_state") AS watermark,
  (SELECT max(position) FROM "{p}events_kept") IS NOT NULL AS kept`;

export const INSERT_EVENT_KEY = `INSERT INTO "{p}event_keys" (id) VALUES (?)`;
export const INSERT_EVENT_VERSION = `
INSERT INTO "{p}event_versions" (aggregate_id, aggregate_version, position) VALUES (?, ?, ?)`;
export const SELECT_POSITION_OF_ID = `SELECT position FROM "{p}event_keys" WHERE id = ?`;
/** The highest position of a stored event (kept keys included). */
export const SELECT_LAST_POSITION = `SELECT max(position) AS position FROM "{p}event_keys"`;

/**
 * Statements run on one period table or the kept table: `{e}` is the table, `{lo}` the
 * watermark (` AND position >= …`) on the one period it lies inside, nothing on the others or
 * on the kept table (it holds only positions below it); `{wlo}` the same on the alias `w`.
 * Prepared per table on first use (see periods.ts). SQLite takes the first lower bound of the
 * rowid it finds for its range, so `{lo}` comes last: a cursor (raised to the watermark by the
 * caller) or a window's range comes first.
 */
const LO = '{lo}';
const WLO = '{wlo}';
export const INSERT_EVENT = `
INSERT INTO {e} (position, id, event_type, aggregate_id, aggregate_type, aggregate_version, event_data, metadata, occurred_at, recorded_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

export const SELECT_EVENT_AT = `SELECT ${EVENT_COLUMNS} FROM {e} WHERE position = ?`;

export const SELECT_EVENTS_BY_POSITIONS = `
SELECT ${EVENT_COLUMNS} FROM {e}
WHERE position IN (SELECT value FROM json_each(?))
ORDER BY position`;

/**
 * Time windows flat in the size of the table: the lowest and highest position inside a window
 * come from a covering range scan of `events_by_time` (occurred_at, position), as long as the
 * window; the read then walks position order (the rowid, or the type / aggregate index with its
 * position column) inside that range and stops at its limit. `+ 0` keeps SQLite's min/max
 * optimisation from walking the rowid from one end until it meets the window.
 */
export const WINDOW_BOUNDS = {
  min: `SELECT min(w.position + 0) FROM {e} AS w`,
  max: `SELECT max(w.position + 0) FROM {e} AS w`,
} as const;

/** Parameters: from, to. */
export const SELECT_WINDOW_BOUNDS = `
SELECT min(position + 0) AS lo, max(position + 0) AS hi FROM {e}
WHERE occurred_at >= ? AND occurred_at < ?${LO}`;

/** `read` is assembled from these fragments, one prepared statement per combination of filters. */
export const READ_FRAGMENTS = {
  select: `SELECT ${EVENT_COLUMNS} FROM {e} WHERE 1 = 1`,
  eventType: ` AND event_type = ?`,
  aggregateId: ` AND aggregate_id = ?`,
  aggregateType: ` AND aggregate_type = ?`,
  // Same expressions as the indexes of migration 2.
  correlationId: ` AND json_extract(metadata, '$.correlationId') = ?`,
  causationId: ` AND json_extract(metadata, '$.causationId') = ?`,
  from: ` AND occurred_at >= ?`,
  to: ` AND occurred_at < ?`,
  // A time window without a narrower key: its position range first (see `WINDOW_BOUNDS`), then
  // the window itself as a plain filter (`+` keeps SQLite from walking the time index instead
  // and sorting what it found). Parameters: from, from | to, to | from, to, from, to, from, to.
  windowFrom: ` AND position >= (${WINDOW_BOUNDS.min} WHERE w.occurred_at >= ?${WLO}) AND +occurred_at >= ?`,
  windowTo: ` AND position <= (${WINDOW_BOUNDS.max} WHERE w.occurred_at < ?${WLO}) AND +occurred_at < ?`,
  windowFromTo: ` AND position >= (${WINDOW_BOUNDS.min} WHERE w.occurred_at >= ? AND w.occurred_at < ?${WLO})
  AND position <= (${WINDOW_BOUNDS.max} WHERE w.occurred_at >= ? AND w.occurred_at < ?${WLO})
  AND +occurred_at >= ? AND +occurred_at < ?`,
  afterPosition: ` AND position > ?`,
  beforePosition: ` AND position < ?`,
  asc: `${LO} ORDER BY position ASC LIMIT ?`,
  desc: `${LO} ORDER BY position DESC LIMIT ?`,
} as const;

// ---------------------------------------------------------------------------------------------
// Subscriptions
// ---------------------------------------------------------------------------------------------

export const UPSERT_SUBSCRIPTION = `
INSERT INTO "{p}subscriptions" (event_type, handler, ordering, expires_at, last_seen_at, last_seen_by)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (event_type, handler) DO UPDATE SET
  ordering = excluded.ordering,
  expires_at = excluded.expires_at,
  last_seen_at = excluded.last_seen_at,
  last_seen_by = excluded.last_seen_by`;

export const SELECT_SUBSCRIPTIONS = `
SELECT handler, event_type, ordering, expires_at, last_seen_at, last_seen_by FROM "{p}subscriptions"`;

export const SELECT_LIVE_SUBSCRIPTIONS_OF_TYPE = `
SELECT handler, ordering FROM "{p}subscriptions" WHERE event_type = ? AND expires_at > ?`;

export const SELECT_LIVE_HANDLERS = `
SELECT DISTINCT handler FROM "{p}subscriptions" WHERE expires_at > ?`;

export const DELETE_SUBSCRIPTIONS_OF_HANDLER = `DELETE FROM "{p}subscriptions" WHERE handler = ?`;

// ---------------------------------------------------------------------------------------------
// Deliveries
// ---------------------------------------------------------------------------------------------

/**
 * A new delivery is its chain's head (`ready`) when it is unordered or when no delivery of the
 * same handler and aggregate is open: being the newest event, every open one is earlier.
 * Parameters: event position, handler, aggregate id, ordered (0/1), now, now, now, ordered,
 * handler, aggregate id.
 */
export const INSERT_DELIVERY = `
INSERT INTO "{p}deliveries" (event_position, handler, aggregate_id, ordered, status, attempts, next_attempt_at, is_replay, created_at, updated_at, ready)
VALUES (?, ?, ?, ?, 'pending', 0, ?, 0, ?, ?, ? = 0 OR NOT EXISTS (
  SELECT 1 FROM "{p}deliveries" AS b INDEXED BY "{p}deliveries_chain"
  WHERE b.handler = ? AND b.aggregate_id = ? AND b.status IN ('pending', 'running') AND b.ordered = 1))`;

/**
 * Per-aggregate ordering is kept with a flag instead of a check at claim time: of the open
 * (pending or running) ordered deliveries of one handler and aggregate, the one with the lowest
 * position has `ready = 1` and the others 0; unordered deliveries are always ready. A claim then
 * only looks at ready deliveries, so a long queue behind one aggregate costs nothing per claim.
 * Whenever a delivery leaves the open set its chain's new head is promoted; when one re-enters
 * it out of order (replay, re-driven dead letter) the chain is demoted and its head promoted.
 * Parameters: handler, aggregate id.
 */
export const PROMOTE_CHAIN_HEAD = `
UPDATE "{p}deliveries" SET ready = 1
WHERE id = (
  SELECT id FROM "{p}deliveries" INDEXED BY "{p}deliveries_chain"
  WHERE handler = ? AND aggregate_id = ? AND status IN ('pending', 'running') AND ordered = 1
  ORDER BY event_position LIMIT 1)
AND ready = 0`;

/** Parameters: handler, aggregate id. */
export const DEMOTE_CHAIN = `
UPDATE "{p}deliveries" INDEXED BY "{p}deliveries_chain" SET ready = 0
WHERE handler = ? AND aggregate_id = ? AND status IN ('pending', 'running') AND ordered = 1 AND ready = 1`;

/**
 * Deliveries of one handler whose lease expired (the holder died or hung) and that still head
 * their chain (a replay may have queued an earlier one ahead). They stay running, and their
 * holder may still complete them, until a claim of their handler takes them over: a claim
 * touches no other handler's deliveries. Unsorted (the caller sorts them with the due ones):
 * leased deliveries are few, while an ORDER BY here would sort them in a temporary b-tree.
 * Parameters: now, handler.
 */
export const SELECT_EXPIRED_FOR_HANDLER = `
SELECT id, event_position
FROM "{p}deliveries" INDEXED BY "{p}deliveries_leases"
WHERE status = 'running' AND lease_expires_at <= ? AND handler = ? AND ready = 1`;

/**
 * Due deliveries of one handler that head their chain (see `PROMOTE_CHAIN_HEAD`), oldest first.
 * Parameters: handler, now, limit.
 */
export const SELECT_DUE_FOR_HANDLER = `
SELECT id, event_position
FROM "{p}deliveries" INDEXED BY "{p}deliveries_due"
WHERE handler = ? AND status = 'pending' AND ready = 1 AND next_attempt_at <= ?
ORDER BY event_position
LIMIT ?`;

/** Parameters: lease owner, lease expiry, now, JSON array of delivery ids, now. */
export const LEASE_DELIVERIES = `
UPDATE "{p}deliveries"
SET status = 'running', attempts = attempts + 1, lease_owner = ?, lease_expires_at = ?, updated_at = ?
WHERE id IN (SELECT value FROM json_each(?)) AND (status = 'pending' OR (status = 'running' AND lease_expires_at <= ?))
RETURNING id, event_position, handler, attempts, is_replay`;

/** Parameters: now, id, attempt. */
export const COMPLETE_DELIVERY = `
UPDATE "{p}deliveries"
SET status = 'done', lease_owner = NULL, lease_expires_at = NULL, last_error = NULL, updated_at = ?
WHERE id = ? AND status = 'running' AND attempts = ?
RETURNING handler, aggregate_id, ordered`;

/** Parameters: next attempt at, error, now, id, attempt. */
export const RETRY_DELIVERY = `
UPDATE "{p}deliveries"
SET status = 'pending', next_attempt_at = ?, last_error = ?, lease_owner = NULL, lease_expires_at = NULL, updated_at = ?
WHERE id = ? AND status = 'running' AND attempts = ?`;

/** Parameters: error, now, id, attempt. */
export const KILL_DELIVERY = `
UPDATE "{p}deliveries"
SET status = 'dead', last_error = ?, lease_owner = NULL, lease_expires_at = NULL, updated_at = ?
WHERE id = ? AND status = 'running' AND attempts = ?
RETURNING handler, aggregate_id, ordered`;

/** Parameters: now (next attempt), now (updated), id, attempt. */
export const RELEASE_DELIVERY = `
UPDATE "{p}deliveries"
SET status = 'pending', next_attempt_at = ?, lease_owner = NULL, lease_expires_at = NULL, updated_at = ?
WHERE id = ? AND status = 'running' AND attempts = ?`;

export const DELETE_OPEN_DELIVERIES_OF_HANDLER = `
DELETE FROM "{p}deliveries" WHERE handler = ? AND status <> 'done'`;

/**
 * Re-driving a dead delivery replaces it with a fresh one (new id, attempt 1), like the reference
 * store: a process still holding a lease token of an earlier run can never complete or fail the
 * new run. These delete the dead rows and return what to re-insert (`INSERT_REDRIVEN`); the new
 * rows re-enter their chains out of order, so the caller re-chains them.
 */
const REDRIVE = `DELETE FROM "{p}deliveries" WHERE status = 'dead'`;
const REDRIVEN = ` RETURNING event_position, handler, aggregate_id, ordered, is_replay, replay_id`;

export const REDRIVE_ALL = `${REDRIVE}${REDRIVEN}`;
/** Parameters: handler. */
export const REDRIVE_BY_HANDLER = `${REDRIVE} AND handler = ?${REDRIVEN}`;
/** Parameters: JSON array of delivery ids. */
export const REDRIVE_BY_IDS = `${REDRIVE} AND id IN (SELECT value FROM json_each(?))${REDRIVEN}`;
/** Parameters: JSON array of delivery ids, handler. */
export const REDRIVE_BY_IDS_AND_HANDLER = `${REDRIVE} AND id IN (SELECT value FROM json_each(?)) AND handler = ?${REDRIVEN}`;

/** Parameters: event position, handler, aggregate id, ordered, now, is replay, replay id, now, now, ordered. */
export const INSERT_REDRIVEN = `
INSERT INTO "{p}deliveries" (event_position, handler, aggregate_id, ordered, status, attempts, next_attempt_at, is_replay, replay_id, created_at, updated_at, ready)
VALUES (?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?, ?, 1 - ?)`;

export const DELIVERY_COLUMNS = `d.id AS delivery_id, d.event_position, d.handler, d.status, d.attempts,
  d.next_attempt_at, d.last_error, d.is_replay, d.updated_at`;

/** Every delivery of one event (done ones too: this store keeps them). Parameters: event id. */
export const SELECT_DELIVERIES_OF_EVENT = `
SELECT ${DELIVERY_COLUMNS} FROM "{p}deliveries" AS d
WHERE d.event_position = (SELECT position FROM "{p}event_keys" WHERE id = ?)`;

/** Parameters: after position, limit. */
export const SELECT_UNPROCESSED_POSITIONS = `
SELECT DISTINCT event_position FROM "{p}deliveries" INDEXED BY "{p}deliveries_open"
WHERE status <> 'done' AND event_position > ?
ORDER BY event_position LIMIT ?`;

/** Parameters: after position, handler, limit. */
export const SELECT_UNPROCESSED_POSITIONS_OF_HANDLER = `
SELECT DISTINCT event_position FROM "{p}deliveries" INDEXED BY "{p}deliveries_open"
WHERE status <> 'done' AND event_position > ? AND handler = ?
ORDER BY event_position LIMIT ?`;

/** Parameters: JSON array of positions. */
export const SELECT_OPEN_DELIVERIES_OF_EVENTS = `
SELECT ${DELIVERY_COLUMNS} FROM "{p}deliveries" AS d
WHERE d.event_position IN (SELECT value FROM json_each(?)) AND d.status <> 'done'
ORDER BY d.event_position, d.id`;

const DEAD_LETTERS = `
SELECT ${DELIVERY_COLUMNS} FROM "{p}deliveries" AS d INDEXED BY "{p}deliveries_dead"
WHERE d.status = 'dead'`;

/** Parameters: after position, limit. */
export const SELECT_DEAD = `${DEAD_LETTERS} AND d.event_position > ? ORDER BY d.event_position, d.handler LIMIT ?`;
/** Parameters: after position, handler, limit. */
export const SELECT_DEAD_OF_HANDLER = `${DEAD_LETTERS} AND d.event_position > ? AND d.handler = ? ORDER BY d.event_position, d.handler LIMIT ?`;
/** The rest of one event's dead letters, when a page boundary falls inside it. Parameters: position. */
export const SELECT_DEAD_OF_EVENT = `${DEAD_LETTERS} AND d.event_position = ?`;
/** Parameters: position, handler. */
export const SELECT_DEAD_OF_EVENT_AND_HANDLER = `${DEAD_LETTERS} AND d.event_position = ? AND d.handler = ?`;

// ---------------------------------------------------------------------------------------------
// Stats
// ---------------------------------------------------------------------------------------------

/** Counting the backlog reads all of it, whatever the plan (the partial index holds nothing else). */
export const SELECT_OPEN_COUNTS = `-- reads the whole backlog
SELECT handler, status, count(*) AS n, min(created_at) AS oldest
FROM "{p}deliveries" INDEXED BY "{p}deliveries_open"
WHERE status <> 'done'
GROUP BY handler, status`;

export const COUNT_UNPROCESSED_EVENTS = `-- reads the whole backlog
SELECT count(DISTINCT event_position) AS n FROM "{p}deliveries" INDEXED BY "{p}deliveries_open"
WHERE status <> 'done'`;

// ---------------------------------------------------------------------------------------------
// Replays
// ---------------------------------------------------------------------------------------------

/** Parameters: from, to, event type, handler, max events, from position, until position, now, now. */
export const INSERT_REPLAY = `
INSERT INTO "{p}replays" (status, from_at, to_at, event_type, handler, max_events, from_position,
  until_position, cursor, events_matched, deliveries_queued, truncated, created_at, updated_at)
VALUES ('running', ?, ?, ?, ?, ?, ?, ?, NULL, 0, 0, 0, ?, ?)
RETURNING *`;

export const SELECT_REPLAY = `SELECT * FROM "{p}replays" WHERE id = ?`;

/** Deliveries a replay queued that are not done, by status. Parameters: replay row id. */
export const COUNT_REPLAY_DELIVERIES = `
SELECT status, count(*) AS n FROM "{p}deliveries" INDEXED BY "{p}deliveries_by_replay"
WHERE replay_id = ? AND status <> 'done'
GROUP BY status`;

/** Parameters: status, cursor, events matched, deliveries queued, truncated, now, id. */
export const UPDATE_REPLAY = `
UPDATE "{p}replays"
SET status = ?, cursor = ?, events_matched = ?, deliveries_queued = ?, truncated = ?, updated_at = ?
WHERE id = ?
RETURNING *`;

/** Parameters: stale before. */
export const SELECT_STALE_REPLAYS = `
SELECT * FROM "{p}replays" WHERE status = 'running' AND updated_at < ? ORDER BY id`;

/** Inside the window's position range (recorded at start): `+` as in `READ_FRAGMENTS.windowFromTo`. */
const REPLAY_PAGE = `
SELECT position, event_type, aggregate_id FROM {e}
WHERE position > ? AND position <= ? AND +occurred_at >= ? AND +occurred_at < ?${LO}`;

/** Parameters: after, until, from, to, limit. */
export const SELECT_REPLAY_PAGE = `${REPLAY_PAGE} ORDER BY position LIMIT ?`;
/** Parameters: after, until, from, to, event type, limit. */
export const SELECT_REPLAY_PAGE_OF_TYPE = `${REPLAY_PAGE} AND event_type = ? ORDER BY position LIMIT ?`;

/**
 * A replay page's events as the caller read them from their periods: a JSON array of
 * [position, event type, aggregate id].
 */
const PAGE_EVENTS = `(SELECT json_extract(value, '$[0]') AS position, json_extract(value, '$[1]') AS event_type,
  json_extract(value, '$[2]') AS aggregate_id FROM json_each(@events))`;

/**
 * First half of requeueing one page of a replay: a done or dead delivery is replaced by a fresh
 * one (new id, attempt count and creation time, like the reference store), so a stale lease
 * token from its earlier life can never complete the replayed run. Only (event, handler) pairs
 * with a live subscription are touched. Named parameters: `now`, `events` (see `PAGE_EVENTS`), `handler`.
 */
export const DELETE_DONE_FOR_REPLAY = `
DELETE FROM "{p}deliveries"
WHERE status IN ('done', 'dead') AND id IN (
  SELECT d.id
  FROM ${PAGE_EVENTS} AS e
  JOIN "{p}subscriptions" AS s ON s.event_type = e.event_type
  JOIN "{p}deliveries" AS d ON d.event_position = e.position AND d.handler = s.handler
  WHERE s.expires_at > @now
    AND (@handler IS NULL OR s.handler = @handler))`;

/**
 * Second half: a missing delivery is created (done and dead ones were just deleted); pending and
 * running ones are left alone (they will run anyway). The rows returned are exactly the
 * deliveries queued; the caller re-chains them.
 * Named parameters: `now`, `events` (see `PAGE_EVENTS`), `handler` (or NULL for every live subscription),
 * `replay` (the replay's row id, kept on the delivery for its progress). The page is in position
 * order and CROSS JOIN keeps it the outer loop, so deliveries are created in event order without
 * a sort.
 */
export const REQUEUE_REPLAY_PAGE = `
INSERT INTO "{p}deliveries" (event_position, handler, aggregate_id, ordered, status, attempts, next_attempt_at, is_replay, replay_id, created_at, updated_at, ready)
SELECT e.position, s.handler, e.aggregate_id, s.ordering = 'aggregate', 'pending', 0, @now, 1, @replay, @now, @now, s.ordering <> 'aggregate'
FROM ${PAGE_EVENTS} AS e
CROSS JOIN "{p}subscriptions" AS s ON s.event_type = e.event_type
WHERE s.expires_at > @now
  AND (@handler IS NULL OR s.handler = @handler)
ON CONFLICT (event_position, handler) DO NOTHING
RETURNING handler, aggregate_id, ordered`;

// ---------------------------------------------------------------------------------------------
// Retention
// ---------------------------------------------------------------------------------------------

/** An event `e` with a delivery not done: MUST_STAY's whole clause while no replay is running. */
const OPEN_DELIVERY = `EXISTS (SELECT 1 FROM "{p}deliveries" AS d WHERE d.event_position = e.position AND d.status <> 'done')`;
/** What keeps an event `e` from being pruned: a delivery not done, or a running replay over it. */
const MUST_STAY = `${OPEN_DELIVERY}
  OR EXISTS (SELECT 1 FROM "{p}replays" AS r WHERE r.status = 'running' AND e.occurred_at >= r.from_at
    AND e.occurred_at < r.to_at AND (r.event_type IS NULL OR r.event_type = e.event_type))`;
const MUST_STAY_FLAG = `(CASE WHEN ${MUST_STAY} THEN 1 ELSE 0 END)`;

/**
 * Events of one table a prune may remove, oldest first (by time, then position), after the run's
 * cursor and before `until` (the last of the candidates already found in earlier tables: the
 * caller merges the tables, see `pruneCandidates` in sqlite-store.ts). `types` / `excluded` are
 * JSON arrays or NULL. The time index serves the range and the order.
 */
const pruneCandidates = (columns: string, mustStay = MUST_STAY) => `
SELECT ${columns} FROM {e} AS e
WHERE e.occurred_at < :before AND (e.occurred_at, e.position) > (:afterAt, :afterPosition)
  AND (e.occurred_at, e.position) < (:untilAt, :untilPosition)${LO}
  AND (:types IS NULL OR e.event_type IN (SELECT value FROM json_each(:types)))
  AND (:excluded IS NULL OR e.event_type NOT IN (SELECT value FROM json_each(:excluded)))
  AND NOT (${mustStay})
ORDER BY e.occurred_at, e.position LIMIT :limit`;

export const SELECT_PRUNE_CANDIDATES = pruneCandidates(EVENT_COLUMNS);
/**
 * Without an archive hook only the keys are needed: reading and parsing whole rows was about
 * 10 of a batch's 25 µs per event (measured at 200 000 events).
 */
export const SELECT_PRUNE_CANDIDATE_KEYS = pruneCandidates('e.position, e.occurred_at');
/**
 * The same two choices without MUST_STAY, for a choice whose transaction saw no running
 * replay (`SELECT_ANY_RUNNING_REPLAY`): what must stay is then an event with a delivery not done,
 * which the caller finds for the candidates' position range with one probe of the open
 * deliveries (`SELECT_OPEN_IN_RANGE`) instead of one probe per candidate, and tops the batch up
 * from after the last candidate read. A replay started after that snapshot is not seen by the
 * full statement either; the removal checks again under the write lock.
 */
export const SELECT_PRUNE_CANDIDATES_UNCHECKED = pruneCandidates(EVENT_COLUMNS, 'FALSE');
export const SELECT_PRUNE_CANDIDATE_KEYS_UNCHECKED = pruneCandidates('e.position, e.occurred_at', 'FALSE');

/**
 * The watermark's walk, under the write lock: the events of a period from the watermark up to
 * the batch's last position, in position order, with whether each must stay. The caller stops at
 * the first that is neither in the batch nor staying. Parameters: from, to (positions).
 */
export const SELECT_PREFIX = `
SELECT e.position, e.event_type, e.aggregate_id, e.aggregate_version, ${MUST_STAY_FLAG} AS stay
FROM {e} AS e WHERE e.position >= ? AND e.position <= ? ORDER BY e.position`;

/**
 * The walk without the per-event check, when no replay is running: what must stay is then only
 * an event with a delivery not done, found for the whole range at once by `SELECT_OPEN_IN_RANGE`.
 * Parameters: from, to (positions).
 */
export const SELECT_PREFIX_PLAIN = `
SELECT position, event_type, aggregate_id, aggregate_version
FROM {e} WHERE position >= ? AND position <= ? ORDER BY position`;

/** Positions in [from, to] with a delivery not done (the open-deliveries index). */
export const SELECT_OPEN_IN_RANGE = `
SELECT DISTINCT event_position AS position FROM "{p}deliveries" INDEXED BY "{p}deliveries_open"
WHERE event_position >= ? AND event_position <= ? AND status <> 'done'`;

/**
 * The walk's check in one statement: how many events of the table in [from, to] are neither in
 * the batch nor staying (none: the walk passes the whole range). Parameters: from, to, positions
 * in the batch or staying (JSON array).
 */
export const COUNT_PREFIX_OTHERS = `
SELECT count(*) AS others FROM {e}
WHERE position >= ? AND position <= ? AND position NOT IN (SELECT value FROM json_each(?))`;

/**
 * The walk's removed events of a table by type, and how many of them have a version.
 * Parameters: from, to, staying positions (JSON array).
 */
export const COUNT_PREFIX_BY_TYPE = `
SELECT event_type, count(*) AS n, count(aggregate_version) AS versions FROM {e}
WHERE position >= ? AND position <= ? AND position NOT IN (SELECT value FROM json_each(?))
GROUP BY event_type`;

/**
 * The versions of the walk's removed events of a table (before the table may be dropped).
 * Parameters: from, to, staying positions (JSON array).
 */
export const DELETE_PREFIX_VERSIONS = `
DELETE FROM "{p}event_versions" WHERE (aggregate_id, aggregate_version) IN (
  SELECT aggregate_id, aggregate_version FROM {e}
  WHERE position >= ? AND position <= ? AND aggregate_version IS NOT NULL
    AND position NOT IN (SELECT value FROM json_each(?)))`;

/** Whether any replay is running (its window keeps events: see MUST_STAY). */
export const SELECT_ANY_RUNNING_REPLAY = `SELECT 1 AS running FROM "{p}replays" WHERE status = 'running' LIMIT 1`;

/**
 * The keys of the events the watermark's walk passed: positions in [from, to) but those kept.
 * Parameters: from, to, kept positions (JSON array).
 */
export const DELETE_EVENT_KEYS_RANGE = `
DELETE FROM "{p}event_keys" WHERE position >= ? AND position < ?
  AND position NOT IN (SELECT value FROM json_each(?))`;

/** The done deliveries of the events the walk passed. Parameters: from, to, kept positions (JSON array). */
export const DELETE_DELIVERIES_RANGE = `
DELETE FROM "{p}deliveries" WHERE event_position >= ? AND event_position < ?
  AND event_position NOT IN (SELECT value FROM json_each(?))`;

/** Events below the watermark that must stay. Parameters: positions (JSON array). */
export const COPY_TO_KEPT = `
INSERT INTO "{p}events_kept" (${EVENT_COLUMNS})
SELECT ${EVENT_COLUMNS} FROM {e} WHERE position IN (SELECT value FROM json_each(?))`;

/** Parameters: new watermark, watermark read at the batch's start. */
export const MOVE_WATERMARK = `UPDATE "{p}prune_state" SET watermark = ? WHERE watermark = ?`;

export const DROP_PERIOD = (n: number) =>
  `DROP TABLE "{p}events_${n}"; DELETE FROM "{p}periods" WHERE n = ${n}`;

/** Removes a batch's events of one table, checking again under the write lock. Parameters: positions (JSON array). */
export const DELETE_PRUNED_EVENTS = `
DELETE FROM {e} AS e
WHERE e.position IN (SELECT value FROM json_each(?)) AND NOT (${MUST_STAY})
RETURNING position, event_type, aggregate_id, aggregate_version`;

/** The keys of removed events. Parameters: positions (JSON array). */
export const DELETE_EVENT_KEYS = `
DELETE FROM "{p}event_keys" WHERE position IN (SELECT value FROM json_each(?))`;

/** The versions of removed events. Parameters: JSON array of [aggregate id, version]. */
export const DELETE_EVENT_VERSIONS = `
DELETE FROM "{p}event_versions" WHERE (aggregate_id, aggregate_version) IN (
  SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?))`;

/** The done delivery rows of removed events. Parameters: positions (JSON array). */
export const DELETE_DELIVERIES_OF_EVENTS = `
DELETE FROM "{p}deliveries" WHERE event_position IN (SELECT value FROM json_each(?))`;

/** The cutoff only moves forward; counts add up. Parameters: event type, before, removed, now. */
export const RECORD_PRUNED = `
INSERT INTO "{p}pruned" (event_type, "before", removed, last_pruned_at) VALUES (?, ?, ?, ?)
ON CONFLICT (event_type) DO UPDATE SET
  "before" = max("{p}pruned"."before", excluded."before"),
  removed = "{p}pruned".removed + excluded.removed,
  last_pruned_at = excluded.last_pruned_at`;

export const SELECT_PRUNED = `
SELECT event_type, "before", removed, last_pruned_at FROM "{p}pruned" ORDER BY event_type`;

/**
 * Takes a lease that is free, expired or already the holder's; returns a row only when taken.
 * Parameters: name, holder, expires at, now.
 */
export const ACQUIRE_LEASE = `
INSERT INTO "{p}leases" (name, holder, expires_at) VALUES (?, ?, ?)
ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
  WHERE "{p}leases".holder = excluded.holder OR "{p}leases".expires_at <= ?
RETURNING holder`;

/** Parameters: name, holder. */
export const RELEASE_LEASE = `DELETE FROM "{p}leases" WHERE name = ? AND holder = ?`;

/** Whether someone holds a lease. Parameters: name, now. */
export const LEASE_HELD = `SELECT 1 AS held FROM "{p}leases" WHERE name = ? AND expires_at > ?`;
