import type { Logger } from '@evco/core';
import type { Redis, RedisOptions } from 'ioredis';
import { z } from 'zod';

const CHANNEL_PREFIX = /^[A-Za-z0-9_.:-]{1,100}$/;

const isRedisClient = (v: unknown): boolean =>
  typeof v === 'object' &&
  v !== null &&
  ['duplicate', 'publish', 'pipeline', 'ping', 'on', 'off'].every(
    (m) => typeof (v as Record<string, unknown>)[m] === 'function',
  ) &&
  typeof (v as { status?: unknown }).status === 'string';

const ms = (min: number, max: number) => z.number().int().min(min).max(max);

export const redisPublisherOptionsSchema = z
  .strictObject({
    /** `redis://[user:password@]host[:port][/db]` or `rediss://…` (TLS). Give `url` or `client`. */
    url: z
      .string()
      .regex(/^rediss?:\/\/[^\s]+$/, 'must be a redis:// or rediss:// URL')
      .optional(),
    /**
     * Your own ioredis client: announcements are published on it and a duplicate of it subscribes.
     * `close()` leaves it open. Give `url` or `client`.
     */
    client: z.custom<Redis>(isRedisClient, { message: 'must be an ioredis client' }).optional(),
    /** Channels are `<prefix>:events` (and `<prefix>:health:<id>` for health probes). @default 'evco' */
    channelPrefix: z
      .string()
      .regex(CHANNEL_PREFIX, 'must be 1..100 characters of [A-Za-z0-9_.:-]')
      .optional(),
    /** Largest message sent; bigger announcements are split into several. @default 65536 */
    maxMessageBytes: z
      .number()
      .int()
      .min(8192)
      .max(64 * 1024 * 1024)
      .optional(),
    /** Larger incoming messages are dropped as malformed. @default 1048576 */
    maxIncomingBytes: z
      .number()
      .int()
      .min(8192)
      .max(512 * 1024 * 1024)
      .optional(),
    /**
     * A publish that gets no reply within this time fails with `PublisherUnavailableError`;
     * while disconnected, publishes fail at once. @default 1000
     */
    publishTimeoutMs: ms(1, 600_000).optional(),
    /** How long `healthCheck()` waits for its round trip. @default 2000 */
    healthTimeoutMs: ms(1, 600_000).optional(),
    /** First reconnect delay; doubles per failed attempt. @default 50 */
    reconnectBaseDelayMs: ms(1, 600_000).optional(),
    /** Reconnect delay cap: once Redis is back, it is found within about this long. @default 500 */
    reconnectMaxDelayMs: ms(1, 3_600_000).optional(),
    /** TCP connect timeout per attempt. @default 5000 */
    connectTimeoutMs: ms(1, 600_000).optional(),
    /** Extra ioredis options (TLS, username, family, …) for connections made from `url`. */
    redisOptions: z
      .custom<RedisOptions>((v) => typeof v === 'object' && v !== null && !Array.isArray(v), {
        message: 'must be an ioredis options object',
      })
      .optional(),
    /** pino-compatible. @default the evco console logger at EVCO_LOG_LEVEL (info) */
    logger: z
      .custom<Logger>(
        (v) =>
          typeof v === 'object' &&
          v !== null &&
          ['debug', 'info', 'warn', 'error'].every(
            (m) => typeof (v as Record<string, unknown>)[m] === 'function',
          ),
        { message: 'must implement debug, info, warn, error' },
      )
      .optional(),
  })
  .superRefine((o, ctx) => {
    if ((o.url === undefined) === (o.client === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['url'], message: 'give exactly one of url or client' });
    }
    if (o.client !== undefined && o.redisOptions !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['redisOptions'],
        message: 'only applies with url; configure your own client directly',
      });
    }
    const max = o.maxMessageBytes ?? DEFAULTS.maxMessageBytes;
    if ((o.maxIncomingBytes ?? Math.max(max, DEFAULTS.maxIncomingBytes)) < max) {
      ctx.addIssue({
        code: 'custom',
        path: ['maxIncomingBytes'],
        message: `must be at least maxMessageBytes (${max}), or this process would drop its own announcements`,
      });
    }
    const base = o.reconnectBaseDelayMs ?? DEFAULTS.reconnectBaseDelayMs;
    if ((o.reconnectMaxDelayMs ?? Math.max(base, DEFAULTS.reconnectMaxDelayMs)) < base) {
      ctx.addIssue({
        code: 'custom',
        path: ['reconnectMaxDelayMs'],
        message: `must be at least reconnectBaseDelayMs (${base})`,
      });
    }
  });

export type RedisPublisherOptions = z.input<typeof redisPublisherOptionsSchema>;

export const DEFAULTS = {
  channelPrefix: 'evco',
  maxMessageBytes: 65_536,
  maxIncomingBytes: 1_048_576,
  publishTimeoutMs: 1000,
  healthTimeoutMs: 2000,
  reconnectBaseDelayMs: 50,
  reconnectMaxDelayMs: 500,
  connectTimeoutMs: 5000,
} as const;

export interface ResolvedRedisPublisherOptions {
  url: string | undefined;
  client: Redis | undefined;
  channelPrefix: string;
  maxMessageBytes: number;
  maxIncomingBytes: number;
  publishTimeoutMs: number;
  healthTimeoutMs: number;
  reconnectBaseDelayMs: number;
  reconnectMaxDelayMs: number;
  connectTimeoutMs: number;
  redisOptions: RedisOptions;
  logger: Logger | undefined;
}

export function resolveOptions(
  o: z.output<typeof redisPublisherOptionsSchema>,
): ResolvedRedisPublisherOptions {
  const maxMessageBytes = o.maxMessageBytes ?? DEFAULTS.maxMessageBytes;
  const reconnectBaseDelayMs = o.reconnectBaseDelayMs ?? DEFAULTS.reconnectBaseDelayMs;
  return {
    url: o.url,
    client: o.client,
    channelPrefix: o.channelPrefix ?? DEFAULTS.channelPrefix,
    maxMessageBytes,
    maxIncomingBytes: o.maxIncomingBytes ?? Math.max(maxMessageBytes, DEFAULTS.maxIncomingBytes),
    publishTimeoutMs: o.publishTimeoutMs ?? DEFAULTS.publishTimeoutMs,
    healthTimeoutMs: o.healthTimeoutMs ?? DEFAULTS.healthTimeoutMs,
    reconnectBaseDelayMs,
    reconnectMaxDelayMs:
      o.reconnectMaxDelayMs ?? Math.max(reconnectBaseDelayMs, DEFAULTS.reconnectMaxDelayMs),
    connectTimeoutMs: o.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs,
    redisOptions: o.redisOptions ?? {},
    logger: o.logger,
  };
}
