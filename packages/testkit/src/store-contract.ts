import {
  comparePositions,
  createDomainEvent,
  type DomainEventInput,
  type EventStore,
  isEvcoError,
} from '@evco/core';
import type { ClaimedDelivery, DeliveryToken, SubscriptionSpec } from '@evco/core/adapter';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { collect, makeEvent, settle } from './helpers.js';
import { expectJsonSafe } from './json-safe.js';
import { describeRetentionContract } from './retention-contract.js';

/**
 * What the store under test can do. A case that needs a capability the store lacks is reported
 * as skipped with the reason in its name, never left out silently; a store that declares a
 * capability it does not have (or hides one it has) fails the `capabilities` case.
 */
export interface EventStoreContractCapabilities {
  /**
   * Data survives `close()`: the `durability` case reopens it with `reopen`. Must equal
   * `store.capabilities.durable`.
   */
  durable: boolean;
  /**
   * Several processes may share the data: the `crossProcess` cases open a second instance with
   * `share` and race it. Must equal `store.capabilities.crossProcess`.
   */
  crossProcess: boolean;
  /** The optional retention port (`pruneEvents`, `getPrunedRanges`, leases): the `retention` cases. */
  retention: boolean;
}

export interface EventStoreContractOptions<S extends EventStore = EventStore> {
  /** Shown in the suite title. */
  name: string;
  /** Returns a fresh, empty, migrated store; called before every case. */
  create: () => Promise<S>;
  /** Called after every case with the store `create` returned, closed (drop a schema, delete a file). */
  destroy?: ((store: S) => Promise<void>) | undefined;
  capabilities: EventStoreContractCapabilities;
  /**
   * Opens a second store on the same data as `store` (another process's view), closed by the
   * case. Required with `capabilities.crossProcess`.
   */
  share?: ((store: S) => Promise<S>) | undefined;
  /** Opens `store`'s data again after it was closed, migrated. Required with `capabilities.durable`. */
  reopen?: ((store: S) => Promise<S>) | undefined;
  /** Events for the paging case. @default 10000 */
  pagingEvents?: number | undefined;
}

/** A case's title, with the reason it is skipped when the store lacks what it needs. */
function needs(supported: boolean, capability: keyof EventStoreContractCapabilities, title: string): string {
  return supported ? title : `${title} (skipped: capabilities.${capability} is false)`;
}

const T0 = new Date('2026-01-01T00:00:00.000Z');
const at = (ms: number) => new Date(T0.getTime() + ms);
const LEASE = 30_000;
const consumer = 'contract-consumer';

/**
 * The behaviour every `EventStore` must have. Each case asserts stored outcomes (rows, counts,
 * claimed deliveries, error codes), so an adapter that passes can replace any other.
 */
export function describeEventStoreContract<S extends EventStore>(
  options: EventStoreContractOptions<S>,
): void {
  const caps = options.capabilities;
  if (caps.durable && !options.reopen) {
    throw new Error(
      `${options.name}: capabilities.durable needs reopen (open the closed store's data again)`,
    );
  }
  if (caps.crossProcess && !options.share) {
    throw new Error(
      `${options.name}: capabilities.crossProcess needs share (a second store on the same data)`,
    );
  }
  describe(`EventStore contract: ${options.name}`, () => {
    let store: S;

    /** Each handler's orderings as this case subscribed it (through `subscribe`). */
    let orderings: Map<string, Set<string>>;

    beforeEach(async () => {
      store = await options.create();
      orderings = new Map();
    });

    afterEach(async () => {
      await store.close();
      await options.destroy?.(store);
    });

    const subscribe = (
      subs: Array<Partial<SubscriptionSpec> & { handler: string }>,
      now = T0,
      ttlMs = 3_600_000,
    ) => {
      const specs = subs.map(
        (s): SubscriptionSpec => ({ eventType: 'TestHappened', ordering: 'aggregate', ...s }),
      );
      for (const s of specs) {
        const seen = orderings.get(s.handler) ?? new Set<string>();
        seen.add(s.ordering);
        orderings.set(s.handler, seen);
      }
      return store.registerSubscriptions(specs, { consumerId: consumer, now, ttlMs });
    };

    /**
     * The claims' `ordered` hint as the dispatcher gives it: true when a handler was subscribed
     * ordered in this case, false when all were subscribed unordered only, unknown otherwise.
     * The hint never changes what is claimable (a case below holds it).
     */
    const ordered = (handlers: readonly string[]): boolean | undefined =>
      handlers.some((h) => orderings.get(h)?.has('aggregate'))
        ? true
        : handlers.every((h) => orderings.get(h)?.has('none'))
          ? false
          : undefined;

    const claim = (handlers: string[], now = T0, limit = 100, consumerId = consumer) =>
      store.claimDue({ consumerId, handlers, now, leaseMs: LEASE, limit, ordered: ordered(handlers) });

    /** The store's own `completeAndClaim`, or what it stands for: `complete`, then `claimDue`. */
    const completeAndClaim = (
      tokens: DeliveryToken[],
      handlers: string[],
      now: Date,
      limit = 100,
      consumerId = consumer,
    ) =>
      store.completeAndClaim
        ? store.completeAndClaim(tokens, {
            consumerId,
            handlers,
            now,
            leaseMs: LEASE,
            limit,
            ordered: ordered(handlers),
          })
        : store.complete(tokens, { now }).then(() => claim(handlers, now, limit, consumerId));

    const ids = (events: ReadonlyArray<{ id: string }>) => events.map((e) => e.id);
    const claimedIds = (claimed: ClaimedDelivery[]) => claimed.map((c) => c.event.id);

    describe('events', () => {
      it('round-trips every field: UTC dates, unicode, nested data, a 100 KiB payload', async () => {
        const big = 'x'.repeat(100 * 1024);
        const event = createDomainEvent({
          eventType: 'Order.Placed:v2',
          aggregateId: 'order-ünïcødé-🚀',
          aggregateType: 'Order',
          aggregateVersion: 7,
          eventData: {
            text: 'grüße 你好 🎉 "quoted" \\ back\nline',
            nested: { list: [1, 2.5, -3, true, false, null, { deep: ['a'] }], empty: {}, none: [] },
            big,
          },
          metadata: {
            schemaVersion: 3,
            correlationId: 'corr-1',
            causationId: 'cause-1',
            tenant: 'acme',
            retries: 2,
          },
          occurredAt: '2026-03-04T05:06:07.089+05:30',
        });
        const { events } = await store.append([event], { now: at(1) });
        const [stored] = await store.read({ limit: 10 });
        for (const r of [events[0]!, stored!]) {
          expect(r.id).toBe(event.id);
          expect(r.eventType).toBe('Order.Placed:v2');
          expect(r.aggregateId).toBe('order-ünïcødé-🚀');
          expect(r.aggregateType).toBe('Order');
          expect(r.aggregateVersion).toBe(7);
          expect(r.eventData).toEqual(event.eventData);
          expect(r.metadata).toEqual({
            schemaVersion: 3,
            correlationId: 'corr-1',
            causationId: 'cause-1',
            tenant: 'acme',
            retries: 2,
          });
          expect(r.occurredAt).toBeInstanceOf(Date);
          expect(r.occurredAt.toISOString()).toBe('2026-03-03T23:36:07.089Z');
          expect(r.recordedAt.getTime()).toBe(at(1).getTime());
          expect(r.position).toMatch(/^(0|[1-9][0-9]*)$/);
        }
        expect((stored!.eventData as { big: string }).big.length).toBe(100 * 1024);
        expect(await store.getEvent(event.id)).toMatchObject({ id: event.id, position: stored!.position });
        expect(await store.getEvent('00000000-0000-7000-8000-000000000000')).toBeUndefined();
      });

      it('leaves optional fields absent when they were not given', async () => {
        const event = makeEvent();
        await store.append([event], { now: T0 });
        const [stored] = await store.read({ limit: 1 });
        expect(stored!.aggregateType).toBeUndefined();
        expect(stored!.aggregateVersion).toBeUndefined();
        expect(stored!.metadata).toEqual(event.metadata);
      });

      it('assigns strictly increasing positions across appends and batches', async () => {
        const first = await store.append([makeEvent(), makeEvent()], { now: T0 });
        const second = await store.append([makeEvent()], { now: T0 });
        const third = await store.append([makeEvent(), makeEvent(), makeEvent()], { now: T0 });
        const positions = [...first.events, ...second.events, ...third.events].map((e) => e.position);
        for (let i = 1; i < positions.length; i++)
          expect(comparePositions(positions[i]!, positions[i - 1]!)).toBeGreaterThan(0);
        const all = await store.read({ limit: 100 });
        expect(all.map((e) => e.position)).toEqual(positions);
      });

      it('filters by type, aggregate, aggregate type, time range (inclusive from, exclusive to), limit and order', async () => {
        const mk = (eventType: string, aggregateId: string, ms: number, aggregateType?: string) =>
          makeEvent({ eventType, aggregateId, occurredAt: at(ms), aggregateType });
        const events = [
          mk('A', 'x', 0, 'Cart'),
          mk('B', 'x', 1000),
          mk('A', 'y', 2000, 'Cart'),
          mk('C', 'y', 3000),
          mk('A', 'x', 4000),
        ];
        await store.append(events, { now: T0 });
        expect(ids(await store.read({ eventType: 'A', limit: 10 }))).toEqual(
          ids([events[0]!, events[2]!, events[4]!]),
        );
        expect(ids(await store.read({ eventType: ['B', 'C'], limit: 10 }))).toEqual(
          ids([events[1]!, events[3]!]),
        );
        expect(ids(await store.read({ aggregateId: 'y', limit: 10 }))).toEqual(ids([events[2]!, events[3]!]));
        expect(ids(await store.read({ aggregateType: 'Cart', limit: 10 }))).toEqual(
          ids([events[0]!, events[2]!]),
        );
        expect(ids(await store.read({ aggregateId: 'x', eventType: 'A', limit: 10 }))).toEqual(
          ids([events[0]!, events[4]!]),
        );
        expect(ids(await store.read({ from: at(1000), to: at(3000), limit: 10 }))).toEqual(
          ids([events[1]!, events[2]!]),
        );
        expect(ids(await store.read({ from: at(4000), limit: 10 }))).toEqual(ids([events[4]!]));
        expect(ids(await store.read({ to: at(1), limit: 10 }))).toEqual(ids([events[0]!]));
        expect(ids(await store.read({ limit: 2 }))).toEqual(ids(events.slice(0, 2)));
        expect(ids(await store.read({ limit: 2, order: 'desc' }))).toEqual(ids([events[4]!, events[3]!]));
        expect(ids(await store.read({ eventType: 'A', limit: 10, order: 'desc' }))).toEqual(
          ids([events[4]!, events[2]!, events[0]!]),
        );
        expect(await store.read({ eventType: 'Nope', limit: 10 })).toEqual([]);
      });

      it('stores the first and last instants core accepts (years 1 and 9999, UTC) and filters on them', async () => {
        const first = makeEvent({ occurredAt: new Date('0001-01-01T00:00:00.000Z') });
        const last = makeEvent({ occurredAt: new Date('9999-12-31T23:59:59.999Z') });
        const middle = makeEvent({ occurredAt: T0 });
        await store.append([last, first, middle], { now: T0 });
        const stored = await store.read({ limit: 10 });
        expect(stored.map((e) => e.occurredAt.toISOString())).toEqual([
          '9999-12-31T23:59:59.999Z',
          '0001-01-01T00:00:00.000Z',
          T0.toISOString(),
        ]);
        expect(ids(await store.read({ to: at(0), limit: 10 }))).toEqual(ids([first]));
        expect(ids(await store.read({ from: at(1), limit: 10 }))).toEqual(ids([last]));
        expect(ids(await store.read({ from: first.occurredAt, to: last.occurredAt, limit: 10 }))).toEqual(
          ids([first, middle]),
        );
      });

      it('pages with position cursors in both directions', async () => {
        const events = Array.from({ length: 7 }, () => makeEvent());
        const { events: recorded } = await store.append(events, { now: T0 });
        const p = recorded.map((e) => e.position);
        expect(ids(await store.read({ afterPosition: p[2]!, limit: 3 }))).toEqual(ids(events.slice(3, 6)));
        expect(ids(await store.read({ beforePosition: p[3]!, limit: 10, order: 'desc' }))).toEqual(
          ids([events[2]!, events[1]!, events[0]!]),
        );
        expect(ids(await store.read({ afterPosition: p[1]!, beforePosition: p[4]!, limit: 10 }))).toEqual(
          ids(events.slice(2, 4)),
        );
        expect(await store.read({ afterPosition: p[6]!, limit: 10 })).toEqual([]);
      });

      it(`readAll pages over ${options.pagingEvents ?? 10_000} events with no gap and no duplicate`, async () => {
        const total = options.pagingEvents ?? 10_000;
        const appended: string[] = [];
        for (let i = 0; i < total; i += 500) {
          const batch = Array.from({ length: Math.min(500, total - i) }, () =>
            makeEvent({ eventType: 'Paged' }),
          );
          await store.append(batch, { now: T0 });
          appended.push(...ids(batch));
        }
        const read = await collect(store.readAll({ pageSize: 333 }));
        expect(read.length).toBe(total);
        expect(new Set(ids(read)).size).toBe(total);
        expect(ids(read)).toEqual(appended);
        for (let i = 1; i < read.length; i++)
          expect(comparePositions(read[i]!.position, read[i - 1]!.position)).toBeGreaterThan(0);
        const tail = await collect(store.readAll({ afterPosition: read[total - 11]!.position, pageSize: 3 }));
        expect(ids(tail)).toEqual(appended.slice(total - 10));
      });

      it('rejects a known event id with DUPLICATE_EVENT and stores nothing of that batch', async () => {
        const e = makeEvent();
        await store.append([e], { now: T0 });
        const fresh = makeEvent();
        const error = await store.append([fresh, e], { now: T0 }).catch((x: unknown) => x);
        expect(isEvcoError(error, 'DUPLICATE_EVENT')).toBe(true);
        expect(ids(await store.read({ limit: 10 }))).toEqual([e.id]);
      });

      it('is atomic: a version conflict anywhere in a batch stores none of it, deliveries included', async () => {
        await subscribe([{ handler: 'h' }]);
        await store.append([makeEvent({ aggregateId: 'acc', aggregateVersion: 1 })], { now: T0 });
        const batch = [makeEvent(), makeEvent({ aggregateId: 'acc', aggregateVersion: 1 }), makeEvent()];
        const error = await store.append(batch, { now: T0 }).catch((x: unknown) => x);
        expect(isEvcoError(error, 'CONCURRENCY')).toBe(true);
        expect((await store.read({ limit: 10 })).length).toBe(1);
        expect((await claim(['h'])).length).toBe(1);
        const inBatch = [
          makeEvent({ aggregateId: 'b', aggregateVersion: 1 }),
          makeEvent({ aggregateId: 'b', aggregateVersion: 1 }),
        ];
        const error2 = await store.append(inBatch, { now: T0 }).catch((x: unknown) => x);
        expect(isEvcoError(error2, 'CONCURRENCY')).toBe(true);
        expect((await store.read({ limit: 10 })).length).toBe(1);
      });

      it('50 concurrent appends at the same aggregate version: exactly one wins, 49 get CONCURRENCY', async () => {
        const attempts = Array.from({ length: 50 }, () =>
          store.append([makeEvent({ aggregateId: 'contested', aggregateVersion: 3 })], { now: T0 }),
        );
        const { values, errors } = await settle(attempts);
        expect(values.length).toBe(1);
        expect(errors.length).toBe(49);
        expect(errors.every((e) => isEvcoError(e, 'CONCURRENCY'))).toBe(true);
        const stored = await store.read({ aggregateId: 'contested', limit: 100 });
        expect(stored.length).toBe(1);
        expect(stored[0]!.id).toBe(values[0]!.events[0]!.id);
        // Versions of other aggregates, and other versions, are independent.
        await store.append([makeEvent({ aggregateId: 'contested', aggregateVersion: 4 })], { now: T0 });
        await store.append([makeEvent({ aggregateId: 'other', aggregateVersion: 3 })], { now: T0 });
      });

      it('treats SQL and pattern metacharacters in every filter as plain values', async () => {
        const nasty = ["'; DROP TABLE events; --", '%', '_', '%_*?[', 'a\\b', '"quoted"', "O'Brien"];
        const events = nasty.map((aggregateId) => makeEvent({ aggregateId, eventType: 'Nasty' }));
        const plain = makeEvent({ aggregateId: 'plain', eventType: 'Nasty' });
        await store.append([...events, plain], { now: T0 });
        for (const [i, aggregateId] of nasty.entries()) {
          expect(ids(await store.read({ aggregateId, limit: 100 }))).toEqual([events[i]!.id]);
        }
        for (const value of nasty) {
          expect(await store.read({ eventType: value, limit: 100 })).toEqual([]);
          expect(await store.read({ aggregateType: value, limit: 100 })).toEqual([]);
          expect(await store.read({ eventType: [value, 'Missing'], limit: 100 })).toEqual([]);
          expect(await store.getDeadLetters({ limit: 10, handler: value })).toEqual([]);
          expect(await store.getUnprocessedEvents({ limit: 10, handler: value })).toEqual([]);
          expect(await store.retryDeadLetters({ handler: value, now: T0 })).toBe(0);
          expect(await store.retryDeadLetters({ deliveryIds: [value], now: T0 })).toBe(0);
          expect(
            await store.claimDue({ consumerId: value, handlers: [value], now: T0, leaseMs: LEASE, limit: 5 }),
          ).toEqual([]);
        }
        expect(await store.getEvent("'; DROP TABLE events; --")).toBeUndefined();
        expect((await store.read({ limit: 100 })).length).toBe(nasty.length + 1);
      });
    });

    describe('subscriptions and deliveries', () => {
      it('creates one delivery per live subscription of the event type, and none for others', async () => {
        await subscribe([{ handler: 'a' }, { handler: 'b' }, { handler: 'c', eventType: 'Other' }]);
        await subscribe([{ handler: 'expired' }], at(-10_000), 1000);
        const { deliveries } = await store.append(
          [makeEvent(), makeEvent({ eventType: 'Other' }), makeEvent({ eventType: 'Nobody' })],
          {
            now: T0,
          },
        );
        expect(deliveries).toEqual([2, 1, 0]);
        expect((await claim(['a'])).length).toBe(1);
        expect((await claim(['b'])).length).toBe(1);
        expect((await claim(['c'])).length).toBe(1);
        expect((await claim(['expired'])).length).toBe(0);
        const subs = await store.listSubscriptions();
        expect(subs.map((s) => `${s.handler}/${s.eventType}`).sort()).toEqual([
          'a/TestHappened',
          'b/TestHappened',
          'c/Other',
          'expired/TestHappened',
        ]);
        const a = subs.find((s) => s.handler === 'a')!;
        expect(a.expiresAt.getTime()).toBe(T0.getTime() + 3_600_000);
        expect(a.lastSeenBy).toBe(consumer);
      });

      it('renewing a subscription extends it; an expired one gets new deliveries again once renewed', async () => {
        await subscribe([{ handler: 'h' }], T0, 1000);
        await store.append([makeEvent()], { now: at(5000) });
        expect((await claim(['h'], at(5000))).length).toBe(0);
        await subscribe([{ handler: 'h' }], at(5000), 1000);
        await store.append([makeEvent()], { now: at(5500) });
        expect((await claim(['h'], at(5500))).length).toBe(1);
        const [sub] = await store.listSubscriptions();
        expect(sub!.expiresAt.getTime()).toBe(at(6000).getTime());
      });

      it('claims hand each delivery with its event, handler, attempt 1 and a lease', async () => {
        await subscribe([{ handler: 'h' }]);
        const e = makeEvent();
        await store.append([e], { now: T0 });
        const [c] = await claim(['h']);
        expect(c).toMatchObject({ handler: 'h', attempt: 1, isReplay: false });
        expect(c!.event.id).toBe(e.id);
        expect(c!.event.eventData).toEqual(e.eventData);
        expect(typeof c!.deliveryId).toBe('string');
        expect(await claim(['h'])).toEqual([]);
        expect(await claim(['other'])).toEqual([]);
      });

      it('20 concurrent claimers never win the same delivery', async () => {
        await subscribe([{ handler: 'h', ordering: 'none' }]);
        const events = Array.from({ length: 300 }, () => makeEvent());
        await store.append(events, { now: T0 });
        const won: string[] = [];
        for (let round = 0; round < 5; round++) {
          const results = await Promise.all(
            Array.from({ length: 20 }, (_, i) => claim(['h'], T0, 7, `claimer-${i}`)),
          );
          for (const r of results) won.push(...r.map((c) => c.deliveryId));
        }
        expect(won.length).toBe(300);
        expect(new Set(won).size).toBe(300);
      });

      it('completes leased deliveries; a completed delivery is never claimed again', async () => {
        await subscribe([{ handler: 'h', ordering: 'none' }]);
        await store.append([makeEvent(), makeEvent()], { now: T0 });
        const claimed = await claim(['h']);
        await store.complete(claimed, { now: at(10) });
        expect(await claim(['h'], at(LEASE * 10))).toEqual([]);
        const stats = await store.stats({ now: at(10) });
        expect(stats.pending + stats.running).toBe(0);
        expect(stats.unprocessedEvents).toBe(0);
      });

      it('completeAndClaim completes the tokens and leases the next due deliveries in one step', async () => {
        await subscribe([{ handler: 'h', ordering: 'none' }]);
        const events = [makeEvent(), makeEvent(), makeEvent(), makeEvent()];
        await store.append(events, { now: T0 });
        const first = await claim(['h'], T0, 1);
        expect(claimedIds(first)).toEqual([events[0]!.id]);
        const next = await completeAndClaim(first, ['h'], at(10), 2);
        expect(claimedIds(next)).toEqual([events[1]!.id, events[2]!.id]);
        expect(next.map((d) => d.attempt)).toEqual([1, 1]);
        let stats = await store.stats({ now: at(10) });
        expect([stats.pending, stats.running, stats.unprocessedEvents]).toEqual([1, 2, 3]);
        // Leased ones are not claimed again; the completed one never is.
        expect(claimedIds(await completeAndClaim(next, ['h'], at(20)))).toEqual([events[3]!.id]);
        expect(await claim(['h'], at(LEASE * 10))).toHaveLength(1);
        stats = await store.stats({ now: at(LEASE * 10) });
        expect(stats.unprocessedEvents).toBe(1);
      });

      it('completeAndClaim never claims what it completes, even on an expired lease; a stale token completes nothing', async () => {
        await subscribe([{ handler: 'h', ordering: 'none' }]);
        const e1 = makeEvent();
        await store.append([e1], { now: T0 });
        const [first] = await claim(['h'], T0, 10, 'dies');
        // The lease expired and nobody took it over: its holder still completes it, and the same
        // step must not hand it out again.
        expect(await completeAndClaim([first!], ['h'], at(LEASE + 1), 10, 'dies')).toEqual([]);
        // Done: gone, or kept as done where the store keeps done deliveries.
        expect((await store.getDeliveries(e1.id)).filter((d) => d.status !== 'done')).toEqual([]);
        expect(await claim(['h'], at(LEASE * 10))).toEqual([]);
        // A stale token (its lease moved on) completes nothing; the step still claims.
        const e2 = makeEvent();
        await store.append([e2], { now: at(LEASE * 10) });
        const [stale] = await claim(['h'], at(LEASE * 10), 10, 'a');
        const [current] = await claim(['h'], at(LEASE * 12), 10, 'b');
        expect(current!.attempt).toBe(2);
        const e3 = makeEvent();
        await store.append([e3], { now: at(LEASE * 12) });
        const claimed = await completeAndClaim([stale!], ['h'], at(LEASE * 12 + 1), 10, 'a');
        expect(claimedIds(claimed)).toEqual([e3.id]);
        expect((await store.getDeliveries(e2.id)).map((d) => [d.status, d.attempts])).toEqual([
          ['running', 2],
        ]);
      });

      it("completeAndClaim skips only the completed deliveries: another handler's delivery of the same event is claimed", async () => {
        await subscribe([
          { handler: 'g', ordering: 'none' },
          { handler: 'h', ordering: 'none' },
        ]);
        const e1 = makeEvent();
        await store.append([e1], { now: T0 });
        const first = await claim(['h']);
        expect(first.map((d) => d.handler)).toEqual(['h']);
        const step = await completeAndClaim(first, ['g', 'h'], at(10));
        expect(step.map((d) => [d.handler, d.event.id])).toEqual([['g', e1.id]]);
        const open = (await store.getDeliveries(e1.id)).filter((d) => d.status !== 'done');
        expect(open.map((d) => [d.handler, d.status])).toEqual([['g', 'running']]);
      });

      it('completeAndClaim: completing an ordered delivery unblocks the next of its aggregate', async () => {
        await subscribe([{ handler: 'h' }]);
        const [a1, a2] = [makeEvent({ aggregateId: 'agg' }), makeEvent({ aggregateId: 'agg' })];
        await store.append([a1!, a2!], { now: T0 });
        const first = await claim(['h']);
        expect(claimedIds(first)).toEqual([a1!.id]);
        // In this step or the next claim (a store may see the completion only after its step).
        const step = await completeAndClaim(first, ['h'], at(10));
        const after = await claim(['h'], at(20));
        expect([...claimedIds(step), ...claimedIds(after)]).toEqual([a2!.id]);
      });

      it('the ordered: false hint changes nothing claimable: deliveries made for an ordered subscription keep their order', async () => {
        await subscribe([{ handler: 'h' }]);
        const [a1, a2] = [makeEvent({ aggregateId: 'agg' }), makeEvent({ aggregateId: 'agg' })];
        await store.append([a1!, a2!], { now: T0 });
        // A read returns settled events only (a claim under this hint does not wait for them).
        expect(ids(await store.read({ aggregateId: 'agg', limit: 10 }))).toEqual([a1!.id, a2!.id]);
        // The handler is registered unordered now; the deliveries made before keep their order.
        await subscribe([{ handler: 'h', ordering: 'none' }]);
        const request = (now: Date) => ({
          consumerId: consumer,
          handlers: ['h'],
          now,
          leaseMs: LEASE,
          limit: 10,
          ordered: false,
        });
        const first = await store.claimDue(request(T0));
        expect(claimedIds(first)).toEqual([a1!.id]);
        const step = store.completeAndClaim
          ? await store.completeAndClaim(first, request(at(10)))
          : await store.complete(first, { now: at(10) }).then(() => []);
        const after = await store.claimDue(request(at(20)));
        expect([...claimedIds(step), ...claimedIds(after)]).toEqual([a2!.id]);
      });

      it('an expired lease is reclaimable with the next attempt; a live one is not; the stale holder cannot complete', async () => {
        await subscribe([{ handler: 'h' }]);
        await store.append([makeEvent()], { now: T0 });
        const [first] = await claim(['h'], T0, 10, 'dies');
        expect(await claim(['h'], at(LEASE - 1), 10, 'survivor')).toEqual([]);
        const [second] = await claim(['h'], at(LEASE + 1), 10, 'survivor');
        expect(second!.deliveryId).toBe(first!.deliveryId);
        expect(second!.attempt).toBe(2);
        await store.complete([first!], { now: at(LEASE + 2) }); // stale: ignored
        expect((await store.stats({ now: at(LEASE + 2) })).running).toBe(1);
        await store.fail([{ ...first!, error: 'stale', nextAttemptAt: null }], { now: at(LEASE + 2) });
        expect((await store.getDeadLetters({ limit: 10 })).length).toBe(0);
        await store.complete([second!], { now: at(LEASE + 3) });
        const stats = await store.stats({ now: at(LEASE + 3) });
        expect(stats.running + stats.pending).toBe(0);
      });

      it('an expired lease nobody took over stays running: its holder still completes it; a claim takes over only what it returns', async () => {
        await subscribe([
          { handler: 'h', ordering: 'none' },
          { handler: 'g', ordering: 'none' },
        ]);
        const [e1, e2] = [makeEvent(), makeEvent()];
        await store.append([e1, e2], { now: T0 });
        const slow = await claim(['h'], T0, 10, 'slow');
        expect(slow.map((c) => c.attempt)).toEqual([1, 1]);
        const open = async (id: string) =>
          (await store.getDeliveries(id))
            .filter((d) => d.status !== 'done')
            .map((d) => `${d.handler}:${d.status}:${d.attempts}`);
        // Past the leases' expiry, a claim of another handler leaves h's deliveries alone, and a
        // claim of h limited to one takes over the oldest only.
        expect(claimedIds(await claim(['g'], at(LEASE + 1))).sort()).toEqual(ids([e1, e2]).sort());
        const [taken] = await claim(['h'], at(LEASE + 2), 1, 'survivor');
        expect([taken!.event.id, taken!.attempt]).toEqual([e1.id, 2]);
        expect(await open(e2.id)).toEqual(['g:running:1', 'h:running:1']);
        const stats = await store.stats({ now: at(LEASE + 3) });
        expect(stats.handlers.find((h) => h.handler === 'h')).toMatchObject({ pending: 0, running: 2 });
        // The slow holder reports: its token still counts where nobody took over, nowhere else.
        await store.complete(slow, { now: at(LEASE + 4) });
        expect(await open(e2.id)).toEqual(['g:running:1']);
        expect(await open(e1.id)).toEqual(['g:running:1', 'h:running:2']);
      });

      it('an expired ordered lease is not taken over while a replay queued an earlier delivery of its aggregate', async () => {
        await subscribe([{ handler: 'h' }]);
        const [a1, a2] = [
          makeEvent({ aggregateId: 'A', occurredAt: T0 }),
          makeEvent({ aggregateId: 'A', occurredAt: at(1) }),
        ];
        await store.append([a1], { now: T0 });
        await store.complete(await claim(['h']), { now: at(1) });
        await store.append([a2], { now: at(1) });
        expect(claimedIds(await claim(['h'], at(2), 10, 'dies'))).toEqual([a2.id]);
        const job = await store.startReplay(
          { from: T0, to: at(1), handler: 'h', maxEvents: 10 },
          { now: at(3) },
        );
        await store.continueReplay(job.id, { now: at(3), pageSize: 10 });
        const replayed = await claim(['h'], at(LEASE + 10));
        expect(replayed.map((c) => [c.event.id, c.isReplay])).toEqual([[a1.id, true]]);
        expect(await claim(['h'], at(LEASE + 11))).toEqual([]);
        await store.complete(replayed, { now: at(LEASE + 12) });
        const [next] = await claim(['h'], at(LEASE + 13));
        expect([next!.event.id, next!.attempt]).toEqual([a2.id, 2]);
      });

      it('a store that issues lease ids ignores a token of the same attempt with another lease id', async (ctx) => {
        await subscribe([{ handler: 'h' }]);
        await store.append([makeEvent()], { now: T0 });
        const [c] = await claim(['h']);
        if (c!.lease === undefined) ctx.skip('this store issues no lease ids (DeliveryToken.lease)');
        const other = { ...c!, lease: `${c!.lease}-not-this-one` };
        await store.complete([other], { now: at(1) });
        await store.fail([{ ...other, error: 'stale', nextAttemptAt: null }], { now: at(2) });
        await store.release([other], { now: at(3) });
        expect(await store.stats({ now: at(4) })).toMatchObject({ running: 1, dead: 0 });
        await store.complete([c!], { now: at(5) });
        const stats = await store.stats({ now: at(5) });
        expect(stats.running + stats.pending).toBe(0);
      });

      it('fail schedules a retry at nextAttemptAt, keeping the error', async () => {
        await subscribe([{ handler: 'h' }]);
        await store.append([makeEvent()], { now: T0 });
        const [c] = await claim(['h']);
        await store.fail([{ ...c!, error: 'boom', nextAttemptAt: at(5000) }], { now: at(100) });
        expect(await claim(['h'], at(4999))).toEqual([]);
        const [unprocessed] = await store.getUnprocessedEvents({ limit: 10 });
        expect(unprocessed!.deliveries[0]).toMatchObject({
          status: 'pending',
          attempts: 1,
          lastError: 'boom',
        });
        expect(unprocessed!.deliveries[0]!.nextAttemptAt!.getTime()).toBe(at(5000).getTime());
        const [again] = await claim(['h'], at(5000));
        expect(again!.attempt).toBe(2);
      });

      it('release gives a lease back at once without a failure', async () => {
        await subscribe([{ handler: 'h' }]);
        await store.append([makeEvent()], { now: T0 });
        const [c] = await claim(['h']);
        await store.release([c!], { now: at(1) });
        const [again] = await claim(['h'], at(2));
        expect(again!.deliveryId).toBe(c!.deliveryId);
        expect((await store.getUnprocessedEvents({ limit: 1 }))[0]!.deliveries[0]!.lastError).toBeNull();
      });

      it('dead letters: listed with their error, counted, re-drivable by id, by handler, or all', async () => {
        await subscribe([
          { handler: 'h', ordering: 'none' },
          { handler: 'g', ordering: 'none' },
        ]);
        const events = [makeEvent(), makeEvent(), makeEvent()];
        await store.append(events, { now: T0 });
        for (const handler of ['h', 'g']) {
          const claimed = await claim([handler]);
          await store.fail(
            claimed.map((c) => ({ ...c, error: `${handler} broke on ${c.event.id}`, nextAttemptAt: null })),
            { now: at(1) },
          );
        }
        expect(await claim(['h', 'g'], at(LEASE * 10))).toEqual([]);
        const dead = await store.getDeadLetters({ limit: 10 });
        expect(dead.length).toBe(6);
        expect(dead[0]!.delivery).toMatchObject({ status: 'dead', attempts: 1 });
        expect(dead[0]!.delivery.lastError).toBe(
          `${dead[0]!.delivery.handler} broke on ${dead[0]!.event.id}`,
        );
        expect(ids(dead.map((d) => d.event))).toEqual(
          ids([events[0]!, events[0]!, events[1]!, events[1]!, events[2]!, events[2]!]),
        );
        expect((await store.getDeadLetters({ limit: 10, handler: 'h' })).length).toBe(3);
        expect((await store.getDeadLetters({ limit: 2 })).length).toBe(2);
        expect(
          (await store.getDeadLetters({ limit: 10, afterPosition: dead[1]!.event.position })).map(
            (d) => d.event.id,
          ),
        ).toEqual(ids([events[1]!, events[1]!, events[2]!, events[2]!]));
        const stats = await store.stats({ now: at(2) });
        expect(stats.dead).toBe(6);
        expect(stats.unprocessedEvents).toBe(3);
        expect(stats.handlers.find((h) => h.handler === 'h')).toMatchObject({ dead: 3, pending: 0 });

        const one = dead.find((d) => d.delivery.handler === 'g')!;
        expect(await store.retryDeadLetters({ deliveryIds: [one.delivery.deliveryId], now: at(3) })).toBe(1);
        const [redriven] = await claim(['g'], at(3));
        expect(redriven).toMatchObject({ handler: 'g', attempt: 1, isReplay: false });
        expect(redriven!.event.id).toBe(one.event.id);
        expect(await store.retryDeadLetters({ handler: 'h', now: at(4) })).toBe(3);
        expect((await claim(['h'], at(4))).length).toBe(3);
        expect(await store.retryDeadLetters({ now: at(5) })).toBe(2);
        expect((await store.getDeadLetters({ limit: 10 })).length).toBe(0);
      });

      it('a lease token from before a re-drive can neither complete nor fail the re-driven run', async () => {
        await subscribe([{ handler: 'h' }]);
        await store.append([makeEvent()], { now: T0 });
        const [stale] = await claim(['h'], T0, 10, 'hung-process');
        const [second] = await claim(['h'], at(LEASE + 1), 10, 'other');
        expect(second!.attempt).toBe(2);
        await store.fail([{ ...second!, error: 'gave up', nextAttemptAt: null }], { now: at(LEASE + 2) });
        expect(await store.retryDeadLetters({ now: at(LEASE + 3) })).toBe(1);
        const [redriven] = await claim(['h'], at(LEASE + 4), 10, 'other');
        expect(redriven!.attempt).toBe(1);
        // The hung process finally finishes its first run and reports with its old token.
        await store.complete([stale!], { now: at(LEASE + 5) });
        await store.fail([{ ...stale!, error: 'late', nextAttemptAt: null }], { now: at(LEASE + 5) });
        const stats = await store.stats({ now: at(LEASE + 6) });
        expect(stats).toMatchObject({ running: 1, dead: 0 });
        await store.complete([redriven!], { now: at(LEASE + 7) });
        expect(await store.getUnprocessedEvents({ limit: 10 })).toEqual([]);
      });

      it('a re-driven or replayed dead letter is a new delivery: the lag counts from its re-drive', async () => {
        await subscribe([{ handler: 'h', ordering: 'none' }]);
        await store.append([makeEvent({ occurredAt: T0 })], { now: T0 });
        const kill = async (now: Date) => {
          const [c] = await claim(['h'], now);
          await store.fail([{ ...c!, error: 'poison', nextAttemptAt: null }], { now });
        };
        const lag = async (now: Date) => {
          const stats = await store.stats({ now });
          const h = stats.handlers.find((x) => x.handler === 'h');
          // Per-handler lag is optional in the port; a store that reports it agrees with the total.
          if (h?.oldestPendingAt !== undefined) expect(h.oldestPendingAt).toEqual(stats.oldestPendingAt);
          return stats.oldestPendingAt?.getTime() ?? null;
        };
        await kill(at(10));
        expect(await lag(at(20))).toBeNull();
        expect(await store.retryDeadLetters({ now: at(5000) })).toBe(1);
        expect(await lag(at(6000))).toBe(at(5000).getTime());
        await kill(at(7000));
        const job = await store.startReplay({ from: T0, to: at(1), maxEvents: 10 }, { now: at(9000) });
        await store.continueReplay(job.id, { now: at(9000), pageSize: 10 });
        expect(await lag(at(10_000))).toBe(at(9000).getTime());
      });

      it('re-appending a versioned event reports the duplicate id, not a version conflict', async () => {
        const e = makeEvent({ aggregateId: 'v', aggregateVersion: 1 });
        await store.append([e], { now: T0 });
        const error = await store.append([e], { now: T0 }).catch((x: unknown) => x);
        expect(isEvcoError(error, 'DUPLICATE_EVENT')).toBe(true);
      });

      it('keeps per-aggregate order for a handler, through retries; dead letters unblock the rest', async () => {
        await subscribe([{ handler: 'ordered' }, { handler: 'free', ordering: 'none' }]);
        const a = [
          makeEvent({ aggregateId: 'A' }),
          makeEvent({ aggregateId: 'A' }),
          makeEvent({ aggregateId: 'A' }),
        ];
        const b = makeEvent({ aggregateId: 'B' });
        await store.append([a[0]!, a[1]!, b, a[2]!], { now: T0 });

        expect(claimedIds(await claim(['free'])).sort()).toEqual(ids([a[0]!, a[1]!, b, a[2]!]).sort());

        let claimed = await claim(['ordered']);
        expect(claimedIds(claimed).sort()).toEqual(ids([a[0]!, b]).sort());
        const a0 = claimed.find((c) => c.event.id === a[0]!.id)!;
        await store.fail([{ ...a0, error: 'retry me', nextAttemptAt: at(1000) }], { now: at(1) });
        // a[1] must wait while a[0] waits for its retry.
        expect(await claim(['ordered'], at(500))).toEqual([]);
        claimed = await claim(['ordered'], at(1000));
        expect(claimedIds(claimed)).toEqual([a[0]!.id]);
        await store.complete(claimed, { now: at(1001) });
        claimed = await claim(['ordered'], at(1002));
        expect(claimedIds(claimed)).toEqual([a[1]!.id]);
        await store.fail([{ ...claimed[0]!, error: 'poison', nextAttemptAt: null }], { now: at(1003) });
        claimed = await claim(['ordered'], at(1004));
        expect(claimedIds(claimed)).toEqual([a[2]!.id]);
      });

      it('lists unprocessed events oldest first with their open deliveries', async () => {
        await subscribe([
          { handler: 'h', ordering: 'none' },
          { handler: 'g', ordering: 'none' },
        ]);
        const events = [makeEvent(), makeEvent(), makeEvent()];
        await store.append(events, { now: T0 });
        const h = await claim(['h']);
        await store.complete(
          h.filter((c) => c.event.id !== events[1]!.id),
          { now: at(1) },
        );
        const g = await claim(['g']);
        await store.complete(
          g.filter((c) => c.event.id === events[0]!.id),
          { now: at(1) },
        );
        await store.fail(
          g
            .filter((c) => c.event.id === events[2]!.id)
            .map((c) => ({ ...c, error: 'x', nextAttemptAt: null })),
          { now: at(1) },
        );
        const unprocessed = await store.getUnprocessedEvents({ limit: 10 });
        expect(ids(unprocessed.map((u) => u.event))).toEqual(ids([events[1]!, events[2]!]));
        expect(unprocessed[0]!.deliveries.map((d) => `${d.handler}:${d.status}`).sort()).toEqual([
          'g:running',
          'h:running',
        ]);
        expect(unprocessed[1]!.deliveries.map((d) => `${d.handler}:${d.status}`)).toEqual(['g:dead']);
        expect(ids((await store.getUnprocessedEvents({ limit: 1 })).map((u) => u.event))).toEqual([
          events[1]!.id,
        ]);
        expect(
          ids(
            (
              await store.getUnprocessedEvents({ limit: 10, afterPosition: unprocessed[0]!.event.position })
            ).map((u) => u.event),
          ),
        ).toEqual([events[2]!.id]);
        expect((await store.stats({ now: at(2) })).unprocessedEvents).toBe(2);
      });

      it('reports stats: positions, pending, running, dead, lag and orphaned deliveries', async () => {
        const empty = await store.stats({ now: T0 });
        expect(empty).toMatchObject({
          lastPosition: null,
          pending: 0,
          running: 0,
          dead: 0,
          unprocessedEvents: 0,
          orphaned: 0,
        });
        expect(empty.oldestPendingAt).toBeNull();
        await subscribe([{ handler: 'live', ordering: 'none' }]);
        await subscribe([{ handler: 'gone', ordering: 'none' }], T0, 1000);
        const { events } = await store.append([makeEvent(), makeEvent()], { now: at(10) });
        await claim(['live'], at(20), 1);
        const stats = await store.stats({ now: at(5000) });
        expect(stats.lastPosition).toBe(events[1]!.position);
        expect(stats.pending).toBe(3);
        expect(stats.running).toBe(1);
        expect(stats.unprocessedEvents).toBe(2);
        expect(stats.oldestPendingAt!.getTime()).toBe(at(10).getTime());
        expect(stats.orphaned).toBe(2);
        expect(stats.handlers.map(({ oldestPendingAt: _, ...counts }) => counts)).toEqual([
          { handler: 'gone', pending: 2, running: 0, dead: 0, orphaned: 2 },
          { handler: 'live', pending: 1, running: 1, dead: 0, orphaned: 0 },
        ]);
        // Per-handler lag is optional in the port; a store that reports it reports the oldest open delivery.
        for (const h of stats.handlers) {
          if (h.oldestPendingAt !== undefined) expect(h.oldestPendingAt?.getTime()).toBe(at(10).getTime());
        }
      });

      it('retiring a handler removes its subscriptions and unfinished deliveries only', async () => {
        await subscribe([
          { handler: 'old', ordering: 'none' },
          { handler: 'keep', ordering: 'none' },
        ]);
        await store.append([makeEvent(), makeEvent()], { now: T0 });
        const [c] = await claim(['old'], T0, 1);
        await store.complete([c!], { now: at(1) });
        expect(await store.retireHandler('old')).toBe(1);
        expect((await store.listSubscriptions()).map((s) => s.handler)).toEqual(['keep']);
        expect(await claim(['old'], at(LEASE * 10))).toEqual([]);
        await store.append([makeEvent()], { now: at(2) });
        expect((await claim(['keep'], at(3))).length).toBe(3);
        expect((await store.stats({ now: at(3) })).handlers.map((h) => h.handler)).toEqual(['keep']);
      });
    });

    describe('replay', () => {
      const replayAll = async (
        spec: {
          from: Date;
          to: Date;
          eventType?: string | undefined;
          handler?: string | undefined;
          maxEvents?: number | undefined;
        },
        pageSize = 2,
        now = at(100_000),
      ) => {
        let job = await store.startReplay({ maxEvents: 1000, ...spec }, { now });
        expect(job.status).toBe('running');
        let pages = 0;
        while (job.status === 'running') {
          job = await store.continueReplay(job.id, { now, pageSize });
          if (++pages > 1000) throw new Error('replay does not finish');
        }
        return job;
      };

      const handleAll = async (handler: string, now: Date) => {
        const claimed = await claim([handler], now, 1000);
        await store.complete(claimed, { now });
        return claimed;
      };

      it('requeues done deliveries of events in [from, to) as replays, in pages', async () => {
        await subscribe([{ handler: 'h', ordering: 'none' }]);
        const events = [0, 1000, 2000, 3000, 4000].map((ms) => makeEvent({ occurredAt: at(ms) }));
        await store.append(events, { now: T0 });
        await handleAll('h', at(10));
        const job = await replayAll({ from: at(1000), to: at(4000) }, 2);
        expect(job).toMatchObject({
          status: 'done',
          eventsMatched: 3,
          deliveriesQueued: 3,
          truncated: false,
        });
        const replayed = await claim(['h'], at(100_001), 100);
        expect(claimedIds(replayed).sort()).toEqual(ids(events.slice(1, 4)).sort());
        expect(replayed.every((c) => c.isReplay && c.attempt === 1)).toBe(true);
      });

      it('filters by event type and handler, creates deliveries a later subscriber never had, skips open ones', async () => {
        await subscribe([{ handler: 'h', ordering: 'none' }]);
        const events = [
          makeEvent({ occurredAt: at(0) }),
          makeEvent({ occurredAt: at(10), eventType: 'Other' }),
        ];
        await store.append(events, { now: T0 });
        await subscribe([
          { handler: 'late', ordering: 'none' },
          { handler: 'h', eventType: 'Other', ordering: 'none' },
        ]);
        const onlyLate = await replayAll({ from: at(0), to: at(1000), handler: 'late' });
        expect(onlyLate).toMatchObject({ eventsMatched: 2, deliveriesQueued: 1 });
        const late = await claim(['late'], at(100_001));
        expect(claimedIds(late)).toEqual([events[0]!.id]);
        expect(late[0]!.isReplay).toBe(true);
        // h's delivery of events[0] is still pending: not queued twice.
        const typed = await replayAll({ from: at(0), to: at(1000), eventType: 'Other' });
        expect(typed).toMatchObject({ eventsMatched: 1, deliveriesQueued: 1 });
        const again = await replayAll({ from: at(0), to: at(1000), handler: 'h' });
        expect(again).toMatchObject({ eventsMatched: 2, deliveriesQueued: 0 });
        const h = await claim(['h'], at(100_001));
        expect(claimedIds(h).sort()).toEqual(ids(events).sort());
      });

      it('is bounded: stops at maxEvents and says it was truncated', async () => {
        await subscribe([{ handler: 'h', ordering: 'none' }]);
        const events = Array.from({ length: 7 }, (_, i) => makeEvent({ occurredAt: at(i) }));
        await store.append(events, { now: T0 });
        await handleAll('h', at(10));
        const job = await replayAll({ from: at(0), to: at(100), maxEvents: 5 }, 2);
        expect(job).toMatchObject({ status: 'done', eventsMatched: 5, deliveriesQueued: 5, truncated: true });
        expect(claimedIds(await claim(['h'], at(100_001)))).toEqual(ids(events.slice(0, 5)));
      });

      it('survives its driver: a replay left running shows as stale and resumes from its cursor', async () => {
        await subscribe([{ handler: 'h', ordering: 'none' }]);
        const events = Array.from({ length: 5 }, (_, i) => makeEvent({ occurredAt: at(i) }));
        const { events: recorded } = await store.append(events, { now: T0 });
        await handleAll('h', at(10));
        const job = await store.startReplay({ from: at(0), to: at(100), maxEvents: 100 }, { now: at(20) });
        const page = await store.continueReplay(job.id, { now: at(30), pageSize: 2 });
        expect(page).toMatchObject({ status: 'running', eventsMatched: 2 });
        expect(await store.listStaleReplays({ staleBefore: at(30) })).toEqual([]);
        const stale = await store.listStaleReplays({ staleBefore: at(31) });
        expect(stale.map((j) => j.id)).toEqual([job.id]);
        expect(page.cursor).toBe(recorded[1]!.position);
        expect(stale[0]!.cursor).toBe(recorded[1]!.position);
        let resumed = stale[0]!;
        while (resumed.status === 'running')
          resumed = await store.continueReplay(job.id, { now: at(40), pageSize: 2 });
        expect(resumed).toMatchObject({ eventsMatched: 5, deliveriesQueued: 5 });
        const claimed = await claim(['h'], at(41));
        expect(claimedIds(claimed).sort()).toEqual(ids(events).sort());
        expect(await store.listStaleReplays({ staleBefore: at(1_000_000) })).toEqual([]);
      });

      it('an unknown replay id is NOT_FOUND for continueReplay and undefined for getReplay', async () => {
        const job = await store.startReplay({ from: at(0), to: at(100), maxEvents: 10 }, { now: at(1) });
        // Well-formed ids of every store's shape, and garbage: none of them names the job above.
        const unknown = ['replay-999999', '00000000-0000-4000-8000-000000000000', 'no such replay'];
        for (const id of unknown.filter((u) => u !== job.id)) {
          const error = await store.continueReplay(id, { now: at(2), pageSize: 2 }).catch((x: unknown) => x);
          expect(isEvcoError(error, 'NOT_FOUND'), `${id}: ${String(error)}`).toBe(true);
          expect(await store.getReplay(id)).toBeUndefined();
        }
        expect((await store.getReplay(job.id))?.id).toBe(job.id);
      });

      it('replayed deliveries keep per-aggregate order', async () => {
        await subscribe([{ handler: 'h' }]);
        const events = [0, 1, 2].map((i) => makeEvent({ aggregateId: 'A', occurredAt: at(i) }));
        await store.append(events, { now: T0 });
        for (let i = 0; i < 3; i++) await handleAll('h', at(10 + i));
        await replayAll({ from: at(0), to: at(100) });
        const order: string[] = [];
        for (let i = 0; i < 3; i++) {
          const claimed = await claim(['h'], at(100_001 + i));
          expect(claimed.length).toBe(1);
          order.push(claimed[0]!.event.id);
          await store.complete(claimed, { now: at(100_001 + i) });
        }
        expect(order).toEqual(ids(events));
      });
    });

    describe('admin queries', () => {
      const flow = (correlationId: string, causationId?: string, overrides: Partial<DomainEventInput> = {}) =>
        makeEvent({
          metadata: causationId === undefined ? { correlationId } : { correlationId, causationId },
          ...overrides,
        });

      it('filters by correlation id and causation id, with the other filters, limit, order and cursors', async () => {
        const root = makeEvent();
        const corr = root.metadata.correlationId!;
        const a = flow(corr, root.id, { eventType: 'A' });
        const b = flow(corr, root.id, { eventType: 'B' });
        const c = flow(corr, a.id, { eventType: 'A' });
        const other = makeEvent();
        const stray = flow('elsewhere', root.id);
        await store.append([root, a, other], { now: T0 });
        await store.append([b, c, stray], { now: T0 });
        expect(corr).toBe(root.id);
        expect(ids(await store.read({ correlationId: corr, limit: 10 }))).toEqual(ids([root, a, b, c]));
        expect(ids(await store.read({ correlationId: corr, limit: 10, order: 'desc' }))).toEqual(
          ids([c, b, a, root]),
        );
        expect(ids(await store.read({ correlationId: corr, eventType: 'A', limit: 10 }))).toEqual(
          ids([a, c]),
        );
        expect(ids(await store.read({ correlationId: corr, limit: 2 }))).toEqual(ids([root, a]));
        const [, second] = await store.read({ correlationId: corr, limit: 2 });
        expect(
          ids(await store.read({ correlationId: corr, afterPosition: second!.position, limit: 10 })),
        ).toEqual(ids([b, c]));
        expect(ids(await store.read({ causationId: root.id, limit: 10 }))).toEqual(ids([a, b, stray]));
        expect(ids(await store.read({ causationId: root.id, correlationId: corr, limit: 10 }))).toEqual(
          ids([a, b]),
        );
        expect(ids(await store.read({ causationId: a.id, limit: 10 }))).toEqual(ids([c]));
        expect(await store.read({ causationId: c.id, limit: 10 })).toEqual([]);
        expect(await store.read({ correlationId: "x' OR '1'='1", limit: 10 })).toEqual([]);
        expect(await store.read({ correlationId: '%', limit: 10 })).toEqual([]);
        expect(ids(await collect(store.readAll({ correlationId: corr, pageSize: 1 })))).toEqual(
          ids([root, a, b, c]),
        );
      });

      it('lists the deliveries of one event per handler, open and dead; none for an unknown event', async () => {
        await subscribe([
          { handler: 'ok', ordering: 'none' },
          { handler: 'broken', ordering: 'none' },
          { handler: 'waiting', ordering: 'none' },
        ]);
        const [event, other] = [makeEvent(), makeEvent()];
        await store.append([event, other], { now: T0 });
        expect((await store.getDeliveries(event.id)).map((d) => [d.handler, d.status])).toEqual([
          ['broken', 'pending'],
          ['ok', 'pending'],
          ['waiting', 'pending'],
        ]);
        const claimed = (await claim(['ok', 'broken'], at(1))).filter((c) => c.event.id === event.id);
        await store.complete(
          claimed.filter((c) => c.handler === 'ok'),
          { now: at(2) },
        );
        await store.fail(
          claimed
            .filter((c) => c.handler === 'broken')
            .map((c) => ({ ...c, error: 'boom', nextAttemptAt: null })),
          { now: at(2) },
        );
        const deliveries = await store.getDeliveries(event.id);
        const byHandler = new Map(deliveries.map((d) => [d.handler, d]));
        expect(byHandler.get('broken')).toMatchObject({ status: 'dead', attempts: 1, lastError: 'boom' });
        expect(byHandler.get('waiting')).toMatchObject({ status: 'pending', attempts: 0, isReplay: false });
        // Done deliveries may be forgotten (memory, postgres) or kept (sqlite), never shown open.
        expect(byHandler.get('ok')?.status ?? 'done').toBe('done');
        expect(deliveries.map((d) => d.handler)).toEqual([...deliveries.map((d) => d.handler)].sort());
        const [dead] = await store.getDeadLetters({ limit: 10, handler: 'broken' });
        expect(byHandler.get('broken')!.deliveryId).toBe(dead!.delivery.deliveryId);
        expect(await store.getDeliveries('00000000-0000-7000-8000-000000000000')).toEqual([]);
        expect(await store.getDeliveries('not an id')).toEqual([]);
      });

      it('reports replay progress: deliveries it queued still open or dead, done once none is open', async () => {
        await subscribe([
          { handler: 'h', ordering: 'none' },
          { handler: 'g', ordering: 'none' },
        ]);
        const events = [0, 1, 2].map((i) => makeEvent({ occurredAt: at(i) }));
        await store.append(events, { now: T0 });
        // g leaves one delivery open: the replay skips it and does not count it.
        const first = await claim(['h', 'g'], at(1), 100);
        await store.complete(
          first.filter((c) => !(c.handler === 'g' && c.event.id === events[0]!.id)),
          { now: at(2) },
        );
        await store.release(
          first.filter((c) => c.handler === 'g' && c.event.id === events[0]!.id),
          { now: at(2) },
        );
        const now = at(10_000);
        let job = await store.startReplay({ from: at(0), to: at(100), maxEvents: 100 }, { now });
        const started = await store.getReplay(job.id);
        expect(started).toMatchObject({ id: job.id, status: 'running', deliveriesOpen: 0, done: false });
        job = await store.continueReplay(job.id, { now, pageSize: 2 });
        expect(await store.getReplay(job.id)).toMatchObject({
          status: 'running',
          deliveriesQueued: 3,
          deliveriesOpen: 3,
          done: false,
        });
        while (job.status === 'running') job = await store.continueReplay(job.id, { now, pageSize: 2 });
        expect(await store.getReplay(job.id)).toMatchObject({
          status: 'done',
          eventsMatched: 3,
          deliveriesQueued: 5,
          deliveriesOpen: 5,
          deliveriesDead: 0,
          done: false,
        });
        const replayed = (await claim(['h', 'g'], at(10_001), 100)).filter((c) => c.isReplay);
        expect(replayed.length).toBe(5);
        // The one delivery g had open before the replay is not the replay's.
        const notReplayed = (await store.getDeliveries(events[0]!.id)).filter((d) => d.handler === 'g');
        expect(notReplayed.map((d) => d.isReplay)).toEqual([false]);
        const [failing, ...rest] = replayed;
        await store.complete(rest.slice(0, 2), { now: at(10_002) });
        await store.fail([{ ...failing!, error: 'no', nextAttemptAt: null }], { now: at(10_002) });
        expect(await store.getReplay(job.id)).toMatchObject({
          deliveriesOpen: 2,
          deliveriesDead: 1,
          done: false,
        });
        await store.complete(rest.slice(2), { now: at(10_003) });
        expect(await store.getReplay(job.id)).toMatchObject({
          deliveriesOpen: 0,
          deliveriesDead: 1,
          done: true,
        });
        // A re-driven dead letter of the replay counts as the replay's again.
        expect(await store.retryDeadLetters({ now: at(10_004) })).toBe(1);
        expect(await store.getReplay(job.id)).toMatchObject({
          deliveriesOpen: 1,
          deliveriesDead: 0,
          done: false,
        });
        const again = await claim([failing!.handler], at(10_005));
        await store.complete(again, { now: at(10_006) });
        expect(await store.getReplay(job.id)).toMatchObject({
          deliveriesOpen: 0,
          deliveriesDead: 0,
          done: true,
        });
      });

      it('returns undefined for replay ids it never issued', async () => {
        for (const id of [
          'nope',
          '',
          'replay-999999',
          '00000000-0000-4000-8000-000000000000',
          "1' OR '1'='1",
          '99999999999999999999999',
        ]) {
          expect(await store.getReplay(id)).toBeUndefined();
        }
      });
    });

    describe('JSON-safe results', () => {
      it('every value the store returns survives JSON.stringify; positions are decimal strings usable as cursors', async () => {
        await subscribe([
          { handler: 'h', ordering: 'none' },
          { handler: 'dead', ordering: 'none' },
        ]);
        const events = [
          makeEvent({ aggregateType: 'Thing', aggregateVersion: 1, occurredAt: at(0) }),
          makeEvent({ occurredAt: at(1), eventData: { nested: { list: [1, 'two', null, true] } } }),
          makeEvent({ occurredAt: at(2) }),
        ];
        const appended = await store.append(events, { now: T0 });
        expectJsonSafe(appended, 'append()');
        const claimed = await claim(['h', 'dead'], at(10));
        expectJsonSafe(claimed, 'claimDue()');
        const forH = claimed.filter((c) => c.handler === 'h');
        await store.complete(forH.slice(0, 1), { now: at(11) });
        await store.fail(
          claimed
            .filter((c) => c.handler === 'dead')
            .map((c) => ({
              deliveryId: c.deliveryId,
              attempt: c.attempt,
              error: 'boom',
              nextAttemptAt: null,
            })),
          { now: at(12) },
        );
        const read = await store.read({ limit: 10 });
        expectJsonSafe(read, 'read()');
        expectJsonSafe(await collect(store.readAll({ pageSize: 2 })), 'readAll()');
        expectJsonSafe(await store.getEvent(events[0]!.id), 'getEvent()');
        expectJsonSafe(await store.listSubscriptions(), 'listSubscriptions()');
        const unprocessed = await store.getUnprocessedEvents({ limit: 10 });
        expect(unprocessed.length).toBeGreaterThan(0);
        expectJsonSafe(unprocessed, 'getUnprocessedEvents()');
        const dead = await store.getDeadLetters({ limit: 10 });
        expect(dead.length).toBe(3);
        expectJsonSafe(dead, 'getDeadLetters()');
        const job = await store.startReplay({ from: at(0), to: at(100), maxEvents: 10 }, { now: at(20) });
        expectJsonSafe(job, 'startReplay()');
        const page = await store.continueReplay(job.id, { now: at(21), pageSize: 1 });
        expect(page.cursor).toBe(read[0]!.position);
        expectJsonSafe(page, 'continueReplay()');
        expectJsonSafe(await store.listStaleReplays({ staleBefore: at(1_000_000) }), 'listStaleReplays()');
        const stats = await store.stats({ now: at(30) });
        expect(stats.lastPosition).toBe(read[2]!.position);
        expectJsonSafe(stats, 'stats()');
        expectJsonSafe(await store.healthCheck(), 'healthCheck()');
        // The JSON form of a position is the cursor: a position parsed back from JSON pages on.
        const cursor = (JSON.parse(JSON.stringify(read[0])) as { position: string }).position;
        expect(ids(await store.read({ afterPosition: cursor, limit: 10 }))).toEqual(ids(events.slice(1)));
      });

      it('rejects a malformed position cursor with INVALID_POSITION', async () => {
        await store.append([makeEvent()], { now: T0 });
        const bad: unknown[] = ['abc', '-1', '1.5', '', ' 1', '99999999999999999999', 5, 5n, null];
        for (const cursor of bad) {
          const calls = [
            () => store.read({ afterPosition: cursor as string, limit: 10 }),
            () => store.read({ beforePosition: cursor as string, limit: 10, order: 'desc' }),
            () => store.getUnprocessedEvents({ afterPosition: cursor as string, limit: 10 }),
            () => store.getDeadLetters({ afterPosition: cursor as string, limit: 10 }),
          ];
          for (const call of calls) {
            const error = await call().catch((x: unknown) => x);
            expect(isEvcoError(error, 'INVALID_POSITION'), `${String(cursor)}: ${String(error)}`).toBe(true);
          }
        }
      });

      it('compares cursors numerically, not as text', async () => {
        const events = Array.from({ length: 12 }, () => makeEvent());
        const { events: recorded } = await store.append(events, { now: T0 });
        // Beyond every position: nothing after it, everything before it.
        expect(await store.read({ afterPosition: '9223372036854775807', limit: 100 })).toEqual([]);
        expect(
          ids(await store.read({ beforePosition: '9223372036854775807', limit: 100, order: 'desc' })),
        ).toEqual(ids(events).reverse());
        // A cursor with fewer digits than the positions still means "before them all".
        expect(ids(await store.read({ afterPosition: '0', limit: 100 }))).toEqual(ids(events));
        const p9 = recorded[8]!.position;
        expect(ids(await store.read({ afterPosition: p9, limit: 100 }))).toEqual(ids(events.slice(9)));
      });
    });

    describeRetentionContract({
      supported: caps.retention,
      store: () => store,
      share: async () => (options.share ? options.share(store) : store),
    });

    describe('capabilities', () => {
      it('declares the capabilities it is tested with', () => {
        expect({
          durable: store.capabilities.durable,
          crossProcess: store.capabilities.crossProcess,
          retention: typeof store.pruneEvents === 'function' && typeof store.getPrunedRanges === 'function',
        }).toEqual(caps);
      });

      it.skipIf(!caps.durable)(
        needs(caps.durable, 'durable', 'keeps events, deliveries and subscriptions across close and reopen'),
        async () => {
          await subscribe([{ handler: 'h' }]);
          const events = [makeEvent({ aggregateId: 'a' }), makeEvent({ aggregateId: 'a' }), makeEvent()];
          await store.append(events, { now: T0 });
          await store.complete(await claim(['h'], T0, 1), { now: T0 });
          await store.close();
          const reopened = await options.reopen!(store);
          try {
            expect(ids(await reopened.read({ limit: 10 }))).toEqual(ids(events));
            expect((await reopened.listSubscriptions()).map((s) => s.handler)).toEqual(['h']);
            const claimed = await reopened.claimDue({
              consumerId: consumer,
              handlers: ['h'],
              now: at(1),
              leaseMs: LEASE,
              limit: 10,
            });
            expect(claimedIds(claimed).sort()).toEqual(ids(events.slice(1)).sort());
          } finally {
            await reopened.close();
          }
        },
      );

      it.skipIf(!caps.crossProcess)(
        needs(
          caps.crossProcess,
          'crossProcess',
          'two instances on the same data: one appends, the other reads and claims; a lease holds across them',
        ),
        async () => {
          const other = await options.share!(store);
          try {
            await subscribe([{ handler: 'h', ordering: 'none' }]);
            const events = [makeEvent(), makeEvent()];
            await store.append(events, { now: T0 });
            expect(ids(await other.read({ limit: 10 }))).toEqual(ids(events));
            const mine = await claim(['h'], T0, 1);
            const theirs = await other.claimDue({
              consumerId: 'other-process',
              handlers: ['h'],
              now: at(10_000),
              leaseMs: LEASE,
              limit: 10,
            });
            expect(claimedIds([...mine, ...theirs]).sort()).toEqual(ids(events).sort());
            // A lease taken by one instance holds in the other until it expires; then it is taken over.
            const early = {
              consumerId: 'other-process',
              handlers: ['h'],
              now: at(10_001),
              leaseMs: LEASE,
              limit: 10,
            };
            expect(await other.claimDue(early)).toEqual([]);
            const takeover = await other.claimDue({
              consumerId: 'other-process',
              handlers: ['h'],
              now: at(LEASE + 5_000),
              leaseMs: LEASE,
              limit: 10,
            });
            expect(claimedIds(takeover)).toEqual(claimedIds(mine));
          } finally {
            await other.close();
          }
        },
      );
    });

    describe('lifecycle', () => {
      it('close() twice is safe and later calls fail with STORE_UNAVAILABLE', async () => {
        await store.close();
        await store.close();
        const error = await store.append([makeEvent()], { now: T0 }).catch((x: unknown) => x);
        expect(isEvcoError(error, 'STORE_UNAVAILABLE')).toBe(true);
        const health = await store.healthCheck();
        expect(health.healthy).toBe(false);
      });

      it('reports health with a latency', async () => {
        const health = await store.healthCheck();
        expect(health.healthy).toBe(true);
        expect(health.latencyMs).toBeGreaterThanOrEqual(0);
        expect(typeof health.details).toBe('object');
      });
    });
  });
}
