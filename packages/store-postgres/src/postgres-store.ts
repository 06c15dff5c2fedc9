import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type AppendResult,
  advanceReplay,
  type ClaimedDelivery,
  type ClaimRequest,
  createConsoleLogger,
  type DeadLetter,
  type DeliveryFailure,
  type DeliveryInfo,
  type DeliveryToken,
  type DomainEvent,
  EvcoError,
  type EventStore,
  EventValidationError,
  type HealthStatus,
  InvalidOptionsError,
  InvalidTransactionError,
  isEvcoError,
  type LeaseRequest,
  type ListQuery,
  type Logger,
  maskUrl,
  NotFoundError,
  type PruneBatch,
  type PrunedRange,
  type PruneRequest,
  planReplayPage,
  type ReadAllQuery,
  type ReadQuery,
  type RecordedEvent,
  type ReplayJob,
  type ReplayProgress,
  type ReplaySpec,
  type RetryDeadLettersQuery,
  readAllByPages,
  recordEvent,
  type SchemaMigration,
  type StoreStats,
  StoreUnavailableError,
  type SubscriptionInfo,
  type SubscriptionSpec,
  summarizeStats,
  type UnprocessedEvent,
  unhealthyStatus,
} from '@evco/core/adapter';
import pg from 'pg';
import { type CheckedOut, checkout, queryHeld } from './checkout.js';
import { logNotices, parseWarningsToLogger } from './driver-warnings.js';
import {
  metAnotherSession,
  refusedStartupParameter,
  TransactionPoolerError,
  translateError,
} from './errors.js';
import { isoDate } from './iso-date.js';
import {
  type AppliedRow,
  lockKey,
  migrate,
  PRUNE_LOCK,
  refuseNewerSchema,
  runningStanding,
  toApplied,
} from './migrations.js';
import {
  LISTEN_NEEDS_DIRECT_CONNECTION,
  type PostgresStoreOptions,
  resolvePostgresStoreOptions,
  SOURCE,
} from './options.js';
import {
  cursorParam,
  type DeliveryRow,
  deliveryId,
  type EventRow,
  type ReplayRow,
  type SubscriptionRow,
  toDelivery,
  toEvent,
  toReplayJob,
  toSubscription,
} from './rows.js';
import {
  poolConnection,
  type SessionSettings,
  sessionSettings,
  sessionSettingsDropped,
  withoutSessionSettings,
} from './session-settings.js';
import * as SQL from './sql.js';
import { canSendPair, sendPair } from './statement-pair.js';
import { STORE_TYPES } from './type-parsers.js';

/** What `pg` accepts as a connection to run statements on: a pool, or a checked-out client. */
export type Queryable = Pick<pg.ClientBase, 'query'>;

/**
 * One connection on which the application opened a transaction: a `pg` `Client` or a
 * `PoolClient`. `getTransactionStatus` (pg 8.16+) lets the store check that a transaction is
 * open; a wrapper without it is trusted.
 */
export type TransactionClient = Queryable & { getTransactionStatus?(): string | null };

export interface PostgresStore extends EventStore {
  readonly name: 'postgres';
  /** The schema holding the tables. */
  readonly schema: string;
  /** The pool in use (the one given, or the one the store created). */
  readonly pool: pg.Pool;
  /** Creates or upgrades the schema; safe from many processes at once. Says from which version to which. */
  migrate(): Promise<SchemaMigration>;
  /**
   * The transactional outbox (what `coordinator.publishInTransaction(client, events)` calls):
   * appends the events and their deliveries on `client`, inside the transaction you opened on
   * it (BEGIN … COMMIT), atomically with your own writes. The events become visible to readers
   * and claims when you commit; rolled back, they never existed. `client` is a `pg` `Client`
   * or a `PoolClient` from `pool.connect()`, never a `Pool` (each query of a pool may run on
   * another connection). A client not in a transaction, or in an aborted one, is
   * `INVALID_TRANSACTION` before anything is sent. A failed append (duplicate id, taken
   * aggregate version) aborts your transaction, like any failed statement: roll it back.
   */
  appendWithin(
    client: TransactionClient,
    events: readonly DomainEvent[],
    options: { now: Date },
  ): Promise<AppendResult>;
  /**
   * @deprecated Use `coordinator.publishInTransaction(client, events)`, which validates the
   * events, runs the middlewares and announces after commit; or `appendWithin`, which this is.
   */
  appendInTransaction(
    client: TransactionClient,
    events: readonly DomainEvent[],
    options: { now: Date },
  ): Promise<AppendResult>;
  /**
   * With `notify: true` (otherwise a no-op): calls `listener` when events are appended by any
   * process using a store with `notify: true` on this schema, with their event types; with `undefined` after (re)connecting, when
   * notifications may have been missed. Holds one pool connection while anyone listens. A
   * doorbell only: delivery never depends on it. Returns the unsubscribe function.
   */
  onAppended(listener: AppendedListener): () => void;
  /**
   * `complete(tokens)` then `claimDue(request)` in one statement (one round trip, one
   * transaction); the coordinator's dispatcher writes its completions this way.
   */
  completeAndClaim(tokens: readonly DeliveryToken[], request: ClaimRequest): Promise<ClaimedDelivery[]>;
  /** Closes the pool if the store created it; a pool you passed stays open. Idempotent. */
  close(): Promise<void>;
}

/** The session holding the LISTEN, and how to let go of it for good. */
interface ListenConnection {
  client: pg.ClientBase;
  drop(): void;
}

/** Event types of an append, or `undefined`: something may have been appended, look. */
export type AppendedListener = (eventTypes: readonly string[] | undefined) => void;

/** SQLSTATE 25P02: a statement of the transaction failed; nothing more runs until ROLLBACK. */
const IN_FAILED_TRANSACTION = '25P02';

function failedTransaction(cause?: unknown): InvalidTransactionError {
  return new InvalidTransactionError(
    'the transaction on the client passed has failed (a statement in it errored): roll it back',
    { source: SOURCE, ...(cause !== undefined ? { cause } : {}) },
  );
}

/** `error` and its causes, outermost first, at most five deep: the objects among them. */
function* causeChain(error: unknown): Generator<{ code?: unknown; cause?: unknown }> {
  for (let e: unknown = error, depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    yield e as { code?: unknown; cause?: unknown };
    e = (e as { cause?: unknown }).cause;
  }
}

/** True when `error` or one of its causes is a Postgres error with this SQLSTATE. */
function hasPgCode(error: unknown, code: string): boolean {
  for (const e of causeChain(error)) if (e.code === code) return true;
  return false;
}

/**
 * The Postgres SQLSTATE behind a (translated) error: the first code in its cause chain that is
 * not one of evco's own.
 */
function sqlState(error: unknown): string | undefined {
  for (const e of causeChain(error)) if (!isEvcoError(e) && typeof e.code === 'string') return e.code;
  return undefined;
}

/**
 * A coalesced append that failed with a data exception (class 22) or an integrity constraint
 * violation (class 23) was rolled back by the server before anything committed, and the error
 * belongs to some of its callers only: running each caller's append again on its own is safe.
 * Anything else (connection lost, timeout, shutdown) may or may not have committed, so it is
 * never run again.
 */
function rolledBackByItsData(error: unknown): boolean {
  const code = sqlState(error);
  return code !== undefined && (code.startsWith('22') || code.startsWith('23'));
}

/** An append through the pool waiting for a coalesced statement (`coalesceAppends`). */
interface QueuedAppend {
  readonly events: readonly DomainEvent[];
  readonly now: Date;
  resolve(result: AppendResult): void;
  reject(error: unknown): void;
}

/**
 * After an upgrade to schema version 7, 8 or 9, for how long processes of this release mend what
 * older processes, still running, wrote the old way, and how often: version 7, dead deliveries
 * left in `deliveries` (`MOVE_LEFTOVER_DEAD`); version 8, events in a flow appended without their
 * flow row (`INDEX_LEFTOVER_FLOWS`); version 9, replayed deliveries queued without their note
 * (`NOTE_LEFTOVER_REPLAYED`). A rolling upgrade is over well within the window; one that
 * stalls longer leaves the old processes unhealthy (their health check), and the store README
 * gives the statements to run once they are gone.
 */
export const LEFTOVER_WINDOW_MS = 24 * 60 * 60 * 1000;
export const LEFTOVER_SWEEP_EVERY_MS = 60 * 1000;

/** The sweep of each schema version that has one (see `LEFTOVER_WINDOW_MS`). */
const LEFTOVER_SWEEPS: ReadonlyMap<number, string> = new Map([
  [7, SQL.MOVE_LEFTOVER_DEAD],
  [8, SQL.INDEX_LEFTOVER_FLOWS],
  [9, SQL.NOTE_LEFTOVER_REPLAYED],
]);

/** A canonical uuid as Postgres prints one (`event_id::text`): lowercase, hyphenated. */
const PRINTED_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const HEX_32 = /^[0-9a-f]{32}$/;

/**
 * An event id as Postgres prints it back (`event_id::text`), from any spelling it accepts
 * (capitals, braces, hyphens elsewhere or none); undefined for what it would refuse (the insert
 * fails then anyway).
 */
function printedUuid(id: string): string | undefined {
  if (PRINTED_UUID.test(id)) return id;
  const hex = id.replace(/[{}-]/g, '').toLowerCase();
  if (!HEX_32.test(hex)) return undefined;
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * Whether an event needs a flow row (migration 8), exactly as the statements compute it from the
 * stored metadata: a causation id, or a correlation id other than its own id as Postgres prints
 * it (`nullif(metadata->>'correlationId', event_id::text)`). Exact, because the single-event
 * statement writes the row without filtering it again.
 */
export function inAFlow(e: DomainEvent): boolean {
  const metadata = e.metadata as Readonly<Record<string, unknown>>;
  if (metadata.causationId != null) return true;
  const correlation = metadata.correlationId;
  if (correlation == null) return false;
  // The common root: its own id, spelt as Postgres prints it.
  if (correlation === e.id && PRINTED_UUID.test(correlation)) return false;
  return correlation !== printedUuid(e.id);
}

/** The append statements by `appendStatement`'s index; the same with flow rows. */
const APPENDS = [
  SQL.APPEND,
  SQL.APPEND_NOTIFY,
  SQL.APPEND_IN_TRANSACTION,
  SQL.APPEND_IN_TRANSACTION_NOTIFY,
  SQL.APPEND_ONE,
  SQL.APPEND_ONE_NOTIFY,
  SQL.APPEND_ONE_IN_TRANSACTION,
  SQL.APPEND_ONE_IN_TRANSACTION_NOTIFY,
];
const APPENDS_FLOWS = [
  SQL.APPEND_FLOWS,
  SQL.APPEND_NOTIFY_FLOWS,
  SQL.APPEND_IN_TRANSACTION_FLOWS,
  SQL.APPEND_IN_TRANSACTION_NOTIFY_FLOWS,
  SQL.APPEND_ONE_FLOWS,
  SQL.APPEND_ONE_NOTIFY_FLOWS,
  SQL.APPEND_ONE_IN_TRANSACTION_FLOWS,
  SQL.APPEND_ONE_IN_TRANSACTION_NOTIFY_FLOWS,
];

/**
 * The append statement for these events: the flows variant only when one of them is in a flow,
 * so roots pay nothing for flows.
 */
function appendStatement(events: readonly DomainEvent[], inTransaction: boolean, notify: boolean): string {
  const i = (events.length === 1 ? 4 : 0) + (inTransaction ? 2 : 0) + (notify ? 1 : 0);
  return (events.some(inAFlow) ? APPENDS_FLOWS : APPENDS)[i]!;
}

/**
 * Coalesced appends: at most this many append statements of the store's own run at once (the
 * rest wait and go together), and at most this many events go in one statement (a caller's
 * larger batch still goes, alone).
 */
const APPENDS_IN_FLIGHT = 1;
const MAX_COALESCED_EVENTS = 512;

/** `APPEND_COALESCED` for these callers' appends: with flow rows when one of their events is in a flow. */
function coalescedStatement(batch: readonly QueuedAppend[], notify: boolean): string {
  const flows = batch.some((r) => r.events.some(inAFlow));
  if (notify) return flows ? SQL.APPEND_COALESCED_NOTIFY_FLOWS : SQL.APPEND_COALESCED_NOTIFY;
  return flows ? SQL.APPEND_COALESCED_FLOWS : SQL.APPEND_COALESCED;
}

/** The event columns of the append statements, as arrays ($1..$8), and each event's `now` with `nows`. */
function eventColumns(
  requests: readonly { events: readonly DomainEvent[]; now: Date }[],
  nows: boolean,
): unknown[] {
  let n = 0;
  for (const r of requests) n += r.events.length;
  const ids = new Array<string>(n);
  const types = new Array<string>(n);
  const aggregates = new Array<string>(n);
  const aggregateTypes = new Array<string | null>(n);
  const versions = new Array<number | null>(n);
  const data = new Array<string>(n);
  const metadata = new Array<string>(n);
  const occurred = new Array<string>(n);
  const recorded = nows ? new Array<string>(n) : undefined;
  let i = 0;
  for (const r of requests) {
    const now = recorded ? isoDate(r.now) : '';
    for (const e of r.events) {
      ids[i] = e.id;
      types[i] = e.eventType;
      aggregates[i] = e.aggregateId;
      aggregateTypes[i] = e.aggregateType ?? null;
      versions[i] = e.aggregateVersion ?? null;
      data[i] = JSON.stringify(e.eventData);
      metadata[i] = JSON.stringify(e.metadata);
      occurred[i] = isoDate(e.occurredAt);
      if (recorded) recorded[i] = now;
      i++;
    }
  }
  const columns: unknown[] = [ids, types, aggregates, aggregateTypes, versions, data, metadata, occurred];
  if (recorded) columns.push(recorded);
  return columns;
}

type AppendRow = { position: string; deliveries: number };

/** `PRUNE_BATCH`'s one row: removed, read (more than the batch: another follows), the last chosen. */
type PruneBatchRow = { removed: number; found: number; position: string | null; occurred_at: Date | null };

/** One event's columns as the single-event appends take them ($1..$8). */
function eventValues(e: DomainEvent): unknown[] {
  return [
    e.id,
    e.eventType,
    e.aggregateId,
    e.aggregateType ?? null,
    e.aggregateVersion ?? null,
    JSON.stringify(e.eventData),
    JSON.stringify(e.metadata),
    isoDate(e.occurredAt),
  ];
}

/**
 * How many event types the store remembers as having subscribers (their single-event appends go
 * by `APPEND_ONE_DELIVERING`); past it the memory starts again.
 */
const MAX_DELIVERING_TYPES = 10_000;

/** A caller's result: its events as recorded, from the rows `offset…` of the statement's answer. */
function appendResult(
  events: readonly DomainEvent[],
  now: Date,
  rows: readonly AppendRow[],
  offset: number,
): AppendResult {
  const recordedAt = new Date(now.getTime());
  const recorded = new Array<RecordedEvent>(events.length);
  const deliveries = new Array<number>(events.length);
  for (let i = 0; i < events.length; i++) {
    const row = rows[offset + i]!;
    recorded[i] = recordEvent(events[i]!, row.position, recordedAt);
    deliveries[i] = row.deliveries;
  }
  return { events: recorded, deliveries };
}

/** Checks the application's transaction handle before anything is sent on it. */
function assertInTransaction(client: unknown): asserts client is TransactionClient {
  if (typeof client !== 'object' || client === null || typeof (client as Queryable).query !== 'function') {
    throw new InvalidTransactionError(
      'publishing in a transaction with store-postgres takes the pg client on which you ran BEGIN',
      { source: SOURCE },
    );
  }
  if (client instanceof pg.Pool || ('totalCount' in client && 'idleCount' in client)) {
    throw new InvalidTransactionError(
      'a pg Pool runs each query on whichever connection is free, outside your transaction: pass the client you ran BEGIN on (const client = await pool.connect())',
      { source: SOURCE },
    );
  }
  const status = (client as TransactionClient).getTransactionStatus?.();
  if (status === 'T' || status === undefined) return;
  if (status === 'E') throw failedTransaction();
  throw new InvalidTransactionError(
    status === 'I'
      ? "no transaction is open on the client passed: run 'BEGIN' on it first"
      : 'the client passed is not connected',
    { source: SOURCE },
  );
}

/**
 * An `EventStore` on PostgreSQL.
 *
 * ```ts
 * const store = createPostgresStore({ connectionString: process.env.DATABASE_URL });
 * await store.migrate();
 * ```
 */
export function createPostgresStore(options: PostgresStoreOptions): PostgresStore {
  return new PgEventStore(options);
}

/**
 * A statement's pg query config without values: the prototype of each call's config, which then
 * holds only its `values`. pg copies every config it is given by property descriptors (keeping
 * the prototype): about 3 µs per statement for `{ name, text, values }`, half that with one own
 * property.
 */
interface Statement {
  readonly name?: string | undefined;
  readonly text: string;
}

/** The read filters of a replay's range: its event type, if any, and its `occurredAt` window. */
function replayWindow(typed: boolean): SQL.ReadShape {
  return {
    eventTypes: typed ? 'one' : 'none',
    aggregateId: false,
    aggregateType: false,
    correlationId: false,
    causationId: false,
    from: true,
    to: true,
    afterPosition: false,
    beforePosition: false,
    desc: false,
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** `<position>:<run>/<handler>`, see `deliveryId`. */
const DELIVERY_ID = /^([1-9][0-9]{0,18}):([0-9]{1,19})\/(.+)$/s;
const MAX_BIGINT = 2n ** 63n - 1n;

/** A decimal text beyond int8: only 19 digits can be (two `BigInt`s were 0.3 µs per delivery id). */
const outOfBigint = (digits: string): boolean => digits.length >= 19 && BigInt(digits) > MAX_BIGINT;

interface DeliveryKeys {
  positions: string[];
  handlers: string[];
  runs: string[];
  /** Index into the input of each parsed key. */
  index: number[];
}

/** Splits delivery ids into their keys; ids this store never issued match nothing and are dropped. */
function deliveryKeys(ids: readonly string[]): DeliveryKeys {
  const keys: DeliveryKeys = { positions: [], handlers: [], runs: [], index: [] };
  for (let i = 0; i < ids.length; i++) {
    const m = DELIVERY_ID.exec(ids[i]!);
    if (!m || outOfBigint(m[1]!) || outOfBigint(m[2]!)) continue;
    keys.positions.push(m[1]!);
    keys.runs.push(m[2]!);
    keys.handlers.push(m[3]!);
    keys.index.push(i);
  }
  return keys;
}

/** The lease tokens' parameters of the lease statements: positions, handlers, runs, attempts, leases. */
function tokenParams(keys: DeliveryKeys, tokens: readonly DeliveryToken[]): unknown[] {
  return [
    keys.positions,
    keys.handlers,
    keys.runs,
    keys.index.map((i) => tokens[i]!.attempt),
    keys.index.map((i) => tokens[i]!.lease ?? null),
  ];
}

/** Lease tokens to complete by lease: positions, handlers, leases (see `DELETE_BY_LEASE`). */
interface LeaseTokens {
  params: [string[], string[], string[]];
  /** `params` are the distinct values of tokens that are all their combinations. */
  product: boolean;
}

/**
 * The tokens as parallel arrays, or, when they are every combination of their distinct
 * positions, handlers and leases (the usual round: one claim's deliveries of one handler), those
 * distinct values, which the completion matches column by column (`…_PRODUCT`). Anything else
 * (say a handler's completion missing at one of the positions, or two claims' tokens) would
 * match rows no token names, so it goes token by token.
 */
export function leaseTokens(positions: string[], handlers: string[], leases: string[]): LeaseTokens {
  const combinations = new Map<string, Map<string, Set<string>>>();
  const ps = new Set<string>();
  const hs = new Set<string>();
  for (let i = 0; i < positions.length; i++) {
    ps.add(positions[i]!);
    hs.add(handlers[i]!);
    const byHandler = combinations.get(leases[i]!) ?? new Map<string, Set<string>>();
    combinations.set(leases[i]!, byHandler);
    const byPosition = byHandler.get(handlers[i]!) ?? new Set<string>();
    byHandler.set(handlers[i]!, byPosition);
    byPosition.add(positions[i]!);
  }
  let distinct = 0;
  for (const byHandler of combinations.values())
    for (const byPosition of byHandler.values()) distinct += byPosition.size;
  return distinct === ps.size * hs.size * combinations.size
    ? { params: [[...ps], [...hs], [...combinations.keys()]], product: true }
    : { params: [positions, handlers, leases], product: false };
}

/** What the named-statement check found behind a transaction pooler (log and health details). */
const POOLER_KEEPS =
  "the transaction pooler keeps named statements (it renamed the store's on the server: PgBouncer 1.21+ with max_prepared_statements > 0)";
const POOLER_PASSES_THROUGH =
  'the transaction pooler passes named statements through (PgBouncer before 1.21, or max_prepared_statements = 0): unnamed statements';

const POOLER_STOPPED_KEEPING =
  'the transaction pooler kept named statements when this store started and no longer does ' +
  '(max_prepared_statements turned to 0, or another PgBouncer without it behind the same address): unnamed statements since';

class PgEventStore implements PostgresStore {
  readonly name = 'postgres' as const;
  readonly capabilities = { durable: true, crossProcess: true };
  readonly schema: string;
  readonly pool: pg.Pool;

  readonly #quoted: string;
  readonly #ownsPool: boolean;
  readonly #where: string;
  #prepared: boolean;
  readonly #preparedOption: boolean | undefined;
  /** Why `#prepared` is what it is (`healthCheck().details.preparedStatementsWhy`). */
  #preparedWhy: string;
  readonly #logger: Logger;
  /** A transaction pooler sits in front of Postgres (configured or detected). */
  #pooled: boolean;
  /** What the store's own connections ask the server for; `undefined` when it sends nothing. */
  readonly #sent: SessionSettings | undefined;
  /** `pooler: 'auto'` with startup parameters sent: the first connection tells. */
  readonly #detect: boolean;
  /** The schema's version and the pooler checks have passed. */
  #ready: boolean;
  #readying: Promise<void> | undefined;
  readonly #connectionString: string | undefined;
  readonly #listenConnectionString: string | undefined;
  readonly #connectionTimeoutMs: number;
  readonly #applicationName: string;
  readonly #settleTimeoutMs: number;
  readonly #notify: boolean;
  readonly #channel: string;
  readonly #coalesce: boolean;
  /** Append statements of `append` running now, and the appends waiting to go together. */
  #appendsInFlight = 0;
  readonly #appendQueue: QueuedAppend[] = [];
  /** Event types whose last single-event append made a delivery (see `#appendOneDelivering`). */
  readonly #delivering = new Set<string>();
  readonly #listeners = new Set<AppendedListener>();
  #listenClient: ListenConnection | undefined;
  #listenRetry: NodeJS.Timeout | undefined;
  #listenGeneration = 0;
  readonly #statements = new Map<string, Statement>();
  readonly #readTemplates = new Map<string, string>();
  /** Claim, complete, fail and release: with or without the WAL flush wait (`asyncCommit`). */
  readonly #leases: SQL.LeaseStatements;
  /** Lease ids: this store's random part, and the claims it issued so far (see `#claim`). */
  readonly #leaseNonce = randomBytes(9).toString('base64url');
  #leaseCount = 0;
  /**
   * The leftover sweeps claims run (see migrate), by schema version: until when (`Date.now()`),
   * and when next. Empty: no sweeping.
   */
  readonly #leftoverSweeps = new Map<number, { until: number; next: number }>();
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(options: PostgresStoreOptions) {
    const o = resolvePostgresStoreOptions(options);
    this.schema = o.schema;
    this.#quoted = SQL.quoteIdentifier(o.schema);
    this.#pooled = o.pooler === 'transaction';
    this.#preparedOption = o.preparedStatements;
    this.#prepared = o.preparedStatements ?? !this.#pooled;
    this.#preparedWhy =
      o.preparedStatements !== undefined
        ? `preparedStatements: ${o.preparedStatements}`
        : this.#pooled
          ? 'not checked yet'
          : o.pooler === 'none'
            ? "pooler: 'none' (a direct connection or a session pooler)"
            : o.pool !== undefined
              ? "a pool of your own, taken for a direct connection (pooler: 'transaction' if it goes through a pooler)"
              : 'no transaction pooler found (a direct connection)';
    this.#logger = o.logger ?? createConsoleLogger();
    this.#settleTimeoutMs = o.settleTimeoutMs;
    this.#notify = o.notify;
    this.#channel = `${o.schema}.appended`;
    this.#coalesce = o.coalesceAppends;
    this.#connectionString = o.connectionString;
    this.#listenConnectionString = o.listenConnectionString;
    this.#connectionTimeoutMs = o.connectionTimeoutMs;
    this.#applicationName = o.applicationName;
    this.#leases = o.asyncCommit === 'leases' ? SQL.ASYNC_LEASE_STATEMENTS : SQL.LEASE_STATEMENTS;
    if (o.pool) {
      this.pool = o.pool;
      this.#ownsPool = false;
      this.#sent = undefined;
    } else {
      this.#sent = this.#pooled
        ? undefined
        : sessionSettings({ statementTimeoutMs: o.statementTimeoutMs, preparedStatements: this.#prepared });
      this.pool = new pg.Pool({
        ...poolConnection(o.connectionString!, this.#sent),
        max: o.poolSize,
        connectionTimeoutMillis: o.connectionTimeoutMs,
        maxLifetimeSeconds: Math.ceil(o.connectionMaxLifetimeMs / 1000),
        idleTimeoutMillis: 30_000,
        application_name: o.applicationName,
        types: STORE_TYPES,
      });
      // An idle connection dropped by the server emits 'error' on the pool, which would crash
      // the process if nobody listened; the next statement reports the outage instead.
      this.pool.on('error', () => {});
      // pg's own warnings and the server's notices go to the store's logger (driver-warnings.ts).
      parseWarningsToLogger(o.connectionString!, this.#logger);
      this.pool.on('connect', (client) => logNotices(client, this.#logger));
      this.#ownsPool = true;
    }
    if (o.listenConnectionString !== undefined) parseWarningsToLogger(o.listenConnectionString, this.#logger);
    this.#where = describeServer(o.connectionString, this.pool);
    // Only startup parameters the store sent can reveal a pooler that refuses or drops them.
    this.#detect = o.pooler === 'auto' && this.#sent !== undefined;
    // Every store, however built, checks the schema's version before its first statement (and
    // the pooler, where there is one to check): see `#ensureReady`.
    this.#ready = false;
  }

  // ------------------------------------------------------------------------------------------
  // Plumbing
  // ------------------------------------------------------------------------------------------

  /** Statement text with the schema bound, named by its hash so each connection prepares it once. */
  #stmt(template: string): Statement {
    let s = this.#statements.get(template);
    if (!s) {
      const text = SQL.bindSchema(template, this.#quoted);
      const name = this.#prepared
        ? `evco_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`
        : undefined;
      s = name ? { name, text } : { text };
      this.#statements.set(template, s);
    }
    return s;
  }

  /** One statement per combination of filters (a few hundred at most). */
  #readTemplate(shape: SQL.ReadShape, probe: boolean): string {
    const key = `${probe}${JSON.stringify(shape)}`;
    let text = this.#readTemplates.get(key);
    if (!text) {
      text = probe ? SQL.unsettledEventsSql(shape) : SQL.readEventsSql(shape);
      this.#readTemplates.set(key, text);
    }
    return text;
  }

  #open(): void {
    if (this.#closed) throw this.#closedError();
  }

  #closedError(): StoreUnavailableError {
    return new StoreUnavailableError(`the postgres store (${this.#where}) is closed`, { source: SOURCE });
  }

  /**
   * `pooler: 'auto'`: the first connection tells whether a transaction pooler sits in front.
   * PgBouncer either refuses the startup parameters the store sends (its default) or, told to
   * ignore them (`ignore_startup_parameters`), drops them; both mean every transaction may
   * land on another server session, so the store stops relying on sessions. A failure to
   * connect is not remembered (the next call tries again); a configuration that cannot work
   * behind the pooler is (`notify` without `listenConnectionString`, `preparedStatements: true`
   * where the pooler keeps no named statements).
   */
  #ensureReady(): Promise<void> {
    // Then the schema's version, once: a schema a newer store-postgres migrated is refused
    // (`STORE_SCHEMA`) before any statement of this version runs against it, not remembered,
    // so each call says so again.
    this.#readying ??= this.#detectPooler()
      .then(() => this.#refuseNewerSchema())
      .then(
        () => {
          this.#ready = true;
        },
        (error: unknown) => {
          if (!(error instanceof TransactionPoolerError)) this.#readying = undefined;
          throw error;
        },
      );
    return this.#readying;
  }

  async #refuseNewerSchema(): Promise<void> {
    try {
      await refuseNewerSchema(this.pool, this.schema, this.#quoted);
    } catch (error) {
      throw isEvcoError(error) ? error : translateError(error, this.#where);
    }
  }

  async #detectPooler(): Promise<void> {
    if (this.#detect) await this.#detectFromStartup();
    if (this.#pooled && this.#preparedOption !== false) await this.#checkNamedStatements();
  }

  async #detectFromStartup(): Promise<void> {
    let held: CheckedOut;
    try {
      held = await checkout(this.pool);
    } catch (error) {
      if (refusedStartupParameter(error) === undefined) throw translateError(error, this.#where);
      this.#behindTransactionPooler();
      // Proves the pooler now takes the store's connections (a parameter of the URL's own
      // `options` would still be refused, reported as such).
      try {
        (await this.pool.connect()).release();
      } catch (retryError) {
        throw translateError(retryError, this.#where);
      }
      return;
    }
    try {
      const { rows } = await held.client.query<SessionSettings>(SQL.SESSION_SETTINGS);
      if (sessionSettingsDropped(this.#sent!, rows[0]!)) this.#behindTransactionPooler();
    } catch (error) {
      throw translateError(error, this.#where);
    } finally {
      held.release();
    }
  }

  /**
   * Named statements behind a transaction pooler work only where the pooler keeps them:
   * PgBouncer 1.21+ with `max_prepared_statements > 0` prepares each on the server connection it
   * hands out, under a name of its own. One that passes them through leaves the store's
   * statements on whichever server connection parsed them, and they meet other sessions'
   * ("already exists", "does not exist") as soon as store connections outnumber server
   * connections. Checked once, before any statement of the store runs (a transaction of three or
   * four statements on one connection): what the pooler does with names is its configuration,
   * the same for every server connection it hands out, so one connection tells for all.
   * `preparedStatements: true` is refused where it cannot work; left unset, the store takes
   * named statements where they are kept and unnamed ones elsewhere, and logs which.
   */
  async #checkNamedStatements(): Promise<void> {
    const keeps = await this.#poolerKeepsNamedStatements();
    if (this.#preparedOption === true) {
      if (!keeps) {
        throw new TransactionPoolerError(
          `postgres at ${this.#where} is behind a transaction pooler that does not keep named prepared ` +
            `statements (PgBouncer before 1.21, or max_prepared_statements = 0): preparedStatements: true ` +
            `cannot work there. Leave preparedStatements unset (the store then uses unnamed statements ` +
            `there), or run PgBouncer 1.21+ with max_prepared_statements > 0`,
        );
      }
      this.#preparedWhy = `preparedStatements: true; ${POOLER_KEEPS}`;
      return;
    }
    this.#prepared = keeps;
    this.#statements.clear();
    this.#preparedWhy = keeps ? POOLER_KEEPS : POOLER_PASSES_THROUGH;
    this.#logger.info(
      { store: 'postgres', url: this.#where, schema: this.schema, preparedStatements: keeps },
      keeps
        ? `evco store-postgres: ${POOLER_KEEPS}: using named statements`
        : `evco store-postgres: ${POOLER_PASSES_THROUGH}; PgBouncer 1.21+ with max_prepared_statements > 0 would keep them`,
    );
  }

  /** One named statement, in a transaction: does the server know it by the store's name? */
  async #poolerKeepsNamedStatements(): Promise<boolean> {
    const name = `evco_probe_${randomBytes(6).toString('hex')}`;
    let held: CheckedOut;
    try {
      held = await checkout(this.pool);
    } catch (error) {
      throw translateError(error, this.#where);
    }
    let passedThrough: boolean;
    let failed = false;
    try {
      // One transaction: the same server connection until COMMIT, so the DEALLOCATE finds it.
      await held.client.query('BEGIN');
      const { rows } = await held.client.query<{ passed_through: boolean }>({
        name,
        text: SQL.PREPARED_NAME_PASSED_THROUGH,
        values: [name],
      });
      passedThrough = rows[0]!.passed_through;
      if (passedThrough) await held.client.query(`DEALLOCATE ${name}`);
      await held.client.query('COMMIT');
    } catch (error) {
      failed = true;
      throw translateError(error, this.#where);
    } finally {
      held.release(failed);
    }
    return !passedThrough;
  }

  /**
   * `translateError`, and one more case: named statements this store chose itself behind a
   * transaction pooler (it found the pooler keeping them at start) met another session's, so the
   * pooler no longer keeps them (`max_prepared_statements` set to 0 and reloaded, or another
   * PgBouncer without it behind the same address). The call fails (nothing of it ran: the
   * statement was refused at parse or bind), and the store uses unnamed statements from then on,
   * which work behind any pooler; it logs that once, at warn. `preparedStatements: true` is not
   * overridden (the error names what to change).
   */
  #translate(error: unknown): Error {
    if (!(this.#pooled && this.#preparedOption === undefined && metAnotherSession(error))) {
      return translateError(error, this.#where);
    }
    const was = this.#prepared;
    this.#prepared = false;
    this.#statements.clear();
    this.#preparedWhy = POOLER_STOPPED_KEEPING;
    const message =
      `postgres at ${this.#where} lost track of a prepared statement (${(error as Error).message}): ` +
      `${POOLER_STOPPED_KEEPING}. Set preparedStatements: false to choose unnamed statements from the start`;
    if (was)
      this.#logger.warn(
        { store: 'postgres', url: this.#where, schema: this.schema },
        `evco store-postgres: ${message}`,
      );
    return new TransactionPoolerError(message, { cause: error });
  }

  #behindTransactionPooler(): void {
    this.#pooled = true;
    // Later connections of the pool ask for nothing the pooler could refuse or leak.
    Object.assign(this.pool.options, withoutSessionSettings(this.#connectionString!));
    this.#prepared = this.#preparedOption ?? false;
    if (this.#preparedOption === undefined) this.#preparedWhy = 'not checked yet';
    this.#statements.clear();
    if (this.#notify && this.#listenConnectionString === undefined) {
      throw new TransactionPoolerError(
        `postgres at ${this.#where} is behind a transaction pooler: ${LISTEN_NEEDS_DIRECT_CONNECTION}`,
      );
    }
  }

  async #query<R extends pg.QueryResultRow>(
    template: string,
    values: unknown[],
    on: Queryable = this.pool,
  ): Promise<pg.QueryResult<R>> {
    this.#open();
    if (!this.#ready) await this.#ensureReady();
    return this.#send<R>(template, values, on);
  }

  /** A statement on `on`, without `#query`'s checks (a call already past them). */
  async #send<R extends pg.QueryResultRow>(
    template: string,
    values: unknown[],
    on: Queryable,
  ): Promise<pg.QueryResult<R>> {
    try {
      return await on.query<R>(this.#config(template, values));
    } catch (error) {
      throw this.#translate(error);
    }
  }

  /** pg's config for a statement: its name and text (shared, on the prototype), and the values. */
  #config(template: string, values: unknown[]): pg.QueryConfig {
    const config: pg.QueryConfig = Object.create(this.#stmt(template));
    config.values = values;
    return config;
  }

  /** A connection of the pool held for several statements, after `#query`'s checks. */
  async #checkout(): Promise<CheckedOut> {
    this.#open();
    if (!this.#ready) await this.#ensureReady();
    try {
      return await checkout(this.pool);
    } catch (error) {
      throw this.#translate(error);
    }
  }

  async #transaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const held = await this.#checkout();
    const { client } = held;
    let broken = false;
    try {
      await this.#query(SQL.BEGIN, [], client);
      const result = await fn(client);
      await this.#query(SQL.COMMIT, [], client);
      return result;
    } catch (error) {
      await client.query(SQL.ROLLBACK).catch(() => {
        broken = true;
      });
      // The server's reason for ending the session, rather than "not queryable" after it.
      const lost = held.lost();
      throw lost ? this.#translate(lost) : error;
    } finally {
      held.release(broken);
    }
  }

  async migrate(): Promise<SchemaMigration> {
    this.#open();
    if (!this.#ready) await this.#ensureReady();
    let result: SchemaMigration;
    try {
      result = await migrate(this.pool, this.schema, this.#quoted);
    } catch (error) {
      throw this.#translate(error);
    }
    await this.#sweepLeftoversOnStart();
    return result;
  }

  /**
   * After an upgrade, a process of an older release still running (a rolling upgrade) writes the
   * old way: since schema version 7 its dead deliveries stay in `deliveries`, where this release
   * neither lists, counts nor re-drives them; since version 8 its events in a flow get no flow
   * row, so reads by correlation or causation id miss them; since version 9 what it queues in a
   * replay gets no note, so the replay's progress misses it. For `LEFTOVER_WINDOW_MS` after
   * the upgrade to each (never on a schema created at that version or later), each process mends
   * them when it starts and then about every `LEFTOVER_SWEEP_EVERY_MS` beside its claims.
   */
  async #sweepLeftoversOnStart(): Promise<void> {
    const { rows } = await this.#query<{ version: number; remaining_ms: string | null }>(
      SQL.LEFTOVER_WINDOWS_MS,
      [`${LEFTOVER_WINDOW_MS} milliseconds`],
    );
    for (const row of rows) {
      const remaining = Number(row.remaining_ms ?? 0);
      const sweep = LEFTOVER_SWEEPS.get(row.version);
      if (!(remaining > 0) || sweep === undefined) continue;
      await this.#query(sweep, []);
      const now = Date.now();
      this.#leftoverSweeps.set(row.version, {
        until: now + remaining,
        next: now + LEFTOVER_SWEEP_EVERY_MS,
      });
    }
  }

  #sweepLeftovers(): void {
    const now = Date.now();
    for (const [version, window] of this.#leftoverSweeps) {
      if (now < window.next) continue;
      if (now >= window.until) {
        this.#leftoverSweeps.delete(version);
        continue;
      }
      window.next = now + LEFTOVER_SWEEP_EVERY_MS;
      // Best effort beside the claim, which does not wait for it: a sweep that fails is done again
      // by the next one (the rows stay as they are meanwhile).
      this.#query(LEFTOVER_SWEEPS.get(version)!, []).catch(() => {});
    }
  }

  // ------------------------------------------------------------------------------------------
  // Events
  // ------------------------------------------------------------------------------------------

  append(events: readonly DomainEvent[], options: { now: Date }): Promise<AppendResult> {
    return this.#coalesce
      ? this.#appendCoalescing(events, options)
      : this.#append(this.pool, false, events, options);
  }

  /**
   * `coalesceAppends`: with no append in flight, this one goes at once; otherwise it waits
   * (checked first, like any append) and goes with the others waiting when a statement ends.
   */
  async #appendCoalescing(events: readonly DomainEvent[], options: { now: Date }): Promise<AppendResult> {
    if (!this.#admit(events)) return { events: [], deliveries: [] };
    if (this.#appendsInFlight >= APPENDS_IN_FLIGHT) {
      return new Promise<AppendResult>((resolve, reject) => {
        this.#appendQueue.push({ events, now: options.now, resolve, reject });
      });
    }
    this.#appendsInFlight++;
    try {
      return await this.#append(this.pool, false, events, options);
    } finally {
      this.#appendsInFlight--;
      this.#flushAppends();
    }
  }

  /** Sends the waiting appends, as few statements as the limits allow. */
  #flushAppends(): void {
    const queue = this.#appendQueue;
    while (this.#appendsInFlight < APPENDS_IN_FLIGHT && queue.length > 0) {
      let take = 1;
      let size = queue[0]!.events.length;
      while (take < queue.length && size + queue[take]!.events.length <= MAX_COALESCED_EVENTS) {
        size += queue[take]!.events.length;
        take++;
      }
      this.#appendsInFlight++;
      void this.#appendTogether(queue.splice(0, take)).finally(() => {
        this.#appendsInFlight--;
        this.#flushAppends();
      });
    }
  }

  /** One statement for several callers' appends; settles each caller's promise, never rejects. */
  async #appendTogether(batch: readonly QueuedAppend[]): Promise<void> {
    const alone = (r: QueuedAppend) =>
      this.#append(this.pool, false, r.events, { now: r.now }).then(r.resolve, r.reject);
    if (batch.length === 1) return alone(batch[0]!);
    let rows: AppendRow[];
    try {
      rows = (
        await this.#query<AppendRow>(coalescedStatement(batch, this.#notify), [
          ...eventColumns(batch, true),
          ...(this.#notify ? [this.#channel] : []),
        ])
      ).rows;
    } catch (error) {
      if (rolledBackByItsData(error)) {
        // Nothing was written: each caller's own statement finds who the error belongs to.
        await Promise.all(batch.map(alone));
      } else {
        for (const r of batch) r.reject(error);
      }
      return;
    }
    let offset = 0;
    for (const r of batch) {
      r.resolve(appendResult(r.events, r.now, rows, offset));
      offset += r.events.length;
    }
  }

  async appendWithin(
    client: TransactionClient,
    events: readonly DomainEvent[],
    options: { now: Date },
  ): Promise<AppendResult> {
    assertInTransaction(client);
    try {
      return await this.#append(client, true, events, options);
    } catch (error) {
      // The client's status can still say 'T' right after a failed statement (pg rejects the
      // query on the error, before the server's ready-for-query reports the failed transaction):
      // the server's answer is the same mistake.
      if (hasPgCode(error, IN_FAILED_TRANSACTION)) throw failedTransaction(error);
      if (!isEvcoError(error, 'STORE_SCHEMA')) throw error;
      // The store's pool found its tables at start: this client is connected elsewhere.
      throw new InvalidTransactionError(
        `the client passed is not connected to the store's database (no evco tables in schema "${this.schema}" there): your tables and the events must share one database. Your transaction is aborted: roll it back`,
        { source: SOURCE, cause: error },
      );
    }
  }

  appendInTransaction(
    client: TransactionClient,
    events: readonly DomainEvent[],
    options: { now: Date },
  ): Promise<AppendResult> {
    return this.appendWithin(client, events, options);
  }

  /**
   * pg's status from the server's last ready-for-query: 'T' in a transaction, 'E' in a failed
   * one (still open until ROLLBACK), 'I' outside. A pg older than `getTransactionStatus` cannot
   * tell.
   */
  transactionOpen(client: unknown): boolean | undefined {
    if (typeof client !== 'object' || client === null) return undefined;
    const status = (client as Partial<TransactionClient>).getTransactionStatus?.();
    return status === undefined || status === null ? undefined : status === 'T' || status === 'E';
  }

  /**
   * `inTransaction`: the caller's transaction may already hold events of its own, so positions
   * continue after them. Through the pool each append is a transaction of its own; should a
   * broken pool ever run two in one, the second collides on the primary key rather than reuse a
   * position.
   */
  async #append(
    client: Queryable,
    inTransaction: boolean,
    events: readonly DomainEvent[],
    options: { now: Date },
  ): Promise<AppendResult> {
    if (!this.#admit(events)) return { events: [], deliveries: [] };
    const now = isoDate(options.now);
    // One event in a transaction of its own: the statement follows what the type's last such
    // append found (see `#appendOneDelivering`).
    const lone = events.length === 1 && !inTransaction && !this.#notify ? events[0]! : undefined;
    if (lone !== undefined && this.#delivering.has(lone.eventType)) {
      return this.#appendOneDelivering(lone, options.now, now);
    }
    const values =
      events.length === 1 ? eventValues(events[0]!) : eventColumns([{ events, now: options.now }], false);
    values.push(now);
    if (this.#notify) values.push(this.#channel);
    const { rows } = await this.#query<AppendRow>(
      appendStatement(events, inTransaction, this.#notify),
      values,
      client,
    );
    if (lone !== undefined && rows[0]!.deliveries > 0) {
      if (this.#delivering.size >= MAX_DELIVERING_TYPES) this.#delivering.clear();
      this.#delivering.add(lone.eventType);
    }
    return appendResult(events, options.now, rows, 0);
  }

  /**
   * One event in a transaction of its own, by `APPEND_ONE_DELIVERING` (the type's last append
   * made a delivery): a row per delivery made. None means its subscribers went since: the
   * position is read by event id on the same connection (a `close()` begun meanwhile lets this
   * call finish, as it lets any running statement), and the type goes back to `APPEND_ONE`.
   * The connection is held by `queryHeld`'s callbacks, not `#checkout()` and a promise per
   * statement: this is every event's statement in the end-to-end case.
   */
  async #appendOneDelivering(e: DomainEvent, at: Date, now: string): Promise<AppendResult> {
    this.#open();
    if (!this.#ready) await this.#ensureReady();
    let results: Array<pg.QueryResult<{ position: string }>>;
    try {
      results = await queryHeld<{ position: string }>(
        this.pool,
        this.#config(inAFlow(e) ? SQL.APPEND_ONE_DELIVERING_FLOWS : SQL.APPEND_ONE_DELIVERING, [
          ...eventValues(e),
          now,
        ]),
        ({ rows }) => {
          if (rows.length > 0) return undefined;
          this.#delivering.delete(e.eventType);
          return this.#config(SQL.POSITION_OF_EVENT, [e.id]);
        },
      );
    } catch (error) {
      throw this.#translate(error);
    }
    const rows = results[0]!.rows;
    const position = rows[0]?.position ?? results[1]?.rows[0]?.position;
    if (position === undefined) {
      // Committed, then removed before it could be read: only retention removes events, and
      // only those older than its cutoff that no handler waits for.
      throw new EvcoError(
        'STORE_FAILED',
        `event ${e.id} was appended, then removed by retention (it occurred before the retention cutoff and no handler subscribes to ${JSON.stringify(e.eventType)}) before its position could be read`,
        { source: SOURCE },
      );
    }
    return appendResult([e], at, [{ position, deliveries: rows.length }], 0);
  }

  /** The checks of every append, before any I/O: false when there is nothing to append. */
  #admit(events: readonly DomainEvent[]): boolean {
    this.#open();
    if (events.length === 0) return false;
    if (events.length >= SQL.POSITION_BLOCK) {
      throw new EventValidationError(
        [{ path: '', message: `at most ${SQL.POSITION_BLOCK - 1} events per transaction` }],
        { source: SOURCE, subject: 'batch' },
      );
    }
    return true;
  }

  async read(query: ReadQuery): Promise<RecordedEvent[]> {
    this.#open();
    if (query.limit <= 0) return [];
    const types =
      query.eventType === undefined
        ? undefined
        : typeof query.eventType === 'string'
          ? [query.eventType]
          : [...new Set(query.eventType)];
    if (types?.length === 0) return [];
    const shape: SQL.ReadShape = {
      eventTypes: types === undefined ? 'none' : types.length === 1 ? 'one' : 'many',
      aggregateId: query.aggregateId !== undefined,
      aggregateType: query.aggregateType !== undefined,
      correlationId: query.correlationId !== undefined,
      causationId: query.causationId !== undefined,
      from: query.from !== undefined,
      to: query.to !== undefined,
      afterPosition: query.afterPosition !== undefined,
      beforePosition: query.beforePosition !== undefined,
      desc: query.order === 'desc',
    };
    const values: unknown[] = [];
    if (types) values.push(types.length === 1 ? types[0] : types);
    if (query.aggregateId !== undefined) values.push(query.aggregateId);
    if (query.aggregateType !== undefined) values.push(query.aggregateType);
    if (query.correlationId !== undefined) values.push(query.correlationId);
    if (query.causationId !== undefined) values.push(query.causationId);
    if (query.from !== undefined) values.push(query.from.toISOString());
    if (query.to !== undefined) values.push(query.to.toISOString());
    if (query.afterPosition !== undefined) values.push(cursorParam(query.afterPosition, 'afterPosition'));
    if (query.beforePosition !== undefined) values.push(cursorParam(query.beforePosition, 'beforePosition'));
    const readSql = this.#readTemplate(shape, false);
    // Ascending, a full page is complete in one statement: it ends below the read's horizon, and
    // every event below the horizon is visible to it (unsettled ones sort after the page). Paging
    // through history stays one statement a page.
    if (!shape.desc) {
      const first = await this.#query<EventRow>(readSql, [...values, query.limit]);
      if (first.rows.length === query.limit) return first.rows.map(toEvent);
    }
    // A short page (or a descending one) may be missing events still settling: settle first, then
    // read. The horizon only moves forward, so the read sees every event committed before the
    // probe. Probing after the read raced: the horizon could pass an event between a read that
    // left it out and a probe that no longer found it unsettled (the differential test beside a
    // session committing short transactions found it).
    await this.#settle(shape, values);
    const result = await this.#query<EventRow>(readSql, [...values, query.limit]);
    return result.rows.map(toEvent);
  }

  /**
   * Waits, up to `settleTimeoutMs`, until the events committed so far that a read of `shape`
   * (with these filter values, no limit) would match have settled. Past it, reads show only
   * settled events: a long transaction elsewhere holds the horizon back.
   */
  async #settle(shape: SQL.ReadShape, values: unknown[]): Promise<void> {
    const probe = await this.#query<{ unsettled: string | null }>(this.#readTemplate(shape, true), values);
    const unsettled = probe.rows[0]?.unsettled;
    if (unsettled != null) await this.#awaitHorizon(BigInt(unsettled), Date.now() + this.#settleTimeoutMs);
  }

  /**
   * Waits until every transaction that could still write below `position` has finished (the
   * horizon passed it). False when the deadline came first: a long transaction holds it back.
   */
  async #awaitHorizon(position: bigint, deadline: number): Promise<boolean> {
    let pause = 1;
    for (;;) {
      const { rows } = await this.#query<{ horizon: string }>(SQL.SELECT_HORIZON, []);
      if (BigInt(rows[0]!.horizon) > position) return true;
      if (Date.now() + pause > deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, pause));
      pause = Math.min(pause * 2, 25);
    }
  }

  readAll(query: ReadAllQuery = {}): AsyncIterable<RecordedEvent> {
    return readAllByPages((q) => this.read(q), query);
  }

  async getEvent(id: string): Promise<RecordedEvent | undefined> {
    this.#open();
    if (!UUID.test(id)) return undefined;
    const result = await this.#query<EventRow>(SQL.GET_EVENT, [id]);
    const row = result.rows[0];
    return row ? toEvent(row) : undefined;
  }

  async getDeliveries(eventId: string): Promise<DeliveryInfo[]> {
    this.#open();
    if (!UUID.test(eventId)) return [];
    const result = await this.#query<DeliveryRow>(SQL.GET_DELIVERIES, [eventId]);
    return result.rows.map(toDelivery).sort((a, b) => a.handler.localeCompare(b.handler));
  }

  // ------------------------------------------------------------------------------------------
  // Subscriptions
  // ------------------------------------------------------------------------------------------

  async registerSubscriptions(
    subscriptions: readonly SubscriptionSpec[],
    options: { consumerId: string; now: Date; ttlMs: number },
  ): Promise<void> {
    this.#open();
    if (subscriptions.length === 0) return;
    // One row per (type, handler): a duplicate in one statement would be an ON CONFLICT error.
    const unique = new Map<string, SubscriptionSpec>();
    for (const s of subscriptions) unique.set(`${s.eventType}\u0000${s.handler}`, s);
    const list = [...unique.values()];
    await this.#query(SQL.UPSERT_SUBSCRIPTIONS, [
      list.map((s) => s.eventType),
      list.map((s) => s.handler),
      list.map((s) => s.ordering),
      new Date(options.now.getTime() + options.ttlMs).toISOString(),
      options.now.toISOString(),
      options.consumerId,
    ]);
  }

  async listSubscriptions(): Promise<SubscriptionInfo[]> {
    const result = await this.#query<SubscriptionRow>(SQL.LIST_SUBSCRIPTIONS, []);
    return result.rows.map(toSubscription);
  }

  async retireHandler(handler: string): Promise<number> {
    // Two statements, one transaction: see RETIRE_HANDLER.
    return this.#transaction(async (client) => {
      const open = await this.#query(SQL.RETIRE_HANDLER, [handler], client);
      const dead = await this.#query(SQL.RETIRE_DEAD_LETTERS, [handler], client);
      return (open.rowCount ?? 0) + (dead.rowCount ?? 0);
    });
  }

  // ------------------------------------------------------------------------------------------
  // Deliveries
  // ------------------------------------------------------------------------------------------

  async claimDue(request: ClaimRequest): Promise<ClaimedDelivery[]> {
    this.#open();
    if (request.handlers.length === 0 || request.limit <= 0) return [];
    return this.#claim(request, undefined);
  }

  async complete(tokens: readonly DeliveryToken[], _options: { now: Date }): Promise<void> {
    this.#open();
    const keys = deliveryKeys(tokens.map((t) => t.deliveryId));
    if (keys.index.length === 0) return;
    // A done delivery is deleted, so `now` has nothing to stamp.
    await this.#query(this.#leases.COMPLETE, tokenParams(keys, tokens));
  }

  /** `complete` and `claimDue` in one statement: one round trip, one transaction. */
  async completeAndClaim(
    tokens: readonly DeliveryToken[],
    request: ClaimRequest,
  ): Promise<ClaimedDelivery[]> {
    this.#open();
    if (request.handlers.length === 0 || request.limit <= 0) {
      await this.complete(tokens, { now: request.now });
      return [];
    }
    const keys = deliveryKeys(tokens.map((t) => t.deliveryId));
    if (keys.index.length === 0) return this.#claim(request, undefined);
    const leases: string[] = [];
    for (const i of keys.index) {
      const lease = tokens[i]!.lease;
      if (lease === undefined) {
        // A token without its lease id (built by hand, or by an older core) is checked by run and
        // attempt (`COMPLETE`), then the claim: two statements, the completion committed first.
        await this.#query(this.#leases.COMPLETE, tokenParams(keys, tokens));
        return this.#claim(request, undefined);
      }
      leases.push(lease);
    }
    return this.#claim(request, leaseTokens(keys.positions, keys.handlers, leases));
  }

  /** Claims, completing first the lease tokens `completing` (by lease: `leaseTokens`). */
  async #claim(request: ClaimRequest, completing: LeaseTokens | undefined): Promise<ClaimedDelivery[]> {
    if (this.#leftoverSweeps.size !== 0) this.#sweepLeftovers();
    const handlers = [...new Set(request.handlers)];
    const now = isoDate(request.now);
    // Unique to this claim: a claim lost in a crash may be issued again at the same attempt
    // number (by any process), never with the same lease. 72 random bits drawn once per store (a
    // restarted process draws new ones) and a counter: drawn per claim, `randomBytes` (synchronous,
    // OpenSSL's generator) was about 20 µs of CPU per claim round in the end-to-end bench.
    const lease = `${request.consumerId}#${this.#leaseNonce}${(this.#leaseCount++).toString(36)}`;
    const params = [
      handlers,
      now,
      request.limit,
      lease,
      isoDate(new Date(request.now.getTime() + request.leaseMs)),
    ];
    type ClaimRow = EventRow & {
      handler: string | null;
      run: string;
      attempts: number;
      is_replay: boolean;
      unsettled: string | null;
    };
    // Handlers the caller says are all unordered: no `unsettled` row to ask for (the statement
    // still keeps ordered deliveries in order; they only wait for the next claim to settle).
    const unordered = request.ordered === false;
    const l = this.#leases;
    let result = completing
      ? await this.#query<ClaimRow>(
          completing.product
            ? unordered
              ? l.COMPLETE_AND_CLAIM_DUE_UNORDERED_PRODUCT
              : l.COMPLETE_AND_CLAIM_DUE_PRODUCT
            : unordered
              ? l.COMPLETE_AND_CLAIM_DUE_UNORDERED
              : l.COMPLETE_AND_CLAIM_DUE,
          [...completing.params, ...params],
        )
      : await this.#query<ClaimRow>(
          unordered ? this.#leases.CLAIM_DUE_UNORDERED : this.#leases.CLAIM_DUE,
          params,
        );
    // Nothing claimable: one row of nulls, telling whether an ordered delivery is due whose
    // event was committed a moment ago while an older transaction still runs. Wait for it
    // briefly rather than until the next poll.
    const only = result.rows.length === 1 ? result.rows[0]! : undefined;
    const unsettled = only?.handler === null ? only.unsettled : null;
    if (unsettled != null) {
      const deadline = Date.now() + this.#settleTimeoutMs;
      if (await this.#awaitHorizon(BigInt(unsettled), deadline)) {
        result = await this.#query<ClaimRow>(this.#leases.CLAIM_DUE, params);
      }
    }
    const claimed: ClaimedDelivery[] = [];
    for (const row of result.rows) {
      if (row.handler === null) continue;
      claimed.push({
        deliveryId: deliveryId(row.position, row.run, row.handler),
        attempt: row.attempts,
        lease,
        handler: row.handler,
        isReplay: row.is_replay,
        event: toEvent(row),
      });
    }
    return claimed;
  }

  async fail(failures: readonly DeliveryFailure[], options: { now: Date }): Promise<void> {
    this.#open();
    const keys = deliveryKeys(failures.map((f) => f.deliveryId));
    if (keys.index.length === 0) return;
    await this.#query(this.#leases.FAIL, [
      ...tokenParams(keys, failures),
      keys.index.map((i) => failures[i]!.error),
      keys.index.map((i) => failures[i]!.nextAttemptAt?.toISOString() ?? null),
      options.now.toISOString(),
    ]);
  }

  async release(tokens: readonly DeliveryToken[], options: { now: Date }): Promise<void> {
    this.#open();
    const keys = deliveryKeys(tokens.map((t) => t.deliveryId));
    if (keys.index.length === 0) return;
    await this.#query(this.#leases.RELEASE, [...tokenParams(keys, tokens), options.now.toISOString()]);
  }

  // ------------------------------------------------------------------------------------------
  // Admin views
  // ------------------------------------------------------------------------------------------

  async getUnprocessedEvents(query: ListQuery): Promise<UnprocessedEvent[]> {
    this.#open();
    if (query.limit <= 0) return [];
    const after =
      query.afterPosition === undefined ? '-1' : cursorParam(query.afterPosition, 'afterPosition');
    const result =
      query.handler === undefined
        ? await this.#query<EventRow & DeliveryRow>(SQL.UNPROCESSED, [after, query.limit])
        : await this.#query<EventRow & DeliveryRow>(SQL.UNPROCESSED_BY_HANDLER, [
            after,
            query.limit,
            query.handler,
          ]);
    const out: UnprocessedEvent[] = [];
    for (const row of result.rows) {
      const last = out[out.length - 1];
      if (last && last.event.position === row.position) last.deliveries.push(toDelivery(row));
      else out.push({ event: toEvent(row), deliveries: [toDelivery(row)] });
    }
    return out;
  }

  async getDeadLetters(query: ListQuery): Promise<DeadLetter[]> {
    this.#open();
    if (query.limit <= 0) return [];
    const after =
      query.afterPosition === undefined ? '-1' : cursorParam(query.afterPosition, 'afterPosition');
    const result =
      query.handler === undefined
        ? await this.#query<EventRow & DeliveryRow>(SQL.DEAD_LETTERS, [after, query.limit])
        : await this.#query<EventRow & DeliveryRow>(SQL.DEAD_LETTERS_BY_HANDLER, [
            after,
            query.limit,
            query.handler,
          ]);
    return result.rows.map((row) => ({ event: toEvent(row), delivery: toDelivery(row) }));
  }

  async retryDeadLetters(query: RetryDeadLettersQuery): Promise<number> {
    this.#open();
    const now = query.now.toISOString();
    let result: pg.QueryResult<{ retried: number }>;
    if (query.deliveryIds !== undefined) {
      const keys = deliveryKeys(query.deliveryIds);
      if (keys.index.length === 0) return 0;
      result =
        query.handler === undefined
          ? await this.#query(SQL.RETRY_DEAD_BY_ID, [now, keys.positions, keys.handlers, keys.runs])
          : await this.#query(SQL.RETRY_DEAD_BY_ID_AND_HANDLER, [
              now,
              keys.positions,
              keys.handlers,
              keys.runs,
              query.handler,
            ]);
    } else {
      result =
        query.handler === undefined
          ? await this.#query(SQL.RETRY_DEAD, [now])
          : await this.#query(SQL.RETRY_DEAD_BY_HANDLER, [now, query.handler]);
    }
    return result.rows[0]?.retried ?? 0;
  }

  // ------------------------------------------------------------------------------------------
  // Retention
  // ------------------------------------------------------------------------------------------

  get #pruneLock(): [number, number] {
    return lockKey(this.schema, PRUNE_LOCK);
  }

  async pruneEvents(request: PruneRequest): Promise<PruneBatch> {
    if (!Number.isSafeInteger(request.limit) || request.limit < 1) {
      throw new InvalidOptionsError(
        'prune request',
        [{ path: 'limit', message: 'must be a positive integer' }],
        {
          source: SOURCE,
        },
      );
    }
    const after = request.after;
    const candidateValues = [
      request.before.toISOString(),
      after ? after.occurredAt.toISOString() : '-infinity',
      after ? cursorParam(after.position, 'after.position') : '-1',
      request.eventTypes ? [...request.eventTypes] : null,
      request.excludeEventTypes?.length ? [...request.excludeEventTypes] : null,
      request.limit + 1,
    ];
    if (after === undefined) await this.#settleReplayNotes();
    for (;;) {
      // Without an archive the batch is one statement (no key crosses the wire), sent with its
      // lock in one round trip.
      const batch = request.archive
        ? await this.#pruneArchivedBatch(request, candidateValues)
        : await this.#pruneBatch(request.limit, [...candidateValues, request.now.toISOString()]);
      if (batch) return batch;
      // Another batch (of any process) holds the lock: wait for it rather than queue on it,
      // so a slow archive elsewhere cannot run into this session's statement timeout.
      await sleep(10);
    }
  }

  /**
   * Once per prune run (its first batch), the notes of finished replays that can never count
   * again go (`SETTLE_REPLAY_NOTES`), so a replay's notes do not outlive its deliveries (issue 16):
   * one statement finds the finished replays that have notes (a loose scan of the replays with
   * notes), a second, only if there are, removes theirs. Outside the batch's transaction and
   * lock; a finished replay stays finished, so the second statement's own snapshot is the one
   * that matters. Returns how many notes went.
   */
  async #settleReplayNotes(): Promise<number> {
    const found = await this.#query<{ ids: string[] | null }>(SQL.FINISHED_REPLAYS_WITH_NOTES, []);
    const ids = found.rows[0]?.ids;
    if (!ids?.length) return 0;
    return (await this.#query<{ settled: number }>(SQL.SETTLE_REPLAY_NOTES, [ids])).rows[0]!.settled;
  }

  /**
   * One batch without an archive hook: the lock and `PRUNE_BATCH` in one round trip and one
   * implicit transaction (`sendPair`: one `Sync` for both, committed there). Awaiting `BEGIN`,
   * the lock, the batch and `COMMIT` one after another cost four waits for a reply, each a
   * wake-up of the application's event loop (bench README, "The prune's application CPU,
   * counted"). The batch still runs under the lock with its snapshot taken after it: the lock
   * statement runs first and notes in a transaction-local setting whether it was granted, and
   * the batch, which cannot wait for its answer, removes nothing unless it was.
   * Undefined when another batch holds the lock.
   */
  async #pruneBatch(limit: number, values: unknown[]): Promise<PruneBatch | undefined> {
    const held = await this.#checkout();
    let broken = false;
    try {
      const [locked, batch] = canSendPair(held.client)
        ? await sendPair<{ locked: boolean }, PruneBatchRow>(
            held.client,
            this.#stmt(SQL.TRY_LOCK_PRUNE),
            this.#pruneLock.map(String),
            this.#stmt(SQL.PRUNE_BATCH),
            values,
          )
        : await this.#pruneBatchOneByOne(held.client, values);
      if (!locked.rows[0]?.locked) return undefined;
      const row = batch.rows[0]!;
      return {
        removed: row.removed,
        next:
          row.found > limit && row.position !== null
            ? { occurredAt: row.occurred_at!, position: row.position }
            : null,
      };
    } catch (error) {
      // The server ended the pair's transaction at its Sync; the connection goes, not back to the
      // pool: which of the pair's statements it had parsed cannot be told after a failure.
      broken = true;
      // The server's reason for ending the session, rather than "not queryable" after it.
      const lost = held.lost();
      throw this.#translate(lost ?? error);
    } finally {
      held.release(broken);
    }
  }

  /**
   * `#pruneBatch`'s two statements on a client that cannot take a pair (`canSendPair`: a
   * `pg-native` or older `pg` pool the application passed): the same transaction, one round trip
   * per statement. A failure discards the connection as the pair's does (the caller).
   */
  async #pruneBatchOneByOne(
    client: pg.PoolClient,
    values: unknown[],
  ): Promise<[pg.QueryResult<{ locked: boolean }>, pg.QueryResult<PruneBatchRow>]> {
    // `#send`: `#checkout` made `#query`'s checks. A failure discards the connection (the caller),
    // which ends the transaction, rather than a ROLLBACK on it.
    await this.#send(SQL.BEGIN, [], client);
    const locked = await this.#send<{ locked: boolean }>(SQL.TRY_LOCK_PRUNE, this.#pruneLock, client);
    const batch = await this.#send<PruneBatchRow>(SQL.PRUNE_BATCH, values, client);
    await this.#send(SQL.COMMIT, [], client);
    return [locked, batch];
  }

  /**
   * One batch with an archive hook, in one short transaction: the archive runs inside it, between
   * the choice and the delete, holding only the advisory lock (no row lock, no transaction id
   * until the delete). Undefined when another batch holds the lock.
   */
  #pruneArchivedBatch(request: PruneRequest, candidateValues: unknown[]): Promise<PruneBatch | undefined> {
    const archive = request.archive!;
    return this.#transaction(async (client) => {
      const lock = await this.#query<{ locked: boolean }>(SQL.TRY_LOCK_PRUNE, this.#pruneLock, client);
      if (!lock.rows[0]?.locked) return undefined;
      const rows = (await this.#query<EventRow>(SQL.PRUNE_CANDIDATES, candidateValues, client)).rows;
      const page = rows.slice(0, request.limit).map(toEvent);
      if (page.length === 0) return { removed: 0, next: null };
      await archive(page);
      const deleted = await this.#query<{ removed: number }>(
        SQL.PRUNE_DELETE,
        [page.map((e) => e.position), request.before.toISOString(), request.now.toISOString()],
        client,
      );
      const last = page[page.length - 1]!;
      return {
        removed: deleted.rows[0]!.removed,
        next: rows.length > request.limit ? { occurredAt: last.occurredAt, position: last.position } : null,
      };
    });
  }

  async getPrunedRanges(): Promise<PrunedRange[]> {
    const result = await this.#query<{
      event_type: string;
      before: Date;
      removed: string;
      last_pruned_at: Date;
    }>(SQL.PRUNED_RANGES, []);
    return result.rows.map((r) => ({
      eventType: r.event_type,
      before: r.before,
      removed: Number(r.removed),
      lastPrunedAt: r.last_pruned_at,
    }));
  }

  async acquireLease(request: LeaseRequest): Promise<boolean> {
    const result = await this.#query(SQL.ACQUIRE_LEASE, [
      request.name,
      request.holder,
      new Date(request.now.getTime() + request.ttlMs).toISOString(),
      request.now.toISOString(),
    ]);
    return result.rows.length > 0;
  }

  async releaseLease(request: { name: string; holder: string }): Promise<void> {
    await this.#query(SQL.RELEASE_LEASE, [request.name, request.holder]);
  }

  // ------------------------------------------------------------------------------------------
  // Replay
  // ------------------------------------------------------------------------------------------

  async startReplay(spec: ReplaySpec, options: { now: Date }): Promise<ReplayJob> {
    this.#open();
    // The job covers the events that existed when it started, bounded by the settled horizon: as
    // a read does, wait (up to settleTimeoutMs) for those committed in its window to settle, or a
    // transaction open elsewhere on the server would leave an event appended just before out.
    // Outside the job's transaction, which would hold the prune lock meanwhile.
    await this.#settle(replayWindow(spec.eventType !== undefined), [
      ...(spec.eventType === undefined ? [] : [spec.eventType]),
      spec.from.toISOString(),
      spec.to.toISOString(),
    ]);
    return this.#transaction(async (client) => {
      await this.#query(SQL.LOCK_PRUNE_SHARED, this.#pruneLock, client);
      const result = await this.#query<ReplayRow>(
        SQL.START_REPLAY,
        [
          spec.from.toISOString(),
          spec.to.toISOString(),
          spec.eventType ?? null,
          spec.handler ?? null,
          spec.maxEvents,
          options.now.toISOString(),
        ],
        client,
      );
      return toReplayJob(result.rows[0]!);
    });
  }

  async continueReplay(replayId: string, options: { now: Date; pageSize: number }): Promise<ReplayJob> {
    this.#open();
    const unknown = () => new NotFoundError('replay', replayId, { source: SOURCE });
    if (!UUID.test(replayId)) throw unknown();
    return this.#transaction(async (client) => {
      await this.#query(SQL.LOCK_PRUNE_SHARED, this.#pruneLock, client);
      const locked = await this.#query<ReplayRow>(SQL.LOCK_REPLAY, [replayId], client);
      const job = locked.rows[0];
      if (!job) throw unknown();
      if (job.status === 'done') return toReplayJob(job);
      const now = options.now.toISOString();
      const plan = planReplayPage(
        { maxEvents: job.max_events, eventsMatched: job.events_matched },
        options.pageSize,
      );
      const pageValues = [
        job.cursor ?? (job.from_position === null ? '-1' : (BigInt(job.from_position) - 1n).toString()),
        job.until_position,
        job.from_at.toISOString(),
        job.to_at.toISOString(),
        plan.limit,
      ];
      const found = await this.#query<{ position: string; event_type: string; aggregate_id: string }>(
        job.event_type === null ? SQL.REPLAY_PAGE : SQL.REPLAY_PAGE_BY_TYPE,
        job.event_type === null ? pageValues : [...pageValues, job.event_type],
        client,
      );
      const page = found.rows.slice(0, plan.take);
      let queued = 0;
      if (page.length > 0) {
        const requeued = await this.#query<{ queued: number; positions: string[]; handlers: string[] }>(
          SQL.REPLAY_REQUEUE,
          [
            page.map((r) => r.position),
            page.map((r) => r.event_type),
            page.map((r) => r.aggregate_id),
            job.handler,
            now,
            replayId,
          ],
          client,
        );
        const row = requeued.rows[0]!;
        queued = row.queued;
        if (queued > 0) await this.#query(SQL.REPLAY_REVIVED, [row.positions, row.handlers], client);
      }
      const next = advanceReplay(
        { eventsMatched: job.events_matched, deliveriesQueued: job.deliveries_queued, cursor: job.cursor },
        plan,
        { found: found.rows.length, last: page.at(-1)?.position, queued },
      );
      const updated = await this.#query<ReplayRow>(
        SQL.UPDATE_REPLAY,
        [replayId, next.status, next.cursor, next.eventsMatched, next.deliveriesQueued, next.truncated, now],
        client,
      );
      return toReplayJob(updated.rows[0]!);
    });
  }

  async getReplay(replayId: string): Promise<ReplayProgress | undefined> {
    this.#open();
    if (!UUID.test(replayId)) return undefined;
    const result = await this.#query<ReplayRow & { open: number; dead: number }>(SQL.GET_REPLAY, [replayId]);
    const row = result.rows[0];
    if (!row) return undefined;
    const job = toReplayJob(row);
    return {
      ...job,
      deliveriesOpen: row.open,
      deliveriesDead: row.dead,
      done: job.status === 'done' && row.open === 0,
    };
  }

  async listStaleReplays(options: { staleBefore: Date }): Promise<ReplayJob[]> {
    const result = await this.#query<ReplayRow>(SQL.STALE_REPLAYS, [options.staleBefore.toISOString()]);
    return result.rows.map(toReplayJob);
  }

  // ------------------------------------------------------------------------------------------
  // Status
  // ------------------------------------------------------------------------------------------

  async stats(options: { now: Date }): Promise<StoreStats> {
    const [byHandler, totals, unprocessed] = await Promise.all([
      this.#query<{ handler: string; pending: number; running: number; dead: number; oldest: Date | null }>(
        SQL.STATS_BY_HANDLER,
        [],
      ),
      this.#query<{ last_position: string | null; live: string[] }>(SQL.STATS_TOTALS, [
        options.now.toISOString(),
      ]),
      this.#query<{ unprocessed: number }>(SQL.STATS_UNPROCESSED, []),
    ]);
    const t = totals.rows[0]!;
    return summarizeStats({
      lastPosition: t.last_position,
      unprocessedEvents: unprocessed.rows[0]!.unprocessed,
      backlog: byHandler.rows.map((row) => ({
        handler: row.handler,
        pending: row.pending,
        running: row.running,
        dead: row.dead,
        oldestPendingAt: row.oldest,
      })),
      live: t.live,
    });
  }

  async healthCheck(): Promise<HealthStatus> {
    const details: Record<string, unknown> = {
      store: 'postgres',
      url: this.#where,
      schema: this.schema,
      closed: this.#closed,
    };
    if (this.#closed) return { healthy: false, latencyMs: 0, details };
    const started = performance.now();
    try {
      // The applied versions (a handful of rows; no cost on any other path): a newer release may
      // have migrated the schema while this process ran (a rolling upgrade).
      const { rows } = await this.#query<AppliedRow>(SQL.SELECT_APPLIED_MIGRATIONS, []);
      const standing = runningStanding(toApplied(rows), this.schema);
      if (standing && 'error' in standing) return unhealthyStatus(standing.error, started, details);
      return {
        healthy: true,
        latencyMs: performance.now() - started,
        details: {
          ...details,
          ...standing,
          // Known once the first statement ran (`pooler: 'auto'` checks on the first connection).
          pooler: this.#pooled ? 'transaction' : 'none',
          preparedStatements: this.#prepared,
          preparedStatementsWhy: this.#preparedWhy,
          pool: { total: this.pool.totalCount, idle: this.pool.idleCount, waiting: this.pool.waitingCount },
        },
      };
    } catch (error) {
      return unhealthyStatus(error, started, details);
    }
  }

  // ------------------------------------------------------------------------------------------
  // Notifications
  // ------------------------------------------------------------------------------------------

  onAppended(listener: AppendedListener): () => void {
    this.#open();
    // Without `notify`, nobody sends: holding a LISTEN connection would only cost a pool slot.
    if (!this.#notify) return () => {};
    this.#listeners.add(listener);
    if (this.#listeners.size === 1) void this.#listen();
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) this.#unlisten();
    };
  }

  /**
   * The session that LISTENs: a pool connection, or one of its own on
   * `listenConnectionString` (behind a transaction pooler, the pool's sessions are not its own).
   */
  async #listenConnection(): Promise<ListenConnection> {
    if (!this.#ready) await this.#ensureReady();
    if (this.#listenConnectionString === undefined) {
      const client = await this.pool.connect();
      // Destroyed rather than returned: a pooled connection must not keep listening.
      return { client, drop: () => client.release(true) };
    }
    const client = new pg.Client({
      connectionString: this.#listenConnectionString,
      connectionTimeoutMillis: this.#connectionTimeoutMs,
      application_name: this.#applicationName,
    });
    // Without a listener, a dropped connection's 'error' would crash the process.
    client.on('error', () => {});
    logNotices(client, this.#logger);
    try {
      await client.connect();
    } catch (error) {
      await client.end().catch(() => {});
      throw error;
    }
    return { client, drop: () => void client.end().catch(() => {}) };
  }

  async #listen(): Promise<void> {
    const generation = ++this.#listenGeneration;
    let connection: ListenConnection | undefined;
    try {
      connection = await this.#listenConnection();
      const { client } = connection;
      const lost = () => {
        if (this.#listenClient !== connection) return;
        this.#listenClient = undefined;
        connection!.drop();
        this.#scheduleListen();
      };
      client.on('error', lost);
      client.on('end', lost);
      client.on('notification', (message) => {
        if (message.channel !== this.#channel) return;
        const types = message.payload ? message.payload.split(' ') : undefined;
        this.#emit(types);
      });
      await client.query(SQL.listenSql(SQL.quoteIdentifier(this.#channel)));
      if (generation !== this.#listenGeneration || this.#listeners.size === 0 || this.#closed) {
        connection.drop();
        return;
      }
      this.#listenClient = connection;
      // Anything appended while nobody listened was not heard: tell listeners to look.
      this.#emit(undefined);
    } catch {
      connection?.drop();
      if (generation === this.#listenGeneration) this.#scheduleListen();
    }
  }

  #scheduleListen(): void {
    if (this.#closed || this.#listeners.size === 0 || this.#listenRetry) return;
    this.#listenRetry = setTimeout(() => {
      this.#listenRetry = undefined;
      if (!this.#closed && this.#listeners.size > 0 && !this.#listenClient) void this.#listen();
    }, 1000);
    this.#listenRetry.unref?.();
  }

  #unlisten(): void {
    this.#listenGeneration++;
    if (this.#listenRetry) clearTimeout(this.#listenRetry);
    this.#listenRetry = undefined;
    const connection = this.#listenClient;
    this.#listenClient = undefined;
    connection?.drop();
  }

  #emit(types: readonly string[] | undefined): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(types);
      } catch {
        // A listener's failure is its own; the others still hear the bell.
      }
    }
  }

  close(): Promise<void> {
    this.#listeners.clear();
    this.#unlisten();
    this.#closed = true;
    // Appends still waiting for a coalesced statement never go: nothing of theirs was sent.
    for (const r of this.#appendQueue.splice(0)) r.reject(this.#closedError());
    this.#closing ??= this.#ownsPool ? this.pool.end().catch(() => {}) : Promise.resolve();
    return this.#closing;
  }
}

/** The server as it may appear in messages: the URL with its password masked, never the password. */
function describeServer(connectionString: string | undefined, pool: pg.Pool): string {
  if (connectionString) return maskUrl(connectionString);
  const o = (pool as unknown as { options?: Partial<pg.PoolConfig> | undefined }).options ?? {};
  if (o.connectionString) return maskUrl(o.connectionString);
  const user = o.user ? `${encodeURIComponent(String(o.user))}@` : '';
  return `postgresql://${user}${o.host ?? 'localhost'}:${o.port ?? 5432}/${o.database ?? ''}`;
}
