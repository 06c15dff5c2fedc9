/**
 * Every statement the store runs. `{s}` stands for the quoted schema (validated against
 * `IDENTIFIER_PATTERN` before it gets here); every value is a bind parameter.
 *
 * Positions are `writing transaction id × 2^20 + index within the transaction` (see
 * README, "Gap-safe global order"). `HORIZON` is the first position a transaction that may
 * still be running could own: every row below it is settled (committed or gone for good).
 */

/** Events one transaction may append: the low bits of a position. */
export const POSITION_BLOCK = 1_048_576;

/** First position that an in-flight (or future) transaction could own, in the statement's snapshot. */
const SNAPSHOT_HORIZON = `pg_snapshot_xmin(pg_current_snapshot())::text::bigint * ${POSITION_BLOCK}`;

/**
 * `SNAPSHOT_HORIZON` as a scalar subquery, so the planner evaluates it once (InitPlan) and can
 * use it as an index bound. The claims without the `unsettled` row compute the bare expression
 * (in `chain_head`, `MIGRATION_10_CHAIN_HEAD`), for ordered rows only: a subquery or CTE is set
 * up at every execution whether a row reaches it or not (0.8 k instructions per claimed event,
 * bench README, "The completion by lease").
 */
const HORIZON = `(SELECT ${SNAPSHOT_HORIZON})`;

/** The current transaction's id: a new run of a delivery. */
const RUN = 'pg_current_xact_id()::text::bigint';

const EVENT_COLUMNS = `e.position, e.event_id, e.event_type, e.aggregate_id, e.aggregate_type,
  e.aggregate_version, e.event_data, e.metadata, e.occurred_at, e.recorded_at`;

/**
 * A delivery as the port shows it, from `deliveries` (alias `d`: a leased one is what the port
 * calls `running`) or from `dead_letters` (alias `x`). The same columns and types, so the two can
 * be one UNION.
 */
const DELIVERY_COLUMNS = `d.handler, d.run::text AS run,
  CASE WHEN d.lease_owner IS NULL THEN 'pending' ELSE 'running' END AS delivery_status,
  d.attempts, d.next_attempt_at, d.last_error, d.is_replay, d.updated_at`;
const DEAD_LETTER_COLUMNS = `x.handler, x.run::text AS run, 'dead'::text AS delivery_status, x.attempts,
  NULL::timestamptz AS next_attempt_at, x.last_error, x.is_replay, x.updated_at`;

// ---------------------------------------------------------------------------------------------
// Migrations
// ---------------------------------------------------------------------------------------------

export const CREATE_SCHEMA = `CREATE SCHEMA IF NOT EXISTS {s}`;

/** A schema a DBA created ahead is used as is: no CREATE privilege on the database needed. */
export const SCHEMA_EXISTS = `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1) AS present`;

export const CREATE_MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS {s}.migrations (
  version integer PRIMARY KEY,
  name text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now(),
  runs_with integer
)`;

/**
 * `runs_with`: the oldest schema version a release may know and still run correctly on a schema
 * at this version (see `Migration.runsWith`). Added to a migrations table made before it existed
 * by the next `migrate()` that applies something; readers never name the column (below), so a
 * table without it reads as "no older release runs on it".
 */
export const ADD_MIGRATIONS_RUNS_WITH = `ALTER TABLE {s}.migrations ADD COLUMN IF NOT EXISTS runs_with integer`;

/** A row's `runs_with`, or its own version where the column is absent or null. */
const RUNS_WITH = `coalesce((to_jsonb(m) ->> 'runs_with')::integer, m.version)`;

export const SELECT_MIGRATIONS_TABLE = `SELECT to_regclass($1) IS NOT NULL AS present`;

export const SELECT_APPLIED_MIGRATIONS = `SELECT m.version, ${RUNS_WITH} AS runs_with FROM {s}.migrations m ORDER BY m.version`;

export const INSERT_MIGRATION = `INSERT INTO {s}.migrations (version, name, runs_with) VALUES ($1, $2, $3)`;

/** Serializes migrations of one schema across processes; released at commit. */
export const LOCK_MIGRATIONS = `SELECT pg_advisory_xact_lock($1::integer, $2::integer)`;

export const DISABLE_STATEMENT_TIMEOUT = `SET LOCAL statement_timeout = 0`;

export const MIGRATION_1_TABLES = `
CREATE TABLE {s}.events (
  position bigint PRIMARY KEY,
  event_id uuid NOT NULL,
  event_type text NOT NULL,
  aggregate_id text NOT NULL,
  aggregate_type text,
  aggregate_version bigint,
  event_data jsonb NOT NULL,
  metadata jsonb NOT NULL,
  occurred_at timestamptz NOT NULL,
  recorded_at timestamptz NOT NULL,
  CONSTRAINT events_event_id_key UNIQUE (event_id)
);
CREATE UNIQUE INDEX events_aggregate_version_key ON {s}.events (aggregate_id, aggregate_version)
  WHERE aggregate_version IS NOT NULL;
CREATE INDEX events_aggregate_idx ON {s}.events (aggregate_id, position);
CREATE INDEX events_type_idx ON {s}.events (event_type, position);
CREATE INDEX events_aggregate_type_idx ON {s}.events (aggregate_type, position)
  WHERE aggregate_type IS NOT NULL;
CREATE INDEX events_occurred_idx ON {s}.events (occurred_at);

CREATE TABLE {s}.subscriptions (
  event_type text NOT NULL,
  handler text NOT NULL,
  ordering text NOT NULL CHECK (ordering IN ('aggregate', 'none')),
  expires_at timestamptz NOT NULL,
  last_seen_at timestamptz NOT NULL,
  last_seen_by text NOT NULL,
  PRIMARY KEY (event_type, handler)
);
CREATE INDEX subscriptions_handler_idx ON {s}.subscriptions (handler);

-- One row per (event, handler). \`status\` is 'open' until the delivery is done or dead; an open
-- row with a \`lease_owner\` is running, and \`next_attempt_at\` is when anyone may claim it: the
-- retry time, or the lease expiry while it is leased. So a claim, a retry and a release change
-- no indexed column and are HOT updates (heap only, room kept by the fillfactor); only done and
-- dead move index entries.
CREATE TABLE {s}.deliveries (
  position bigint NOT NULL,
  handler text NOT NULL,
  aggregate_id text NOT NULL,
  ordered boolean NOT NULL,
  -- Which run of this (event, handler) the row is: the id of the transaction that created or
  -- re-queued it. Part of the delivery id, so a lease token from before a re-drive or a replay
  -- never matches the new run, even at the same attempt number.
  run bigint NOT NULL,
  status text NOT NULL CHECK (status IN ('open', 'dead')),
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL,
  lease_owner text,
  last_error text,
  is_replay boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  PRIMARY KEY (position, handler)
) WITH (fillfactor = 70);
-- Claims, oldest first per handler. (The primary key serves unprocessed events and stats.)
CREATE INDEX deliveries_open_idx ON {s}.deliveries (handler, position) WHERE status = 'open';
-- Per-aggregate order: is an earlier delivery of this handler and aggregate still open?
CREATE INDEX deliveries_chain_idx ON {s}.deliveries (handler, aggregate_id, position)
  WHERE ordered AND status = 'open';
-- Dead letters, oldest first.
CREATE INDEX deliveries_dead_idx ON {s}.deliveries (position, handler) WHERE status = 'dead';

CREATE TABLE {s}.replays (
  replay_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  from_at timestamptz NOT NULL,
  to_at timestamptz NOT NULL,
  event_type text,
  handler text,
  max_events integer NOT NULL,
  until_position bigint NOT NULL,
  status text NOT NULL CHECK (status IN ('running', 'done')),
  cursor bigint,
  events_matched integer NOT NULL DEFAULT 0,
  deliveries_queued integer NOT NULL DEFAULT 0,
  truncated boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
CREATE INDEX replays_running_idx ON {s}.replays (updated_at) WHERE status = 'running';
`;

/**
 * Flow lookups without a new column: expression indexes keep the append statement unchanged
 * (Postgres maintains them from the jsonb it already writes), and the read statements use the
 * very same expressions. Root events have no causation id and stay out of that index. Replayed
 * deliveries remember their replay, for its progress; the column is NULL (free) for the rest.
 */
export const MIGRATION_2_FLOWS = `
CREATE INDEX events_correlation_idx ON {s}.events ((metadata->>'correlationId'), position);
CREATE INDEX events_causation_idx ON {s}.events ((metadata->>'causationId'), position)
  WHERE (metadata->>'causationId') IS NOT NULL;
ALTER TABLE {s}.deliveries ADD COLUMN replay_id uuid;
CREATE INDEX deliveries_replay_idx ON {s}.deliveries (replay_id) WHERE replay_id IS NOT NULL;
`;

/**
 * Retention: `pruned` remembers, per event type, the cutoff below which events were removed, so
 * history and replay over that range say so; `leases` lets one process of the fleet at a time
 * enforce the retention policy (a row with an expiry, renewed while it works).
 */
export const MIGRATION_3_RETENTION = `
CREATE TABLE {s}.pruned (
  event_type text PRIMARY KEY,
  before timestamptz NOT NULL,
  removed bigint NOT NULL,
  last_pruned_at timestamptz NOT NULL
);
CREATE TABLE {s}.leases (
  name text PRIMARY KEY,
  holder text NOT NULL,
  expires_at timestamptz NOT NULL
);
`;

/**
 * Time windows flat in the size of the table. A window (`from`/`to` on `occurred_at`) is
 * turned into the range of positions it spans by one index-only range scan of `events_time_idx`
 * (`windowBounds`); the statement then walks the position order (the primary key, or the type
 * / aggregate index with its position column) inside that range and stops at its limit, so it
 * reads what it returns plus the rows of other times interleaved in the range, never the table.
 * Replays record the range once, at start (`from_position`, `until_position`), so a page
 * costs its own size. It replaces the plain `occurred_at` index (the new one starts with it).
 * The dead letters of one handler get their own index: listing a handler with few among many
 * other dead letters would otherwise read them all.
 */
export const MIGRATION_4_TIME_WINDOWS = `
CREATE INDEX events_time_idx ON {s}.events (occurred_at, position);
DROP INDEX {s}.events_occurred_idx;
ALTER TABLE {s}.replays ADD COLUMN from_position bigint;
CREATE INDEX deliveries_dead_handler_idx ON {s}.deliveries (handler, position) WHERE status = 'dead';
`;

/**
 * Root events out of the correlation index. An event given no correlation id is correlated to
 * itself (core sets `correlationId` to the event's id), so each such append wrote an entry there
 * repeating its `event_id`: an index entry and a WAL record per root event, for a lookup the
 * event id's own unique index answers. The partial index holds only the events correlated to
 * another id; a read by correlation id finds the root through `events_event_id_key` (see
 * `readEventsSql`).
 *
 * The build reads the whole table and, inside the migration's transaction, blocks appends until
 * it is done (reads go on). To avoid that on a big table, build it ahead with `CREATE INDEX
 * CONCURRENTLY` under the same name and definition: the migration keeps a valid one, and
 * rebuilds an invalid leftover of a failed concurrent build.
 */
export const MIGRATION_5_CORRELATION = `
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_index i WHERE i.indexrelid = to_regclass('{s}.events_correlated_idx')
      AND NOT i.indisvalid) THEN
    DROP INDEX {s}.events_correlated_idx;
  END IF;
END $$;
CREATE INDEX IF NOT EXISTS events_correlated_idx ON {s}.events ((metadata->>'correlationId'), position)
  WHERE (metadata->>'correlationId') <> event_id::text;
DROP INDEX {s}.events_correlation_idx;
`;

/**
 * The deliveries' status CHECK goes. PostgreSQL parses and compiles a table's CHECK constraints
 * anew for every statement that inserts or updates a row of it (`ExecRelCheck`: the stored
 * expression read back from its text, then planned): about 26 000 instructions per append, 6 %
 * of the whole single-event append, and once more per claim, for a column only the store's own
 * statements write, each with a literal 'open' or 'dead' (bench README, "From evco down to the
 * rows prototype"). Dropping it changes no row and rewrites nothing.
 */
export const MIGRATION_6_NO_STATUS_CHECK = `
ALTER TABLE {s}.deliveries DROP CONSTRAINT IF EXISTS deliveries_status_check;
`;

/**
 * Dead letters in a table of their own. PostgreSQL prepares every partial index of a table for
 * each statement that inserts into it (its predicate read back and compiled, its relation opened),
 * whether the row goes into it or not: the two dead-letter indexes of `deliveries` cost every
 * append about 16 000 instructions for rows no append writes, and the claim's lease update some
 * more (bench README, "From evco down to the rows prototype"). In a table of their own they cost
 * only the rare statements that kill, list, re-drive or retire a delivery. A (position, handler)
 * is in one table or the other, never both: a delivery moves in one statement (`FAIL`,
 * `RETRY_DEAD`), and the replay's requeue removes the dead letters of what it queued again after
 * queueing it (`REPLAY_REVIVED`). `deliveries.status` stays, always 'open' now: its partial open
 * and chain indexes name it. The dead rows move here in the migration's transaction (one range of
 * `deliveries_dead_idx`, then that index goes); the rows keep what a dead delivery shows and what
 * a re-drive needs (`ordered`, `aggregate_id` for the chain, the replay's id for its progress).
 * A release that knows version 6 or less would keep writing dead deliveries into `deliveries`,
 * where this one no longer looks: it does not run on this version (no `runs_with`).
 */
/**
 * Moves dead deliveries marked in `deliveries` (`status = 'dead'`) into `dead_letters`: the
 * version-7 migration's move, and `MOVE_LEFTOVER_DEAD` after it.
 */
function moveDeadDeliveries(onConflict: string): string {
  return `WITH moved AS (
  DELETE FROM {s}.deliveries d WHERE d.status = 'dead'
  RETURNING d.position, d.handler, d.aggregate_id, d.ordered, d.run, d.attempts, d.last_error, d.is_replay,
    d.replay_id, d.updated_at
)
INSERT INTO {s}.dead_letters (position, handler, aggregate_id, ordered, run, attempts, last_error, is_replay,
  replay_id, updated_at)
SELECT * FROM moved${onConflict}`;
}

export const MIGRATION_7_DEAD_LETTERS = `
CREATE TABLE {s}.dead_letters (
  position bigint NOT NULL,
  handler text NOT NULL,
  aggregate_id text NOT NULL,
  ordered boolean NOT NULL,
  run bigint NOT NULL,
  attempts integer NOT NULL,
  last_error text,
  is_replay boolean NOT NULL,
  replay_id uuid,
  -- When it died (the port's \`updatedAt\`).
  updated_at timestamptz NOT NULL,
  PRIMARY KEY (position, handler)
);
-- One handler's dead letters, oldest first.
CREATE INDEX dead_letters_handler_idx ON {s}.dead_letters (handler, position);
-- A replay's progress counts its dead deliveries.
CREATE INDEX dead_letters_replay_idx ON {s}.dead_letters (replay_id) WHERE replay_id IS NOT NULL;
${moveDeadDeliveries('')};
DROP INDEX {s}.deliveries_dead_idx;
DROP INDEX {s}.deliveries_dead_handler_idx;
`;

/**
 * What a process of an older release, still running after the schema reached version 7 (a
 * rolling upgrade), dead-lettered in `deliveries` since: moved where this release lists, counts
 * and re-drives dead letters. No index finds them (the migration dropped the dead ones, which
 * every append paid for): a scan of `deliveries`, that is of the backlog, not of the events.
 */
export const MOVE_LEFTOVER_DEAD = `${moveDeadDeliveries(' ON CONFLICT (position, handler) DO NOTHING')}`;

/**
 * An event in a flow: correlated to another id than its own, or caused by one. The predicates of
 * the two indexes migration 8 replaces, verbatim (`e` the event).
 */
const IN_A_FLOW = `((e.metadata->>'correlationId') <> e.event_id::text OR (e.metadata->>'causationId') IS NOT NULL)`;

/** The flow row of an event `e` (position, correlation id other than its own, causation id). */
const FLOW_ROW = `e.position, nullif(e.metadata->>'correlationId', e.event_id::text), e.metadata->>'causationId'`;

/**
 * Flows out of `events`. PostgreSQL prepares each expression and partial index of a table (its
 * expressions and predicate read back and compiled) for every statement that inserts into it,
 * whether the row goes into the index or not: the two flow indexes of `events` cost every append
 * about 26 800 instructions, 7 % of the single-event append, root events (most of them) included
 * (bench README, "The statement-level changes, counted"). In a table of their own, with plain
 * B-trees, only events in a flow pay, through a second insert of the append statement that the
 * store sends only when one of its events needs it (it knows before sending: `inAFlow`). A row
 * holds the correlation id when it is not the event's own id (roots are found through their event
 * id, as since migration 5) and the causation id; an event in no flow has no row.
 *
 * The migration blocks appends (`SHARE` on `events`; reads go on) while it copies the flows of
 * the events already stored: on the store's connections (sequential scans off) the events in a
 * flow are found through the two indexes it then drops (a bitmap scan of both, OR-ed), so it reads
 * those events, not the whole table (behind a transaction pooler, without those settings, the
 * planner may scan the table), and writes one narrow row for each; the two B-trees are built after
 * the copy, sorted. Dropping the old indexes takes
 * `events` from reads too, for the end of the transaction only. On a table of many millions of
 * events in flows this takes minutes (the copy is about as long as building one of the old
 * indexes was): migrate in a quiet hour. `flows_swept` remembers up to where the flows of every
 * event are in `flows`: what an older process still running appends after this is indexed by
 * `INDEX_LEFTOVER_FLOWS`.
 */
export const MIGRATION_8_FLOWS = `
LOCK TABLE {s}.events IN SHARE MODE;
CREATE TABLE {s}.flows (
  position bigint NOT NULL,
  correlation_id text,
  causation_id text
);
INSERT INTO {s}.flows (position, correlation_id, causation_id)
SELECT ${FLOW_ROW} FROM {s}.events e WHERE ${IN_A_FLOW};
ALTER TABLE {s}.flows ADD PRIMARY KEY (position);
CREATE INDEX flows_correlation_idx ON {s}.flows (correlation_id, position);
CREATE INDEX flows_causation_idx ON {s}.flows (causation_id, position);
CREATE TABLE {s}.flows_swept (position bigint NOT NULL);
INSERT INTO {s}.flows_swept (position) SELECT ${HORIZON};
DROP INDEX {s}.events_correlated_idx;
DROP INDEX {s}.events_causation_idx;
`;

/**
 * Replay progress without an index on `deliveries`. PostgreSQL prepares each partial index of a
 * table (its predicate read back and compiled, its relation opened) for every statement that
 * inserts into it, whether the row goes into it or not: `deliveries_replay_idx`, which only a
 * replay's progress read, cost every append about 7 400 instructions (bench README, "The
 * delivery row's columns, counted"). A replay now notes what it queued, one narrow row per
 * delivery (`replay_deliveries`, written by the replay's own requeue, never by an append or a
 * claim), and its progress counts, among those, the ones whose delivery is still open for this
 * replay: one range of this table's primary key and a probe of the deliveries' primary key per
 * row, the replay's own size (at most its `max_events` × its handlers), whatever the backlog.
 * `deliveries.replay_id` stays (no index): the probe checks it (a later replay of the same
 * delivery takes it over), a death copies it to the dead letters (counted through their own
 * index), a re-drive back. The migration notes what open deliveries and dead letters of a
 * replay there are (through the index it then drops). A release that knows version 8 or less
 * would queue replayed deliveries without their note (its progress would miss them): it does not
 * run on this version; what one still running queues is noted by `NOTE_LEFTOVER_REPLAYED`.
 */
export const MIGRATION_9_REPLAY_DELIVERIES = `
CREATE TABLE {s}.replay_deliveries (
  replay_id uuid NOT NULL,
  position bigint NOT NULL,
  handler text NOT NULL,
  PRIMARY KEY (replay_id, position, handler)
);
${noteReplayed('')};
DROP INDEX {s}.deliveries_replay_idx;
`;

/**
 * The chain check of the unordered claims as a function. PostgreSQL sets up every subplan of a
 * statement at each execution, whether a row reaches it or not: the claims sent for unordered
 * handlers (`ordered: false`) carried the ordered rows' "no earlier open delivery of this
 * aggregate" check as one, about 3 700 instructions per claimed event for a check that runs only
 * for an ordered row (made while the handler was ordered) (bench README, "The chain check in a
 * function"). A function call is looked up, not run, until a row reaches it. PL/pgSQL, whose
 * statement plan is kept for the session: a SQL function with a sub-select is not inlined and is
 * planned again at every execution of the claim that calls it (+95 k per claimed event when every
 * row is ordered, against +34 k for this one, which is why the ordered claims keep the check
 * inline). STABLE: it reads the calling statement's snapshot, so its horizon is the claim's. Its
 * rule is `chainHead`'s, word for word (`sql.test` holds them together): a change of the chain
 * rule is a new version replacing it. A release that knows 9 runs on 10 (it never calls it).
 */
export const MIGRATION_10_CHAIN_HEAD = `
CREATE FUNCTION {s}.chain_head(text, text, bigint) RETURNS boolean LANGUAGE plpgsql STABLE AS $f$
BEGIN
  RETURN $3 < pg_snapshot_xmin(pg_current_snapshot())::text::bigint * 1048576 AND NOT EXISTS (
  SELECT 1 FROM {s}.deliveries p
  WHERE p.handler = $1 AND p.aggregate_id = $2 AND p.position < $3
    AND p.ordered AND p.status = 'open');
END
$f$;
`;

/**
 * Notes every open delivery and dead letter queued by a replay (their `replay_id`): the version-9
 * migration's copy (through `deliveries_replay_idx`, before it goes), and `NOTE_LEFTOVER_REPLAYED`.
 */
function noteReplayed(onConflict: string): string {
  return `INSERT INTO {s}.replay_deliveries (replay_id, position, handler)
SELECT d.replay_id, d.position, d.handler FROM {s}.deliveries d WHERE d.replay_id IS NOT NULL
UNION
SELECT x.replay_id, x.position, x.handler FROM {s}.dead_letters x WHERE x.replay_id IS NOT NULL${onConflict}`;
}

/**
 * What a process of an older release, still running after the schema reached version 9 (a
 * rolling upgrade), queued in a replay since: noted, so the replay's progress counts it. No index
 * finds them (the migration dropped it, which every append paid for): a scan of `deliveries`, that
 * is of the backlog, not of the events, and a range of `dead_letters_replay_idx`.
 */
export const NOTE_LEFTOVER_REPLAYED = noteReplayed(' ON CONFLICT DO NOTHING');

/**
 * What a process of an older release, still running after the schema reached version 8 (a
 * rolling upgrade), appended in a flow since the last sweep: its statements write no flow row, so
 * a read by correlation or causation id would miss the event. Every settled event from
 * `flows_swept` on (one range of the primary key: the events appended since the previous sweep,
 * by any process) gets its row when it is in a flow and has none; then `flows_swept` moves to the
 * horizon. Concurrent sweeps do the same work twice at most, harmlessly.
 */
export const INDEX_LEFTOVER_FLOWS = `
WITH bounds AS MATERIALIZED (
  SELECT (SELECT position FROM {s}.flows_swept) AS lo, ${HORIZON} AS hi
), indexed AS (
  INSERT INTO {s}.flows (position, correlation_id, causation_id)
  SELECT ${FLOW_ROW} FROM {s}.events e
  WHERE e.position >= (SELECT lo FROM bounds) AND e.position < (SELECT hi FROM bounds) AND ${IN_A_FLOW}
  ON CONFLICT (position) DO NOTHING
)
UPDATE {s}.flows_swept SET position = (SELECT hi FROM bounds) WHERE position < (SELECT hi FROM bounds)`;

/**
 * How many milliseconds of each leftover sweep's window remain ($1 the window): after the schema
 * was upgraded to version 7 (`MOVE_LEFTOVER_DEAD`), 8 (`INDEX_LEFTOVER_FLOWS`) or 9
 * (`NOTE_LEFTOVER_REPLAYED`) from an older
 * one. No row for a version the schema was created at or after (every version recorded by the
 * same transaction, so at the same time): no older release can have run on it.
 */
export const LEFTOVER_WINDOWS_MS = `
SELECT m.version, extract(epoch FROM (m.applied_at + $1::interval - now())) * 1000 AS remaining_ms
FROM {s}.migrations m
WHERE m.version IN (7, 8, 9) AND m.applied_at > (SELECT min(f.applied_at) FROM {s}.migrations f)`;

// ---------------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------------

/**
 * Where this transaction's positions start: right after the events it already appended (several
 * appends in one caller transaction), or at the start of its block. A statement of its own (an
 * append through the pool) skips the lookup: its transaction has written nothing yet.
 */
const BASE_IN_TRANSACTION = `coalesce((SELECT max(ev.position) FROM {s}.events ev
  WHERE ev.position >= tx.lo AND ev.position < tx.lo + ${POSITION_BLOCK}), tx.lo)`;
const BASE_FRESH = 'tx.lo';

/** A new delivery per subscription `s` of an event at `position`: the columns and the row. */
const deliveryRows = (position: string, aggregateId: string, now: string) => `INSERT INTO {s}.deliveries (
    position, handler, aggregate_id, ordered, run, status, next_attempt_at, created_at, updated_at)
  SELECT ${position}, s.handler, ${aggregateId}, s.ordering = 'aggregate', ${RUN}, 'open', ${now},
    ${now}, ${now}`;
/** The one position of a single-event append in a transaction of its own. */
const ONE_POSITION = `${RUN} * ${POSITION_BLOCK} + 1`;
/** The columns an append writes into `events`. */
const EVENT_INSERT_COLUMNS = `position, event_id, event_type, aggregate_id, aggregate_type, aggregate_version,
    event_data, metadata, occurred_at, recorded_at`;

/** `now`: the append's time ($9), or each event's own (a coalesced append: `i.recorded_at`). */
const deliver = (now: string) => `delivered AS (
  ${deliveryRows('i.position', 'i.aggregate_id', now)}
  FROM inserted i JOIN {s}.subscriptions s ON s.event_type = i.event_type AND s.expires_at > ${now}
  RETURNING position
)`;
const DELIVER = deliver('$9::timestamptz');

/**
 * The flow row of each inserted event in a flow (migration 8): the statements of this name end in
 * `_FLOWS`, and the store sends them only when an event of the append is in a flow (`inAFlow`);
 * the others, and their cost, stay as they were. For a batch the columns come back from the
 * insert (the metadata as stored), and the rows are filtered here: a batch holds roots too.
 */
const FLOW_COLUMNS = `,
    nullif(metadata->>'correlationId', event_id::text) AS correlation_id, metadata->>'causationId' AS causation_id`;
const FLOWED = `flowed AS (
  INSERT INTO {s}.flows (position, correlation_id, causation_id)
  SELECT i.position, i.correlation_id, i.causation_id FROM inserted i
  WHERE i.correlation_id IS NOT NULL OR i.causation_id IS NOT NULL
), `;

/**
 * The single-event form computes the row from its parameters instead (the event's id, `$1`, and
 * metadata, `$7`): 6.4 k instructions less than reading the columns back from the insert (bench
 * README, "Flows in a table of their own"). It writes the row unfiltered: the store sends it only
 * for an event in a flow, which it tells exactly (`inAFlow`).
 */
const flowedOne = (position: string, from: string) => `flowed AS (
  INSERT INTO {s}.flows (position, correlation_id, causation_id)
  SELECT ${position}, nullif($7::jsonb->>'correlationId', $1::uuid::text), $7::jsonb->>'causationId'${from}
)`;
const FLOWED_ONE = `${flowedOne('i.position', ' FROM inserted i')}, `;

/**
 * Postgres delivers a NOTIFY at commit and drops it on rollback, so a listener only hears of
 * events that exist. The payload names the batch's event types (space-separated, each
 * `[A-Za-z0-9_.:-]`), or is empty when they would not fit in a notification: "look at everything".
 */
const NOTIFY_ONE = `, notified AS (SELECT pg_notify($10::text, $2::text) AS sent)`;
const NOTIFY_MANY = `, notified AS (
  SELECT pg_notify($10::text, CASE WHEN length(t.types) > 7900 THEN '' ELSE t.types END) AS sent
  FROM (SELECT string_agg(DISTINCT u.event_type, ' ') AS types FROM unnest($2::text[]) AS u(event_type)) t
)`;

/**
 * One round trip for a whole batch: inserts the events (arrays unnested in order), creates one
 * pending delivery per live subscription of each event's type, returns positions and per-event
 * delivery counts.
 *
 * `tx` is fetched before any position is computed, and the positions derive from it, so a
 * position can never be lower than one owned by a transaction that started writing earlier
 * (that is what makes `HORIZON` gap-safe).
 */
const appendMany = (base: string, notify: boolean, coalesced = false, flows = false) => `
WITH tx AS MATERIALIZED (
  SELECT pg_current_xact_id()::text::bigint * ${POSITION_BLOCK} AS lo
), base AS MATERIALIZED (
  SELECT ${base} AS base FROM tx
), input AS (
  SELECT b.base + i.idx AS position, i.event_id, i.event_type, i.aggregate_id, i.aggregate_type,
    i.aggregate_version, i.event_data, i.metadata, i.occurred_at${coalesced ? ', i.recorded_at' : ''}
  FROM base b, unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[],
    $8::timestamptz[]${coalesced ? ', $9::timestamptz[]' : ''}) WITH ORDINALITY AS i(event_id, event_type,
    aggregate_id, aggregate_type, aggregate_version, event_data, metadata, occurred_at,${coalesced ? ' recorded_at,' : ''} idx)
), inserted AS (
  INSERT INTO {s}.events (${EVENT_INSERT_COLUMNS})
  SELECT position, event_id, event_type, aggregate_id, aggregate_type, aggregate_version,
    event_data::jsonb, metadata::jsonb, occurred_at, ${coalesced ? 'recorded_at' : '$9::timestamptz'}
  FROM input
  RETURNING position, event_type, aggregate_id${coalesced ? ', recorded_at' : ''}${flows ? FLOW_COLUMNS : ''}
), ${flows ? FLOWED : ''}${coalesced ? deliver('i.recorded_at') : DELIVER}${notify ? NOTIFY_MANY : ''}
SELECT i.position::text AS position, count(d.position)::int AS deliveries
FROM inserted i LEFT JOIN delivered d ON d.position = i.position${notify ? ' CROSS JOIN notified' : ''}
GROUP BY i.position ORDER BY i.position`;

/**
 * The single-event form: the common case, without the array plumbing. Same rules. In a
 * transaction of its own the one position is the transaction id's block + 1, computed in the
 * insert itself: one row evaluates it once, and the id is taken by computing it, before the
 * row exists, as through `tx`; the `tx` CTE cost 6.5 k instructions per append (bench README,
 * "From evco down to the rows prototype"). Inside a caller's transaction `tx` stays: the base
 * looks up what the transaction appended before.
 */
const appendOne = (base: string | undefined, notify: boolean, flows = false) => `
WITH ${
  base === undefined
    ? ''
    : `tx AS MATERIALIZED (
  SELECT ${RUN} * ${POSITION_BLOCK} AS lo
), `
}inserted AS (
  INSERT INTO {s}.events (${EVENT_INSERT_COLUMNS})
  SELECT ${base ?? `${RUN} * ${POSITION_BLOCK}`} + 1,
    $1::uuid, $2::text, $3::text, $4::text, $5::bigint, $6::jsonb, $7::jsonb, $8::timestamptz, $9::timestamptz${
      base === undefined ? '' : '\n  FROM tx'
    }
  RETURNING position, event_type, aggregate_id
), ${flows ? FLOWED_ONE : ''}${DELIVER}${notify ? NOTIFY_ONE : ''}
SELECT i.position::text AS position, (SELECT count(*) FROM delivered)::int AS deliveries
FROM inserted i${notify ? ' CROSS JOIN notified' : ''}`;

/**
 * The single-event append in a transaction of its own, as the deliveries' insert: one row back per
 * delivery created (each naming the position), so the count is the row count and no row is
 * counted inside the statement. The events' insert is a CTE without `RETURNING`, and each insert
 * computes the one position from the transaction id itself (the same value, `APPEND_ONE`'s), so
 * neither reads the other's rows. Counting the delivered rows in the statement (a `RETURNING`
 * into a CTE and a `count(*)` over it, or a sub-select in the result) cost 25 k instructions per
 * append, a final `SELECT` over the events' CTE another 10 k: 34.8 k in all, 9.5 % of the append
 * (bench README, "The append's result row, reshaped"). When nobody subscribes, no row comes back:
 * the store reads the position by event id (`POSITION_OF_EVENT`) and sends `APPEND_ONE` for that
 * type until a delivery is made again. $1..$9 as `APPEND_ONE`.
 */
const appendOneDelivering = (flows: boolean) => `
WITH inserted AS (
  INSERT INTO {s}.events (${EVENT_INSERT_COLUMNS})
  VALUES (${ONE_POSITION},
    $1::uuid, $2::text, $3::text, $4::text, $5::bigint, $6::jsonb, $7::jsonb, $8::timestamptz, $9::timestamptz)
)${flows ? `, ${flowedOne(ONE_POSITION, '')}` : ''}
${deliveryRows(ONE_POSITION, '$3::text', '$9::timestamptz')}
FROM {s}.subscriptions s WHERE s.event_type = $2::text AND s.expires_at > $9::timestamptz
RETURNING position::text AS position`;
export const APPEND_ONE_DELIVERING = appendOneDelivering(false);
/** The same for an event in a flow: its flow row too (as `APPEND_ONE_FLOWS`). */
export const APPEND_ONE_DELIVERING_FLOWS = appendOneDelivering(true);

/** The position of an event appended by `APPEND_ONE_DELIVERING` that made no delivery. $1 event id. */
export const POSITION_OF_EVENT = `SELECT e.position::text AS position FROM {s}.events e WHERE e.event_id = $1::uuid`;

/** Appends in a transaction of their own. $1..$8 arrays of the event fields, $9 now. */
export const APPEND = appendMany(BASE_FRESH, false);
/** Appends inside a caller's transaction. Same parameters. */
export const APPEND_IN_TRANSACTION = appendMany(BASE_IN_TRANSACTION, false);
/** One event in a transaction of its own. $1..$8 the event fields, $9 now. */
export const APPEND_ONE = appendOne(undefined, false);
/** One event inside a caller's transaction. Same parameters. */
export const APPEND_ONE_IN_TRANSACTION = appendOne(BASE_IN_TRANSACTION, false);
/** The same four, also notifying channel $10 (the `notify` option). */
export const APPEND_NOTIFY = appendMany(BASE_FRESH, true);
export const APPEND_IN_TRANSACTION_NOTIFY = appendMany(BASE_IN_TRANSACTION, true);
export const APPEND_ONE_NOTIFY = appendOne(undefined, true);
export const APPEND_ONE_IN_TRANSACTION_NOTIFY = appendOne(BASE_IN_TRANSACTION, true);
/**
 * Several callers' appends as one transaction of their own (`coalesceAppends`): `APPEND` with
 * $9 an array too, each event's `now` (its caller's), so each event is recorded, and its
 * deliveries created, at the time its own append would have used. Each caller's events are
 * contiguous in the arrays, so its positions are too.
 */
export const APPEND_COALESCED = appendMany(BASE_FRESH, false, true);
export const APPEND_COALESCED_NOTIFY = appendMany(BASE_FRESH, true, true);
/** Each of the above, also writing the flow rows of its events in a flow (migration 8). */
export const APPEND_FLOWS = appendMany(BASE_FRESH, false, false, true);
export const APPEND_IN_TRANSACTION_FLOWS = appendMany(BASE_IN_TRANSACTION, false, false, true);
export const APPEND_ONE_FLOWS = appendOne(undefined, false, true);
export const APPEND_ONE_IN_TRANSACTION_FLOWS = appendOne(BASE_IN_TRANSACTION, false, true);
export const APPEND_NOTIFY_FLOWS = appendMany(BASE_FRESH, true, false, true);
export const APPEND_IN_TRANSACTION_NOTIFY_FLOWS = appendMany(BASE_IN_TRANSACTION, true, false, true);
export const APPEND_ONE_NOTIFY_FLOWS = appendOne(undefined, true, true);
export const APPEND_ONE_IN_TRANSACTION_NOTIFY_FLOWS = appendOne(BASE_IN_TRANSACTION, true, true);
export const APPEND_COALESCED_FLOWS = appendMany(BASE_FRESH, false, true, true);
export const APPEND_COALESCED_NOTIFY_FLOWS = appendMany(BASE_FRESH, true, true, true);

/** Starts receiving the store's notifications on a dedicated connection; `quoted` from `quoteIdentifier`. */
export function listenSql(quoted: string): string {
  return `LISTEN ${quoted}`;
}

export const GET_EVENT = `SELECT ${EVENT_COLUMNS} FROM {s}.events e WHERE e.event_id = $1`;

/** Every delivery still stored for one event (open and dead: done ones are deleted). $1 event id. */
export const GET_DELIVERIES = `
WITH ev AS MATERIALIZED (SELECT e.position FROM {s}.events e WHERE e.event_id = $1)
SELECT d.position::text AS position, ${DELIVERY_COLUMNS} FROM {s}.deliveries d
WHERE d.position = (SELECT position FROM ev)
UNION ALL
SELECT x.position::text, ${DEAD_LETTER_COLUMNS} FROM {s}.dead_letters x
WHERE x.position = (SELECT position FROM ev)
ORDER BY handler`;

export interface ReadShape {
  eventTypes: 'none' | 'one' | 'many';
  aggregateId: boolean;
  aggregateType: boolean;
  correlationId: boolean;
  causationId: boolean;
  from: boolean;
  to: boolean;
  afterPosition: boolean;
  beforePosition: boolean;
  desc: boolean;
}

/**
 * History reads: one statement text per combination of filters, so each gets a plan that can
 * use the matching index (a catch-all `$1 IS NULL OR …` would not). Only settled rows: see
 * `HORIZON`. Parameters follow the order of the fields of `ReadShape`, then the limit. A time
 * window adds the bounds of its position range (see `MIGRATION_4_TIME_WINDOWS`).
 */
export function readEventsSql(shape: ReadShape): string {
  const { where, limit, window, settled, flow } = readFilters(shape);
  const order = `ORDER BY e.position ${shape.desc ? 'DESC' : 'ASC'} LIMIT ${limit}`;
  // By correlation or causation id (migration 8): a range of the flows table's index, in position
  // order, each event joined by its position.
  if (flow) {
    const flowOrder = `ORDER BY f.position ${shape.desc ? 'DESC' : 'ASC'} LIMIT ${limit}`;
    const inFlows = `SELECT ${EVENT_COLUMNS} FROM {s}.flows f JOIN {s}.events e ON e.position = f.position
  WHERE ${settled} AND ${where}
  ${flowOrder}`;
    if (flow.root === undefined) return inFlows;
    // By correlation id, the flow's root too, at most one, through the event id's index: a root
    // (correlated to itself) has no correlation id in flows. The same filters on the event alone.
    const plain = readFilters(shape, '', false);
    return `SELECT ${EVENT_COLUMNS} FROM (
(${inFlows})
UNION ALL
(SELECT ${EVENT_COLUMNS} FROM {s}.events e WHERE e.event_id = ${rootId(flow.root)} AND ${plain.settled} AND ${plain.where})
) e
${order}`;
  }
  const bounded = window
    ? `${windowBounds(window)}
SELECT ${EVENT_COLUMNS} FROM {s}.events e WHERE ${settled}
  AND e.position >= (SELECT lo FROM win) AND e.position <= (SELECT hi FROM win) AND ${where}`
    : `SELECT ${EVENT_COLUMNS} FROM {s}.events e WHERE ${settled} AND ${where}`;
  return `${bounded}
${order}`;
}

/** The flow expressions of the events' metadata, for filters on the event itself. */
const CORRELATION = "(e.metadata->>'correlationId')";
const CAUSATION = "(e.metadata->>'causationId')";

/**
 * The event whose own id `value` is, when it is one: a root's correlation id is its `event_id`
 * as Postgres prints a uuid (lowercase, with hyphens). Anything else is no event id (NULL
 * matches no row), and is never cast: the cast would fail on it.
 */
function rootId(value: string): string {
  return `(CASE WHEN ${value} ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN ${value}::uuid END)`;
}

/**
 * The highest committed but not yet settled position a read with the same filters would see:
 * its caller waits for the horizon to pass it instead of leaving a fresh event out. Same
 * parameters as `readEventsSql` without the limit. The range above the horizon is tiny, so it
 * needs no window bounds; the `+ interval '0'` keeps a generic plan from walking the window's index instead.
 */
export function unsettledEventsSql(shape: ReadShape): string {
  const { where } = readFilters(shape, "+ interval '0' ");
  return `SELECT max(e.position)::text AS unsettled FROM {s}.events e WHERE e.position >= ${HORIZON} AND ${where}`;
}

/**
 * The lowest and highest position of the events inside a time window: an index-only range scan
 * of `events_time_idx`, as long as the window. `+ 0` matters: on a plain `min(position)` the
 * planner may instead walk the primary key from one end until it meets the window — the whole
 * table for a recent window.
 */
function windowBounds(window: { from?: string | undefined; to?: string | undefined }): string {
  const conditions = [
    ...(window.from ? [`w.occurred_at >= ${window.from}`] : []),
    ...(window.to ? [`w.occurred_at < ${window.to}`] : []),
  ];
  return `WITH win AS MATERIALIZED (
  SELECT min(w.position + 0) AS lo, max(w.position + 0) AS hi FROM {s}.events w WHERE ${conditions.join(' AND ')}
)`;
}

interface ReadFilters {
  where: string;
  limit: string;
  /** Only settled rows (see `HORIZON`), on the key's index when there is one (see `cursor`). */
  settled: string;
  /** The parameters of a time window worth bounding (see `windowBounds`). */
  window?: { from?: string | undefined; to?: string | undefined } | undefined;
  /**
   * The key is a flows index (alias `f`, joined to `e`); `root`: the correlation id's parameter,
   * whose root is read apart (migration 5).
   */
  flow?: { root?: string | undefined } | undefined;
}

/**
 * `keyed`: the narrowest equality is the key its index is read by (its row comparisons, the flows
 * table for a correlation or causation id); otherwise every filter is on the event itself.
 */
function readFilters(shape: ReadShape, timeOffset = '', keyed = !timeOffset): ReadFilters {
  const where = ['true'];
  let n = 0;
  const param = () => `$${++n}`;
  const window: { from?: string | undefined; to?: string | undefined } = {};
  // The equality of the narrowest index (each has the position as its second column): its column,
  // and the position column beside it.
  const keyColumn = !keyed
    ? undefined
    : shape.aggregateId
      ? 'e.aggregate_id'
      : shape.correlationId
        ? 'f.correlation_id'
        : shape.causationId
          ? 'f.causation_id'
          : shape.eventTypes === 'one'
            ? 'e.event_type'
            : shape.aggregateType
              ? 'e.aggregate_type'
              : undefined;
  const onFlows = keyColumn?.startsWith('f.') ?? false;
  const position = onFlows ? 'f.position' : 'e.position';
  let key: { column: string; value: string } | undefined;
  // Parameters in the order of the fields of `ReadShape`. The key's equality on its index's
  // column; the rest on the event (the flow ids on the event's metadata: its flow row says the
  // same).
  const equal = (column: string, indexed = column) => {
    const value = param();
    if (indexed === keyColumn) {
      key = { column: indexed, value };
      where.push(`${indexed} = ${value}`);
    } else {
      where.push(`${column} = ${value}`);
    }
    return value;
  };
  if (shape.eventTypes === 'one') equal('e.event_type');
  if (shape.eventTypes === 'many') where.push(`e.event_type = ANY(${param()}::text[])`);
  if (shape.aggregateId) equal('e.aggregate_id');
  if (shape.aggregateType) equal('e.aggregate_type');
  const correlation = shape.correlationId ? equal(CORRELATION, 'f.correlation_id') : undefined;
  if (shape.causationId) equal(CAUSATION, 'f.causation_id');
  if (shape.from) {
    window.from = param();
    where.push(`e.occurred_at ${timeOffset}>= ${window.from}`);
  }
  if (shape.to) {
    window.to = param();
    where.push(`e.occurred_at ${timeOffset}< ${window.to}`);
  }
  // A cursor next to an equality is written as a row comparison on that index's two columns: an
  // index condition there, and none on the primary key. A bare `position > $n` lets a generic
  // plan (which cannot know how rare the value is) walk the primary key from the cursor and
  // filter, reading every row of other types, aggregates… between two matches. The horizon
  // bound is written the same way, for the same reason: the newest 100 of a type behind a burst
  // of another type's events (appended since the last ANALYZE) read the whole burst.
  // The bare bound goes in too, beside the row comparison: it is what the B-tree starts from.
  // With only the row comparison the scan starts where the key's equality puts it (the key's
  // first entry ascending, its last descending: the equality is the start key a B-tree scan
  // prefers) and steps over every entry before the cursor inside the index, rows read staying
  // at the page's: in the bench's `scale` section at 5 M events, the 100 events of a type (of
  // 250 000) after position 4.9 M touched 898 pages in 56 ms, with the bare bound 45 in 0.15 ms
  // (explain.int's pages-touched case).
  const cursor = (op: '>' | '<') => {
    const value = param();
    where.push(
      key
        ? `(${key.column}, ${position}) ${op} (${key.value}, ${value}) AND ${position} ${op} ${value}`
        : `e.position ${op} ${value}`,
    );
  };
  if (shape.afterPosition) cursor('>');
  if (shape.beforePosition) cursor('<');
  // An aggregate, a flow or a cause is a short index range already, so a time window adds
  // nothing there; only type filters and none walk ranges as wide as the table.
  const narrow = shape.aggregateId || shape.correlationId || shape.causationId;
  return {
    where: where.join(' AND '),
    limit: param(),
    settled: key ? `(${key.column}, ${position}) < (${key.value}, ${HORIZON})` : `e.position < ${HORIZON}`,
    ...((shape.from || shape.to) && !narrow ? { window } : {}),
    ...(onFlows ? { flow: { root: key?.column === 'f.correlation_id' ? correlation : undefined } } : {}),
  };
}

/** The horizon itself, for waiting until it passes a position. */
export const SELECT_HORIZON = `SELECT ${HORIZON}::text AS horizon`;

// ---------------------------------------------------------------------------------------------
// Subscriptions
// ---------------------------------------------------------------------------------------------

export const UPSERT_SUBSCRIPTIONS = `
INSERT INTO {s}.subscriptions (event_type, handler, ordering, expires_at, last_seen_at, last_seen_by)
SELECT t.event_type, t.handler, t.ordering, $4::timestamptz, $5::timestamptz, $6::text
FROM unnest($1::text[], $2::text[], $3::text[]) AS t(event_type, handler, ordering)
ON CONFLICT (event_type, handler) DO UPDATE SET
  ordering = excluded.ordering, expires_at = excluded.expires_at,
  last_seen_at = excluded.last_seen_at, last_seen_by = excluded.last_seen_by`;

export const LIST_SUBSCRIPTIONS = `
SELECT handler, event_type, ordering, expires_at, last_seen_at, last_seen_by
FROM {s}.subscriptions ORDER BY handler, event_type`;

/**
 * Subscriptions go first; the deliveries not done (all there are) go with them, then, in the same
 * transaction, the dead letters (`RETIRE_DEAD_LETTERS`). Two statements: a `fail` moving one of the
 * handler's deliveries to the dead letters while this runs commits before the delete of its row
 * goes on (it holds the row), so the second statement's snapshot sees the dead letter it wrote;
 * one statement's single snapshot would leave it behind.
 */
export const RETIRE_HANDLER = `
WITH gone AS (DELETE FROM {s}.subscriptions WHERE handler = $1)
DELETE FROM {s}.deliveries WHERE handler = $1 AND status = 'open'`;
export const RETIRE_DEAD_LETTERS = `DELETE FROM {s}.dead_letters WHERE handler = $1`;

// ---------------------------------------------------------------------------------------------
// Deliveries
// ---------------------------------------------------------------------------------------------

/**
 * An ordered delivery may go only when its event is settled (below `horizon`: an earlier event of
 * the same aggregate could otherwise still be committing) and no earlier delivery of the same
 * handler and aggregate is open (pending or running).
 */
export const chainHead = (horizon: string) => `(NOT d.ordered OR (d.position < ${horizon} AND NOT EXISTS (
  SELECT 1 FROM {s}.deliveries p
  WHERE p.handler = d.handler AND p.aggregate_id = d.aggregate_id AND p.position < d.position
    AND p.ordered AND p.status = 'open')))`;

/**
 * `chainHead` in the claims without the `unsettled` row (handlers all unordered): the same rule in
 * a function (`MIGRATION_10_CHAIN_HEAD`), set up only when an ordered row reaches it.
 */
const CHAIN_HEAD_CALL = '(NOT d.ordered OR {s}.chain_head(d.handler, d.aggregate_id, d.position))';

/**
 * Only the current lease holder's token counts: the row is leased, at the token's attempt, and
 * by the token's lease (the `lease_owner` the claim wrote: the consumer and a random nonce). The
 * lease matters once claims commit asynchronously: a claim lost in a crash leaves the attempt
 * number where it was, so the next claim issues the same attempt again, but never the same lease.
 * A token without a lease (built by hand, or by an older core) is checked as before.
 */
const LEASED = `d.position = t.position AND d.handler = t.handler AND d.run = t.run AND d.status = 'open'
  AND d.lease_owner IS NOT NULL AND d.attempts = t.attempt AND (t.lease IS NULL OR d.lease_owner = t.lease)`;

/** The lease tokens $1 positions, $2 handlers, $3 runs, $4 attempts, $5 leases (null: unchecked). */
const TOKENS = `unnest($1::bigint[], $2::text[], $3::bigint[], $4::integer[], $5::text[])
  AS t(position, handler, run, attempt, lease)`;

/**
 * \`asyncCommit: 'leases'\`: a condition that holds and turns off the WAL flush wait for the
 * statement's own (implicit) transaction. Uncorrelated, so the planner evaluates it once, as a
 * one-time filter before the rest of the statement runs, even when no row matches; the setting
 * is local to the transaction, so it works through a transaction pooler too.
 */
const NO_FLUSH_WAIT = `(SELECT set_config('synchronous_commit', 'off', true)) = 'off'`;

/**
 * Completion: the tokens' rows, found through the primary key, probed per token (position and
 * handler). `status <> 'dead'` is `LEASED`'s `status = 'open'` (the only two values) written so
 * that it does not match `deliveries_open_idx`'s predicate: a generic plan made while the table
 * was small otherwise took that index whole, every open delivery read by every completion once a
 * backlog built up (40 020 index entries for 10 tokens). A `d.position = ANY($1)` beside the join
 * is not needed for that (the backlog and EXPLAIN tests hold the plans at 40 000 open deliveries,
 * planned small, and at 1 M rows) and cost 4.4 k instructions per completed delivery.
 */
const DELETE_LEASED = (asyncCommit: boolean) => `DELETE FROM {s}.deliveries d
USING ${TOKENS}
WHERE ${LEASED.replace("d.status = 'open'", "d.status <> 'dead'")}${
  asyncCommit ? ` AND ${NO_FLUSH_WAIT}` : ''
}`;

/**
 * Completion by lease, as `completeAndClaim` sends it when every token carries its lease id: the
 * row at the token's (position, handler) whose `lease_owner` is the token's lease. The lease is
 * unique to one claim statement (the consumer, 72 random bits per store, a counter), and that
 * statement leased each (position, handler) at most once; only a claim writes a lease, and the
 * run is never changed in place (a re-drive or a replay inserts a new row, unleased, whose claim
 * writes another lease). So a row that still holds the token's lease is the token's run at the
 * token's attempt, leased (so open: dead deliveries live in `dead_letters`), and the checks of
 * `LEASED` add nothing to it. They cost 7.0 k instructions per completed delivery (bench README,
 * "The completion by lease"); a token without a lease is still checked by them (`COMPLETE`).
 * $1 positions, $2 handlers, $3 leases.
 *
 * `product`: the tokens are every combination of the distinct positions ($1), handlers ($2) and
 * leases ($3) the caller sends (`isProduct` in the store), so matching each column against its
 * array matches exactly the tokens' rows: one index scan of the primary key, without the
 * tokens' `unnest` and the join (another 11.4 k per completed delivery).
 */
const DELETE_BY_LEASE = (product: boolean) =>
  product
    ? `DELETE FROM {s}.deliveries d
WHERE d.position = ANY($1::bigint[]) AND d.handler = ANY($2::text[]) AND d.lease_owner = ANY($3::text[])`
    : `DELETE FROM {s}.deliveries d
USING unnest($1::bigint[], $2::text[], $3::text[]) AS t(position, handler, lease)
WHERE d.position = t.position AND d.handler = t.handler AND d.lease_owner = t.lease`;

/**
 * What a completing claim never takes: a delivery the statement completes (an expired lease being
 * completed by its holder), whose row holds one of the tokens' leases at one of their positions.
 * Other rows may fall under it (a delivery of another handler at such a position, leased by the
 * same claim, expired, and not being completed): they wait for the next claim. A row nobody holds
 * (the usual candidate) is decided by its first test. The tokens' positions gathered per handler
 * instead (`<> ALL` of each handler's array) cost 0.8 k instructions per claimed event more.
 */
const NOT_COMPLETING = '(d.lease_owner IS NULL OR d.lease_owner <> ALL($3) OR d.position <> ALL($1))';

/** The claim row's columns, all null: the row that only carries `unsettled`. */
const NO_CLAIM = `NULL::text AS handler, NULL::text AS run, NULL::integer AS attempts, NULL::boolean AS is_replay,
  NULL::bigint AS position, NULL::uuid AS event_id, NULL::text AS event_type, NULL::text AS aggregate_id,
  NULL::text AS aggregate_type, NULL::bigint AS aggregate_version, NULL::jsonb AS event_data,
  NULL::jsonb AS metadata, NULL::timestamptz AS occurred_at, NULL::timestamptz AS recorded_at`;

/**
 * Leases due deliveries in one round trip: per handler the oldest open ones whose time has come
 * (new, retry due, or lease expired), each an index range scan skipping rows another claimer
 * holds; then the oldest of those across handlers, so one busy handler cannot starve the others.
 * The lease expiry becomes the row's `next_attempt_at`. The update finds the rows it leases by
 * `ctid` (a TID scan; rows this statement locked cannot move): joined back on the key, the
 * generic plan, which takes a tenth of the backlog for `LIMIT`, hashed the whole table.
 *
 * When it claims nothing, it returns one row of nulls but `unsettled` (with `unsettled`; the store
 * sends that form unless the caller says none of the handlers is ordered): the highest due,
 * ordered, open delivery of these handlers held back only because its event is not settled yet
 * (or null), so that a claim that found nothing can wait for the horizon to pass it without
 * another round trip to ask.
 *
 * `completing`: the statement first deletes the deliveries of the lease tokens in $1..$3 by
 * their leases (`DELETE_BY_LEASE`, each token's row or, `'product'`, the arrays' combinations)
 * and never claims one of those (`NOT_COMPLETING`), so completion and the next claim are one
 * round trip and one transaction. Deliveries a completion unblocks (the next of an aggregate)
 * are not claimable before the next statement: every part of a statement sees the same snapshot.
 */
type Completing = false | 'each' | 'product';

const claimDue = (completing: Completing, asyncCommit: boolean, unsettled: boolean) => {
  const [handlers, now, limit, consumer, expiry] = completing
    ? ['$4', '$5', '$6', '$7', '$8']
    : ['$1', '$2', '$3', '$4', '$5'];
  return `
WITH ${
    completing
      ? `done AS (
  ${DELETE_BY_LEASE(completing === 'product')}
), `
      : ''
  }${
    unsettled
      ? `horizon AS MATERIALIZED (
  SELECT ${SNAPSHOT_HORIZON} AS h
), `
      : ''
  }candidates AS (
  SELECT c.position, c.handler, c.ctid FROM unnest(${handlers}::text[]) AS hs(handler)
  CROSS JOIN LATERAL (
    SELECT d.position, d.handler, d.ctid FROM {s}.deliveries d
    WHERE d.handler = hs.handler AND d.status = 'open' AND d.next_attempt_at <= ${now} AND ${
      unsettled ? chainHead('(SELECT h FROM horizon)') : CHAIN_HEAD_CALL
    }${completing ? ` AND ${NOT_COMPLETING}` : ''}
    ORDER BY d.position LIMIT ${limit}
    FOR UPDATE SKIP LOCKED
  ) c
), picked AS (
  SELECT ctid FROM candidates ORDER BY position, handler LIMIT ${limit}
), claimed AS (
  UPDATE {s}.deliveries d SET attempts = d.attempts + 1, lease_owner = ${consumer}, next_attempt_at = ${expiry},
    updated_at = ${now}
  WHERE d.ctid = ANY (ARRAY(SELECT ctid FROM picked))${asyncCommit ? ` AND ${NO_FLUSH_WAIT}` : ''}
  RETURNING d.position, d.handler, d.run, d.attempts, d.is_replay
)
SELECT c.handler, c.run::text AS run, c.attempts, c.is_replay, ${EVENT_COLUMNS}, NULL::text AS unsettled
FROM claimed c JOIN {s}.events e ON e.position = c.position${
    unsettled
      ? `
UNION ALL
SELECT ${NO_CLAIM}, (
  SELECT max(d.position)::text FROM unnest(${handlers}::text[]) AS hs(handler)
  JOIN {s}.deliveries d ON d.handler = hs.handler AND d.status = 'open'
  WHERE d.ordered AND d.next_attempt_at <= ${now} AND d.position >= (SELECT h FROM horizon)
)
WHERE NOT EXISTS (SELECT 1 FROM claimed)`
      : ''
  }
ORDER BY position, handler`;
};

/**
 * The statements that only move leases (claim, complete, fail, release), each with the WAL flush
 * wait at commit (`asyncCommit: 'none'`) or without it (`'leases'`). Losing one of their commits
 * in a crash only means a delivery runs again: see "What evco promises under each fault".
 */
const leaseStatements = (asyncCommit: boolean) => {
  const noWait = asyncCommit ? ` AND ${NO_FLUSH_WAIT}` : '';
  return {
    /** $1 handlers, $2 now, $3 limit, $4 lease owner (consumer and nonce), $5 lease expiry. */
    CLAIM_DUE: claimDue(false, asyncCommit, true),
    /**
     * A completion by lease (`DELETE_BY_LEASE`) then `CLAIM_DUE`, atomically, in one statement.
     * $1 positions, $2 handlers, $3 leases (the lease tokens to complete); $4 handlers, $5 now,
     * $6 limit, $7 lease owner, $8 lease expiry (the claim). `…_PRODUCT`: $1..$3 the distinct
     * positions, handlers and leases of tokens that are all their combinations.
     */
    COMPLETE_AND_CLAIM_DUE: claimDue('each', asyncCommit, true),
    COMPLETE_AND_CLAIM_DUE_PRODUCT: claimDue('product', asyncCommit, true),
    /**
     * The two claims without the `unsettled` row, for handlers the caller says are all
     * unordered (`ClaimRequest.ordered === false`): a claim that finds nothing returns no row.
     * Ordered deliveries still wait for their chain (`CHAIN_HEAD_CALL` reads the row's own flag,
     * then calls `chain_head`); only the settle wait is left to the next claim. The row's branch
     * cost 9.3 k instructions per claimed event, planned and set up in every execution whether it
     * ran or not.
     */
    CLAIM_DUE_UNORDERED: claimDue(false, asyncCommit, false),
    COMPLETE_AND_CLAIM_DUE_UNORDERED: claimDue('each', asyncCommit, false),
    COMPLETE_AND_CLAIM_DUE_UNORDERED_PRODUCT: claimDue('product', asyncCommit, false),
    /** $1 positions, $2 handlers, $3 runs (the delivery ids), $4 attempts, $5 leases (the lease tokens). */
    COMPLETE: `\n${DELETE_LEASED(asyncCommit)}`,
    /**
     * $1..$5 lease tokens, $6 errors, $7 next attempt times (null: dead), $8 now. A retry stays
     * in `deliveries` with its time; a dead one moves to `dead_letters`, in the same statement.
     * (A dead letter already there for the same (position, handler) cannot be, see
     * `MIGRATION_7_DEAD_LETTERS`; should one be, the newer death replaces it rather than the
     * failure erring for ever.)
     */
    FAIL: `
WITH t AS (
  SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::integer[], $5::text[], $6::text[],
    $7::timestamptz[]) AS t(position, handler, run, attempt, lease, error, next_attempt_at)
), retried AS (
  UPDATE {s}.deliveries d SET next_attempt_at = t.next_attempt_at, lease_owner = NULL, last_error = t.error,
    updated_at = $8
  FROM t WHERE t.next_attempt_at IS NOT NULL AND ${LEASED}${noWait}
), gone AS (
  DELETE FROM {s}.deliveries d USING t WHERE t.next_attempt_at IS NULL AND ${LEASED}${noWait}
  RETURNING d.position, d.handler, d.aggregate_id, d.ordered, d.run, d.attempts, t.error, d.is_replay, d.replay_id
)
INSERT INTO {s}.dead_letters AS x (position, handler, aggregate_id, ordered, run, attempts, last_error,
  is_replay, replay_id, updated_at)
SELECT g.*, $8::timestamptz FROM gone g
ON CONFLICT (position, handler) DO UPDATE SET aggregate_id = excluded.aggregate_id, ordered = excluded.ordered,
  run = excluded.run, attempts = excluded.attempts, last_error = excluded.last_error,
  is_replay = excluded.is_replay, replay_id = excluded.replay_id, updated_at = excluded.updated_at`,
    /** $1..$5 lease tokens, $6 now. */
    RELEASE: `
UPDATE {s}.deliveries d SET next_attempt_at = $6, lease_owner = NULL, updated_at = $6
FROM ${TOKENS}
WHERE ${LEASED}${noWait}`,
  };
};

export const LEASE_STATEMENTS = leaseStatements(false);
export const ASYNC_LEASE_STATEMENTS = leaseStatements(true);
export type LeaseStatements = typeof LEASE_STATEMENTS;

// ---------------------------------------------------------------------------------------------
// Admin views
// ---------------------------------------------------------------------------------------------

/**
 * A page's event and deliveries are looked up per position (lateral subqueries the planner cannot
 * flatten: OFFSET 0). Joined plainly, the generic plan, which takes the page for a tenth of the
 * backlog (it does not know LIMIT $2), hash-joined it against a scan of the whole deliveries (or
 * events) table. A position's deliveries are its open ones and its dead letters.
 */
const UNPROCESSED_BODY = (page: string) => `
WITH page AS (${page})
SELECT ${EVENT_COLUMNS}, d.handler, d.run, d.delivery_status, d.attempts, d.next_attempt_at, d.last_error,
  d.is_replay, d.updated_at
FROM page
CROSS JOIN LATERAL (SELECT * FROM {s}.events WHERE position = page.position OFFSET 0) e
CROSS JOIN LATERAL (
  SELECT ${DELIVERY_COLUMNS} FROM {s}.deliveries d WHERE d.position = page.position
  UNION ALL
  SELECT ${DEAD_LETTER_COLUMNS} FROM {s}.dead_letters x WHERE x.position = page.position
  OFFSET 0
) d
ORDER BY e.position, d.handler`;

/**
 * $1 after position, $2 limit. The positions of each table in order (the primary keys), merged:
 * each reads at most the page.
 */
export const UNPROCESSED = UNPROCESSED_BODY(`
  SELECT u.position FROM (
    (SELECT DISTINCT d.position FROM {s}.deliveries d WHERE d.position > $1 ORDER BY d.position LIMIT $2)
    UNION
    (SELECT DISTINCT x.position FROM {s}.dead_letters x WHERE x.position > $1 ORDER BY x.position LIMIT $2)
  ) u ORDER BY u.position LIMIT $2`);
/**
 * $1 after position, $2 limit, $3 handler. The handler's open deliveries and dead letters each
 * come from their own index in position order, so a handler with a short backlog among long ones
 * reads only its own rows.
 */
export const UNPROCESSED_BY_HANDLER = UNPROCESSED_BODY(`
  SELECT u.position FROM (
    (SELECT d.position FROM {s}.deliveries d WHERE d.handler = $3 AND d.status = 'open' AND d.position > $1
      ORDER BY d.handler, d.position LIMIT $2)
    UNION ALL
    (SELECT x.position FROM {s}.dead_letters x WHERE x.handler = $3 AND x.position > $1
      ORDER BY x.handler, x.position LIMIT $2)
  ) u ORDER BY u.position LIMIT $2`);

/** A page of dead letters (the primary key's order, or the handler's index), then their events. */
const DEAD_LETTERS_BODY = (handlerFilter: string, order: string) => `
WITH page AS MATERIALIZED (
  SELECT ${DEAD_LETTER_COLUMNS}, x.position FROM {s}.dead_letters x
  WHERE x.position > $1 ${handlerFilter}
  ORDER BY ${order} LIMIT $2
)
SELECT ${EVENT_COLUMNS}, page.handler, page.run, page.delivery_status, page.attempts, page.next_attempt_at,
  page.last_error, page.is_replay, page.updated_at
FROM page JOIN {s}.events e ON e.position = page.position
ORDER BY page.position, page.handler`;

/** $1 after position, $2 limit. */
export const DEAD_LETTERS = DEAD_LETTERS_BODY('', 'x.position, x.handler');
/** $1 after position, $2 limit, $3 handler. */
export const DEAD_LETTERS_BY_HANDLER = DEAD_LETTERS_BODY('AND x.handler = $3', 'x.handler, x.position');

/**
 * A re-driven dead letter moves back to `deliveries` as a new run (new delivery id, attempt 1),
 * queued now: its `created_at` is the re-drive, so the lag (`oldestPendingAt`) counts from it, as
 * in every store. The replay's requeue below does the same. An open delivery of the same
 * (position, handler) cannot be there (see `MIGRATION_7_DEAD_LETTERS`); should one be, it stays
 * as it is and the dead letter goes: that delivery is the re-drive. Returns how many were re-driven.
 */
const RETRY_DEAD_BODY = (filter: string) => `
WITH moved AS (
  DELETE FROM {s}.dead_letters x WHERE ${filter}
  RETURNING x.position, x.handler, x.aggregate_id, x.ordered, x.is_replay, x.replay_id
), revived AS (
  INSERT INTO {s}.deliveries (position, handler, aggregate_id, ordered, run, status, next_attempt_at, is_replay,
    replay_id, created_at, updated_at)
  SELECT m.position, m.handler, m.aggregate_id, m.ordered, ${RUN}, 'open', $1::timestamptz, m.is_replay,
    m.replay_id, $1::timestamptz, $1::timestamptz
  FROM moved m
  ON CONFLICT (position, handler) DO NOTHING
)
SELECT count(*)::int AS retried FROM moved`;

/** $1 now. */
export const RETRY_DEAD = RETRY_DEAD_BODY('true');
/** $1 now, $2 handler. */
export const RETRY_DEAD_BY_HANDLER = RETRY_DEAD_BODY('x.handler = $2');
/** $1 now, $2 positions, $3 handlers, $4 runs (the delivery ids). */
export const RETRY_DEAD_BY_ID = RETRY_DEAD_BODY(
  '(x.position, x.handler, x.run) IN (SELECT * FROM unnest($2::bigint[], $3::text[], $4::bigint[]))',
);
/** $1 now, $2 positions, $3 handlers, $4 runs (the delivery ids), $5 handler. */
export const RETRY_DEAD_BY_ID_AND_HANDLER = RETRY_DEAD_BODY(
  '(x.position, x.handler, x.run) IN (SELECT * FROM unnest($2::bigint[], $3::text[], $4::bigint[])) AND x.handler = $5',
);

/**
 * Deliveries not done (every row of both tables), per handler. Counting the backlog reads all of
 * it, whatever the plan; the tables hold nothing else, done deliveries being deleted. Open ones
 * are read through the partial open index rather than the table: deleted deliveries stay in the
 * table's pages until a vacuum, so a scan of the table costs every delivery completed since then
 * (on a busy store, or with autovacuum off, many times the backlog), while an index scan marks
 * the dead entries it meets and skips them from then on.
 */
export const STATS_BY_HANDLER = `-- reads the whole backlog
SELECT c.handler, sum(c.pending)::int AS pending, sum(c.running)::int AS running, sum(c.dead)::int AS dead,
  min(c.oldest) AS oldest
FROM (
  SELECT d.handler, count(*) FILTER (WHERE d.lease_owner IS NULL) AS pending,
    count(*) FILTER (WHERE d.lease_owner IS NOT NULL) AS running, 0 AS dead, min(d.created_at) AS oldest
  FROM {s}.deliveries d WHERE d.status = 'open' GROUP BY d.handler
  UNION ALL
  SELECT x.handler, 0, 0, count(*), NULL FROM {s}.dead_letters x GROUP BY x.handler
) c
GROUP BY c.handler`;

/** $1 now. */
export const STATS_TOTALS = `
SELECT
  (SELECT max(position) FROM {s}.events)::text AS last_position,
  ARRAY(SELECT DISTINCT handler FROM {s}.subscriptions WHERE expires_at > $1) AS live`;

/** Events with a delivery not done. Like `STATS_BY_HANDLER`, it reads the whole backlog, through the same indexes. */
export const STATS_UNPROCESSED = `-- reads the whole backlog
SELECT count(DISTINCT u.position)::int AS unprocessed FROM (
  SELECT d.position FROM {s}.deliveries d WHERE d.status = 'open'
  UNION ALL
  SELECT x.position FROM {s}.dead_letters x
) u`;

// ---------------------------------------------------------------------------------------------
// Replay
// ---------------------------------------------------------------------------------------------

const REPLAY_COLUMNS = `replay_id::text AS replay_id, from_at, to_at, event_type, handler, max_events,
  from_position::text AS from_position, until_position::text AS until_position, status, cursor::text AS cursor, events_matched, deliveries_queued,
  truncated, created_at, updated_at`;

/**
 * $1 from, $2 to, $3 event type, $4 handler, $5 max events, $6 now. Bounded by the settled horizon
 * and by the position range of the window, computed once here (an empty window: nothing to do).
 */
export const START_REPLAY = `
${windowBounds({ from: '$1::timestamptz', to: '$2::timestamptz' })}
INSERT INTO {s}.replays (from_at, to_at, event_type, handler, max_events, from_position, until_position,
  status, created_at, updated_at)
SELECT $1, $2, $3, $4, $5, coalesce(win.lo, 0), coalesce(least(win.hi, ${HORIZON} - 1), -1),
  'running', $6, $6
FROM win
RETURNING ${REPLAY_COLUMNS}`;

/** Serializes drivers of one replay: a second one waits, then sees the advanced cursor. */
export const LOCK_REPLAY = `SELECT ${REPLAY_COLUMNS} FROM {s}.replays WHERE replay_id = $1 FOR UPDATE`;

const REPLAY_PAGE_BODY = (typeFilter: string) => `
SELECT e.position::text AS position, e.event_type, e.aggregate_id FROM {s}.events e
WHERE e.position > $1 AND e.position <= $2 AND e.occurred_at >= $3 AND e.occurred_at < $4 ${typeFilter}
ORDER BY e.position LIMIT $5`;

/** $1 cursor, $2 until, $3 from, $4 to, $5 limit. */
export const REPLAY_PAGE = REPLAY_PAGE_BODY('');
/** $1 cursor, $2 until, $3 from, $4 to, $5 limit, $6 event type. */
export const REPLAY_PAGE_BY_TYPE = REPLAY_PAGE_BODY('AND e.event_type = $6');

/**
 * Requeues one page: every (event, live handler) without an open delivery gets one, a replay
 * with a fresh attempt count: missing ones (done and deleted, or never created for a later
 * subscriber) and dead ones alike (a dead letter is not in `deliveries`). Open ones are left
 * alone. Returns how many were queued, and which: their dead letters go next
 * (`REPLAY_REVIVED`, same transaction).
 * $1 positions, $2 event types, $3 aggregate ids, $4 handler (null: all live), $5 now, $6 replay id
 * (kept on the rows it queues, and each noted in `replay_deliveries`, for its progress; a note
 * already there, from a requeue of the same delivery that ran before, stays).
 */
export const REPLAY_REQUEUE = `
WITH page AS (
  SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[]) AS p(position, event_type, aggregate_id)
), targets AS (
  SELECT p.position, p.aggregate_id, s.handler, s.ordering = 'aggregate' AS ordered
  FROM page p JOIN {s}.subscriptions s ON s.event_type = p.event_type
  WHERE s.expires_at > $5::timestamptz AND ($4::text IS NULL OR s.handler = $4::text)
), created AS (
  INSERT INTO {s}.deliveries (position, handler, aggregate_id, ordered, run, status, next_attempt_at,
    is_replay, replay_id, created_at, updated_at)
  SELECT t.position, t.handler, t.aggregate_id, t.ordered, ${RUN}, 'open', $5::timestamptz, true,
    $6::uuid, $5::timestamptz, $5::timestamptz
  FROM targets t
  ON CONFLICT (position, handler) DO NOTHING
  RETURNING position, handler
), noted AS (
  INSERT INTO {s}.replay_deliveries (replay_id, position, handler)
  SELECT $6::uuid, c.position, c.handler FROM created c
  ON CONFLICT DO NOTHING
)
SELECT count(*)::int AS queued, array_agg(position::text) AS positions, array_agg(handler) AS handlers
FROM created`;

/**
 * The dead letters of the deliveries `REPLAY_REQUEUE` queued ($1 positions, $2 handlers). Its own
 * statement, after it: a `fail` that moved one of them to the dead letters while the requeue ran
 * committed before the requeue's insert went on (it waited for the row), so only a later snapshot
 * sees that dead letter. Only what was queued: a delivery the requeue found open and left alone
 * may die since, and its dead letter stays.
 */
export const REPLAY_REVIVED = `
DELETE FROM {s}.dead_letters x USING unnest($1::bigint[], $2::text[]) AS q(position, handler)
WHERE x.position = q.position AND x.handler = q.handler`;

/** $1 id, $2 status, $3 cursor, $4 matched, $5 queued, $6 truncated, $7 now. */
export const UPDATE_REPLAY = `
UPDATE {s}.replays SET status = $2, cursor = $3, events_matched = $4, deliveries_queued = $5,
  truncated = $6, updated_at = $7
WHERE replay_id = $1
RETURNING ${REPLAY_COLUMNS}`;

/**
 * One replay with the deliveries it queued that are not done (done ones are deleted): its notes
 * (`replay_deliveries`, one range of its primary key) whose delivery is still there for this
 * replay (a probe of the deliveries' primary key each, the row's `replay_id` checked: a later
 * replay of the same event and handler takes the delivery over), and its dead letters (their
 * index). Per note a lateral probe the planner cannot turn into a join of the whole table (OFFSET
 * 0), whatever the generic plan thinks of the range. $1 replay id.
 */
export const GET_REPLAY = `
SELECT r.*, (SELECT count(*)::int FROM {s}.replay_deliveries q
    CROSS JOIN LATERAL (SELECT 1 FROM {s}.deliveries d
      WHERE d.position = q.position AND d.handler = q.handler AND d.replay_id = q.replay_id OFFSET 0) d
    WHERE q.replay_id = $1::uuid) AS open,
  (SELECT count(*)::int FROM {s}.dead_letters x WHERE x.replay_id = $1::uuid) AS dead
FROM (SELECT ${REPLAY_COLUMNS} FROM {s}.replays WHERE replay_id = $1::uuid) r`;

/**
 * The finished replays (not `running`) that still have notes (`replay_deliveries`), for
 * `SETTLE_REPLAY_NOTES`: one descent of the notes' primary key per replay that has notes (a loose
 * index scan: the replays, not their notes), and a probe of `replays` each. `ids` null when none.
 */
export const FINISHED_REPLAYS_WITH_NOTES = `
WITH RECURSIVE noted AS (
  (SELECT q.replay_id FROM {s}.replay_deliveries q ORDER BY q.replay_id LIMIT 1)
  UNION ALL
  SELECT (SELECT q.replay_id FROM {s}.replay_deliveries q WHERE q.replay_id > n.replay_id
    ORDER BY q.replay_id LIMIT 1)
  FROM noted n WHERE n.replay_id IS NOT NULL
)
SELECT array_agg(r.replay_id::text) AS ids
FROM noted n JOIN {s}.replays r ON r.replay_id = n.replay_id
WHERE r.status <> 'running'`;

/**
 * Removes the notes (`replay_deliveries`) of finished replays ($1, from
 * `FINISHED_REPLAYS_WITH_NOTES`) that can never count again: each note whose delivery is neither
 * in `deliveries` nor in `dead_letters` with the replay's id (done, retired, or taken over by a
 * later replay). Such a note stays so: a finished replay queues nothing more (`done` is final,
 * set by the transaction of its last requeue), and a delivery comes back with the replay's id
 * only from its dead letter (a re-drive), which is not there. Every move between the two tables (a
 * death, `FAIL`; a re-drive, `RETRY_DEAD_*`; a later replay taking it over, `REPLAY_REQUEUE` and
 * `REPLAY_REVIVED` in one transaction) commits at once, so this statement's one snapshot sees each
 * delivery in one of them, or gone (a move not yet committed: where it was). A replay whose notes
 * are all gone has settled: its progress (`GET_REPLAY`) reads what it read before (the notes
 * removed are exactly those it counted 0), open 0 and dead 0, and nothing marks it. Per note one
 * probe of each table's primary key (`OFFSET 0` keeps each a probe, never a join of a whole
 * table), the notes by one range of their primary key per replay (the ids as values: the planner
 * sees that a replay other than the one with a million notes has few, where a computed list
 * would be planned as any replay, and with few replays in the statistics that is the table).
 * Once per prune run (retention), never on the hot path. Returns how many notes went.
 */
export const SETTLE_REPLAY_NOTES = `
WITH gone AS (
  DELETE FROM {s}.replay_deliveries q
  WHERE q.replay_id = ANY ($1::uuid[])
    AND NOT EXISTS (SELECT 1 FROM {s}.deliveries d
      WHERE d.position = q.position AND d.handler = q.handler AND d.replay_id = q.replay_id OFFSET 0)
    AND NOT EXISTS (SELECT 1 FROM {s}.dead_letters x
      WHERE x.position = q.position AND x.handler = q.handler AND x.replay_id = q.replay_id OFFSET 0)
  RETURNING 1
)
SELECT count(*)::int AS settled FROM gone`;

/** $1 stale before. */
export const STALE_REPLAYS = `
SELECT ${REPLAY_COLUMNS} FROM {s}.replays
WHERE status = 'running' AND updated_at < $1 ORDER BY updated_at`;

// ---------------------------------------------------------------------------------------------
// Retention
// ---------------------------------------------------------------------------------------------

/**
 * A transaction-local setting `TRY_LOCK_PRUNE` leaves behind: 'true' once this transaction holds
 * the prune lock. `PRUNE_BATCH` checks it, so the lock and the batch can be sent together (one
 * round trip, one transaction: `sendPair`) and a batch whose lock was not granted does nothing.
 * It says the lock was granted by an earlier statement, so before the batch's snapshot, which
 * re-taking the lock inside the batch could not say (the snapshot comes first).
 */
const PRUNE_LOCKED = 'evco.prune_locked';

/**
 * Prune batches and replay steps exclude each other through a transaction-level advisory lock
 * (batches exclusive, replay steps shared): a replay never queues a delivery for an event a
 * batch has chosen, and two batches never choose the same events. Taking it assigns no
 * transaction id, so a batch waiting for its archive does not hold back the read horizon.
 * $1, $2: the lock key.
 */
export const TRY_LOCK_PRUNE = `SELECT set_config('${PRUNE_LOCKED}', pg_try_advisory_xact_lock($1::integer, $2::integer)::text, true) = 'true' AS locked`;
export const LOCK_PRUNE_SHARED = `SELECT pg_advisory_xact_lock_shared($1::integer, $2::integer)`;

/**
 * The running replays, read once per statement (usually none): checked per candidate against
 * the table, each candidate cost a probe of its index. Same snapshot, same answer.
 */
const RUNNING_REPLAYS = `running AS MATERIALIZED (
  SELECT from_at, to_at, event_type FROM {s}.replays WHERE status = 'running'
)`;

/**
 * What keeps an event \`e\` from being pruned: any delivery row (done ones are deleted) or dead
 * letter, or a running replay over it (\`running\`: RUNNING_REPLAYS, a CTE of the statement).
 * Checked per event: a probe of each table's primary key (the running replays read once). The
 * form for a batch whose span is not clear (`SPAN_CLEAR`).
 */
const MUST_STAY = `EXISTS (SELECT 1 FROM {s}.deliveries d WHERE d.position = e.position)
  OR EXISTS (SELECT 1 FROM {s}.dead_letters x WHERE x.position = e.position)
  OR EXISTS (SELECT 1 FROM running r WHERE e.occurred_at >= r.from_at
    AND e.occurred_at < r.to_at AND (r.event_type IS NULL OR r.event_type = e.event_type))`;

/**
 * Events a prune may remove, oldest first, after the run's cursor ($2 time, $3 position; '-infinity'
 * and -1 for the first batch): the time index gives the range and the order. With `rules`, only
 * those that need not stay (`MUST_STAY`, per event); without, every event of the range (`raw`).
 * `condition`: one-time conditions in front (the lock, which form runs).
 * $1 before, $4 types (NULL: any), $5 excluded types (NULL: none), $6 limit.
 */
const pruneCandidates = (columns: string, condition: string, rules: boolean) => `
SELECT ${columns} FROM {s}.events e
WHERE ${condition}e.occurred_at < $1::timestamptz AND e.occurred_at >= $2::timestamptz
  AND (e.occurred_at, e.position) > ($2::timestamptz, $3::bigint)
  AND ($4::text[] IS NULL OR e.event_type = ANY($4::text[]))
  AND ($5::text[] IS NULL OR e.event_type <> ALL($5::text[]))${rules ? `\n  AND NOT (${MUST_STAY})` : ''}
ORDER BY e.occurred_at, e.position LIMIT $6`;

/**
 * The lowest and highest position of a batch, and its first and last time (`positions`: a relation
 * with `position` and `occurred_at`, or only `position`: then every time, `times` false).
 */
const span = (positions: string, times = true) => `span AS MATERIALIZED (
  SELECT min(position) AS lo, max(position) AS hi,
    ${times ? 'min(occurred_at)' : "'-infinity'::timestamptz"} AS first_at, ${times ? 'max(occurred_at)' : "'infinity'::timestamptz"} AS last_at
  FROM ${positions}
)`;

/**
 * Whether nothing in a batch's span (`span`) must stay: no delivery and no dead letter at any
 * position in it, and no running replay over any of its time. One descent of each primary key,
 * which stops at the first row in the span, instead of a probe of each per event (`MUST_STAY`): a
 * prune's candidates come in time order, in practice close to position order, so a batch of 1 000
 * spans its own positions and the events interleaved with them, whose deliveries are long done.
 * When it holds, every event of the batch may go, as checking each would say in the same snapshot
 * (a delivery or dead letter of one of them is in the span, a replay over one of them overlaps
 * its time). When it does not (a delivery or dead letter anywhere in the span, an event out of
 * time order stretching the span over the backlog, a running replay over its time), the batch
 * is chosen per event (`MUST_STAY`), as before. Whatever the span, this check reads at most one
 * live row of each table.
 */
const SPAN_CLEAR = `clear AS MATERIALIZED (
  SELECT NOT EXISTS (SELECT 1 FROM {s}.deliveries d WHERE d.position >= s.lo AND d.position <= s.hi)
    AND NOT EXISTS (SELECT 1 FROM {s}.dead_letters x WHERE x.position >= s.lo AND x.position <= s.hi)
    AND NOT EXISTS (SELECT 1 FROM running r WHERE r.from_at <= s.last_at AND r.to_at > s.first_at) AS clear
  FROM span s
)`;
const CLEAR = '(SELECT clear FROM clear)';

/**
 * The events a prune may remove (`chosen`, `columns` of each, at most $6), as `pruneCandidates`
 * with its rules chooses them: the first $6 events of the range (`raw`, no rule read), all of
 * them if their span is clear (`SPAN_CLEAR`), else the per-event form, which reads on past the
 * events that must stay. Either way the same events in the same snapshot; the second form only
 * runs (a one-time filter) when the first cannot say. `locked`: the lock's condition, if any.
 */
const chooseBySpan = (
  columns: string,
  locked: string,
) => `raw AS MATERIALIZED (${pruneCandidates(columns, locked, false)}
), ${span('raw')}, ${SPAN_CLEAR}, chosen AS MATERIALIZED (
  SELECT * FROM raw WHERE ${CLEAR}
  UNION ALL
  (${pruneCandidates(columns, `NOT ${CLEAR} AND ${locked}`, true)})
)`;

export const PRUNE_CANDIDATES = `WITH ${RUNNING_REPLAYS}, ${chooseBySpan(EVENT_COLUMNS, '')}
SELECT * FROM chosen ORDER BY occurred_at, position`;

/**
 * The flow rows of the events a prune removed (the CTE `gone`, inside `span`): one range of the
 * primary key of `flows` over the span (`inflow`, at most `cap` rows: usually the batch's own
 * flow rows, or none), those of removed events deleted by their addresses in one pass. A span
 * holding `cap` flow rows or more (other events between the batch's: other types, events out of
 * time order) is not read on: the removed events' rows are then found by a probe of the primary
 * key each (`unflowed_wide`, run only then).
 */
const unflowGone = (cap: string) => `inflow AS MATERIALIZED (
  SELECT f.ctid, f.position FROM {s}.flows f
  WHERE f.position >= (SELECT lo FROM span) AND f.position <= (SELECT hi FROM span)
  ORDER BY f.position LIMIT ${cap}
), unflowed AS (
  DELETE FROM {s}.flows f WHERE (SELECT count(*) FROM inflow) < ${cap}
    AND f.ctid = ANY(ARRAY(SELECT i.ctid FROM inflow i JOIN gone g ON g.position = i.position))
), unflowed_wide AS (
  DELETE FROM {s}.flows f USING gone g WHERE (SELECT count(*) FROM inflow) >= ${cap} AND f.position = g.position
)`;

/**
 * Records what a batch removed (the CTE `gone`, one row per event type removed), per event
 * type: the cutoff only moves forward, counts add up. `before` and `now` are parameters.
 */
const recordPruned = (before: string, now: string) => `counted AS (
  SELECT event_type, count(*) AS n FROM gone GROUP BY event_type
), recorded AS (
  INSERT INTO {s}.pruned AS p (event_type, before, removed, last_pruned_at)
  SELECT event_type, ${before}::timestamptz, n, ${now}::timestamptz FROM counted
  ON CONFLICT (event_type) DO UPDATE SET before = greatest(p.before, excluded.before),
    removed = p.removed + excluded.removed, last_pruned_at = excluded.last_pruned_at
)`;

/**
 * Removes a chosen batch by primary key (checked again: the archive ran since the choice; by the
 * batch's span when it is clear, else per event) and records it. $1 positions, $2 before, $3 now.
 */
export const PRUNE_DELETE = `
WITH ${RUNNING_REPLAYS}, ${span('unnest($1::bigint[]) AS p(position)', false)}, ${SPAN_CLEAR}, gone AS (
  DELETE FROM {s}.events e WHERE e.position = ANY($1::bigint[]) AND (${CLEAR} OR NOT (${MUST_STAY}))
  RETURNING e.position, e.event_type
), ${unflowGone('2 * cardinality($1::bigint[])')}, ${recordPruned('$2', '$3')}
SELECT coalesce(sum(n), 0)::int AS removed FROM counted`;

/**
 * A whole batch without an archive hook, in one statement: choose as `PRUNE_CANDIDATES` does
 * (the first $6 − 1 of $6 read), delete what was chosen by the row address it was read at (no
 * second lookup through the primary key; a row changed since is skipped), record it. No key
 * travels to the application and back, which a batch of keys cost it ~2–3 µs per event on its
 * event loop. The rules are checked once, in the choice, in the statement's one snapshot, taken
 * after the prune lock: replay steps, the only writers that add deliveries to stored events,
 * commit before that lock is granted or wait for it. The lock is `TRY_LOCK_PRUNE`, an earlier
 * statement of the transaction, sent in the same round trip: the choice is empty (nothing
 * removed, `found` 0) unless that statement noted the lock granted (`PRUNE_LOCKED`). The delete does not check them again: in
 * the same snapshot it would find the same answer (events are never updated, so no row version
 * newer than the choice's can turn up), and the second check cost three index probes per event,
 * about a third of the batch's server CPU (4.1 → 2.8 µs per event; with the running replays read
 * once, 2.4). The delete reaches the rows by one TID scan over the batch's addresses (sorted,
 * page by page) rather than a join that rescans a TID scan per row: ~0.35 µs per event less.
 * The rules and the flow rows are read once per batch over its position span when it allows
 * (`chooseBySpan`, `unflowGone`), not probed per event.
 * Returns the removed count, how many were read (more than the batch: another batch follows)
 * and the last chosen event (the cursor).
 * $1..$6 as `PRUNE_CANDIDATES`, $7 now.
 */
export const PRUNE_BATCH = `
WITH ${RUNNING_REPLAYS}, ${chooseBySpan('e.ctid, e.position, e.occurred_at', `current_setting('${PRUNE_LOCKED}', true) = 'true' AND `)}, batch AS MATERIALIZED (
  SELECT * FROM chosen ORDER BY occurred_at, position LIMIT $6 - 1
), gone AS (
  DELETE FROM {s}.events e WHERE e.ctid = ANY(ARRAY(SELECT ctid FROM batch))
  RETURNING e.position, e.event_type
), ${unflowGone('2 * $6')}, ${recordPruned('$1', '$7')}, last AS (
  SELECT position, occurred_at FROM batch ORDER BY occurred_at DESC, position DESC LIMIT 1
)
SELECT (SELECT coalesce(sum(n), 0)::int FROM counted) AS removed, (SELECT count(*)::int FROM chosen) AS found,
  (SELECT position::text FROM last) AS position, (SELECT occurred_at FROM last) AS occurred_at`;

export const PRUNED_RANGES = `
SELECT event_type, before, removed::text AS removed, last_pruned_at FROM {s}.pruned ORDER BY event_type`;

/**
 * Takes a lease that is free, expired or already the holder's; a row comes back only when taken.
 * $1 name, $2 holder, $3 expires at, $4 now.
 */
export const ACQUIRE_LEASE = `
INSERT INTO {s}.leases AS l (name, holder, expires_at) VALUES ($1, $2, $3)
ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
  WHERE l.holder = excluded.holder OR l.expires_at <= $4::timestamptz
RETURNING holder`;

/** $1 name, $2 holder. */
export const RELEASE_LEASE = `DELETE FROM {s}.leases WHERE name = $1 AND holder = $2`;

/**
 * Startup options of the store's own connections (see the pool setup): generic plans, no JIT, no
 * sequential scans where an index can serve. Every statement of the store reads a bounded index
 * range (the EXPLAIN test checks it), and a generic plan is made once per connection:
 * - A generic plan does not know its `LIMIT $n`, so the planner takes a tenth of the rows it
 *   could return: with a backlog of 200 000 open deliveries the claim's estimate passed a
 *   million, above `jit_optimize_above_cost`, and every claim spent ~0.8 s compiling itself
 *   (measured on PostgreSQL 15, jit on as it ships). JIT never pays on an index range.
 * - A plan made while the tables were small (a new schema, the first minutes of a service) is
 *   kept while they grow, until an `ANALYZE` or the connection's lifetime replaces it. Planned at
 *   a few rows, the claim joined its events by a sequential scan of `events` and found the rows
 *   it leases by one of `deliveries` (a table is cheaper to scan than to seek at ten pages), so
 *   every claim read every event stored so far: 297 buffers per claim of 8 at 5 000 events,
 *   growing with the table, 98 with sequential scans off (bench README, "The claim's plans").
 *   `enable_seqscan=off` only makes them the last resort: a table no index can serve is still
 *   scanned.
 */
export const GENERIC_PLANS_OPTION = '-c plan_cache_mode=force_generic_plan -c jit=off -c enable_seqscan=off';

export const BEGIN = 'BEGIN';
export const COMMIT = 'COMMIT';
export const ROLLBACK = 'ROLLBACK';

/** Replaces the schema placeholder; `quoted` must come from `quoteIdentifier`. */
export function bindSchema(template: string, quoted: string): string {
  return template.replaceAll('{s}', quoted);
}

/** Quotes a schema name already checked against `IDENTIFIER_PATTERN`. */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** What a connection runs with, to compare with what it asked for at startup (see `pooler`). */
export const SESSION_SETTINGS = `SELECT
  (SELECT setting FROM pg_settings WHERE name = 'plan_cache_mode') AS plan_cache_mode,
  (SELECT setting FROM pg_settings WHERE name = 'statement_timeout') AS statement_timeout`;

/**
 * Whether the server knows this very statement by the name the store gave it (`$1`): behind a
 * transaction pooler, true when the pooler passes named statements through to whichever server
 * connection it hands out (PgBouncer before 1.21, or `max_prepared_statements = 0`); a pooler
 * that keeps them (PgBouncer 1.21+) prepares it on the server under a name of its own.
 */
export const PREPARED_NAME_PASSED_THROUGH = `SELECT EXISTS (SELECT FROM pg_prepared_statements WHERE name = $1) AS passed_through`;
