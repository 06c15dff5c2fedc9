import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '@evco/core';
import { waitFor } from '@evco/testkit';
import {
  type ClusterTopology,
  type RedisTopologyNode as Node,
  redisServerMajor,
  startCluster,
} from '@evco/testkit/redis';
import { Cluster } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRedisPublisher } from '../src/index.js';
import {
  expectEverythingHandledOnce,
  publishPaced,
  startFleet,
  statusCounts,
  subscriptionsBack,
} from './fleet.js';
import {
  expectEachHandledOnce,
  has,
  killMembers,
  type Member,
  type Message,
  startMember,
} from './member-process.js';

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
let dir: string | undefined;
const members: Member[] = [];
afterEach(async () => {
  await killMembers(members);
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});
beforeAll(async () => {
  if (!tooOld) cluster = await startCluster({ masters: 3, replicas: 1 });
}, 90_000);
afterAll(async () => {
  await cluster?.stop();
});

const seed = (node: Node) => `${node.host}:${node.port}`;
const killPrefix = () => `evco-test-cluster-kill-${process.pid}`;

/** A member's publisher health: whether it is healthy, what its subscription heard, its reconnects. */
async function healthOf(m: Member): Promise<Message> {
  const before = m.messages.filter((x) => x.type === 'health').length;
  m.child.send({ type: 'health' });
  await waitFor(() => m.messages.filter((x) => x.type === 'health').length > before, {
    timeoutMs: 15_000,
    message: `member ${m.name} did not report its health`,
  });
  return m.messages.filter((x) => x.type === 'health').at(-1)!;
}

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

    it("a health check that finds the subscription working again after its master's crash finds onReconnect rung", async () => {
      // A shard other than the one the next test kills (each shard has a single replica).
      const spared = (await cluster.shardOf(`${killPrefix()}:events`)).master;
      let prefix = '';
      for (let i = 0; prefix === ''; i++) {
        const candidate = `evco-test-${process.pid}-health-after-crash-${i}`;
        const shard = await cluster.shardOf(`${candidate}:events`);
        if (seed(shard.master) !== seed(spared)) prefix = candidate;
      }
      const publisher = createRedisPublisher({
        cluster: { nodes: [...cluster.nodes, ...cluster.replicas].map(seed) },
        channelPrefix: prefix,
        logger: silentLogger,
      });
      let rung = 0;
      publisher.subscribe(() => {}, { onReconnect: () => rung++ });
      try {
        await publisher.waitUntilReady();
        await cluster.kill((await cluster.shardOf(publisher.channel)).master);
        // Health checks back to back, as a readiness probe would: the first that finds the
        // subscription working must also find it counted back (and the coordinator told).
        const checks: boolean[] = [];
        const health = await waitFor(
          async () => {
            const h = await publisher.healthCheck();
            checks.push(h.healthy);
            return h.healthy ? h : undefined;
          },
          { timeoutMs: 30_000, intervalMs: 10, message: 'the subscription did not come back' },
        );
        const reconnects = (health.details.subscriber as { reconnects: number }).reconnects;
        // At least once: a slot map refreshed from a node that has not yet heard of the promotion
        // can move the subscription back to the dead master for a while, a second loss.
        expect(reconnects, `health checks: ${checks.join(',')}`).toBeGreaterThanOrEqual(1);
        expect(rung).toBeGreaterThanOrEqual(reconnects);
      } finally {
        await publisher.close();
      }
    });

    it("the channel's master is killed while three processes publish: a replica takes over, each event is handled once per handler, every subscription comes back and hears the next announcements", async () => {
      const PER_MEMBER = 400;
      const NEXT_ROUND = 50;
      dir = mkdtempSync(join(tmpdir(), 'evco-redis-cluster-kill-'));
      const env = {
        DB_FILE: join(dir, 'events.db'),
        CHANNEL_PREFIX: killPrefix(),
      };
      const doomed = (await cluster.shardOf(`${env.CHANNEL_PREFIX}:events`)).master;
      // Every node as a seed, each member starting from a different one.
      const nodes = [...cluster.nodes, ...cluster.replicas];
      const fleet = ['a', 'b', 'c'].map((name, i) =>
        startMember(
          name,
          name === 'c' ? ['projector', 'notifier'] : ['projector'],
          { ...env, REDIS_CLUSTER: [...nodes.slice(i), ...nodes.slice(0, i)].map(seed).join(',') },
          members,
        ),
      );
      for (const m of fleet) {
        await waitFor(() => has(m, 'ready'), {
          timeoutMs: 60_000,
          message: `member ${m.name} did not start: ${m.stderr()}`,
        });
      }
      const all = () => fleet.flatMap((m) => m.messages);
      const count = (type: string) => all().filter((x) => x.type === type).length;
      const handled = () => all().filter((x) => x.type === 'handled');

      // Round one: the master dies a third of the way through; nothing restarts it.
      for (const m of fleet) m.child.send({ type: 'publish', count: PER_MEMBER, ratePerSec: 100 });
      const total = fleet.length * PER_MEMBER;
      await waitFor(() => count('published') >= total * 0.3, { timeoutMs: 30_000 });
      await cluster.kill(doomed);
      const sentAtKill = count('published');
      expect(sentAtKill).toBeLessThan(total);
      expect((await cluster.shardOf(`${env.CHANNEL_PREFIX}:events`)).master).not.toEqual(doomed);
      await waitFor(() => count('published-all') === fleet.length && handled().length >= 2 * total, {
        timeoutMs: 90_000,
        message: 'not everything of round one was handled',
      });

      // Every subscription is back on the promoted replica and rang onReconnect…
      const back = await Promise.all(fleet.map(healthOf));
      for (const h of back) {
        expect(h.healthy, h.member).toBe(true);
        expect(h.reconnects, h.member).toBeGreaterThanOrEqual(1);
      }
      // …and hears what is announced next: each hears every event of round two through Redis.
      for (const m of fleet) m.child.send({ type: 'publish', count: NEXT_ROUND, ratePerSec: 50 });
      const next = fleet.length * NEXT_ROUND;
      await waitFor(
        async () => {
          const now = await Promise.all(fleet.map(healthOf));
          return now.every((h, i) => (h.received as number) - (back[i]!.received as number) >= next);
        },
        { timeoutMs: 30_000, intervalMs: 250, message: 'round two was not heard by every subscription' },
      );
      await waitFor(
        () => count('published-all') === 2 * fleet.length && handled().length >= 2 * (total + next),
        {
          timeoutMs: 60_000,
          message: 'not everything of round two was handled',
        },
      );

      for (const m of fleet) m.child.send({ type: 'shutdown' });
      for (const m of fleet) {
        await waitFor(() => has(m, 'stopped'), {
          timeoutMs: 30_000,
          message: `member ${m.name} did not stop`,
        });
        expect(await m.exited).toBe(0);
      }
      await expectEachHandledOnce(fleet, ['projector', 'notifier'], total + next, env.DB_FILE);
      console.log(
        `[cluster-kill] ${seed(doomed)} killed after ${sentAtKill} of ${total} events from 3 processes; ` +
          `reconnects a/b/c: ${back.map((h) => h.reconnects).join('/')}; round two heard by all`,
      );
    });
  },
);
