import { type PrivateRedis, startPrivateRedis, waitFor } from '@evco/testkit';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  expectEverythingHandledOnce,
  publishPaced,
  startFleet,
  statusCounts,
  subscriptionsBack,
} from './fleet.js';

/**
 * The store is the source of truth, Redis only rings the doorbell: a fleet (see `fleet.ts`)
 * publishing at about 1 000 events/s while its Redis dies and comes back (or drops every
 * subscriber) must still handle every event exactly once per handler, and be listening again
 * soon after Redis returns. The Redis is a private redis-server of this test.
 */
const TOTAL = 10_000;
const RATE_PER_SEC = 1000;

let redis: PrivateRedis;
let raw: Redis;
beforeAll(async () => {
  redis = await startPrivateRedis();
  // The test's own connection for probes, reconnecting quickly after each restart.
  raw = new Redis(redis.url, { retryStrategy: () => 20, maxRetriesPerRequest: 1 });
  raw.on('error', () => {});
});
afterAll(async () => {
  raw?.disconnect();
  await redis?.kill();
});

describe('publisher-redis: the fleet loses nothing when Redis goes away (private redis-server)', () => {
  it(`Redis killed and restarted twice while ${TOTAL} events are published at ~${RATE_PER_SEC}/s`, async () => {
    const fleet = await startFleet('restart', { url: redis.url });
    try {
      const progress = { sent: 0 };
      const publishing = publishPaced(fleet, progress, TOTAL, RATE_PER_SEC);
      const backWithinMs: number[] = [];
      for (const at of [0.25, 0.6]) {
        await waitFor(() => progress.sent >= TOTAL * at, { timeoutMs: 60_000 });
        await redis.kill();
        // Redis stays down long enough for the reconnect backoff to reach its cap.
        await new Promise((r) => setTimeout(r, 1000));
        await redis.start();
        backWithinMs.push(await subscriptionsBack(fleet, 2000, (c, m) => raw.publish(c, m)));
      }
      await publishing;
      await expectEverythingHandledOnce(fleet, TOTAL);

      const counts = await statusCounts(fleet);
      for (const c of counts) expect(c.reconnects).toBeGreaterThanOrEqual(2);
      // Publishes during the outages failed fast and were counted, not lost.
      expect(counts.reduce((sum, c) => sum + c.publishFailures, 0)).toBeGreaterThan(0);
      console.log(
        `[restart] subscriptions back ${backWithinMs.join(' ms, ')} ms after Redis returned; ` +
          `handled by a/b: ${fleet.members.map((m) => m.handled).join('/')}; ` +
          `publish failures a/b: ${counts.map((c) => c.publishFailures).join('/')}`,
      );
    } finally {
      await fleet.close();
    }
  });

  it(`CLIENT KILL TYPE pubsub twice while ${TOTAL} events are published at ~${RATE_PER_SEC}/s`, async () => {
    const fleet = await startFleet('clientkill', { url: redis.url });
    const admin = new Redis(redis.url);
    try {
      const progress = { sent: 0 };
      const publishing = publishPaced(fleet, progress, TOTAL, RATE_PER_SEC);
      const backWithinMs: number[] = [];
      for (const at of [0.3, 0.65]) {
        await waitFor(() => progress.sent >= TOTAL * at, { timeoutMs: 60_000 });
        const killed = Number(await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub'));
        expect(killed).toBeGreaterThanOrEqual(fleet.members.length);
        backWithinMs.push(await subscriptionsBack(fleet, 2000, (c, m) => raw.publish(c, m)));
      }
      await publishing;
      await expectEverythingHandledOnce(fleet, TOTAL);

      const counts = await statusCounts(fleet);
      for (const c of counts) expect(c.reconnects).toBeGreaterThanOrEqual(2);
      console.log(
        `[client kill] subscriptions back ${backWithinMs.join(' ms, ')} ms after the kill; ` +
          `handled by a/b: ${fleet.members.map((m) => m.handled).join('/')}`,
      );
    } finally {
      admin.disconnect();
      await fleet.close();
    }
  });
});
