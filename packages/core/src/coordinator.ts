import { hostname } from 'node:os';
import { z } from 'zod';
import {
  AdminOperations,
  type EventDetails,
  type EventHistoryQuery,
  type EventHistoryResult,
  type ReplayOptions,
  type ReplayReport,
  type SubscriptionStatus,
} from './admin.js';
import { parseInput } from './admin-schemas.js';
import type { CausationLimits } from './causation.js';
import { Dispatcher, type DispatcherMetrics, type RegisteredHandler } from './dispatcher.js';
import {
  CoordinatorClosedError,
  DuplicateHandlerError,
  EvcoError,
  InvalidOptionsError,
  type ValidationIssue,
} from './errors.js';
import {
  type DomainEvent,
  type DomainEventInput,
  type EventDefinition,
  type EventOf,
  NAME_PATTERN,
  type RecordedEvent,
} from './event.js';
import { EventBus, type EventBusMetrics } from './event-bus.js';
import { childLogger, createConsoleLogger } from './logger.js';
import {
  type CoordinatorOptions,
  type ResolvedOptions,
  resolveCoordinatorOptions,
  resolveRetry,
  retryPolicySchema,
} from './options.js';
import type {
  DeadLetter,
  EventHandler,
  EventPublisher,
  EventStore,
  HandlerOrdering,
  HealthStatus,
  Logger,
  PrunedRange,
  PublishOptions,
  PublishResult,
  TransactionalPublish,
  UnprocessedEvent,
} from './ports.js';
import type { Position } from './position.js';
import { type PruneEventsOptions, type PruneEventsResult, RetentionEnforcer } from './retention.js';
import type { RetryPolicy } from './retry.js';
import { collectFleetView, type HandlerStatus, lagMs } from './status.js';

export type { EventDetails, EventHistoryQuery, HandlerStatus, ReplayOptions, SubscriptionStatus };

export interface RegisterHandlerOptions {
  /** Stable name, the same in every process; deliveries are tracked under it. @default the function or class name */
  name?: string;
  retry?: Partial<RetryPolicy>;
  /** @default the coordinator's handlerTimeoutMs */
  timeoutMs?: number;
  /** @default 'aggregate' */
  ordering?: HandlerOrdering;
}

export interface HandlerRegistration {
  name: string;
  eventTypes: string[];
  /** Stops running this handler here. Its subscription stays until it expires or is retired. */
  unregister(): void;
}

export interface ReplayResult {
  replayId: string;
  events: number;
  deliveries: number;
  /** The range held more than `maxEvents` events; replay the rest with a later `from`. */
  truncated: boolean;
  /** Per event type, the cutoff below which retention removed events of the range: they were not replayed. */
  pruned: PrunedRange[];
}

export interface CoordinatorStatus {
  id: string;
  state: 'running' | 'stopping' | 'stopped';
  startedAt: Date;
  store: { name: string; capabilities: EventStore['capabilities']; health: HealthStatus };
  publisher: { name: string; capabilities: EventPublisher['capabilities']; health: HealthStatus };
  handlers: HandlerStatus[];
  counts: {
    /** Published by this process since start. */
    published: number;
    /** Handled successfully by this process since start. */
    handled: number;
    /** Failed attempts in this process (each retry and each dead letter). */
    failed: number;
    retried: number;
    timedOut: number;
    /** Dead deliveries in the store (whole fleet). */
    dead: number;
    pending: number;
    unprocessed: number;
    orphaned: number;
    inFlight: number;
    publishFailures: number;
    malformedAnnouncements: number;
    reconnects: number;
    /** Age of the oldest delivery not yet done, in ms (0 when none). */
    lagMs: number;
  };
  lastPosition: Position | null;
}

export type HandlerTarget =
  | string
  | EventDefinition<string, object>
  | ReadonlyArray<string | EventDefinition<string, object>>;

const registerOptionsSchema = z.strictObject({
  name: z
    .string()
    .min(1)
    .max(200)
    .regex(NAME_PATTERN, 'may only contain letters, digits and _ . : -')
    .optional(),
  retry: retryPolicySchema.optional(),
  timeoutMs: z.number().int().min(1).max(86_400_000).optional(),
  ordering: z.enum(['aggregate', 'none']).optional(),
});

let sequence = 0;

/**
 * Ties a store, a publisher, the bus and the dispatcher together for one process.
 * Create with `await createCoordinator(options)`.
 */
export class EventDrivenCoordinator {
  readonly id: string;
  readonly eventBus: EventBus;
  readonly eventStore: EventStore;
  readonly eventPublisher: EventPublisher;
  readonly logger: Logger;
  readonly startedAt = new Date();

  readonly #o: ResolvedOptions;
  readonly #dispatcher: Dispatcher;
  #state: 'running' | 'stopping' | 'stopped' = 'running';
  #shutdown: Promise<void> | undefined;
  #pendingRegistrations = new Set<Promise<void>>();
  #unsubscribe: (() => void) | undefined;
  #unsubscribeStore: (() => void) | undefined;
  #pollTimer: NodeJS.Timeout | undefined;
  #retention: RetentionEnforcer | undefined;
  #renewTimer: NodeJS.Timeout | undefined;
  #polls = 0;
  #malformed = 0;
  #reconnects = 0;
  readonly #admin: AdminOperations;

  /** Use `createCoordinator`, which also runs the store's migrations. */
  constructor(options: CoordinatorOptions) {
    this.#o = resolveCoordinatorOptions(options);
    const o = this.#o;
    this.id =
      options.id ??
      `${hostname()}:${process.pid}:${(++sequence).toString(36)}${Math.random().toString(36).slice(2, 8)}`;
    this.logger = childLogger(options.logger ?? createConsoleLogger(), { coordinator: this.id });
    this.eventStore = o.store;
    this.eventPublisher = o.publisher;
    this.#dispatcher = new Dispatcher({
      store: o.store,
      logger: this.logger,
      consumerId: this.id,
      now: o.clock,
      random: o.random,
      leaseMs: o.leaseMs,
      concurrency: o.concurrency,
      publish: (events, causedBy, options, metadata) =>
        this.eventBus.publishEvents(events, { causedBy, metadata }, options),
      instrumentation: o.instrumentation,
    });
    this.eventBus = new EventBus({
      store: o.store,
      publisher: o.publisher,
      logger: this.logger,
      source: this.id,
      now: o.clock,
      maxPayloadBytes: o.maxPayloadBytes,
      beforeAppend: () => this.#registrationsSettled(),
      afterAppend: (events) => {
        for (const e of events) {
          if (this.#dispatcher.handles(e.eventType)) {
            this.#dispatcher.wake();
            return;
          }
        }
      },
      isClosed: () => this.#state !== 'running',
      instrumentation: o.instrumentation,
      propagateMetadata: o.propagateMetadata,
    });
    for (const middleware of o.middleware) this.eventBus.addMiddleware(middleware);
    this.#admin = new AdminOperations({
      store: o.store,
      publisher: o.publisher,
      source: this.id,
      logger: this.logger,
      clock: o.clock,
      replayPageSize: o.replayPageSize,
      wake: () => this.#dispatcher.wake(),
      localHandlers: () => new Set(this.#dispatcher.handlerNames),
      replayQueued: (job, resumed) => {
        for (const instrument of this.#o.instrumentation) {
          try {
            instrument.replay?.({
              replayId: job.id,
              events: job.eventsMatched,
              deliveries: job.deliveriesQueued,
              truncated: job.truncated,
              resumed,
            });
          } catch (error) {
            this.logger.warn(
              { err: error, instrumentation: instrument.name },
              'instrumentation replay hook threw',
            );
          }
        }
      },
    });
  }

  /** Runs migrations, subscribes to announcements and starts the recovery poller. */
  async start(): Promise<this> {
    const o = this.#o;
    await o.store.migrate?.();
    this.#unsubscribe = o.publisher.subscribe(
      (announcement) => {
        // Our own appends already woke the dispatcher directly.
        if (announcement.source === this.id) return;
        for (const e of announcement.events) {
          if (this.#dispatcher.handles(e.eventType)) {
            this.#dispatcher.wake();
            return;
          }
        }
      },
      {
        onReconnect: () => {
          this.#reconnects += 1;
          this.logger.info('publisher reconnected; polling for anything missed meanwhile');
          this.#dispatcher.wake();
        },
        onMalformed: (reason) => {
          this.#malformed += 1;
          this.logger.warn({ reason }, 'dropped a malformed announcement');
        },
      },
    );
    this.#unsubscribeStore = o.store.onAppended?.((types) => {
      if (!types || types.some((t) => this.#dispatcher.handles(t))) this.#dispatcher.wake();
    });
    this.#pollTimer = setInterval(() => this.#poll(), o.pollIntervalMs);
    this.#pollTimer.unref?.();
    const renewEvery = Math.max(500, Math.min(60_000, Math.floor(o.subscriptionTtlMs / 3)));
    this.#renewTimer = setInterval(() => this.#renewSubscriptions(), renewEvery);
    this.#renewTimer.unref?.();
    if (o.retention) {
      this.#retention = new RetentionEnforcer({
        store: o.store,
        policy: o.retention,
        holder: this.id,
        logger: this.logger,
        clock: o.clock,
      });
      this.#retention.start();
    }
    this.#startInstrumentation();
    this.logger.info(
      {
        store: o.store.name,
        publisher: o.publisher.name,
        pollIntervalMs: o.pollIntervalMs,
        leaseMs: o.leaseMs,
      },
      'coordinator started',
    );
    return this;
  }

  #startInstrumentation(): void {
    const o = this.#o;
    const view = {
      id: this.id,
      storeName: o.store.name,
      stats: () => o.store.stats({ now: o.clock() }),
      handlerNames: () => this.#dispatcher.handlerNames,
    };
    for (const instrument of o.instrumentation) {
      try {
        instrument.start?.(view);
      } catch (error) {
        this.logger.warn(
          { err: error, instrumentation: instrument.name },
          'instrumentation start hook threw',
        );
      }
    }
  }

  #stopInstrumentation(): void {
    for (const instrument of this.#o.instrumentation) {
      try {
        instrument.stop?.();
      } catch (error) {
        this.logger.warn({ err: error, instrumentation: instrument.name }, 'instrumentation stop hook threw');
      }
    }
  }

  /** This process's counts since start (no store call): usable after shutdown too. */
  get metrics(): DispatcherMetrics &
    EventBusMetrics & { malformedAnnouncements: number; reconnects: number } {
    return {
      ...this.#dispatcher.metrics,
      ...this.eventBus.metrics,
      malformedAnnouncements: this.#malformed,
      reconnects: this.#reconnects,
    };
  }

  get state(): 'running' | 'stopping' | 'stopped' {
    return this.#state;
  }

  #assertRunning(operation: string): void {
    if (this.#state !== 'running') throw new CoordinatorClosedError(operation);
  }

  // ------------------------------------------------------------------------------------------
  // Publishing
  // ------------------------------------------------------------------------------------------

  publishEvent(event: DomainEvent | DomainEventInput, options?: PublishOptions): Promise<PublishResult> {
    return this.eventBus.publishEvent(event, {}, options);
  }

  /** Publishes the events atomically: all are stored, or none. */
  publishEvents(
    events: ReadonlyArray<DomainEvent | DomainEventInput>,
    options?: PublishOptions,
  ): Promise<PublishResult[]> {
    return this.eventBus.publishEvents(events, {}, options);
  }

  /**
   * Publishes inside a transaction your application holds (the transactional outbox): the
   * events and their deliveries are written on your connection, so they exist if and only if
   * your transaction commits. Validated and passed through `beforePublish` like `publishEvents`
   * (a bad event throws `EVENT_VALIDATION` before anything is written); announced only when you
   * call `afterCommit()` on the result after COMMIT — and delivered by the recovery poll even
   * if that call never happens.
   *
   * The handle is the store's (store-postgres: the `pg` client you ran BEGIN on). A handle that
   * is not in a transaction is refused with `INVALID_TRANSACTION`; a store without the outbox
   * (store-memory) with `UNSUPPORTED`. For better-sqlite3's synchronous `db.transaction(...)`
   * use `publishInTransactionSync`.
   *
   * ```ts
   * await client.query('BEGIN');
   * await client.query('INSERT INTO orders …', […]);
   * const outbox = await coordinator.publishInTransaction(client, [orderPlaced]);
   * await client.query('COMMIT');
   * await outbox.afterCommit();
   * ```
   */
  async publishInTransaction(
    transaction: unknown,
    events: DomainEvent | DomainEventInput | ReadonlyArray<DomainEvent | DomainEventInput>,
  ): Promise<TransactionalPublish> {
    const store = this.#o.store;
    if (typeof store.appendWithin !== 'function') throw outboxUnsupported(store, 'publishInTransaction');
    return this.eventBus.publishWithin(asBatch(events), (batch, now) =>
      store.appendWithin!(transaction, batch, { now }),
    );
  }

  /**
   * `publishInTransaction` that returns at once, for synchronous transactions: with
   * store-sqlite, call it inside your `db.transaction(() => …)` with that `db`. The
   * `beforePublish` middlewares must then be synchronous (a promise is `UNSUPPORTED`).
   *
   * ```ts
   * const placeOrder = db.transaction((order) => {
   *   insertOrder.run(order);
   *   return coordinator.publishInTransactionSync(db, [orderPlaced(order)]);
   * });
   * const outbox = placeOrder.immediate(order);
   * await outbox.afterCommit();
   * ```
   */
  publishInTransactionSync(
    transaction: unknown,
    events: DomainEvent | DomainEventInput | ReadonlyArray<DomainEvent | DomainEventInput>,
  ): TransactionalPublish {
    const store = this.#o.store;
    if (typeof store.appendWithinSync !== 'function') {
      throw outboxUnsupported(store, 'publishInTransactionSync');
    }
    return this.eventBus.publishWithinSync(asBatch(events), (batch, now) =>
      store.appendWithinSync!(transaction, batch, { now }),
    );
  }

  // ------------------------------------------------------------------------------------------
  // Handlers
  // ------------------------------------------------------------------------------------------

  /**
   * Registers a handler for one or more event types (names or `defineEvent` definitions).
   * Resolves once its subscription is stored, so events published afterwards — by any process
   * sharing the store — get a delivery for it.
   */
  registerHandler<D extends EventDefinition<string, object>>(
    target: D | readonly D[],
    handler: EventHandler<EventOf<D>>,
    options?: RegisterHandlerOptions,
  ): Promise<HandlerRegistration>;
  registerHandler<E extends RecordedEvent = RecordedEvent>(
    target: HandlerTarget,
    handler: EventHandler<E>,
    options?: RegisterHandlerOptions,
  ): Promise<HandlerRegistration>;
  async registerHandler(
    target: HandlerTarget,
    handler: EventHandler<RecordedEvent>,
    options: RegisterHandlerOptions = {},
  ): Promise<HandlerRegistration> {
    this.#assertRunning('register a handler');
    const parsed = parseInput(registerOptionsSchema, options, 'handler options');
    const targets = (Array.isArray(target) ? target : [target]) as Array<
      string | EventDefinition<string, object>
    >;
    const issues: ValidationIssue[] = [];
    if (targets.length === 0)
      issues.push({ path: 'eventType', message: 'at least one event type is required' });
    for (const t of targets) {
      const type = typeof t === 'string' ? t : t?.eventType;
      if (typeof type !== 'string' || type.length === 0 || type.length > 200 || !NAME_PATTERN.test(type)) {
        issues.push({ path: 'eventType', message: `"${String(type)}" is not a valid event type` });
      }
    }
    const isHandler =
      typeof handler === 'function' ||
      (typeof handler === 'object' &&
        handler !== null &&
        typeof (handler as { handle?: unknown }).handle === 'function');
    if (!isHandler)
      issues.push({ path: 'handler', message: 'must be a function or an object with handle()' });
    const name = parsed.name ?? defaultHandlerName(handler);
    if (!name) {
      issues.push({ path: 'name', message: 'the handler has no function or class name; pass { name }' });
    } else if (!NAME_PATTERN.test(name) || name.length > 200) {
      issues.push({
        path: 'name',
        message: `"${name}" may only contain letters, digits and _ . : -; pass { name }`,
      });
    }
    if (issues.length > 0) throw new InvalidOptionsError('handler registration', issues);
    const timeoutMs = parsed.timeoutMs ?? this.#o.handlerTimeoutMs;
    if (timeoutMs >= this.#o.leaseMs) {
      throw new InvalidOptionsError('handler options', [
        { path: 'timeoutMs', message: `must be below the coordinator's leaseMs (${this.#o.leaseMs})` },
      ]);
    }
    // One call per name: a later call under a taken name is a collision (another function) or an
    // implicit widening of the first one's types; both must be explicit.
    const taken = this.#dispatcher.registrationsOf(name!);
    if (taken.length > 0) {
      throw new DuplicateHandlerError(name!, taken[0]!.eventType, {
        reason: taken[0]!.handler !== handler ? 'other-function' : 'separate-call',
      });
    }
    const registrations: RegisteredHandler[] = [];
    for (const t of targets) {
      const eventType = typeof t === 'string' ? t : t.eventType;
      if (registrations.some((r) => r.eventType === eventType)) {
        throw new DuplicateHandlerError(name!, eventType);
      }
      registrations.push({
        name: name!,
        eventType,
        ordering: parsed.ordering ?? 'aggregate',
        retry: resolveRetry(parsed.retry, this.#o.retry),
        timeoutMs,
        handler: handler as EventHandler,
        parse: typeof t === 'string' ? undefined : (event) => t.parse(event),
      });
    }
    for (const r of registrations) this.#dispatcher.add(r);
    const persisted = this.#o.store.registerSubscriptions(
      registrations.map((r) => ({ handler: r.name, eventType: r.eventType, ordering: r.ordering })),
      { consumerId: this.id, now: this.#o.clock(), ttlMs: this.#o.subscriptionTtlMs },
    );
    const tracked = persisted.then(
      () => undefined,
      () => undefined,
    );
    this.#pendingRegistrations.add(tracked);
    try {
      await persisted;
    } catch (error) {
      for (const r of registrations) this.#dispatcher.remove(r.name, r.eventType);
      throw error;
    } finally {
      this.#pendingRegistrations.delete(tracked);
    }
    this.logger.debug(
      { handler: name, eventTypes: registrations.map((r) => r.eventType) },
      'handler registered',
    );
    // Deliveries may already be waiting for it (registered earlier, or by another process).
    this.#dispatcher.wake();
    return {
      name: name!,
      eventTypes: registrations.map((r) => r.eventType),
      unregister: () => {
        for (const r of registrations) this.#dispatcher.remove(r.name, r.eventType);
      },
    };
  }

  #registrationsSettled(): Promise<void> | undefined {
    if (this.#pendingRegistrations.size === 0) return undefined;
    return Promise.all(this.#pendingRegistrations).then(() => undefined);
  }

  async #renewSubscriptions(): Promise<void> {
    const registrations = this.#dispatcher.registrations();
    if (registrations.length === 0 || this.#state !== 'running') return;
    try {
      await this.#o.store.registerSubscriptions(
        registrations.map((r) => ({ handler: r.name, eventType: r.eventType, ordering: r.ordering })),
        { consumerId: this.id, now: this.#o.clock(), ttlMs: this.#o.subscriptionTtlMs },
      );
    } catch (error) {
      this.logger.warn({ err: error }, 'renewing subscriptions failed; will try again');
    }
  }

  /** Admin: deletes a handler's subscriptions everywhere and drops its unfinished deliveries. */
  async retireHandler(name: string): Promise<{ deliveriesRemoved: number }> {
    this.#assertRunning('retire a handler');
    return this.#admin.retireHandler(name);
  }

  // ------------------------------------------------------------------------------------------
  // Recovery
  // ------------------------------------------------------------------------------------------

  #poll(): void {
    if (this.#state !== 'running') return;
    this.#polls += 1;
    this.#dispatcher.wake();
    // Resuming abandoned replays is rarer work: every tenth poll.
    if (this.#polls % 10 === 0) void this.#resumeStaleReplays();
  }

  async #resumeStaleReplays(): Promise<void> {
    const o = this.#o;
    try {
      const stale = await o.store.listStaleReplays({
        staleBefore: new Date(o.clock().getTime() - o.leaseMs),
      });
      for (const job of stale) {
        if (this.#admin.isDriving(job.id)) continue;
        this.logger.info({ replayId: job.id }, 'resuming a replay whose driver stopped');
        await this.#admin.driveReplay(job.id, true);
      }
    } catch (error) {
      this.logger.warn({ err: error }, 'resuming replays failed; will try again');
    }
  }

  // ------------------------------------------------------------------------------------------
  // Queries and admin
  // ------------------------------------------------------------------------------------------

  /** Stored events, filtered; positions are a cursor for the next page. */
  async getEventHistory(query: EventHistoryQuery = {}): Promise<RecordedEvent[]> {
    this.#assertRunning('read history');
    return this.#admin.getEventHistory(query);
  }

  /**
   * `getEventHistory` with what retention removed from the range: `pruned` lists, per event type
   * the query covers, the cutoff below which events were pruned, so a short page over an old
   * range says why instead of silently returning less.
   */
  async readEventHistory(query: EventHistoryQuery = {}): Promise<EventHistoryResult> {
    this.#assertRunning('read history');
    return this.#admin.readEventHistory(query);
  }

  /**
   * Removes events older than `before` (by `occurredAt`; optionally only some types) in batches
   * of `batchSize`, each handed to `archive` first (a throwing archive keeps its batch and stops
   * the prune with its error). Never removes an event with an open or dead delivery, or one
   * inside a running replay. Safe next to the retention enforcer and other prunes: each event
   * goes once.
   */
  async pruneEvents(options: PruneEventsOptions): Promise<PruneEventsResult> {
    this.#assertRunning('prune events');
    return this.#admin.pruneEvents(options);
  }

  /**
   * One event with its deliveries (per handler) and its causation tree: the chain of causes up
   * to the root, and the events it caused, recursively (bounded; `truncated` says when a limit
   * cut it). `undefined` for an unknown id.
   */
  async getEventDetails(id: string, limits?: CausationLimits): Promise<EventDetails | undefined> {
    this.#assertRunning('read an event');
    return this.#admin.getEventDetails(id, limits);
  }

  /**
   * Re-queues deliveries of the stored events whose `occurredAt` is in `[from, to)` and waits
   * until every page is queued (not until the handlers ran: see `getReplay`). Durable: the
   * replay is recorded first and advanced page by page, each page in one transaction, so a
   * crash mid-way is resumed by any coordinator's poller. Handlers see `context.isReplay`.
   */
  async replayEvents(options: ReplayOptions): Promise<ReplayResult> {
    this.#assertRunning('replay events');
    const job = await this.#admin.createReplay(options);
    const done = await this.#admin.driveReplay(job.id);
    return {
      replayId: done.id,
      events: done.eventsMatched,
      deliveries: done.deliveriesQueued,
      truncated: done.truncated,
      pruned: await this.#admin.replayPruned(done),
    };
  }

  /**
   * Starts the same durable replay as `replayEvents` but resolves at once with the job; this
   * process queues its pages in the background (any coordinator resumes it if this one stops).
   * Follow it with `getReplay(id)` until `done`.
   */
  async startReplay(options: ReplayOptions): Promise<ReplayReport> {
    this.#assertRunning('replay events');
    return this.#admin.startReplay(options);
  }

  /** A replay job and how many of the deliveries it queued are still open or dead; `undefined` for an unknown id. */
  async getReplay(id: string): Promise<ReplayReport | undefined> {
    this.#assertRunning('read a replay');
    return this.#admin.getReplay(id);
  }

  /** Every subscription in the store, with whether this process runs it and whether it expired. */
  async listSubscriptions(): Promise<SubscriptionStatus[]> {
    this.#assertRunning('list subscriptions');
    return this.#admin.listSubscriptions();
  }

  /** Events that have at least one delivery not done (pending, running or dead), oldest first. */
  async getUnprocessedEvents(
    query: { limit?: number; afterPosition?: Position } = {},
  ): Promise<UnprocessedEvent[]> {
    this.#assertRunning('list unprocessed events');
    return this.#admin.getUnprocessedEvents(query);
  }

  async getDeadLetters(
    query: { limit?: number; afterPosition?: Position; handler?: string } = {},
  ): Promise<DeadLetter[]> {
    this.#assertRunning('list dead letters');
    return this.#admin.getDeadLetters(query);
  }

  /** Re-drives dead deliveries (all, one handler's, or the given ids) with a fresh attempt count. */
  async retryDeadLetters(
    query: { deliveryIds?: string[]; handler?: string } = {},
  ): Promise<{ retried: number }> {
    this.#assertRunning('retry dead letters');
    return this.#admin.retryDeadLetters(query);
  }

  async getCoordinatorStatus(): Promise<CoordinatorStatus> {
    const o = this.#o;
    const now = o.clock();
    const local = new Map<string, string[]>();
    for (const r of this.#dispatcher.registrations())
      local.set(r.name, [...(local.get(r.name) ?? []), r.eventType]);
    const view = await collectFleetView({
      store: o.store,
      publisher: o.publisher,
      now,
      logger: this.logger,
      local,
    });
    const d = this.#dispatcher.metrics;
    const stats = view.stats;
    return {
      id: this.id,
      state: this.#state,
      startedAt: this.startedAt,
      store: { name: o.store.name, capabilities: o.store.capabilities, health: view.storeHealth },
      publisher: {
        name: o.publisher.name,
        capabilities: o.publisher.capabilities,
        health: view.publisherHealth!,
      },
      handlers: view.handlers,
      counts: {
        published: this.eventBus.metrics.published,
        handled: d.handled,
        failed: d.failed,
        retried: d.retried,
        timedOut: d.timedOut,
        dead: stats?.dead ?? 0,
        pending: stats?.pending ?? 0,
        unprocessed: stats?.unprocessedEvents ?? 0,
        orphaned: stats?.orphaned ?? 0,
        inFlight: this.#dispatcher.inFlight,
        publishFailures: this.eventBus.metrics.publishFailures,
        malformedAnnouncements: this.#malformed,
        reconnects: this.#reconnects,
        lagMs: lagMs(stats, now),
      },
      lastPosition: stats?.lastPosition ?? null,
    };
  }

  /**
   * Resolves when this process's handlers have nothing pending or running in the store and
   * nothing in flight here (retries scheduled for later count as pending). For tests, scripts
   * and draining; rejects after `timeoutMs`.
   */
  async waitForIdle(options: { timeoutMs?: number } = {}): Promise<void> {
    const deadline = Date.now() + (options.timeoutMs ?? 30_000);
    for (;;) {
      this.#assertRunning('wait for idle');
      this.#dispatcher.wake();
      if (!this.#dispatcher.quiescent) await this.#dispatcher.nextIdle(10);
      if (this.#dispatcher.quiescent) {
        await this.#dispatcher.flush();
        const stats = await this.#o.store.stats({ now: this.#o.clock() });
        const names = new Set(this.#dispatcher.handlerNames);
        const busy = stats.handlers.some((h) => names.has(h.handler) && h.pending + h.running > 0);
        if (!busy && this.#dispatcher.quiescent) return;
      }
      if (Date.now() > deadline) {
        throw new EvcoError('TIMEOUT', `handlers still had work after ${options.timeoutMs ?? 30_000} ms`);
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  // ------------------------------------------------------------------------------------------
  // Shutdown
  // ------------------------------------------------------------------------------------------

  /**
   * Stops claiming, waits for in-flight handlers up to `timeoutMs`, releases unfinished leases,
   * then closes the publisher and the store. Safe to call more than once.
   */
  shutdown(options: { timeoutMs?: number } = {}): Promise<void> {
    this.#shutdown ??= this.#doShutdown(options.timeoutMs ?? this.#o.shutdownTimeoutMs);
    return this.#shutdown;
  }

  async #doShutdown(timeoutMs: number): Promise<void> {
    this.#state = 'stopping';
    const deadline = Date.now() + timeoutMs;
    this.logger.info({ inFlight: this.#dispatcher.inFlight, timeoutMs }, 'coordinator stopping');
    if (this.#pollTimer) clearInterval(this.#pollTimer);
    if (this.#renewTimer) clearInterval(this.#renewTimer);
    this.#unsubscribe?.();
    this.#unsubscribeStore?.();
    // Retention stops after its current batch and hands its lease to another process.
    await this.#retention?.stop();
    // Replays driven here stop after their current page; pollers elsewhere resume them.
    await this.#admin.stop();
    await this.#dispatcher.stop(deadline);
    this.#stopInstrumentation();
    if (this.#o.closeAdapters) {
      // Through a promise: a close() that throws synchronously must not skip the other one.
      await Promise.resolve()
        .then(() => this.#o.publisher.close())
        .catch((error: unknown) => this.logger.warn({ err: error }, 'closing the publisher failed'));
      await Promise.resolve()
        .then(() => this.#o.store.close())
        .catch((error: unknown) => this.logger.warn({ err: error }, 'closing the store failed'));
    }
    this.#state = 'stopped';
    this.logger.info('coordinator stopped');
  }
}

function asBatch(
  events: DomainEvent | DomainEventInput | ReadonlyArray<DomainEvent | DomainEventInput>,
): ReadonlyArray<DomainEvent | DomainEventInput> {
  return Array.isArray(events) ? events : [events as DomainEvent | DomainEventInput];
}

function outboxUnsupported(store: EventStore, method: string): EvcoError {
  const hint =
    method === 'publishInTransactionSync' && typeof store.appendWithin === 'function'
      ? `its appends are asynchronous: use publishInTransaction`
      : 'it cannot write into a transaction of your application (store-postgres and store-sqlite can); publish with publishEvent(s) instead';
  return new EvcoError('UNSUPPORTED', `${method} is not supported by the ${store.name} store: ${hint}`);
}

function defaultHandlerName(handler: unknown): string | undefined {
  if (typeof handler === 'function') return handler.name || undefined;
  if (typeof handler === 'object' && handler !== null) {
    const name = (handler as { constructor?: { name?: string } }).constructor?.name;
    return name && name !== 'Object' ? name : undefined;
  }
  return undefined;
}

/**
 * Builds a coordinator, runs the store's migrations and starts it.
 *
 * The store and publisher passed in belong to the coordinator from this call on (unless
 * `closeAdapters: false`): they are closed by `shutdown()`, and also when this call fails (bad
 * options, store unreachable), so that a failed start leaves no connection open and a process
 * retrying its start does not pile connections up.
 */
export async function createCoordinator(options: CoordinatorOptions): Promise<EventDrivenCoordinator> {
  let coordinator: EventDrivenCoordinator;
  try {
    coordinator = new EventDrivenCoordinator(options);
  } catch (error) {
    if (options?.closeAdapters !== false) await closeQuietly([options?.publisher, options?.store]);
    throw error;
  }
  try {
    return await coordinator.start();
  } catch (error) {
    // Undoes whatever start() got to (subscription, timers) and closes the adapters it owns;
    // the caller gets the start failure, not a failure to close afterwards.
    await coordinator.shutdown({ timeoutMs: 0 }).catch(() => {});
    throw error;
  }
}

async function closeQuietly(adapters: ReadonlyArray<{ close?: unknown } | undefined>): Promise<void> {
  for (const adapter of adapters) {
    if (typeof adapter?.close !== 'function') continue;
    await Promise.resolve()
      .then(() => (adapter.close as () => unknown)())
      .catch(() => {});
  }
}
