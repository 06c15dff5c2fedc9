import { makeEvent } from '@evco/testkit';
import { describe, expect, it } from 'vitest';
import { closedAfterEach, connect, createTestStore } from './support.js';

const now = new Date('2026-01-01T00:00:00.000Z');
const request = { consumerId: 'c', handlers: ['h'], now, leaseMs: 60_000, limit: 10 };

/**
 * An ordered delivery whose event committed while an older transaction still runs is not
 * claimable yet (an earlier event of its aggregate could still commit below it). A claim that
 * finds nothing learns of it from the same statement and waits for the horizon to pass it.
 */
describe('ordered claims wait for their event to settle', () => {
  const stores = closedAfterEach();

  for (const via of ['claimDue', 'completeAndClaim'] as const) {
    it(`${via}: held back while an older transaction runs, claimed once it ends (or nothing with settleTimeoutMs 0)`, async () => {
      const store = await createTestStore({ settleTimeoutMs: 60_000 });
      stores.push(store);
      const impatient = await createTestStore({ schema: store.schema, settleTimeoutMs: 0 });
      stores.push(impatient);
      await store.registerSubscriptions(
        [{ eventType: 'TestHappened', handler: 'h', ordering: 'aggregate' }],
        {
          consumerId: 'c',
          now,
          ttlMs: 3_600_000,
        },
      );
      const older = await connect();
      try {
        await older.query('BEGIN');
        await older.query('SELECT pg_current_xact_id()');
        const event = makeEvent({ aggregateId: 'a' });
        await store.append([event], { now });
        expect(await impatient.claimDue(request)).toEqual([]);
        let settled = false;
        const claim = (
          via === 'claimDue'
            ? store.claimDue(request)
            : store.completeAndClaim([{ deliveryId: '1:1/h', attempt: 1 }], request)
        ).finally(() => {
          settled = true;
        });
        await new Promise((r) => setTimeout(r, 300));
        expect(settled).toBe(false);
        await older.query('COMMIT');
        expect((await claim).map((d) => d.event.id)).toEqual([event.id]);
      } finally {
        await older.end();
      }
    });

    it(`${via}: with ordered: false (the claimer's handlers all unordered now), an ordered delivery is still held back, and the claim does not wait for it`, async () => {
      const store = await createTestStore({ settleTimeoutMs: 60_000 });
      stores.push(store);
      const subscribe = (ordering: 'aggregate' | 'none') =>
        store.registerSubscriptions([{ eventType: 'TestHappened', handler: 'h', ordering }], {
          consumerId: 'c',
          now,
          ttlMs: 3_600_000,
        });
      await subscribe('aggregate');
      const older = await connect();
      try {
        await older.query('BEGIN');
        await older.query('SELECT pg_current_xact_id()');
        const event = makeEvent({ aggregateId: 'a' });
        await store.append([event], { now });
        // The handler changed its ordering; the delivery made while it was ordered keeps it.
        await subscribe('none');
        const unordered = { ...request, ordered: false };
        const claim =
          via === 'claimDue'
            ? store.claimDue(unordered)
            : store.completeAndClaim([{ deliveryId: '1:1/h', attempt: 1 }], unordered);
        // The older transaction ends once the claim answered (or after 10 s: a claim that waits
        // for the event to settle then claims it once it has).
        await Promise.race([claim, new Promise((r) => setTimeout(r, 10_000))]);
        await older.query('COMMIT');
        expect(await claim).toEqual([]);
        expect((await store.claimDue(unordered)).map((d) => d.event.id)).toEqual([event.id]);
      } finally {
        await older.end();
      }
    });
  }
});
