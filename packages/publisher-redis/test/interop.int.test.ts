import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { type AnnouncedEvent, createCoordinator, type RecordedEvent, silentLogger } from '@evco/core';
import { createInProcPublisher } from '@evco/publisher-inproc';
import { createMemoryStore } from '@evco/store-memory';
import { waitFor } from '@evco/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRedisPublisher, type RedisPublisher } from '../src/index.js';
import { redisUrl, stopRedisContainer } from './redis-url.js';

const run = promisify(execFile);
const prefix = `evco-test-interop-${process.pid}`;
let url: string;

beforeAll(async () => {
  url = await redisUrl();
});
afterAll(stopRedisContainer);

/** `redis-cli SUBSCRIBE` as a child process; its output (not a TTY) is one line per reply element. */
function redisCliSubscribe(channel: string): {
  child: ChildProcess;
  messages: string[];
  ready: Promise<void>;
} {
  const child = spawn('redis-cli', ['-u', url, 'SUBSCRIBE', channel], { stdio: ['ignore', 'pipe', 'pipe'] });
  const messages: string[] = [];
  let buffer = '';
  let lines: string[] = [];
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve, reject) => {
    markReady = resolve;
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`redis-cli exited with ${code}`)));
  });
  child.stdout!.on('data', (data: Buffer) => {
    buffer += data.toString();
    const parts = buffer.split('\n');
    buffer = parts.pop()!;
    lines.push(...parts);
    // Each push is three elements: kind, channel, payload (or the subscription count).
    while (lines.length >= 3) {
      const [kind, , payload] = lines;
      lines = lines.slice(3);
      if (kind === 'subscribe') markReady();
      else if (kind === 'message') messages.push(payload!);
    }
  });
  return { child, messages, ready };
}

describe('interop with redis-cli', () => {
  let publisher: RedisPublisher | undefined;
  let cli: ChildProcess | undefined;

  afterEach(async () => {
    cli?.kill();
    await publisher?.close();
  });

  it('redis-cli SUBSCRIBE receives what evco publishes, in the documented format', async () => {
    publisher = createRedisPublisher({ url, channelPrefix: `${prefix}-a`, logger: silentLogger });
    const sub = redisCliSubscribe(publisher.channel);
    cli = sub.child;
    await sub.ready;
    await publisher.waitUntilReady();

    const small: AnnouncedEvent[] = [
      { id: 'e-1', eventType: 'UserRegistered', aggregateId: 'u-1', position: '41' },
      { id: 'e-2', eventType: 'UserRenamed', aggregateId: 'u-1', position: '9007199254740993' },
    ];
    await publisher.publish({ source: 'node-a', events: small });
    await waitFor(() => sub.messages.length >= 1, { message: 'redis-cli got nothing' });
    expect(JSON.parse(sub.messages[0]!)).toEqual({
      v: 1,
      source: 'node-a',
      events: [
        { id: 'e-1', eventType: 'UserRegistered', aggregateId: 'u-1', position: '41' },
        { id: 'e-2', eventType: 'UserRenamed', aggregateId: 'u-1', position: '9007199254740993' },
      ],
    });

    // A large announcement arrives as several messages, each a complete v1 document.
    const many = Array.from({ length: 3000 }, (_, i) => ({
      id: `big-${i}`,
      eventType: 'OrderPlaced',
      aggregateId: `o-${i}`,
      position: String(1000 + i),
    }));
    await publisher.publish({ source: 'node-a', events: many });
    const got = await waitFor(
      () => {
        const ids = sub.messages
          .slice(1)
          .flatMap((m) => (JSON.parse(m) as { events: Array<{ id: string }> }).events);
        return ids.length >= many.length ? ids : undefined;
      },
      { message: 'redis-cli did not get every chunk' },
    );
    expect(sub.messages.length).toBeGreaterThan(2);
    expect(got.map((e) => e.id)).toEqual(many.map((e) => e.id));
    for (const m of sub.messages) expect(Buffer.byteLength(m)).toBeLessThanOrEqual(65_536);
  });

  it('a message sent with redis-cli PUBLISH in the documented format wakes a coordinator that handles the event', async () => {
    // One store, two coordinators: `writer` stores the event and announces it only in-process,
    // so `reader` (recovery poll set to an hour) can learn of it only from the redis-cli message.
    const store = createMemoryStore();
    const writer = await createCoordinator({
      store,
      publisher: createInProcPublisher(),
      logger: silentLogger,
      closeAdapters: false,
    });
    publisher = createRedisPublisher({ url, channelPrefix: `${prefix}-b`, logger: silentLogger });
    const reader = await createCoordinator({
      store,
      publisher,
      logger: silentLogger,
      pollIntervalMs: 3_600_000,
      closeAdapters: false,
    });
    try {
      const handled: RecordedEvent[] = [];
      await reader.registerHandler(
        'InvoiceIssued',
        async (e) => {
          handled.push(e);
        },
        { name: 'billing' },
      );
      await publisher.waitUntilReady();

      const [result] = await writer.publishEvents([
        { eventType: 'InvoiceIssued', aggregateId: 'inv-1', eventData: { amount: 12 } },
      ]);
      const status = await reader.getCoordinatorStatus();
      expect(status.handlers.find((h) => h.name === 'billing')?.pending).toBe(1);
      expect(handled).toEqual([]);

      const message = JSON.stringify({
        v: 1,
        source: 'redis-cli',
        events: [
          {
            id: result!.eventId,
            eventType: 'InvoiceIssued',
            aggregateId: 'inv-1',
            position: result!.position.toString(),
          },
        ],
      });
      const { stdout } = await run('redis-cli', ['-u', url, 'PUBLISH', publisher.channel, message]);
      expect(Number(stdout.trim())).toBeGreaterThanOrEqual(1);

      await waitFor(() => handled.length === 1, { message: 'the handler did not run' });
      expect(handled[0]!.id).toBe(result!.eventId);
      expect(handled[0]!.eventData).toEqual({ amount: 12 });
    } finally {
      await reader.shutdown();
      await writer.shutdown();
      await store.close();
    }
  });
});
