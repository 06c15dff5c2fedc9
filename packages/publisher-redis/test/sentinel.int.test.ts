import { isEvcoError, type Logger, silentLogger } from '@evco/core';
import { makeTestTls, recordingLogger, type TestTls, waitFor } from '@evco/testkit';
import { type SentinelTopology, startSentinelTopology } from '@evco/testkit/redis';
import { Redis, type RedisOptions } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createRedisPublisher } from '../src/index.js';
import {
  expectEverythingHandledOnce,
  type Member,
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

/**
 * The fleet (two publishers) behind `at`'s sentinels with `redisOptions`: publisher a's
 * announcement heard by b, then a forced failover after 30% of `TOTAL` events; every event
 * handled once per handler, both subscriptions back on the new master.
 */
async function failoverWhilePublishing(
  label: string,
  at: SentinelTopology,
  redisOptions: RedisOptions = {},
  logger: Logger = silentLogger,
): Promise<void> {
  const sentinels = at.sentinels.map((n) => `${n.host}:${n.port}`);
  const fleet = await startFleet(label, { sentinel: { name: at.name, sentinels }, redisOptions }, logger);
  // The test's own connection for probes, through the sentinels like the fleet's.
  // (ioredis needs enableTLSForSentinelMode for `tls` to reach the master; the publisher sets it.)
  const raw = new Redis({
    ...redisOptions,
    ...(redisOptions.tls ? { enableTLSForSentinelMode: true } : {}),
    sentinels: at.sentinels,
    name: at.name,
    retryStrategy: () => 20,
  });
  raw.on('error', () => {});
  try {
    const [a, b] = fleet.members as [Member, Member];
    await a.publisher.publish({
      source: 'probe-from-a',
      events: [{ id: 'probe-from-a', eventType: 'Probe', aggregateId: 'probe', position: '0' }],
    });
    await waitFor(() => b.probes.has('probe-from-a'), { message: "b did not hear a's announcement" });

    const before = await at.masterPort();
    const progress = { sent: 0 };
    const publishing = publishPaced(fleet, progress, TOTAL, RATE_PER_SEC);
    await waitFor(() => progress.sent >= TOTAL * 0.3, { timeoutMs: 30_000 });
    const after = await at.failover();
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
      expect(health.healthy, JSON.stringify(health.details)).toBe(true);
      expect(health.details.url).toBe(`redis-sentinel://${sentinels.join(',')}/${at.name}`);
    }
    console.log(
      `[${label}] failover ${before} → ${after} after ${sentAtFailover} events; subscriptions back ${backWithinMs} ms ` +
        `after it completed; publish failures a/b: ${counts.map((c) => c.publishFailures).join('/')}`,
    );
  } finally {
    raw.disconnect();
    await fleet.close();
  }
}

describe('publisher-redis behind Redis Sentinel', () => {
  it(`a forced failover while ${TOTAL} events are published: each handled once per handler, announcements resume`, async () => {
    await failoverWhilePublishing('sentinel', topology);
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

describe.each([
  {
    shape: 'sentinels on TLS only, master and replica plain',
    tlsOn: 'sentinels' as const,
    redisOptions: (ca: string): RedisOptions => ({ sentinelTLS: { ca } }),
  },
  {
    shape: 'master and replica on TLS only, sentinels plain',
    tlsOn: 'data-nodes' as const,
    redisOptions: (ca: string): RedisOptions => ({ tls: { ca } }),
  },
])('publisher-redis behind Redis Sentinel, TLS on one hop: $shape', ({ tlsOn, redisOptions }) => {
  let tls: TestTls;
  let mixed: SentinelTopology;
  beforeAll(async () => {
    tls = makeTestTls();
    mixed = await startSentinelTopology({ tls, tlsOn });
  }, 60_000);
  afterAll(async () => {
    await mixed?.stop();
    tls?.remove();
  });

  it(`ready, heard by a second publisher, and a forced failover while ${TOTAL} events are published: none lost`, async () => {
    // The sentinels name each other at the port they link on, whose transport is the data
    // nodes'. Followed, those addresses fail the client's handshake every second for good,
    // each failure an "Unhandled error event" (ioredis's failover detector), which the
    // publishers route to their logger (and which would reach the console without them).
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    const logger = recordingLogger();
    try {
      await failoverWhilePublishing(`sentinel-tls-${tlsOn}`, mixed, redisOptions(tls.ca), logger);
      const unhandled = errors.mock.calls.filter((c) => String(c[0]).includes('Unhandled error event'));
      expect(unhandled.map((c) => String(c[1]).split('\n')[0])).toEqual([]);
      // At debug: a connection torn down after its publisher closed (driver-console.ts), not one failing.
      const failing = logger.lines.filter(
        (l) => l.includes('a connection without an error listener failed') && !l.includes('"level":"debug"'),
      );
      expect(failing).toEqual([]);
    } finally {
      errors.mockRestore();
    }
  });
});
