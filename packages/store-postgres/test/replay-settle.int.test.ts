import { makeEvent } from '@evco/testkit';
import { describe, expect, it } from 'vitest';
import { closedAfterEach, connect, createTestStore } from './support.js';

const T0 = new Date('2026-01-01T00:00:00.000Z');
const at = (ms: number) => new Date(T0.getTime() + ms);

/**
 * A replay covers the events that existed when it started. Its range is bounded by the settled
 * horizon, so an event committed while an older transaction still runs would fall outside it:
 * `startReplay` waits for it to settle, as a read does.
 */
describe('a replay started right after an append covers it', () => {
  const stores = closedAfterEach();

  it('waits while an older transaction runs, then covers the event (or not, with settleTimeoutMs 0)', async () => {
    const store = await createTestStore({ settleTimeoutMs: 60_000 });
    stores.push(store);
    const impatient = await createTestStore({ schema: store.schema, settleTimeoutMs: 0 });
    stores.push(impatient);
    await store.registerSubscriptions([{ eventType: 'TestHappened', handler: 'h', ordering: 'none' }], {
      consumerId: 'c',
      now: T0,
      ttlMs: 3_600_000,
    });
    const older = await connect();
    try {
      await older.query('BEGIN');
      await older.query('SELECT pg_current_xact_id()');
      const event = makeEvent({ occurredAt: T0 });
      await store.append([event], { now: T0 });
      const spec = { from: T0, to: at(1), eventType: 'TestHappened', maxEvents: 10 };
      const missed = await impatient.startReplay(spec, { now: at(2) });
      expect((await impatient.continueReplay(missed.id, { now: at(2), pageSize: 10 })).eventsMatched).toBe(0);
      let started = false;
      const job = store.startReplay(spec, { now: at(3) }).finally(() => {
        started = true;
      });
      await new Promise((r) => setTimeout(r, 300));
      expect(started).toBe(false);
      await older.query('COMMIT');
      const done = await store.continueReplay((await job).id, { now: at(3), pageSize: 10 });
      expect(done).toMatchObject({ status: 'done', eventsMatched: 1 });
    } finally {
      await older.end();
    }
  });
});
