import { waitFor } from '@evco/testkit';
import {
  type ClusterTopology,
  type RedisTopologyNode as Node,
  redisServerMajor,
  startCluster,
} from '@evco/testkit/redis';
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  expectEverythingHandledOnce,
  publishPaced,
  startFleet,
  statusCounts,
  subscriptionsBack,
} from './fleet.js';

/**
 * Redis Cluster with a replica per master (three shards, six local processes of this test): the
 * shard owning the events channel fails over to its replica (`CLUSTER FAILOVER`) while a fleet
 * publishes. Its sharded subscriptions go with the slot: the demoted master drops them and the
 * publishers must subscribe again on the promoted replica, and the store makes sure no event is
 * lost in between. As the Sentinel failover test, end to end through a shared store.
 */
const TOTAL = 4000;
const RATE_PER_SEC = 500;
const tooOld = redisServerMajor() < 7;

let cluster: ClusterTopology;
beforeAll(async () => {
  if (!tooOld) cluster = await startCluster({ masters: 3, replicas: 1 });
}, 90_000);
afterAll(async () => {
  await cluster?.stop();
});

const seed = (node: Node) => `${node.host}:${node.port}`;

describe.skipIf(tooOld)(
  `publisher-redis on a Redis Cluster with replicas${tooOld ? ' (needs redis-server 7+)' : ''}`,
  () => {
    it(`the events channel's master fails over to its replica while ${TOTAL} events are published: each handled once per handler, announcements resume`, async () => {
      // Each member seeded by a different node: the slot map, not the seed, decides where they go.
      const fleet = await startFleet('cluster-failover', { cluster: { nodes: cluster.nodes.map(seed) } });
      // The test's own connection for probes, through the cluster like the fleet's.
      const raw = new Cluster(cluster.nodes);
      raw.on('error', () => {});
      try {
        const before = await cluster.shardOf(fleet.channel);
        expect(before.replicas).toHaveLength(1);
        const replica = before.replicas[0]!;
        const progress = { sent: 0 };
        const publishing = publishPaced(fleet, progress, TOTAL, RATE_PER_SEC);
        await waitFor(() => progress.sent >= TOTAL * 0.3, { timeoutMs: 30_000 });
        await cluster.failover(replica);
        const sentAtFailover = progress.sent;
        expect(sentAtFailover).toBeLessThan(TOTAL);
        const after = await cluster.shardOf(fleet.channel);
        expect(after.master).toEqual(replica);
        const backWithinMs = await subscriptionsBack(fleet, 15_000, (c, m) => raw.spublish(c, m));
        await publishing;
        await expectEverythingHandledOnce(fleet, TOTAL);

        for (const m of fleet.members) {
          const health = await m.publisher.healthCheck();
          expect(health.healthy, JSON.stringify(health.details)).toBe(true);
        }
        // Each subscription rang onReconnect once it was back on the promoted replica, so its
        // coordinator polled for what was announced while it was away.
        const counts = await statusCounts(fleet);
        for (const c of counts) expect(c.reconnects, c.id).toBeGreaterThanOrEqual(1);
        console.log(
          `[cluster-failover] ${seed(before.master)} → ${seed(replica)} after ${sentAtFailover} events; ` +
            `subscriptions back ${backWithinMs} ms after it completed; publish failures a/b: ` +
            `${counts.map((c) => c.publishFailures).join('/')}; reconnects a/b: ${counts.map((c) => c.reconnects).join('/')}`,
        );
      } finally {
        raw.disconnect();
        await fleet.close();
      }
    });
  },
);
