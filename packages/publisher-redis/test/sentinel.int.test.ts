import { isEvcoError, silentLogger } from '@evco/core';
import { makeTestTls, type TestTls, waitFor } from '@evco/testkit';
import { type SentinelTopology, startSentinelTopology } from '@evco/testkit/redis';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisPublisher } from '../src/index.js';
import {
  expectEverythingHandledOnce,
  publishPaced,
  startFleet,
  statusCounts,
  subscriptionsBack,
} from './fleet.js';

/**
 * Redis behind Sentinel (one master, one replica, three sentinels, all local processes of this
 * test): a `SENTINEL FAILOVER` while a fleet publishes. Sentinel disconnects the clients of the
 * demoted master; the publishers ask the sentinels again, find the new master, resubscribe and
 * ring `onReconnect`, and the store makes sure no event is lost in between.
 */
const TOTAL = 4000;
const RATE_PER_SEC = 500;

let topology: SentinelTopology;
beforeAll(async () => {
  topology = await startSentinelTopology();
}, 60_000);
afterAll(async () => {
  await topology?.stop();
});

const sentinelOptions = () => ({
  name: topology.name,
  sentinels: topology.sentinels.map((n) => `${n.host}:${n.port}`),
});

describe('publisher-redis behind Redis Sentinel', () => {
  it(`a forced failover while ${TOTAL} events are published: each handled once per handler, announcements resume`, async () => {
    const fleet = await startFleet('sentinel', { sentinel: sentinelOptions() });
    // The test's own connection for probes, through the sentinels like the fleet's.
    const raw = new Redis({ sentinels: topology.sentinels, name: topology.name, retryStrategy: () => 20 });
    raw.on('error', () => {});
    try {
      const before = await topology.masterPort();
      const progress = { sent: 0 };
      const publishing = publishPaced(fleet, progress, TOTAL, RATE_PER_SEC);
      await waitFor(() => progress.sent >= TOTAL * 0.3, { timeoutMs: 30_000 });
      const after = await topology.failover();
      expect(after).not.toBe(before);
      const sentAtFailover = progress.sent;
      expect(sentAtFailover).toBeLessThan(TOTAL);
      const backWithinMs = await subscriptionsBack(fleet, 15_000, (c, m) => raw.publish(c, m));
      await publishing;
      await expectEverythingHandledOnce(fleet, TOTAL);

      const counts = await statusCounts(fleet);
      for (const c of counts) expect(c.reconnects).toBeGreaterThanOrEqual(1);
      for (const m of fleet.members) {
        const health = await m.publisher.healthCheck();
        expect(health.healthy).toBe(true);
        expect(health.details.url).toBe(
          `redis-sentinel://${topology.sentinels.map((n) => `${n.host}:${n.port}`).join(',')}/${topology.name}`,
        );
      }
      console.log(
        `[sentinel] failover ${before} → ${after} after ${sentAtFailover} events; subscriptions back ${backWithinMs} ms ` +
          `after it completed; publish failures a/b: ${counts.map((c) => c.publishFailures).join('/')}`,
      );
    } finally {
      raw.disconnect();
      await fleet.close();
    }
  });

  it('validates the sentinel options before connecting', () => {
    let error: unknown;
    try {
      createRedisPublisher({ sentinel: { name: '', sentinels: ['no-port'] } });
    } catch (e) {
      error = e;
    }
    expect(isEvcoError(error, 'INVALID_OPTIONS')).toBe(true);
    expect((error as { issues: Array<{ path: string }> }).issues.map((i) => i.path).sort()).toEqual([
      'sentinel.name',
      'sentinel.sentinels.0',
    ]);
  });
});

describe('publisher-redis behind Redis Sentinel over TLS (every server on TLS only)', () => {
  let tls: TestTls;
  let secure: SentinelTopology;
  beforeAll(async () => {
    tls = makeTestTls();
    secure = await startSentinelTopology({ tls });
  }, 60_000);
  afterAll(async () => {
    await secure?.stop();
    tls?.remove();
  });

  it('redisOptions.tls reaches the master without enableTLSForSentinelMode, which ioredis needs and the publisher sets', async () => {
    const publisher = createRedisPublisher({
      sentinel: { name: secure.name, sentinels: secure.sentinels },
      redisOptions: { tls: { ca: tls.ca }, sentinelTLS: { ca: tls.ca } },
      channelPrefix: `evco-test-sentinel-tls-${process.pid}`,
      logger: silentLogger,
    });
    try {
      const heard: string[] = [];
      publisher.subscribe((a) => heard.push(...a.events.map((e) => e.id)));
      await publisher.waitUntilReady({ timeoutMs: 10_000 });
      await publisher.publish({
        source: 'test',
        events: [{ id: 'tls-1', eventType: 'T', aggregateId: 'a', position: '1' }],
      });
      await waitFor(() => heard.includes('tls-1'), { message: 'the announcement did not arrive' });
      const health = await publisher.healthCheck();
      expect(health.healthy, JSON.stringify(health.details)).toBe(true);
    } finally {
      await publisher.close();
    }
  });
});
