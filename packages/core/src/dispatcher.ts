import { describeError } from './describe-error.js';
import { EvcoError, HandlerTimeoutError, isEvcoError } from './errors.js';
import { type AnyEventInput, type DomainEvent, type RecordedEvent, withDerivedId } from './event.js';
import { derivedEventId } from './ids.js';
import type {
  DeadLetterReason,
  DeliveryOutcome,
  DeliveryScope,
  DeliveryStart,
  Instrumentation,
} from './instrumentation.js';
import { childLogger, isDebugEnabled } from './logger.js';
import type {
  ClaimedDelivery,
  DeliveryFailure,
  DeliveryToken,
  EventHandler,
  EventStore,
  HandlerContext,
  HandlerOrdering,
  Logger,
  PublishOptions,
  PublishResult,
} from './ports.js';
import { type RetryPolicy, retryDelayMs } from './retry.js';

export interface RegisteredHandler {
  name: string;
  eventType: string;
  ordering: HandlerOrdering;
  retry: RetryPolicy;
  timeoutMs: number;
  /** Validates / narrows the event before the handler sees it (typed registrations). */
  parse?: ((event: RecordedEvent) => RecordedEvent) | undefined;
  handler: EventHandler;
}

export interface DispatcherMetrics {
  handled: number;
  failed: number;
  retried: number;
  dead: number;
  timedOut: number;
}

export interface DispatcherOptions {
  store: EventStore;
  logger: Logger;
  consumerId: string;
  now: () => Date;
  random: () => number;
  leaseMs: number;
  concurrency: number;
  publish: (
    events: ReadonlyArray<DomainEvent | AnyEventInput>,
    causedBy: RecordedEvent,
    options: PublishOptions,
    metadata: Readonly<Record<string, string>> | undefined,
  ) => Promise<PublishResult[]>;
  /** Most outcomes kept for another write after theirs failed; default `MAX_RETAINED_OUTCOMES`. */
  maxRetainedOutcomes?: number | undefined;
  /** Hooks with a `delivery` hook; empty: attempts allocate nothing for instrumentation. */
  instrumentation?: readonly Instrumentation[] | undefined;
}

interface Running {
  delivery: ClaimedDelivery;
  registration: RegisteredHandler;
  deadline: number;
  /** When the lease of this claim ends, on the dispatcher's clock (`now()` of the claim + `leaseMs`). */
  leaseUntil: number;
  controller: AbortController | undefined;
  settled: boolean;
  /** Open instrumentation scopes of this attempt (undefined when none is installed or none opened one). */
  scopes: DeliveryScope[] | undefined;
  /** `performance.now()` at the start, only measured when instrumented. */
  startedAt: number;
}

/**
 * Claims due deliveries for this process's handlers and runs them.
 *
 * One pump at a time asks the store for as many deliveries as there are free slots; wake-ups
 * (an append here, an announcement from elsewhere, a finished batch, a retry coming due, the
 * recovery poll) only mark that another round is wanted. Completions and failures are written
 * in batches, off the handler's path, one batch in flight at a time. With a store that has
 * `completeAndClaim`, completions ride on the claim rounds instead: each round writes the
 * completions queued so far and claims for the free slots in one store call (one round trip).
 *
 * A completion or failure whose write fails (the store briefly unreachable) is kept and written
 * again, after a short backoff and together with the outcomes queued by then, while its lease
 * lasts: past the lease, another process may already run the delivery again, so it is dropped
 * (the store would ignore the stale token anyway). At most `MAX_RETAINED_OUTCOMES` are kept;
 * past that the oldest kept completions, then failures, are dropped.
 */
export class Dispatcher {
  readonly metrics: DispatcherMetrics = { handled: 0, failed: 0, retried: 0, dead: 0, timedOut: 0 };
  readonly #o: DispatcherOptions;
  readonly #handlers = new Map<string, Map<string, RegisteredHandler>>();
  #handlerNames: string[] = [];
  /** Whether any registration is `aggregate`-ordered: the claims' `ordered` hint. */
  #ordered = false;
  readonly #running = new Map<string, Running>();
  /** Leases being handed back; `stop` waits for them, since the store is closed right after. */
  readonly #releasing = new Set<Promise<void>>();
  #completed: Array<Outcome<DeliveryToken>> = [];
  #failed: Array<Outcome<DeliveryFailure>> = [];
  /** Outcomes whose write failed, waiting for the backoff timer; they hold tokens, not events. */
  #retainedCompleted: Array<Outcome<DeliveryToken>> = [];
  #retainedFailed: Array<Outcome<DeliveryFailure>> = [];
  #retainTimer: NodeJS.Timeout | undefined;
  /** Failed writes in a row (for the backoff); a write that succeeds resets it. */
  #failedWrites = 0;
  #flushing: Promise<void> | undefined;
  #flushScheduled = false;
  #pumping: Promise<void> | undefined;
  #pumpAgain = false;
  #pumpScheduled = false;
  #stopped = false;
  #retryTimer: NodeJS.Timeout | undefined;
  #retryAt = Number.POSITIVE_INFINITY;
  #sweepTimer: NodeJS.Timeout | undefined;
  #idleWaiters: Array<() => void> = [];
  #lastClaimEmpty = false;
  readonly #instruments: readonly Instrumentation[];

  constructor(options: DispatcherOptions) {
    this.#o = options;
    this.#instruments = (options.instrumentation ?? []).filter((i) => typeof i.delivery === 'function');
  }

  get handlerNames(): readonly string[] {
    return this.#handlerNames;
  }

  get inFlight(): number {
    return this.#running.size;
  }

  registrations(): RegisteredHandler[] {
    const out: RegisteredHandler[] = [];
    for (const byType of this.#handlers.values()) out.push(...byType.values());
    return out;
  }

  /** This process's registrations under one handler name (one per event type). */
  registrationsOf(name: string): RegisteredHandler[] {
    return [...(this.#handlers.get(name)?.values() ?? [])];
  }

  has(name: string, eventType: string): boolean {
    return this.#handlers.get(name)?.has(eventType) ?? false;
  }

  add(registration: RegisteredHandler): void {
    let byType = this.#handlers.get(registration.name);
    if (!byType) {
      byType = new Map();
      this.#handlers.set(registration.name, byType);
      this.#handlerNames = [...this.#handlers.keys()];
    }
    byType.set(registration.eventType, registration);
    this.#ordered = this.#anyOrdered();
    this.#ensureSweep();
  }

  #anyOrdered(): boolean {
    for (const byType of this.#handlers.values())
      for (const r of byType.values()) if (r.ordering === 'aggregate') return true;
    return false;
  }

  remove(name: string, eventType: string): void {
    const byType = this.#handlers.get(name);
    if (!byType) return;
    byType.delete(eventType);
    if (byType.size === 0) {
      this.#handlers.delete(name);
      this.#handlerNames = [...this.#handlers.keys()];
    }
    this.#ordered = this.#anyOrdered();
  }

  /** True when one of the types has a local handler. */
  handles(eventType: string): boolean {
    for (const byType of this.#handlers.values()) if (byType.has(eventType)) return true;
    return false;
  }

  /** Asks for a claim round; coalesces with one already running. */
  wake(): void {
    if (this.#stopped || this.#handlerNames.length === 0) return;
    if (this.#pumping) {
      this.#pumpAgain = true;
      return;
    }
    if (this.#pumpScheduled) return;
    // Start on the next turn, not now: every append and announcement of this turn (a loop of
    // awaited publishes runs entirely in microtasks) then shares one claim round.
    this.#pumpScheduled = true;
    setImmediate(() => {
      this.#pumpScheduled = false;
      if (this.#stopped || this.#pumping) return;
      this.#pumping = this.#pump().finally(() => {
        this.#pumping = undefined;
        if (this.#pumpAgain && !this.#stopped) this.wake();
        else this.#notifyIdle();
      });
    });
  }

  async #pump(): Promise<void> {
    const o = this.#o;
    do {
      this.#pumpAgain = false;
      for (;;) {
        const limit = this.#stopped ? 0 : o.concurrency - this.#running.size;
        const completing = this.#claimsComplete() ? this.#completed.splice(0) : [];
        if (limit <= 0 && completing.length === 0) break;
        let claimed: ClaimedDelivery[] = [];
        const request = {
          consumerId: o.consumerId,
          handlers: this.#handlerNames,
          now: o.now(),
          leaseMs: o.leaseMs,
          limit: Math.max(0, limit),
          ordered: this.#ordered,
        };
        try {
          if (completing.length === 0) claimed = await o.store.claimDue(request);
          else claimed = await o.store.completeAndClaim!(records(completing), request);
        } catch (error) {
          if (completing.length > 0) this.#retain(completing, [], error);
          o.logger.error({ err: error }, 'claiming deliveries failed; retrying on the next poll');
          return;
        }
        if (completing.length > 0) {
          this.#failedWrites = 0;
          // A completed ordered delivery unblocks the next of its aggregate, which the store may
          // only see from its next statement on: one more round.
          if (completing.some((c) => c.ordered)) this.#pumpAgain = true;
        }
        this.#lastClaimEmpty = claimed.length === 0;
        const leaseUntil = request.now.getTime() + o.leaseMs;
        for (const delivery of claimed) this.#start(delivery, leaseUntil);
        if (claimed.length < limit || limit <= 0) break;
      }
    } while (this.#pumpAgain && !this.#stopped);
  }

  /**
   * Completions go with the claim rounds (the store's `completeAndClaim`) while rounds can run;
   * otherwise, and at shutdown, `flush` writes them.
   */
  #claimsComplete(): boolean {
    return this.#o.store.completeAndClaim !== undefined && !this.#stopped && this.#handlerNames.length > 0;
  }

  #registration(delivery: ClaimedDelivery): RegisteredHandler | undefined {
    return this.#handlers.get(delivery.handler)?.get(delivery.event.eventType);
  }

  #start(delivery: ClaimedDelivery, leaseUntil: number): void {
    const o = this.#o;
    const registration = this.#registration(delivery);
    if (this.#stopped || !registration) {
      // Unregistered between claim and start, or shutting down: hand the lease straight back.
      this.#release([delivery]);
      return;
    }
    if (delivery.attempt > registration.retry.maxAttempts) {
      // Leases that expired repeatedly (the process died mid-handler each time): a poison event.
      const poison = newRunning(delivery, registration, 0, leaseUntil);
      if (this.#instruments.length > 0) this.#open(poison);
      this.#fail(
        poison,
        new EvcoError('HANDLER_CRASHED', `lease expired ${delivery.attempt - 1} times without completion`),
        'crashed',
      );
      return;
    }
    const running = newRunning(delivery, registration, Date.now() + registration.timeoutMs, leaseUntil);
    if (this.#instruments.length > 0) this.#open(running);
    this.#running.set(delivery.deliveryId, running);
    if (isDebugEnabled(o.logger)) {
      o.logger.debug(
        {
          handler: delivery.handler,
          eventId: delivery.event.id,
          eventType: delivery.event.eventType,
          attempt: delivery.attempt,
          isReplay: delivery.isReplay,
        },
        'attempt',
      );
    }
    // Whatever the handler throws, returns or rejects with (undefined, a Proxy whose traps
    // throw, a thenable whose `then` throws) ends as exactly one success or one failure here;
    // nothing may escape into an unhandled rejection, which would end the process.
    let then: unknown;
    let result: unknown;
    try {
      result = running.scopes ? runInScopes(running.scopes, () => this.#call(running)) : this.#call(running);
      then = isObjectLike(result) ? (result as { then?: unknown }).then : undefined;
      if (typeof then === 'function') {
        then.call(
          result,
          () => this.#settleSafely(running, false, undefined),
          (error: unknown) => this.#settleSafely(running, true, error),
        );
        return;
      }
    } catch (error) {
      this.#settleSafely(running, true, error);
      return;
    }
    this.#settle(running, false, undefined);
  }

  /** `#settle` from a promise callback: a throw there would be an unhandled rejection. */
  #settleSafely(running: Running, failed: boolean, error: unknown): void {
    try {
      this.#settle(running, failed, error);
    } catch (internal) {
      try {
        this.#o.logger.error({ err: describeError(internal) }, 'recording a handler outcome failed');
      } catch {
        // A logger that throws too: the lease expires and the delivery runs again.
      }
    }
  }

  #call(running: Running): unknown {
    const { delivery, registration } = running;
    const event = registration.parse ? registration.parse(delivery.event) : delivery.event;
    const context = new DeliveryContext(running, this.#o);
    const h = registration.handler;
    return typeof h === 'function' ? h(event, context) : h.handle(event, context);
  }

  /** Opens every instrumentation's scope for the attempt; a hook that throws is logged and left out. */
  #open(running: Running): void {
    const { delivery, registration } = running;
    const start: DeliveryStart = {
      event: delivery.event,
      handler: delivery.handler,
      deliveryId: delivery.deliveryId,
      attempt: delivery.attempt,
      maxAttempts: registration.retry.maxAttempts,
      isReplay: delivery.isReplay,
      consumerId: this.#o.consumerId,
    };
    let scopes: DeliveryScope[] | undefined;
    for (const instrument of this.#instruments) {
      try {
        const scope = instrument.delivery!(start);
        if (!scope) continue;
        scopes ??= [];
        scopes.push(scope);
      } catch (error) {
        this.#o.logger.warn({ err: error, instrumentation: instrument.name }, 'instrumentation hook threw');
      }
    }
    // No hook opened a scope (e.g. a tracer without an SDK): the attempt runs as without them.
    if (!scopes) return;
    running.scopes = scopes;
    running.startedAt = performance.now();
  }

  #close(running: Running, outcome: DeliveryOutcome): void {
    for (const scope of running.scopes!) {
      try {
        scope.end(outcome);
      } catch (error) {
        this.#o.logger.warn({ err: error }, 'instrumentation hook threw');
      }
    }
  }

  #settle(running: Running, failed: boolean, error: unknown): void {
    if (running.settled) return;
    running.settled = true;
    this.#running.delete(running.delivery.deliveryId);
    // Half the slots free: claim more now, on another connection, while the completions are
    // being written (the post-flush wake still picks up successors of ordered chains). A store
    // that claims with the completion write does it there instead, in the same round trip.
    if (
      this.#running.size * 2 <= this.#o.concurrency &&
      !this.#lastClaimEmpty &&
      this.#o.store.completeAndClaim === undefined
    ) {
      this.wake();
    }
    if (!failed) {
      this.metrics.handled += 1;
      if (running.scopes) {
        this.#close(running, { status: 'handled', durationMs: performance.now() - running.startedAt });
      }
      // The claimed delivery carries its lease token (deliveryId, attempt): no copy needed.
      this.#completed.push({
        record: running.delivery,
        leaseUntil: running.leaseUntil,
        ordered: running.registration.ordering !== 'none',
      });
      if (this.#claimsComplete()) this.wake();
      else this.#scheduleFlush();
      return;
    }
    this.#fail(running, error, isPermanent(error) ? 'permanent' : undefined);
  }

  /**
   * Records a failed attempt: a retry, or a dead letter when `deadReason` is given or the
   * attempts are used up. Both are logged at the default level (warn / error): a failing handler
   * must be visible without turning on debug.
   */
  #fail(running: Running, error: unknown, deadReason: DeadLetterReason | undefined): void {
    const o = this.#o;
    const { delivery, registration } = running;
    this.metrics.failed += 1;
    const reason =
      deadReason ?? (delivery.attempt >= registration.retry.maxAttempts ? 'exhausted' : undefined);
    const now = o.now().getTime();
    const retryInMs = reason ? 0 : retryDelayMs(registration.retry, delivery.attempt, o.random);
    const nextAttemptAt = reason ? null : new Date(now + retryInMs);
    const description = describeError(error);
    // Queued before logging: a logger that throws must not lose the failure.
    this.#failed.push({
      record: { ...leaseToken(delivery), error: description, nextAttemptAt },
      leaseUntil: running.leaseUntil,
      ordered: false,
    });
    this.#scheduleFlush();
    if (reason) this.metrics.dead += 1;
    else {
      this.metrics.retried += 1;
      this.#scheduleRetryWake(nextAttemptAt!.getTime());
    }
    if (running.scopes) {
      const failure = {
        durationMs: performance.now() - running.startedAt,
        error,
        errorMessage: description,
        timedOut: isEvcoError(error, 'HANDLER_TIMEOUT'),
      };
      this.#close(
        running,
        reason ? { ...failure, status: 'dead', reason } : { ...failure, status: 'retry', retryInMs },
      );
    }
    const fields = {
      ...scopesMerged(running.scopes, 'logBindings', o.logger),
      handler: delivery.handler,
      eventId: delivery.event.id,
      eventType: delivery.event.eventType,
      attempt: delivery.attempt,
      maxAttempts: registration.retry.maxAttempts,
      error: description,
    };
    if (reason) {
      o.logger.error({ ...fields, reason }, 'dead letter: handler failed for the last time');
    } else {
      o.logger.warn(
        { ...fields, retryInMs, retryAt: nextAttemptAt!.toISOString() },
        'handler failed; retry scheduled',
      );
    }
  }

  #release(deliveries: ClaimedDelivery[]): void {
    const tokens = deliveries.map(leaseToken);
    const released = Promise.resolve()
      .then(() => this.#o.store.release(tokens, { now: this.#o.now() }))
      .catch((error: unknown) => {
        this.#o.logger.warn({ err: error }, 'releasing leases failed; they expire on their own');
      })
      .finally(() => this.#releasing.delete(released));
    this.#releasing.add(released);
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    // setImmediate lets every handler that finishes in this turn join one batch write.
    setImmediate(() => {
      this.#flushScheduled = false;
      void this.flush();
    });
  }

  /** Writes queued completions and failures; resolves when everything queued so far is written. */
  async flush(): Promise<void> {
    while (this.#flushing) await this.#flushing;
    if (this.#completed.length === 0 && this.#failed.length === 0) return;
    const completed = this.#completed;
    const failed = this.#failed;
    this.#completed = [];
    this.#failed = [];
    const o = this.#o;
    this.#flushing = (async () => {
      const now = o.now();
      try {
        if (completed.length > 0) {
          await o.store.complete(records(completed), { now });
          this.#failedWrites = 0;
        }
      } catch (error) {
        this.#retain(completed, [], error);
      }
      try {
        if (failed.length > 0) {
          await o.store.fail(records(failed), { now });
          this.#failedWrites = 0;
        }
      } catch (error) {
        this.#retain([], failed, error);
      }
    })();
    try {
      await this.#flushing;
    } finally {
      this.#flushing = undefined;
    }
    // Finished deliveries may unblock the next event of their aggregate, and slots are free.
    this.wake();
    if (this.#completed.length > 0 || this.#failed.length > 0) this.#scheduleFlush();
    this.#notifyIdle();
  }

  /**
   * Keeps outcomes whose write failed, to write them again while their leases last. Without this,
   * a store unreachable for a moment (a PgBouncer restart, a failover) made every handler that
   * finished meanwhile run again a lease later. Past the lease the write would be a race with
   * another process that may have claimed the delivery again (its token would be refused as
   * stale, so harmless, but pointless): those are dropped. The oldest are dropped past the cap.
   */
  #retain(
    completed: ReadonlyArray<Outcome<DeliveryToken>>,
    failed: ReadonlyArray<Outcome<DeliveryFailure>>,
    error: unknown,
  ): void {
    const o = this.#o;
    const now = o.now().getTime();
    // Only the token is kept: a claimed delivery holds its event, up to maxPayloadBytes.
    const live = completed
      .filter((c) => c.leaseUntil > now)
      .map((c) => ({ ...c, record: leaseToken(c.record) }));
    const liveFailed = failed.filter((f) => f.leaseUntil > now);
    this.#retainedCompleted.push(...live);
    this.#retainedFailed.push(...liveFailed);
    const what = completed.length > 0 ? 'completions' : 'failures';
    o.logger.error(
      { err: error, count: completed.length + failed.length },
      this.#stopped
        ? `recording ${what} failed`
        : `recording ${what} failed; retrying while their leases last`,
    );
    const max = o.maxRetainedOutcomes ?? MAX_RETAINED_OUTCOMES;
    const overflow = this.#retainedCompleted.length + this.#retainedFailed.length - max;
    if (overflow > 0) {
      const fromCompleted = Math.min(overflow, this.#retainedCompleted.length);
      this.#retainedCompleted.splice(0, fromCompleted);
      this.#retainedFailed.splice(0, overflow - fromCompleted);
    }
    this.#dropped(
      completed.length - live.length + failed.length - liveFailed.length,
      'their leases expired before the store answered',
    );
    this.#dropped(overflow, `more than ${max} outcomes were waiting to be written`);
    this.#scheduleRetainedWrite();
  }

  #scheduleRetainedWrite(): void {
    if (this.#retainTimer || this.#stopped) return;
    if (this.#retainedCompleted.length === 0 && this.#retainedFailed.length === 0) return;
    const cap = Math.min(RETAIN_MAX_DELAY_MS, RETAIN_BASE_DELAY_MS * 2 ** this.#failedWrites);
    this.#failedWrites += 1;
    // Half fixed, half jitter: a fleet that lost its store at once does not come back in step.
    const delay = cap / 2 + (this.#o.random() * cap) / 2;
    this.#retainTimer = setTimeout(() => {
      this.#retainTimer = undefined;
      this.#requeueRetained();
    }, delay);
    this.#retainTimer.unref?.();
  }

  /** Puts the kept outcomes whose leases last back in the queues, ahead of the newer ones. */
  #requeueRetained(): void {
    if (this.#retainedCompleted.length === 0 && this.#retainedFailed.length === 0) return;
    const now = this.#o.now().getTime();
    const completed = this.#retainedCompleted.filter((c) => c.leaseUntil > now);
    const failed = this.#retainedFailed.filter((f) => f.leaseUntil > now);
    this.#dropped(
      this.#retainedCompleted.length - completed.length + this.#retainedFailed.length - failed.length,
      'their leases expired before the store answered',
    );
    this.#retainedCompleted = [];
    this.#retainedFailed = [];
    this.#completed.unshift(...completed);
    this.#failed.unshift(...failed);
    if (failed.length > 0 || (completed.length > 0 && !this.#claimsComplete())) this.#scheduleFlush();
    else if (completed.length > 0) this.wake();
    this.#notifyIdle();
  }

  /** One line per drop, however many outcomes it drops (a long outage must not flood the log). */
  #dropped(count: number, why: string): void {
    if (count <= 0) return;
    this.#o.logger.error(
      { count },
      `dropped handler outcomes that could not be recorded (${why}); their deliveries run again once their leases expire`,
    );
  }

  #scheduleRetryWake(at: number): void {
    if (this.#stopped || at >= this.#retryAt) return;
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryAt = at;
    this.#retryTimer = setTimeout(
      () => {
        this.#retryTimer = undefined;
        this.#retryAt = Number.POSITIVE_INFINITY;
        this.wake();
      },
      Math.max(0, at - this.#o.now().getTime()) + 1,
    );
    this.#retryTimer.unref?.();
  }

  #ensureSweep(): void {
    if (this.#sweepTimer || this.#stopped) return;
    const min = Math.min(...this.registrations().map((r) => r.timeoutMs));
    // One coarse timer for every handler's timeout instead of a timer per delivery.
    const period = Math.max(5, Math.min(1000, Math.floor(min / 10)));
    this.#sweepTimer = setInterval(() => this.#sweep(), period);
    this.#sweepTimer.unref?.();
  }

  #sweep(): void {
    if (this.#running.size === 0) return;
    const now = Date.now();
    for (const running of this.#running.values()) {
      if (running.deadline > now) continue;
      this.metrics.timedOut += 1;
      running.controller?.abort(
        new HandlerTimeoutError(running.delivery.handler, running.registration.timeoutMs),
      );
      this.#settle(
        running,
        true,
        new HandlerTimeoutError(running.delivery.handler, running.registration.timeoutMs),
      );
    }
  }

  /** True when nothing runs here and nothing waits to be written. */
  get quiescent(): boolean {
    return (
      this.#running.size === 0 &&
      this.#completed.length === 0 &&
      this.#failed.length === 0 &&
      this.#retainedCompleted.length === 0 &&
      this.#retainedFailed.length === 0 &&
      !this.#flushing &&
      !this.#pumping &&
      !this.#pumpScheduled
    );
  }

  /** Resolves on the next moment the dispatcher becomes quiescent (or after `ms`). */
  nextIdle(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const waiters = this.#idleWaiters;
      function done() {
        clearTimeout(timer);
        const i = waiters.indexOf(done);
        if (i >= 0) waiters.splice(i, 1);
        resolve();
      }
      waiters.push(done);
    });
  }

  #notifyIdle(): void {
    if (!this.quiescent || this.#idleWaiters.length === 0) return;
    for (const waiter of this.#idleWaiters.splice(0)) waiter();
  }

  /**
   * Stops claiming, waits for in-flight handlers until `deadline`, then aborts the rest and gives
   * their leases back so another process can take them at once.
   */
  async stop(deadline: number): Promise<void> {
    this.#stopped = true;
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    if (this.#retainTimer) clearTimeout(this.#retainTimer);
    this.#retainTimer = undefined;
    if (this.#sweepTimer) clearInterval(this.#sweepTimer);
    if (this.#pumping) await this.#pumping.catch(() => {});
    // A claim that was in flight came back after the stop and was handed back at once: make
    // sure that reached the store before it is closed, or the lease would hold it for leaseMs.
    await Promise.all(this.#releasing);
    while (this.#running.size > 0 && Date.now() < deadline) {
      await this.nextIdle(Math.min(50, Math.max(1, deadline - Date.now())));
    }
    const abandoned = [...this.#running.values()];
    for (const running of abandoned) {
      running.settled = true;
      if (running.scopes) {
        this.#close(running, { status: 'released', durationMs: performance.now() - running.startedAt });
      }
      running.controller?.abort(new EvcoError('COORDINATOR_CLOSED', 'the coordinator shut down'));
      this.#running.delete(running.delivery.deliveryId);
    }
    // Outcomes whose write failed get one more try, now, without waiting for their backoff; what
    // fails again is dropped (their deliveries run again once their leases expire).
    this.#requeueRetained();
    await this.flush();
    this.#dropped(
      this.#retainedCompleted.length + this.#retainedFailed.length,
      'the store did not take them at shutdown',
    );
    this.#retainedCompleted = [];
    this.#retainedFailed = [];
    if (abandoned.length > 0) {
      this.#o.logger.warn(
        { count: abandoned.length },
        'shutdown deadline reached; releasing leases of unfinished handlers',
      );
      try {
        await this.#o.store.release(
          abandoned.map((r) => leaseToken(r.delivery)),
          { now: this.#o.now() },
        );
      } catch (error) {
        this.#o.logger.warn({ err: error }, 'releasing leases failed; they expire on their own');
      }
    }
  }
}

/** Outcomes that failed to be written and are kept for another try, at most (see `#retain`). */
const MAX_RETAINED_OUTCOMES = 10_000;
const RETAIN_BASE_DELAY_MS = 100;
const RETAIN_MAX_DELAY_MS = 2000;

/** A completion (the token) or failure waiting to be written, with the end of its lease. */
interface Outcome<T extends DeliveryToken> {
  record: T;
  leaseUntil: number;
  /** A completion of an ordered handler: it unblocks the next delivery of its aggregate. */
  ordered: boolean;
}

function records<T extends DeliveryToken>(outcomes: ReadonlyArray<Outcome<T>>): T[] {
  return outcomes.map((o) => o.record);
}

/** The lease token of a claimed delivery, with the store's lease id when it issued one. */
function leaseToken(d: DeliveryToken): DeliveryToken {
  return d.lease === undefined
    ? { deliveryId: d.deliveryId, attempt: d.attempt }
    : { deliveryId: d.deliveryId, attempt: d.attempt, lease: d.lease };
}

function isObjectLike(value: unknown): value is object {
  return (typeof value === 'object' && value !== null) || typeof value === 'function';
}

/**
 * A failure not worth retrying: marked `retryable: false`, or a typed handler's schema rejected
 * the stored data. Reading the flag may throw (a getter, a Proxy): then it is an ordinary failure.
 */
function isPermanent(error: unknown): boolean {
  try {
    return (
      (isObjectLike(error) && (error as { retryable?: unknown }).retryable === false) ||
      isEvcoError(error, 'EVENT_VALIDATION')
    );
  } catch {
    return false;
  }
}

/**
 * What a handler gets as its second argument. A class rather than an object literal: one is
 * made per delivery, and the logger and abort signal are only built if the handler asks.
 */
class DeliveryContext implements HandlerContext {
  readonly #running: Running;
  readonly #o: DispatcherOptions;
  #logger: Logger | undefined;
  /** Events published through this context so far (this attempt): the index for derived ids. */
  #published = 0;

  constructor(running: Running, options: DispatcherOptions) {
    this.#running = running;
    this.#o = options;
  }

  get attempt(): number {
    return this.#running.delivery.attempt;
  }

  get deliveryId(): string {
    return this.#running.delivery.deliveryId;
  }

  get handlerName(): string {
    return this.#running.delivery.handler;
  }

  get isReplay(): boolean {
    return this.#running.delivery.isReplay;
  }

  get logger(): Logger {
    const { delivery, scopes } = this.#running;
    this.#logger ??= childLogger(this.#o.logger, {
      ...scopesMerged(scopes, 'logBindings', this.#o.logger),
      handler: delivery.handler,
      eventId: delivery.event.id,
    });
    return this.#logger;
  }

  get signal(): AbortSignal {
    this.#running.controller ??= new AbortController();
    return this.#running.controller.signal;
  }

  async publish(event: DomainEvent | AnyEventInput, options: PublishOptions = {}): Promise<PublishResult> {
    const running = this.#running;
    const [result] = await this.#o.publish(
      this.#withDerivedIds([event], options),
      running.delivery.event,
      options,
      scopesMerged(running.scopes, 'metadata', this.#o.logger),
    );
    return result!;
  }

  publishEvents(
    events: ReadonlyArray<DomainEvent | AnyEventInput>,
    options: PublishOptions = {},
  ): Promise<PublishResult[]> {
    return this.#o.publish(
      this.#withDerivedIds(events, options),
      this.#running.delivery.event,
      options,
      scopesMerged(this.#running.scopes, 'metadata', this.#o.logger),
    );
  }

  /**
   * `{ idempotent: true }` without an id would still publish a second follow-up when the
   * reaction runs again (a retry, a replay, a lease lost mid-run). So an input without an id
   * gets one derived from (handled event, handler, index of this event among everything the
   * handler published in this attempt): the same on every run of a deterministic handler, so
   * the second run finds it stored; so does an event whose id was generated when it was built
   * (only an id the caller gave is kept). Counted for every publish, idempotent or not, so adding an
   * idempotent publish after others keeps the earlier indexes.
   */
  #withDerivedIds(
    events: ReadonlyArray<DomainEvent | AnyEventInput>,
    options: PublishOptions,
  ): ReadonlyArray<DomainEvent | AnyEventInput> {
    if (!Array.isArray(events)) return events;
    const first = this.#published;
    this.#published += events.length;
    if (!options.idempotent) return events;
    // An event built beforehand without an id (`createDomainEvent`, a definition's `create`) got
    // a random one: it takes the derived id too, or each run would store another follow-up.
    return events.map((e, i) =>
      typeof e === 'object' && e !== null
        ? withDerivedId(e, () => this.derivedId('publish', String(first + i)))
        : e,
    );
  }

  derivedId(...parts: string[]): string {
    const { delivery } = this.#running;
    return derivedEventId(delivery.event.id, delivery.handler, ...parts);
  }
}

function newRunning(
  delivery: ClaimedDelivery,
  registration: RegisteredHandler,
  deadline: number,
  leaseUntil: number,
): Running {
  return {
    delivery,
    registration,
    deadline,
    leaseUntil,
    controller: undefined,
    settled: false,
    scopes: undefined,
    startedAt: 0,
  };
}

/**
 * The attempt scopes' `metadata` (for the handler's follow-ups) or `logBindings` (for its logger
 * and the failure lines), merged in install order. Read when first needed, not when the attempt
 * starts: a scope may compute them on demand (a tracer formats its `traceparent` only if the
 * handler publishes). A scope whose getter throws is logged and left out.
 */
function scopesMerged<K extends 'metadata' | 'logBindings'>(
  scopes: readonly DeliveryScope[] | undefined,
  key: K,
  logger: Logger,
): DeliveryScope[K] | undefined {
  if (!scopes) return undefined;
  let merged: Record<string, unknown> | undefined;
  let copied = false;
  for (const scope of scopes) {
    let value: Readonly<Record<string, unknown>> | undefined;
    try {
      value = scope[key];
    } catch (error) {
      logger.warn({ err: error }, 'instrumentation hook threw');
      continue;
    }
    if (!value) continue;
    if (!merged) merged = value as Record<string, unknown>;
    else if (copied) Object.assign(merged, value);
    else {
      merged = { ...merged, ...value };
      copied = true;
    }
  }
  return merged as DeliveryScope[K] | undefined;
}

/** Calls `fn` inside every scope that wraps, the first installed outermost. */
function runInScopes<T>(scopes: readonly DeliveryScope[], fn: () => T): T {
  if (scopes.length === 1) return scopes[0]!.run ? scopes[0]!.run(fn) : fn();
  let call = fn;
  for (let i = scopes.length - 1; i >= 0; i--) {
    const scope = scopes[i]!;
    if (!scope.run) continue;
    const inner = call;
    call = () => scope.run!(inner);
  }
  return call();
}
