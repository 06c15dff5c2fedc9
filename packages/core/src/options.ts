import { z } from 'zod';
import { InvalidOptionsError } from './errors.js';
import { DEFAULT_MAX_PAYLOAD_BYTES, MAX_NAME_LENGTH, NAME_PATTERN } from './event.js';
import type { Instrumentation } from './instrumentation.js';
import { FORBIDDEN_KEYS } from './json.js';
import type { EventBusMiddleware, EventPublisher, EventStore, Logger } from './ports.js';
import { type RetentionPolicy, retentionSchema } from './retention.js';
import { DEFAULT_RETRY, type RetryPolicy } from './retry.js';
import { parseOptions, toIssues } from './zod-issues.js';

export { parseOptions, toIssues };

const positiveMs = (max: number) => z.number().int().min(1).max(max);

export const retryPolicySchema = z.strictObject({
  /** Attempts in total, the first included. @default 5 */
  maxAttempts: z.number().int().min(1).max(1000).optional(),
  /** @default 200 */
  baseDelayMs: z.number().int().min(0).max(86_400_000).optional(),
  /** @default 60000 */
  maxDelayMs: z
    .number()
    .int()
    .min(0)
    .max(7 * 86_400_000)
    .optional(),
});

const portShape = (methods: string[]) =>
  z.custom<object>(
    (value) =>
      typeof value === 'object' &&
      value !== null &&
      methods.every((m) => typeof (value as Record<string, unknown>)[m] === 'function'),
    { message: `must implement ${methods.join(', ')}` },
  );

export const coordinatorOptionsSchema = z
  .strictObject({
    /** Where events and delivery state live. Required. */
    store: portShape(['append', 'read', 'claimDue', 'complete', 'fail', 'close']),
    /** The doorbell that tells every process about new events. Required. */
    publisher: portShape(['publish', 'subscribe', 'healthCheck', 'close']),
    /** pino-compatible; @default a JSON-lines logger on stderr at `EVCO_LOG_LEVEL` (info) */
    logger: portShape(['debug', 'info', 'warn', 'error']).optional(),
    /** Default retry policy for handlers. */
    retry: retryPolicySchema.optional(),
    /** Recovery poll period: missed announcements, expired leases, stale replays. @default 1000 */
    pollIntervalMs: z.number().int().min(5).max(3_600_000).optional(),
    /** How long a claimed delivery belongs to this process. Must exceed every handler timeout. @default 60000 */
    leaseMs: positiveMs(86_400_000).optional(),
    /** Default handler timeout. @default 30000 */
    handlerTimeoutMs: positiveMs(86_400_000).optional(),
    /** Handlers running at once in this process. @default 32 */
    concurrency: z.number().int().min(1).max(10_000).optional(),
    /** A subscription nobody renews for this long stops getting new deliveries. @default 86400000 (24 h) */
    subscriptionTtlMs: z
      .number()
      .int()
      .min(1000)
      .max(365 * 86_400_000)
      .optional(),
    /** How long `shutdown()` waits for in-flight handlers. @default 10000 */
    shutdownTimeoutMs: z.number().int().min(0).max(3_600_000).optional(),
    /** Largest accepted serialized `eventData`. @default 262144 */
    maxPayloadBytes: z
      .number()
      .int()
      .min(1)
      .max(64 * 1024 * 1024)
      .optional(),
    /** Events requeued per replay transaction. @default 500 */
    replayPageSize: z.number().int().min(1).max(100_000).optional(),
    /** Identity of this process in leases and announcements. @default `<host>:<pid>:<random>` */
    id: z.string().min(1).max(MAX_NAME_LENGTH).optional(),
    /** Middlewares added at start, in order. */
    middleware: z.array(portShape([])).optional(),
    /** Clock for leases and retries (tests). @default () => new Date() */
    clock: z.custom<() => Date>((v) => typeof v === 'function', { message: 'must be a function' }).optional(),
    /** Jitter source in [0, 1) (tests). @default Math.random */
    random: z
      .custom<() => number>((v) => typeof v === 'function', { message: 'must be a function' })
      .optional(),
    /** Close the store and publisher on shutdown and when the start fails. @default true */
    closeAdapters: z.boolean().optional(),
    /** Tracing / metrics hooks (e.g. `@evco/opentelemetry`), called in order. @default [] */
    instrumentation: z.array(portShape([])).optional(),
    /**
     * Metadata keys copied from the handled event to the events its handler publishes with
     * `context.publish` (`correlationId` and `causationId` are always set). @default []
     */
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
      .optional(),
    /**
     * Removes old events in the background (one process of the fleet at a time): by age, per
     * event type, with an optional archive hook. Needs a store with the retention capability
     * (every evco store has it). @default none: events are kept forever
     */
    retention: retentionSchema.optional(),
  })
  .superRefine((o, ctx) => {
    const store = o.store as Record<string, unknown>;
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
    const lease = o.leaseMs ?? 60_000;
    const timeout = o.handlerTimeoutMs ?? 30_000;
    if (timeout >= lease) {
      ctx.addIssue({
        code: 'custom',
        path: ['handlerTimeoutMs'],
        message: `must be below leaseMs (${lease}); otherwise another process could take over a running handler`,
      });
    }
  });

export interface CoordinatorOptions {
  store: EventStore;
  publisher: EventPublisher;
  logger?: Logger;
  retry?: Partial<RetryPolicy>;
  pollIntervalMs?: number;
  leaseMs?: number;
  handlerTimeoutMs?: number;
  concurrency?: number;
  subscriptionTtlMs?: number;
  shutdownTimeoutMs?: number;
  maxPayloadBytes?: number;
  replayPageSize?: number;
  id?: string;
  middleware?: EventBusMiddleware[];
  clock?: () => Date;
  random?: () => number;
  closeAdapters?: boolean;
  instrumentation?: Instrumentation[];
  propagateMetadata?: string[];
  /** Removes old events in the background; see `RetentionPolicy`. */
  retention?: RetentionPolicy;
}

export interface ResolvedOptions
  extends Required<Omit<CoordinatorOptions, 'logger' | 'id' | 'retry' | 'middleware' | 'retention'>> {
  retry: RetryPolicy;
  middleware: EventBusMiddleware[];
  retention: RetentionPolicy | undefined;
}

export function resolveCoordinatorOptions(options: CoordinatorOptions): ResolvedOptions {
  const parsed = coordinatorOptionsSchema.safeParse(options);
  if (!parsed.success) throw new InvalidOptionsError('coordinator options', toIssues(parsed.error));
  return {
    store: options.store,
    publisher: options.publisher,
    pollIntervalMs: options.pollIntervalMs ?? 1000,
    leaseMs: options.leaseMs ?? 60_000,
    handlerTimeoutMs: options.handlerTimeoutMs ?? 30_000,
    concurrency: options.concurrency ?? 32,
    subscriptionTtlMs: options.subscriptionTtlMs ?? 86_400_000,
    shutdownTimeoutMs: options.shutdownTimeoutMs ?? 10_000,
    maxPayloadBytes: options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES,
    replayPageSize: options.replayPageSize ?? 500,
    clock: options.clock ?? (() => new Date()),
    random: options.random ?? Math.random,
    closeAdapters: options.closeAdapters ?? true,
    retry: resolveRetry(options.retry, DEFAULT_RETRY),
    middleware: options.middleware ?? [],
    instrumentation: options.instrumentation ?? [],
    // correlationId / causationId are set from the cause anyway; copying them would be a no-op.
    propagateMetadata: (options.propagateMetadata ?? []).filter(
      (k) => k !== 'correlationId' && k !== 'causationId',
    ),
    retention: options.retention,
  };
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
