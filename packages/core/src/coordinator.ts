import { hostname } from 'node:os';
import { z } from 'zod';
import { storableDateInput } from './date-range.js';
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
import { maskSecrets } from './mask.js';
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
  PublishOptions,
  PublishResult,
  ReadOrder,
  StoreStats,
  SubscriptionInfo,
  UnprocessedEvent,
} from './ports.js';
import type { RetryPolicy } from './retry.js';
import { toIssues } from './zod-issues.js';

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

export interface EventHistoryQuery {
  eventType?: string | string[];
  aggregateId?: string;
  aggregateType?: string;
  /** Inclusive, on `occurredAt`. */
  from?: Date | string;
  /** Exclusive, on `occurredAt`. */
  to?: Date | string;
  /** @default 100, at most 10000 */
  limit?: number;
  /** @default 'asc' */
  order?: ReadOrder;
  afterPosition?: bigint;
  beforePosition?: bigint;
}

export interface ReplayOptions {
  /** Inclusive, on `occurredAt`. */
  from: Date | string;
  /** Exclusive, on `occurredAt`. */
  to: Date | string;
  eventType?: string;
  /** Replay to one handler only. */
  handler?: string;
  /** Replays at most this many events. @default 100000, at most 1000000 */
  maxEvents?: number;
}

export interface ReplayResult {
  replayId: string;
  events: number;
  deliveries: number;
  /** The range held more than `maxEvents` events; replay the rest with a later `from`. */
  truncated: boolean;
}

export interface HandlerStatus {
  name: string;
  eventTypes: string[];
  /** Registered in this process. */
  local: boolean;
  pending: number;
  running: number;
  dead: number;
  orphaned: number;
  /** Age of the handler's oldest delivery not yet done, in ms (0 when none). */
  lagMs: number;
  /** Latest subscription expiry across the fleet; past means nobody runs it any more. */
  subscriptionExpiresAt: Date | null;
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
  lastPosition: string | null;
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

const dateInput = storableDateInput;

const historySchema = z.strictObject({
  eventType: z
    .union([z.string().min(1).max(200), z.array(z.string().min(1).max(200)).min(1).max(100)])
    .optional(),
  aggregateId: z.string().min(1).max(200).optional(),
  aggregateType: z.string().min(1).max(200).optional(),
  from: dateInput.optional(),
  to: dateInput.optional(),
  limit: z.number().int().min(1).max(10_000).optional(),
  order: z.enum(['asc', 'desc']).optional(),
  afterPosition: z.bigint().min(0n).optional(),
  beforePosition: z.bigint().min(0n).optional(),
});

const replaySchema = z.strictObject({
  from: dateInput,
  to: dateInput,
  eventType: z.string().min(1).max(200).optional(),
  handler: z.string().min(1).max(200).optional(),
  maxEvents: z.number().int().min(1).max(1_000_000).optional(),
});

const listSchema = z.strictObject({
  limit: z.number().int().min(1).max(10_000).optional(),
  afterPosition: z.bigint().min(0n).optional(),
  handler: z.string().min(1).max(200).optional(),
});

function parseInput<S extends z.ZodType>(schema: S, value: unknown, subject: string): z.output<S> {
  const parsed = schema.safeParse(value ?? {});
  if (!parsed.success) throw new InvalidOptionsError(subject, toIssues(parsed.error));
  return parsed.data;
}

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
  #renewTimer: NodeJS.Timeout | undefined;
  #polls = 0;
  #malformed = 0;
  #reconnects = 0;
  #activeReplays = new Set<string>();

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
    const registrations: RegisteredHandler[] = [];
    for (const t of targets) {
      const eventType = typeof t === 'string' ? t : t.eventType;
      if (this.#dispatcher.has(name!, eventType) || registrations.some((r) => r.eventType === eventType)) {
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
    const removed = await this.#o.store.retireHandler(name);
    this.logger.info({ handler: name, deliveriesRemoved: removed }, 'handler retired');
    return { deliveriesRemoved: removed };
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
        if (this.#activeReplays.has(job.id)) continue;
        this.logger.info({ replayId: job.id }, 'resuming a replay whose driver stopped');
        await this.#driveReplay(job.id, true);
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
    const q = parseInput(historySchema, query, 'history query');
    const from = q.from === undefined ? undefined : new Date(q.from);
    const to = q.to === undefined ? undefined : new Date(q.to);
    return this.#o.store.read({
      eventType: q.eventType,
      aggregateId: q.aggregateId,
      aggregateType: q.aggregateType,
      from,
      to,
      afterPosition: q.afterPosition,
      beforePosition: q.beforePosition,
      limit: q.limit ?? 100,
      order: q.order ?? 'asc',
    });
  }

  /**
   * Re-queues deliveries of the stored events whose `occurredAt` is in `[from, to)`. Durable: the
   * replay is recorded first and advanced page by page, each page in one transaction, so a
   * crash mid-way is resumed by any coordinator's poller. Handlers see `context.isReplay`.
   */
  async replayEvents(options: ReplayOptions): Promise<ReplayResult> {
    this.#assertRunning('replay events');
    const q = parseInput(replaySchema, options, 'replay options');
    const from = new Date(q.from);
    const to = new Date(q.to);
    if (from.getTime() >= to.getTime()) {
      throw new InvalidOptionsError('replay options', [{ path: 'to', message: 'must be after from' }]);
    }
    if (q.handler !== undefined) {
      const subscriptions = await this.#o.store.listSubscriptions();
      if (!subscriptions.some((s) => s.handler === q.handler)) {
        throw new EvcoError(
          'UNKNOWN_HANDLER',
          `no handler named "${q.handler}" is subscribed to any event type`,
        );
      }
    }
    const job = await this.#o.store.startReplay(
      { from, to, eventType: q.eventType, handler: q.handler, maxEvents: q.maxEvents ?? 100_000 },
      { now: this.#o.clock() },
    );
    this.logger.info(
      { replayId: job.id, from, to, eventType: q.eventType, handler: q.handler },
      'replay started',
    );
    const done = await this.#driveReplay(job.id, false);
    return {
      replayId: done.id,
      events: done.eventsMatched,
      deliveries: done.deliveriesQueued,
      truncated: done.truncated,
    };
  }

  async #driveReplay(id: string, resumed: boolean) {
    this.#activeReplays.add(id);
    try {
      let job = await this.#o.store.continueReplay(id, {
        now: this.#o.clock(),
        pageSize: this.#o.replayPageSize,
      });
      this.#dispatcher.wake();
      while (job.status === 'running' && this.#state === 'running') {
        job = await this.#o.store.continueReplay(id, {
          now: this.#o.clock(),
          pageSize: this.#o.replayPageSize,
        });
        this.#dispatcher.wake();
      }
      this.logger.info(
        {
          replayId: id,
          events: job.eventsMatched,
          deliveries: job.deliveriesQueued,
          truncated: job.truncated,
        },
        'replay queued',
      );
      for (const instrument of this.#o.instrumentation) {
        try {
          instrument.replay?.({
            replayId: id,
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
      return job;
    } finally {
      this.#activeReplays.delete(id);
    }
  }

  /** Events that have at least one delivery not done (pending, running or dead), oldest first. */
  getUnprocessedEvents(query: { limit?: number; afterPosition?: bigint } = {}): Promise<UnprocessedEvent[]> {
    this.#assertRunning('list unprocessed events');
    const q = parseInput(listSchema, query, 'unprocessed query');
    return this.#o.store.getUnprocessedEvents({ limit: q.limit ?? 100, afterPosition: q.afterPosition });
  }

  getDeadLetters(
    query: { limit?: number; afterPosition?: bigint; handler?: string } = {},
  ): Promise<DeadLetter[]> {
    this.#assertRunning('list dead letters');
    const q = parseInput(listSchema, query, 'dead letter query');
    return this.#o.store.getDeadLetters({
      limit: q.limit ?? 100,
      afterPosition: q.afterPosition,
      handler: q.handler,
    });
  }

  /** Re-drives dead deliveries (all, one handler's, or the given ids) with a fresh attempt count. */
  async retryDeadLetters(
    query: { deliveryIds?: string[]; handler?: string } = {},
  ): Promise<{ retried: number }> {
    this.#assertRunning('retry dead letters');
    const q = parseInput(
      z.strictObject({
        deliveryIds: z.array(z.string().min(1).max(200)).max(10_000).optional(),
        handler: z.string().min(1).max(200).optional(),
      }),
      query,
      'dead letter retry',
    );
    const retried = await this.#o.store.retryDeadLetters({ ...q, now: this.#o.clock() });
    this.logger.info({ retried, handler: q.handler }, 'dead letters re-driven');
    this.#dispatcher.wake();
    return { retried };
  }

  async getCoordinatorStatus(): Promise<CoordinatorStatus> {
    const o = this.#o;
    const now = o.clock();
    const [storeHealth, publisherHealth, stats, subscriptions] = await Promise.all([
      safeHealth(() => o.store.healthCheck()),
      safeHealth(() => o.publisher.healthCheck()),
      o.store.stats({ now }).catch((error: unknown): StoreStats | undefined => {
        this.logger.warn({ err: error }, 'store stats unavailable');
        return undefined;
      }),
      o.store.listSubscriptions().catch((): SubscriptionInfo[] => []),
    ]);
    const d = this.#dispatcher.metrics;
    const local = new Map<string, string[]>();
    for (const r of this.#dispatcher.registrations())
      local.set(r.name, [...(local.get(r.name) ?? []), r.eventType]);
    const names = new Set<string>([...local.keys(), ...subscriptions.map((s) => s.handler)]);
    const handlers: HandlerStatus[] = [...names].sort().map((name) => {
      const subs = subscriptions.filter((s) => s.handler === name);
      const h = stats?.handlers.find((x) => x.handler === name);
      const expires = subs.reduce<Date | null>(
        (max, s) => (!max || s.expiresAt > max ? s.expiresAt : max),
        null,
      );
      return {
        name,
        eventTypes: [...new Set([...(local.get(name) ?? []), ...subs.map((s) => s.eventType)])].sort(),
        local: local.has(name),
        pending: h?.pending ?? 0,
        running: h?.running ?? 0,
        dead: h?.dead ?? 0,
        orphaned: h?.orphaned ?? 0,
        lagMs: h?.oldestPendingAt ? Math.max(0, now.getTime() - h.oldestPendingAt.getTime()) : 0,
        subscriptionExpiresAt: expires,
      };
    });
    return {
      id: this.id,
      state: this.#state,
      startedAt: this.startedAt,
      store: { name: o.store.name, capabilities: o.store.capabilities, health: storeHealth },
      publisher: { name: o.publisher.name, capabilities: o.publisher.capabilities, health: publisherHealth },
      handlers,
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
        lagMs: stats?.oldestPendingAt ? Math.max(0, now.getTime() - stats.oldestPendingAt.getTime()) : 0,
      },
      lastPosition:
        stats?.lastPosition === null || stats === undefined ? null : stats.lastPosition.toString(),
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

function defaultHandlerName(handler: unknown): string | undefined {
  if (typeof handler === 'function') return handler.name || undefined;
  if (typeof handler === 'object' && handler !== null) {
    const name = (handler as { constructor?: { name?: string } }).constructor?.name;
    return name && name !== 'Object' ? name : undefined;
  }
  return undefined;
}

async function safeHealth(check: () => Promise<HealthStatus>): Promise<HealthStatus> {
  const started = performance.now();
  try {
    return await check();
  } catch (error) {
    return {
      healthy: false,
      latencyMs: performance.now() - started,
      details: { error: maskSecrets(error instanceof Error ? error.message : String(error)) },
    };
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
