import { type PrivateRedis, resolveServiceUrl, startPrivateRedis, waitFor } from '@evco/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  audit,
  dropSchema,
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
 * A private Redis killed (SIGKILL) and started again while two processes publish and handle.
 * Redis is only the doorbell: no publish may fail, nothing may be lost or run twice (the store
 * decides who runs what), and both processes must be listening again on their own.
 */
const PER_MEMBER = 300;
const RATE = 50;

let redis: PrivateRedis;
let databaseUrl: string;
const schema = uniqueName('chaos_redis');
let members: Member[] = [];

beforeAll(async () => {
  redis = await startPrivateRedis();
  databaseUrl = await resolveServiceUrl({ envVar: 'EVCO_TEST_DATABASE_URL', what: 'The chaos suite' });
});
afterAll(async () => {
  await stopMembers(members);
  await redis?.kill();
  if (databaseUrl) await dropSchema(databaseUrl, schema);
});

describe('chaos: Redis killed and restarted under load', () => {
  it('loses nothing, runs nothing twice, and every process reconnects without a restart', async () => {
    members = await startMembers(['a', 'b'], {
      databaseUrl,
      redisUrl: redis.url,
      schema,
      channelPrefix: uniqueName('chaos-redis'),
    });
    const pids = members.map((m) => m.pid);
    for (const m of members) m.send({ type: 'publish', count: PER_MEMBER, ratePerSec: RATE });
    const handled = () => members.flatMap((m) => m.messages).filter((x) => x.type === 'handled').length;
    await waitFor(() => handled() >= 100, { timeoutMs: 60_000, message: 'no progress before the kill' });

    const start = Date.now();
    await redis.kill();
    // Down while at least 50 more events are published: their announcements are lost for good.
    const before = handled();
    await waitFor(() => handled() >= before + 50, {
      timeoutMs: 60_000,
      message: 'no progress while Redis was down',
    });
    await redis.start();
    const faults: Fault[] = [{ label: 'redis killed', start, end: Date.now() }];

    await Promise.all(members.map((m) => m.next('published-all', { timeoutMs: 120_000 })));
    await waitUntilHandled(members);
    const result = audit(members, faults);
    await waitFor(
      async () =>
        (await statuses(members)).every((s) => s.publisherHealthy === true && Number(s.reconnects) >= 1),
      { timeoutMs: 30_000, message: 'a process did not reconnect to Redis' },
    );
    printAudit('redis killed and restarted', result);

    expect(result.acknowledged.length).toBe(2 * PER_MEMBER);
    expect(result.lost).toEqual([]);
    // The store hands each delivery to one process: losing the doorbell duplicates nothing.
    expect(result.duplicates).toEqual([]);
    // Publishing never waited for Redis: the events were stored, only the announcement was lost.
    expect(members.flatMap((m) => m.messages).filter((x) => x.type === 'publish-failed')).toEqual([]);
    expect(members.map((m) => m.pid)).toEqual(pids);
    for (const m of members) {
      expect(m.alive).toBe(true);
      expect(lastActivity(m).handled).toBeGreaterThan(faults[0]!.end);
    }
  });
});
