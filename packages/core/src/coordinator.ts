import { hostname } from 'node:os';
import {
  AdminOperations,
  type EventDetails,
  type EventHistoryQuery,
  type EventHistoryResult,
  type ReplayOptions,
  type ReplayReport,
  type SubscriptionStatus,
} from './admin.js';
import type { CausationLimits } from './causation.js';
import type {
  CoordinatorStatus,
  HandlerRegistration,
  HandlerTarget,
  RegisterHandlerOptions,
  ReplayResult,
} from './coordinator-types.js';
import { Dispatcher, type DispatcherMetrics } from './dispatcher.js';
import { CoordinatorClosedError, EvcoError } from './errors.js';
import type { AnyEventInput, DomainEvent, EventDefinition, EventOf, RecordedEvent } from './event.js';
import { EventBus, type EventBusMetrics } from './event-bus.js';
import { callLifecycleHook } from './instrumentation.js';
import { childLogger, createConsoleLogger } from './logger.js';
import {
  type CoordinatorOptions,
  type ResolvedOptions,
  resolveCoordinatorOptions,
  waitOptionsSchema,
} from './options.js';
import { type OutboxEvents, publishInTransaction, publishInTransactionSync } from './outbox.js';
import type {
  DeadLetter,
  EventHandler,
  EventPublisher,
  EventStore,
  Logger,
  PublishOptions,
  PublishResult,
  TransactionalPublish,
  UnprocessedEvent,
} from './ports.js';
import type { Position } from './position.js';
import { persistSubscriptions, RecoveryPoller } from './recovery.js';
import { resolveRegistration } from './registration.js';
import { type PruneEventsOptions, type PruneEventsResult, RetentionEnforcer } from './retention.js';
import { coordinatorStatus } from './status.js';
import { CLOSE_BUDGET_MS, within } from './within.js';
import { parseInput } from './zod-issues.js';

export type { FleetStats, HandlerStatus } from './status.js';
export type {
  CoordinatorStatus,
  EventDetails,
  EventHistoryQuery,
  HandlerRegistration,
  HandlerTarget,
  RegisterHandlerOptions,
  ReplayOptions,
  ReplayResult,
  SubscriptionStatus,
};

/*
 * The coordinator composes one process's parts; each concept lives in its own file:
 * options.ts (options and defaults), event-bus.ts (publishing), outbox.ts (publishing in the
 * application's transaction), registration.ts (checking a registerHandler call),
 * dispatcher.ts (claiming and running deliveries, scheduling retries), recovery.ts (the
 * recovery poll, stale replays, subscription renewal), admin.ts (queries and admin calls),
 * replay-driver.ts (durable replays), retention.ts (pruning), status.ts (the status view).
 */

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
  readonly #recovery: RecoveryPoller;
  #retention: RetentionEnforcer | undefined;
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
      replayQueued: (job, resumed) =>
        callLifecycleHook(this.#o.instrumentation, this.logger, 'replay', {
          replayId: job.id,
          events: job.eventsMatched,
          deliveries: job.deliveriesQueued,
          truncated: job.truncated,
          resumed,
        }),
    });
    this.#recovery = new RecoveryPoller({
      store: o.store,
      dispatcher: this.#dispatcher,
      admin: this.#admin,
      logger: this.logger,
      clock: o.clock,
      consumerId: this.id,
      pollIntervalMs: o.pollIntervalMs,
      leaseMs: o.leaseMs,
      subscriptionTtlMs: o.subscriptionTtlMs,
      isRunning: () => this.#state === 'running',
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
    this.#recovery.start();
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
    callLifecycleHook(o.instrumentation, this.logger, 'start', {
      id: this.id,
      storeName: o.store.name,
      stats: () => o.store.stats({ now: o.clock() }),
      handlerNames: () => this.#dispatcher.handlerNames,
    });
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

  publishEvent(event: DomainEvent | AnyEventInput, options?: PublishOptions): Promise<PublishResult> {
    return this.eventBus.publishEvent(event, {}, options);
  }

  /** Publishes the events atomically: all are stored, or none. */
  publishEvents(
    events: ReadonlyArray<DomainEvent | AnyEventInput>,
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
  publishInTransaction(transaction: unknown, events: OutboxEvents): Promise<TransactionalPublish> {
    return publishInTransaction(this.eventBus, this.#o.store, transaction, events);
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
  publishInTransactionSync(transaction: unknown, events: OutboxEvents): TransactionalPublish {
    return publishInTransactionSync(this.eventBus, this.#o.store, transaction, events);
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
    target: string | readonly string[],
    handler: EventHandler<E>,
    options?: RegisterHandlerOptions,
  ): Promise<HandlerRegistration>;
  // A target only known as a HandlerTarget (names and definitions mixed, a reaction row's `on`):
  // an untyped handler. A handler typed for other events than a definition's is an error here,
  // not a string-target call that lets `E` be anything.
  registerHandler(
    target: HandlerTarget,
    handler: EventHandler<RecordedEvent>,
    options?: RegisterHandlerOptions,
  ): Promise<HandlerRegistration>;
  async registerHandler(
    target: HandlerTarget,
    handler: EventHandler<RecordedEvent>,
    options: RegisterHandlerOptions = {},
  ): Promise<HandlerRegistration> {
    this.#assertRunning('register a handler');
    const { name, registrations } = resolveRegistration(target, handler, options, this.#o, (n) =>
      this.#dispatcher.registrationsOf(n),
    );
    for (const r of registrations) this.#dispatcher.add(r);
    const persisted = persistSubscriptions({ ...this.#o, consumerId: this.id }, registrations);
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
      name,
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

  /** Admin: deletes a handler's subscriptions everywhere and drops its unfinished deliveries. */
  async retireHandler(name: string): Promise<{ deliveriesRemoved: number }> {
    this.#assertRunning('retire a handler');
    return this.#admin.retireHandler(name);
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
    query: { limit?: number | undefined; afterPosition?: Position | undefined } = {},
  ): Promise<UnprocessedEvent[]> {
    this.#assertRunning('list unprocessed events');
    return this.#admin.getUnprocessedEvents(query);
  }

  async getDeadLetters(
    query: {
      limit?: number | undefined;
      afterPosition?: Position | undefined;
      handler?: string | undefined;
    } = {},
  ): Promise<DeadLetter[]> {
    this.#assertRunning('list dead letters');
    return this.#admin.getDeadLetters(query);
  }

  /** Re-drives dead deliveries (all, one handler's, or the given ids) with a fresh attempt count. */
  async retryDeadLetters(
    query: { deliveryIds?: readonly string[] | undefined; handler?: string | undefined } = {},
  ): Promise<{ retried: number }> {
    this.#assertRunning('retry dead letters');
    return this.#admin.retryDeadLetters(query);
  }

  async getCoordinatorStatus(): Promise<CoordinatorStatus> {
    const o = this.#o;
    const local = new Map<string, string[]>();
    for (const r of this.#dispatcher.registrations())
      local.set(r.name, [...(local.get(r.name) ?? []), r.eventType]);
    return coordinatorStatus({
      id: this.id,
      state: this.#state,
      startedAt: this.startedAt,
      store: o.store,
      publisher: o.publisher,
      now: o.clock(),
      logger: this.logger,
      local,
      dispatcher: this.#dispatcher.metrics,
      inFlight: this.#dispatcher.inFlight,
      bus: this.eventBus.metrics,
      malformedAnnouncements: this.#malformed,
      reconnects: this.#reconnects,
    });
  }

  /**
   * Resolves when this process's handlers have nothing pending or running in the store and
   * nothing in flight here (retries scheduled for later count as pending). For tests, scripts
   * and draining; rejects with `TIMEOUT` after `timeoutMs` (default 30000), and with
   * `INVALID_OPTIONS` at once for a `timeoutMs` that is not a non-negative integer or an unknown key.
   */
  async waitForIdle(options: { timeoutMs?: number | undefined } = {}): Promise<void> {
    const { timeoutMs = 30_000 } = parseInput(waitOptionsSchema, options, 'waitForIdle options');
    const deadline = Date.now() + timeoutMs;
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
        throw new EvcoError(
          'TIMEOUT',
          `handlers still had work after ${timeoutMs} ms${await this.#busyHandlers()}`,
        );
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** For waitForIdle's timeout: which of this process's handlers still have work, and how much. */
  async #busyHandlers(): Promise<string> {
    try {
      const stats = await this.#o.store.stats({ now: this.#o.clock() });
      const names = new Set(this.#dispatcher.handlerNames);
      const busy = stats.handlers
        .filter((h) => names.has(h.handler) && h.pending + h.running > 0)
        .map((h) => `${h.handler} (${h.pending} pending, ${h.running} running)`);
      return busy.length > 0 ? `: ${busy.join(', ')}` : '';
    } catch {
      return ''; // the store is down: the timeout itself is the answer
    }
  }

  // ------------------------------------------------------------------------------------------
  // Shutdown
  // ------------------------------------------------------------------------------------------

  /**
   * Stops claiming, waits for in-flight handlers up to `timeoutMs`, releases unfinished leases,
   * then closes the publisher and the store. Safe to call more than once.
   */
  shutdown(options: { timeoutMs?: number | undefined } = {}): Promise<void> {
    let timeoutMs: number | undefined;
    try {
      ({ timeoutMs } = parseInput(waitOptionsSchema, options, 'shutdown options'));
    } catch (error) {
      return Promise.reject(error);
    }
    this.#shutdown ??= this.#doShutdown(timeoutMs ?? this.#o.shutdownTimeoutMs);
    return this.#shutdown;
  }

  async #doShutdown(timeoutMs: number): Promise<void> {
    this.#state = 'stopping';
    const deadline = Date.now() + timeoutMs;
    this.logger.info({ inFlight: this.#dispatcher.inFlight, timeoutMs }, 'coordinator stopping');
    // The drain waits for store and publisher calls already in flight, which a store that stopped
    // answering never settles (behind PgBouncer a call queues for query_wait_timeout, 120 s, while
    // Postgres is down; a partitioned network hangs longer): the orchestrator would kill the
    // process mid-shutdown. Past the deadline and a short budget, stop waiting for them.
    const finished = await within(
      this.#drainAndClose(deadline).then(() => true),
      deadline - Date.now() + CLOSE_BUDGET_MS,
      () => false,
    );
    if (!finished) {
      this.logger.warn(
        { timeoutMs, budgetMs: CLOSE_BUDGET_MS },
        'coordinator stopped with a store or publisher call still in flight (the store or Redis is not answering): leases it held expire after leaseMs, completions not recorded run again',
      );
    }
    this.#state = 'stopped';
    this.logger.info('coordinator stopped');
  }

  async #drainAndClose(deadline: number): Promise<void> {
    this.#recovery.stop();
    this.#unsubscribe?.();
    this.#unsubscribeStore?.();
    // Retention stops after its current batch and hands its lease to another process.
    await this.#retention?.stop();
    // Replays driven here stop after their current page; pollers elsewhere resume them.
    await this.#admin.stop();
    await this.#dispatcher.stop(deadline);
    callLifecycleHook(this.#o.instrumentation, this.logger, 'stop');
    if (this.#o.closeAdapters) {
      // Through a promise: a close() that throws synchronously must not skip the other one.
      await Promise.resolve()
        .then(() => this.#o.publisher.close())
        .catch((error: unknown) => this.logger.warn({ err: error }, 'closing the publisher failed'));
      await Promise.resolve()
        .then(() => this.#o.store.close())
        .catch((error: unknown) => this.logger.warn({ err: error }, 'closing the store failed'));
    }
  }
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
