import type { CoordinatorStatus } from './coordinator-types.js';
import type { DispatcherMetrics } from './dispatcher.js';
import { isEvcoError } from './errors.js';
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

/** What the store and the publisher say about the fleet, gathered in parallel, never throwing. */
export interface FleetView {
  storeHealth: HealthStatus;
  publisherHealth: HealthStatus | undefined;
  /** Undefined when the store could not answer. */
  stats: StoreStats | undefined;
  handlers: HandlerStatus[];
}

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
  const [health, publisherHealth, stats, subscriptions] = await Promise.all([
    safeHealth(() => store.healthCheck()),
    publisher ? safeHealth(() => publisher.healthCheck()) : undefined,
    store.stats({ now }).catch((error: unknown): StoreStats | undefined => {
      logger.warn({ err: error }, 'store stats unavailable');
      if (isEvcoError(error, 'STORE_SCHEMA')) schemaError = error;
      return undefined;
    }),
    store.listSubscriptions().catch((): SubscriptionInfo[] => []),
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
      pending: h?.pending ?? 0,
      running: h?.running ?? 0,
      dead: h?.dead ?? 0,
      orphaned: h?.orphaned ?? 0,
      lagMs: h?.oldestPendingAt ? Math.max(0, now.getTime() - h.oldestPendingAt.getTime()) : 0,
      subscriptionExpiresAt: expires,
    };
  });
  return { storeHealth, publisherHealth, stats, handlers };
}

/** Age of the oldest delivery not yet done, in ms (0 when none). */
export function lagMs(stats: StoreStats | undefined, now: Date): number {
  return stats?.oldestPendingAt ? Math.max(0, now.getTime() - stats.oldestPendingAt.getTime()) : 0;
}

/**
 * `getCoordinatorStatus()`: this process's counts next to what the store and the publisher say
 * about the fleet (never throwing: an unreachable store shows as unhealthy with zero counts).
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
    counts: {
      published: input.bus.published,
      handled: d.handled,
      failed: d.failed,
      retried: d.retried,
      timedOut: d.timedOut,
      dead: stats?.dead ?? 0,
      pending: stats?.pending ?? 0,
      unprocessed: stats?.unprocessedEvents ?? 0,
      orphaned: stats?.orphaned ?? 0,
      inFlight: input.inFlight,
      publishFailures: input.bus.publishFailures,
      malformedAnnouncements: input.malformedAnnouncements,
      reconnects: input.reconnects,
      lagMs: lagMs(stats, now),
    },
    lastPosition: stats?.lastPosition ?? null,
  };
}
