import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Announcement, silentLogger } from '@evco/core';
import { recordingLogger, waitFor } from '@evco/testkit';
import {
  type ClusterTopology,
  type RedisTopologyNode as Node,
  redisServerMajor,
  startCluster,
} from '@evco/testkit/redis';
import { Cluster, Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRedisPublisher, type RedisPublisher } from '../src/index.js';
import {
  expectEachHandledOnce,
  has,
  killMembers,
  type Member,
  type Message,
  startMember,
} from './member-process.js';

/**
 * Redis Cluster: three masters (local processes of this test, joined by `redis-cli --cluster
 * create`). Announcements use sharded Pub/Sub by default (SPUBLISH/SSUBSCRIBE, Redis 7+): they
 * travel to the one shard owning the channel's slot, not over the cluster bus to every node.
 */
const PER_MEMBER = 500;
// `--cluster-port` and sharded Pub/Sub arrived in Redis 7.
const tooOld = redisServerMajor() < 7;
const RATE_PER_MEMBER = 250;

let cluster: ClusterTopology;
let dir: string | undefined;
const members: Member[] = [];
const publishers: RedisPublisher[] = [];

beforeAll(async () => {
  if (!tooOld) cluster = await startCluster(3);
}, 60_000);
afterEach(async () => {
  await killMembers(members);
  for (const p of publishers.splice(0)) await p.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});
afterAll(async () => {
  await cluster?.stop();
});

const seed = (node: Node) => `${node.host}:${node.port}`;
const announcement = (id: string): Announcement => ({
  source: 'test',
  events: [{ id, eventType: 'T', aggregateId: 'a', position: '1' }],
});

/** Subscribers of `channel` per node, sharded and classic, as each node reports them. */
async function subscribersPerNode(channel: string): Promise<Array<{ sharded: number; classic: number }>> {
  return Promise.all(
    cluster.nodes.map(async (node) => {
      const client = new Redis(node);
      try {
        const sharded = (await client.call('PUBSUB', 'SHARDNUMSUB', channel)) as [string, number];
        const classic = (await client.call('PUBSUB', 'NUMSUB', channel)) as [string, number];
        return { sharded: Number(sharded[1]), classic: Number(classic[1]) };
      } finally {
        client.disconnect();
      }
    }),
  );
}

/** What `redis-cli --cluster reshard` does to an empty slot: `channel`'s slot now belongs to `to`. */
async function moveSlotOf(channel: string, from: Node, to: Node): Promise<void> {
  const call = async (node: Node, ...args: string[]) => {
    const client = new Redis(node);
    try {
      return await client.call(args[0]!, ...args.slice(1));
    } finally {
      client.disconnect();
    }
  };
  const slot = String(await call(from, 'CLUSTER', 'KEYSLOT', channel));
  const fromId = String(await call(from, 'CLUSTER', 'MYID'));
  const toId = String(await call(to, 'CLUSTER', 'MYID'));
  await call(to, 'CLUSTER', 'SETSLOT', slot, 'IMPORTING', fromId);
  await call(from, 'CLUSTER', 'SETSLOT', slot, 'MIGRATING', toId);
  for (const node of cluster.nodes) await call(node, 'CLUSTER', 'SETSLOT', slot, 'NODE', toId);
}

/** Waits until `publisher`'s subscription has rung onReconnect at least once. */
async function rangOnReconnect(publisher: RedisPublisher): Promise<void> {
  const reconnects = async () =>
    ((await publisher.healthCheck()).details as { subscriber: { reconnects: number } }).subscriber.reconnects;
  await waitFor(async () => (await reconnects()) >= 1, {
    timeoutMs: 10_000,
    message: 'the subscription never rang onReconnect',
  });
}

function publisherOn(node: Node, prefix: string, shardedPubSub?: boolean): RedisPublisher {
  const publisher = createRedisPublisher({
    cluster: { nodes: [seed(node)], ...(shardedPubSub === undefined ? {} : { shardedPubSub }) },
    channelPrefix: prefix,
    logger: silentLogger,
  });
  publishers.push(publisher);
  return publisher;
}

describe.skipIf(tooOld)(
  `publisher-redis on Redis Cluster (three masters)${tooOld ? ' (needs redis-server 7+)' : ''}`,
  () => {
    it('three processes seeded by different nodes: every event handled once per handler, every announcement heard by all', async () => {
      dir = mkdtempSync(join(tmpdir(), 'evco-redis-cluster-'));
      const env = {
        DB_FILE: join(dir, 'events.db'),
        CHANNEL_PREFIX: `evco-test-cluster-${process.pid}`,
      };
      const fleet = ['a', 'b', 'c'].map((name, i) =>
        startMember(
          name,
          name === 'c' ? ['projector', 'notifier'] : ['projector'],
          {
            ...env,
            REDIS_CLUSTER: seed(cluster.nodes[i]!),
          },
          members,
        ),
      );
      for (const m of fleet) {
        await waitFor(() => has(m, 'ready'), {
          timeoutMs: 60_000,
          message: `member ${m.name} did not start: ${m.stderr()}`,
        });
      }
      // Sharded: the three subscriptions sit on the one shard that owns the channel, none is classic.
      const perNode = await subscribersPerNode(`${env.CHANNEL_PREFIX}:events`);
      expect(perNode.map((n) => n.classic)).toEqual([0, 0, 0]);
      expect(perNode.map((n) => n.sharded).sort()).toEqual([0, 0, 3]);

      for (const m of fleet)
        m.child.send({ type: 'publish', count: PER_MEMBER, ratePerSec: RATE_PER_MEMBER });
      const total = fleet.length * PER_MEMBER;
      const all = () => fleet.flatMap((m) => m.messages);
      const handled = () => all().filter((x) => x.type === 'handled');
      await waitFor(() => fleet.every((m) => has(m, 'published-all')) && handled().length >= 2 * total, {
        timeoutMs: 60_000,
        message: 'not everything was handled',
      });
      for (const m of fleet) m.child.send({ type: 'shutdown' });
      const stopped: Message[] = [];
      for (const m of fleet) {
        await waitFor(() => has(m, 'stopped'), {
          timeoutMs: 30_000,
          message: `member ${m.name} did not stop`,
        });
        expect(await m.exited).toBe(0);
        stopped.push(m.messages.find((x) => x.type === 'stopped')!);
      }

      await expectEachHandledOnce(fleet, ['projector', 'notifier'], total, env.DB_FILE);
      // Announcements, not only polling, carried the work: each subscription heard every event.
      for (const s of stopped) expect(s.received, s.member).toBeGreaterThanOrEqual(total);

      const split = fleet.map(
        (m) => handled().filter((h) => h.handler === 'projector' && h.member === m.name).length,
      );
      console.log(
        `[cluster] ${total} events from 3 processes; projector handled by a/b/c: ${split.join('/')}`,
      );
    });

    for (const sharded of [true, false]) {
      it(`${sharded ? 'sharded (SPUBLISH)' : 'classic (PUBLISH, shardedPubSub: false)'}: a publisher on one node reaches a subscriber seeded elsewhere; healthy`, async () => {
        const prefix = `evco-test-cluster-${sharded ? 's' : 'c'}-${process.pid}`;
        const from = publisherOn(cluster.nodes[0]!, prefix, sharded ? undefined : false);
        const to = publisherOn(cluster.nodes[2]!, prefix, sharded ? undefined : false);
        const heard: string[] = [];
        to.subscribe((a) => heard.push(...a.events.map((e) => e.id)));
        await Promise.all([from.waitUntilReady(), to.waitUntilReady()]);
        const perNode = await subscribersPerNode(`${prefix}:events`);
        const [count, other] = sharded
          ? (['sharded', 'classic'] as const)
          : (['classic', 'sharded'] as const);
        expect(perNode.reduce((n, x) => n + x[count], 0)).toBe(2);
        expect(perNode.reduce((n, x) => n + x[other], 0)).toBe(0);

        await from.publish(announcement('e-1'));
        await waitFor(() => heard.includes('e-1'), { message: 'the announcement did not arrive' });
        const health = await to.healthCheck();
        expect(health.healthy, JSON.stringify(health.details)).toBe(true);
        expect(health.details.url).toBe(`redis-cluster://${seed(cluster.nodes[2]!)}`);
      });
    }

    it("the events channel's slot moves to another shard (a reshard): sharded subscriptions follow it, a given client's too", async () => {
      const prefix = `evco-test-cluster-move-${process.pid}`;
      const channel = `${prefix}:events`;
      const from = publisherOn(cluster.nodes[0]!, prefix);
      const to = publisherOn(cluster.nodes[2]!, prefix);
      const client = new Cluster([cluster.nodes[1]!]);
      const yours = createRedisPublisher({ client, channelPrefix: prefix, logger: silentLogger });
      publishers.push(yours);
      const heard: string[] = [];
      const heardByYours: string[] = [];
      to.subscribe((a) => heard.push(...a.events.map((e) => e.id)));
      yours.subscribe((a) => heardByYours.push(...a.events.map((e) => e.id)));
      try {
        await Promise.all([from.waitUntilReady(), to.waitUntilReady(), yours.waitUntilReady()]);
        const owner = (await subscribersPerNode(channel)).findIndex((n) => n.sharded === 3);
        expect(owner).toBeGreaterThanOrEqual(0);
        const target = (owner + 1) % cluster.nodes.length;
        await moveSlotOf(channel, cluster.nodes[owner]!, cluster.nodes[target]!);

        // Redis drops the subscriptions of a slot that moves; each must come back on its new owner.
        let sent = 0;
        await waitFor(
          async () => {
            const id = `moved-${sent++}`;
            await from.publish(announcement(id));
            return (
              heard.some((h) => h.startsWith('moved-')) && heardByYours.some((h) => h.startsWith('moved-'))
            );
          },
          { timeoutMs: 15_000, intervalMs: 200, message: 'an announcement after the move was never heard' },
        );
        const perNode = await subscribersPerNode(channel);
        expect(perNode.map((n) => n.sharded)).toEqual(cluster.nodes.map((_, i) => (i === target ? 3 : 0)));
        const health = await to.healthCheck();
        expect(health.healthy, JSON.stringify(health.details)).toBe(true);
        // Back on the new owner, each rang onReconnect: what was announced meanwhile is polled for.
        for (const p of [from, to, yours]) await rangOnReconnect(p);
      } finally {
        await yours.close();
        client.disconnect();
      }
    });

    it('the master owning the channel crashes and restarts: one warning for the outage, not one per retry; announcements heard again', async () => {
      const prefix = `evco-test-cluster-crash-${process.pid}`;
      const from = publisherOn(cluster.nodes[0]!, prefix);
      const logger = recordingLogger();
      const to = createRedisPublisher({
        cluster: { nodes: [seed(cluster.nodes[2]!)] },
        channelPrefix: prefix,
        logger,
      });
      publishers.push(to);
      const heard: string[] = [];
      to.subscribe((a) => heard.push(...a.events.map((e) => e.id)));
      await Promise.all([from.waitUntilReady(), to.waitUntilReady()]);
      const owner = (await subscribersPerNode(`${prefix}:events`)).findIndex((n) => n.sharded === 2);
      expect(owner).toBeGreaterThanOrEqual(0);
      // Down long enough for the subscriber's connection to that node to retry many times.
      await cluster.restart(cluster.nodes[owner]!, 1500);
      let sent = 0;
      await waitFor(
        async () => {
          await from.publish(announcement(`back-${sent++}`)).catch(() => {});
          return heard.some((h) => h.startsWith('back-'));
        },
        { timeoutMs: 15_000, intervalMs: 200, message: 'no announcement heard after the restart' },
      );
      // Its subscription was gone while the node was down: back, it rang onReconnect.
      await rangOnReconnect(to);
      const warnings = logger.lines.filter((l) => l.includes('"level":"warn"'));
      expect(warnings.length, warnings.join('\n')).toBeLessThanOrEqual(2);
      expect(warnings.some((l) => l.includes('subscrib'))).toBe(true);
    });

    it('takes a Cluster client of yours and leaves it open', async () => {
      const client = new Cluster([cluster.nodes[1]!]);
      try {
        const publisher = createRedisPublisher({
          client,
          channelPrefix: `evco-test-cluster-own-${process.pid}`,
          logger: silentLogger,
        });
        const heard: string[] = [];
        publisher.subscribe((a) => heard.push(...a.events.map((e) => e.id)));
        await publisher.waitUntilReady();
        await publisher.publish(announcement('e-2'));
        await waitFor(() => heard.includes('e-2'));
        await publisher.close();
        expect(await client.ping()).toBe('PONG');
      } finally {
        client.disconnect();
      }
    });
  },
);
