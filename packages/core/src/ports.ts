import type { AnyEventInput, DomainEvent, RecordedEvent } from './event.js';
import type { Position } from './position.js';

// ---------------------------------------------------------------------------------------------
// Logger
// ---------------------------------------------------------------------------------------------

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

export interface LogFn {
  (obj: object, msg?: string): void;
  (msg: string): void;
}

/** The subset of pino's logger evco uses: pass a pino (or pino-compatible) logger as is. */
export interface Logger {
  trace?: LogFn | undefined;
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  child?(bindings: Record<string, unknown>): Logger;
  /** When present and `false` for a level, evco skips building that log entry. */
  isLevelEnabled?(level: string): boolean;
}

// ---------------------------------------------------------------------------------------------
// Store
// ---------------------------------------------------------------------------------------------

export interface StoreCapabilities {
  /** Events survive a process restart. */
  durable: boolean;
  /** Several OS processes may share the store (claims are exclusive across them). */
  crossProcess: boolean;
}

export type DeliveryStatus = 'pending' | 'running' | 'done' | 'dead';

/**
 * `aggregate`: a handler gets the events of one aggregate in append order, one at a time.
 * `none`: no ordering promise, more parallelism.
 */
export type HandlerOrdering = 'aggregate' | 'none';

export interface SubscriptionSpec {
  /** Stable handler name, the same in every process that runs it. */
  handler: string;
  eventType: string;
  ordering: HandlerOrdering;
}

export interface SubscriptionInfo extends SubscriptionSpec {
  /** The subscription gets new deliveries until then; processes running it keep pushing it forward. */
  expiresAt: Date;
  lastSeenAt: Date;
  lastSeenBy: string;
}

export interface AppendResult {
  /** The stored events, in the order given, with their positions. */
  events: RecordedEvent[];
  /** Number of deliveries created for each event (one per live subscription of its type). */
  deliveries: number[];
}

export type ReadOrder = 'asc' | 'desc';

export interface EventQuery {
  /** One type or any of several. Matched literally. */
  eventType?: string | readonly string[] | undefined;
  aggregateId?: string | undefined;
  aggregateType?: string | undefined;
  /** Events whose `metadata.correlationId` is this (one flow). Indexed in the SQL stores. */
  correlationId?: string | undefined;
  /** Events whose `metadata.causationId` is this: the direct effects of one event. Indexed in the SQL stores. */
  causationId?: string | undefined;
  /** Inclusive lower bound on `occurredAt`. */
  from?: Date | undefined;
  /** Exclusive upper bound on `occurredAt`. */
  to?: Date | undefined;
  /** Only events with a greater position (cursor for ascending pages). */
  afterPosition?: Position | undefined;
  /** Only events with a smaller position (cursor for descending pages). */
  beforePosition?: Position | undefined;
}

export interface ReadQuery extends EventQuery {
  limit: number;
  /** @default 'asc' (by position) */
  order?: ReadOrder | undefined;
}

export interface ReadAllQuery extends EventQuery {
  /** @default 1000 */
  pageSize?: number | undefined;
}

export interface ClaimRequest {
  /** Who holds the lease (a coordinator id). */
  consumerId: string;
  /** Only deliveries for these handler names. */
  handlers: readonly string[];
  now: Date;
  leaseMs: number;
  limit: number;
  /**
   * Optional hint: whether any of `handlers` is registered `aggregate`-ordered by the caller
   * (the dispatcher passes it from its registrations). `false` lets a store skip work that only
   * ordered handlers need (store-postgres: asking, when a claim finds nothing, for an ordered
   * delivery held back until its event settles, so it can wait for it). It never changes what
   * is claimable: a delivery made for an ordered subscription keeps its order whatever the hint.
   * Undefined: unknown, as if true.
   */
  ordered?: boolean | undefined;
}

/** A lease on one delivery. `attempt` identifies the lease: a stale holder cannot complete a newer one. */
export interface DeliveryToken {
  deliveryId: string;
  attempt: number;
  /**
   * Which lease of this attempt, when the store issues one with each claim (store-postgres
   * does): passed back with the token, so a token from a claim the store lost in a crash never
   * matches a later claim at the same attempt number. Opaque; a store that issues none ignores it.
   */
  lease?: string | undefined;
}

export interface ClaimedDelivery extends DeliveryToken {
  handler: string;
  isReplay: boolean;
  event: RecordedEvent;
}

export interface DeliveryFailure extends DeliveryToken {
  error: string;
  /** When to try again; `null` moves the delivery to the dead letters. */
  nextAttemptAt: Date | null;
}

export interface DeliveryInfo {
  deliveryId: string;
  handler: string;
  status: DeliveryStatus;
  attempts: number;
  nextAttemptAt: Date | null;
  lastError: string | null;
  isReplay: boolean;
  updatedAt: Date;
}

export interface UnprocessedEvent {
  event: RecordedEvent;
  /** The deliveries that are not done. */
  deliveries: DeliveryInfo[];
}

export interface DeadLetter {
  event: RecordedEvent;
  delivery: DeliveryInfo;
}

export interface ListQuery {
  limit: number;
  /** Cursor: only entries after this event position. */
  afterPosition?: Position | undefined;
  handler?: string | undefined;
}

export interface RetryDeadLettersQuery {
  /** Only these deliveries; otherwise every dead delivery (optionally of one handler). */
  deliveryIds?: readonly string[] | undefined;
  handler?: string | undefined;
  now: Date;
}

export interface ReplaySpec {
  /** Inclusive lower bound on `occurredAt`. */
  from: Date;
  /** Exclusive upper bound on `occurredAt`. */
  to: Date;
  eventType?: string | undefined;
  /** Only this handler; otherwise every live subscription of the replayed events' types. */
  handler?: string | undefined;
  /** Stop after this many events (bounded replay). */
  maxEvents: number;
}

export type ReplayStatus = 'running' | 'done';

export interface ReplayJob extends ReplaySpec {
  id: string;
  status: ReplayStatus;
  /** Position of the last event requeued; the next page starts after it. */
  cursor: Position | null;
  eventsMatched: number;
  deliveriesQueued: number;
  /** True when the range held more than `maxEvents` events. */
  truncated: boolean;
  createdAt: Date;
  updatedAt: Date;
}

/**
 * A replay job with what it still waits for: deliveries it queued that are not done yet.
 * Deliveries a replay finds already open are left alone and not counted (they run anyway).
 */
export interface ReplayProgress extends ReplayJob {
  /** Deliveries queued by this replay that are pending or running. */
  deliveriesOpen: number;
  /** Deliveries queued by this replay that went to the dead letters. */
  deliveriesDead: number;
  /** Every page is queued (`status: 'done'`) and none of its deliveries is still open. */
  done: boolean;
}

export interface HandlerStats {
  handler: string;
  pending: number;
  running: number;
  dead: number;
  /** Pending deliveries of a handler whose subscription nobody renews any more. */
  orphaned: number;
  /**
   * When the handler's oldest pending or running delivery was queued (its lag; see
   * `StoreStats.oldestPendingAt`); stores that cannot tell leave it out.
   */
  oldestPendingAt?: Date | null | undefined;
}

export interface StoreStats {
  /** Highest position written, `null` when empty. */
  lastPosition: Position | null;
  pending: number;
  /** Leased deliveries, counting expired leases no claim has taken over yet (see `claimDue`). */
  running: number;
  dead: number;
  /** Events with at least one delivery not done. */
  unprocessedEvents: number;
  /**
   * When the oldest pending or running delivery was queued (lag = now - this): appended, or, for
   * a re-driven dead letter or a replayed delivery, re-driven or replayed (each is a new
   * delivery). Retries and lease take-overs keep the time.
   */
  oldestPendingAt: Date | null;
  orphaned: number;
  handlers: HandlerStats[];
}

/** Where the next batch of one prune run starts: events skipped so far are not looked at again. */
export interface PruneCursor {
  occurredAt: Date;
  position: Position;
}

export interface PruneRequest {
  /** Removes events whose `occurredAt` is before this. */
  before: Date;
  /** Only events of these types; any type when absent. */
  eventTypes?: readonly string[] | undefined;
  /** No events of these types (a default policy next to per-type ones). */
  excludeEventTypes?: readonly string[] | undefined;
  /** At most this many events in this call (one short transaction). */
  limit: number;
  /** The previous batch's `next`, to carry on one run past events that must stay. */
  after?: PruneCursor | undefined;
  /**
   * Receives the batch before it is removed. If it throws, nothing of the batch is removed and
   * the error is rethrown. Batches of concurrent prunes never overlap, so each removed event is
   * handed over exactly once.
   */
  archive?: ((events: readonly RecordedEvent[]) => Promise<void>) | undefined;
  now: Date;
}

export interface PruneBatch {
  /** Events removed by this call (with all their delivery rows). */
  removed: number;
  /** Where the next batch starts; `null` when no eligible event is left after this one. */
  next: PruneCursor | null;
}

/**
 * Events of one type whose `occurredAt` is before `before` were removed by retention (except
 * those that had to stay: an open or dead delivery, or inside a running replay).
 */
export interface PrunedRange {
  eventType: string;
  before: Date;
  /** Events of this type removed so far, all prunes together. */
  removed: number;
  lastPrunedAt: Date;
}

export interface LeaseRequest {
  /** What the lease is for, e.g. `retention`. */
  name: string;
  /** Who holds it (a coordinator id). */
  holder: string;
  now: Date;
  /** The lease lasts until `now + ttlMs` unless renewed. */
  ttlMs: number;
}

export interface HealthStatus {
  healthy: boolean;
  latencyMs: number;
  details: Record<string, unknown>;
}

/** What `migrate()` did: the schema version it found (0: none, it created the schema) and the one now. */
export interface SchemaMigration {
  fromVersion: number;
  toVersion: number;
}

/**
 * Durable home of events and of the delivery state of every (event, handler) pair. The store is
 * the source of truth: the publisher only rings a doorbell.
 *
 * All timestamps that drive leases and retries are passed in (`now`) so that every process and
 * every test agrees on one clock model; stores never read the wall clock for them.
 */
export interface EventStore {
  /** Short adapter name used in logs and the status view (`memory`, `sqlite`, `postgres`). */
  readonly name: string;
  readonly capabilities: StoreCapabilities;
  /**
   * Idempotent; safe from several processes at once. A store with versioned schemas says what it
   * did (`evco migrate` prints it); one without (store-memory) returns nothing.
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: an adapter's `migrate(): Promise<void>` stays valid
  migrate?(): Promise<SchemaMigration | void>;

  /**
   * Stores the events atomically (all or nothing) together with one pending delivery per live
   * subscription of each event's type. Throws `DuplicateEventError` for a known event id and
   * `ConcurrencyError` for a taken `(aggregateId, aggregateVersion)`.
   */
  append(events: readonly DomainEvent[], options: { now: Date }): Promise<AppendResult>;
  /**
   * Optional, the transactional outbox: `append`, but inside a transaction the application
   * holds, on the application's own connection, so the events and their deliveries commit or
   * roll back with the application's writes. Each store defines its transaction handle
   * (store-postgres: the `pg` client on which BEGIN ran; store-sqlite: the better-sqlite3
   * `Database` the transaction is open on). A handle that is not one, not in a transaction or
   * on another database is refused with `INVALID_TRANSACTION` before anything is written.
   * Announces nothing: the coordinator does that after the commit.
   */
  appendWithin?(
    transaction: unknown,
    events: readonly DomainEvent[],
    options: { now: Date },
  ): Promise<AppendResult>;
  /**
   * `appendWithin` for stores whose driver is synchronous (store-sqlite): returns at once, so
   * it can run inside `db.transaction(() => …)`, which refuses a function that awaits.
   */
  appendWithinSync?(
    transaction: unknown,
    events: readonly DomainEvent[],
    options: { now: Date },
  ): AppendResult;
  /**
   * Optional, with the outbox: whether `transaction` is inside a transaction right now (`true`
   * while it is open or aborted and not yet rolled back), `undefined` when the store cannot
   * tell. `afterCommit()` asks it once, when called, and refuses a call made before COMMIT
   * with `INVALID_TRANSACTION`. Synchronous and without I/O: it reads the driver's state.
   */
  transactionOpen?(transaction: unknown): boolean | undefined;
  read(query: ReadQuery): Promise<RecordedEvent[]>;
  /** Pages through every matching event in position order; never skips or repeats one. */
  readAll(query?: ReadAllQuery): AsyncIterable<RecordedEvent>;
  getEvent(id: string): Promise<RecordedEvent | undefined>;
  /**
   * The deliveries of one event, one per handler, sorted by handler name: every open (pending,
   * running) and dead one; done ones only where the store keeps them (store-sqlite keeps them,
   * store-memory and store-postgres forget them). Empty for an unknown event.
   */
  getDeliveries(eventId: string): Promise<DeliveryInfo[]>;

  /** Creates or renews subscriptions: they get deliveries until `now + ttlMs`. */
  registerSubscriptions(
    subscriptions: readonly SubscriptionSpec[],
    options: { consumerId: string; now: Date; ttlMs: number },
  ): Promise<void>;
  listSubscriptions(): Promise<SubscriptionInfo[]>;
  /** Deletes a handler's subscriptions and its deliveries that are not done. Returns how many deliveries went. */
  retireHandler(handler: string): Promise<number>;

  /**
   * Atomically leases due deliveries: pending with `nextAttemptAt <= now`, or running with an
   * expired lease; for `aggregate`-ordered handlers only when no earlier delivery of the same
   * aggregate for the same handler is pending or running. Increments `attempt`.
   *
   * A claim changes only the deliveries it returns. A delivery whose lease expired stays
   * `running` (its holder may still complete or fail it) until a claim of its own handler takes
   * it over; claims of other handlers, or beyond `limit`, leave it alone.
   */
  claimDue(request: ClaimRequest): Promise<ClaimedDelivery[]>;
  /** Marks leased deliveries done. Tokens whose lease moved on are ignored. */
  complete(tokens: readonly DeliveryToken[], options: { now: Date }): Promise<void>;
  /**
   * Optional: `complete(tokens)` then `claimDue(request)` as one atomic step (store-postgres:
   * one statement, so one round trip and one transaction instead of two). Never claims a
   * delivery of `tokens` (an expired lease being completed by its holder); a delivery that a
   * completion unblocks (the next of an aggregate) may wait for the next claim. When it fails,
   * neither happened. The dispatcher uses it, when present, to claim with each completion write.
   */
  completeAndClaim?(tokens: readonly DeliveryToken[], request: ClaimRequest): Promise<ClaimedDelivery[]>;
  /** Schedules a retry or moves to the dead letters. Tokens whose lease moved on are ignored. */
  fail(failures: readonly DeliveryFailure[], options: { now: Date }): Promise<void>;
  /** Gives leases back without counting a failure (graceful shutdown). */
  release(tokens: readonly DeliveryToken[], options: { now: Date }): Promise<void>;

  getUnprocessedEvents(query: ListQuery): Promise<UnprocessedEvent[]>;
  getDeadLetters(query: ListQuery): Promise<DeadLetter[]>;
  /** Moves dead deliveries back to pending with a fresh attempt count. Returns how many. */
  retryDeadLetters(query: RetryDeadLettersQuery): Promise<number>;

  /** Records a replay so that it survives a crash; `continueReplay` then requeues it page by page. */
  startReplay(spec: ReplaySpec, options: { now: Date }): Promise<ReplayJob>;
  /**
   * Requeues the next page of a replay in one transaction, advancing its cursor in the same
   * transaction: done deliveries go back to pending (marked replay), missing ones are created.
   */
  continueReplay(replayId: string, options: { now: Date; pageSize: number }): Promise<ReplayJob>;
  /**
   * A replay job and its progress (deliveries it queued still open or dead), or `undefined` for
   * an id this store never issued. Replayed deliveries carry their replay's id for this count.
   */
  getReplay(replayId: string): Promise<ReplayProgress | undefined>;
  /** Replays still running whose last progress is older than `staleBefore` (their driver died). */
  listStaleReplays(options: { staleBefore: Date }): Promise<ReplayJob[]>;

  /**
   * Optional wake-up from the store itself (e.g. Postgres LISTEN/NOTIFY): called with the event
   * types of an append made by any process, or `undefined` when appends may have been missed.
   * A doorbell only; the coordinator wakes its dispatcher. Returns the unsubscribe function.
   */
  onAppended?(listener: (eventTypes: readonly string[] | undefined) => void): () => void;

  /**
   * Retention (optional capability; every evco store has it). Removes, in one short transaction,
   * up to `limit` events older than `before` (by `occurredAt`, oldest first) that have no open
   * (pending, running) or dead delivery and lie in no running replay's range, with their
   * delivery rows, and records the cutoff per event type removed (`getPrunedRanges`). Batches of
   * concurrent calls, from any process, never overlap.
   */
  pruneEvents?(request: PruneRequest): Promise<PruneBatch>;
  /** The pruned cutoff of every event type that lost events to `pruneEvents`. */
  getPrunedRanges?(): Promise<PrunedRange[]>;
  /**
   * Takes or renews a named lease: `true` when `holder` holds it until `now + ttlMs` (it was
   * free, expired or already theirs), `false` while someone else holds it. One enforcer of the
   * retention policy per fleet.
   */
  acquireLease?(request: LeaseRequest): Promise<boolean>;
  /** Gives a lease back (only when `holder` holds it). */
  releaseLease?(request: { name: string; holder: string }): Promise<void>;

  stats(options: { now: Date }): Promise<StoreStats>;
  healthCheck(): Promise<HealthStatus>;
  /** Idempotent. */
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Publisher
// ---------------------------------------------------------------------------------------------

/** What travels on the doorbell: enough to decide whether to look, never the payload. */
export interface AnnouncedEvent {
  id: string;
  eventType: string;
  aggregateId: string;
  position: Position;
}

export interface Announcement {
  /** Coordinator id of the publishing process. */
  source: string;
  events: AnnouncedEvent[];
}

export type AnnouncementListener = (announcement: Announcement) => void;

export interface SubscriberHooks {
  /** The subscription was re-established after a disconnect: messages may have been missed. */
  onReconnect?: (() => void) | undefined;
  /** A message arrived that is not a valid announcement; it was dropped. */
  onMalformed?: ((reason: string) => void) | undefined;
}

export interface PublisherCapabilities {
  /** Announcements reach other OS processes. */
  crossProcess: boolean;
}

export interface EventPublisher {
  readonly name: string;
  readonly capabilities: PublisherCapabilities;
  /** Announces stored events. Rejects with `PublisherUnavailableError` when closed or unreachable. */
  publish(announcement: Announcement): Promise<void>;
  subscribe(listener: AnnouncementListener, hooks?: SubscriberHooks): () => void;
  healthCheck(): Promise<HealthStatus>;
  /** Idempotent. */
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Handlers and middleware
// ---------------------------------------------------------------------------------------------

export interface PublishOptions {
  /**
   * An event whose id is already stored counts as published (its stored position is returned,
   * with 0 new deliveries) instead of failing with `DUPLICATE_EVENT`. For reactions that may
   * run again. From a handler (`context.publish`), an input without `id` gets a derived one:
   * (handled event, handler, index of the event among this attempt's publishes), so a retry or
   * a replay finds its follow-up stored instead of publishing a second one. So does an event
   * built beforehand without an id (`createDomainEvent`, a definition's `create`); only an id
   * the caller gave is kept (`context.derivedId(...)` makes one that is stable across runs).
   */
  idempotent?: boolean | undefined;
}

export interface PublishResult {
  eventId: string;
  position: Position;
  /** Deliveries created: one per handler subscribed to the event type anywhere in the fleet. */
  deliveries: number;
}

/**
 * Events appended inside the application's transaction (`publishInTransaction`): they exist
 * once that transaction commits, and never if it rolls back.
 */
export interface TransactionalPublish {
  /** Positions and delivery counts as appended in the transaction (before `afterPublish`). */
  readonly results: readonly PublishResult[];
  /**
   * Call after the transaction committed: wakes this process's handlers, announces the events
   * to the other processes and runs the `afterPublish` middlewares, resolving with their
   * results. Never rejects for a failed announcement (logged and counted, like `publishEvent`).
   * Calling it again returns the same promise. Not called (a crash right after the commit, a
   * forgotten call), the events are still delivered: their delivery rows committed with them,
   * and every coordinator's recovery poll (`pollIntervalMs`) claims them. Do not call it after
   * a rollback: there is nothing to announce.
   *
   * Called while the handle is still in a transaction (before COMMIT, or inside
   * `db.transaction(() => …)`), it rejects with `INVALID_TRANSACTION` and announces nothing: the
   * other processes would look for events they cannot see yet, and `afterPublish` would run for
   * events a rollback may still remove. Call it again after COMMIT. The check reads the handle
   * when `afterCommit()` is called (stores that can tell: store-postgres, store-sqlite), so call
   * it right after COMMIT, before the handle can start another transaction (a pooled client
   * released and checked out again): that transaction would be taken for yours.
   */
  afterCommit(): Promise<PublishResult[]>;
}

export interface HandlerContext {
  /** 1 on the first try. */
  attempt: number;
  deliveryId: string;
  handlerName: string;
  isReplay: boolean;
  logger: Logger;
  /** Aborted when the handler times out or the coordinator stops waiting for it. */
  signal: AbortSignal;
  /**
   * Publishes follow-up events: they inherit the `correlationId` of the event being handled and
   * get its id as `causationId`, plus the metadata keys listed in the coordinator's
   * `propagateMetadata` and the trace context of installed instrumentation.
   */
  publish(event: DomainEvent | AnyEventInput, options?: PublishOptions): Promise<PublishResult>;
  publishEvents(
    events: ReadonlyArray<DomainEvent | AnyEventInput>,
    options?: PublishOptions,
  ): Promise<PublishResult[]>;
  /**
   * A UUID (v5, name-based) derived from the handled event's id, this handler's name and
   * `parts`: the same on every re-delivery. Use it as the id of what the reaction creates
   * (a record, a follow-up event published with `{ idempotent: true }`), so running the
   * reaction twice creates it once.
   */
  derivedId(...parts: string[]): string;
}

export interface EventHandlerObject<E extends RecordedEvent<string, object> = RecordedEvent> {
  handle(event: E, context: HandlerContext): Promise<void> | void;
}

export type EventHandlerFunction<E extends RecordedEvent<string, object> = RecordedEvent> = (
  event: E,
  context: HandlerContext,
) => Promise<void> | void;

/** An object with `handle(event, context)` or a plain (async) function. */
export type EventHandler<E extends RecordedEvent<string, object> = RecordedEvent> =
  | EventHandlerObject<E>
  | EventHandlerFunction<E>;

export interface PublishContext {
  /** Set when the publish comes from a handler. */
  causedBy?: RecordedEvent | undefined;
  /** With `causedBy`: metadata the attempt's instrumentation adds to follow-ups (its trace context). */
  metadata?: Readonly<Record<string, string>> | undefined;
}

/**
 * Runs around every publish. `beforePublish` may return an enriched event (it is validated
 * again) or throw to reject the publish: nothing is stored. `afterPublish` runs in reverse
 * order and may decorate the result.
 */
export interface EventBusMiddleware {
  name?: string | undefined;
  beforePublish?(event: DomainEvent, context: PublishContext): DomainEvent | Promise<DomainEvent>;
  afterPublish?(
    event: RecordedEvent,
    result: PublishResult,
  ): PublishResult | undefined | Promise<PublishResult | undefined>;
}
