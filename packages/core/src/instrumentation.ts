import type { DomainEvent, DomainEventInput, RecordedEvent } from './event.js';
import type { Logger, StoreStats } from './ports.js';

/**
 * Hooks a tracer, a metrics library or an error tracker plugs into a coordinator
 * (`createCoordinator({ instrumentation: [...] })`). Every hook is optional; with none installed
 * the publish and delivery paths allocate nothing for them. Hooks run synchronously on those
 * paths: keep them cheap, and never throw (a throwing hook is logged and ignored). A `publish` or
 * `delivery` hook that returns `undefined` (nothing to observe, e.g. no SDK registered) costs
 * only its call: the publish or attempt then runs as without instrumentation.
 */
export interface Instrumentation {
  /** Shown in logs when a hook throws. */
  readonly name?: string | undefined;
  /** The coordinator started: what a metrics reader needs to observe it later. */
  start?(coordinator: InstrumentedCoordinator): void;
  /** A publish (one event or an atomic batch) begins, before validation. */
  publish?(start: PublishStart): PublishScope | undefined;
  /** A handler attempt begins. */
  delivery?(start: DeliveryStart): DeliveryScope | undefined;
  /** A replay job finished queueing its deliveries (the deliveries then run as attempts with `isReplay`). */
  replay?(info: ReplayInfo): void;
  /** The coordinator stopped: release timers, observers, exporters you own. */
  stop?(): void;
}

/** What `Instrumentation.start` gets: read-only views of the coordinator. */
export interface InstrumentedCoordinator {
  /** The coordinator id (`<host>:<pid>:<random>` unless configured). */
  readonly id: string;
  readonly storeName: string;
  /** One store query for the fleet-wide counts `getCoordinatorStatus()` reports. */
  stats(): Promise<StoreStats>;
  /** Handler names registered in this process. */
  handlerNames(): readonly string[];
}

export interface PublishStart {
  /** The events as the caller passed them (not yet validated: ids may be missing). */
  readonly inputs: ReadonlyArray<DomainEvent | DomainEventInput>;
  /** The event being handled when the publish comes from `context.publish`. */
  readonly causedBy: RecordedEvent | undefined;
}

export interface PublishScope {
  /**
   * Metadata to add to the event at `index` (e.g. `traceparent` of a producer span). Gets the
   * metadata the event will carry so far (the caller's, plus what a handler publish inherits).
   * Returned keys override those.
   */
  metadata?(
    index: number,
    metadata: Readonly<Record<string, string | number | undefined>>,
  ): Readonly<Record<string, string>> | undefined;
  /** The publish ended: stored (`events` in the order given) or failed (`error`, nothing stored). */
  end(outcome: PublishOutcome): void;
}

export type PublishOutcome =
  | { readonly events: readonly RecordedEvent[]; readonly error?: undefined }
  | { readonly events?: undefined; readonly error: unknown };

export interface DeliveryStart {
  readonly event: RecordedEvent;
  readonly handler: string;
  readonly deliveryId: string;
  /** 1 on the first try. */
  readonly attempt: number;
  readonly maxAttempts: number;
  readonly isReplay: boolean;
  /** The coordinator running the attempt. */
  readonly consumerId: string;
}

export interface DeliveryScope {
  /**
   * Calls the handler inside this scope (e.g. with the attempt's span as the active context),
   * so that what the handler does is attributed to it. Must call `fn` synchronously, once, and
   * return its result.
   */
  run?<T>(fn: () => T): T;
  /**
   * Added to the metadata of events the handler publishes with `context.publish` (e.g.
   * `traceparent`). Read when the handler publishes, not when the attempt starts: a getter may
   * compute it then (and should return the same object each time).
   */
  readonly metadata?: Readonly<Record<string, string>> | undefined;
  /**
   * Added to `context.logger`'s bindings and to the log lines about this attempt (e.g.
   * `trace_id`). Read when first needed (the handler's logger, a failure line), like `metadata`.
   */
  readonly logBindings?: Readonly<Record<string, unknown>> | undefined;
  /** The attempt ended. */
  end(outcome: DeliveryOutcome): void;
}

/**
 * - `handled`: the handler succeeded.
 * - `retry`: it failed; another attempt is due in `retryInMs`.
 * - `dead`: it failed for the last time (`reason`): the delivery is a dead letter.
 * - `released`: shutdown gave the lease back before the handler finished; it runs again elsewhere.
 */
export type DeliveryOutcome =
  | { readonly status: 'handled'; readonly durationMs: number }
  | (DeliveryFailureOutcome & { readonly status: 'retry'; readonly retryInMs: number })
  | (DeliveryFailureOutcome & { readonly status: 'dead'; readonly reason: DeadLetterReason })
  | { readonly status: 'released'; readonly durationMs: number };

export interface DeliveryFailureOutcome {
  readonly durationMs: number;
  readonly error: unknown;
  /** `describeError(error)`: what the store records. */
  readonly errorMessage: string;
  readonly timedOut: boolean;
}

/**
 * `exhausted`: the last of `maxAttempts`; `permanent`: the error said not to retry; `crashed`:
 * leases expired `maxAttempts` times (the process died mid-handler each time), not run again.
 */
export type DeadLetterReason = 'exhausted' | 'permanent' | 'crashed';

export interface ReplayInfo {
  readonly replayId: string;
  readonly events: number;
  readonly deliveries: number;
  readonly truncated: boolean;
  /** True when this process resumed a replay another driver left. */
  readonly resumed: boolean;
}

/**
 * Calls one lifecycle hook (`start`, `replay`, `stop`) of every instrumentation in order; a hook
 * that throws is logged and skipped, never failing the coordinator.
 */
export function callLifecycleHook<K extends 'start' | 'replay' | 'stop'>(
  instrumentation: readonly Instrumentation[],
  logger: Logger,
  hook: K,
  ...args: Parameters<NonNullable<Instrumentation[K]>>
): void {
  for (const instrument of instrumentation) {
    try {
      (instrument[hook] as ((...a: typeof args) => void) | undefined)?.call(instrument, ...args);
    } catch (error) {
      logger.warn({ err: error, instrumentation: instrument.name }, `instrumentation ${hook} hook threw`);
    }
  }
}
