import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type AppendResult,
  advanceReplay,
  type ClaimedDelivery,
  type ClaimRequest,
  ConcurrencyError,
  type DeadLetter,
  type DeliveryFailure,
  type DeliveryInfo,
  type DeliveryToken,
  type DomainEvent,
  DuplicateEventError,
  type EventStore,
  type HealthStatus,
  InvalidTransactionError,
  type LeaseRequest,
  type ListQuery,
  maskSecrets,
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
  type StoreCapabilities,
  type StoreStats,
  StoreUnavailableError,
  type SubscriptionInfo,
  type SubscriptionSpec,
  summarizeStats,
  type UnprocessedEvent,
  unhealthyStatus,
} from '@evco/core/adapter';
import Database from 'better-sqlite3';
import { type AppendFailure, toEventInserts } from './append.js';
import {
  boundIso,
  cursorParam,
  type DeliveryRow,
  type EventRow,
  iso,
  jsonIntegers,
  nullablePosition,
  parseDeliveryId,
  parseReplayId,
  type ReplayRow,
  toDeliveryInfo,
  toRecordedEvent,
  toReplayJob,
} from './codec.js';
import { onConnection, type Prepared, prepare, read, untilNotBusy, write } from './connection.js';
import { fileErrorOptions, nativeModuleError, sqliteCode, translateError } from './errors.js';
import { FileIdentity, type FileState } from './file-identity.js';
import {
  applyMigrations,
  assertKnownVersion,
  LATEST_VERSION,
  newerThanRunning,
  readSchemaVersion,
} from './migrations.js';
import {
  DEFAULTS,
  isDatabase,
  type ResolvedSqliteOptions,
  resolveSqliteOptions,
  SOURCE,
  type SqliteDatabase,
  type SqliteStoreOptions,
} from './options.js';
import type { EventTable } from './periods.js';
import {
  checkPruneRequest,
  chooseKeys,
  PRUNE_LOCK,
  PRUNE_LOCK_MS,
  type PrunedBatch,
  type PruneState,
  pruneCandidates,
  prunedResult,
  pruneLeased,
  pruneParams,
  reclaimSpace,
  removeChosen,
} from './prune.js';
import { PruneThread, type PruneWorkerHooks, pruneWorkerHooks } from './prune-thread.js';
import * as SQL from './sql.js';

/** An `EventStore` in one SQLite file, shareable by the processes of one machine. */
export interface SqliteStore extends EventStore {
  readonly name: 'sqlite';
  /** The database file as given (or the passed database's name), for logs and the status view. */
  readonly filename: string;
  /**
   * Opens the file and brings its schema up to date; idempotent, safe from several processes at
   * once. Says what opening it did (the file is migrated when first opened, by any call).
   */
  migrate(): Promise<SchemaMigration>;
  /**
   * The transactional outbox (what `coordinator.publishInTransactionSync(db, events)` calls):
   * appends the events and their deliveries on `db`, inside the transaction open on it, so they
   * commit or roll back with the application's own writes. `db` is the store's own `database`
   * or another connection to the store's file; anything else, or no open transaction, is
   * `INVALID_TRANSACTION` before anything is written. A failed append (duplicate id, taken
   * aggregate version) is undone to a savepoint: the application's transaction stays usable.
   */
  appendWithinSync(db: SqliteDatabase, events: readonly DomainEvent[], options: { now: Date }): AppendResult;
  /** `appendWithinSync`, for a transaction driven by hand (`BEGIN` … `COMMIT`) across awaits. */
  appendWithin(
    db: SqliteDatabase,
    events: readonly DomainEvent[],
    options: { now: Date },
  ): Promise<AppendResult>;
  /** Closes the file (not a `database` you passed in). Idempotent. */
  close(): Promise<void>;
  /**
   * Switches a file created before incremental auto-vacuum (or with other tables in it) to
   * `auto_vacuum = INCREMENTAL`, which SQLite only applies through a full `VACUUM`: it rewrites
   * the file, blocks every writer while it runs and needs free disk of the file's size. Run it
   * once, in a maintenance window; afterwards each prune gives space back a little at a time.
   * Returns whether a rebuild was needed. New files are created incremental.
   */
  enableIncrementalVacuum(): Promise<boolean>;
}

/**
 * Creates a SQLite event store. Options are validated at once (`InvalidOptionsError` listing
 * every problem); the file is opened, checked and migrated on first use or by `migrate()`.
 *
 * ```ts
 * const store = createSqliteStore({ filename: './data/events.db' });
 * ```
 */
export function createSqliteStore(options: SqliteStoreOptions): SqliteStore {
  return new SqliteEventStore(resolveSqliteOptions(options));
}

class SqliteEventStore implements SqliteStore {
  readonly name = 'sqlite' as const;
  readonly capabilities: StoreCapabilities;
  readonly filename: string;

  readonly #o: ResolvedSqliteOptions;
  #p: Prepared | undefined;
  #ownsDatabase = false;
  /** What opening the file did to its schema, for `migrate()`. */
  #migration: SchemaMigration | undefined;
  /** The file opened, to notice it deleted or replaced; undefined in memory. */
  #identity: FileIdentity | undefined;
  #closed = false;
  /** What this store's own connection remembers between the batches it prunes inline. */
  readonly #prune: PruneState = { periodPages: 0 };
  /** The prune worker (`pruneThread: 'worker'`), started by the first batch without an archive. */
  #pruneThread: PruneThread | undefined;
  /** `read`'s SQL per combination of filters. */
  readonly #reads = new Map<string, string>();
  /** Statements prepared on the application's connections that `appendWithinSync` wrote on. */
  #foreign = new WeakMap<SqliteDatabase, Prepared>();

  constructor(options: ResolvedSqliteOptions) {
    this.#o = options;
    this.filename = options.label;
    const inMemory = options.database ? options.database.memory : options.path === ':memory:';
    this.capabilities = { durable: !inMemory, crossProcess: !inMemory };
  }

  /** Test hooks on the prune worker (undefined without one); not part of the package's API. */
  get [pruneWorkerHooks](): PruneWorkerHooks | undefined {
    return this.#pruneWorker()?.hooks();
  }

  /**
   * The prune worker's handle, for a store with `pruneThread: 'worker'` (its thread starts with
   * the first batch). It opens the file by the absolute path the store opened (`#identity`), so
   * a later `process.chdir` cannot point it at another file.
   */
  #pruneWorker(): PruneThread | undefined {
    const o = this.#o;
    if (this.#pruneThread || o.pruneThread !== 'worker' || o.path === undefined) return this.#pruneThread;
    this.#pruneThread = new PruneThread({
      path: this.#identity?.path ?? resolve(o.path),
      label: o.label,
      tablePrefix: o.tablePrefix,
      periodEvents: o.periodEvents,
      busyTimeoutMs: o.busyTimeoutMs ?? DEFAULTS.busyTimeoutMs,
      synchronous: o.synchronous,
      tempStore: o.tempStore,
    });
    return this.#pruneThread;
  }

  // ------------------------------------------------------------------------------------------
  // Connection
  // ------------------------------------------------------------------------------------------

  async migrate(): Promise<SchemaMigration> {
    this.#write('migrate', () => undefined);
    return this.#migration!;
  }

  /**
   * Runs `fn` on the open, migrated connection, translating driver errors. `fn` is one unit that
   * a lock wait may start again (`onConnection`): a transaction, or statements each committed on
   * its own. `wait: false` for work inside a transaction of the application's, which a lock
   * wait must not start again.
   */
  #run<T>(action: string, fn: (p: Prepared) => T, wait = true): T {
    if (this.#closed) {
      throw new StoreUnavailableError(
        `cannot ${action}: the SQLite store is closed`,
        fileErrorOptions(this.filename),
      );
    }
    try {
      const p = this.#p ?? this.#open();
      return wait ? onConnection(p, () => fn(p)) : fn(p);
    } catch (error) {
      throw translateError(error, this.filename, action);
    }
  }

  /** `#run` for a write: refused while the file opened is no longer at its path. */
  #write<T>(action: string, fn: (p: Prepared) => T): T {
    return this.#run(action, (p) => {
      this.#assertFilePresent(action);
      if (p.db.inTransaction) {
        // Only possible on a `database` shared with the application, while a transaction it
        // drives by hand waits across an await: a write now would join that transaction (and
        // a claim would see its uncommitted events). Refused; the poller tries again.
        throw new StoreUnavailableError(
          `cannot ${action}: the shared database connection is inside a transaction of the application; evco writes once it ends`,
          fileErrorOptions(this.filename),
        );
      }
      return fn(p);
    });
  }

  #assertFilePresent(action: string): void {
    const state = this.#fileState();
    if (state !== 'present') throw this.#fileMovedError(action, state);
  }

  #fileState(): FileState {
    return this.#identity?.check() ?? 'present';
  }

  #fileMovedError(action: string, state: Exclude<FileState, 'present'>): StoreUnavailableError {
    const what =
      state === 'deleted'
        ? 'was deleted or moved while this store had it open: what it writes now would be lost. Put the file back, or restart every process that uses it'
        : 'was replaced by another file while this store had it open: it would write to the old file, which nobody reads any more. Restart every process that had the old file open';
    return new StoreUnavailableError(
      `cannot ${action}: the SQLite file ${what}`,
      fileErrorOptions(this.filename),
    );
  }

  #open(): Prepared {
    const o = this.#o;
    let db = o.database;
    let owned = false;
    try {
      if (!db) {
        try {
          db = new Database(o.path!, { timeout: o.busyTimeoutMs, fileMustExist: o.fileMustExist });
        } catch (error) {
          // SQLite's own CANTOPEN lists every cause but this one; say which it is and what to do.
          if (o.fileMustExist && sqliteCode(error)?.startsWith('SQLITE_CANTOPEN') && !existsSync(o.path!)) {
            throw new StoreUnavailableError(
              'cannot open the SQLite file: it does not exist, and fileMustExist is set; create it first (a store without fileMustExist, or `evco migrate --sqlite FILE`)',
              fileErrorOptions(this.filename, error),
            );
          }
          const native = nativeModuleError(error, this.filename);
          if (native) throw native;
          // better-sqlite3 checks the directory itself and throws a plain TypeError for it.
          if (sqliteCode(error)) throw error;
          throw new StoreUnavailableError(
            `cannot open the SQLite file: ${error instanceof Error ? error.message : String(error)}`,
            fileErrorOptions(this.filename, error),
          );
        }
        owned = true;
      } else if (o.busyTimeoutMs !== undefined) {
        db.pragma(`busy_timeout = ${o.busyTimeoutMs}`);
      }
      if (!db.open) {
        throw new StoreUnavailableError('the database passed is not open', fileErrorOptions(this.filename));
      }
      const open = db;
      // As long as the connection itself waits for a lock: `busyTimeoutMs`, or what a database
      // you pass was opened with.
      const patience = Number(db.pragma('busy_timeout', { simple: true }));
      // Read before writing anything: a corrupt file or one from a newer evco is refused untouched.
      const version = untilNotBusy(() => readSchemaVersion(open, o.tablePrefix), patience);
      assertKnownVersion(version, this.filename, SOURCE);
      // Only possible before the first table exists; older files: `enableIncrementalVacuum()`.
      if (version === 0 && !db.prepare(SQL.ANY_TABLE).get()) db.pragma('auto_vacuum = INCREMENTAL');
      if (!db.memory) {
        const mode = untilNotBusy(() => open.pragma('journal_mode = WAL', { simple: true }), patience);
        if (mode !== 'wal') {
          throw new StoreUnavailableError(
            `cannot switch the SQLite file to WAL mode (it stayed "${String(mode)}"); the store needs write access to the file and its directory`,
            fileErrorOptions(this.filename),
          );
        }
      }
      if (o.synchronous !== undefined) db.pragma(`synchronous = ${o.synchronous}`);
      if (o.tempStore !== undefined) db.pragma(`temp_store = ${o.tempStore}`);
      this.#migration =
        version < LATEST_VERSION
          ? applyMigrations(db, o.tablePrefix, this.filename, SOURCE, () => new Date())
          : { fromVersion: version, toVersion: version };
      // A connection the store opened waits for locks in short steps (`untilNotBusy`) instead
      // of SQLite's busy handler, from here on (migrating above waited the handler's way): its
      // writes meet the prune worker's commits, or another process's, held for well under a
      // millisecond. A database passed in keeps the busy handler it was given.
      let fine: number | undefined;
      if (owned && !db.memory) {
        fine = patience;
        db.pragma('busy_timeout = 0');
      }
      const prepared = prepare(db, o.tablePrefix, o.periodEvents, fine);
      this.#identity = db.memory || !db.name ? undefined : FileIdentity.of(db.name);
      this.#ownsDatabase = owned;
      this.#p = prepared;
      return prepared;
    } catch (error) {
      if (owned) db?.close();
      throw error;
    }
  }

  // ------------------------------------------------------------------------------------------
  // Events
  // ------------------------------------------------------------------------------------------

  async append(events: readonly DomainEvent[], options: { now: Date }): Promise<AppendResult> {
    const rows = toEventInserts(events);
    return this.#write('append events', (p) =>
      this.#appendRows(events, options.now, (failedAt) =>
        p.append.immediate(rows, iso(options.now), failedAt),
      ),
    );
  }

  appendWithinSync(db: SqliteDatabase, events: readonly DomainEvent[], options: { now: Date }): AppendResult {
    assertTransactionHandle(db);
    const rows = toEventInserts(events);
    return this.#run(
      'append events',
      (p) => {
        this.#assertFilePresent('append events');
        const on = this.#connectionFor(db, p);
        // Called inside the application's transaction, the append transaction is a savepoint.
        return this.#appendRows(events, options.now, (failedAt) =>
          on.append(rows, iso(options.now), failedAt),
        );
      },
      false,
    );
  }

  async appendWithin(
    db: SqliteDatabase,
    events: readonly DomainEvent[],
    options: { now: Date },
  ): Promise<AppendResult> {
    return this.appendWithinSync(db, events, options);
  }

  /** better-sqlite3 tracks it: `afterCommit()` inside `db.transaction(() => …)` sees `true`. */
  transactionOpen(db: unknown): boolean | undefined {
    return isDatabase(db) && db.open ? db.inTransaction : undefined;
  }

  /** The store's statements on `db`, once it is known to be a connection to the store's file. */
  #connectionFor(db: SqliteDatabase, p: Prepared): Prepared {
    if (db === p.db) return p;
    const theirs = db.memory || !db.name ? undefined : FileIdentity.of(db.name);
    if (!theirs || !this.#identity?.sameFile(theirs)) {
      throw new InvalidTransactionError(
        "the database passed is not the store's file: open it on the store's file, or give it to createSqliteStore({ database })",
        fileErrorOptions(this.filename),
      );
    }
    let on = this.#foreign.get(db);
    if (!on) {
      on = prepare(db, this.#o.tablePrefix, this.#o.periodEvents);
      this.#foreign.set(db, on);
    }
    return on;
  }

  #appendRows(
    events: readonly DomainEvent[],
    now: Date,
    run: (failedAt: AppendFailure) => [bigint[], number[]],
  ): AppendResult {
    if (events.length === 0) return { events: [], deliveries: [] };
    const failedAt: AppendFailure = { index: -1, idTaken: false };
    let positions: bigint[];
    let deliveries: number[];
    try {
      [positions, deliveries] = run(failedAt);
    } catch (error) {
      throw this.#appendError(error, events[failedAt.index], failedAt.idTaken);
    }
    const recordedAt = new Date(now.getTime());
    const recorded: RecordedEvent[] = new Array(events.length);
    for (let i = 0; i < events.length; i++) {
      recorded[i] = recordEvent(events[i]!, positions[i]!, recordedAt);
    }
    return { events: recorded, deliveries };
  }

  #appendError(error: unknown, event: DomainEvent | undefined, idTaken: boolean): unknown {
    const code = sqliteCode(error);
    // The id's unique index, or the primary key of event_versions.
    if (!event || (code !== 'SQLITE_CONSTRAINT_UNIQUE' && code !== 'SQLITE_CONSTRAINT_PRIMARYKEY'))
      return error;
    if (!idTaken) {
      return new ConcurrencyError(
        `aggregate ${event.aggregateId} already has version ${event.aggregateVersion}`,
        { aggregateId: event.aggregateId, aggregateVersion: event.aggregateVersion },
        fileErrorOptions(this.filename, error),
      );
    }
    return new DuplicateEventError(
      `an event with id ${event.id} is already stored`,
      event.id,
      fileErrorOptions(this.filename, error),
    );
  }

  async read(query: ReadQuery): Promise<RecordedEvent[]> {
    // Several types: one index range per type, merged here. A single statement (`IN` list) makes
    // SQLite collect every event of those types and sort them before it applies the limit.
    const types: Array<string | undefined> =
      typeof query.eventType === 'object' ? [...new Set(query.eventType)] : [query.eventType];
    const shapes = types.map((eventType) => readShape({ ...query, eventType }));
    const after =
      query.afterPosition === undefined ? undefined : cursorParam(query.afterPosition, 'afterPosition');
    const before =
      query.beforePosition === undefined ? undefined : cursorParam(query.beforePosition, 'beforePosition');
    const order = query.order === 'desc' ? 'desc' : 'asc';
    return this.#run('read events', (p) => {
      if (!(query.limit > 0)) return [];
      const rows = read(p, () => {
        const tables = p.periods.sync().tables(order, after, before);
        return shapes.flatMap(({ key, params }) => this.#readTables(p, tables, key, params, query.limit));
      });
      if (shapes.length > 1) {
        const sign = query.order === 'desc' ? -1 : 1;
        rows.sort((a, b) => (a.position < b.position ? -sign : a.position > b.position ? sign : 0));
        rows.length = Math.min(rows.length, query.limit);
      }
      return rows.map(toRecordedEvent);
    });
  }

  /**
   * One read shape over the tables that may hold its positions, in the read's order, each asked
   * for what the page still lacks; stops when the page is full.
   */
  #readTables(p: Prepared, tables: EventTable[], key: string, params: unknown[], limit: number): EventRow[] {
    let sql = this.#reads.get(key);
    if (sql === undefined) {
      const parts = key.split(',') as Array<keyof typeof SQL.READ_FRAGMENTS>;
      sql = SQL.READ_FRAGMENTS.select + parts.map((k) => SQL.READ_FRAGMENTS[k]).join('');
      this.#reads.set(key, sql);
    }
    const args = [...params];
    const afterAt = key.split(',').includes('afterPosition') ? afterParamIndex(key) : -1;
    const rows: EventRow[] = [];
    for (const t of tables) {
      args[args.length - 1] = limit - rows.length;
      // The cursor raised to the watermark, so the rowid range starts there (see `{lo}`).
      if (afterAt >= 0) {
        const after = params[afterAt] as bigint;
        args[afterAt] = t.watermarked && after < t.lo - 1n ? t.lo - 1n : after;
      }
      for (const row of p.periods.on(t.table, sql, t.watermarked).all(...args) as EventRow[]) rows.push(row);
      if (rows.length >= limit) break;
    }
    return rows;
  }

  readAll(query: ReadAllQuery = {}): AsyncIterable<RecordedEvent> {
    return readAllByPages((q) => this.read(q), query);
  }

  async getEvent(id: string): Promise<RecordedEvent | undefined> {
    return this.#run('read an event', (p) =>
      read(p, () => {
        const key = p.s.positionOfId.get(id) as { position: bigint } | undefined;
        const row = key ? p.periods.sync().eventsAt([key.position])[0] : undefined;
        return row ? toRecordedEvent(row) : undefined;
      }),
    );
  }

  async getDeliveries(eventId: string): Promise<DeliveryInfo[]> {
    return this.#run('read deliveries', (p) =>
      (p.s.deliveriesOfEvent.all(eventId) as DeliveryRow[])
        .map(toDeliveryInfo)
        .sort((a, b) => a.handler.localeCompare(b.handler)),
    );
  }

  // ------------------------------------------------------------------------------------------
  // Subscriptions
  // ------------------------------------------------------------------------------------------

  async registerSubscriptions(
    subscriptions: readonly SubscriptionSpec[],
    options: { consumerId: string; now: Date; ttlMs: number },
  ): Promise<void> {
    const now = iso(options.now);
    const expires = iso(new Date(options.now.getTime() + options.ttlMs));
    this.#write('register subscriptions', (p) =>
      write(p, () => {
        for (const s of subscriptions) {
          p.s.upsertSubscription.run(s.eventType, s.handler, s.ordering, expires, now, options.consumerId);
        }
      }),
    );
  }

  async listSubscriptions(): Promise<SubscriptionInfo[]> {
    return this.#run('list subscriptions', (p) => {
      const rows = p.s.subscriptions.all() as Array<{
        handler: string;
        event_type: string;
        ordering: 'aggregate' | 'none';
        expires_at: string;
        last_seen_at: string;
        last_seen_by: string;
      }>;
      return rows
        .map((r) => ({
          handler: r.handler,
          eventType: r.event_type,
          ordering: r.ordering,
          expiresAt: new Date(r.expires_at),
          lastSeenAt: new Date(r.last_seen_at),
          lastSeenBy: r.last_seen_by,
        }))
        .sort((a, b) => a.handler.localeCompare(b.handler) || a.eventType.localeCompare(b.eventType));
    });
  }

  async retireHandler(handler: string): Promise<number> {
    return this.#write('retire a handler', (p) =>
      write(p, () => {
        p.s.deleteSubscriptions.run(handler);
        return p.s.deleteOpenDeliveries.run(handler).changes;
      }),
    );
  }

  // ------------------------------------------------------------------------------------------
  // Deliveries
  // ------------------------------------------------------------------------------------------

  async claimDue(request: ClaimRequest): Promise<ClaimedDelivery[]> {
    return this.#write('claim deliveries', (p) => p.claim.immediate(request));
  }

  async complete(tokens: readonly DeliveryToken[], options: { now: Date }): Promise<void> {
    const now = iso(options.now);
    this.#write('complete deliveries', (p) =>
      write(p, () => {
        for (const t of tokens) {
          const id = parseDeliveryId(t.deliveryId);
          if (id !== undefined) promote(p, p.s.complete.get(now, id, t.attempt) as ChainRow | undefined);
        }
      }),
    );
  }

  async fail(failures: readonly DeliveryFailure[], options: { now: Date }): Promise<void> {
    const now = iso(options.now);
    this.#write('record failed deliveries', (p) =>
      write(p, () => {
        for (const f of failures) {
          const id = parseDeliveryId(f.deliveryId);
          if (id === undefined) continue;
          if (f.nextAttemptAt === null) {
            promote(p, p.s.kill.get(f.error, now, id, f.attempt) as ChainRow | undefined);
          } else p.s.retry.run(iso(f.nextAttemptAt), f.error, now, id, f.attempt);
        }
      }),
    );
  }

  async release(tokens: readonly DeliveryToken[], options: { now: Date }): Promise<void> {
    const now = iso(options.now);
    this.#write('release deliveries', (p) =>
      write(p, () => {
        for (const t of tokens) {
          const id = parseDeliveryId(t.deliveryId);
          if (id !== undefined) p.s.release.run(now, now, id, t.attempt);
        }
      }),
    );
  }

  // ------------------------------------------------------------------------------------------
  // Admin views
  // ------------------------------------------------------------------------------------------

  async getUnprocessedEvents(query: ListQuery): Promise<UnprocessedEvent[]> {
    const after = cursorParam(query.afterPosition, 'afterPosition');
    return this.#run('list unprocessed events', (p) => {
      if (!(query.limit > 0)) return [];
      return read(p, () => {
        const positionRows = (
          query.handler === undefined
            ? p.s.unprocessed.all(after, query.limit)
            : p.s.unprocessedOfHandler.all(after, query.handler, query.limit)
        ) as Array<{ event_position: bigint }>;
        if (positionRows.length === 0) return [];
        const positions = jsonIntegers(positionRows.map((r) => r.event_position));
        const events = p.periods.sync().eventsAt(positionRows.map((r) => r.event_position));
        const open = new Map<bigint, DeliveryRow[]>();
        for (const d of p.s.openDeliveriesOfEvents.all(positions) as DeliveryRow[]) {
          const list = open.get(d.event_position);
          if (list) list.push(d);
          else open.set(d.event_position, [d]);
        }
        return events.map((row) => ({
          event: toRecordedEvent(row),
          deliveries: (open.get(row.position) ?? []).map(toDeliveryInfo),
        }));
      }) as UnprocessedEvent[];
    });
  }

  async getDeadLetters(query: ListQuery): Promise<DeadLetter[]> {
    const after = cursorParam(query.afterPosition, 'afterPosition');
    return this.#run('list dead letters', (p) => {
      if (!(query.limit > 0)) return [];
      const h = query.handler;
      return read(p, () => {
        let rows = (
          h === undefined ? p.s.dead.all(after, query.limit) : p.s.deadOfHandler.all(after, h, query.limit)
        ) as DeliveryRow[];
        if (rows.length === 0) return [];
        // Handlers of one event are ordered like the reference store (localeCompare), which SQL
        // cannot express; when the page ends inside an event, fetch the rest of it to sort it whole.
        if (rows.length === query.limit) {
          const last = rows[rows.length - 1]!.event_position;
          const whole = (
            h === undefined ? p.s.deadOfEvent.all(last) : p.s.deadOfEventAndHandler.all(last, h)
          ) as DeliveryRow[];
          rows = [...rows.filter((r) => r.event_position !== last), ...whole];
        }
        rows.sort(
          (a, b) =>
            (a.event_position < b.event_position ? -1 : a.event_position > b.event_position ? 1 : 0) ||
            a.handler.localeCompare(b.handler),
        );
        rows = rows.slice(0, query.limit);
        const events = new Map<bigint, RecordedEvent>();
        const positions = [...new Set(rows.map((r) => r.event_position))];
        for (const row of p.periods.sync().eventsAt(positions)) {
          events.set(row.position, toRecordedEvent(row));
        }
        return rows.map((r) => ({ event: events.get(r.event_position)!, delivery: toDeliveryInfo(r) }));
      }) as DeadLetter[];
    });
  }

  async retryDeadLetters(query: RetryDeadLettersQuery): Promise<number> {
    const now = iso(query.now);
    return this.#write('retry dead letters', (p) =>
      write(p, () => {
        const h = query.handler;
        let rows: RedrivenRow[];
        if (query.deliveryIds === undefined) {
          rows = (h === undefined ? p.s.redriveAll.all() : p.s.redriveByHandler.all(h)) as RedrivenRow[];
        } else {
          const ids = query.deliveryIds.map(parseDeliveryId).filter((id) => id !== undefined);
          if (ids.length === 0) return 0;
          const json = jsonIntegers(ids);
          rows = (
            h === undefined ? p.s.redriveByIds.all(json) : p.s.redriveByIdsAndHandler.all(json, h)
          ) as RedrivenRow[];
        }
        for (const r of rows) {
          p.s.insertRedriven.run(
            r.event_position,
            r.handler,
            r.aggregate_id,
            r.ordered,
            now,
            r.is_replay,
            r.replay_id,
            now,
            now,
            r.ordered,
          );
        }
        rechain(p, rows);
        return rows.length;
      }),
    );
  }

  // ------------------------------------------------------------------------------------------
  // Replay
  // ------------------------------------------------------------------------------------------

  async startReplay(spec: ReplaySpec, options: { now: Date }): Promise<ReplayJob> {
    const now = iso(options.now);
    return this.#afterPruneBatch(() =>
      this.#write('start a replay', (p) => {
        const row = write(p, () => {
          if (p.s.leaseHeld.get(PRUNE_LOCK, now)) return PRUNING;
          const last = (p.s.lastPosition.get() as { position: bigint | null }).position ?? 0n;
          // The window's position range, once: every page then costs its own size.
          const window = windowBounds(p, boundIso(spec.from), boundIso(spec.to));
          return p.s.insertReplay.get(
            iso(spec.from),
            iso(spec.to),
            spec.eventType ?? null,
            spec.handler ?? null,
            spec.maxEvents,
            window.lo ?? 0n,
            window.hi === null ? 0n : window.hi < last ? window.hi : last,
            now,
            now,
          ) as ReplayRow;
        });
        return row === PRUNING ? PRUNING : toReplayJob(row);
      }),
    );
  }

  async continueReplay(replayId: string, options: { now: Date; pageSize: number }): Promise<ReplayJob> {
    const now = iso(options.now);
    return this.#afterPruneBatch(() =>
      this.#write('continue a replay', (p) => {
        const rowId = parseReplayId(replayId);
        const job = write(p, () => {
          if (p.s.leaseHeld.get(PRUNE_LOCK, now)) return PRUNING;
          const row = rowId === undefined ? undefined : (p.s.replay.get(rowId) as ReplayRow | undefined);
          if (!row || row.status === 'done') return row;
          const plan = planReplayPage(
            { maxEvents: Number(row.max_events), eventsMatched: Number(row.events_matched) },
            options.pageSize,
          );
          const from = boundIso(new Date(row.from_at));
          const to = boundIso(new Date(row.to_at));
          const after = row.cursor ?? (row.from_position === null ? 0n : row.from_position - 1n);
          const page: PageEvent[] = [];
          const until = row.until_position + 1n;
          for (const t of p.periods.sync().tables('asc', after, until)) {
            const rest = plan.limit - page.length;
            const start = t.watermarked && after < t.lo - 1n ? t.lo - 1n : after;
            const found = (
              row.event_type === null
                ? p.periods
                    .on(t.table, SQL.SELECT_REPLAY_PAGE, t.watermarked)
                    .all(start, row.until_position, from, to, rest)
                : p.periods
                    .on(t.table, SQL.SELECT_REPLAY_PAGE_OF_TYPE, t.watermarked)
                    .all(start, row.until_position, from, to, row.event_type, rest)
            ) as PageEvent[];
            for (const e of found) page.push(e);
            if (page.length >= plan.limit) break;
          }
          const taken = page.slice(0, plan.take);
          const requeue = taken.map((r) => r.position);
          let queued = 0;
          if (requeue.length > 0) {
            const events = `[${taken
              .map((e) => `[${e.position},${JSON.stringify(e.event_type)},${JSON.stringify(e.aggregate_id)}]`)
              .join(',')}]`;
            const params = { now, events, handler: row.handler };
            p.s.deleteDoneForReplay.run(params);
            const rows = p.s.requeueReplayPage.all({ ...params, replay: rowId }) as ChainRow[];
            rechain(p, rows);
            queued = rows.length;
          }
          const next = advanceReplay(
            {
              eventsMatched: Number(row.events_matched),
              deliveriesQueued: Number(row.deliveries_queued),
              cursor: row.cursor,
            },
            plan,
            { found: page.length, last: requeue.at(-1), queued },
          );
          return p.s.updateReplay.get(
            next.status,
            next.cursor,
            next.eventsMatched,
            next.deliveriesQueued,
            next.truncated ? 1 : 0,
            now,
            rowId,
          ) as ReplayRow;
        });
        if (job === PRUNING) return PRUNING;
        if (!job) {
          throw new NotFoundError('replay', replayId, { source: SOURCE });
        }
        return toReplayJob(job);
      }),
    );
  }

  async getReplay(replayId: string): Promise<ReplayProgress | undefined> {
    const rowId = parseReplayId(replayId);
    if (rowId === undefined) return undefined;
    return this.#run(
      'read a replay',
      (p) =>
        read(p, () => {
          const row = p.s.replay.get(rowId) as ReplayRow | undefined;
          if (!row) return undefined;
          let open = 0;
          let dead = 0;
          for (const c of p.s.countReplayDeliveries.all(rowId) as Array<{ status: string; n: bigint }>) {
            if (c.status === 'dead') dead += Number(c.n);
            else open += Number(c.n);
          }
          const job = toReplayJob(row);
          return {
            ...job,
            deliveriesOpen: open,
            deliveriesDead: dead,
            done: job.status === 'done' && open === 0,
          };
        }) as ReplayProgress | undefined,
    );
  }

  async listStaleReplays(options: { staleBefore: Date }): Promise<ReplayJob[]> {
    return this.#run('list stale replays', (p) =>
      (p.s.staleReplays.all(iso(options.staleBefore)) as ReplayRow[]).map(toReplayJob),
    );
  }

  /**
   * Runs a replay step unless a prune batch (of any process) is under way, else waits for it:
   * a replay must not queue deliveries for events a batch has archived and is about to remove.
   * The check is inside the step's write transaction, so it cannot race the batch's lock.
   */
  async #afterPruneBatch<T>(step: () => T | typeof PRUNING): Promise<T> {
    for (;;) {
      const result = step();
      if (result !== PRUNING) return result;
      await sleep(10);
    }
  }

  // ------------------------------------------------------------------------------------------
  // Retention
  // ------------------------------------------------------------------------------------------

  async pruneEvents(request: PruneRequest): Promise<PruneBatch> {
    checkPruneRequest(request);
    const now = iso(request.now);
    const params = pruneParams(request);
    const archive = request.archive;
    const batch = { params, limit: request.limit, before: request.before, now: request.now };
    if (!archive && this.#o.pruneThread === 'worker') {
      // On the worker's connection (see `pruneChosenThenRemoved`). The store's own
      // connection is opened first: it created and migrated the file the worker opens.
      this.#write('prune events', () => undefined);
      return prunedResult(await this.#pruneWorker()!.prune(batch), request.limit);
    }
    if (!archive) {
      // Without an archive nothing runs between the choice and the removal: both in one write
      // transaction, where no other batch and no replay step can come between them, so no lease
      // is taken. Unless another batch holds the lease (its archive running, its events chosen):
      // then this one takes its turn through the lease, as the worker's batch does.
      const done = this.#write('prune events', (p) =>
        write(p, () => {
          if (p.s.leaseHeld.get(PRUNE_LOCK, now)) return undefined;
          const chosen = chooseKeys(p, params, request.limit);
          const removed = chosen.last
            ? removeChosen(p, this.#prune, chosen.positions, request.before, now)
            : 0;
          return { ...chosen, removed };
        }),
      );
      return this.#pruned(
        done ?? (await pruneLeased((step) => this.#write('prune events', step), this.#prune, batch, sleep)),
        request,
      );
    }
    // One batch at a time across processes: a lease row, held from the choice of the batch to
    // its removal, so the archive runs outside any transaction and writers are never blocked.
    const holder = randomUUID();
    const lease = { name: PRUNE_LOCK, holder, now: request.now, ttlMs: PRUNE_LOCK_MS };
    while (!(await this.acquireLease(lease))) await sleep(10);
    try {
      const rows = this.#run('choose events to prune', (p) =>
        read(p, () =>
          pruneCandidates(p, SQL.SELECT_PRUNE_CANDIDATES, SQL.SELECT_PRUNE_CANDIDATES_UNCHECKED, params),
        ),
      ) as EventRow[];
      const events = rows.slice(0, request.limit).map(toRecordedEvent);
      if (events.length > 0) await this.#holdingLease(lease, () => archive(events));
      const last = events[events.length - 1];
      const removed = last
        ? this.#write('prune events', (p) =>
            write(p, () =>
              removeChosen(
                p,
                this.#prune,
                rows.slice(0, events.length).map((r) => r.position),
                request.before,
                now,
              ),
            ),
          )
        : 0;
      return await this.#pruned({ found: rows.length, last, removed }, request);
    } finally {
      await this.releaseLease(lease).catch(() => {});
    }
  }

  /** A batch removed on this store's connection: space given back, then its result. */
  async #pruned(batch: PrunedBatch, request: PruneRequest): Promise<PruneBatch> {
    if (batch.removed > 0) {
      await reclaimSpace((step) => this.#run('reclaim space', step), this.#prune, batch.removed);
    }
    return prunedResult(batch, request.limit);
  }

  /**
   * Runs `work` (an archive hook, which may take minutes) while renewing `lease` every third of
   * its time, on the lease's own clock (its `now` plus the time elapsed since), so the lease
   * expires only if this process stops.
   */
  async #holdingLease<T>(lease: LeaseRequest, work: () => Promise<T>): Promise<T> {
    const started = Date.now();
    const renew = setInterval(() => {
      const now = new Date(lease.now.getTime() + (Date.now() - started));
      this.acquireLease({ ...lease, now }).catch(() => {});
    }, lease.ttlMs / 3);
    renew.unref();
    try {
      return await work();
    } finally {
      clearInterval(renew);
    }
  }

  async enableIncrementalVacuum(): Promise<boolean> {
    return this.#write('enable incremental vacuum', (p) => {
      if (Number(p.db.pragma('auto_vacuum', { simple: true })) === 2) return false;
      p.db.pragma('auto_vacuum = INCREMENTAL');
      p.db.exec('VACUUM');
      return true;
    });
  }

  async getPrunedRanges(): Promise<PrunedRange[]> {
    return this.#run('read pruned ranges', (p) =>
      (
        p.s.pruned.all() as Array<{
          event_type: string;
          before: string;
          removed: bigint;
          last_pruned_at: string;
        }>
      ).map((r) => ({
        eventType: r.event_type,
        before: new Date(r.before),
        removed: Number(r.removed),
        lastPrunedAt: new Date(r.last_pruned_at),
      })),
    );
  }

  async acquireLease(request: LeaseRequest): Promise<boolean> {
    const now = iso(request.now);
    const expires = iso(new Date(request.now.getTime() + request.ttlMs));
    return this.#write('take a lease', (p) =>
      write(p, () => p.s.acquireLease.get(request.name, request.holder, expires, now) !== undefined),
    );
  }

  async releaseLease(request: { name: string; holder: string }): Promise<void> {
    this.#write('release a lease', (p) => write(p, () => p.s.releaseLease.run(request.name, request.holder)));
  }

  // ------------------------------------------------------------------------------------------
  // Status
  // ------------------------------------------------------------------------------------------

  async stats(options: { now: Date }): Promise<StoreStats> {
    const now = iso(options.now);
    return this.#run('read stats', (p) =>
      read(p, () => {
        const counts = p.s.openCounts.all() as Array<{
          handler: string;
          status: 'pending' | 'running' | 'dead';
          n: bigint;
          oldest: string;
        }>;
        return summarizeStats({
          lastPosition: nullablePosition((p.s.lastPosition.get() as { position: bigint | null }).position),
          unprocessedEvents: Number((p.s.countUnprocessed.get() as { n: bigint }).n),
          backlog: counts.map((c) => ({
            handler: c.handler,
            [c.status]: Number(c.n),
            oldestPendingAt: c.status === 'dead' ? null : new Date(c.oldest),
          })),
          live: (p.s.liveHandlers.all(now) as Array<{ handler: string }>).map((r) => r.handler),
        });
      }),
    ) as StoreStats;
  }

  async healthCheck(): Promise<HealthStatus> {
    const started = performance.now();
    const details: Record<string, unknown> = { store: 'sqlite', filename: maskSecrets(this.filename) };
    if (this.#closed) {
      return { healthy: false, latencyMs: 0, details: { ...details, closed: true } };
    }
    try {
      const { journalMode, applied } = this.#run('check health', (p) => ({
        journalMode: p.db.pragma('journal_mode', { simple: true }),
        // Another process may have migrated the file past this one since it opened it (a newer
        // release sharing the file): one primary-key read of a table of a few rows.
        applied: readSchemaVersion(p.db, this.#o.tablePrefix),
      }));
      const newer = newerThanRunning(applied, this.filename, SOURCE);
      if (newer) return unhealthyStatus(newer, started, details);
      const file = this.#identity ? this.#fileState() : undefined;
      const healthy = file === undefined || file === 'present';
      return {
        healthy,
        latencyMs: performance.now() - started,
        details: {
          ...details,
          ...(file ? { file } : {}),
          ...(healthy
            ? {}
            : { error: this.#fileMovedError('write', file as 'deleted' | 'replaced').message }),
          journalMode,
          schemaVersion: LATEST_VERSION,
          closed: false,
        },
      };
    } catch (error) {
      return unhealthyStatus(error, started, details);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // The worker's batch under way finishes first (its connection is its own).
    await this.#pruneThread?.close();
    const p = this.#p;
    this.#p = undefined;
    this.#reads.clear();
    if (p && this.#ownsDatabase) p.db.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/** A replay step found a prune batch under way (see `#afterPruneBatch`). */
const PRUNING: unique symbol = Symbol('pruning');

/** Checks what `appendWithinSync` was given before touching anything. */
function assertTransactionHandle(db: unknown): asserts db is SqliteDatabase {
  if (!isDatabase(db)) {
    throw new InvalidTransactionError(
      'publishing in a transaction with store-sqlite takes the better-sqlite3 Database your transaction is open on',
      { source: SOURCE },
    );
  }
  if (!db.open) throw new InvalidTransactionError('the database passed is closed', { source: SOURCE });
  if (!db.inTransaction) {
    throw new InvalidTransactionError(
      'no transaction is open on the database passed: call it inside db.transaction(() => …), or between BEGIN and COMMIT',
      { source: SOURCE },
    );
  }
}

/** What a status change returns about the delivery's place in its (handler, aggregate) chain. */
interface ChainRow {
  handler: string;
  aggregate_id: string;
  ordered: bigint | number;
}

interface RedrivenRow extends ChainRow {
  event_position: bigint;
  is_replay: bigint | number;
  replay_id: bigint | number | null;
}

/** A delivery left the open set: the next one of its chain, if any, may be claimed now. */
function promote(p: Prepared, row: ChainRow | undefined): void {
  if (row && Number(row.ordered) === 1) p.s.promoteChainHead.run(row.handler, row.aggregate_id);
}

/** Deliveries re-entered their chains, possibly ahead of the head: elect each chain's head again. */
function rechain(p: Prepared, rows: readonly ChainRow[]): void {
  const seen = new Set<string>();
  for (const row of rows) {
    if (Number(row.ordered) !== 1) continue;
    const key = `${row.handler}\u0000${row.aggregate_id}`;
    if (seen.has(key)) continue;
    seen.add(key);
    p.s.demoteChain.run(row.handler, row.aggregate_id);
    p.s.promoteChainHead.run(row.handler, row.aggregate_id);
  }
}

/** Where `readShape` put the `afterPosition` parameter of a shape that has one. */
function afterParamIndex(key: string): number {
  const count: Record<string, number> = { windowFromTo: 6, windowFrom: 2, windowTo: 2, asc: 1, desc: 1 };
  let index = 0;
  for (const part of key.split(',')) {
    if (part === 'afterPosition') return index;
    index += count[part] ?? 1;
  }
  return -1;
}

/** The statement shape (which filters are present, joined by commas) and its parameters. */
export function readShape(query: Omit<ReadQuery, 'eventType'> & { eventType?: string | undefined }): {
  key: string;
  params: unknown[];
} {
  const parts: string[] = [];
  const params: unknown[] = [];
  // Several types are read one by one (see `read`).
  if (query.eventType !== undefined) {
    parts.push('eventType');
    params.push(query.eventType);
  }
  if (query.aggregateId !== undefined) {
    parts.push('aggregateId');
    params.push(query.aggregateId);
  }
  if (query.aggregateType !== undefined) {
    parts.push('aggregateType');
    params.push(query.aggregateType);
  }
  if (query.correlationId !== undefined) {
    parts.push('correlationId');
    params.push(query.correlationId);
  }
  if (query.causationId !== undefined) {
    parts.push('causationId');
    params.push(query.causationId);
  }
  // An aggregate, a flow or a cause is a short index range already: a window only filters it.
  const narrow =
    query.aggregateId !== undefined || query.correlationId !== undefined || query.causationId !== undefined;
  const from = query.from === undefined ? undefined : boundIso(query.from);
  const to = query.to === undefined ? undefined : boundIso(query.to);
  if (!narrow && from !== undefined && to !== undefined) {
    parts.push('windowFromTo');
    params.push(from, to, from, to, from, to);
  } else if (!narrow && from !== undefined) {
    parts.push('windowFrom');
    params.push(from, from);
  } else if (!narrow && to !== undefined) {
    parts.push('windowTo');
    params.push(to, to);
  } else {
    if (from !== undefined) {
      parts.push('from');
      params.push(from);
    }
    if (to !== undefined) {
      parts.push('to');
      params.push(to);
    }
  }
  if (query.afterPosition !== undefined) {
    parts.push('afterPosition');
    params.push(cursorParam(query.afterPosition, 'afterPosition'));
  }
  if (query.beforePosition !== undefined) {
    parts.push('beforePosition');
    params.push(cursorParam(query.beforePosition, 'beforePosition'));
  }
  parts.push(query.order === 'desc' ? 'desc' : 'asc');
  params.push(query.limit);
  return { key: parts.join(','), params };
}

/** A replay page's event, as `SELECT_REPLAY_PAGE` reads it. */
interface PageEvent {
  position: bigint;
  event_type: string;
  aggregate_id: string;
}

/** The lowest and highest position inside a time window, over every table. */
function windowBounds(p: Prepared, from: string, to: string): { lo: bigint | null; hi: bigint | null } {
  let lo: bigint | null = null;
  let hi: bigint | null = null;
  const tables = p.periods.sync().tables('asc');
  // The lowest from the oldest table that has one, the highest from the newest.
  for (const t of tables) {
    const b = p.periods.on(t.table, SQL.SELECT_WINDOW_BOUNDS, t.watermarked).get(from, to) as {
      lo: bigint | null;
    };
    if (b.lo !== null && (lo === null || b.lo < lo)) lo = b.lo;
    if (lo !== null) break;
  }
  for (const t of [...tables].reverse()) {
    const b = p.periods.on(t.table, SQL.SELECT_WINDOW_BOUNDS, t.watermarked).get(from, to) as {
      hi: bigint | null;
    };
    if (b.hi !== null && (hi === null || b.hi > hi)) hi = b.hi;
    if (hi !== null) break;
  }
  return { lo, hi };
}
