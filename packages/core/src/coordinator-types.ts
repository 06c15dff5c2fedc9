import type { EventDefinition } from './event.js';
import type { EventPublisher, EventStore, HandlerOrdering, HealthStatus, PrunedRange } from './ports.js';
import type { Position } from './position.js';
import type { RetryPolicy } from './retry.js';
import type { FleetStats, HandlerStatus } from './status.js';

/** The types of the coordinator's own calls (its options are in options.ts, its queries in admin.ts). */

export interface RegisterHandlerOptions {
  /** Stable name, the same in every process; deliveries are tracked under it. @default the function or class name */
  name?: string | undefined;
  retry?: Partial<RetryPolicy> | undefined;
  /** @default the coordinator's handlerTimeoutMs */
  timeoutMs?: number | undefined;
  /** @default 'aggregate' */
  ordering?: HandlerOrdering | undefined;
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
  /**
   * Whether the store answered the fleet-wide counts. It can fail alone (a statement timeout,
   * a lock) while the store stays healthy; then the fleet's figures (`counts.dead`, `pending`,
   * `unprocessed`, `orphaned`, `lagMs`, the handlers' counts and lag) are null, not zero, and
   * `lastPosition` is null too.
   */
  fleetStats: FleetStats;
  counts: {
    /** Published by this process since start. */
    published: number;
    /** Handled successfully by this process since start. */
    handled: number;
    /** Failed attempts in this process (each retry and each dead letter). */
    failed: number;
    retried: number;
    timedOut: number;
    /** Dead deliveries in the store (whole fleet); null when the stats did not answer (`fleetStats`). */
    dead: number | null;
    pending: number | null;
    unprocessed: number | null;
    orphaned: number | null;
    inFlight: number;
    publishFailures: number;
    malformedAnnouncements: number;
    reconnects: number;
    /** Age of the oldest delivery not yet done, in ms (0 when none, null when unknown). */
    lagMs: number | null;
  };
  lastPosition: Position | null;
}

export type HandlerTarget =
  | string
  | EventDefinition<string, object>
  | ReadonlyArray<string | EventDefinition<string, object>>;
