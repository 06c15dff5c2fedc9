import { isEvcoError } from '@evco/core';
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

  it('requires exactly one of url and client', () => {
    expect(errorOf({}).issues).toContainEqual({ path: 'url', message: 'give exactly one of url or client' });
    const client = new Redis({ lazyConnect: true });
    try {
      expect(errorOf({ url: 'redis://127.0.0.1:6379', client }).issues!.map((i) => i.path)).toContain('url');
      expect(errorOf({ client, redisOptions: {} }).issues!.map((i) => i.path)).toContain('redisOptions');
    } finally {
      client.disconnect();
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
