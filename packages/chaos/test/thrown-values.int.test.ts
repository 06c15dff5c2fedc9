import { createPostgresStore } from '@evco/store-postgres';
import { resolveServiceUrl, THROWN_VALUES, waitFor } from '@evco/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import {
  audit,
  dropSchema,
  type Member,
  printAudit,
  startMembers,
  statuses,
  stopMembers,
  uniqueName,
  waitUntilHandled,
} from './fleet.js';

/**
 * The thrown-value matrix in a real process on Postgres: one handler per hostile value (thrown
 * synchronously and rejected asynchronously) while ordinary work flows. An exception escaping
 * evco's failure path would end the process (Node exits on an unhandled rejection); a failure
 * not recorded would leave the delivery to expire its lease again and again.
 */
const HOSTILE_EVENTS = 2;
const WORK = 200;

const schema = uniqueName('chaos_throw');
let databaseUrl: string | undefined;
let members: Member[] = [];

afterAll(async () => {
  await stopMembers(members);
  if (databaseUrl) await dropSchema(databaseUrl, schema);
});

describe('chaos: handlers throwing anything', () => {
  it('every throw is one recorded failure, dead-lettered with a bounded description; the process and other work carry on', async () => {
    databaseUrl = await resolveServiceUrl({ envVar: 'EVCO_TEST_DATABASE_URL', what: 'The chaos suite' });
    const redisUrl = await resolveServiceUrl({ envVar: 'EVCO_TEST_REDIS_URL', what: 'The chaos suite' });
    members = await startMembers(['thrower'], {
      databaseUrl,
      redisUrl,
      schema,
      channelPrefix: uniqueName('chaos-throw'),
      throwers: true,
    });
    const [member] = members as [Member];
    member.send({ type: 'publish', count: HOSTILE_EVENTS, ratePerSec: 100, eventType: 'Hostile' });
    await member.next('published-all');
    member.messages.splice(
      member.messages.findIndex((m) => m.type === 'published-all'),
      1,
    );
    member.send({ type: 'publish', count: WORK, ratePerSec: 200 });
    await member.next('published-all');
    await waitUntilHandled(members);

    const handlers = 2 * THROWN_VALUES.length;
    const store = createPostgresStore({ connectionString: databaseUrl, schema, poolSize: 1 });
    try {
      const dead = await waitFor(
        async () => {
          const list = await store.getDeadLetters({ limit: 10_000 });
          return list.length === handlers * HOSTILE_EVENTS ? list : undefined;
        },
        { timeoutMs: 60_000, message: 'not every hostile delivery was dead-lettered' },
      );
      for (const d of dead) {
        expect(d.delivery.attempts).toBe(2);
        expect(d.delivery.lastError!.length).toBeGreaterThan(0);
        expect(d.delivery.lastError!.length).toBeLessThanOrEqual(4000);
      }
      const stats = await store.stats({ now: new Date() });
      expect(stats.pending + stats.running).toBe(0);
    } finally {
      await store.close();
    }
    const result = audit(members, []);
    const [status] = await statuses(members);
    printAudit('thrown-value matrix', result, { hostileHandlers: handlers, metrics: status!.metrics });
    expect(member.alive).toBe(true);
    expect(result.lost).toEqual([]);
    expect(result.duplicates).toEqual([]);
    expect(status!.metrics).toMatchObject({
      failed: 2 * handlers * HOSTILE_EVENTS,
      dead: handlers * HOSTILE_EVENTS,
      handled: WORK,
    });
  });
});
