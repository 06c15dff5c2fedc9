import { createCoordinator, type EventDrivenCoordinator, type Logger, silentLogger } from '@evco/core';
import { createMemoryStore, type MemoryStore } from '@evco/store-memory';
import { waitFor } from '@evco/testkit';
import { expect } from 'vitest';
import { createRedisPublisher, type RedisPublisher, type RedisPublisherOptions } from '../src/index.js';

/**
 * A fleet of two coordinators in this process sharing one memory store (the memory store is
 * single-process), each with its own RedisPublisher. `audit` runs on both (competing
 * consumers); `billing` only on a and `mailer` only on b, so half of their events are published
 * by the other member and reach them through Redis or, when Redis dropped the announcement,
 * through the recovery poll. Used by the tests that take Redis away mid-stream.
 */
export const HANDLERS = ['audit', 'billing', 'mailer'] as const;
const RUNS_ON: Record<string, ReadonlyArray<(typeof HANDLERS)[number]>> = {
  a: ['audit', 'billing'],
  b: ['audit', 'mailer'],
};

/** Where the fleet's publishers connect: everything but the prefix and the logger. */
export type Connection = Omit<RedisPublisherOptions, 'channelPrefix' | 'logger'>;

export interface Member {
  coordinator: EventDrivenCoordinator;
  publisher: RedisPublisher;
  probes: Set<string>;
  handled: number;
}

export interface Fleet {
  store: MemoryStore;
  members: Member[];
  /** handler name → event id → times handled, across the fleet. */
  counts: Map<string, Map<string, number>>;
  channel: string;
  close(): Promise<void>;
}

/** `logger`: the publishers' (what they log, and ioredis's own console lines routed to it). */
export async function startFleet(
  name: string,
  connection: Connection,
  logger: Logger = silentLogger,
): Promise<Fleet> {
  const store = createMemoryStore();
  const counts = new Map(HANDLERS.map((h) => [h, new Map<string, number>()]));
  const members: Member[] = [];
  for (const id of ['a', 'b']) {
    const publisher = createRedisPublisher({
      ...connection,
      channelPrefix: `evco-test-${process.pid}-${name}`,
      logger,
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

/** Publishes `total` events at about `ratePerSec`, alternating between the coordinators. */
export async function publishPaced(
  fleet: Fleet,
  progress: { sent: number },
  total: number,
  ratePerSec: number,
): Promise<void> {
  const started = performance.now();
  while (progress.sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - started) * ratePerSec) / 1000) + 1);
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
 * Sends probes in the documented wire format with `publishRaw` (a connection of the test's own)
 * until every member's subscription has received one; fails after `timeoutMs`.
 */
export async function subscriptionsBack(
  fleet: Fleet,
  timeoutMs: number,
  publishRaw: (channel: string, message: string) => Promise<unknown>,
): Promise<number> {
  const started = performance.now();
  let probe = 0;
  const sent: string[] = [];
  await waitFor(
    async () => {
      const source = `probe-${Date.now()}-${++probe}`;
      sent.push(source);
      await publishRaw(
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
  return Math.round(performance.now() - started);
}

export async function expectEverythingHandledOnce(fleet: Fleet, total: number): Promise<void> {
  await waitFor(() => HANDLERS.every((h) => fleet.counts.get(h)!.size === total), {
    timeoutMs: 60_000,
    message: 'not every event was handled by every handler',
  });
  await Promise.all(fleet.members.map((m) => m.coordinator.waitForIdle({ timeoutMs: 30_000 })));
  for (const h of HANDLERS) {
    const counts = [...fleet.counts.get(h)!.values()];
    expect(counts.length).toBe(total);
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

export async function statusCounts(fleet: Fleet) {
  const all = await Promise.all(fleet.members.map((m) => m.coordinator.getCoordinatorStatus()));
  return all.map((s) => ({ id: s.id, ...s.counts }));
}
