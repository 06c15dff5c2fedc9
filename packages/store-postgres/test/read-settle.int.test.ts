import { makeEvent } from '@evco/testkit';
import { describe, expect, it } from 'vitest';
import { busyNeighbour, createTestStore, dropSchema } from './support.js';

const now = new Date('2026-01-01T00:00:00.000Z');

/**
 * A read right after an append sees it (waiting up to `settleTimeoutMs` for it to settle), also
 * while another session keeps opening and committing transactions, so that the horizon moves
 * between any two statements: a read must not miss an event that settled between the read and
 * its check for unsettled events.
 */
describe('reads see what was appended before them while other sessions commit around them', () => {
  it('100 × an append read back at once ascending, and one read back at once descending', async () => {
    const store = await createTestStore({ settleTimeoutMs: 60_000 });
    const stop = await busyNeighbour();
    try {
      let last: string | undefined;
      for (let i = 0; i < 100; i++) {
        const first = makeEvent({ aggregateId: 'a' });
        await store.append([first], { now });
        const after = await store.read({ afterPosition: last, limit: 10 });
        expect(
          after.map((e) => e.id),
          `append ${i}, ascending`,
        ).toEqual([first.id]);
        const second = makeEvent({ aggregateId: 'a' });
        const appended = await store.append([second], { now });
        const newest = await store.read({ aggregateId: 'a', order: 'desc', limit: 1 });
        expect(
          newest.map((e) => e.id),
          `append ${i}, descending`,
        ).toEqual([second.id]);
        last = appended.events[0]!.position;
      }
    } finally {
      await stop();
      await store.close();
      await dropSchema(store.schema);
    }
  });
});
