/**
 * `completeAndClaim` completes by lease: the row at a token's (position, handler) that still
 * holds the token's lease id (sql.ts, `DELETE_BY_LEASE`), column by column when the tokens are
 * every combination of their positions, handlers and leases (`leaseTokens`), token by token
 * otherwise; a token without its lease id is checked by run and attempt (`COMPLETE`).
 */
import type { ClaimedDelivery, DeliveryToken } from '@evco/core/adapter';
import { makeEvent } from '@evco/testkit';
import { describe, expect, it } from 'vitest';
import type { PostgresStore } from '../src/index.js';
import { leaseTokens } from '../src/postgres-store.js';
import { closedAfterEach, createTestStore } from './support.js';

const T0 = new Date('2026-01-01T00:00:00.000Z');
const at = (ms: number) => new Date(T0.getTime() + ms);
const LEASE = 1000;

const request = (handlers: string[], now: Date, limit = 10) => ({
  consumerId: 'c',
  handlers,
  now,
  leaseMs: LEASE,
  limit,
  ordered: false,
});

async function subscribe(store: PostgresStore, handlers: string[]): Promise<void> {
  await store.registerSubscriptions(
    handlers.map((handler) => ({ eventType: 'TestHappened', handler, ordering: 'none' as const })),
    { consumerId: 'c', now: T0, ttlMs: 3_600_000 },
  );
}

/** The open deliveries of an event, as `handler:status:attempts`. */
async function open(store: PostgresStore, eventId: string): Promise<string[]> {
  return (await store.getDeliveries(eventId)).map((d) => `${d.handler}:${d.status}:${d.attempts}`);
}

const pick = (claimed: ClaimedDelivery[], eventId: string, handler: string) =>
  claimed.find((c) => c.event.id === eventId && c.handler === handler)!;

describe('completeAndClaim by lease', () => {
  const stores = closedAfterEach();

  it('tokens that are not every combination of their positions, handlers and leases complete only their own rows', async () => {
    const store = await createTestStore();
    stores.push(store);
    await subscribe(store, ['g', 'h']);
    const [e1, e2] = [makeEvent(), makeEvent()];
    await store.append([e1, e2], { now: T0 });
    // One claim, one lease: (e1, g), (e1, h), (e2, g), (e2, h).
    const claimed = await store.claimDue(request(['g', 'h'], T0));
    expect(claimed).toHaveLength(4);
    expect(new Set(claimed.map((c) => c.lease)).size).toBe(1);
    // Two of the four: their positions, handlers and lease span all four rows.
    await store.completeAndClaim(
      [pick(claimed, e1.id, 'h'), pick(claimed, e2.id, 'g')],
      request(['g', 'h'], at(10)),
    );
    expect(await open(store, e1.id)).toEqual(['g:running:1']);
    expect(await open(store, e2.id)).toEqual(['h:running:1']);
    // The other two are every combination of theirs: both go.
    await store.completeAndClaim(
      [pick(claimed, e1.id, 'g'), pick(claimed, e2.id, 'h')],
      request(['g', 'h'], at(20)),
    );
    expect([...(await open(store, e1.id)), ...(await open(store, e2.id))]).toEqual([]);
  });

  it('a stale token of this consumer, beside a current one of the claim that took it over, completes nothing; the statement re-claims neither', async () => {
    const store = await createTestStore();
    stores.push(store);
    await subscribe(store, ['h']);
    const [e1, e2] = [makeEvent(), makeEvent()];
    await store.append([e1], { now: T0 });
    const [stale] = await store.claimDue(request(['h'], T0));
    await store.append([e2], { now: at(10) });
    // The first lease expired: the same consumer (same store, same nonce) takes it over, and e2.
    const again = await store.claimDue(request(['h'], at(LEASE + 1)));
    expect(again.map((c) => [c.event.id, c.attempt])).toEqual([
      [e1.id, 2],
      [e2.id, 1],
    ]);
    expect(stale!.lease).not.toBe(again[0]!.lease);
    // Past the second lease too: e2's holder completes it with e1's stale token beside it.
    const step = await store.completeAndClaim([stale!, again[1]!], request(['h'], at(2 * LEASE + 2)));
    expect(step).toEqual([]);
    expect(await open(store, e2.id)).toEqual([]);
    expect(await open(store, e1.id)).toEqual(['h:running:2']);
    // e1's expired second lease is claimable again from the next statement on.
    const [third] = await store.claimDue(request(['h'], at(2 * LEASE + 3)));
    expect([third!.event.id, third!.attempt]).toEqual([e1.id, 3]);
  });

  it('a token from before a re-drive completes nothing of the new run, whoever claims it', async () => {
    const store = await createTestStore();
    stores.push(store);
    await subscribe(store, ['h']);
    const e1 = makeEvent();
    await store.append([e1], { now: T0 });
    const [first] = await store.claimDue(request(['h'], T0));
    await store.fail([{ ...first!, error: 'boom', nextAttemptAt: null }], { now: at(1) });
    expect(await store.retryDeadLetters({ deliveryIds: [first!.deliveryId], now: at(2) })).toBe(1);
    const [rerun] = await store.claimDue(request(['h'], at(3)));
    expect(rerun!.deliveryId).not.toBe(first!.deliveryId);
    expect(rerun!.attempt).toBe(1);
    await store.completeAndClaim([first!], request(['h'], at(4)));
    expect(await open(store, e1.id)).toEqual(['h:running:1']);
    await store.completeAndClaim([rerun!], request(['h'], at(5)));
    expect(await open(store, e1.id)).toEqual([]);
  });

  it('a token without its lease id is checked by run and attempt: the current attempt completes, a stale one does not', async () => {
    const store = await createTestStore();
    stores.push(store);
    await subscribe(store, ['h']);
    const [e1, e2] = [makeEvent(), makeEvent()];
    await store.append([e1, e2], { now: T0 });
    const [c1, c2] = await store.claimDue(request(['h'], T0));
    const bare = (c: ClaimedDelivery, attempt = c.attempt): DeliveryToken => ({
      deliveryId: c.deliveryId,
      attempt,
    });
    const step = await store.completeAndClaim([bare(c1!), bare(c2!, 2)], request(['h'], at(10)));
    expect(step).toEqual([]);
    expect(await open(store, e1.id)).toEqual([]);
    expect(await open(store, e2.id)).toEqual(['h:running:1']);
  });
});

describe('leaseTokens', () => {
  it('sends the distinct values only when the tokens are all their combinations', () => {
    expect(leaseTokens(['1', '2', '1', '2'], ['g', 'g', 'h', 'h'], ['L', 'L', 'L', 'L'])).toEqual({
      params: [['1', '2'], ['g', 'h'], ['L']],
      product: true,
    });
    // A repeated token changes nothing.
    expect(leaseTokens(['1', '1'], ['h', 'h'], ['L', 'L']).product).toBe(true);
    // (1, h) and (2, g) missing; two leases for two positions.
    expect(leaseTokens(['1', '2'], ['g', 'h'], ['L', 'L'])).toEqual({
      params: [
        ['1', '2'],
        ['g', 'h'],
        ['L', 'L'],
      ],
      product: false,
    });
    expect(leaseTokens(['1', '2'], ['h', 'h'], ['L1', 'L2']).product).toBe(false);
    // Both leases at both positions: every combination.
    expect(leaseTokens(['1', '2', '1', '2'], ['h', 'h', 'h', 'h'], ['L1', 'L1', 'L2', 'L2']).product).toBe(
      true,
    );
  });
});
