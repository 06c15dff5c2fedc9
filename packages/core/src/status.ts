import type { CoordinatorStatus } from './coordinator-types.js';
import type { DispatcherMetrics } from './dispatcher.js';
import { EvcoError, isEvcoError } from './errors.js';
import type { EventBusMetrics } from './event-bus.js';
import { safeHealth } from './health.js';
import { maskedMessage } from './mask.js';
import type {
  EventPublisher,
  EventStore,
  HealthStatus,
  Logger,
  StoreStats,
  SubscriptionInfo,
} from './ports.js';
import { within } from './within.js';

export interface HandlerStatus {
  name: string;
  eventTypes: string[];
  /** Registered in this process. */
  local: boolean;
  /** The handler's deliveries in the store; null when the store's stats did not answer (see `fleetStats`). */
  pending: number | null;
  running: number | null;
  dead: number | null;
  orphaned: number | null;
  /** Age of the handler's oldest delivery not yet done, in ms (0 when none; null when unknown). */
  lagMs: number | null;
  /** Latest subscription expiry across the fleet; past means nobody runs it any more. */
  subscriptionExpiresAt: Date | null;
}

/**
 * Whether the store answered the fleet-wide counts (one query, which can fail alone: a statement
 * timeout under load, a lock). When it did not, the fleet's figures are null, not zero: zeros
 * would read as an idle fleet with no dead letters.
 */
export type FleetStats = { available: true } | { available: false; error: string };

/** What the store and the publisher say about the fleet, gathered in parallel, never throwing. */
export interface FleetView {
  storeHealth: HealthStatus;
  publisherHealth: HealthStatus | undefined;
  /** Undefined when the store could not answer. */
  stats: StoreStats | undefined;
  /** Whether `stats` answered, and why not. */
  fleetStats: FleetStats;
  handlers: HandlerStatus[];
}

/** How long the status waits for each store or publisher call before reporting it unanswered. */
const STATUS_TIMEOUT_MS = 10_000;

export async function collectFleetView(input: {
  store: EventStore;
  publisher: EventPublisher | undefined;
  now: Date;
  logger: Logger;
  /** Handler name → event types registered in this process. */
  local: ReadonlyMap<string, readonly string[]>;
}): Promise<FleetView> {
  const { store, publisher, now, logger, local } = input;
  let schemaError: unknown;
  let statsError: unknown;
  // A store that does not answer at all (PgBouncer queues every statement for its
  // query_wait_timeout, 2 minutes by default, while Postgres is down; a dropped network hangs
  // longer) must not hold a status, a dashboard or an `evco status` probe for that long.
  const answered = async <T>(call: () => Promise<T>, adapter: string): Promise<T> =>
    within(call(), STATUS_TIMEOUT_MS, () => {
      throw new EvcoError('TIMEOUT', `the ${adapter} did not answer within ${STATUS_TIMEOUT_MS} ms`);
    });
  const [health, publisherHealth, stats, subscriptions] = await Promise.all([
    safeHealth(() => answered(() => store.healthCheck(), 'store')),
    publisher ? safeHealth(() => answered(() => publisher.healthCheck(), 'publisher')) : undefined,
    answered(() => store.stats({ now }), 'store').catch((error: unknown): StoreStats | undefined => {
      logger.warn({ err: error }, 'store stats unavailable');
      statsError = error;
      if (isEvcoError(error, 'STORE_SCHEMA')) schemaError = error;
      return undefined;
    }),
    answered(() => store.listSubscriptions(), 'store').catch((): SubscriptionInfo[] => []),
  ]);
  // A store that answers but has no tables (never migrated, a mistyped schema, the wrong
  // database) passes its connection check; its zero counts would read as an idle, healthy fleet.
  const storeHealth: HealthStatus =
    schemaError !== undefined && health.healthy
      ? { ...health, healthy: false, details: { ...health.details, error: maskedMessage(schemaError) } }
      : health;
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
      pending: stats ? (h?.pending ?? 0) : null,
      running: stats ? (h?.running ?? 0) : null,
      dead: stats ? (h?.dead ?? 0) : null,
      orphaned: stats ? (h?.orphaned ?? 0) : null,
      lagMs: stats ? ageMs(h?.oldestPendingAt, now) : null,
      subscriptionExpiresAt: expires,
    };
  });
  const fleetStats: FleetStats = stats
    ? { available: true }
    : { available: false, error: maskedMessage(statsError) };
  return { storeHealth, publisherHealth, stats, fleetStats, handlers };
}

/** Age of the oldest delivery not yet done, in ms (0 when none, null when the stats did not answer). */
export function lagMs(stats: StoreStats | undefined, now: Date): number | null {
  return stats ? ageMs(stats.oldestPendingAt, now) : null;
}

/** How long ago `at` was, in ms (0 for none, or for a time ahead of this clock). */
function ageMs(at: Date | null | undefined, now: Date): number {
  return at ? Math.max(0, now.getTime() - at.getTime()) : 0;
}

/** The fleet's part of `counts`: null each when the store's stats did not answer. */
export function fleetCounts(
  stats: StoreStats | undefined,
  now: Date,
): Pick<CoordinatorStatus['counts'], 'dead' | 'pending' | 'unprocessed' | 'orphaned' | 'lagMs'> {
  return {
    dead: stats ? stats.dead : null,
    pending: stats ? stats.pending : null,
    unprocessed: stats ? stats.unprocessedEvents : null,
    orphaned: stats ? stats.orphaned : null,
    lagMs: lagMs(stats, now),
  };
}

/**
 * `getCoordinatorStatus()`: this process's counts next to what the store and the publisher say
 * about the fleet (never throwing: an unreachable store shows as unhealthy; the fleet's figures
 * are null whenever its stats did not answer, see `fleetStats`).
 */
export async function coordinatorStatus(input: {
  id: string;
  state: CoordinatorStatus['state'];
  startedAt: Date;
  store: EventStore;
  publisher: EventPublisher;
  now: Date;
  logger: Logger;
  local: ReadonlyMap<string, readonly string[]>;
  dispatcher: DispatcherMetrics;
  inFlight: number;
  bus: EventBusMetrics;
  malformedAnnouncements: number;
  reconnects: number;
}): Promise<CoordinatorStatus> {
  const { store, publisher, now } = input;
  const view = await collectFleetView({ store, publisher, now, logger: input.logger, local: input.local });
  const d = input.dispatcher;
  const stats = view.stats;
  return {
    id: input.id,
    state: input.state,
    startedAt: input.startedAt,
    store: { name: store.name, capabilities: store.capabilities, health: view.storeHealth },
    publisher: {
      name: publisher.name,
      capabilities: publisher.capabilities,
      health: view.publisherHealth!,
    },
    handlers: view.handlers,
    fleetStats: view.fleetStats,
    counts: {
      published: input.bus.published,
      handled: d.handled,
      failed: d.failed,
      retried: d.retried,
      timedOut: d.timedOut,
      inFlight: input.inFlight,
      publishFailures: input.bus.publishFailures,
      malformedAnnouncements: input.malformedAnnouncements,
      reconnects: input.reconnects,
      ...fleetCounts(stats, now),
    },
    lastPosition: stats?.lastPosition ?? null,
  };
}
