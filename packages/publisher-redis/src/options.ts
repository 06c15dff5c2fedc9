import type { Logger } from '@evco/core';
import type { Cluster, Redis, RedisOptions } from 'ioredis';
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

/** `host:port` (`[v6]:port` for IPv6) or `{ host, port }`, resolved to the object. */
const nodeSchema = z.union([
  z
    .string()
    .regex(/^(\[[0-9A-Fa-f:.]+\]|[^\s:[\]]+):\d{1,5}$/, 'must be host:port')
    .transform((s) => {
      const at = s.lastIndexOf(':');
      return { host: s.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(s.slice(at + 1)) };
    }),
  z.strictObject({ host: z.string().min(1).max(255), port: z.number().int().min(1).max(65_535) }),
]);

export type RedisNode = { host: string; port: number };

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
    client: z
      .custom<Redis | Cluster>(isRedisClient, { message: 'must be an ioredis client (Redis or Cluster)' })
      .optional(),
    /**
     * Redis behind Sentinel: the sentinels are asked for the master of group `name`, and asked
     * again after a failover (Sentinel disconnects clients of a demoted master). Credentials of
     * the data nodes go in `redisOptions` (`password`, `username`, `tls`, `db`).
     */
    sentinel: z
      .strictObject({
        /** The master group name (`sentinel monitor <name> …`). */
        name: z.string().min(1).max(200),
        /** Some or all sentinels: `host:port` or `{ host, port }`. */
        sentinels: z.array(nodeSchema).min(1).max(64),
        /** `requirepass` of the sentinels themselves, if any. */
        sentinelPassword: z.string().min(1).optional(),
      })
      .optional(),
    /**
     * Redis Cluster: seed nodes (any masters); the rest is discovered. Credentials of the nodes go
     * in `redisOptions`.
     */
    cluster: z
      .strictObject({
        /** Seed nodes: `host:port` or `{ host, port }`. */
        nodes: z.array(nodeSchema).min(1).max(1000),
        /**
         * Sharded Pub/Sub (`SPUBLISH`/`SSUBSCRIBE`, Redis 7+): an announcement goes to the one
         * shard owning the channel instead of being broadcast over the cluster bus to every node.
         * Every process of a fleet must use the same setting. `false` for Redis 6 clusters.
         * @default true
         */
        shardedPubSub: z.boolean().optional(),
      })
      .optional(),
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
    const given = [o.url, o.client, o.sentinel, o.cluster].filter((v) => v !== undefined).length;
    if (given !== 1) {
      ctx.addIssue({
        code: 'custom',
        path: ['url'],
        message: 'give exactly one of url, client, sentinel or cluster',
      });
    }
    if (o.client !== undefined && o.redisOptions !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['redisOptions'],
        message: 'only applies with url, sentinel or cluster; configure your own client directly',
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
  client: Redis | Cluster | undefined;
  sentinel: { name: string; sentinels: RedisNode[]; sentinelPassword: string | undefined } | undefined;
  cluster: { nodes: RedisNode[]; shardedPubSub: boolean } | undefined;
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
    sentinel: o.sentinel && {
      name: o.sentinel.name,
      sentinels: o.sentinel.sentinels,
      sentinelPassword: o.sentinel.sentinelPassword,
    },
    cluster: o.cluster && { nodes: o.cluster.nodes, shardedPubSub: o.cluster.shardedPubSub ?? true },
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
