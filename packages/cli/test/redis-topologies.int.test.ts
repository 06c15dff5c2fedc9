import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCoordinator, silentLogger } from '@evco/core';
import { createInProcPublisher } from '@evco/publisher-inproc';
import { createRedisPublisher, type RedisPublisherOptions } from '@evco/publisher-redis';
import { createSqliteStore } from '@evco/store-sqlite';
import { makeTestTls, type PrivateRedis, startPrivateRedis, type TestTls, waitFor } from '@evco/testkit';
import {
  type ClusterTopology,
  redisServerMajor,
  type SentinelTopology,
  startCluster,
  startSentinelTopology,
} from '@evco/testkit/redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, evco, type Result } from './bin.js';

const PASSWORD = 'data-s3cret-pw';
const SENTINEL_PASSWORD = 'sentinel-s3cret-pw';

function expectNoPassword(r: Result): void {
  for (const secret of [PASSWORD, SENTINEL_PASSWORD, 'wrong-s3cret']) {
    expect(r.stdout).not.toContain(secret);
    expect(r.stderr).not.toContain(secret);
  }
}

interface PublisherStatus {
  publisher: {
    name: string;
    health: { healthy: boolean; details: Record<string, unknown> };
    where?: string;
    transport?: 'tls' | 'tls-unverified' | 'plain';
    sentinelTransport?: 'tls' | 'tls-unverified' | 'plain';
  };
}

let dir: string;
let t0: string;
let stores = 0;

/**
 * A new store the CLI can replay from: `welcome` handled three UserRegistered events. One per
 * replay: the deliveries a replay queues stay open (no worker runs here), and a second replay of
 * the same events queues (and announces) nothing.
 */
async function seededStore(): Promise<string> {
  const file = join(dir, `events-${++stores}.db`);
  const c = await createCoordinator({
    store: createSqliteStore({ filename: file }),
    publisher: createInProcPublisher(),
    logger: silentLogger,
  });
  await c.registerHandler('UserRegistered', async function welcome() {});
  for (const user of ['ada', 'grace', 'alan']) {
    await c.publishEvent({ eventType: 'UserRegistered', aggregateId: user });
  }
  await c.waitForIdle();
  await c.shutdown();
  return file;
}

beforeAll(() => {
  expect(existsSync(BIN), 'build @evco/cli first (pnpm turbo run build --filter=@evco/cli)').toBe(true);
  dir = mkdtempSync(join(tmpdir(), 'evco-cli-redis-'));
  t0 = new Date(Date.now() - 60_000).toISOString();
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const replay = async (flags: string[], env: NodeJS.ProcessEnv) =>
  evco(
    [
      'replay',
      '--from',
      t0,
      '--to',
      'now',
      '--handler',
      'welcome',
      '--detach',
      '--sqlite',
      await seededStore(),
      ...flags,
    ],
    env,
  );

/** A fleet member's doorbell on `options`, recording the event types it hears. */
async function listen(
  options: RedisPublisherOptions,
): Promise<{ heard: string[][]; close(): Promise<void> }> {
  const listener = createRedisPublisher({ ...options, logger: silentLogger });
  const heard: string[][] = [];
  listener.subscribe((a) => {
    heard.push(a.events.map((e) => e.eventType));
  });
  await listener.waitUntilReady({ timeoutMs: 20_000 });
  return { heard, close: () => listener.close() };
}

describe('evco behind Redis Sentinel (master and sentinels with passwords)', () => {
  let topology: SentinelTopology;
  const sentinelList = () => topology.sentinels.map((n) => `${n.host}:${n.port}`).join(',');

  beforeAll(async () => {
    topology = await startSentinelTopology({ password: PASSWORD, sentinelPassword: SENTINEL_PASSWORD });
  }, 60_000);
  afterAll(() => topology?.stop());

  it('announces a replay on the master the sentinels name; status shows the publisher healthy; no password printed', async () => {
    const prefix = `cli-sentinel-${randomBytes(4).toString('hex')}`;
    const listener = await listen({
      sentinel: { name: topology.name, sentinels: topology.sentinels, sentinelPassword: SENTINEL_PASSWORD },
      redisOptions: { password: PASSWORD },
      channelPrefix: prefix,
    });
    const env = { EVCO_REDIS_PASSWORD: PASSWORD, EVCO_REDIS_SENTINEL_PASSWORD: SENTINEL_PASSWORD };
    try {
      const flags = ['--redis-sentinels', sentinelList(), '--redis-sentinel-name', topology.name];
      const r = await replay([...flags, '--channel-prefix', prefix], env);
      expect(r.code, r.stderr).toBe(0);
      await waitFor(() => listener.heard.length >= 1, { timeoutMs: 15_000 });
      expect(listener.heard[0]).toContain('UserRegistered');

      // The same from the environment alone, as a pod's configuration would give it.
      const before = listener.heard.length;
      const fromEnv = await replay([], {
        ...env,
        EVCO_REDIS_SENTINELS: sentinelList(),
        EVCO_REDIS_SENTINEL_NAME: topology.name,
        EVCO_REDIS_CHANNEL_PREFIX: prefix,
      });
      expect(fromEnv.code).toBe(0);
      await waitFor(() => listener.heard.length > before, { timeoutMs: 15_000 });

      const status = await evco(['status', '--json', '--sqlite', await seededStore(), ...flags], env);
      expect(status.code).toBe(0);
      const s = JSON.parse(status.stdout) as PublisherStatus;
      expect(s.publisher).toMatchObject({ name: 'redis', health: { healthy: true } });
      expect(String(s.publisher.health.details.url)).toMatch(/^redis-sentinel:\/\/127\.0\.0\.1:\d+/);
      expect(s.publisher).toMatchObject({
        where: `redis-sentinel://${sentinelList()}/${topology.name}`,
        transport: 'plain',
        sentinelTransport: 'plain',
      });
      expectNoPassword(r);
      expectNoPassword(status);
    } finally {
      await listener.close();
    }
  });

  it('a wrong sentinel password: status says the publisher is unhealthy, without either password', async () => {
    const flags = ['--redis-sentinels', sentinelList(), '--redis-sentinel-name', topology.name];
    const env = { EVCO_REDIS_PASSWORD: PASSWORD, EVCO_REDIS_SENTINEL_PASSWORD: 'wrong-s3cret' };
    const json = await evco(['status', '--json', '--sqlite', await seededStore(), ...flags], env);
    // The publisher is a doorbell: the store is healthy, so the exit code stays 0.
    expect(json.code).toBe(0);
    const s = JSON.parse(json.stdout) as PublisherStatus;
    expect(s.publisher.health.healthy).toBe(false);
    expectNoPassword(json);
    const text = await evco(['status', '--sqlite', await seededStore(), ...flags], env);
    expect(text.stdout).toMatch(
      /publisher\s+redis redis-sentinel:\/\/\S+ \(plain; sentinels plain\): UNHEALTHY/,
    );
    expectNoPassword(text);
    // And a list written with credentials in it is refused without repeating them.
    const bad = await evco([
      'status',
      '--sqlite',
      await seededStore(),
      '--redis-sentinel-name',
      'm',
      '--redis-sentinels',
      `u:${SENTINEL_PASSWORD}@h:1`,
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^evco: --redis-sentinels: node 1 is not host:port/);
    expectNoPassword(bad);
  });
});

describe.skipIf(redisServerMajor() < 7)(
  'evco on a Redis Cluster (three masters; sharded Pub/Sub needs Redis 7)',
  () => {
    let cluster: ClusterTopology;
    beforeAll(async () => {
      cluster = await startCluster(3);
    }, 60_000);
    afterAll(() => cluster?.stop());

    it('announces with SPUBLISH, heard by a sharded subscriber seeded elsewhere; --no-redis-sharded-pubsub for a fleet without it', async () => {
      const prefix = `cli-cluster-${randomBytes(4).toString('hex')}`;
      const seed = (i: number) => `${cluster.nodes[i]!.host}:${cluster.nodes[i]!.port}`;
      const sharded = await listen({ cluster: { nodes: [cluster.nodes[1]!] }, channelPrefix: prefix });
      const plain = await listen({
        cluster: { nodes: [cluster.nodes[2]!], shardedPubSub: false },
        channelPrefix: prefix,
      });
      try {
        const r = await replay(['--redis-cluster', seed(0), '--channel-prefix', prefix], {});
        expect(r.code, r.stderr).toBe(0);
        await waitFor(() => sharded.heard.length >= 1, { timeoutMs: 15_000 });
        expect(sharded.heard[0]).toContain('UserRegistered');

        const p = await replay(
          [
            '--redis-cluster',
            `${seed(0)},${seed(1)}`,
            '--no-redis-sharded-pubsub',
            '--channel-prefix',
            prefix,
          ],
          {},
        );
        expect(p.code).toBe(0);
        await waitFor(() => plain.heard.length >= 1, { timeoutMs: 15_000 });

        const status = await evco(['status', '--json', '--sqlite', await seededStore()], {
          EVCO_REDIS_CLUSTER: seed(2),
        });
        const s = JSON.parse(status.stdout) as PublisherStatus;
        expect(s.publisher).toMatchObject({ name: 'redis', health: { healthy: true } });
        expect(String(s.publisher.health.details.url)).toMatch(/^redis-cluster:\/\//);
      } finally {
        await sharded.close();
        await plain.close();
      }
    });
  },
);

describe('evco over TLS: one server with client certificates, Sentinel and Cluster with TLS on every node', () => {
  let tls: TestTls;
  beforeAll(() => {
    tls = makeTestTls();
  });
  afterAll(() => tls?.remove());

  /** No output holds a password or a line of the private key. */
  function expectNoSecret(r: Result): void {
    expectNoPassword(r);
    for (const line of tls.key.split('\n').filter((l) => l.length > 20 && !l.startsWith('-----'))) {
      expect(r.stdout).not.toContain(line);
      expect(r.stderr).not.toContain(line);
    }
  }
  const publisherOf = async (flags: string[], env: NodeJS.ProcessEnv = {}) => {
    const r = await evco(['status', '--json', '--sqlite', await seededStore(), ...flags], env);
    expect(r.code, r.stderr).toBe(0);
    expectNoSecret(r);
    return (JSON.parse(r.stdout) as PublisherStatus).publisher;
  };
  const healthOf = async (flags: string[], env: NodeJS.ProcessEnv = {}) =>
    (await publisherOf(flags, env)).health;

  describe('one server (rediss://, tls-auth-clients yes)', () => {
    let server: PrivateRedis;
    beforeAll(async () => {
      server = await startPrivateRedis({ tls, tlsAuthClients: 'yes', password: PASSWORD });
    }, 30_000);
    afterAll(() => server?.kill());

    it('announces with the CA and the client certificate; without either the publisher is unhealthy', async () => {
      const prefix = `cli-tls-${randomBytes(4).toString('hex')}`;
      const clientCert = { cert: tls.cert, key: tls.key };
      const listener = await listen({
        url: server.url,
        redisOptions: { tls: { ca: tls.ca, ...clientCert } },
        channelPrefix: prefix,
      });
      const certFlags = ['--redis-tls-cert', tls.certFile, '--redis-tls-key', tls.keyFile];
      try {
        const r = await replay(
          ['--redis-url', server.url, '--redis-tls-ca', tls.caFile, ...certFlags, '--channel-prefix', prefix],
          {},
        );
        expect(r.code, r.stderr).toBe(0);
        expectNoSecret(r);
        await waitFor(() => listener.heard.length >= 1, { timeoutMs: 15_000 });
        expect(listener.heard[0]).toContain('UserRegistered');

        const env = { REDIS_URL: server.url, EVCO_REDIS_TLS_CA_FILE: tls.caFile };
        const withCert = {
          ...env,
          EVCO_REDIS_TLS_CERT_FILE: tls.certFile,
          EVCO_REDIS_TLS_KEY_FILE: tls.keyFile,
        };
        expect(await publisherOf([], withCert)).toMatchObject({
          health: { healthy: true },
          where: `rediss://:***@127.0.0.1:${server.port}`,
          transport: 'tls',
        });
        const text = await evco(['status', '--sqlite', await seededStore()], withCert);
        expect(text.stdout).toContain(`redis rediss://:***@127.0.0.1:${server.port} (tls): healthy`);
        expectNoSecret(text);
        // The server asks for a client certificate: none given, it hangs up.
        expect(await healthOf([], env)).toMatchObject({ healthy: false });
        // The test CA is not among Node's: without --redis-tls-ca the server is not trusted,
        // unless told not to check (a test setup).
        expect(await healthOf(['--redis-url', server.url, ...certFlags])).toMatchObject({ healthy: false });
        const unverified = await publisherOf([
          '--redis-url',
          server.url,
          ...certFlags,
          '--redis-tls-insecure',
        ]);
        expect(unverified.health).toMatchObject({ healthy: true });
        // Encrypted but unchecked: status says so rather than plain "tls".
        expect(unverified.transport).toBe('tls-unverified');
      } finally {
        await listener.close();
      }
    });
  });

  describe('behind Sentinel (master, replica and sentinels on TLS only, with passwords)', () => {
    let topology: SentinelTopology;
    beforeAll(async () => {
      topology = await startSentinelTopology({
        tls,
        password: PASSWORD,
        sentinelPassword: SENTINEL_PASSWORD,
      });
    }, 60_000);
    afterAll(() => topology?.stop());

    it('--redis-tls and --redis-sentinel-tls reach the master; without --redis-tls the publisher is unhealthy', async () => {
      const prefix = `cli-sentinel-tls-${randomBytes(4).toString('hex')}`;
      const listener = await listen({
        sentinel: { name: topology.name, sentinels: topology.sentinels, sentinelPassword: SENTINEL_PASSWORD },
        redisOptions: {
          password: PASSWORD,
          tls: { ca: tls.ca },
          sentinelTLS: { ca: tls.ca },
          enableTLSForSentinelMode: true,
        },
        channelPrefix: prefix,
      });
      const env = { EVCO_REDIS_PASSWORD: PASSWORD, EVCO_REDIS_SENTINEL_PASSWORD: SENTINEL_PASSWORD };
      const sentinels = topology.sentinels.map((n) => `${n.host}:${n.port}`).join(',');
      const flags = ['--redis-sentinels', sentinels, '--redis-sentinel-name', topology.name];
      try {
        const r = await replay(
          [
            ...flags,
            '--redis-tls',
            '--redis-sentinel-tls',
            '--redis-tls-ca',
            tls.caFile,
            '--channel-prefix',
            prefix,
          ],
          env,
        );
        expect(r.code, r.stderr).toBe(0);
        expectNoSecret(r);
        await waitFor(() => listener.heard.length >= 1, { timeoutMs: 15_000 });

        // The same from the environment alone.
        const before = listener.heard.length;
        const fromEnv = await replay([], {
          ...env,
          EVCO_REDIS_SENTINELS: sentinels,
          EVCO_REDIS_SENTINEL_NAME: topology.name,
          EVCO_REDIS_TLS: 'true',
          EVCO_REDIS_SENTINEL_TLS: 'true',
          EVCO_REDIS_TLS_CA_FILE: tls.caFile,
          EVCO_REDIS_CHANNEL_PREFIX: prefix,
        });
        expect(fromEnv.code, fromEnv.stderr).toBe(0);
        await waitFor(() => listener.heard.length > before, { timeoutMs: 15_000 });

        const tlsFlags = ['--redis-sentinel-tls', '--redis-tls-ca', tls.caFile];
        expect(await publisherOf([...flags, '--redis-tls', ...tlsFlags], env)).toMatchObject({
          health: { healthy: true },
          transport: 'tls',
          sentinelTransport: 'tls',
        });
        // The sentinels answer over TLS and name the master, whose TLS port a plain client cannot use.
        expect(await healthOf([...flags, ...tlsFlags], env)).toMatchObject({ healthy: false });
      } finally {
        await listener.close();
      }
    });
  });

  describe.each([
    { tlsOn: 'sentinels' as const, flag: '--redis-sentinel-tls', transports: '(plain; sentinels tls)' },
    { tlsOn: 'data-nodes' as const, flag: '--redis-tls', transports: '(tls; sentinels plain)' },
  ])('behind Sentinel with TLS on one hop ($tlsOn)', ({ tlsOn, flag, transports }) => {
    let topology: SentinelTopology;
    beforeAll(async () => {
      topology = await startSentinelTopology({ tls, tlsOn });
    }, 60_000);
    afterAll(() => topology?.stop());

    it(`status with ${flag} alone: the publisher healthy, ${transports}`, async () => {
      const sentinels = topology.sentinels.map((n) => `${n.host}:${n.port}`).join(',');
      const flags = ['--redis-sentinels', sentinels, '--redis-sentinel-name', topology.name];
      const store = await seededStore();
      // At warn: ioredis's "Unhandled error event" lines (a failover-detector connection that
      // keeps failing) are warn log lines of the publisher now, silent at the default level.
      const r = await evco(['status', '--sqlite', store, ...flags, flag, '--redis-tls-ca', tls.caFile], {
        EVCO_LOG_LEVEL: 'warn',
      });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(`redis-sentinel://${sentinels}/${topology.name} ${transports}: healthy`);
      expect(r.stderr).not.toContain('Unhandled error event');
      expect(r.stderr).not.toContain('a connection without an error listener failed');
    });
  });

  describe.skipIf(redisServerMajor() < 7)('on a Cluster (three masters, TLS only, bus included)', () => {
    let cluster: ClusterTopology;
    beforeAll(async () => {
      cluster = await startCluster({ masters: 3, tls });
    }, 60_000);
    afterAll(() => cluster?.stop());

    it('--redis-tls reaches every node: SPUBLISH heard by a sharded subscriber seeded elsewhere', async () => {
      const prefix = `cli-cluster-tls-${randomBytes(4).toString('hex')}`;
      const seed = (i: number) => `${cluster.nodes[i]!.host}:${cluster.nodes[i]!.port}`;
      const listener = await listen({
        cluster: { nodes: [cluster.nodes[1]!] },
        redisOptions: { tls: { ca: tls.ca } },
        channelPrefix: prefix,
      });
      try {
        const r = await replay(
          [
            '--redis-cluster',
            seed(0),
            '--redis-tls',
            '--redis-tls-ca',
            tls.caFile,
            '--channel-prefix',
            prefix,
          ],
          {},
        );
        expect(r.code, r.stderr).toBe(0);
        await waitFor(() => listener.heard.length >= 1, { timeoutMs: 15_000 });
        expect(listener.heard[0]).toContain('UserRegistered');
        expect(
          await healthOf([], {
            EVCO_REDIS_CLUSTER: seed(2),
            EVCO_REDIS_TLS: 'true',
            EVCO_REDIS_TLS_CA_FILE: tls.caFile,
          }),
        ).toMatchObject({ healthy: true });
      } finally {
        await listener.close();
      }
    });
  });
});
