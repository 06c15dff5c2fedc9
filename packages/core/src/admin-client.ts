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
import type { CausationLimits } from './causation.js';
import type { CoordinatorStatus } from './coordinator.js';
import { CoordinatorClosedError, InvalidOptionsError } from './errors.js';
import type { RecordedEvent } from './event.js';
import { childLogger, createConsoleLogger } from './logger.js';
import type {
  DeadLetter,
  EventPublisher,
  EventStore,
  Logger,
  SchemaMigration,
  UnprocessedEvent,
} from './ports.js';
import type { Position } from './position.js';
import type { PruneEventsOptions, PruneEventsResult } from './retention.js';
import { collectFleetView, fleetCounts } from './status.js';
import { CLOSE_BUDGET_MS, within } from './within.js';
import { toIssues } from './zod-issues.js';

export interface AdminClientOptions {
  store: EventStore;
  /** Announces retries and replays so running coordinators act at once, not at their next poll. */
  publisher?: EventPublisher | undefined;
  /** @default a JSON-lines logger on stderr at `EVCO_LOG_LEVEL` (info) */
  logger?: Logger | undefined;
  /** Events requeued per replay transaction. @default 500 */
  replayPageSize?: number | undefined;
  /** Close the store and publisher in `close()`. @default true */
  closeAdapters?: boolean | undefined;
  /** Clock (tests). @default () => new Date() */
  clock?: (() => Date) | undefined;
}

/**
 * The coordinator's read and admin calls without a coordinator: for operators' tools (the CLI),
 * admin HTTP routes in a process that runs no handlers, and scripts.
 *
 * It never registers subscriptions, claims or renews deliveries, runs handlers, or listens to
 * announcements; it does not run migrations unless asked (`migrate()`), so pointing it at the
 * wrong database changes nothing. It writes only what an admin call asks for (retry, replay,
 * retire) and then rings the publisher's doorbell, when it has one.
 */
export interface AdminClient {
  /** Identity used as the source of its announcements. */
  readonly id: string;
  readonly store: EventStore;
  readonly publisher: EventPublisher | undefined;
  /** Store (and publisher) health, handlers known to the fleet, fleet-wide counts and lag. */
  getCoordinatorStatus(): Promise<CoordinatorStatus>;
  listSubscriptions(): Promise<SubscriptionStatus[]>;
  getEventHistory(query?: EventHistoryQuery): Promise<RecordedEvent[]>;
  /** `getEventHistory` with what retention removed from the range (`pruned`). */
  readEventHistory(query?: EventHistoryQuery): Promise<EventHistoryResult>;
  getEventDetails(id: string, limits?: CausationLimits): Promise<EventDetails | undefined>;
  getUnprocessedEvents(query?: {
    limit?: number | undefined;
    afterPosition?: Position | undefined;
  }): Promise<UnprocessedEvent[]>;
  getDeadLetters(query?: {
    limit?: number | undefined;
    afterPosition?: Position | undefined;
    handler?: string | undefined;
  }): Promise<DeadLetter[]>;
  retryDeadLetters(query?: {
    deliveryIds?: readonly string[] | undefined;
    handler?: string | undefined;
  }): Promise<{ retried: number }>;
  /**
   * Records a durable replay job and queues its pages in the background while this client is
   * open; resolves at once. After `close()` the job stays running and any coordinator's poller
   * resumes it.
   */
  startReplay(options: ReplayOptions): Promise<ReplayReport>;
  getReplay(id: string): Promise<ReplayReport | undefined>;
  retireHandler(name: string): Promise<{ deliveriesRemoved: number }>;
  /**
   * Removes events older than `before` (optionally of some types) in batches, each handed to
   * `archive` first; never one with an open or dead delivery, or inside a running replay.
   */
  pruneEvents(options: PruneEventsOptions): Promise<PruneEventsResult>;
  /**
   * Creates or upgrades the store's schema; says from which version to which, or `undefined` for a
   * store without versioned schemas.
   */
  migrate(): Promise<SchemaMigration | undefined>;
  /** Stops driving replays (after their current page), then closes the adapters. Idempotent. */
  close(): Promise<void>;
}

const optionsSchema = z.strictObject({
  store: z.custom<EventStore>(
    (v) => typeof v === 'object' && v !== null && typeof (v as EventStore).read === 'function',
    { message: 'must be an EventStore' },
  ),
  publisher: z
    .custom<EventPublisher>(
      (v) => typeof v === 'object' && v !== null && typeof (v as EventPublisher).publish === 'function',
      { message: 'must be an EventPublisher' },
    )
    .optional(),
  logger: z
    .custom<Logger>((v) => typeof v === 'object' && v !== null && typeof (v as Logger).info === 'function', {
      message: 'must be a logger',
    })
    .optional(),
  replayPageSize: z.number().int().min(1).max(100_000).optional(),
  closeAdapters: z.boolean().optional(),
  clock: z.custom<() => Date>((v) => typeof v === 'function', { message: 'must be a function' }).optional(),
});

let sequence = 0;

/** Builds an admin client. Nothing is read or written until the first call. */
export async function createAdminClient(options: AdminClientOptions): Promise<AdminClient> {
  const parsed = optionsSchema.safeParse(options);
  if (!parsed.success) throw new InvalidOptionsError('admin client options', toIssues(parsed.error));
  return new EvcoAdminClient(options);
}

class EvcoAdminClient implements AdminClient {
  readonly id = `admin:${hostname()}:${process.pid}:${(++sequence).toString(36)}`;
  readonly store: EventStore;
  readonly publisher: EventPublisher | undefined;
  readonly startedAt = new Date();
  readonly #logger: Logger;
  readonly #clock: () => Date;
  readonly #closeAdapters: boolean;
  readonly #admin: AdminOperations;
  #closing: Promise<void> | undefined;

  constructor(o: AdminClientOptions) {
    this.store = o.store;
    this.publisher = o.publisher;
    this.#logger = childLogger(o.logger ?? createConsoleLogger(), { admin: this.id });
    this.#clock = o.clock ?? (() => new Date());
    this.#closeAdapters = o.closeAdapters ?? true;
    this.#admin = new AdminOperations({
      store: o.store,
      publisher: o.publisher,
      source: this.id,
      logger: this.#logger,
      clock: this.#clock,
      replayPageSize: o.replayPageSize ?? 500,
      wake: () => {},
      localHandlers: () => new Set(),
    });
  }

  #open(operation: string): void {
    if (this.#closing) throw new CoordinatorClosedError(operation);
  }

  async getCoordinatorStatus(): Promise<CoordinatorStatus> {
    this.#open('read the status');
    const now = this.#clock();
    const view = await collectFleetView({
      store: this.store,
      publisher: this.publisher,
      now,
      logger: this.#logger,
      local: new Map(),
    });
    const stats = view.stats;
    return {
      id: this.id,
      state: 'running',
      startedAt: this.startedAt,
      store: { name: this.store.name, capabilities: this.store.capabilities, health: view.storeHealth },
      publisher: this.publisher
        ? {
            name: this.publisher.name,
            capabilities: this.publisher.capabilities,
            health: view.publisherHealth!,
          }
        : {
            // Not a fault: without a doorbell, coordinators still find work by polling.
            name: 'none',
            capabilities: { crossProcess: false },
            health: { healthy: true, latencyMs: 0, details: { configured: false } },
          },
      handlers: view.handlers,
      fleetStats: view.fleetStats,
      counts: {
        published: 0,
        handled: 0,
        failed: 0,
        retried: 0,
        timedOut: 0,
        inFlight: 0,
        publishFailures: 0,
        malformedAnnouncements: 0,
        reconnects: 0,
        ...fleetCounts(stats, now),
      },
      lastPosition: stats?.lastPosition ?? null,
    };
  }

  async listSubscriptions(): Promise<SubscriptionStatus[]> {
    this.#open('list subscriptions');
    return this.#admin.listSubscriptions();
  }

  async getEventHistory(query?: EventHistoryQuery): Promise<RecordedEvent[]> {
    this.#open('read history');
    return this.#admin.getEventHistory(query);
  }

  async readEventHistory(query?: EventHistoryQuery): Promise<EventHistoryResult> {
    this.#open('read history');
    return this.#admin.readEventHistory(query);
  }

  async pruneEvents(options: PruneEventsOptions): Promise<PruneEventsResult> {
    this.#open('prune events');
    return this.#admin.pruneEvents(options);
  }

  async getEventDetails(id: string, limits?: CausationLimits): Promise<EventDetails | undefined> {
    this.#open('read an event');
    return this.#admin.getEventDetails(id, limits);
  }

  async getUnprocessedEvents(query?: {
    limit?: number | undefined;
    afterPosition?: Position | undefined;
  }): Promise<UnprocessedEvent[]> {
    this.#open('list unprocessed events');
    return this.#admin.getUnprocessedEvents(query);
  }

  async getDeadLetters(query?: {
    limit?: number | undefined;
    afterPosition?: Position | undefined;
    handler?: string | undefined;
  }): Promise<DeadLetter[]> {
    this.#open('list dead letters');
    return this.#admin.getDeadLetters(query);
  }

  async retryDeadLetters(query?: {
    deliveryIds?: readonly string[] | undefined;
    handler?: string | undefined;
  }): Promise<{ retried: number }> {
    this.#open('retry dead letters');
    return this.#admin.retryDeadLetters(query);
  }

  async startReplay(options: ReplayOptions): Promise<ReplayReport> {
    this.#open('replay events');
    return this.#admin.startReplay(options);
  }

  async getReplay(id: string): Promise<ReplayReport | undefined> {
    this.#open('read a replay');
    return this.#admin.getReplay(id);
  }

  async retireHandler(name: string): Promise<{ deliveriesRemoved: number }> {
    this.#open('retire a handler');
    return this.#admin.retireHandler(name);
  }

  async migrate(): Promise<SchemaMigration | undefined> {
    this.#open('migrate');
    return (await this.store.migrate?.()) ?? undefined;
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    const closed = await within(
      this.#stopAndClose().then(() => true),
      CLOSE_BUDGET_MS,
      () => false,
    );
    if (!closed) {
      this.#logger.warn(
        { budgetMs: CLOSE_BUDGET_MS },
        'admin client closed with a store or publisher call still in flight (the store or Redis is not answering)',
      );
    }
  }

  async #stopAndClose(): Promise<void> {
    await this.#admin.stop();
    if (!this.#closeAdapters) return;
    await this.publisher
      ?.close()
      .catch((error: unknown) => this.#logger.warn({ err: error }, 'closing the publisher failed'));
    await this.store
      .close()
      .catch((error: unknown) => this.#logger.warn({ err: error }, 'closing the store failed'));
  }
}
