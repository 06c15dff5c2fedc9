import type { Logger, OptionsMatchSchema } from '@evco/core/adapter';
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

/**
 * Every default, once: applied by the schema, documented on `RedisPublisherOptions`.
 * `maxIncomingBytes` and `reconnectMaxDelayMs` default to at least `maxMessageBytes` and
 * `reconnectBaseDelayMs`.
 */
export const DEFAULTS = {
  channelPrefix: 'evco',
  maxMessageBytes: 65_536,
  maxIncomingBytes: 1_048_576,
  publishTimeoutMs: 1000,
  healthTimeoutMs: 2000,
  reconnectBaseDelayMs: 50,
  reconnectMaxDelayMs: 500,
  connectTimeoutMs: 5000,
  shardedPubSub: true,
} as const;

/**
 * Validates `RedisPublisherOptions` and applies `DEFAULTS` (see core's options.ts for the
 * convention: the documented interface is what users hover, the schema is checked against it).
 */
const REDIS_URL = /^rediss?:\/\/[^\s]+$/;

function parsesAsUrl(value: string): boolean {
  try {
    new URL(value);
    return true;
  } catch {
    return false;
  }
}

export const redisPublisherOptionsSchema = z
  .strictObject({
    url: z
      .string()
      .regex(REDIS_URL, 'must be a redis:// or rediss:// URL')
      // ioredis parses the URL with Node's legacy url.parse, which prints a deprecation warning
      // quoting the whole URL, password included, for one WHATWG rejects (a port that is not a
      // number, say), then reconnects forever. Refused here instead, without repeating it.
      .refine((value) => !REDIS_URL.test(value) || parsesAsUrl(value), {
        message: 'is not a valid URL (check the port, and percent-encode special characters in the password)',
      })
      .optional(),
    client: z
      .custom<Redis | Cluster>(isRedisClient, { message: 'must be an ioredis client (Redis or Cluster)' })
      .optional(),
    sentinel: z
      .strictObject({
        name: z.string().min(1).max(200),
        sentinels: z.array(nodeSchema).min(1).max(64),
        sentinelPassword: z.string().min(1).optional(),
      })
      .optional(),
    cluster: z
      .strictObject({
        nodes: z.array(nodeSchema).min(1).max(1000),
        shardedPubSub: z.boolean().default(DEFAULTS.shardedPubSub),
      })
      .optional(),
    channelPrefix: z
      .string()
      .regex(CHANNEL_PREFIX, 'must be 1..100 characters of [A-Za-z0-9_.:-]')
      .default(DEFAULTS.channelPrefix),
    maxMessageBytes: z
      .number()
      .int()
      .min(8192)
      .max(64 * 1024 * 1024)
      .default(DEFAULTS.maxMessageBytes),
    // Defaulted below: at least maxMessageBytes.
    maxIncomingBytes: z
      .number()
      .int()
      .min(8192)
      .max(512 * 1024 * 1024)
      .optional(),
    publishTimeoutMs: ms(1, 600_000).default(DEFAULTS.publishTimeoutMs),
    healthTimeoutMs: ms(1, 600_000).default(DEFAULTS.healthTimeoutMs),
    reconnectBaseDelayMs: ms(1, 600_000).default(DEFAULTS.reconnectBaseDelayMs),
    // Defaulted below: at least reconnectBaseDelayMs.
    reconnectMaxDelayMs: ms(1, 3_600_000).optional(),
    connectTimeoutMs: ms(1, 600_000).default(DEFAULTS.connectTimeoutMs),
    redisOptions: z
      .custom<RedisOptions>((v) => typeof v === 'object' && v !== null && !Array.isArray(v), {
        message: 'must be an ioredis options object',
      })
      .optional(),
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
        message:
          given === 0
            ? // The usual cause is `url: process.env.REDIS_URL` with the variable unset.
              'give one of url, client, sentinel or cluster; none is set (an undefined url, say from an unset REDIS_URL, counts as not set)'
            : 'give exactly one of url, client, sentinel or cluster',
      });
    }
    if (o.client !== undefined && o.redisOptions !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['redisOptions'],
        message: 'only applies with url, sentinel or cluster; configure your own client directly',
      });
    }
    const max = o.maxMessageBytes;
    if ((o.maxIncomingBytes ?? Math.max(max, DEFAULTS.maxIncomingBytes)) < max) {
      ctx.addIssue({
        code: 'custom',
        path: ['maxIncomingBytes'],
        message: `must be at least maxMessageBytes (${max}), or this process would drop its own announcements`,
      });
    }
    const base = o.reconnectBaseDelayMs;
    if ((o.reconnectMaxDelayMs ?? Math.max(base, DEFAULTS.reconnectMaxDelayMs)) < base) {
      ctx.addIssue({
        code: 'custom',
        path: ['reconnectMaxDelayMs'],
        message: `must be at least reconnectBaseDelayMs (${base})`,
      });
    }
  })
  .transform((o) => ({
    ...o,
    maxIncomingBytes: o.maxIncomingBytes ?? Math.max(o.maxMessageBytes, DEFAULTS.maxIncomingBytes),
    reconnectMaxDelayMs:
      o.reconnectMaxDelayMs ?? Math.max(o.reconnectBaseDelayMs, DEFAULTS.reconnectMaxDelayMs),
    redisOptions: o.redisOptions ?? {},
  }));

export interface RedisPublisherOptions {
  /** `redis://[user:password@]host[:port][/db]` or `rediss://…` (TLS). Give `url` or `client`. */
  url?: string | undefined;
  /**
   * Your own ioredis client: announcements are published on it and a duplicate of it subscribes.
   * `close()` leaves it open. Give `url` or `client`.
   */
  client?: Redis | Cluster | undefined;
  /**
   * Redis behind Sentinel: the sentinels are asked for the master of group `name`, and asked
   * again after a failover (Sentinel disconnects clients of a demoted master). Credentials of
   * the data nodes go in `redisOptions` (`password`, `username`, `tls`, `db`).
   */
  sentinel?:
    | {
        /** The master group name (`sentinel monitor <name> …`). */
        name: string;
        /** Some or all sentinels: `host:port` or `{ host, port }`. */
        sentinels: Array<string | RedisNode>;
        /** `requirepass` of the sentinels themselves, if any. */
        sentinelPassword?: string | undefined;
      }
    | undefined;
  /**
   * Redis Cluster: seed nodes (any masters); the rest is discovered. Credentials of the nodes go
   * in `redisOptions`.
   */
  cluster?:
    | {
        /** Seed nodes: `host:port` or `{ host, port }`. */
        nodes: Array<string | RedisNode>;
        /**
         * Sharded Pub/Sub (`SPUBLISH`/`SSUBSCRIBE`, Redis 7+): an announcement goes to the one
         * shard owning the channel instead of being broadcast over the cluster bus to every node.
         * Every process of a fleet must use the same setting. `false` for Redis 6 clusters.
         * @default true
         */
        shardedPubSub?: boolean | undefined;
      }
    | undefined;
  /** Channels are `<prefix>:events` (and `<prefix>:health:<id>` for health probes). @default 'evco' */
  channelPrefix?: string | undefined;
  /** Largest message sent; bigger announcements are split into several. @default 65536 */
  maxMessageBytes?: number | undefined;
  /** Larger incoming messages are dropped as malformed. @default 1048576 (at least `maxMessageBytes`) */
  maxIncomingBytes?: number | undefined;
  /**
   * A publish that gets no reply within this time fails with `PublisherUnavailableError`;
   * while disconnected, publishes fail at once. @default 1000
   */
  publishTimeoutMs?: number | undefined;
  /** How long `healthCheck()` waits for its round trip. @default 2000 */
  healthTimeoutMs?: number | undefined;
  /** First reconnect delay; doubles per failed attempt. @default 50 */
  reconnectBaseDelayMs?: number | undefined;
  /** Reconnect delay cap: once Redis is back, it is found within about this long. @default 500 (at least `reconnectBaseDelayMs`) */
  reconnectMaxDelayMs?: number | undefined;
  /** TCP connect timeout per attempt. @default 5000 */
  connectTimeoutMs?: number | undefined;
  /** Extra ioredis options (TLS, username, family, …) for connections made from `url`. @default {} */
  redisOptions?: RedisOptions | undefined;
  /** pino-compatible. @default the evco console logger at EVCO_LOG_LEVEL (info) */
  logger?: Logger | undefined;
}
true satisfies OptionsMatchSchema<RedisPublisherOptions, typeof redisPublisherOptionsSchema>;

/** The options with every default applied (the schema's output). */
export type ResolvedRedisPublisherOptions = z.output<typeof redisPublisherOptionsSchema>;
