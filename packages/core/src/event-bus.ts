import { CoordinatorClosedError, EventValidationError, isEvcoError, type ValidationIssue } from './errors.js';
import {
  type DomainEvent,
  type DomainEventInput,
  ensureDomainEvent,
  type RecordedEvent,
  withMetadata,
} from './event.js';
import type { Instrumentation, PublishScope } from './instrumentation.js';
import { isDebugEnabled } from './logger.js';
import type {
  EventBusMiddleware,
  EventPublisher,
  EventStore,
  Logger,
  PublishContext,
  PublishOptions,
  PublishResult,
} from './ports.js';

export interface EventBusMetrics {
  published: number;
  publishFailures: number;
  rejectedByMiddleware: number;
}

export interface EventBusOptions {
  store: EventStore;
  publisher: EventPublisher;
  logger: Logger;
  source: string;
  now: () => Date;
  maxPayloadBytes: number;
  /** Resolves once handler subscriptions registered so far are persisted. */
  beforeAppend: () => Promise<void> | undefined;
  /** Called right after an append commits: wakes this process's dispatcher without a round trip. */
  afterAppend: (events: readonly RecordedEvent[]) => void;
  isClosed: () => boolean;
  /** Hooks with a `publish` hook; empty: the publish path does nothing for instrumentation. */
  instrumentation?: readonly Instrumentation[];
  /** Metadata keys a handler's publishes copy from the handled event. */
  propagateMetadata?: readonly string[];
}

/**
 * The publish path: validate → `beforePublish` chain → one atomic append (events plus their
 * delivery rows) → announce → `afterPublish` chain in reverse. Only the append can fail a
 * publish once middleware has accepted it; a failed announcement is logged and counted, and
 * the recovery poller delivers the event anyway.
 */
export class EventBus {
  readonly metrics: EventBusMetrics = { published: 0, publishFailures: 0, rejectedByMiddleware: 0 };
  readonly #middlewares: EventBusMiddleware[] = [];
  readonly #options: EventBusOptions;
  readonly #instruments: readonly Instrumentation[];
  readonly #propagate: readonly string[];
  #warnedAt = Number.NEGATIVE_INFINITY;
  #suppressedWarnings = 0;

  constructor(options: EventBusOptions) {
    this.#options = options;
    this.#instruments = (options.instrumentation ?? []).filter((i) => typeof i.publish === 'function');
    this.#propagate = options.propagateMetadata ?? [];
  }

  /** Adds a middleware at the end of the chain (runs last before, first after). */
  addMiddleware(middleware: EventBusMiddleware): () => void {
    this.#middlewares.push(middleware);
    return () => {
      const i = this.#middlewares.indexOf(middleware);
      if (i >= 0) this.#middlewares.splice(i, 1);
    };
  }

  async publishEvent(
    event: DomainEvent | DomainEventInput,
    context: PublishContext = {},
    options: PublishOptions = {},
  ): Promise<PublishResult> {
    const [result] = await this.publishEvents([event], context, options);
    return result!;
  }

  /** Publishes a batch atomically: all events are stored, or none. */
  async publishEvents(
    inputs: ReadonlyArray<DomainEvent | DomainEventInput>,
    context: PublishContext = {},
    options: PublishOptions = {},
  ): Promise<PublishResult[]> {
    if (this.#instruments.length > 0) return this.#publishObserved(inputs, context, options);
    if (!options.idempotent) return this.#publish(inputs, context, undefined);
    try {
      return await this.#publish(inputs, context, undefined);
    } catch (error) {
      if (!isEvcoError(error, 'DUPLICATE_EVENT')) throw error;
      return this.#alreadyStored(inputs, error);
    }
  }

  /** `publishEvents` with every instrumentation's publish scope open around it. */
  async #publishObserved(
    inputs: ReadonlyArray<DomainEvent | DomainEventInput>,
    context: PublishContext,
    options: PublishOptions,
  ): Promise<PublishResult[]> {
    const scopes = startPublishScopes(this.#instruments, inputs, context, this.#options.logger);
    let recorded: RecordedEvent[] | undefined;
    const observe = (events: RecordedEvent[]) => {
      recorded = events;
    };
    try {
      let results: PublishResult[];
      try {
        results = await this.#publish(inputs, context, scopes, observe);
      } catch (error) {
        if (!options.idempotent || !isEvcoError(error, 'DUPLICATE_EVENT')) throw error;
        results = await this.#alreadyStored(inputs, error);
      }
      endPublishScopes(scopes, { events: recorded ?? [] }, this.#options.logger);
      return results;
    } catch (error) {
      endPublishScopes(scopes, { error }, this.#options.logger);
      throw error;
    }
  }

  /** The idempotent outcome: every event of the batch must already be stored under its id. */
  async #alreadyStored(
    inputs: ReadonlyArray<DomainEvent | DomainEventInput>,
    error: unknown,
  ): Promise<PublishResult[]> {
    const results: PublishResult[] = [];
    for (const input of inputs) {
      const id = typeof input.id === 'string' ? input.id.toLowerCase() : undefined;
      const stored = id === undefined ? undefined : await this.#options.store.getEvent(id);
      if (!stored) throw error;
      results.push({ eventId: stored.id, position: stored.position, deliveries: 0 });
    }
    return results;
  }

  async #publish(
    inputs: ReadonlyArray<DomainEvent | DomainEventInput>,
    context: PublishContext,
    scopes: readonly PublishScope[] | undefined,
    observe?: (recorded: RecordedEvent[]) => void,
  ): Promise<PublishResult[]> {
    const o = this.#options;
    if (o.isClosed()) throw new CoordinatorClosedError('publish events');
    if (!Array.isArray(inputs)) {
      throw new EventValidationError([{ path: '', message: 'publishEvents expects an array of events' }]);
    }
    if (inputs.length === 0) return [];
    let events = this.#validate(inputs, context, scopes);

    if (this.#middlewares.length > 0) events = await this.#runBefore(events, context);

    const pending = o.beforeAppend();
    if (pending) await pending;
    if (o.isClosed()) throw new CoordinatorClosedError('publish events');

    const appended = await o.store.append(events, { now: o.now() });
    const recorded = appended.events;
    this.metrics.published += recorded.length;
    observe?.(recorded);
    o.afterAppend(recorded);

    try {
      await o.publisher.publish({
        source: o.source,
        events: recorded.map((e) => ({
          id: e.id,
          eventType: e.eventType,
          aggregateId: e.aggregateId,
          position: e.position,
        })),
      });
    } catch (error) {
      this.#announcementFailed(error, recorded);
    }

    let results: PublishResult[] = recorded.map((e, i) => ({
      eventId: e.id,
      position: e.position,
      deliveries: appended.deliveries[i] ?? 0,
    }));
    if (this.#middlewares.length > 0) results = await this.#runAfter(recorded, results);
    if (isDebugEnabled(o.logger)) {
      for (const e of recorded) {
        o.logger.debug(
          {
            eventId: e.id,
            eventType: e.eventType,
            position: e.position,
            aggregateId: e.aggregateId,
          },
          'published',
        );
      }
    }
    return results;
  }

  /**
   * During a publisher outage every publish fails: one warning per 10 s (with the count of the
   * ones folded into it) keeps the log readable; the rest go to debug.
   */
  #announcementFailed(error: unknown, recorded: readonly RecordedEvent[]): void {
    const o = this.#options;
    this.metrics.publishFailures += 1;
    const now = Date.now();
    if (now - this.#warnedAt >= 10_000) {
      o.logger.warn(
        {
          err: error,
          events: recorded.length,
          firstEventId: recorded[0]?.id,
          suppressedSinceLastWarning: this.#suppressedWarnings,
        },
        'announcement failed; the events are stored and will be delivered by the recovery poller',
      );
      this.#warnedAt = now;
      this.#suppressedWarnings = 0;
    } else {
      this.#suppressedWarnings += 1;
      o.logger.debug({ err: error, firstEventId: recorded[0]?.id }, 'announcement failed');
    }
  }

  #validate(
    inputs: ReadonlyArray<DomainEvent | DomainEventInput>,
    context: PublishContext,
    scopes: readonly PublishScope[] | undefined,
  ): DomainEvent[] {
    const o = this.#options;
    const issues: ValidationIssue[] = [];
    const events: DomainEvent[] = new Array(inputs.length);
    const ids = inputs.length > 1 ? new Set<string>() : undefined;
    const cause = context.causedBy;
    const limits = { maxPayloadBytes: o.maxPayloadBytes };
    for (let i = 0; i < inputs.length; i++) {
      const input = inputs[i]!;
      try {
        let event = ensureDomainEvent(input, limits);
        if (cause || scopes) {
          // Validated first: adding metadata to a validated event re-checks only the metadata.
          const metadata = this.#metadataOf(event, i, context, scopes);
          if (metadata) event = withMetadata(event, metadata, limits);
        }
        if (ids?.has(event.id)) {
          issues.push({
            path: inputs.length > 1 ? `[${i}].id` : 'id',
            message: 'appears twice in the batch',
          });
        }
        ids?.add(event.id);
        events[i] = event;
      } catch (error) {
        if (!isEvcoError(error, 'EVENT_VALIDATION')) throw error;
        for (const issue of (error as EventValidationError).issues) {
          issues.push(inputs.length > 1 ? { ...issue, path: `[${i}].${issue.path}` } : issue);
        }
      }
    }
    if (issues.length > 0)
      throw new EventValidationError(issues, { subject: inputs.length > 1 ? 'events' : 'event' });
    return events;
  }

  /**
   * The metadata an event is stored with, lowest precedence first: keys propagated from the
   * handled event, what the attempt's instrumentation adds (its trace context), the caller's
   * own, the flow (correlation and causation, always from the cause), then what publish
   * instrumentation injects (its producer span).
   */
  #metadataOf(
    event: DomainEvent,
    index: number,
    context: PublishContext,
    scopes: readonly PublishScope[] | undefined,
  ): Record<string, string | number | undefined> | undefined {
    const cause = context.causedBy;
    let changed = cause !== undefined;
    let metadata: Record<string, string | number | undefined> = {};
    if (cause) {
      for (const key of this.#propagate) {
        const value = cause.metadata[key];
        if (value !== undefined) metadata[key] = value;
      }
      if (context.metadata) Object.assign(metadata, context.metadata);
    }
    Object.assign(metadata, event.metadata);
    if (cause) {
      metadata.correlationId = cause.metadata.correlationId ?? cause.id;
      metadata.causationId = cause.id;
    }
    if (scopes) {
      for (const scope of scopes) {
        const added = scope.metadata?.(index, metadata);
        if (added) {
          metadata = { ...metadata, ...added };
          changed = true;
        }
      }
    }
    // Nothing added: the validated event stands as it is (no copy).
    return changed ? metadata : undefined;
  }

  async #runBefore(events: DomainEvent[], context: PublishContext): Promise<DomainEvent[]> {
    const o = this.#options;
    const out: DomainEvent[] = new Array(events.length);
    for (let i = 0; i < events.length; i++) {
      let event = events[i]!;
      for (const middleware of this.#middlewares) {
        if (!middleware.beforePublish) continue;
        try {
          const next = await middleware.beforePublish(event, context);
          event = next === event ? event : ensureDomainEvent(next, { maxPayloadBytes: o.maxPayloadBytes });
        } catch (error) {
          this.metrics.rejectedByMiddleware += 1;
          o.logger.debug(
            { err: error, middleware: middleware.name, eventId: event.id },
            'publish rejected by middleware',
          );
          throw error;
        }
      }
      out[i] = event;
    }
    return out;
  }

  async #runAfter(events: RecordedEvent[], results: PublishResult[]): Promise<PublishResult[]> {
    const out = results.slice();
    for (let i = 0; i < events.length; i++) {
      for (let m = this.#middlewares.length - 1; m >= 0; m--) {
        const middleware = this.#middlewares[m]!;
        if (!middleware.afterPublish) continue;
        const next = await middleware.afterPublish(events[i]!, out[i]!);
        if (next) out[i] = next;
      }
    }
    return out;
  }
}

/** Opens every instrumentation's publish scope; a hook that throws is logged and left out. */
function startPublishScopes(
  instruments: readonly Instrumentation[],
  inputs: ReadonlyArray<DomainEvent | DomainEventInput>,
  context: PublishContext,
  logger: Logger,
): PublishScope[] {
  const scopes: PublishScope[] = [];
  const start = { inputs, causedBy: context.causedBy };
  for (const instrument of instruments) {
    try {
      const scope = instrument.publish!(start);
      if (scope) scopes.push(scope);
    } catch (error) {
      logger.warn({ err: error, instrumentation: instrument.name }, 'instrumentation publish hook threw');
    }
  }
  return scopes;
}

function endPublishScopes(
  scopes: readonly PublishScope[],
  outcome: Parameters<PublishScope['end']>[0],
  logger: Logger,
): void {
  for (const scope of scopes) {
    try {
      scope.end(outcome);
    } catch (error) {
      logger.warn({ err: error }, 'instrumentation publish hook threw');
    }
  }
}
