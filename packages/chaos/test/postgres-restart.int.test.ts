import { type PrivatePostgres, resolveServiceUrl, startPrivatePostgres, waitFor } from '@evco/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  audit,
  type Fault,
  lastActivity,
  type Member,
  printAudit,
  startMembers,
  statuses,
  stopMembers,
  uniqueName,
  waitUntilHandled,
} from './fleet.js';

/**
 * A private Postgres crashed (`pg_ctl stop -m immediate`) and started again twice while two
 * processes publish and handle. Publishers retry a publish until it is acknowledged, as a client
 * would; nothing acknowledged may be lost, duplicates may only come from runs whose completion
 * was in flight at a crash, and both processes must carry on without being restarted.
 */
const PER_MEMBER = 400;
const RATE = 50;

let postgres: PrivatePostgres;
const started: Member[] = [];

beforeAll(async () => {
  postgres = await startPrivatePostgres();
});
afterAll(async () => {
  await stopMembers(started);
  await postgres?.destroy();
});

// 'leases': claims, completions and failures commit without waiting for their WAL flush, so a
// crash also forgets the last of them; what it may cost is runs again, never an acknowledged event.
describe.each(['none', 'leases'] as const)(
  'chaos: Postgres restarted twice under load (asyncCommit: %s)',
  (asyncCommit) => {
    it('loses no acknowledged event; duplicates only around the crashes; both processes recover on their own', async () => {
      const redisUrl = await resolveServiceUrl({ envVar: 'EVCO_TEST_REDIS_URL', what: 'The chaos suite' });
      const members = await startMembers(['a', 'b'], {
        databaseUrl: postgres.url,
        redisUrl,
        schema: uniqueName('chaos_pg'),
        channelPrefix: uniqueName('chaos-pg'),
        asyncCommit,
      });
      started.push(...members);
      const pids = members.map((m) => m.pid);
      for (const m of members) m.send({ type: 'publish', count: PER_MEMBER, ratePerSec: RATE });

      const faults: Fault[] = [];
      for (const label of ['first crash', 'second crash']) {
        // Let some work flow first: at least 100 more events handled since the last fault.
        const before = members.flatMap((m) => m.messages).filter((x) => x.type === 'handled').length;
        await waitFor(
          () => members.flatMap((m) => m.messages).filter((x) => x.type === 'handled').length >= before + 100,
          { timeoutMs: 60_000, message: `no progress before the ${label}` },
        );
        const start = Date.now();
        await postgres.crash();
        // Down until both processes felt it: their publishes failed.
        await waitFor(
          () =>
            members.every((m) =>
              m.messages.some((x) => x.type === 'publish-failed' && Number(x.at) >= start),
            ),
          { timeoutMs: 30_000, message: `nobody noticed the ${label}` },
        );
        await postgres.start();
        faults.push({ label, start, end: Date.now() });
      }

      await Promise.all(members.map((m) => m.next('published-all', { timeoutMs: 120_000 })));
      await waitUntilHandled(members);
      const result = audit(members, faults);
      const last = faults[faults.length - 1]!;
      printAudit(`postgres restarted twice (asyncCommit: ${asyncCommit})`, result, {
        members: members.length,
        publishFailures: members.flatMap((m) => m.messages).filter((x) => x.type === 'publish-failed').length,
      });

      expect(result.acknowledged.length).toBe(2 * PER_MEMBER);
      expect(result.lost).toEqual([]);
      expect(result.duplicates.filter((d) => d.fault === undefined)).toEqual([]);
      // Recovered without a restart: the same processes published and handled after the last crash.
      expect(members.map((m) => m.pid)).toEqual(pids);
      for (const m of members) {
        expect(m.alive).toBe(true);
        expect(lastActivity(m).published).toBeGreaterThan(last.end);
        expect(lastActivity(m).handled).toBeGreaterThan(last.end);
      }
      const status = await statuses(members);
      for (const s of status)
        expect(s).toMatchObject({ storeHealthy: true, publisherHealthy: true, inFlight: 0 });
      await stopMembers(members);
    });
  },
);
