import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSqliteStore } from '../src/index.js';
import { readScenario, toJson, writeScenario } from './fixtures/tz-scenario.js';
import { type Child, runFixture, tempDir } from './support.js';

const ZONES = ['UTC', 'Asia/Kolkata', 'America/Los_Angeles'];

let tmp: ReturnType<typeof tempDir>;
const children: Child[] = [];

beforeEach(() => {
  tmp = tempDir();
});

afterEach(async () => {
  for (const c of children.splice(0)) await c.exited;
  tmp.cleanup();
});

describe('timezones', () => {
  it('the same queries return the same results under TZ=UTC, Asia/Kolkata and America/Los_Angeles', async () => {
    // One file written here, read by every zone; and one file per zone, written there.
    const shared = createSqliteStore({ filename: tmp.file('shared.db') });
    await writeScenario(shared);
    const expected = toJson(await readScenario(shared));
    await shared.close();

    const results = await Promise.all(
      ZONES.map(async (tz) => {
        const child = runFixture('tz-probe.ts', {
          env: {
            TZ: tz,
            PROBE_OWN: tmp.file(`${tz.replace('/', '-')}.db`),
            PROBE_SHARED: tmp.file('shared.db'),
          },
        });
        children.push(child);
        const result = await child.next('result');
        expect(await child.exited).toBe(0);
        return result as unknown as {
          tz: string;
          offsetMinutes: number;
          ownRead: string;
          ownMutate: string;
          sharedRead: string;
        };
      }),
    );
    // The zones really differ (in July: 0, -330 and +420 minutes)...
    expect(results.map((r) => r.offsetMinutes)).toEqual([0, -330, 420]);
    // ...and the results do not.
    for (const r of results) {
      expect(r.sharedRead, r.tz).toBe(expected);
      expect(r.ownRead, r.tz).toBe(expected);
      expect(r.ownMutate, r.tz).toBe(results[0]!.ownMutate);
    }

    // The shared answers are the right ones, not merely equal.
    const read = JSON.parse(expected) as Record<string, unknown>;
    const id = (n: number) => `0190a000-0000-7000-8000-${String(n).padStart(12, '0')}`;
    expect(read.laDstDay).toEqual([id(1), id(2)]);
    expect(read.kolkataDay).toEqual([id(1), id(2), id(4)]);
    expect(read.utcDay).toEqual([id(1), id(2)]);
    expect(read.fallBackHour).toEqual([id(5)]);
    expect(read.newYear).toEqual([id(7), id(8)]);
    expect(read.desc).toEqual([id(8), id(7), id(6)]);
    const mutate = JSON.parse(results[0]!.ownMutate) as {
      beforeRetry: string[];
      atRetry: Array<[string, number]>;
      replay: { eventsMatched: number; status: string };
      dead: unknown[];
    };
    // The dead letter unblocked its aggregate's next event; the two retries waited for their time.
    expect(mutate.beforeRetry.length).toBe(1);
    expect(mutate.atRetry.length).toBe(2);
    expect(mutate.atRetry.every(([, attempt]) => attempt === 2)).toBe(true);
    expect(mutate.dead.length).toBe(1);
    expect(mutate.replay).toMatchObject({ status: 'done', eventsMatched: 5 });
  });
});
