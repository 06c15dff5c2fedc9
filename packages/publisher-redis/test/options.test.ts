import { isEvcoError, silentLogger } from '@evco/core';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { createRedisPublisher, type RedisPublisherOptions, reconnectDelay } from '../src/index.js';

function errorOf(options: unknown): Error & { issues?: Array<{ path: string; message: string }> } {
  try {
    createRedisPublisher(options as RedisPublisherOptions);
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected createRedisPublisher to throw');
}

describe('createRedisPublisher options', () => {
  it('lists every problem at once, before any connection', () => {
    const error = errorOf({
      url: 'http://example.com',
      channelPrefix: 'has space',
      maxMessageBytes: 10,
      publishTimeoutMs: 0,
      reconnectBaseDelayMs: 'fast',
      bogus: true,
    });
    expect(isEvcoError(error, 'INVALID_OPTIONS')).toBe(true);
    expect(error.message).toMatch(/^\[evco:publisher-redis\] invalid Redis publisher options/);
    const paths = error.issues!.map((i) => i.path);
    for (const p of ['url', 'channelPrefix', 'maxMessageBytes', 'publishTimeoutMs', 'reconnectBaseDelayMs']) {
      expect(paths).toContain(p);
    }
    expect(error.message).toContain('bogus');
  });

  it('requires exactly one of url, client, sentinel and cluster', () => {
    const message = 'give exactly one of url, client, sentinel or cluster';
    for (const none of [{}, { url: undefined }]) {
      expect(errorOf(none).issues).toContainEqual({
        path: 'url',
        message:
          'give one of url, client, sentinel or cluster; none is set (an undefined url, say from an unset REDIS_URL, counts as not set)',
      });
    }
    expect(
      errorOf({ url: 'redis://127.0.0.1:6379', cluster: { nodes: ['127.0.0.1:7000'] } }).issues,
    ).toContainEqual({ path: 'url', message });
    const client = new Redis({ lazyConnect: true });
    try {
      expect(errorOf({ url: 'redis://127.0.0.1:6379', client }).issues!.map((i) => i.path)).toContain('url');
      expect(errorOf({ client, redisOptions: {} }).issues!.map((i) => i.path)).toContain('redisOptions');
    } finally {
      client.disconnect();
    }
  });

  it('validates sentinel and cluster nodes, listing each bad one', () => {
    const paths = (options: unknown) => errorOf(options).issues!.map((i) => i.path);
    expect(paths({ sentinel: { name: 'm', sentinels: [] } })).toEqual(['sentinel.sentinels']);
    expect(paths({ sentinel: { name: 'm', sentinels: ['h:1', 'h', { host: 'h', port: 70_000 }] } })).toEqual([
      'sentinel.sentinels.1',
      'sentinel.sentinels.2.port',
    ]);
    expect(paths({ cluster: { nodes: ['h:1'], shardedPubSub: 'yes', extra: 1 } }).sort()).toEqual([
      'cluster.extra',
      'cluster.shardedPubSub',
    ]);
  });

  it('accepts host:port, [v6]:port and objects; describes the topology without a password', async () => {
    const sentinel = createRedisPublisher({
      sentinel: { name: 'main', sentinels: ['10.0.0.1:26379', '[::1]:26380'], sentinelPassword: 'hunter2' },
      redisOptions: { password: 'hunter2' },
      connectTimeoutMs: 1,
      healthTimeoutMs: 1,
      logger: silentLogger,
    });
    const cluster = createRedisPublisher({
      cluster: { nodes: [{ host: '10.0.0.2', port: 7000 }] },
      redisOptions: { password: 'hunter2' },
      connectTimeoutMs: 1,
      healthTimeoutMs: 1,
      logger: silentLogger,
    });
    try {
      const [s, c] = await Promise.all([sentinel.healthCheck(), cluster.healthCheck()]);
      expect(s.details.url).toBe('redis-sentinel://10.0.0.1:26379,[::1]:26380/main');
      expect(c.details.url).toBe('redis-cluster://10.0.0.2:7000');
      expect(JSON.stringify([s, c])).not.toContain('hunter2');
    } finally {
      await Promise.all([sentinel.close(), cluster.close()]);
    }
  });

  it('rejects a client that is not an ioredis client', () => {
    expect(errorOf({ client: { publish() {} } }).issues!.map((i) => i.path)).toContain('client');
  });

  it('rejects limits that contradict each other', () => {
    const paths = errorOf({
      url: 'redis://127.0.0.1:6379',
      maxMessageBytes: 100_000,
      maxIncomingBytes: 90_000,
      reconnectBaseDelayMs: 500,
      reconnectMaxDelayMs: 100,
    }).issues!.map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['maxIncomingBytes', 'reconnectMaxDelayMs']));
  });

  it('refuses a URL that does not parse (a bad port) before ioredis sees it, without repeating it', () => {
    // ioredis's url.parse would print a deprecation warning quoting the URL, password included.
    for (const url of ['redis://:s3cret@cache:notaport', 'redis://:s3cret@cache:99999/0']) {
      const error = errorOf({ url });
      expect(isEvcoError(error, 'INVALID_OPTIONS'), url).toBe(true);
      expect(error.issues).toEqual([
        {
          path: 'url',
          message:
            'is not a valid URL (check the port, and percent-encode special characters in the password)',
        },
      ]);
      expect(error.message).not.toContain('s3cret');
    }
  });

  it('never echoes a password from a bad URL', () => {
    const error = errorOf({ url: 'redis://user:hunter2@ host:6379', channelPrefix: '' });
    expect(error.message).not.toContain('hunter2');
  });
});

describe('reconnectDelay', () => {
  it('grows exponentially and never exceeds the cap', () => {
    const top = (attempt: number) => reconnectDelay(attempt, 50, 1000, () => 0.999_999);
    const bottom = (attempt: number) => reconnectDelay(attempt, 50, 1000, () => 0);
    expect([1, 2, 3, 4, 5].map(top)).toEqual([50, 100, 200, 400, 800]);
    expect(top(6)).toBe(1000);
    expect(top(1_000_000)).toBe(1000);
    // Jitter stays in the upper half, so a fleet spreads out without anyone waiting past the cap.
    expect(bottom(6)).toBe(500);
    expect(bottom(1)).toBe(25);
  });
});
