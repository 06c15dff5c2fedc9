import { maskUrl } from '@evco/core/adapter';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { describeClient } from './describe-connection.js';
import type { RedisNode, ResolvedRedisPublisherOptions } from './options.js';

/** A connection of either kind: both speak the commands the publisher uses. */
export type Connection = Redis | Cluster;

export interface Connections {
  /** Publishes; no offline queue (see below). */
  pub: Connection;
  /** Subscribes; resubscribed by the publisher itself on every 'ready'. */
  sub: Connection;
  /** The publisher created `pub` (and closes it). */
  ownsPub: boolean;
  /** Where it points, for messages: never a password. */
  where: string;
  /** SPUBLISH/SSUBSCRIBE (Cluster) instead of PUBLISH/SUBSCRIBE. */
  sharded: boolean;
}

/**
 * How often a Cluster subscriber reads the slot map. A slot that moves (a reshard, a new shard)
 * takes its sharded subscriptions with it: Redis drops them, the connection stays up, and ioredis
 * subscribes again on the new owner only when its slot map changes, which without this refresh it
 * never reads again (nothing is sent on a subscriber to be answered MOVED). One CLUSTER SLOTS per
 * interval per process; announcements missed meanwhile are found by the coordinators' poll.
 */
export const SLOTS_REFRESH_MS = 2000;

/**
 * The two connections of a publisher, for each topology. Publishing must never wait for Redis to
 * come back: the events are already stored and the coordinator's publish path is waiting. So
 * the publishing connection has no offline queue, and commands in flight when it drops are
 * rejected at once instead of re-sent later. The subscriber resubscribes itself: that tells the
 * publisher when the subscription is really back, which is when `onReconnect` must fire.
 */
export function openConnections(
  o: ResolvedRedisPublisherOptions,
  retryStrategy: (attempt: number) => number,
): Connections {
  const subscriber: RedisOptions = {
    lazyConnect: true,
    retryStrategy,
    autoResubscribe: false,
    connectionName: 'evco-subscriber',
  };
  const publisher: RedisOptions = {
    lazyConnect: true,
    retryStrategy,
    connectionName: 'evco-publisher',
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
  };
  const common: RedisOptions = { ...o.redisOptions, connectTimeout: o.connectTimeoutMs };

  if (o.client) {
    if (o.client.isCluster) {
      const cluster = o.client as Cluster;
      const sharded = o.cluster?.shardedPubSub ?? true;
      return {
        pub: cluster,
        sub: cluster.duplicate(undefined, {
          lazyConnect: true,
          shardedSubscribers: sharded,
          slotsRefreshInterval: cluster.options.slotsRefreshInterval || SLOTS_REFRESH_MS,
        }),
        ownsPub: false,
        where: describeNodes(
          'redis-cluster',
          cluster
            .nodes('all')
            .map((n) => ({ host: n.options.host ?? 'localhost', port: n.options.port ?? 6379 })),
        ),
        sharded,
      };
    }
    const client = o.client as Redis;
    return {
      pub: client,
      sub: client.duplicate(subscriber),
      ownsPub: false,
      where: describeClient(client),
      sharded: false,
    };
  }

  if (o.sentinel) {
    const { name, sentinels, sentinelPassword } = o.sentinel;
    const sentinel: RedisOptions = {
      ...common,
      name,
      sentinels,
      ...(sentinelPassword ? { sentinelPassword } : {}),
      // While no sentinel answers, keep asking at the publisher's reconnect pace.
      sentinelRetryStrategy: retryStrategy,
      // Sentinel disconnects the clients of a demoted master only once it reconfigures it, which
      // can be seconds later; meanwhile a subscriber on it still hears the new master through
      // replication while publishes there reach that node alone. Following +switch-master moves
      // both connections as soon as the sentinels agree (one sentinel subscription each).
      failoverDetector: true,
      // `tls` reaches the master and replicas only with enableTLSForSentinelMode; without it
      // ioredis opens a plain socket and waits for a TLS handshake that never comes. Given `tls`,
      // that is what was meant (an explicit `false` is kept).
      ...(common.tls && common.enableTLSForSentinelMode === undefined
        ? { enableTLSForSentinelMode: true }
        : {}),
      // TLS on one hop only: the sentinels link with each other over the data nodes' transport
      // and name each other (SENTINEL SENTINELS) at those ports, which the client's sentinel
      // transport cannot use. Followed, ioredis's failover detector would retry them every
      // second for good, each failure an unhandled error on stderr; keep to the list given.
      ...(Boolean(common.tls) !== Boolean(common.sentinelTLS) && common.updateSentinels === undefined
        ? { updateSentinels: false }
        : {}),
    };
    return {
      pub: new Redis({ ...sentinel, ...publisher }),
      sub: new Redis({ ...sentinel, ...subscriber }),
      ownsPub: true,
      where: `${describeNodes('redis-sentinel', sentinels)}/${encodeURIComponent(name)}`,
      sharded: false,
    };
  }

  if (o.cluster) {
    const { nodes, shardedPubSub } = o.cluster;
    return {
      pub: new Cluster(nodes, {
        lazyConnect: true,
        clusterRetryStrategy: retryStrategy,
        // Fails fast while the cluster is down; per node, ioredis connects lazily and needs the
        // node connection's own queue for the first command.
        enableOfflineQueue: false,
        redisOptions: { ...common, connectionName: 'evco-publisher' },
      }),
      sub: new Cluster(nodes, {
        lazyConnect: true,
        clusterRetryStrategy: retryStrategy,
        // One subscriber connection per shard that owns a subscribed channel's slot.
        shardedSubscribers: shardedPubSub,
        slotsRefreshInterval: SLOTS_REFRESH_MS,
        redisOptions: { ...common, connectionName: 'evco-subscriber' },
      }),
      ownsPub: true,
      where: describeNodes('redis-cluster', nodes),
      sharded: shardedPubSub,
    };
  }

  const url = o.url!;
  return {
    pub: new Redis(url, { ...common, ...publisher }),
    sub: new Redis(url, { ...common, ...subscriber }),
    ownsPub: true,
    where: maskUrl(url),
    sharded: false,
  };
}

function describeNodes(scheme: string, nodes: readonly RedisNode[]): string {
  const hosts = nodes.map(({ host, port }) => `${host.includes(':') ? `[${host}]` : host}:${port}`);
  // A client of yours not connected yet has no known nodes.
  return `${scheme}://${hosts.length > 0 ? hosts.join(',') : '(given client)'}`;
}
