import type { EventStore, RecordedEvent } from '@evco/core';
import type { PruneBatch, PruneRequest } from '@evco/core/adapter';
import { describe, expect, it } from 'vitest';
import { makeEvent } from './helpers.js';
import { expectJsonSafe } from './json-safe.js';

const T0 = new Date('2026-01-01T00:00:00.000Z');
const at = (ms: number) => new Date(T0.getTime() + ms);
const DAY = 86_400_000;
const CUTOFF = at(10 * DAY);
/** When deliveries are claimed and settled: after every retry time the cases set. */
const LATE = at(50 * DAY);
const consumer = 'retention-contract';

type Prunable = EventStore & Required<Pick<EventStore, 'pruneEvents' | 'getPrunedRanges'>>;

export interface RetentionContractContext {
  /** The store declares the retention capability; otherwise every case is reported skipped. */
  supported: boolean;
  store(): EventStore;
  /** A second store on the same data (another process's view), or the same store. */
  share(): Promise<EventStore>;
}

/** Runs `pruneEvents` batch after batch, following the cursor, until nothing eligible is left. */
export async function pruneAll(
  store: EventStore,
  request: Omit<PruneRequest, 'after' | 'now'> & { now?: Date | undefined },
): Promise<number> {
  let removed = 0;
  let batch: PruneBatch | undefined;
  do {
    batch = await store.pruneEvents!({ now: at(20 * DAY), ...request, after: batch?.next ?? undefined });
    removed += batch.removed;
  } while (batch.next !== null);
  return removed;
}

/**
 * Retention cases of the store contract: what `pruneEvents` may remove, what it must keep, the
 * archive hook, pruned ranges, concurrent prunes and the enforcer's lease. Stores without the
 * capability skip them visibly.
 */
export function describeRetentionContract(context: RetentionContractContext): void {
  const title = context.supported ? 'retention' : 'retention (skipped: capabilities.retention is false)';
  describe.skipIf(!context.supported)(title, () => {
    const prunable = (skip: (note: string) => void): Prunable => {
      const s = context.store();
      if (!s.pruneEvents || !s.getPrunedRanges) skip('this store has no pruneEvents (retention capability)');
      return s as Prunable;
    };
    const subscribe = (store: EventStore, handler: string, eventType = 'TestHappened') =>
      store.registerSubscriptions([{ handler, eventType, ordering: 'none' }], {
        consumerId: consumer,
        now: T0,
        ttlMs: 365 * DAY,
      });
    const ids = (events: ReadonlyArray<{ id: string }>) => events.map((e) => e.id).sort();
    const stored = async (store: EventStore) => ids(await store.read({ limit: 10_000 }));
    /** Claims every due delivery of `handler`; completes or kills (dead letter) those of `only` (default all), releases the others. */
    const settleAll = async (
      store: EventStore,
      handler: string,
      outcome: 'done' | 'dead',
      only?: string[],
    ) => {
      const claimed = await store.claimDue({
        consumerId: consumer,
        handlers: [handler],
        now: LATE,
        leaseMs: 60_000,
        limit: 1000,
      });
      const chosen = claimed.filter((c) => !only || only.includes(c.event.id));
      const rest = claimed.filter((c) => only && !only.includes(c.event.id));
      if (outcome === 'done') await store.complete(chosen, { now: LATE });
      else
        await store.fail(
          chosen.map((c) => ({ ...c, error: 'boom', nextAttemptAt: null })),
          { now: LATE },
        );
      await store.release(rest, { now: LATE });
    };

    it('removes only events older than the cutoff, of the types asked, whose deliveries are all done', async ({
      skip,
    }) => {
      const store = prunable(skip);
      await subscribe(store, 'h');
      const oldDone = makeEvent({ occurredAt: at(1 * DAY) });
      const oldPending = makeEvent({ occurredAt: at(2 * DAY) });
      const oldDead = makeEvent({ occurredAt: at(3 * DAY) });
      const oldOther = makeEvent({ eventType: 'OtherHappened', occurredAt: at(1 * DAY) });
      const recentDone = makeEvent({ occurredAt: at(11 * DAY) });
      await store.append([oldDone, oldPending, oldDead, oldOther, recentDone], { now: T0 });
      await settleAll(store, 'h', 'done', [oldDone.id, recentDone.id]);
      await settleAll(store, 'h', 'dead', [oldDead.id]);

      expect(await pruneAll(store, { before: CUTOFF, eventTypes: ['TestHappened'], limit: 10 })).toBe(1);
      expect(await store.getEvent(oldDone.id)).toBeUndefined();
      expect(await store.getDeliveries(oldDone.id)).toEqual([]);
      expect(await stored(store)).toEqual(ids([oldPending, oldDead, oldOther, recentDone]));

      // The other types only (a default policy next to per-type ones).
      expect(await pruneAll(store, { before: CUTOFF, excludeEventTypes: ['TestHappened'], limit: 10 })).toBe(
        1,
      );
      expect(await stored(store)).toEqual(ids([oldPending, oldDead, recentDone]));
      // Everything left must stay: open, dead, or too recent.
      expect(await pruneAll(store, { before: CUTOFF, limit: 10 })).toBe(0);
      expect((await store.getDeadLetters({ limit: 10 })).map((d) => d.event.id)).toEqual([oldDead.id]);
      expect((await store.getUnprocessedEvents({ limit: 10 })).map((u) => u.event.id).sort()).toEqual(
        ids([oldPending, oldDead]),
      );
    });

    it('keeps an event with a dead delivery until it is retried and done, or its handler retired', async ({
      skip,
    }) => {
      const store = prunable(skip);
      await subscribe(store, 'h');
      await subscribe(store, 'gone');
      const a = makeEvent({ occurredAt: at(1 * DAY) });
      await store.append([a], { now: T0 });
      await settleAll(store, 'h', 'dead');
      await settleAll(store, 'gone', 'dead');
      expect(await pruneAll(store, { before: CUTOFF, limit: 10 })).toBe(0);

      expect(await store.retryDeadLetters({ handler: 'h', now: at(3) })).toBe(1);
      expect(await pruneAll(store, { before: CUTOFF, limit: 10 })).toBe(0);
      await settleAll(store, 'h', 'done');
      expect(await pruneAll(store, { before: CUTOFF, limit: 10 })).toBe(0);
      await store.retireHandler('gone');
      expect(await pruneAll(store, { before: CUTOFF, limit: 10 })).toBe(1);
      expect(await store.getEvent(a.id)).toBeUndefined();
    });

    it('keeps events inside a running replay’s range, and prunes them once it is done and handled', async ({
      skip,
    }) => {
      const store = prunable(skip);
      await subscribe(store, 'h');
      const inside = makeEvent({ occurredAt: at(2 * DAY) });
      const outside = makeEvent({ occurredAt: at(5 * DAY) });
      await store.append([inside, outside], { now: T0 });
      await settleAll(store, 'h', 'done');
      const job = await store.startReplay(
        { from: at(1 * DAY), to: at(3 * DAY), maxEvents: 10 },
        { now: at(3) },
      );
      expect(await pruneAll(store, { before: CUTOFF, limit: 10 })).toBe(1);
      expect(await stored(store)).toEqual([inside.id]);
      let progress = await store.continueReplay(job.id, { now: at(4), pageSize: 10 });
      while (progress.status === 'running')
        progress = await store.continueReplay(job.id, { now: at(4), pageSize: 10 });
      expect(progress.eventsMatched).toBe(1);
      // Requeued by the replay: open again, so it stays until handled.
      expect(await pruneAll(store, { before: CUTOFF, limit: 10 })).toBe(0);
      await settleAll(store, 'h', 'done');
      expect(await pruneAll(store, { before: CUTOFF, limit: 10 })).toBe(1);
      expect(await stored(store)).toEqual([]);
    });

    it('prunes oldest first in batches of `limit`, carrying on past events that must stay', async ({
      skip,
    }) => {
      const store = prunable(skip);
      await subscribe(store, 'h');
      const blocked = [1, 2, 3].map((d) => makeEvent({ occurredAt: at(d * DAY) }));
      const eligible = [4, 5, 6, 7, 8].map((d) => makeEvent({ occurredAt: at(d * DAY) }));
      await store.append([...[...eligible].reverse(), ...blocked], { now: T0 });
      await settleAll(
        store,
        'h',
        'done',
        eligible.map((e) => e.id),
      );
      const first = await store.pruneEvents({ before: CUTOFF, limit: 2, now: at(20 * DAY) });
      expect(first.removed).toBe(2);
      expect(first.next).not.toBeNull();
      // The two oldest eligible ones went (by occurredAt, not position).
      const left = await stored(store);
      expect(left).not.toContain(eligible[0]!.id);
      expect(left).not.toContain(eligible[1]!.id);
      expect(left).toContain(eligible[2]!.id);
      let batch = first;
      let batches = 1;
      while (batch.next) {
        batch = await store.pruneEvents({ before: CUTOFF, limit: 2, after: batch.next, now: at(20 * DAY) });
        batches++;
      }
      expect(batches).toBe(3);
      expect(await stored(store)).toEqual(ids(blocked));
    });

    it('hands each batch to the archive before removing it; a throwing archive removes nothing', async ({
      skip,
    }) => {
      const store = prunable(skip);
      const events = [1, 2, 3, 4, 5].map((d) => makeEvent({ occurredAt: at(d * DAY) }));
      await store.append(events, { now: T0 });
      const archived: RecordedEvent[] = [];
      let calls = 0;
      const archive = async (batch: readonly RecordedEvent[]) => {
        calls++;
        // Still stored while the archive runs.
        for (const e of batch) expect(await store.getEvent(e.id)).toBeDefined();
        if (calls === 2) throw new Error('disk full');
        archived.push(...batch);
      };
      const first = await store.pruneEvents({ before: CUTOFF, limit: 2, archive, now: at(20 * DAY) });
      expect(first.removed).toBe(2);
      const failure = await store
        .pruneEvents({ before: CUTOFF, limit: 2, archive, now: at(20 * DAY) })
        .catch((e: unknown) => e);
      expect((failure as Error).message).toContain('disk full');
      expect((await stored(store)).length).toBe(3);
      expect(await pruneAll(store, { before: CUTOFF, limit: 2, archive })).toBe(3);
      expect(ids(archived)).toEqual(ids(events));
      // Full events, as read: data, metadata and positions.
      const byId = new Map(archived.map((e) => [e.id, e]));
      for (const e of events) expect(byId.get(e.id)?.eventData).toEqual(e.eventData);
      expect(await stored(store)).toEqual([]);
    });

    it('writers, readers and claims carry on while a batch is being archived', async ({ skip }) => {
      const store = prunable(skip);
      await subscribe(store, 'h');
      const old = [1, 2, 3].map((d) => makeEvent({ occurredAt: at(d * DAY) }));
      await store.append(old, { now: T0 });
      await settleAll(store, 'h', 'done');
      let release!: () => void;
      const held = new Promise<void>((r) => {
        release = r;
      });
      let archiving!: () => void;
      const started = new Promise<void>((r) => {
        archiving = r;
      });
      const prune = store.pruneEvents({
        before: CUTOFF,
        limit: 10,
        now: LATE,
        archive: async () => {
          archiving();
          await held;
        },
      });
      await started;
      // The batch is chosen and its archive is running: nothing else may wait for it.
      const fresh = makeEvent({ occurredAt: LATE });
      const { events } = await store.append([fresh], { now: LATE });
      expect((await store.read({ afterPosition: events[0]!.position, limit: 10 })).length).toBe(0);
      expect(
        (await store.read({ eventType: 'TestHappened', from: at(40 * DAY), limit: 10 })).map((e) => e.id),
      ).toEqual([fresh.id]);
      const claimed = await store.claimDue({
        consumerId: consumer,
        handlers: ['h'],
        now: LATE,
        leaseMs: 60_000,
        limit: 10,
      });
      expect(claimed.map((c) => c.event.id)).toEqual([fresh.id]);
      await store.complete(claimed, { now: LATE });
      release();
      expect((await prune).removed).toBe(3);
      expect(await stored(store)).toEqual([fresh.id]);
    });

    it('two stores pruning at once remove each event once, and the archive sees each once', async ({
      skip,
    }) => {
      const store = prunable(skip);
      const other = (await context.share()) as Prunable;
      try {
        // With an archive (choice, archive, delete) and without (on Postgres one statement per batch).
        for (const [round, withArchive] of [
          [0, true],
          [1, false],
        ] as const) {
          const events = Array.from({ length: 60 }, (_, i) =>
            makeEvent({ occurredAt: at(i * 1000 + round * 100) }),
          );
          await store.append(events, { now: T0 });
          const archived: string[] = [];
          const archive = withArchive
            ? async (batch: readonly RecordedEvent[]) => {
                await new Promise((r) => setTimeout(r, 2));
                archived.push(...batch.map((e) => e.id));
              }
            : undefined;
          const [a, b] = await Promise.all([
            pruneAll(store, { before: CUTOFF, limit: 7, ...(archive ? { archive } : {}) }),
            pruneAll(other, { before: CUTOFF, limit: 7, ...(archive ? { archive } : {}) }),
          ]);
          expect(a + b).toBe(60);
          if (withArchive) {
            expect(archived.length).toBe(60);
            expect(new Set(archived).size).toBe(60);
          }
          expect(await stored(store)).toEqual([]);
          const [range] = await store.getPrunedRanges();
          expect(range?.removed).toBe(60 * (round + 1));
        }
      } finally {
        if (other !== store) await other.close();
      }
    });

    it('records the pruned cutoff per event type: it only moves forward, counts add up', async ({ skip }) => {
      const store = prunable(skip);
      expect(await store.getPrunedRanges()).toEqual([]);
      await store.append(
        [
          makeEvent({ occurredAt: at(1 * DAY) }),
          makeEvent({ occurredAt: at(5 * DAY) }),
          makeEvent({ eventType: 'OtherHappened', occurredAt: at(1 * DAY) }),
        ],
        { now: T0 },
      );
      await pruneAll(store, {
        before: at(3 * DAY),
        eventTypes: ['TestHappened'],
        limit: 10,
        now: at(30 * DAY),
      });
      // Nothing removed at a cutoff of 2 days: the record stays at 3 days.
      await pruneAll(store, { before: at(2 * DAY), limit: 10, now: at(31 * DAY) });
      const ranges = await store.getPrunedRanges();
      expectJsonSafe(ranges, 'getPrunedRanges()');
      expect(ranges).toEqual([
        { eventType: 'OtherHappened', before: at(2 * DAY), removed: 1, lastPrunedAt: at(31 * DAY) },
        { eventType: 'TestHappened', before: at(3 * DAY), removed: 1, lastPrunedAt: at(30 * DAY) },
      ]);
      await pruneAll(store, { before: at(6 * DAY), limit: 10, now: at(32 * DAY) });
      expect((await store.getPrunedRanges()).find((r) => r.eventType === 'TestHappened')).toEqual({
        eventType: 'TestHappened',
        before: at(6 * DAY),
        removed: 2,
        lastPrunedAt: at(32 * DAY),
      });
    });

    it('never hands out a removed position again', async ({ skip }) => {
      const store = prunable(skip);
      const { events } = await store.append(
        [makeEvent({ occurredAt: at(1) }), makeEvent({ occurredAt: at(2) })],
        {
          now: T0,
        },
      );
      expect(await pruneAll(store, { before: CUTOFF, limit: 10 })).toBe(2);
      const { events: later } = await store.append([makeEvent()], { now: at(3) });
      expect(BigInt(later[0]!.position)).toBeGreaterThan(BigInt(events[1]!.position));
      expect((await store.stats({ now: at(4) })).lastPosition).toBe(later[0]!.position);
    });

    it('leases: one holder at a time, renewable by it, free after expiry or release', async ({ skip }) => {
      const store = context.store();
      if (!store.acquireLease || !store.releaseLease) skip('this store has no leases (retention capability)');
      const lease = (holder: string, now: Date) =>
        store.acquireLease!({ name: 'retention', holder, now, ttlMs: 1000 });
      expect(await lease('a', at(0))).toBe(true);
      expect(await lease('b', at(500))).toBe(false);
      expect(await lease('a', at(900))).toBe(true);
      expect(await lease('b', at(1800))).toBe(false);
      expect(await store.acquireLease!({ name: 'other', holder: 'b', now: at(1800), ttlMs: 1000 })).toBe(
        true,
      );
      expect(await lease('b', at(1900))).toBe(true);
      expect(await lease('a', at(2000))).toBe(false);
      await store.releaseLease!({ name: 'retention', holder: 'a' });
      expect(await lease('a', at(2000))).toBe(false);
      await store.releaseLease!({ name: 'retention', holder: 'b' });
      expect(await lease('a', at(2000))).toBe(true);
    });

    it('concurrent lease takers: exactly one wins', async ({ skip }) => {
      const store = context.store();
      if (!store.acquireLease) skip('this store has no leases (retention capability)');
      const other = await context.share();
      try {
        const won = await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            (i % 2 ? other : store).acquireLease!({
              name: 'retention',
              holder: `p${i}`,
              now: at(0),
              ttlMs: 1000,
            }),
          ),
        );
        expect(won.filter(Boolean).length).toBe(1);
      } finally {
        if (other !== store) await other.close();
      }
    });
  });
}
