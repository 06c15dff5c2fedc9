import { createCoordinator, type EventDrivenCoordinator, silentLogger } from '@evco/core';
import { createMemoryStore, type MemoryStore } from '@evco/store-memory';
import { waitFor } from '@evco/testkit';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisPublisher, type RedisPublisher } from '../src/index.js';
import { type PrivateRedis, startPrivateRedis } from './private-redis.js';

/**
 * The store is the source of truth, Redis only rings the doorbell: a fleet publishing at about
 * 1 000 events/s while its Redis dies and comes back (or drops every subscriber) must still
 * handle every event exactly once per handler, and be listening again soon after Redis returns.
 *
 * The fleet is two coordinators in this process sharing one memory store (the memory store is
 * single-process), each with its own RedisPublisher on a private redis-server. `audit` runs on
 * both (competing consumers); `billing` only on a and `mailer` only on b, so half of their events
 * are published by the other member and reach them through Redis or, when Redis dropped the
 * announcement, through the recovery poll.
 */
const TOTAL = 10_000;
const RATE_PER_SEC = 1000;
const HANDLERS = ['audit', 'billing', 'mailer'] as const;
const RUNS_ON: Record<string, ReadonlyArray<(typeof HANDLERS)[number]>> = {
  a: ['audit', 'billing'],
  b: ['audit', 'mailer'],
};
const prefix = `evco-test-restart-${process.pid}`;

let redis: PrivateRedis;
beforeAll(async () => {
  redis = await startPrivateRedis();
});
afterAll(async () => {
  await redis?.kill();
});

interface Member {
  coordinator: EventDrivenCoordinator;
  publisher: RedisPublisher;
  probes: Set<string>;
  handled: number;
}

interface Fleet {
  store: MemoryStore;
  members: Member[];
  /** handler name → event id → times handled, across the fleet. */
  counts: Map<string, Map<string, number>>;
  channel: string;
  close(): Promise<void>;
}

async function startFleet(name: string): Promise<Fleet> {
  const store = createMemoryStore();
  const counts = new Map(HANDLERS.map((h) => [h, new Map<string, number>()]));
  const members: Member[] = [];
  for (const id of ['a', 'b']) {
    const publisher = createRedisPublisher({
      url: redis.url,
      channelPrefix: `${prefix}-${name}`,
      logger: silentLogger,
    });
    const coordinator = await createCoordinator({
      id: `${name}-${id}`,
      store,
      publisher,
      logger: silentLogger,
      pollIntervalMs: 1000,
      closeAdapters: false,
    });
    const member: Member = { coordinator, publisher, probes: new Set(), handled: 0 };
    // Probes carry an event type nobody handles: they only show that this subscription is live.
    publisher.subscribe((a) => {
      if (a.source.startsWith('probe-')) member.probes.add(a.source);
    });
    for (const handler of RUNS_ON[id]!) {
      await coordinator.registerHandler(
        'OrderPlaced',
        async (event) => {
          const seen = counts.get(handler)!;
          seen.set(event.id, (seen.get(event.id) ?? 0) + 1);
          member.handled++;
        },
        { name: handler, ordering: 'none' },
      );
    }
    await publisher.waitUntilReady();
    members.push(member);
  }
  return {
    store,
    members,
    counts,
    channel: members[0]!.publisher.channel,
    async close() {
      for (const m of members) await m.coordinator.shutdown();
      for (const m of members) await m.publisher.close();
      await store.close();
    },
  };
}

/** Publishes `TOTAL` events at about `RATE_PER_SEC`, alternating between the coordinators. */
async function publishPaced(fleet: Fleet, progress: { sent: number }): Promise<void> {
  const started = performance.now();
  while (progress.sent < TOTAL) {
    const due = Math.min(TOTAL, Math.floor(((performance.now() - started) * RATE_PER_SEC) / 1000) + 1);
    while (progress.sent < due) {
      const i = progress.sent++;
      await fleet.members[i % 2]!.coordinator.publishEvent({
        eventType: 'OrderPlaced',
        aggregateId: `order-${i % 97}`,
        eventData: { i },
      });
    }
    await new Promise((r) => setTimeout(r, 1));
  }
}

/**
 * Sends probes in the documented wire format from a fresh raw connection until every member's
 * subscription has received one sent after `since`; fails after `timeoutMs`.
 */
async function subscriptionsBack(fleet: Fleet, timeoutMs: number): Promise<number> {
  const started = performance.now();
  const raw = new Redis(redis.url, { retryStrategy: () => 20, maxRetriesPerRequest: 1 });
  let probe = 0;
  const sent: string[] = [];
  try {
    await waitFor(
      async () => {
        const source = `probe-${Date.now()}-${++probe}`;
        sent.push(source);
        await raw.publish(
          fleet.channel,
          JSON.stringify({
            v: 1,
            source,
            events: [{ id: source, eventType: 'Probe', aggregateId: 'probe', position: '0' }],
          }),
        );
        return fleet.members.every((m) => sent.some((s) => m.probes.has(s)));
      },
      { timeoutMs, intervalMs: 25, message: 'the fleet was not subscribed again' },
    );
  } finally {
    raw.disconnect();
  }
  return Math.round(performance.now() - started);
}

async function expectEverythingHandledOnce(fleet: Fleet): Promise<void> {
  await waitFor(() => HANDLERS.every((h) => fleet.counts.get(h)!.size === TOTAL), {
    timeoutMs: 60_000,
    message: 'not every event was handled by every handler',
  });
  await Promise.all(fleet.members.map((m) => m.coordinator.waitForIdle({ timeoutMs: 30_000 })));
  for (const h of HANDLERS) {
    const counts = [...fleet.counts.get(h)!.values()];
    expect(counts.length).toBe(TOTAL);
    expect(counts.filter((c) => c !== 1)).toEqual([]);
  }
  expect(await fleet.store.getUnprocessedEvents({ limit: 10 })).toEqual([]);
  const stats = await fleet.store.stats({ now: new Date() });
  expect({ pending: stats.pending, running: stats.running, dead: stats.dead }).toEqual({
    pending: 0,
    running: 0,
    dead: 0,
  });
}

async function statusCounts(fleet: Fleet) {
  const all = await Promise.all(fleet.members.map((m) => m.coordinator.getCoordinatorStatus()));
  return all.map((s) => ({ id: s.id, ...s.counts }));
}

describe('publisher-redis: the fleet loses nothing when Redis goes away (private redis-server)', () => {
  it(`Redis killed and restarted twice while ${TOTAL} events are published at ~${RATE_PER_SEC}/s`, async () => {
    const fleet = await startFleet('restart');
    try {
      const progress = { sent: 0 };
      const publishing = publishPaced(fleet, progress);
      const backWithinMs: number[] = [];
      for (const at of [0.25, 0.6]) {
        await waitFor(() => progress.sent >= TOTAL * at, { timeoutMs: 60_000 });
        await redis.kill();
        // Redis stays down long enough for the reconnect backoff to reach its cap.
        await new Promise((r) => setTimeout(r, 1000));
        await redis.start();
        backWithinMs.push(await subscriptionsBack(fleet, 2000));
      }
      await publishing;
      await expectEverythingHandledOnce(fleet);

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
    const fleet = await startFleet('clientkill');
    const admin = new Redis(redis.url);
    try {
      const progress = { sent: 0 };
      const publishing = publishPaced(fleet, progress);
      const backWithinMs: number[] = [];
      for (const at of [0.3, 0.65]) {
        await waitFor(() => progress.sent >= TOTAL * at, { timeoutMs: 60_000 });
        const killed = Number(await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub'));
        expect(killed).toBeGreaterThanOrEqual(fleet.members.length);
        backWithinMs.push(await subscriptionsBack(fleet, 2000));
      }
      await publishing;
      await expectEverythingHandledOnce(fleet);

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
