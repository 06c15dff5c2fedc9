import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { makeEvent } from '@evco/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PostgresStore } from '../src/index.js';
import { createTestStore, databaseUrl, dropSchema } from './support.js';

const READER = fileURLToPath(new URL('./fixtures/timezone-reader.ts', import.meta.url));
const run = promisify(execFile);

/** Instants around midnight in both zones and both US DST switches of 2026. */
const OCCURRED = [
  '2026-03-07T23:59:59.999-08:00',
  '2026-03-08T01:59:59.000-08:00',
  '2026-03-08T03:00:00.000-07:00',
  '2026-03-08T10:00:00.000Z',
  '2026-03-08T18:29:59.999Z',
  '2026-03-08T18:30:00.000Z',
  '2026-03-09T00:00:00.000+05:30',
  '2026-11-01T01:30:00.000-07:00',
  '2026-11-01T01:30:00.000-08:00',
  '2026-11-01T23:59:59.999+05:30',
];

/** Ranges written in local notations of either zone; each is one pair of instants. */
const RANGES = [
  { from: '2026-03-08T00:00:00.000+05:30', to: '2026-03-09T00:00:00.000+05:30' },
  { from: '2026-03-08T00:00:00.000-08:00', to: '2026-03-09T00:00:00.000-07:00' },
  { from: '2026-11-01T01:30:00.000-07:00', to: '2026-11-01T01:30:00.000-08:00' },
  { from: '2026-01-01T00:00:00.000Z', to: '2027-01-01T00:00:00.000Z' },
];

describe('time zones', () => {
  let store: PostgresStore;
  const events = OCCURRED.map((occurredAt) => makeEvent({ eventType: 'Tz', occurredAt }));

  beforeAll(async () => {
    store = await createTestStore();
    await store.append(events, { now: new Date('2026-12-31T12:00:00.000Z') });
    // Subscribed after the append: only the replays create their deliveries.
    await store.registerSubscriptions(
      ['tz_kolkata', 'tz_los_angeles'].map((handler) => ({ handler, eventType: 'Tz', ordering: 'none' })),
      { consumerId: 'test', now: new Date(), ttlMs: 3_600_000 },
    );
  });

  afterAll(async () => {
    await store?.close();
    if (store) await dropSchema(store.schema);
  });

  async function readIn(tz: string, handler: string) {
    const { stdout } = await run(
      process.execPath,
      [
        '--import',
        'tsx',
        '--conditions=@evco/source',
        READER,
        store.schema,
        handler,
        tz,
        JSON.stringify(RANGES),
      ],
      {
        cwd: fileURLToPath(new URL('..', import.meta.url)),
        env: { ...process.env, TZ: tz, EVCO_TEST_DATABASE_URL: await databaseUrl() },
      },
    );
    return JSON.parse(stdout) as Array<{
      history: Array<{ id: string; occurredAt: string; recordedAt: string }>;
      replayed: number;
      claimed: string[];
      sessionTimeZone: string;
      processOffsetMinutes: number;
    }>;
  }

  it('TZ=Asia/Kolkata and TZ=America/Los_Angeles (process and session) give the same history and replay ranges', async () => {
    const [kolkata, losAngeles] = await Promise.all([
      readIn('Asia/Kolkata', 'tz_kolkata'),
      readIn('America/Los_Angeles', 'tz_los_angeles'),
    ]);
    expect(kolkata[0]!.sessionTimeZone).toBe('Asia/Kolkata');
    expect(kolkata[0]!.processOffsetMinutes).toBe(-330);
    expect(losAngeles[0]!.sessionTimeZone).toBe('America/Los_Angeles');
    expect(losAngeles[0]!.processOffsetMinutes).toBeGreaterThan(0);

    for (const [i, range] of RANGES.entries()) {
      const from = new Date(range.from).getTime();
      const to = new Date(range.to).getTime();
      const expected = events.filter((e) => e.occurredAt.getTime() >= from && e.occurredAt.getTime() < to);
      const expectedHistory = expected.map((e) => ({
        id: e.id,
        occurredAt: e.occurredAt.toISOString(),
        recordedAt: '2026-12-31T12:00:00.000Z',
      }));
      expect(expected.length, `range ${i} is not empty`).toBeGreaterThan(0);
      for (const result of [kolkata[i]!, losAngeles[i]!]) {
        expect(result.history).toEqual(expectedHistory);
        expect(result.replayed).toBe(expected.length);
        expect(result.claimed).toEqual(expected.map((e) => e.id).sort());
      }
    }
  });
});
