import { type Announcement, createCoordinator, silentLogger } from '@evco/core';
import { createMemoryStore } from '@evco/store-memory';
import { recordingLogger, waitFor } from '@evco/testkit';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRedisPublisher, type RedisPublisher } from '../src/index.js';
import { redisUrl, stopRedisContainer } from './redis-url.js';

const prefix = `evco-test-subscriber-${process.pid}`;
let url: string;
let raw: Redis;
let n = 0;

beforeAll(async () => {
  url = await redisUrl();
  raw = new Redis(url);
});
afterAll(async () => {
  raw.disconnect();
  await stopRedisContainer();
});

const valid = (source: string, id: string) =>
  JSON.stringify({
    v: 1,
    source,
    events: [{ id, eventType: 'UserRegistered', aggregateId: 'u', position: '1' }],
  });

const MALFORMED: Array<[string, string]> = [
  ['not JSON', '{oops'],
  ['an array', '[]'],
  ['a __proto__ key', '{"__proto__":{"x":1},"v":1,"source":"s","events":[]}'],
  ['a constructor key', '{"constructor":{"prototype":{}},"v":1,"source":"s","events":[]}'],
  ['a future version', '{"v":2,"source":"s","events":[]}'],
  [
    'a numeric position',
    '{"v":1,"source":"s","events":[{"id":"e","eventType":"T","aggregateId":"a","position":1}]}',
  ],
  ['an oversized message', JSON.stringify({ v: 1, source: 's', pad: 'x'.repeat(20_000) })],
];

describe('publisher-redis subscriber', () => {
  let publisher: RedisPublisher | undefined;

  afterEach(async () => {
    await publisher?.close();
    publisher = undefined;
  });

  it('drops malformed messages with a reason, counts them, and keeps delivering valid ones', async () => {
    const logger = recordingLogger();
    publisher = createRedisPublisher({
      url,
      channelPrefix: `${prefix}-${++n}`,
      logger,
      maxMessageBytes: 8192,
      maxIncomingBytes: 16_384,
    });
    const reasons: string[] = [];
    const received: Announcement[] = [];
    publisher.subscribe((a) => received.push(a), { onMalformed: (r) => reasons.push(r) });
    await publisher.waitUntilReady();

    for (const [, message] of MALFORMED) await raw.publish(publisher.channel, message);
    await raw.publish(publisher.channel, valid('after-garbage', 'e-1'));

    await waitFor(() => received.length === 1, {
      message: 'the valid message after the garbage did not arrive',
    });
    expect(received[0]!.source).toBe('after-garbage');
    expect(reasons).toHaveLength(MALFORMED.length);
    expect(reasons[0]).toBe('not valid JSON');
    expect(reasons[2]).toContain('forbidden key "__proto__"');
    expect(reasons[3]).toContain('forbidden key "constructor"');
    expect(reasons[4]).toContain('unsupported wire version 2');
    expect(reasons[5]).toContain('position');
    expect(reasons[6]).toBe('message exceeds 16384 bytes');
    expect(({} as Record<string, unknown>).x).toBeUndefined();

    const health = await publisher.healthCheck();
    expect(health.healthy).toBe(true);
    expect(health.details.malformed).toBe(MALFORMED.length);
    expect(health.details.lastMalformed).toBe('message exceeds 16384 bytes');
  });

  it('a coordinator counts malformed announcements in its status and keeps working', async () => {
    publisher = createRedisPublisher({ url, channelPrefix: `${prefix}-${++n}`, logger: silentLogger });
    const coordinator = await createCoordinator({
      store: createMemoryStore(),
      publisher,
      logger: silentLogger,
    });
    try {
      const seen: string[] = [];
      await coordinator.registerHandler(
        'UserRegistered',
        async (e) => {
          seen.push(e.aggregateId);
        },
        { name: 'welcome' },
      );
      await publisher.waitUntilReady();
      for (const [, message] of MALFORMED) await raw.publish(publisher.channel, message);
      await waitFor(
        async () =>
          (await coordinator.getCoordinatorStatus()).counts.malformedAnnouncements === MALFORMED.length,
        {
          message: 'malformed announcements were not counted',
        },
      );
      await coordinator.publishEvent({ eventType: 'UserRegistered', aggregateId: 'u-7', eventData: {} });
      await waitFor(() => seen.includes('u-7'));
      const status = await coordinator.getCoordinatorStatus();
      expect(status.publisher.health.healthy).toBe(true);
      expect(status.publisher.health.details.malformed).toBe(MALFORMED.length);
    } finally {
      await coordinator.shutdown();
    }
  });

  it('a listener that throws does not stop the others', async () => {
    const logger = recordingLogger();
    publisher = createRedisPublisher({ url, channelPrefix: `${prefix}-${++n}`, logger });
    const received: string[] = [];
    publisher.subscribe(() => {
      throw new Error('listener bug');
    });
    publisher.subscribe((a) => received.push(a.source));
    await publisher.waitUntilReady();
    await publisher.publish({
      source: 'node-a',
      events: [{ id: 'e', eventType: 'T', aggregateId: 'a', position: '1' }],
    });
    await waitFor(() => received.length === 1);
    expect(received).toEqual(['node-a']);
    const health = await publisher.healthCheck();
    expect(health.details.listenerErrors).toBe(1);
    expect(health.details.malformed).toBe(0);
    expect(logger.lines.some((l) => l.includes('listener bug'))).toBe(true);
  });

  it('reports a real round trip in healthCheck, with both connections and the channels', async () => {
    publisher = createRedisPublisher({ url, channelPrefix: `${prefix}-${++n}`, logger: silentLogger });
    const health = await publisher.healthCheck();
    expect(health.healthy).toBe(true);
    const d = health.details as {
      publisher: { status: string; latencyMs: number };
      subscriber: { status: string; subscribed: boolean; latencyMs: number };
      channels: string[];
      url: string;
    };
    expect(d.publisher.status).toBe('ready');
    expect(d.subscriber).toMatchObject({ status: 'ready', subscribed: true });
    expect(d.publisher.latencyMs).toBeGreaterThanOrEqual(0);
    expect(d.subscriber.latencyMs).toBeGreaterThanOrEqual(0);
    expect(d.channels[0]).toBe(publisher.channel);
    expect(d.channels[1]).toMatch(new RegExp(`^${prefix}-${n}:health:[0-9a-f]{16}$`));
    // Redis itself sees this publisher's subscription on the events channel.
    const onEvents = await raw.pubsub('NUMSUB', publisher.channel);
    expect(onEvents).toEqual([publisher.channel, 1]);
  });
});
