import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSqliteStore } from '@evco/store-sqlite';
import { waitFor } from '@evco/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { has, killMembers, type Member, type Message, startMember } from './member-process.js';
import { redisUrl, stopRedisContainer } from './redis-url.js';

/**
 * Two coordinators in two OS processes share a durable store (store-sqlite, one file) and talk
 * through Redis. `projector` runs in both (competing consumers: each event is handled by
 * whichever process claims it, once); `notifier` runs only in b, so every event a publishes
 * reaches it through a Redis announcement.
 */
const PER_MEMBER = 1000;
const RATE_PER_MEMBER = 250;

let url: string;
let dir: string;
const members: Member[] = [];

beforeAll(async () => {
  url = await redisUrl();
});
afterAll(stopRedisContainer);
afterEach(async () => {
  await killMembers(members);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

describe('two coordinators in two processes: store-sqlite shared, publisher-redis', () => {
  it('each event is handled once per handler, by whichever process claims it', async () => {
    dir = mkdtempSync(join(tmpdir(), 'evco-redis-fleet-'));
    const env = {
      DB_FILE: join(dir, 'events.db'),
      REDIS_URL: url,
      CHANNEL_PREFIX: `evco-test-two-processes-${process.pid}`,
    };
    const a = startMember('a', ['projector'], env, members);
    const b = startMember('b', ['projector', 'notifier'], env, members);
    for (const m of [a, b]) {
      await waitFor(() => has(m, 'ready'), {
        timeoutMs: 60_000,
        message: `member ${m.name} did not start: ${m.stderr()}`,
      });
    }

    for (const m of [a, b]) m.child.send({ type: 'publish', count: PER_MEMBER, ratePerSec: RATE_PER_MEMBER });
    const total = 2 * PER_MEMBER;
    const handled = () => [...a.messages, ...b.messages].filter((x) => x.type === 'handled');
    await waitFor(() => has(a, 'published-all') && has(b, 'published-all') && handled().length >= 2 * total, {
      timeoutMs: 60_000,
      message: 'not everything was handled',
    });
    for (const m of [a, b]) m.child.send({ type: 'shutdown' });
    for (const m of [a, b]) {
      await waitFor(() => has(m, 'stopped'), { timeoutMs: 30_000, message: `member ${m.name} did not stop` });
      expect(await m.exited).toBe(0);
    }

    const published = new Map<string, Message>();
    for (const x of [...a.messages, ...b.messages]) if (x.type === 'published') published.set(x.id!, x);
    expect(published.size).toBe(total);

    const all = handled();
    for (const handler of ['projector', 'notifier']) {
      const times = new Map<string, number>();
      for (const h of all) if (h.handler === handler) times.set(h.id!, (times.get(h.id!) ?? 0) + 1);
      expect(times.size).toBe(total);
      expect([...times.values()].filter((n) => n !== 1)).toEqual([]);
    }
    expect(all.filter((h) => h.handler === 'notifier').every((h) => h.member === 'b')).toBe(true);

    const store = createSqliteStore({ filename: env.DB_FILE });
    try {
      expect(await store.getUnprocessedEvents({ limit: 10 })).toEqual([]);
      const stats = await store.stats({ now: new Date() });
      expect(stats.pending + stats.running + stats.dead).toBe(0);
    } finally {
      await store.close();
    }

    const latency = (filter: (h: Message) => boolean) => {
      const ms = all
        .filter(filter)
        .map((h) => h.at! - published.get(h.id!)!.at!)
        .sort((x, y) => x - y);
      return `p50 ${percentile(ms, 50).toFixed(2)} ms, p99 ${percentile(ms, 99).toFixed(2)} ms (n=${ms.length})`;
    };
    const projectorSplit = ['a', 'b'].map(
      (n) => all.filter((h) => h.handler === 'projector' && h.member === n).length,
    );
    console.log(
      `[two processes] publish → handled latency: cross-process ${latency((h) => published.get(h.id!)!.member !== h.member)}; ` +
        `same process ${latency((h) => published.get(h.id!)!.member === h.member)}; ` +
        `projector handled by a/b: ${projectorSplit.join('/')}`,
    );
  });
});
