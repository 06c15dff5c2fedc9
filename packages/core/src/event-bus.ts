import {
  CoordinatorClosedError,
  EvcoError,
  EventValidationError,
  InvalidTransactionError,
  isEvcoError,
  type ValidationIssue,
} from './errors.js';
import {
  type AnyEventInput,
  type DomainEvent,
  type DomainEventInput,
  ensureDomainEvent,
  type RecordedEvent,
  withCheckedMetadata,
} from './event.js';
import type { Instrumentation, PublishScope } from './instrumentation.js';
import { isDebugEnabled } from './logger.js';
import type {
  AppendResult,
  EventBusMiddleware,
  EventPublisher,
  EventStore,
  Logger,
  PublishContext,
  PublishOptions,
  PublishResult,
  TransactionalPublish,
} from './ports.js';

type EventInputs = ReadonlyArray<DomainEvent | AnyEventInput>;

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
  instrumentation?: readonly Instrumentation[] | undefined;
  /** Metadata keys a handler's publishes copy from the handled event. */
  propagateMetadata?: readonly string[] | undefined;
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
    event: DomainEvent | AnyEventInput,
    context: PublishContext = {},
    options: PublishOptions = {},
  ): Promise<PublishResult> {
    const [result] = await this.publishEvents([event], context, options);
    return result!;
  }

  /** Publishes a batch atomically: all events are stored, or none. */
  async publishEvents(
    inputs: ReadonlyArray<DomainEvent | AnyEventInput>,
    context: PublishContext = {},
    options: PublishOptions = {},
  ): Promise<PublishResult[]> {
    const scopes = this.#startScopes(inputs, context);
    if (scopes) return this.#publishObserved(inputs, context, options, scopes);
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
    inputs: ReadonlyArray<DomainEvent | AnyEventInput>,
    context: PublishContext,
    options: PublishOptions,
    scopes: readonly PublishScope[],
  ): Promise<PublishResult[]> {
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
    inputs: ReadonlyArray<DomainEvent | AnyEventInput>,
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
    inputs: EventInputs,
    context: PublishContext,
    scopes: readonly PublishScope[] | undefined,
    observe?: (recorded: RecordedEvent[]) => void,
  ): Promise<PublishResult[]> {
    const o = this.#options;
    let events = this.#validateBatch(inputs, context, scopes);
    if (events.length === 0) return [];

    if (this.#middlewares.length > 0) events = await this.#runBefore(events, context);

    await this.#registrationsSettled();
    const appended = await o.store.append(events, { now: o.now() });
    observe?.(appended.events);
    return this.#announce(appended);
  }

  /**
   * The outbox path (`publishInTransaction`): validate → `beforePublish` chain → `append` into
   * the application's transaction, and nothing more. What `publishEvents` does after its own
   * append (wake, announce, `afterPublish`) waits for the returned `afterCommit`.
   */
  async publishWithin(
    inputs: EventInputs,
    append: (events: readonly DomainEvent[], now: Date) => Promise<AppendResult>,
    stillOpen?: () => boolean,
  ): Promise<TransactionalPublish> {
    const scopes = this.#startScopes(inputs, {});
    try {
      let events = this.#validateBatch(inputs, {}, scopes);
      if (events.length === 0) return this.#committable({ events: [], deliveries: [] }, scopes);
      if (this.#middlewares.length > 0) events = await this.#runBefore(events, {});
      await this.#registrationsSettled();
      return this.#committable(await append(events, this.#options.now()), scopes, stillOpen);
    } catch (error) {
      if (scopes) endPublishScopes(scopes, { error }, this.#options.logger);
      throw error;
    }
  }

  /**
   * `publishWithin` for a synchronous transaction (better-sqlite3's `db.transaction`): nothing
   * here may wait, so the `beforePublish` middlewares must return events, not promises.
   * Registrations this process awaited are stored; one still in flight is not waited for.
   */
  publishWithinSync(
    inputs: EventInputs,
    append: (events: readonly DomainEvent[], now: Date) => AppendResult,
    stillOpen?: () => boolean,
  ): TransactionalPublish {
    const scopes = this.#startScopes(inputs, {});
    try {
      let events = this.#validateBatch(inputs, {}, scopes);
      if (events.length > 0 && this.#middlewares.length > 0) events = this.#runBeforeSync(events, {});
      if (this.#options.isClosed()) throw new CoordinatorClosedError('publish events');
      const appended =
        events.length === 0 ? { events: [], deliveries: [] } : append(events, this.#options.now());
      return this.#committable(appended, scopes, stillOpen);
    } catch (error) {
      if (scopes) endPublishScopes(scopes, { error }, this.#options.logger);
      throw error;
    }
  }

  #startScopes(inputs: EventInputs, context: PublishContext): PublishScope[] | undefined {
    return this.#instruments.length > 0
      ? startPublishScopes(this.#instruments, inputs, context, this.#options.logger)
      : undefined;
  }

  /**
   * The appended batch, announced only when the caller says its transaction committed. A call
   * the store sees made inside the transaction (`stillOpen`) is refused and not remembered, so
   * the same call after COMMIT announces.
   */
  #committable(
    appended: AppendResult,
    scopes: readonly PublishScope[] | undefined,
    stillOpen?: () => boolean,
  ): TransactionalPublish {
    if (scopes) endPublishScopes(scopes, { events: appended.events }, this.#options.logger);
    let announced: Promise<PublishResult[]> | undefined;
    return Object.freeze({
      results: Object.freeze(toResults(appended)),
      afterCommit: () => {
        if (announced === undefined && appended.events.length > 0 && stillOpen?.()) {
          return Promise.reject(
            new InvalidTransactionError(
              'afterCommit() was called before the transaction ended (the handle is still in a transaction): call it after COMMIT; nothing was announced',
            ),
          );
        }
        announced ??= this.#announce(appended);
        return announced;
      },
    });
  }

  /** Closed check, shape check and validation of a batch, before any I/O. */
  #validateBatch(
    inputs: EventInputs,
    context: PublishContext,
    scopes: readonly PublishScope[] | undefined,
  ): DomainEvent[] {
    if (this.#options.isClosed()) throw new CoordinatorClosedError('publish events');
    if (!Array.isArray(inputs)) {
      throw new EventValidationError([{ path: '', message: 'publishEvents expects an array of events' }]);
    }
    return inputs.length === 0 ? [] : this.#validate(inputs, context, scopes);
  }

  async #registrationsSettled(): Promise<void> {
    const pending = this.#options.beforeAppend();
    if (pending) await pending;
    if (this.#options.isClosed()) throw new CoordinatorClosedError('publish events');
  }

  /** After a commit: wake local handlers, ring the doorbell, `afterPublish` in reverse. */
  async #announce(appended: AppendResult): Promise<PublishResult[]> {
    const o = this.#options;
    const recorded = appended.events;
    if (recorded.length === 0) return [];
    this.metrics.published += recorded.length;
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

    let results = toResults(appended);
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
    inputs: ReadonlyArray<DomainEvent | AnyEventInput>,
    context: PublishContext,
    scopes: readonly PublishScope[] | undefined,
  ): DomainEvent[] {
    const o = this.#options;
    const issues: ValidationIssue[] = [];
    const events: DomainEvent[] = new Array(inputs.length);
    const ids = inputs.length > 1 ? new Set<string>() : undefined;
    const cause = context.causedBy;
    const limits = { maxPayloadBytes: o.maxPayloadBytes };
    /** The metadata of the last event this loop extended: what it shares with the next is not checked twice. */
    let extended: DomainEvent['metadata'] | undefined;
    for (let i = 0; i < inputs.length; i++) {
      const input = inputs[i]!;
      try {
        let event = ensureDomainEvent(input, limits);
        if (cause || scopes) {
          // Validated first: adding metadata to a validated event re-checks only the metadata.
          const metadata = this.#metadataOf(event, i, context, scopes);
          if (metadata) {
            event = withCheckedMetadata(event, metadata, limits, extended);
            extended = event.metadata;
          }
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
    const metadata: Record<string, string | number | undefined> = {};
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
          // `metadata` is this call's own object: extend it rather than copy it per scope.
          Object.assign(metadata, added);
          changed = true;
        }
      }
    }
    // Nothing added: the validated event stands as it is (no copy).
    return changed ? metadata : undefined;
  }

  async #runBefore(events: DomainEvent[], context: PublishContext): Promise<DomainEvent[]> {
    const out: DomainEvent[] = new Array(events.length);
    for (let i = 0; i < events.length; i++) {
      let event = events[i]!;
      for (const middleware of this.#middlewares) {
        if (!middleware.beforePublish) continue;
        try {
          event = this.#accepted(event, await middleware.beforePublish(event, context), middleware);
        } catch (error) {
          throw this.#rejected(error, middleware, event);
        }
      }
      out[i] = event;
    }
    return out;
  }

  #runBeforeSync(events: DomainEvent[], context: PublishContext): DomainEvent[] {
    const out: DomainEvent[] = new Array(events.length);
    for (let i = 0; i < events.length; i++) {
      let event = events[i]!;
      for (const middleware of this.#middlewares) {
        if (!middleware.beforePublish) continue;
        let next: DomainEvent | Promise<DomainEvent>;
        try {
          next = middleware.beforePublish(event, context);
        } catch (error) {
          throw this.#rejected(error, middleware, event);
        }
        if (isThenable(next)) {
          // Nobody will await it: a later rejection must not become an unhandled one.
          next.then(undefined, () => {});
          throw new EvcoError(
            'UNSUPPORTED',
            `middleware ${middleware.name ? `"${middleware.name}" ` : ''}returned a promise from beforePublish, but publishInTransactionSync runs inside a synchronous transaction and cannot wait for it: make beforePublish synchronous, or use publishInTransaction in a transaction you drive with BEGIN/COMMIT`,
          );
        }
        event = this.#accepted(event, next, middleware);
      }
      out[i] = event;
    }
    return out;
  }

  /** What a `beforePublish` returned, validated again when it is a new event. */
  #accepted(event: DomainEvent, next: DomainEvent, middleware: EventBusMiddleware): DomainEvent {
    if (next === event) return event;
    // The middleware's own mistakes are named after it: the caller of publishEvent did nothing wrong.
    const subject = `event returned by middleware ${middleware.name ? `"${middleware.name}"` : '(unnamed)'}`;
    if (typeof next !== 'object' || next === null || Array.isArray(next)) {
      const got = next === null ? 'null' : Array.isArray(next) ? 'an array' : typeof next;
      throw new EventValidationError(
        [
          {
            path: '',
            message: `beforePublish returned ${got} instead of an event: return the event it was given, or a copy (withMetadata(event, { ... }) adds metadata)`,
          },
        ],
        { subject },
      );
    }
    try {
      return ensureDomainEvent(next, { maxPayloadBytes: this.#options.maxPayloadBytes });
    } catch (error) {
      if (error instanceof EventValidationError) {
        throw new EventValidationError(error.issues, { subject, cause: error });
      }
      throw error;
    }
  }

  #rejected(error: unknown, middleware: EventBusMiddleware, event: DomainEvent): unknown {
    this.metrics.rejectedByMiddleware += 1;
    this.#options.logger.debug(
      { err: error, middleware: middleware.name, eventId: event.id },
      'publish rejected by middleware',
    );
    return error;
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

function toResults(appended: AppendResult): PublishResult[] {
  return appended.events.map((e, i) => ({
    eventId: e.id,
    position: e.position,
    deliveries: appended.deliveries[i] ?? 0,
  }));
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/**
 * Opens every instrumentation's publish scope; a hook that throws is logged and left out.
 * `undefined` when no hook opened one: the publish then costs what it costs without them.
 */
function startPublishScopes(
  instruments: readonly Instrumentation[],
  inputs: ReadonlyArray<DomainEvent | AnyEventInput>,
  context: PublishContext,
  logger: Logger,
): PublishScope[] | undefined {
  let scopes: PublishScope[] | undefined;
  // Instrumentation's port keeps DomainEventInput: what it reads of an input (its type, metadata)
  // does not depend on how the caller typed `eventData`.
  const start = {
    inputs: inputs as ReadonlyArray<DomainEvent | DomainEventInput>,
    causedBy: context.causedBy,
  };
  for (const instrument of instruments) {
    try {
      const scope = instrument.publish!(start);
      if (!scope) continue;
      scopes ??= [];
      scopes.push(scope);
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
