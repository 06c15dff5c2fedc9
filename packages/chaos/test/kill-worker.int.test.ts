import { resolveServiceUrl, waitFor } from '@evco/testkit';
import { afterAll, describe, expect, it } from 'vitest';
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
 * Three processes share the work; one is killed with SIGKILL mid-run. Its leases expire and the
 * others take its deliveries over: nothing acknowledged is lost, and the only events run twice
 * are those the victim had run (or was running) when it died.
 */
const PER_PUBLISHER = 300;
const RATE = 60;

const schema = uniqueName('chaos_kill');
let databaseUrl: string | undefined;
let members: Member[] = [];

afterAll(async () => {
  await stopMembers(members);
  if (databaseUrl) await dropSchema(databaseUrl, schema);
});

describe('chaos: one worker killed with kill -9', () => {
  it('loses nothing; duplicates only for the victim’s runs in flight; the survivors carry on', async () => {
    databaseUrl = await resolveServiceUrl({ envVar: 'EVCO_TEST_DATABASE_URL', what: 'The chaos suite' });
    const redisUrl = await resolveServiceUrl({ envVar: 'EVCO_TEST_REDIS_URL', what: 'The chaos suite' });
    members = await startMembers(['a', 'b', 'victim'], {
      databaseUrl,
      redisUrl,
      schema,
      channelPrefix: uniqueName('chaos-kill'),
    });
    const [a, b, victim] = members as [Member, Member, Member];
    for (const m of [a, b]) m.send({ type: 'publish', count: PER_PUBLISHER, ratePerSec: RATE });
    const ranOnVictim = () => victim.messages.filter((x) => x.type === 'handled').length;
    await waitFor(() => ranOnVictim() >= 50, { timeoutMs: 60_000, message: 'the victim never got work' });

    const start = Date.now();
    await victim.kill();
    const faults: Fault[] = [{ label: 'kill -9', start, end: start, victimPid: victim.pid }];

    await Promise.all([a, b].map((m) => m.next('published-all', { timeoutMs: 120_000 })));
    await waitUntilHandled(members);
    const result = audit(members, faults);
    printAudit('one worker killed with kill -9', result, { victimRuns: ranOnVictim() });

    expect(await victim.exited).toBe('SIGKILL');
    expect(result.acknowledged.length).toBe(2 * PER_PUBLISHER);
    expect(result.lost).toEqual([]);
    expect(result.duplicates.filter((d) => d.fault === undefined)).toEqual([]);
    for (const m of [a, b]) {
      expect(m.alive).toBe(true);
      expect(lastActivity(m).handled).toBeGreaterThan(start);
    }
    for (const s of await statuses([a, b])) expect(s).toMatchObject({ storeHealthy: true, inFlight: 0 });
  });
});
