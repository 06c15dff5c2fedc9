import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createDomainEvent, type DomainEvent } from '@evco/core';
import { createPostgresStore, POSITION_BLOCK } from '@evco/store-postgres';
import pg from 'pg';
// The store's own statements, as its source has them (they are not part of its API).
import {
  APPEND_ONE,
  APPEND_ONE_DELIVERING,
  APPEND_ONE_DELIVERING_FLOWS,
  APPEND_ONE_FLOWS,
  chainHead,
  GENERIC_PLANS_OPTION,
  LEASE_STATEMENTS,
} from '../../store-postgres/src/sql.js';
import { databaseUrl } from './env.js';
import { type BenchSection, percentile, round } from './harness.js';
import { PROBE } from './pg-counters.js';
import { events, rawInsert } from './postgres.js';
import { HANDLER, rowsAppend, rowsClaim, rowsDdl, TYPE } from './postgres-design.js';
import { rawSqliteValues } from './sqlite.js';

/**
 * From evco's append and claim down to the `rows` prototype of `postgres-design`, one change per
 * rung (run only when named: `pnpm bench postgres-ladder`, against a private server). The store
 * comes sixth: its own schema (migrated into a fresh schema by `store.migrate()`) and its own
 * `APPEND_ONE` and `COMPLETE_AND_CLAIM_DUE_UNORDERED_PRODUCT` texts (what it sends for unordered
 * handlers completing one claim's deliveries). Above it: the same with schema 7's flow indexes on
 * `events` put back (`FLOW_INDEXES`, which every rung above keeps) and schema 8's replay index on
 * `deliveries` (`REPLAY_INDEX`, likewise); above that the claim before
 * the completion by lease (`beforeLease`); above that the store before its statement-level
 * changes (the append's `tx` CTE, the claim's `unsettled` row, the completion by positions, put
 * back), and above that the same with schema 6's dead-letter indexes on `deliveries` put back,
 * and also schema 5's status CHECK. Each rung below removes or replaces one thing (cumulatively), down to the
 * prototype's DDL and statements verbatim and the named raw INSERT; then candidates, each one
 * change to the store's SQL or schema (the delivery row's columns among them: dropped in place,
 * or with the table recreated without them), and the caused-event pair (every event in one root's flow: schema 7's
 * statement and indexes, and schema 8's `APPEND_ONE_FLOWS`).
 *
 * The workload of a rung, on a fresh schema: cycles of 8 single-event appends (the `postgres`
 * section's events, one subscribed handler, ordering none), then one claim of up to `LIMIT`
 * deliveries that completes the previous claim's (as the coordinator's `completeAndClaim`), on
 * connections with the store's startup options; at the end every event must have been claimed
 * once and no delivery may be left.
 *
 * Two measures:
 * - `EVCO_BENCH_LADDER_CALLGRIND=<dir>`: the server runs under `valgrind --tool=callgrind
 *   --callgrind-out-file=<dir>/cg.%p` (see the README); one appender connection and one consumer,
 *   each rung run twice (`SHORT` and `LONG` cycles); the difference of the two runs' instruction
 *   counts of each backend, per append and per claim, is what the rung costs, whatever the
 *   machine's load (wire protocol, commit and result rows included);
 * - otherwise: 8 appender connections appending concurrently, the rungs in turns (forward, then
 *   backward, `ROUNDS` times), and per event the statements' execution time from
 *   `pg_stat_statements` (it is reset: a private server).
 */
const SCHEMA = 'evco_bench_ladder';
const LIMIT = 10;
const WARMUP = 10;
const CYCLES = Number(process.env.EVCO_BENCH_LADDER_CYCLES ?? 500);
const ROUNDS = Number(process.env.EVCO_BENCH_LADDER_ROUNDS ?? 3);
const SHORT = 30;
const LONG = 230;
const PER_CYCLE = 8;

const RUN = 'pg_current_xact_id()::text::bigint';
const NOW = '$9::timestamptz';

/** A claimed delivery, as the next claim completes it. */
interface Claimed {
  position: string;
  handler: string;
  run: string;
  attempts: number;
  lease: string;
}

interface Statement {
  text: string;
  /** The claim's parameters: `done` the previous claim's deliveries, `now` and `expiry` ISO. */
  params: (done: Claimed[], lease: string, now: string, expiry: string) => unknown[];
}

interface Rung {
  name: string;
  /** The store's migrated schema, or the prototype's DDL. */
  base: 'evco' | 'rows';
  /** Schema changes after the base, `{s}` the schema. */
  after: string[];
  append: string;
  /** Undefined: the append makes no delivery (the raw baseline), nothing is claimed. */
  claim?: Statement;
  /** Startup options of the claim's connection beyond the store's (`GENERIC_PLANS_OPTION`). */
  consumer?: string;
  /** Each event caused by another (correlation and causation id set), not a root. */
  caused?: boolean;
}

/**
 * The events' flow indexes of schemas 2 to 7 (migrations 2 and 5), which schema 8 replaced by the
 * `flows` table: put back on the rungs of the store before it.
 */
const FLOW_INDEXES = [
  "CREATE INDEX events_correlated_idx ON {s}.events ((metadata->>'correlationId'), position) WHERE (metadata->>'correlationId') <> event_id::text",
  "CREATE INDEX events_causation_idx ON {s}.events ((metadata->>'causationId'), position) WHERE (metadata->>'causationId') IS NOT NULL",
];

/**
 * Schema 8's replay index on `deliveries` (schema 9 dropped it: a replay's progress counts its
 * notes in `replay_deliveries`): put back in every rung that stands for an older schema.
 */
const REPLAY_INDEX =
  'CREATE INDEX deliveries_replay_idx ON {s}.deliveries (replay_id) WHERE replay_id IS NOT NULL';

/** The chain check as a SQL function (a candidate: the claim calls it for ordered rows only). */
const CHAIN_HEAD_SQL = `CREATE FUNCTION {s}.chain_head(h text, a text, p bigint) RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT p < pg_snapshot_xmin(pg_current_snapshot())::text::bigint * ${POSITION_BLOCK} AND NOT EXISTS (
    SELECT 1 FROM {s}.deliveries q
    WHERE q.handler = h AND q.aggregate_id = a AND q.position < p AND q.ordered AND q.status = 'open')
$$`;

/** The workload's events caused by one root (all in its flow): what a handler's publish appends. */
function causedEvents(n: number, eventType: string): DomainEvent[] {
  const root = events(1, eventType)[0]!;
  return events(n, eventType).map((e) =>
    createDomainEvent({
      ...e,
      metadata: { ...e.metadata, correlationId: root.id, causationId: root.id },
    }),
  );
}

/** `text` with the part from `start` to `end` (included) replaced; throws if either is missing. */
function replacePart(text: string, start: string, end: string, by = ''): string {
  const a = text.indexOf(start);
  const b = a < 0 ? -1 : text.indexOf(end, a + start.length);
  if (b < 0) throw new Error(`[postgres-ladder] no "${start}" … "${end}" in the statement`);
  return text.slice(0, a) + by + text.slice(b + end.length);
}

/** `text` with `from` replaced by `to`; throws if it is missing. */
function swap(text: string, from: string, to: string): string {
  if (!text.includes(from)) throw new Error(`[postgres-ladder] no "${from}" in the statement`);
  return text.replace(from, to);
}

/** evco's lease tokens ($1..$5) and claim ($6..$10), as the store sent them before the completion by lease. */
const evcoParams: Statement['params'] = (done, lease, now, expiry) => [
  done.map((d) => d.position),
  done.map((d) => d.handler),
  done.map((d) => d.run),
  done.map((d) => d.attempts),
  done.map((d) => d.lease),
  [HANDLER],
  now,
  LIMIT,
  lease,
  expiry,
];

/** The completion by lease, token by token: positions, handlers, leases ($1..$3); the claim ($4..$8). */
const leaseParams: Statement['params'] = (done, lease, now, expiry) => {
  const p = evcoParams(done, lease, now, expiry);
  return [p[0], p[1], p[4], ...p.slice(5)];
};

/**
 * As the store sends it for one claim's deliveries of one handler (every combination of their
 * positions, handlers and leases: `leaseTokens`): the distinct values.
 */
const productParams: Statement['params'] = (done, lease, now, expiry) => {
  const p = leaseParams(done, lease, now, expiry);
  return [p[0], [...new Set(p[1] as string[])], [...new Set(p[2] as string[])], ...p.slice(3)];
};

/** `text` with its parameters renumbered (`map`: old number to new). */
const renumber = (text: string, map: Record<number, number>) =>
  text.replace(/\$(\d+)/g, (m, n: string) => (map[Number(n)] ? `$${map[Number(n)]}` : m));

const SNAPSHOT_HORIZON = `pg_snapshot_xmin(pg_current_snapshot())::text::bigint * ${POSITION_BLOCK}`;

/** A claim without the `unsettled` row with its horizon CTE back (the chain check reads it). */
const withHorizonCte = (text: string) =>
  text.includes('horizon AS MATERIALIZED (')
    ? text
    : swap(
        swap(
          text,
          '), candidates AS (',
          `), horizon AS MATERIALIZED (\n  SELECT ${SNAPSHOT_HORIZON} AS h\n), candidates AS (`,
        ),
        `d.position < ${SNAPSHOT_HORIZON}`,
        'd.position < (SELECT h FROM horizon)',
      );

/**
 * A completing claim of the store (token by token) as it was before the completion by lease: the
 * tokens' run, attempt and lease checked (`LEASED`), their positions gathered per handler
 * (`completing`) and each candidate checked against its handler's array, the horizon a CTE.
 */
/** The unordered claims' call of schema 10's `chain_head`. */
const CHAIN_HEAD_CALL = ' AND (NOT d.ordered OR {s}.chain_head(d.handler, d.aggregate_id, d.position))';

/** An unordered claim with its chain check inline, as before schema 10 (a subplan set up at every execution). */
const inlineChain = (text: string) =>
  swap(
    text,
    CHAIN_HEAD_CALL,
    ` AND ${chainHead(`pg_snapshot_xmin(pg_current_snapshot())::text::bigint * ${POSITION_BLOCK}`)}`,
  );

const beforeLease = (text: string) =>
  swap(
    swap(
      swap(
        swap(
          renumber(withHorizonCte(text), { 3: 5, 4: 6, 5: 7, 6: 8, 7: 9, 8: 10 }),
          `USING unnest($1::bigint[], $2::text[], $5::text[]) AS t(position, handler, lease)
WHERE d.position = t.position AND d.handler = t.handler AND d.lease_owner = t.lease`,
          `USING unnest($1::bigint[], $2::text[], $3::bigint[], $4::integer[], $5::text[])
  AS t(position, handler, run, attempt, lease)
WHERE d.position = t.position AND d.handler = t.handler AND d.run = t.run AND d.status <> 'dead'
  AND d.lease_owner IS NOT NULL AND d.attempts = t.attempt AND (t.lease IS NULL OR d.lease_owner = t.lease)`,
        ),
        '), candidates AS (',
        `), completing AS MATERIALIZED (
  SELECT h.handler, ARRAY(SELECT x.position FROM unnest($1::bigint[], $2::text[]) AS x(position, handler)
    WHERE x.handler = h.handler) AS positions
  FROM unnest($6::text[]) AS h(handler)
), candidates AS (`,
      ),
      'FROM unnest($6::text[]) AS hs(handler)',
      'FROM completing hs',
    ),
    '(d.lease_owner IS NULL OR d.lease_owner <> ALL($5) OR d.position <> ALL($1))',
    'd.position <> ALL(hs.positions)',
  );

/**
 * The simpler claims' parameters: $1 the positions to complete, $2 the handler, $3 their lease,
 * $4 now, $5 limit, $6 the new lease, $7 its expiry.
 */
const plainParams: Statement['params'] = (done, lease, now, expiry) => [
  done.map((d) => d.position),
  HANDLER,
  done[0]?.lease ?? null,
  now,
  LIMIT,
  lease,
  expiry,
];

const EVENT_COLUMNS = `e.position, e.event_id, e.event_type, e.aggregate_id, e.aggregate_type,
  e.aggregate_version, e.event_data, e.metadata, e.occurred_at, e.recorded_at`;

/** The completion by handler, positions and lease, without the token's run and attempt. */
const DONE_BY_LEASE = `done AS (
  DELETE FROM {s}.deliveries d WHERE d.handler = $2 AND d.position = ANY($1::bigint[]) AND d.lease_owner = $3
)`;

/** evco's claim after rung 4: one handler through a `LATERAL`, `picked`, the update by ctid. */
const FAIR_CLAIM = `WITH ${DONE_BY_LEASE}, candidates AS (
  SELECT c.position, c.handler, c.ctid FROM unnest(ARRAY[$2::text]) AS hs(handler)
  CROSS JOIN LATERAL (
    SELECT d.position, d.handler, d.ctid FROM {s}.deliveries d
    WHERE d.handler = hs.handler AND d.status = 'open' AND d.next_attempt_at <= $4::timestamptz
      AND d.position <> ALL($1::bigint[])
    ORDER BY d.position LIMIT $5
    FOR UPDATE SKIP LOCKED
  ) c
), picked AS (
  SELECT ctid FROM candidates ORDER BY position, handler LIMIT $5
), claimed AS (
  UPDATE {s}.deliveries d SET attempts = d.attempts + 1, lease_owner = $6, next_attempt_at = $7,
    updated_at = $4
  WHERE d.ctid = ANY (ARRAY(SELECT ctid FROM picked))
  RETURNING d.position, d.handler, d.run, d.attempts, d.is_replay
)
SELECT c.handler, c.run::text AS run, c.attempts, c.is_replay, ${EVENT_COLUMNS}, NULL::text AS unsettled
FROM claimed c JOIN {s}.events e ON e.position = c.position
ORDER BY position, handler`;

/** The prototype's claim shape (one handler, picked by key) on evco's delivery row, or the lean one. */
const keyedClaim = (lean: boolean) => `WITH ${DONE_BY_LEASE}, picked AS (
  SELECT d.position FROM {s}.deliveries d
  WHERE d.handler = $2${lean ? '' : ` AND d.status = 'open'`} AND d.next_attempt_at <= $4::timestamptz
    AND d.position <> ALL($1::bigint[])
  ORDER BY d.position LIMIT $5
  FOR UPDATE SKIP LOCKED
), claimed AS (
  UPDATE {s}.deliveries d SET attempts = d.attempts + 1, lease_owner = $6, next_attempt_at = $7${
    lean ? '' : ', updated_at = $4'
  }
  FROM picked WHERE d.handler = $2 AND d.position = picked.position
  RETURNING d.position, ${lean ? 'd.attempts' : 'd.handler, d.run, d.attempts, d.is_replay'}
)
SELECT ${lean ? 'c.attempts' : 'c.handler, c.run::text AS run, c.attempts, c.is_replay'}, ${EVENT_COLUMNS}
FROM claimed c JOIN {s}.events e ON e.position = c.position
ORDER BY e.position`;

/** The append without a result row: `expires`, the subscriptions' expiry; `tx`, the CTE; `lean`, the prototype's delivery row. */
const appendNoResult = (f: { expires: boolean; tx: boolean; lean: boolean }) => `WITH ${
  f.tx ? `tx AS MATERIALIZED (SELECT ${RUN} * ${POSITION_BLOCK} AS lo), ` : ''
}inserted AS (
  INSERT INTO {s}.events (position, event_id, event_type, aggregate_id, aggregate_type, aggregate_version,
    event_data, metadata, occurred_at, recorded_at)
  SELECT ${f.tx ? 'tx.lo' : `${RUN} * ${POSITION_BLOCK}`} + 1,
    $1::uuid, $2::text, $3::text, $4::text, $5::bigint, $6::jsonb, $7::jsonb, $8::timestamptz, ${NOW}${
      f.tx ? '\n  FROM tx' : ''
    }
  RETURNING position, event_type, aggregate_id
)
${
  f.lean
    ? `INSERT INTO {s}.deliveries (handler, position, next_attempt_at)
SELECT s.handler, i.position, ${NOW}`
    : `INSERT INTO {s}.deliveries (position, handler, aggregate_id, ordered, run, status, next_attempt_at,
  created_at, updated_at)
SELECT i.position, s.handler, i.aggregate_id, s.ordering = 'aggregate', ${RUN}, 'open', ${NOW}, ${NOW}, ${NOW}`
}
FROM inserted i JOIN {s}.subscriptions s ON s.event_type = i.event_type${f.expires ? ` AND s.expires_at > ${NOW}` : ''}`;

/** The single-event append with the events insert as the statement and the deliveries in a CTE. */
const eventsInsertAppend = (count: boolean | 'subscriptions') => `
WITH delivered AS (
  INSERT INTO {s}.deliveries (position, handler, aggregate_id, ordered, run, status, next_attempt_at,
    created_at, updated_at)
  SELECT ${RUN} * ${POSITION_BLOCK} + 1, s.handler, $3::text, s.ordering = 'aggregate', ${RUN}, 'open', ${NOW},
    ${NOW}, ${NOW}
  FROM {s}.subscriptions s WHERE s.event_type = $2::text AND s.expires_at > ${NOW}${count === true ? '\n  RETURNING 1' : ''}
)
INSERT INTO {s}.events (position, event_id, event_type, aggregate_id, aggregate_type, aggregate_version,
  event_data, metadata, occurred_at, recorded_at)
VALUES (${RUN} * ${POSITION_BLOCK} + 1,
  $1::uuid, $2::text, $3::text, $4::text, $5::bigint, $6::jsonb, $7::jsonb, $8::timestamptz, ${NOW})
RETURNING position::text AS position${
  count === true
    ? ', (SELECT count(*) FROM delivered)::int AS deliveries'
    : count === 'subscriptions'
      ? `, (SELECT count(*) FROM {s}.subscriptions s WHERE s.event_type = $2::text AND s.expires_at > ${NOW})::int AS deliveries`
      : ''
}`;

/** Both inserts in CTEs, the position computed again and the count as an aggregate (no sub-select). */
const aggregateAppend = `
WITH inserted AS (
  INSERT INTO {s}.events (position, event_id, event_type, aggregate_id, aggregate_type, aggregate_version,
    event_data, metadata, occurred_at, recorded_at)
  VALUES (${RUN} * ${POSITION_BLOCK} + 1,
    $1::uuid, $2::text, $3::text, $4::text, $5::bigint, $6::jsonb, $7::jsonb, $8::timestamptz, ${NOW})
), delivered AS (
  INSERT INTO {s}.deliveries (position, handler, aggregate_id, ordered, run, status, next_attempt_at,
    created_at, updated_at)
  SELECT ${RUN} * ${POSITION_BLOCK} + 1, s.handler, $3::text, s.ordering = 'aggregate', ${RUN}, 'open', ${NOW},
    ${NOW}, ${NOW}
  FROM {s}.subscriptions s WHERE s.event_type = $2::text AND s.expires_at > ${NOW}
  RETURNING 1
)
SELECT (${RUN} * ${POSITION_BLOCK} + 1)::text AS position, count(*)::int AS deliveries FROM delivered`;

/** The prototype's lean deliveries table, in place of evco's (`rowsDdl`'s, verbatim). */
const LEAN_DELIVERIES = `DROP TABLE {s}.deliveries;
CREATE TABLE {s}.deliveries (
  handler text NOT NULL, position bigint NOT NULL, attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL, lease_owner text, PRIMARY KEY (handler, position)
) WITH (fillfactor = 70)`;

/** The completion as it was before it joined by token only: the tokens' positions as an index condition too. */
const COMPLETION_BY_POSITIONS = 'WHERE d.position = ANY($1::bigint[]) AND d.position = t.position';

/** The single-event append as it was with its `tx` CTE (the store keeps it inside a caller's transaction). */
const withTx = (append: string) =>
  swap(
    swap(
      swap(
        append,
        '\nWITH inserted AS (',
        `\nWITH tx AS MATERIALIZED (\n  SELECT ${RUN} * ${POSITION_BLOCK} AS lo\n), inserted AS (`,
      ),
      `SELECT ${RUN} * ${POSITION_BLOCK} + 1,`,
      'SELECT tx.lo + 1,',
    ),
    '$9::timestamptz\n  RETURNING position, event_type',
    '$9::timestamptz\n  FROM tx\n  RETURNING position, event_type',
  );

export function ladder(): Rung[] {
  const rungs: Rung[] = [];
  const after: string[] = [];
  // The statements the store sends for this workload: one event per append, handlers unordered.
  let append = APPEND_ONE;
  // Schema 9's claim (the chain check inline) on the rungs above the store.
  let claim: Statement = {
    text: inlineChain(LEASE_STATEMENTS.COMPLETE_AND_CLAIM_DUE_UNORDERED_PRODUCT),
    params: productParams,
  };
  let consumer: string | undefined;
  const push = (name: string) =>
    rungs.push({ name, base: 'evco', after: [...after], append, claim, consumer });

  // Schema 6's dead-letter indexes on deliveries, back (migration 7 moved dead letters to a table
  // of their own), and schema 5's CHECK (migration 6 dropped it), with the store's statements
  // before their statement-level changes (the next rung): the store as it was before.
  const before = {
    append: withTx(APPEND_ONE),
    claim: {
      text: swap(
        beforeLease(LEASE_STATEMENTS.COMPLETE_AND_CLAIM_DUE),
        'WHERE d.position = t.position',
        COMPLETION_BY_POSITIONS,
      ),
      params: evcoParams,
    },
  };
  const pushBefore = (name: string) =>
    rungs.push({ name, base: 'evco', after: [...after], ...before, consumer });
  after.push(...FLOW_INDEXES, REPLAY_INDEX);
  after.push(
    "CREATE INDEX deliveries_dead_idx ON {s}.deliveries (position, handler) WHERE status = 'dead'",
    "CREATE INDEX deliveries_dead_handler_idx ON {s}.deliveries (handler, position) WHERE status = 'dead'",
  );
  after.push(
    "ALTER TABLE {s}.deliveries ADD CONSTRAINT deliveries_status_check CHECK (status IN ('open', 'dead'))",
  );
  pushBefore(
    "evco schema 5: the store's SQL before the statement changes, status CHECK and dead-letter indexes",
  );
  after.pop();
  pushBefore("evco schema 6: the store's SQL before the statement changes, dead-letter indexes");
  after.pop();
  after.pop();
  pushBefore(
    'evco schema 7 before: the append with its tx CTE, the claim with the unsettled row and positions = ANY($1), flow indexes',
  );
  rungs.push({
    name: 'evco schema 7, the claim before the completion by lease (run, attempt and lease checked; positions gathered per handler), flow indexes',
    base: 'evco',
    after: [...after],
    append,
    claim: {
      text: beforeLease(inlineChain(LEASE_STATEMENTS.COMPLETE_AND_CLAIM_DUE_UNORDERED)),
      params: evcoParams,
    },
  });
  push("evco schema 7: APPEND_ONE, COMPLETE_AND_CLAIM_DUE_UNORDERED_PRODUCT, the events' flow indexes");
  after.splice(0, FLOW_INDEXES.length + 1);
  const store = rungs.length;
  claim = { ...claim, text: LEASE_STATEMENTS.COMPLETE_AND_CLAIM_DUE_UNORDERED_PRODUCT };
  push(
    "evco: schema 10, APPEND_ONE, COMPLETE_AND_CLAIM_DUE_UNORDERED_PRODUCT (the store's SQL: unordered handlers, one claim's tokens)",
  );
  // The claim, on evco's schema.
  claim = { ...claim, text: swap(claim.text, CHAIN_HEAD_CALL, '') };
  push('claim: − the chain check (horizon and CHAIN_HEAD)');
  claim = { text: FAIR_CLAIM, params: plainParams };
  push('claim: completion by handler, positions and lease (no token unnest, run, attempt checks)');
  claim = { text: keyedClaim(false), params: plainParams };
  push("claim: one handler, picked by key (no LATERAL, ctid array; the prototype's shape)");
  // The deliveries table's indexes.
  after.push('DROP INDEX {s}.deliveries_chain_idx');
  push('schema: − deliveries chain (partial, never written by an unordered append)');
  after.push(
    'DROP INDEX {s}.deliveries_open_idx',
    'ALTER TABLE {s}.deliveries DROP CONSTRAINT deliveries_pkey, ADD PRIMARY KEY (handler, position)',
  );
  // Without the partial index the generic plan of every part of the claim is a bitmap scan of the
  // handler's whole range of the primary key, dead rows included, and a sort: the claim's cost
  // then grows with every delivery made since the last vacuum. The prototype's consumer runs
  // with bitmap scans off for that reason; so does this rung's, and every rung below.
  consumer = '-c enable_bitmapscan=off';
  push(
    'schema: deliveries_open_idx and PK (position, handler) → PK (handler, position), claim without bitmap scans',
  );
  // The append statement.
  append = swap(
    swap(
      append,
      '(SELECT count(*) FROM delivered)',
      `(SELECT count(*) FROM {s}.subscriptions s WHERE s.event_type = $2::text AND s.expires_at > ${NOW})`,
    ),
    '\n  RETURNING position\n)',
    '\n)',
  );
  push('append: count from subscriptions, not RETURNING + count(*) of the delivered rows');
  append = appendNoResult({ expires: true, tx: false, lean: false });
  push('append: no result row (the events insert still RETURNING into the CTE)');
  append = appendNoResult({ expires: false, tx: false, lean: false });
  push('append: − subscriptions expires_at condition');
  after.push(LEAN_DELIVERIES);
  append = appendNoResult({ expires: false, tx: false, lean: true });
  claim = { text: keyedClaim(true), params: plainParams };
  push("schema: the prototype's delivery row (handler, position, attempts, next_attempt_at, lease_owner)");
  rungs.push({
    name: "rows prototype (postgres-design's DDL and statements, verbatim)",
    base: 'rows',
    after: [],
    consumer,
    append: rowsAppend('{s}'),
    claim: {
      text: rowsClaim('{s}'),
      params: (done, lease) => [HANDLER, done.map((d) => d.position), done[0]?.lease ?? null, LIMIT, lease],
    },
  });
  rungs.push({
    name: "raw INSERT (named, evco's positions; postgres-design's 'raw, named' with them), no delivery",
    base: 'rows',
    after: [],
    append: rawInsert('{s}', 'xid'),
  });
  // Candidates: each one change to the store's own SQL (its rung), not cumulative.
  const top = rungs[store]!;
  rungs.push({
    ...top,
    name: 'candidate: append counting by a LEFT JOIN of the delivered rows',
    append: swap(
      top.append,
      'SELECT i.position::text AS position, (SELECT count(*) FROM delivered)::int AS deliveries\nFROM inserted i',
      'SELECT i.position::text AS position, count(d.position)::int AS deliveries\nFROM inserted i LEFT JOIN delivered d ON d.position = i.position GROUP BY i.position',
    ),
  });
  // What `PublishResult.deliveries` costs: the delivered rows' RETURNING and their count.
  rungs.push({
    ...top,
    name: "candidate: append returning the position only (no delivered rows' RETURNING, no count)",
    append: swap(
      swap(top.append, '\n  RETURNING position\n)', '\n)'),
      'SELECT i.position::text AS position, (SELECT count(*) FROM delivered)::int AS deliveries\nFROM inserted i',
      'SELECT i.position::text AS position\nFROM inserted i',
    ),
  });
  // The events insert as the statement itself, the deliveries in a CTE: both compute the one
  // position from the transaction id, so neither reads the other's rows; no `inserted` CTE.
  rungs.push({
    ...top,
    name: 'candidate: append as the events INSERT … RETURNING, deliveries in a CTE (count kept)',
    append: eventsInsertAppend(true),
  });
  rungs.push({
    ...top,
    name: 'candidate: append as the events INSERT … RETURNING, deliveries in a CTE (no count)',
    append: eventsInsertAppend(false),
  });
  rungs.push({
    ...top,
    name: 'candidate: append as the events INSERT … RETURNING, deliveries in a CTE, count from subscriptions',
    append: eventsInsertAppend('subscriptions'),
  });
  rungs.push({
    ...top,
    name: "evco's APPEND_ONE_DELIVERING (a subscribed type's append since 29 Nov): the deliveries INSERT … RETURNING position, events in a CTE",
    append: APPEND_ONE_DELIVERING,
  });
  rungs.push({
    ...top,
    name: 'candidate: append with both inserts in CTEs, the position recomputed, count(*) of the delivered rows',
    append: aggregateAppend,
  });
  // Events in a flow (a handler's publish): schema 7 wrote them with every root, through the
  // events' flow indexes; schema 8 sends the append with the flow row's insert for them only.
  rungs.push({
    ...top,
    name: "caused events: schema 7 (the events' flow indexes), APPEND_ONE",
    after: [...FLOW_INDEXES],
    caused: true,
  });
  rungs.push({
    ...top,
    name: 'caused events: schema 8, APPEND_ONE_FLOWS (the flow row in flows)',
    append: APPEND_ONE_FLOWS,
    caused: true,
  });
  // What the caused event's second insert is made of: the flows table's primary key and its
  // second index; and one keyed table instead.
  rungs.push({
    ...top,
    name: 'caused events, candidate: flows without its primary key',
    append: APPEND_ONE_FLOWS,
    caused: true,
    after: ['ALTER TABLE {s}.flows DROP CONSTRAINT flows_pkey'],
  });
  rungs.push({
    ...top,
    name: 'caused events, candidate: flows with one index (− flows_causation_idx)',
    append: APPEND_ONE_FLOWS,
    caused: true,
    after: ['DROP INDEX {s}.flows_causation_idx'],
  });
  rungs.push({
    ...top,
    name: 'caused events, candidate: one keyed flows table (key, position) primary key, a row per id, from the parameters',
    after: [
      'DROP TABLE {s}.flows',
      'CREATE TABLE {s}.flows (key text NOT NULL, position bigint NOT NULL, PRIMARY KEY (key, position))',
    ],
    append: swap(
      APPEND_ONE_FLOWS,
      "INSERT INTO {s}.flows (position, correlation_id, causation_id)\n  SELECT i.position, nullif($7::jsonb->>'correlationId', $1::uuid::text), $7::jsonb->>'causationId' FROM inserted i",
      "INSERT INTO {s}.flows (key, position)\n  SELECT v.key, i.position FROM inserted i, (VALUES ('c:' || nullif($7::jsonb->>'correlationId', $1::uuid::text)), ('k:' || ($7::jsonb->>'causationId'))) v(key)\n  WHERE v.key IS NOT NULL",
    ),
    caused: true,
  });
  rungs.push({
    ...top,
    name: 'caused events: APPEND_ONE_DELIVERING_FLOWS (the deliveries INSERT … RETURNING position, events and flow row in CTEs)',
    append: APPEND_ONE_DELIVERING_FLOWS,
    caused: true,
  });
  // The completion by lease token by token: what the store sends for tokens that are not every
  // combination of their positions, handlers and leases (say, two claims' deliveries).
  rungs.push({
    ...top,
    name: 'candidate: the completion by lease token by token (COMPLETE_AND_CLAIM_DUE_UNORDERED)',
    claim: { text: LEASE_STATEMENTS.COMPLETE_AND_CLAIM_DUE_UNORDERED, params: leaseParams },
  });
  // Schema 10 moved the unordered claims' chain check out of the plan: a function (`chain_head`,
  // PL/pgSQL) the claim calls for ordered rows only (PostgreSQL sets up every subplan and CTE of a
  // plan at each execution; a function call is looked up, not run, until a row reaches it). The
  // check inline again, as schema 9's claim had it:
  rungs.push({
    ...top,
    name: "candidate: the chain check inline (schema 9's unordered claim: a subplan)",
    claim: { ...top.claim!, text: inlineChain(top.claim!.text) },
  });
  // With an ordered handler: the claim the store sends for it (`COMPLETE_AND_CLAIM_DUE_PRODUCT`,
  // the `unsettled` row, the check inline), every delivery checked; then the same calling
  // schema 10's function, and a SQL function instead (not inlined: its body has a sub-select, so
  // it is planned again at each execution of the claim that calls it).
  const withChainFunction = (text: string) =>
    replacePart(text, ' AND (NOT d.ordered OR', "AND p.ordered AND p.status = 'open')))", CHAIN_HEAD_CALL);
  const ORDERED = "UPDATE {s}.subscriptions SET ordering = 'aggregate'";
  const orderedClaim = { ...top.claim!, text: LEASE_STATEMENTS.COMPLETE_AND_CLAIM_DUE_PRODUCT };
  rungs.push({
    ...top,
    name: "ordered: the store's COMPLETE_AND_CLAIM_DUE_PRODUCT, the handler ordering aggregate",
    after: [ORDERED],
    claim: orderedClaim,
  });
  rungs.push({
    ...top,
    name: "ordered, candidate: the claim calls schema 10's chain_head (PL/pgSQL)",
    after: [ORDERED],
    claim: { ...orderedClaim, text: withChainFunction(orderedClaim.text) },
  });
  rungs.push({
    ...top,
    name: 'ordered, candidate: the claim calls the chain check in a SQL function',
    after: [ORDERED, 'DROP FUNCTION {s}.chain_head(text, text, bigint)', CHAIN_HEAD_SQL],
    claim: { ...orderedClaim, text: withChainFunction(orderedClaim.text) },
  });
  rungs.push({
    ...top,
    name: 'candidate: the horizon a CTE (as in the claim with the unsettled row), the chain check inline',
    claim: { ...top.claim!, text: withHorizonCte(inlineChain(top.claim!.text)) },
  });
  // The delivery row's columns (the plan's "leaner delivery row"): each group dropped from the
  // store's schema and its statements, by `ALTER TABLE … DROP COLUMN` (a catalog change: the
  // column stays in the row as a dropped one, null) or with the table then recreated without it.
  const recreate = [
    'CREATE TABLE {s}.lean (LIKE {s}.deliveries INCLUDING ALL) WITH (fillfactor = 70)',
    'DROP TABLE {s}.deliveries',
    'ALTER TABLE {s}.lean RENAME TO deliveries',
  ];
  const drop = (...columns: string[]) =>
    `ALTER TABLE {s}.deliveries ${columns.map((c) => `DROP COLUMN ${c}`).join(', ')}`;
  /** `text` with the first match of `pattern` replaced; throws if there is none. */
  const swapRe = (text: string, pattern: RegExp, to: string) => {
    if (!pattern.test(text)) throw new Error(`[postgres-ladder] no ${pattern} in the statement`);
    return text.replace(pattern, to);
  };
  const COLUMNS = /next_attempt_at,\s+created_at, updated_at\)/;
  const VALUES = /'open', \$9::timestamptz,\s+\$9::timestamptz, \$9::timestamptz/;
  const noCreatedAt = (append: string) =>
    swapRe(
      swapRe(append, COLUMNS, 'next_attempt_at, updated_at)'),
      VALUES,
      "'open', $9::timestamptz, $9::timestamptz",
    );
  const noTimes = (append: string) =>
    swapRe(swapRe(append, COLUMNS, 'next_attempt_at)'), VALUES, "'open', $9::timestamptz");
  const claimWith = (text: string) => ({ ...top.claim!, text });
  const noUpdatedAt = claimWith(swapRe(top.claim!.text, /,\s+updated_at = \$\d+\n/, '\n'));
  const isReplay = (claim: Statement, by: string) =>
    claimWith(swap(claim.text, 'd.attempts, d.is_replay\n', `d.attempts, ${by} AS is_replay\n`));
  const five = ['created_at', 'updated_at', 'is_replay', 'last_error', 'replay_id'];
  const fiveClaim = isReplay(noUpdatedAt, 'false');
  const candidate = (name: string, change: Partial<Rung>) =>
    rungs.push({ ...top, ...change, name: `candidate: ${name}` });
  candidate('append without created_at, updated_at (the columns nullable, left null)', {
    after: ['ALTER TABLE {s}.deliveries ALTER created_at DROP NOT NULL, ALTER updated_at DROP NOT NULL'],
    append: noTimes(top.append),
  });
  candidate('the claim sets no updated_at', { claim: noUpdatedAt });
  candidate('− created_at, updated_at (dropped; the claim sets no updated_at)', {
    after: [drop('created_at', 'updated_at')],
    append: noTimes(top.append),
    claim: noUpdatedAt,
  });
  candidate('− is_replay (the claim returns replay_id IS NOT NULL)', {
    after: [drop('is_replay')],
    claim: isReplay(top.claim!, 'd.replay_id IS NOT NULL'),
  });
  candidate('− last_error', { after: [drop('last_error')] });
  // Schema 8's `deliveries_replay_idx`, which schema 9 dropped (the column stays).
  candidate('+ deliveries_replay_idx (schema 8)', { after: [REPLAY_INDEX] });
  candidate('− replay_id (its index gone since schema 9)', { after: [drop('replay_id')] });
  candidate('− the five (created_at, updated_at, is_replay, last_error, replay_id and its index)', {
    after: [drop(...five)],
    append: noTimes(top.append),
    claim: fiveClaim,
  });
  candidate('the table recreated as it is (LIKE, every column and index)', { after: recreate });
  candidate('− replay_id and its index, the table recreated', { after: [drop('replay_id'), ...recreate] });
  candidate('− created_at, replay_id and its index, the table recreated', {
    after: [drop('created_at', 'replay_id'), ...recreate],
    append: noCreatedAt(top.append),
  });
  candidate('− created_at, last_error, replay_id and its index, the table recreated', {
    after: [drop('created_at', 'last_error', 'replay_id'), ...recreate],
    append: noCreatedAt(top.append),
  });
  candidate('− created_at, updated_at, the table recreated', {
    after: [drop('created_at', 'updated_at'), ...recreate],
    append: noTimes(top.append),
    claim: noUpdatedAt,
  });
  candidate('− the five, the table recreated', {
    after: [drop(...five), ...recreate],
    append: noTimes(top.append),
    claim: fiveClaim,
  });
  // `status`, always 'open' since schema 7: the open index without its predicate, the chain
  // index on `ordered` alone.
  const noStatus = [
    'DROP INDEX {s}.deliveries_open_idx, {s}.deliveries_chain_idx',
    drop('status'),
    'CREATE INDEX deliveries_open_idx ON {s}.deliveries (handler, position)',
    'CREATE INDEX deliveries_chain_idx ON {s}.deliveries (handler, aggregate_id, position) WHERE ordered',
  ];
  const appendNoStatus = (text: string) =>
    swap(swap(text, 'run, status, next_attempt_at', 'run, next_attempt_at'), `${RUN}, 'open', `, `${RUN}, `);
  const claimNoStatus = (claim: Statement) =>
    claimWith(
      claim.text
        .replaceAll(" AND d.status = 'open'", '')
        .replaceAll(" AND p.status = 'open'", '')
        .replaceAll(" AND d.status <> 'dead'", ''),
    );
  candidate('− status (the open index without predicate, the chain index WHERE ordered)', {
    after: noStatus,
    append: appendNoStatus(top.append),
    claim: claimNoStatus(top.claim!),
  });
  candidate('− status, the claim without bitmap scans', {
    after: noStatus,
    append: appendNoStatus(top.append),
    claim: claimNoStatus(top.claim!),
    consumer: '-c enable_bitmapscan=off',
  });
  candidate('− the five and status, the table recreated, the claim without bitmap scans', {
    after: [drop(...five), ...noStatus, ...recreate],
    append: appendNoStatus(noTimes(top.append)),
    claim: claimNoStatus(fiveClaim),
    consumer: '-c enable_bitmapscan=off',
  });
  return rungs;
}

const bind = (sql: string) => sql.replaceAll('{s}', SCHEMA);

function url(application: string): string {
  const u = new URL(databaseUrl);
  u.searchParams.set('application_name', application);
  return u.toString();
}

async function connect(application: string, options?: string): Promise<pg.Client> {
  const c = new pg.Client({
    connectionString: url(application),
    options: options ? `${GENERIC_PLANS_OPTION} ${options}` : GENERIC_PLANS_OPTION,
  });
  await c.connect();
  return c;
}

async function setUp(admin: pg.Client, rung: Rung): Promise<void> {
  await admin.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  if (rung.base === 'rows') {
    await admin.query(bind(rowsDdl('{s}')));
    return;
  }
  const store = createPostgresStore({ connectionString: databaseUrl, schema: SCHEMA, poolSize: 1 });
  try {
    await store.migrate();
  } finally {
    await store.close();
  }
  await admin.query(
    bind(
      `INSERT INTO {s}.subscriptions VALUES ('${TYPE}', '${HANDLER}', 'none', now() + interval '1 day', now(), 'bench')`,
    ),
  );
  for (const sql of rung.after) await admin.query(bind(sql));
}

interface Run {
  appenderPids: number[];
  consumerPid: number;
  /** Per event, from `pg_stat_statements` (timed runs): execution µs of the append and of the claim. */
  appendUs?: number;
  claimUs?: number;
  claimBuffers?: number;
}

/**
 * One run of a rung: `WARMUP` + `cycles` cycles on a fresh schema, then a drain and the checks.
 * `writers` appender connections share each cycle's appends.
 */
async function runRung(
  admin: pg.Client,
  rung: Rung,
  cycles: number,
  writers: number,
  timed: boolean,
): Promise<Run> {
  await setUp(admin, rung);
  const appenders = await Promise.all(Array.from({ length: writers }, () => connect(SCHEMA)));
  const consumer = await connect(SCHEMA, rung.consumer);
  const pid = async (c: pg.Client) =>
    (await c.query(`${PROBE}SELECT pg_backend_pid() AS pid`)).rows[0].pid as number;
  const appenderPids = await Promise.all(appenders.map(pid));
  const consumerPid = await pid(consumer);
  const total = (WARMUP + cycles + (process.env.EVCO_BENCH_LADDER_EXPLAIN ? 1 : 0)) * PER_CYCLE;
  const list: DomainEvent[] = rung.caused ? causedEvents(total, TYPE) : events(total, TYPE);
  const at = new Date().toISOString();
  const appendText = bind(rung.append);
  const claimText = rung.claim ? bind(rung.claim.text) : '';
  const seen = new Set<string>();
  let leases = 0;
  let done: Claimed[] = [];
  const claim = async (): Promise<number> => {
    if (!rung.claim) return 0;
    const lease = `ladder#${++leases}`;
    const now = new Date();
    const { rows } = await consumer.query({
      name: 'ladder_claim',
      text: claimText,
      values: rung.claim.params(
        done,
        lease,
        now.toISOString(),
        new Date(now.getTime() + 60_000).toISOString(),
      ),
    });
    done = [];
    for (const r of rows) {
      if (r.position === null) continue;
      if (seen.has(r.position))
        throw new Error(`[postgres-ladder] ${rung.name}: ${r.position} claimed twice`);
      seen.add(r.position);
      done.push({ position: r.position, handler: HANDLER, run: r.run, attempts: r.attempts, lease });
    }
    return done.length;
  };
  const cycle = async (c: number) => {
    await Promise.all(
      appenders.map(async (client, w) => {
        for (let i = w; i < PER_CYCLE; i += writers) {
          await client.query({
            name: 'ladder_append',
            text: appendText,
            values: rawSqliteValues(list[c * PER_CYCLE + i]!, at),
          });
        }
      }),
    );
    await claim();
  };
  const result: Run = { appenderPids, consumerPid };
  try {
    for (let c = 0; c < WARMUP; c++) await cycle(c);
    if (timed) await admin.query(`${PROBE}SELECT pg_stat_statements_reset()`);
    for (let c = WARMUP; c < WARMUP + cycles; c++) await cycle(c);
    if (timed) {
      const { rows } = await admin.query(
        `${PROBE}SELECT query LIKE '%SKIP LOCKED%' AS claim, sum(total_exec_time)::float8 AS ms,
           sum(shared_blks_hit + shared_blks_read)::float8 AS buffers
         FROM pg_stat_statements WHERE query LIKE '%${SCHEMA}%' AND query NOT LIKE '${PROBE.trim()}%'
         GROUP BY 1`,
      );
      const counted = cycles * PER_CYCLE;
      for (const r of rows) {
        if (r.claim) {
          result.claimUs = (r.ms * 1000) / counted;
          result.claimBuffers = r.buffers / counted;
        } else result.appendUs = (r.ms * 1000) / counted;
      }
    }
    if (process.env.EVCO_BENCH_LADDER_EXPLAIN && rung.claim) {
      await cycle(WARMUP + cycles);
      process.stderr.write(`${rung.name}\n${await explainNext(consumer, rung, done)}\n`);
    }
    while ((await claim()) > 0 || done.length > 0) {}
    const left = (await admin.query(bind(`${PROBE}SELECT count(*)::int AS n FROM {s}.deliveries`))).rows[0].n;
    if (seen.size !== (rung.claim ? total : 0) || left !== 0)
      throw new Error(
        `[postgres-ladder] ${rung.name}: ${seen.size} of ${total} claimed, ${left} deliveries left`,
      );
  } finally {
    await Promise.all([...appenders, consumer].map((c) => c.end()));
  }
  return result;
}

/** A value as an SQL literal, for `EXECUTE` (arrays as array literals). */
const literal = (v: unknown): string =>
  v === null
    ? 'NULL'
    : Array.isArray(v)
      ? `'{${v.map((x) => `"${String(x)}"`).join(',')}}'`
      : typeof v === 'number'
        ? String(v)
        : `'${String(v).replaceAll("'", "''")}'`;

/** The plan of the rung's next claim (its prepared statement, generic), run and rolled back. */
async function explainNext(consumer: pg.Client, rung: Rung, done: Claimed[]): Promise<string> {
  const now = new Date();
  const values = rung.claim!.params(done, 'explain', now.toISOString(), now.toISOString());
  await consumer.query('BEGIN');
  try {
    const { rows } = await consumer.query(
      `EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE ladder_claim(${values.map(literal).join(', ')})`,
    );
    return rows.map((r) => r['QUERY PLAN']).join('\n');
  } finally {
    await consumer.query('ROLLBACK');
  }
}

/** The instruction count callgrind wrote for backend `pid` when it exited (waits for the file). */
async function instructions(dir: string, pid: number): Promise<number> {
  for (let i = 0; i < 600; i++) {
    try {
      const m = /^totals: (\d+)/m.exec(readFileSync(join(dir, `cg.${pid}`), 'utf8'));
      if (m) return Number(m[1]);
    } catch {}
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`[postgres-ladder] no callgrind output for backend ${pid} in ${dir}`);
}

const median = (xs: number[]) =>
  percentile(
    [...xs].sort((a, b) => a - b),
    50,
  );

export const postgresLadderSection: BenchSection = {
  name: 'postgres-ladder',
  onlyWhenNamed: true,
  async run() {
    const dir = process.env.EVCO_BENCH_LADDER_CALLGRIND;
    const only = process.env.EVCO_BENCH_LADDER_RUNGS?.split(',').map(Number);
    const rungs = ladder().filter((_, i) => !only || only.includes(i));
    const admin = new pg.Client({ connectionString: url(`${SCHEMA}_admin`) });
    await admin.connect();
    try {
      if (dir) {
        const out: Array<Record<string, unknown>> = [];
        for (const rung of rungs) {
          const short = await runRung(admin, rung, SHORT, 1, false);
          const long = await runRung(admin, rung, LONG, 1, false);
          const per = async (a: number, b: number) =>
            (await instructions(dir, b)) - (await instructions(dir, a));
          const appends = (LONG - SHORT) * PER_CYCLE;
          const append = (await per(short.appenderPids[0]!, long.appenderPids[0]!)) / appends;
          const claim = (await per(short.consumerPid, long.consumerPid)) / appends;
          out.push({
            rung: rung.name,
            appendInstructions: Math.round(append),
            claimInstructionsPerEvent: Math.round(claim),
          });
          process.stderr.write(`${rung.name}: ${Math.round(append)} / ${Math.round(claim)}\n`);
        }
        return out;
      }
      const samples = rungs.map(() => [] as Run[]);
      for (let r = 0; r < ROUNDS; r++) {
        const order = rungs.map((_, i) => i);
        if (r % 2 === 1) order.reverse();
        for (const i of order) {
          samples[i]!.push(await runRung(admin, rungs[i]!, CYCLES, PER_CYCLE, true));
          process.stderr.write('.');
        }
      }
      process.stderr.write('\n');
      return rungs.map((rung, i) => {
        const s = samples[i]!;
        const pick = (k: 'appendUs' | 'claimUs' | 'claimBuffers') =>
          s.map((x) => round(x[k] ?? Number.NaN, 1));
        return {
          rung: rung.name,
          appendExecUs: round(median(s.map((x) => x.appendUs ?? Number.NaN)), 1),
          appendExecUsRounds: pick('appendUs'),
          claimExecUsPerEvent: round(median(s.map((x) => x.claimUs ?? Number.NaN)), 1),
          claimExecUsRounds: pick('claimUs'),
          claimBuffersPerEvent: round(median(s.map((x) => x.claimBuffers ?? Number.NaN)), 1),
        };
      });
    } finally {
      await admin.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`).catch(() => {});
      await admin.end();
    }
  },
};
