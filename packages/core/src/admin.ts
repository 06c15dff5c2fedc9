import {
  historySchema,
  listSchema,
  parseId,
  parseInput,
  replaySchema,
  retrySchema,
} from './admin-schemas.js';
import { announceEvents } from './announce.js';
import { type CausationLimits, type CausationNode, loadCausation } from './causation.js';
import { EvcoError, InvalidOptionsError } from './errors.js';
import type { RecordedEvent } from './event.js';
import type {
  DeadLetter,
  DeliveryInfo,
  EventPublisher,
  EventStore,
  Logger,
  PrunedRange,
  ReadOrder,
  ReplayJob,
  ReplayProgress,
  SubscriptionInfo,
  UnprocessedEvent,
} from './ports.js';
import type { Position } from './position.js';
import { ReplayDriver } from './replay-driver.js';
import {
  DEFAULT_PRUNE_BATCH,
  type PruneEventsOptions,
  type PruneEventsResult,
  parsePruneEventsOptions,
  prunableStore,
  pruneByRule,
  prunedOverlap,
} from './retention.js';

export interface EventHistoryQuery {
  eventType?: string | readonly string[] | undefined;
  aggregateId?: string | undefined;
  aggregateType?: string | undefined;
  /** Only events of one flow (`metadata.correlationId`). */
  correlationId?: string | undefined;
  /** Only the direct effects of one event (`metadata.causationId`). */
  causationId?: string | undefined;
  /** Inclusive, on `occurredAt`. */
  from?: Date | string | undefined;
  /** Exclusive, on `occurredAt`. */
  to?: Date | string | undefined;
  /** @default 100, at most 10000 */
  limit?: number | undefined;
  /** @default 'asc' */
  order?: ReadOrder | undefined;
  /** Cursor: only events after this position (a decimal string, e.g. a previous page's last `position`). */
  afterPosition?: Position | undefined;
  /** Cursor for descending pages: only events before this position. */
  beforePosition?: Position | undefined;
}

export interface ReplayOptions {
  /** Inclusive, on `occurredAt`. */
  from: Date | string;
  /** Exclusive, on `occurredAt`. */
  to: Date | string;
  eventType?: string | undefined;
  /** Replay to one handler only. */
  handler?: string | undefined;
  /** Replays at most this many events. @default 100000, at most 1000000 */
  maxEvents?: number | undefined;
}

/** A page of history with what retention removed from its range. */
export interface EventHistoryResult {
  events: RecordedEvent[];
  /**
   * Per event type the query covers, the cutoff below which retention removed events (those
   * with an open or dead delivery stayed): the page lacks them. Empty when nothing was pruned
   * from the range.
   */
  pruned: PrunedRange[];
}

/** A replay's progress, with what retention removed from its range (see `EventHistoryResult`). */
export interface ReplayReport extends ReplayProgress {
  pruned: PrunedRange[];
}

export interface EventDetails {
  event: RecordedEvent;
  /** One per handler: open and dead ones always, done ones where the store keeps them. */
  deliveries: DeliveryInfo[];
  /** Root first … up to the direct cause; empty for a root event. */
  causes: RecordedEvent[];
  /** Direct effects, each with its descendants (bounded, see `truncated`). */
  effects: CausationNode[];
  /** The causes or the effects were cut at a limit. */
  truncated: boolean;
}

export interface SubscriptionStatus extends SubscriptionInfo {
  /** This process runs the handler (always false for an admin client). */
  local: boolean;
  /** Nobody renewed it in time: it gets no new deliveries, its pending ones are orphaned. */
  expired: boolean;
}

export interface AdminContext {
  store: EventStore;
  /** Announces admin writes so live coordinators look at once instead of at their next poll. */
  publisher?: EventPublisher | undefined;
  /** Who announces (a coordinator id, or the admin client's). */
  source: string;
  logger: Logger;
  clock: () => Date;
  replayPageSize: number;
  /** Called when due work was created here (the coordinator wakes its dispatcher). */
  wake(): void;
  /** Handler names registered in this process. */
  localHandlers(): ReadonlySet<string>;
  /** Called when a replay driven here has queued every page (`resumed`: picked up from a stale job). */
  replayQueued?(job: ReplayJob, resumed: boolean): void;
}

/**
 * The read and admin calls shared by the coordinator and the admin client: validation, the
 * store calls and announcements; replays are driven by `ReplayDriver`. Neither claims nor runs
 * anything here.
 */
export class AdminOperations {
  readonly #c: AdminContext;
  readonly #replays: ReplayDriver;

  constructor(context: AdminContext) {
    this.#c = context;
    this.#replays = new ReplayDriver(context);
  }

  async getEventHistory(query: EventHistoryQuery = {}): Promise<RecordedEvent[]> {
    return this.#readHistory(parseInput(historySchema, query, 'history query'));
  }

  async readEventHistory(query: EventHistoryQuery = {}): Promise<EventHistoryResult> {
    const q = parseInput(historySchema, query, 'history query');
    const [events, pruned] = await Promise.all([
      this.#readHistory(q),
      this.#pruned({ eventType: q.eventType, from: q.from === undefined ? undefined : new Date(q.from) }),
    ]);
    return { events, pruned };
  }

  /** The pruned ranges a query over these types from this time overlaps; none without retention. */
  async #pruned(query: {
    eventType?: string | readonly string[] | undefined;
    from?: Date | undefined;
  }): Promise<PrunedRange[]> {
    const store = this.#c.store;
    if (!store.getPrunedRanges) return [];
    return prunedOverlap(await store.getPrunedRanges(), query);
  }

  async #readHistory(q: ReturnType<typeof historySchema.parse>): Promise<RecordedEvent[]> {
    return this.#c.store.read({
      eventType: q.eventType,
      aggregateId: q.aggregateId,
      aggregateType: q.aggregateType,
      correlationId: q.correlationId,
      causationId: q.causationId,
      from: q.from === undefined ? undefined : new Date(q.from),
      to: q.to === undefined ? undefined : new Date(q.to),
      afterPosition: q.afterPosition,
      beforePosition: q.beforePosition,
      limit: q.limit ?? 100,
      order: q.order ?? 'asc',
    });
  }

  async getEventDetails(id: string, limits?: CausationLimits): Promise<EventDetails | undefined> {
    const eventId = parseId(id, 'event id', 'id');
    const event = await this.#c.store.getEvent(eventId);
    if (!event) return undefined;
    const [deliveries, causation] = await Promise.all([
      this.#c.store.getDeliveries(event.id),
      loadCausation(this.#c.store, event, limits),
    ]);
    return { event, deliveries, ...causation };
  }

  async getUnprocessedEvents(
    query: { limit?: number | undefined; afterPosition?: Position | undefined } = {},
  ): Promise<UnprocessedEvent[]> {
    const q = parseInput(listSchema, query, 'unprocessed query');
    return this.#c.store.getUnprocessedEvents({ limit: q.limit ?? 100, afterPosition: q.afterPosition });
  }

  async getDeadLetters(
    query: {
      limit?: number | undefined;
      afterPosition?: Position | undefined;
      handler?: string | undefined;
    } = {},
  ): Promise<DeadLetter[]> {
    const q = parseInput(listSchema, query, 'dead letter query');
    const page = await this.#c.store.getDeadLetters({
      limit: q.limit ?? 100,
      afterPosition: q.afterPosition,
      handler: q.handler,
    });
    // No dead letters for a mistyped handler would read as "that handler is fine". Checked only
    // when the page is empty, so a listing costs no extra query.
    if (page.length === 0 && q.handler !== undefined) await this.#knownHandler(q.handler);
    return page;
  }

  async retryDeadLetters(
    query: { deliveryIds?: readonly string[] | undefined; handler?: string | undefined } = {},
  ): Promise<{ retried: number }> {
    const q = parseInput(retrySchema, query, 'dead letter retry');
    if (q.handler !== undefined) await this.#knownHandler(q.handler);
    // Which event types come back: the doorbell rings for them after the re-drive. A sample is
    // enough (one event per type); the pollers find anything the sample missed.
    const sample = this.#c.publisher
      ? await this.#c.store.getDeadLetters({ limit: 1000, handler: q.handler }).catch(() => [])
      : [];
    const retried = await this.#c.store.retryDeadLetters({ ...q, now: this.#c.clock() });
    this.#c.logger.info({ retried, handler: q.handler }, 'dead letters re-driven');
    if (retried > 0) {
      this.#c.wake();
      const wanted = q.deliveryIds ? new Set(q.deliveryIds) : undefined;
      await announceEvents(
        this.#c,
        sample.filter((d) => !wanted || wanted.has(d.delivery.deliveryId)).map((d) => d.event),
      );
    }
    return { retried };
  }

  /**
   * A handler named by an operator (dead letters, retry, replay) must be one some process
   * subscribed: a typo would otherwise list, re-drive or replay nothing and report it as done.
   */
  async #knownHandler(handler: string): Promise<void> {
    const subscriptions = await this.#c.store.listSubscriptions();
    if (!subscriptions.some((s) => s.handler === handler)) {
      throw new EvcoError('UNKNOWN_HANDLER', `no handler named "${handler}" is subscribed to any event type`);
    }
  }

  async listSubscriptions(): Promise<SubscriptionStatus[]> {
    const now = this.#c.clock().getTime();
    const local = this.#c.localHandlers();
    const subscriptions = await this.#c.store.listSubscriptions();
    return subscriptions.map((s) => ({
      ...s,
      local: local.has(s.handler),
      expired: s.expiresAt.getTime() <= now,
    }));
  }

  async retireHandler(name: string): Promise<{ deliveriesRemoved: number }> {
    const handler = parseId(name, 'handler name', 'name');
    const removed = await this.#c.store.retireHandler(handler);
    this.#c.logger.info({ handler, deliveriesRemoved: removed }, 'handler retired');
    return { deliveriesRemoved: removed };
  }

  // ------------------------------------------------------------------------------------------
  // Replay
  // ------------------------------------------------------------------------------------------

  /** Validates, checks the handler exists, and records the job (durable from here on). */
  async createReplay(options: ReplayOptions): Promise<ReplayJob> {
    const q = parseInput(replaySchema, options, 'replay options');
    const from = new Date(q.from);
    const to = new Date(q.to);
    if (from.getTime() >= to.getTime()) {
      throw new InvalidOptionsError('replay options', [{ path: 'to', message: 'must be after from' }]);
    }
    if (q.handler !== undefined) await this.#knownHandler(q.handler);
    const job = await this.#c.store.startReplay(
      { from, to, eventType: q.eventType, handler: q.handler, maxEvents: q.maxEvents ?? 100_000 },
      { now: this.#c.clock() },
    );
    this.#c.logger.info(
      { replayId: job.id, from, to, eventType: q.eventType, handler: q.handler },
      'replay started',
    );
    return job;
  }

  /** Records the job and drives it in the background; resolves at once with its progress. */
  async startReplay(options: ReplayOptions): Promise<ReplayReport> {
    const job = await this.createReplay(options);
    // Failures are logged by the driver; the job stays running and a poller resumes it.
    this.driveReplay(job.id).catch(() => {});
    const pruned = await this.replayPruned(job);
    return { ...job, deliveriesOpen: 0, deliveriesDead: 0, done: false, pruned };
  }

  async getReplay(id: string): Promise<ReplayReport | undefined> {
    const replayId = parseId(id, 'replay id', 'id');
    const progress = await this.#c.store.getReplay(replayId);
    return progress && { ...progress, pruned: await this.replayPruned(progress) };
  }

  /** What retention removed from a replay's range: those events are not replayed. */
  replayPruned(job: ReplayJob): Promise<PrunedRange[]> {
    return this.#pruned({ eventType: job.eventType, from: job.from });
  }

  // ------------------------------------------------------------------------------------------
  // Retention
  // ------------------------------------------------------------------------------------------

  /**
   * Removes events older than `before` (optionally of some types) in batches, each handed to
   * `archive` first: never one with an open or dead delivery, or inside a running replay.
   */
  async pruneEvents(options: PruneEventsOptions): Promise<PruneEventsResult> {
    const q = parsePruneEventsOptions(options);
    const store = prunableStore(this.#c.store, 'pruneEvents');
    const before = new Date(q.before);
    const result = await pruneByRule(
      store,
      { before, eventTypes: q.types },
      {
        batchSize: q.batchSize ?? DEFAULT_PRUNE_BATCH,
        archive: q.archive,
        archiveTimeoutMs: q.archiveTimeoutMs,
        clock: this.#c.clock,
        ...(q.dutyCycle !== undefined || q.maxEventsPerSecond !== undefined
          ? { pacing: { dutyCycle: q.dutyCycle ?? 1, maxEventsPerSecond: q.maxEventsPerSecond } }
          : {}),
      },
    );
    this.#c.logger.info({ ...result, before, types: q.types }, 'events pruned');
    return result;
  }

  /**
   * Queues the job's pages until it is done or this process stops (see `ReplayDriver`).
   */
  driveReplay(id: string, resumed = false): Promise<ReplayJob> {
    return this.#replays.drive(id, resumed);
  }

  isDriving(id: string): boolean {
    return this.#replays.isDriving(id);
  }

  /** Stops driving replays after their current page (the jobs stay running, durable) and waits. */
  async stop(): Promise<void> {
    await this.#replays.stop();
  }
}
