import { type Announcement, isEvcoError } from '@evco/core';
import { type PrivateRedis, recordingLogger, startPrivateRedis, waitFor } from '@evco/testkit';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRedisPublisher, type RedisPublisher } from '../src/index.js';

const PASSWORD = 'pw-7f3a-never-shown';
const prefix = `evco-test-failures-${process.pid}`;
let redis: PrivateRedis;
let admin: Redis;
let n = 0;

let seq = 0;
const announcement = (source = 'node-a'): Announcement => ({
  source,
  events: [{ id: `e-${++seq}`, eventType: 'UserRegistered', aggregateId: 'u-1', position: String(seq) }],
});

beforeAll(async () => {
  redis = await startPrivateRedis({ password: PASSWORD });
  admin = new Redis(redis.url, { retryStrategy: () => 50 });
});
afterAll(async () => {
  admin?.disconnect();
  await redis?.kill();
});

describe('publisher-redis when Redis misbehaves (private redis-server)', () => {
  let publisher: RedisPublisher | undefined;

  afterEach(async () => {
    await publisher?.close();
    publisher = undefined;
    if (!redis.running) await redis.start();
  });

  it('a wrong or missing password: the health check says WRONGPASS / NOAUTH, not only "reconnecting"', async () => {
    const port = new URL(redis.url).port;
    for (const [url, reason] of [
      [`redis://:not-the-password@127.0.0.1:${port}`, /WRONGPASS/],
      [`redis://127.0.0.1:${port}`, /NOAUTH/],
    ] as const) {
      const logger = recordingLogger();
      publisher = createRedisPublisher({ url, channelPrefix: `${prefix}-${++n}`, logger });
      const health = await publisher.healthCheck();
      expect(health.healthy).toBe(false);
      expect(String(health.details.error)).toMatch(
        new RegExp(`^publisher: connection \\w+, last error: ${reason.source}`),
      );
      expect(JSON.stringify(health) + logger.lines.join('\n')).not.toContain('not-the-password');
      await publisher.close();
      publisher = undefined;
    }
  });

  it('a Redis that accepts the command but never answers releases the publish after publishTimeoutMs', async () => {
    publisher = createRedisPublisher({
      url: redis.url,
      channelPrefix: `${prefix}-${++n}`,
      publishTimeoutMs: 300,
      logger: recordingLogger(),
    });
    await publisher.waitUntilReady();
    // PUBLISH counts as a write: the server holds it (and every later one) until unpaused.
    await admin.call('CLIENT', 'PAUSE', '600000', 'WRITE');
    let paused = true;
    try {
      const error = await publisher.publish(announcement()).catch((e: unknown) => e);
      expect(paused).toBe(true);
      expect(isEvcoError(error, 'PUBLISHER_UNAVAILABLE')).toBe(true);
      expect((error as Error).message).toContain('got no reply within 300 ms');
      expect((error as Error).message).not.toContain(PASSWORD);
    } finally {
      await admin.call('CLIENT', 'UNPAUSE');
      paused = false;
    }
    const received: string[] = [];
    publisher.subscribe((a) => received.push(a.source));
    await publisher.publish(announcement('after-unpause'));
    await waitFor(() => received.includes('after-unpause'));
  });

  it('fails fast while Redis is down, then resubscribes and calls onReconnect once it is back', async () => {
    const logger = recordingLogger();
    publisher = createRedisPublisher({
      url: redis.url,
      channelPrefix: `${prefix}-${++n}`,
      // A publish that waited for Redis instead of failing would hang the test.
      publishTimeoutMs: 600_000,
      logger,
    });
    const received: string[] = [];
    let reconnects = 0;
    publisher.subscribe((a) => received.push(a.source), { onReconnect: () => reconnects++ });
    await publisher.waitUntilReady();

    await redis.kill();
    await waitFor(() =>
      publisher!.publish(announcement()).then(
        () => false,
        (e: unknown) => e,
      ),
    );
    const failures = await Promise.all(
      Array.from({ length: 20 }, () => publisher!.publish(announcement()).catch((e: unknown) => e)),
    );
    expect(failures.every((e) => isEvcoError(e, 'PUBLISHER_UNAVAILABLE'))).toBe(true);
    expect((failures[0] as Error).message).toContain(`redis://:***@127.0.0.1:${redis.port}`);
    // Each connection notices the loss on its own socket.
    const down = await waitFor(async () => {
      const health = await publisher!.healthCheck();
      return (health.details.subscriber as { subscribed: boolean }).subscribed ? undefined : health;
    });
    expect(down.healthy).toBe(false);
    expect(reconnects).toBe(0);

    await redis.start();
    await waitFor(() => reconnects === 1, { timeoutMs: 5000, message: 'onReconnect was not called' });
    await waitFor(
      async () => {
        await publisher!.publish(announcement('after-restart'));
        return received.includes('after-restart');
      },
      { timeoutMs: 5000, intervalMs: 50 },
    );
    const up = await publisher.healthCheck();
    expect(up.healthy).toBe(true);
    expect(up.details).toMatchObject({ subscriber: { subscribed: true, reconnects: 1 } });

    const everything = [
      JSON.stringify(down),
      JSON.stringify(up),
      ...failures.map(String),
      ...logger.lines,
    ].join('\n');
    expect(everything).not.toContain(PASSWORD);
    expect(logger.lines.some((l) => l.includes('Redis subscription restored'))).toBe(true);
  });

  it('with a caller-supplied client: publishes on it, subscribes on a duplicate, and leaves it open on close', async () => {
    const client = new Redis(redis.url);
    try {
      publisher = createRedisPublisher({
        client,
        channelPrefix: `${prefix}-${++n}`,
        logger: recordingLogger(),
      });
      const received: string[] = [];
      publisher.subscribe((a) => received.push(a.source));
      await publisher.waitUntilReady();
      await publisher.publish(announcement('via-client'));
      await waitFor(() => received.includes('via-client'));

      const health = await publisher.healthCheck();
      expect(health.healthy).toBe(true);
      expect(health.details.url).toBe(`redis://:***@127.0.0.1:${redis.port}`);
      expect(health.details).toMatchObject({ publisher: { ownConnection: false } });
      // The caller's client never entered subscriber mode: it still runs ordinary commands.
      expect(await client.set(`${prefix}:k`, 'v')).toBe('OK');

      await publisher.close();
      expect(client.status).toBe('ready');
      expect(await client.ping()).toBe('PONG');
      expect(client.listenerCount('ready')).toBe(0);
    } finally {
      client.disconnect();
    }
  });
});
