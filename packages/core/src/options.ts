import { z } from 'zod';
import { DEFAULT_MAX_PAYLOAD_BYTES, MAX_NAME_LENGTH, NAME_PATTERN } from './event.js';
import type { Instrumentation } from './instrumentation.js';
import { FORBIDDEN_KEYS } from './json.js';
import type { EventBusMiddleware, EventPublisher, EventStore, Logger } from './ports.js';
import { type RetentionPolicy, retentionSchema } from './retention.js';
import { DEFAULT_RETRY, type RetryPolicy } from './retry.js';
import { type OptionsMatchSchema, parseOptions, toIssues } from './zod-issues.js';

export { type OptionsMatchSchema, parseOptions, toIssues };

const positiveMs = (max: number) => z.number().int().min(1).max(max);

/**
 * Coordinator options, one convention (every evco package follows it):
 * - `CoordinatorOptions` is the documented interface users hover: JSDoc and `@default` on each
 *   property.
 * - `coordinatorOptionsSchema` validates it; defaults are applied by the schema (`.default()`),
 *   from `COORDINATOR_DEFAULTS`, written once.
 * - `ResolvedOptions` is the schema's output; a compile-time check (`OptionsMatchSchema`) fails
 *   the build when the interface and the schema disagree on a name or a type.
 */
export const COORDINATOR_DEFAULTS = {
  pollIntervalMs: 1000,
  leaseMs: 60_000,
  handlerTimeoutMs: 30_000,
  concurrency: 32,
  subscriptionTtlMs: 86_400_000,
  shutdownTimeoutMs: 10_000,
  maxPayloadBytes: DEFAULT_MAX_PAYLOAD_BYTES,
  replayPageSize: 500,
  closeAdapters: true,
} as const;

export const retryPolicySchema = z.strictObject({
  maxAttempts: z.number().int().min(1).max(1000).optional(),
  baseDelayMs: z.number().int().min(0).max(86_400_000).optional(),
  maxDelayMs: z
    .number()
    .int()
    .min(0)
    .max(7 * 86_400_000)
    .optional(),
});
true satisfies OptionsMatchSchema<Partial<RetryPolicy>, typeof retryPolicySchema>;

const implementsPort = (value: unknown, methods: string[]): boolean =>
  typeof value === 'object' &&
  value !== null &&
  methods.every((m) => typeof (value as Record<string, unknown>)[m] === 'function');

const portShape = <T extends object>(methods: string[]) =>
  z.custom<T>((value) => implementsPort(value, methods), { message: `must implement ${methods.join(', ')}` });

/**
 * The store or the publisher: the two a newcomer gets wrong first, so the message says how to
 * fix it. A missing one names a factory; a function (the factory itself, not called) says to call it.
 */
const adapterShape = <T extends object>(methods: string[], port: string, example: string) =>
  z.custom<T>().superRefine((value, ctx) => {
    if (implementsPort(value, methods)) return;
    const message =
      value === undefined
        ? `is required: an ${port}, e.g. ${example}`
        : typeof value === 'function'
          ? `is a function, not an ${port}: call the factory (${example})`
          : `must implement ${methods.join(', ')}`;
    ctx.addIssue({ code: 'custom', message });
  });

const fn = <T>() => z.custom<T>((v) => typeof v === 'function', { message: 'must be a function' });
const defaultClock = () => new Date();

export const coordinatorOptionsSchema = z
  .strictObject({
    store: adapterShape<EventStore>(
      ['append', 'read', 'claimDue', 'complete', 'fail', 'close'],
      'EventStore',
      "createSqliteStore({ filename: './events.db' })",
    ),
    publisher: adapterShape<EventPublisher>(
      ['publish', 'subscribe', 'healthCheck', 'close'],
      'EventPublisher',
      'createInProcPublisher()',
    ),
    logger: portShape<Logger>(['debug', 'info', 'warn', 'error']).optional(),
    retry: retryPolicySchema.optional().transform((r) => resolveRetry(r, DEFAULT_RETRY)),
    pollIntervalMs: z.number().int().min(5).max(3_600_000).default(COORDINATOR_DEFAULTS.pollIntervalMs),
    leaseMs: positiveMs(86_400_000).default(COORDINATOR_DEFAULTS.leaseMs),
    handlerTimeoutMs: positiveMs(86_400_000).default(COORDINATOR_DEFAULTS.handlerTimeoutMs),
    concurrency: z.number().int().min(1).max(10_000).default(COORDINATOR_DEFAULTS.concurrency),
    subscriptionTtlMs: z
      .number()
      .int()
      .min(1000)
      .max(365 * 86_400_000)
      .default(COORDINATOR_DEFAULTS.subscriptionTtlMs),
    shutdownTimeoutMs: z.number().int().min(0).max(3_600_000).default(COORDINATOR_DEFAULTS.shutdownTimeoutMs),
    maxPayloadBytes: z
      .number()
      .int()
      .min(1)
      .max(64 * 1024 * 1024)
      .default(COORDINATOR_DEFAULTS.maxPayloadBytes),
    replayPageSize: z.number().int().min(1).max(100_000).default(COORDINATOR_DEFAULTS.replayPageSize),
    id: z.string().min(1).max(MAX_NAME_LENGTH).optional(),
    middleware: z.array(portShape<EventBusMiddleware>([])).default(() => []),
    clock: fn<() => Date>().default(() => defaultClock),
    random: fn<() => number>().default(() => Math.random),
    closeAdapters: z.boolean().default(COORDINATOR_DEFAULTS.closeAdapters),
    instrumentation: z.array(portShape<Instrumentation>([])).default(() => []),
    propagateMetadata: z
      .array(
        z
          .string()
          .min(1)
          .max(100)
          .regex(NAME_PATTERN, 'may only contain letters, digits and _ . : -')
          .refine((k) => !FORBIDDEN_KEYS.has(k), 'is not allowed'),
      )
      .max(64)
      .readonly()
      .optional()
      // correlationId / causationId are set from the cause anyway; copying them would be a no-op.
      .transform((keys) => (keys ?? []).filter((k) => k !== 'correlationId' && k !== 'causationId')),
    retention: retentionSchema.optional(),
  })
  .superRefine((o, ctx) => {
    const store = o.store as unknown as Record<string, unknown>;
    if (
      o.retention &&
      !['pruneEvents', 'acquireLease', 'releaseLease'].every((m) => typeof store[m] === 'function')
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['retention'],
        message: `needs a store with the retention capability (pruneEvents, acquireLease, releaseLease); the ${String(store.name)} store has none`,
      });
    }
    if (o.handlerTimeoutMs >= o.leaseMs) {
      ctx.addIssue({
        code: 'custom',
        path: ['handlerTimeoutMs'],
        message: `must be below leaseMs (${o.leaseMs}); otherwise another process could take over a running handler`,
      });
    }
  });

/**
 * `waitForIdle(options)` and `shutdown(options)`: checked before anything happens, since a
 * `timeoutMs` that is not a number (`'5s'`) would make the deadline NaN and the wait endless, and
 * a misspelt key (`timeout`) would silently wait the default.
 */
export const waitOptionsSchema = z.strictObject({
  timeoutMs: z.number().int().min(0).optional(),
});

export interface CoordinatorOptions {
  /** Where events and delivery state live (`createPostgresStore`, `createSqliteStore`, `createMemoryStore`). Required. */
  store: EventStore;
  /** The doorbell that tells every process about new events (`createRedisPublisher`, `createInProcPublisher`). Required. */
  publisher: EventPublisher;
  /** pino-compatible. @default a JSON-lines logger on stderr at `EVCO_LOG_LEVEL` (info) */
  logger?: Logger | undefined;
  /** Default retry policy of handlers (each can override it). @default { maxAttempts: 5, baseDelayMs: 200, maxDelayMs: 60000 } */
  retry?: Partial<RetryPolicy> | undefined;
  /** Recovery poll period: missed announcements, expired leases, stale replays. @default 1000 */
  pollIntervalMs?: number | undefined;
  /** How long a claimed delivery belongs to this process. Must exceed every handler timeout. @default 60000 */
  leaseMs?: number | undefined;
  /** Default handler timeout; must be below `leaseMs`. @default 30000 */
  handlerTimeoutMs?: number | undefined;
  /** Handlers running at once in this process. @default 32 */
  concurrency?: number | undefined;
  /** A subscription nobody renews for this long stops getting new deliveries. @default 86400000 (24 h) */
  subscriptionTtlMs?: number | undefined;
  /** How long `shutdown()` waits for in-flight handlers. @default 10000 */
  shutdownTimeoutMs?: number | undefined;
  /** Largest accepted serialized `eventData`, in bytes. @default 262144 (256 KiB) */
  maxPayloadBytes?: number | undefined;
  /** Events requeued per replay transaction. @default 500 */
  replayPageSize?: number | undefined;
  /** Identity of this process in leases and announcements. @default `<host>:<pid>:<random>` */
  id?: string | undefined;
  /** Middlewares added at start, in order. @default [] */
  middleware?: EventBusMiddleware[] | undefined;
  /** Clock for leases and retries (tests). @default () => new Date() */
  clock?: (() => Date) | undefined;
  /** Jitter source in [0, 1) (tests). @default Math.random */
  random?: (() => number) | undefined;
  /** Close the store and publisher on shutdown and when the start fails. @default true */
  closeAdapters?: boolean | undefined;
  /** Tracing / metrics hooks (e.g. `@evco/opentelemetry`), called in order. @default [] */
  instrumentation?: Instrumentation[] | undefined;
  /**
   * Metadata keys copied from the handled event to the events its handler publishes with
   * `context.publish` (`correlationId` and `causationId` are always set). @default []
   */
  propagateMetadata?: readonly string[] | undefined;
  /**
   * Removes old events in the background (one process of the fleet at a time): by age, per
   * event type, with an optional archive hook; see `RetentionPolicy`. Needs a store with the
   * retention capability (every evco store has it). @default none: events are kept forever
   */
  retention?: RetentionPolicy | undefined;
}
true satisfies OptionsMatchSchema<CoordinatorOptions, typeof coordinatorOptionsSchema>;

/** The options with every default applied (the schema's output). */
export type ResolvedOptions = z.output<typeof coordinatorOptionsSchema>;

export function resolveCoordinatorOptions(options: CoordinatorOptions): ResolvedOptions {
  return parseOptions(coordinatorOptionsSchema, options, 'coordinator options');
}

export function resolveRetry(partial: Partial<RetryPolicy> | undefined, base: RetryPolicy): RetryPolicy {
  const retry = { ...base, ...stripUndefined(partial ?? {}) };
  if (retry.maxDelayMs < retry.baseDelayMs) retry.maxDelayMs = retry.baseDelayMs;
  return retry;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * What an adapter accepts as a SQL identifier (a schema name, a table prefix): it is validated
 * in the adapter's options and then quoted into DDL, so it can never break out of its quotes.
 */
export const IDENTIFIER_PATTERN = /^[a-z_][a-z0-9_]{0,40}$/;
