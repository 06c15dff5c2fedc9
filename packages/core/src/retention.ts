import { z } from 'zod';
import { storableDateInput } from './date-range.js';
import { EvcoError } from './errors.js';
import type { RecordedEvent } from './event.js';
import { nameInput } from './event.js';
import type { EventStore, Logger, PruneCursor, PrunedRange, PruneRequest } from './ports.js';
import { within } from './within.js';
import { parseInput } from './zod-issues.js';

/** Receives each batch of events before it is removed; throwing keeps the batch in the store. */
export type ArchiveHook = (events: readonly RecordedEvent[]) => Promise<void>;

const DAY = 86_400_000;
const eventType = nameInput;
const archiveInput = z.custom<ArchiveHook>((v) => typeof v === 'function', { message: 'must be a function' });
const batchSize = z.number().int().min(1).max(100_000);
/** How long one archive call may take, in ms: at least 100 ms, at most a day. */
const archiveTimeoutMs = z
  .number()
  .int()
  .min(100, 'must be at least 100 (milliseconds)')
  .max(DAY, 'must be at most 86400000 (one day, in milliseconds)');
/** The share of time a prune may spend removing: (0, 1]. */
const dutyCycle = z
  .number()
  .gt(0, 'must be above 0 (a share of the time, 1 = no pause)')
  .max(1, 'must be at most 1 (a share of the time, 1 = no pause)');
/** A ceiling on the prune's average rate, in events per second. */
const maxEventsPerSecond = z.number().int().min(1).max(10_000_000);
/** An age: at least a minute (a typo in seconds must not empty the store), at most 100 years. */
const age = z
  .number()
  .int()
  .min(60_000, 'must be at least 60000 (one minute, in milliseconds)')
  .max(36_500 * DAY);

export const retentionSchema = z
  .strictObject({
    /** Events older than this (by `occurredAt`, in ms) are removed, unless `perType` says otherwise. */
    maxAge: age.optional(),
    /** Per event type: its own age, or `null` to keep that type forever. */
    perType: z.record(eventType, age.nullable()).optional(),
    /** How often the fleet's enforcer looks for old events. @default 60000 */
    intervalMs: z
      .number()
      .int()
      .min(100)
      .max(7 * DAY)
      .optional(),
    /** Events removed per transaction. @default 1000 */
    batchSize: batchSize.optional(),
    /** Share of the time the enforcer spends removing; it pauses between batches for the rest. @default 0.25 */
    dutyCycle: dutyCycle.optional(),
    /** At most this many events removed per second, on average (pauses between batches). */
    maxEventsPerSecond: maxEventsPerSecond.optional(),
    /** Receives each batch before it is removed (e.g. `ndjsonFileArchiver(dir)`). */
    archive: archiveInput.optional(),
    /** How long one archive call may take before its batch is given up (kept). @default 300000 */
    archiveTimeoutMs: archiveTimeoutMs.optional(),
  })
  .refine((r) => r.maxAge !== undefined || Object.values(r.perType ?? {}).some((a) => a !== null), {
    message: 'needs maxAge or at least one perType age',
  });

/**
 * Retention as a policy: events older than their age go, in the background, by exactly one
 * process of the fleet at a time (a lease in the store). Events with an open or dead delivery,
 * or inside a running replay, stay until that changes.
 */
export interface RetentionPolicy {
  /** Age in ms (by `occurredAt`) past which events are removed; types in `perType` use their own. */
  maxAge?: number | undefined;
  /** Per event type: its own age in ms, or `null` to keep that type forever. */
  perType?: Record<string, number | null> | undefined;
  /** @default 60000 */
  intervalMs?: number | undefined;
  /** @default 1000 */
  batchSize?: number | undefined;
  /**
   * The share of the time the enforcer spends removing events: after a batch that took `t` ms it
   * pauses `t × (1 − dutyCycle) / dutyCycle` ms, so the application's own writes (and, on SQLite,
   * the process itself: a batch is one synchronous transaction) get the rest. 1 = back to back.
   * @default 0.25
   */
  dutyCycle?: number | undefined;
  /**
   * A ceiling on the enforcer's average rate: each batch of `n` events moves the time the next
   * may start `n / maxEventsPerSecond` seconds later, counted from the first batch's start, and
   * the enforcer pauses until then, so the run averages this rate (timer and lease-check delays
   * are paid back; a run that fell behind does not burst to catch up). Unlike `dutyCycle` it holds the rate,
   * not the share of time, so a slower machine gets longer batches and shorter pauses, and the
   * prune takes what that rate costs there and no more. Both set: the longer pause wins.
   */
  maxEventsPerSecond?: number | undefined;
  archive?: ArchiveHook | undefined;
  /** How long one `archive` call may take; see `PruneEventsOptions.archiveTimeoutMs`. @default 300000 */
  archiveTimeoutMs?: number | undefined;
}

export const pruneSchema = z.strictObject({
  /** Events whose `occurredAt` is before this go. */
  before: storableDateInput,
  /** Only these event types; every type when absent. */
  types: z.array(eventType).min(1).max(1000).optional(),
  /** Events removed per transaction. @default 1000 */
  batchSize: batchSize.optional(),
  /** Share of the time spent removing (pauses between batches for the rest). @default 1 */
  dutyCycle: dutyCycle.optional(),
  /** At most this many events removed per second, on average. */
  maxEventsPerSecond: maxEventsPerSecond.optional(),
  archive: archiveInput.optional(),
  /** How long one archive call may take before its batch is given up (kept). @default 300000 */
  archiveTimeoutMs: archiveTimeoutMs.optional(),
});

export interface PruneEventsOptions {
  /** Events whose `occurredAt` is before this go (with their delivery rows). */
  before: Date | string;
  /** Only these event types; every type when absent. */
  types?: readonly string[] | undefined;
  /** Events removed per transaction. @default 1000 */
  batchSize?: number | undefined;
  /**
   * Share of the time spent removing: after each batch it pauses so that appends running
   * meanwhile keep the rest (see `RetentionPolicy.dutyCycle`). @default 1 (back to back: an
   * operator's prune runs at full speed)
   */
  dutyCycle?: number | undefined;
  /**
   * At most this many events removed per second, on average: after each batch it pauses for
   * the rest of the time that batch's events are worth at this rate (see
   * `RetentionPolicy.maxEventsPerSecond`). No ceiling when absent.
   */
  maxEventsPerSecond?: number | undefined;
  /** Receives each batch before it is removed; if it throws, that batch stays and the prune stops with the error. */
  archive?: ArchiveHook | undefined;
  /**
   * How long one `archive` call may take, in ms (100 to 86400000). Past it the batch is given
   * up as if the hook had thrown: nothing of it is removed and the prune stops with a `TIMEOUT`
   * error. The batch holds the store's prune lock meanwhile (on store-postgres a transaction
   * and the schema's prune lock, which every replay step of that schema waits for), so a hook
   * that never settles (an object-storage call hanging) must not hold it for ever. The hook's
   * own promise is not cancelled: give it its own timeout too if it holds resources.
   * @default 300000 (5 minutes)
   */
  archiveTimeoutMs?: number | undefined;
}

/**
 * `pruneEvents` options checked as `pruneEvents` checks them, without a store: every problem in
 * one `InvalidOptionsError` (`INVALID_OPTIONS`, e.g. `archiveTimeoutMs` outside 100 ms to a day).
 * A caller that gathers the options from a command line or a form (`evco prune`) refuses bad ones
 * this way before it opens a connection, with the ranges `pruneEvents` itself enforces.
 */
export function parsePruneEventsOptions(options: PruneEventsOptions): z.output<typeof pruneSchema> {
  return parseInput(pruneSchema, options, 'prune options');
}

export interface PruneEventsResult {
  /** Events removed. */
  removed: number;
  /** Transactions it took. */
  batches: number;
}

export const DEFAULT_PRUNE_BATCH = 1000;
export const DEFAULT_ARCHIVE_TIMEOUT_MS = 300_000;

/**
 * The archive hook bounded in time: a call that has not settled after `timeoutMs` rejects with
 * `TIMEOUT`, so the store rolls its batch back and lets go of its prune lock (the batch stays).
 */
export function boundedArchive(archive: ArchiveHook, timeoutMs: number): ArchiveHook {
  return async (events) => {
    await within(archive(events), timeoutMs, () => {
      throw new EvcoError(
        'TIMEOUT',
        `the archive hook did not finish within ${timeoutMs} ms (archiveTimeoutMs): its batch of ${events.length} events stays in the store and the prune stopped`,
      );
    });
  };
}
/** Background retention removes a quarter of the time: appends next to it keep most of the machine. */
export const DEFAULT_RETENTION_DUTY_CYCLE = 0.25;

/** How a run of batches is paced; `sleep` and `now` are for tests. */
export interface PrunePacing {
  dutyCycle: number;
  maxEventsPerSecond?: number | undefined;
  sleep?: ((ms: number) => Promise<void>) | undefined;
  /** Monotonic milliseconds. */
  now?: (() => number) | undefined;
}

const sleepMs = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The pause after a batch that took `tookMs`: the rest of the time the duty cycle leaves. */
export function pauseAfterBatch(tookMs: number, dutyCycle: number): number {
  return dutyCycle >= 1 ? 0 : Math.round((tookMs * (1 - dutyCycle)) / dutyCycle);
}

/**
 * When the next batch may start, on a schedule that advances by what each batch's events are
 * worth at the rate (`removed / maxEventsPerSecond`), from the first batch's start. Pausing until
 * then, rather than for a batch's worth minus its own time, also pays back what the pauses
 * themselves overran (a timer fires late, the lease check between batches takes a round trip),
 * so the run's average comes to the rate instead of settling below it. A run that fell behind
 * (a slow batch, a stall) does not catch up: the schedule restarts at `now`, so a stall is not
 * followed by a burst above the rate.
 */
export function nextDueForRate(
  due: number,
  removed: number,
  now: number,
  maxEventsPerSecond: number,
): number {
  return Math.max(due + (removed * 1000) / maxEventsPerSecond, now);
}

/** One turn of the event loop: I/O callbacks and timers the application queued run first. */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));
export const RETENTION_LEASE = 'evco:retention';

/** The store's retention capability, or an `UNSUPPORTED` error naming what is missing. */
export function prunableStore(
  store: EventStore,
  method: string,
): Required<Pick<EventStore, 'pruneEvents' | 'getPrunedRanges'>> {
  if (!store.pruneEvents || !store.getPrunedRanges) {
    throw new EvcoError(
      'UNSUPPORTED',
      `${method} is not supported by the ${store.name} store: it has no pruneEvents (retention capability)`,
    );
  }
  return store as Required<Pick<EventStore, 'pruneEvents' | 'getPrunedRanges'>>;
}

/** One prune rule: a cutoff and which types it covers. */
export type PruneRule = Pick<PruneRequest, 'before' | 'eventTypes' | 'excludeEventTypes'>;

/** The rules a policy gives at `now`: one per type with its own age, one for every other type. */
export function retentionRules(policy: RetentionPolicy, now: Date): PruneRule[] {
  const rules: PruneRule[] = [];
  const own = Object.entries(policy.perType ?? {});
  for (const [type, maxAge] of own) {
    if (maxAge !== null) rules.push({ before: new Date(now.getTime() - maxAge), eventTypes: [type] });
  }
  if (policy.maxAge !== undefined) {
    rules.push({
      before: new Date(now.getTime() - policy.maxAge),
      excludeEventTypes: own.length > 0 ? own.map(([type]) => type) : undefined,
    });
  }
  return rules;
}

/**
 * Runs one rule batch after batch until nothing eligible is left or `proceed()` says stop.
 * An archive failure stops the run with the error (its batch stays in the store).
 */
export async function pruneByRule(
  store: Required<Pick<EventStore, 'pruneEvents'>>,
  rule: PruneRule,
  options: {
    batchSize: number;
    archive?: ArchiveHook | undefined;
    /** @default DEFAULT_ARCHIVE_TIMEOUT_MS */
    archiveTimeoutMs?: number | undefined;
    clock: () => Date;
    proceed?: (() => Promise<boolean>) | undefined;
    pacing?: PrunePacing | undefined;
  },
): Promise<PruneEventsResult> {
  const pacing = options.pacing;
  const now = pacing?.now ?? (() => performance.now());
  const sleep = pacing?.sleep ?? sleepMs;
  let removed = 0;
  let batches = 0;
  let after: PruneCursor | undefined;
  let due: number | undefined;
  const archive =
    options.archive &&
    boundedArchive(options.archive, options.archiveTimeoutMs ?? DEFAULT_ARCHIVE_TIMEOUT_MS);
  for (;;) {
    const started = now();
    due ??= started;
    const batch = await store.pruneEvents({
      ...rule,
      limit: options.batchSize,
      after,
      archive,
      now: options.clock(),
    });
    removed += batch.removed;
    batches++;
    after = batch.next ?? undefined;
    if (!after) break;
    // A timer, not a microtask: the application's I/O and writes run in the pause.
    const ended = now();
    let pause = 0;
    if (pacing) {
      pause = pauseAfterBatch(ended - started, pacing.dutyCycle);
      if (pacing.maxEventsPerSecond) {
        due = nextDueForRate(due, batch.removed, ended, pacing.maxEventsPerSecond);
        pause = Math.max(pause, Math.round(due - ended));
      }
    }
    if (pause > 0) await sleep(pause);
    // Back to back, still one turn of the event loop between batches: a store whose batch is
    // synchronous (store-sqlite) resolves it without I/O, and a loop of such batches in
    // microtasks would hold the process until the prune ends (appends next to it stopped).
    else await nextTurn();
    if (options.proceed && !(await options.proceed())) break;
  }
  return { removed, batches };
}

/**
 * What retention removed from a query's range: the pruned ranges of the types it asks for (all
 * when none) whose cutoff lies after its start (every range when it has none).
 */
export function prunedOverlap(
  ranges: readonly PrunedRange[],
  query: { eventType?: string | readonly string[] | undefined; from?: Date | undefined },
): PrunedRange[] {
  const types =
    query.eventType === undefined
      ? undefined
      : new Set(typeof query.eventType === 'string' ? [query.eventType] : query.eventType);
  return ranges.filter(
    (r) => (!types || types.has(r.eventType)) && (!query.from || query.from.getTime() < r.before.getTime()),
  );
}

/**
 * The background side of a retention policy, one per coordinator: every `intervalMs` it takes
 * (or renews) the fleet's retention lease and, holding it, prunes rule by rule, renewing the
 * lease between batches once a third of its term has passed. It keeps the lease across runs, so one process enforces until it
 * stops (and gives it back) or dies (and the lease expires).
 */
type LeasingStore = Required<Pick<EventStore, 'pruneEvents' | 'acquireLease' | 'releaseLease'>>;

export class RetentionEnforcer {
  readonly #store: LeasingStore;
  readonly #policy: RetentionPolicy;
  readonly #holder: string;
  readonly #logger: Logger;
  readonly #clock: () => Date;
  #timer: ReturnType<typeof setInterval> | undefined;
  #run: Promise<void> | undefined;
  #stopped = false;
  /** When the lease was last taken or renewed (`clock` time), while this process holds it. */
  #leasedAt: number | undefined;
  /** Events this process removed, all runs together. */
  removed = 0;

  constructor(options: {
    store: EventStore;
    policy: RetentionPolicy;
    holder: string;
    logger: Logger;
    clock: () => Date;
  }) {
    const s = options.store;
    if (!s.pruneEvents || !s.acquireLease || !s.releaseLease) {
      throw new EvcoError(
        'UNSUPPORTED',
        `retention is not supported by the ${s.name} store: it has no pruneEvents or leases (retention capability)`,
      );
    }
    this.#store = s as LeasingStore;
    this.#policy = options.policy;
    this.#holder = options.holder;
    this.#logger = options.logger;
    this.#clock = options.clock;
  }

  get #leaseMs(): number {
    // Long enough to survive a slow batch, short enough that another process takes over soon.
    return Math.max(3 * (this.#policy.intervalMs ?? 60_000), 60_000);
  }

  start(): void {
    this.#timer = setInterval(() => void this.runOnce(), this.#policy.intervalMs ?? 60_000);
    this.#timer.unref?.();
    void this.runOnce();
  }

  /** One enforcement round (or the one under way); never throws: failures are logged. */
  runOnce(): Promise<void> {
    this.#run ??= this.#enforce().finally(() => {
      this.#run = undefined;
    });
    return this.#run;
  }

  async #lease(): Promise<boolean> {
    const now = this.#clock();
    const held = await this.#store.acquireLease({
      name: RETENTION_LEASE,
      holder: this.#holder,
      now,
      ttlMs: this.#leaseMs,
    });
    this.#leasedAt = held ? now.getTime() : undefined;
    return held;
  }

  /**
   * Between batches and rules: renews the lease once a third of its term has passed since it was
   * taken, so it cannot lapse while held (two renewals are due before it would). Renewing it
   * after every batch cost each batch a round trip to the store, one more wait for a reply on
   * the application's event loop. A clock that went back counts as due.
   */
  async #keepLease(): Promise<boolean> {
    const since = this.#leasedAt === undefined ? undefined : this.#clock().getTime() - this.#leasedAt;
    if (since !== undefined && since >= 0 && since < this.#leaseMs / 3) return true;
    return this.#lease();
  }

  async #enforce(): Promise<void> {
    if (this.#stopped) return;
    let removed = 0;
    try {
      if (!(await this.#lease())) return;
      const proceed = async () => !this.#stopped && (await this.#keepLease());
      for (const rule of retentionRules(this.#policy, this.#clock())) {
        if (!(await proceed())) break;
        const result = await pruneByRule(this.#store, rule, {
          batchSize: this.#policy.batchSize ?? DEFAULT_PRUNE_BATCH,
          archive: this.#policy.archive,
          archiveTimeoutMs: this.#policy.archiveTimeoutMs,
          clock: this.#clock,
          proceed,
          pacing: {
            dutyCycle: this.#policy.dutyCycle ?? DEFAULT_RETENTION_DUTY_CYCLE,
            maxEventsPerSecond: this.#policy.maxEventsPerSecond,
          },
        });
        removed += result.removed;
      }
    } catch (error) {
      this.#logger.error(
        { err: error, removed },
        'retention: pruning failed (an archive failure keeps its batch); trying again at the next interval',
      );
    } finally {
      this.removed += removed;
      if (removed > 0) this.#logger.info({ removed }, 'retention: old events removed');
    }
  }

  /** Stops after the current batch and gives the lease back. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    await this.#run;
    await this.#store.releaseLease({ name: RETENTION_LEASE, holder: this.#holder }).catch(() => {});
  }
}
