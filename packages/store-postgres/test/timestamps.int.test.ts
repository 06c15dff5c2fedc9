import { makeEvent } from '@evco/testkit';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import type { PostgresStore } from '../src/index.js';
import { closedAfterEach, createTestStore, databaseUrl } from './support.js';

/** Amsterdam's offset was +00:19:32 before 1937, then DST switches: offsets in minutes and seconds. */
const OCCURRED = [
  '1900-06-01T12:00:00.123Z',
  '2026-03-29T00:59:59.999Z',
  '2026-03-29T01:00:00.000Z',
  '2026-11-28T20:52:27.5Z',
  '0001-01-01T00:00:00.000Z',
  '9999-12-31T23:59:59.999Z',
];
const NOW = new Date('2026-11-28T20:52:27.123Z');

async function storeInSession(timeZone: string): Promise<PostgresStore> {
  const url = new URL(await databaseUrl());
  url.searchParams.set('options', `-c TimeZone=${timeZone}`);
  const store = await createTestStore({ connectionString: url.toString() });
  await store.registerSubscriptions([{ handler: 'ts', eventType: 'Ts', ordering: 'none' }], {
    consumerId: 'test',
    now: NOW,
    ttlMs: 3_600_000,
  });
  return store;
}

async function roundTrip(store: PostgresStore) {
  const events = OCCURRED.map((occurredAt) => makeEvent({ eventType: 'Ts', occurredAt }));
  await store.append(events, { now: NOW });
  const claimed = await store.claimDue({
    consumerId: 'test',
    handlers: ['ts'],
    now: new Date(),
    leaseMs: 60_000,
    limit: 100,
  });
  const read = await Promise.all(events.map((e) => store.getEvent(e.id)));
  return { events, claimed, read };
}

describe('timestamps the store reads back', () => {
  const stores = closedAfterEach();

  it('are the instants written, through claims and reads, whatever offset the session prints', async () => {
    for (const timeZone of ['Europe/Amsterdam', 'Asia/Kathmandu', 'America/St_Johns']) {
      const store = await storeInSession(timeZone);
      stores.push(store);
      const { events, claimed, read } = await roundTrip(store);
      const byId = new Map(claimed.map((c) => [c.event.id, c.event]));
      expect(byId.size, timeZone).toBe(events.length);
      for (const [i, e] of events.entries()) {
        for (const got of [byId.get(e.id)!, read[i]!]) {
          expect(got.occurredAt, `${timeZone} ${OCCURRED[i]}`).toBeInstanceOf(Date);
          expect(got.occurredAt.toISOString(), timeZone).toBe(e.occurredAt.toISOString());
          expect(got.recordedAt.toISOString(), timeZone).toBe(NOW.toISOString());
        }
      }
    }
  });

  it('stay Dates when the application changed pg’s global timestamptz parser', async () => {
    const original = pg.types.getTypeParser(1184, 'text');
    pg.types.setTypeParser(1184, (text: string) => `text:${text}`);
    try {
      const store = await storeInSession('UTC');
      stores.push(store);
      const { events, claimed, read } = await roundTrip(store);
      expect(claimed).toHaveLength(events.length);
      for (const got of [...claimed.map((c) => c.event), ...read.map((e) => e!)]) {
        expect(got.occurredAt).toBeInstanceOf(Date);
        expect(got.recordedAt.toISOString()).toBe(NOW.toISOString());
      }
      // The application's own queries still get its parser.
      const client = new pg.Client({ connectionString: await databaseUrl() });
      await client.connect();
      try {
        const { rows } = await client.query(`SELECT '2026-11-28 20:52:27+00'::timestamptz AS t`);
        expect(String(rows[0].t)).toMatch(/^text:2026-11-28/);
      } finally {
        await client.end();
      }
    } finally {
      pg.types.setTypeParser(1184, original);
    }
  });
});
