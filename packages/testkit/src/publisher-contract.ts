import { type EventPublisher, isEvcoError } from '@evco/core';
import type { AnnouncedEvent, Announcement } from '@evco/core/adapter';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { waitFor } from './helpers.js';

export interface PublisherContractOptions {
  /** Shown in the suite title. */
  name: string;
  /** A fresh publisher; called before every case. */
  create: () => Promise<EventPublisher>;
  /** Called after every case. */
  destroy?: ((publisher: EventPublisher) => Promise<void>) | undefined;
  /** How long to wait for announcements to arrive. @default 10000 */
  timeoutMs?: number | undefined;
}

let seq = 0;
function announced(n: number, prefix = 'evt'): AnnouncedEvent[] {
  return Array.from({ length: n }, () => {
    seq++;
    return {
      id: `0190a0b0-0000-7000-8000-${seq.toString(16).padStart(12, '0')}`,
      eventType: `${prefix}.Happened`,
      aggregateId: `agg-${seq}`,
      position: (BigInt(seq) * 1_000_000_007n).toString(),
    };
  });
}

/**
 * The behaviour every `EventPublisher` must have. Announcements are hints, so the suite checks
 * what a dispatcher relies on: they arrive intact, in order, to every subscriber, and a closed
 * publisher says so with a typed error.
 */
export function describePublisherContract(options: PublisherContractOptions): void {
  const timeoutMs = options.timeoutMs ?? 10_000;

  describe(`EventPublisher contract: ${options.name}`, () => {
    let publisher: EventPublisher;

    beforeEach(async () => {
      publisher = await options.create();
    });

    afterEach(async () => {
      await publisher.close();
      await options.destroy?.(publisher);
    });

    /** Subscribes and waits until a probe announcement comes through (subscriptions may be asynchronous). */
    async function subscribed(): Promise<{ received: Announcement[]; unsubscribe: () => void }> {
      const received: Announcement[] = [];
      const probeSource = `probe-${++seq}`;
      let probed = false;
      const unsubscribe = publisher.subscribe((a) => {
        if (a.source === probeSource) probed = true;
        else if (!a.source.startsWith('probe-')) received.push(a);
      });
      await waitFor(
        async () => {
          if (!probed) await publisher.publish({ source: probeSource, events: announced(1, 'probe') });
          return probed;
        },
        { timeoutMs, intervalMs: 50, message: 'subscription did not become ready' },
      );
      return { received, unsubscribe };
    }

    const eventsOf = (received: Announcement[]) => received.flatMap((a) => a.events);

    it('round-trips an announcement: source, ids, types, aggregates and positions beyond 2^53 intact', async () => {
      const { received } = await subscribed();
      const events = announced(3);
      events[0]!.position = '9007199254740993'; // beyond Number.MAX_SAFE_INTEGER
      await publisher.publish({ source: 'node-a', events });
      await waitFor(() => eventsOf(received).length >= 3, { timeoutMs });
      expect(received.every((a) => a.source === 'node-a')).toBe(true);
      expect(eventsOf(received)).toEqual(events);
      expect(eventsOf(received)[0]!.position).toBe('9007199254740993');
    });

    it('delivers to several subscribers', async () => {
      const one = await subscribed();
      const two = await subscribed();
      const events = announced(2);
      await publisher.publish({ source: 'node-a', events });
      await waitFor(() => eventsOf(one.received).length >= 2 && eventsOf(two.received).length >= 2, {
        timeoutMs,
      });
      expect(eventsOf(one.received)).toEqual(events);
      expect(eventsOf(two.received)).toEqual(events);
    });

    it('stops delivering after unsubscribe, to that subscriber only', async () => {
      const gone = await subscribed();
      const stays = await subscribed();
      gone.unsubscribe();
      const events = announced(1);
      await publisher.publish({ source: 'node-a', events });
      await waitFor(() => eventsOf(stays.received).length >= 1, { timeoutMs });
      // The remaining subscriber got it, so the other one had every chance to.
      await new Promise((r) => setTimeout(r, 50));
      expect(eventsOf(gone.received)).toEqual([]);
      expect(eventsOf(stays.received)).toEqual(events);
    });

    it('delivers a 10 000-event batch in order to one subscriber', async () => {
      const { received } = await subscribed();
      const events = announced(10_000);
      await publisher.publish({ source: 'node-a', events });
      await waitFor(() => eventsOf(received).length >= 10_000, { timeoutMs: timeoutMs * 3 });
      const got = eventsOf(received);
      expect(got.length).toBe(10_000);
      expect(got.map((e) => e.id)).toEqual(events.map((e) => e.id));
    });

    it('keeps publish order across many small publishes', async () => {
      const { received } = await subscribed();
      const batches = Array.from({ length: 200 }, () => announced(2));
      await Promise.all(batches.map((events) => publisher.publish({ source: 'node-a', events })));
      await waitFor(() => eventsOf(received).length >= 400, { timeoutMs });
      expect(eventsOf(received).map((e) => e.id)).toEqual(batches.flat().map((e) => e.id));
    });

    it('reports health: healthy, a latency and details', async () => {
      const health = await publisher.healthCheck();
      expect(health.healthy).toBe(true);
      expect(typeof health.latencyMs).toBe('number');
      expect(health.latencyMs).toBeGreaterThanOrEqual(0);
      expect(health.details).toBeTypeOf('object');
    });

    it('after close: publish fails with PUBLISHER_UNAVAILABLE, health is unhealthy, close again is safe', async () => {
      await publisher.close();
      await publisher.close();
      const error = await publisher
        .publish({ source: 'node-a', events: announced(1) })
        .catch((e: unknown) => e);
      expect(isEvcoError(error, 'PUBLISHER_UNAVAILABLE')).toBe(true);
      expect((await publisher.healthCheck()).healthy).toBe(false);
    });
  });
}
