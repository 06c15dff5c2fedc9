import { existsSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type IpcMessage, resolveServiceUrl, waitFor } from '@evco/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  audit,
  type FleetOptions,
  type Member,
  printAudit,
  spawnMember,
  startMembers,
  statuses,
  stopMembers,
  uniqueName,
  waitUntilHandled,
} from './fleet.js';

/**
 * Two processes share a SQLite file; an operator deletes it (or moves it away) while they
 * publish and handle. Before the fix the processes kept acknowledging events into a file no
 * path led to, with a healthy health check, and the next process created a new empty file.
 */
const PER_MEMBER = 200;
const RATE = 40;
const FILES = ['', '-wal', '-shm'];

let dir: string;
let file: string;
let members: Member[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'evco-chaos-sqlite-'));
  file = join(dir, 'events.db');
});
afterEach(async () => {
  await stopMembers(members);
  members = [];
  rmSync(dir, { recursive: true, force: true });
});

async function fleet(): Promise<{ options: FleetOptions; handled: () => number }> {
  const redisUrl = await resolveServiceUrl({ envVar: 'EVCO_TEST_REDIS_URL', what: 'The chaos suite' });
  const options = { redisUrl, channelPrefix: uniqueName('chaos-sqlite'), dbFile: file };
  // The first creates the file; the second joins it and must not create one.
  members = await startMembers(['a'], options);
  members.push(...(await startMembers(['b'], { ...options, fileMustExist: true })));
  for (const m of members) m.send({ type: 'publish', count: PER_MEMBER, ratePerSec: RATE });
  const handled = () => members.flatMap((m) => m.messages).filter((x) => x.type === 'handled').length;
  await waitFor(() => handled() >= 60, { timeoutMs: 60_000, message: 'no progress' });
  return { options, handled };
}

/**
 * Every member reports an unhealthy store, then refuses several more publish attempts while
 * acknowledging none (its count of acknowledged publishes stays where it was).
 */
async function everyMemberRefusesWrites(): Promise<void> {
  const unhealthy = await waitFor(
    async () => {
      const list = await statuses(members);
      return list.every((s) => s.storeHealthy === false) ? list : undefined;
    },
    { timeoutMs: 30_000, message: 'a process still reports a healthy store' },
  );
  const later = await waitFor(
    async () => {
      const list = await statuses(members);
      return list.every((s, i) => Number(s.refusedPublishes) >= Number(unhealthy[i]!.refusedPublishes) + 3)
        ? list
        : undefined;
    },
    { timeoutMs: 30_000, message: 'a process stopped trying to publish' },
  );
  const published = (s: IpcMessage) => (s.metrics as { published: number }).published;
  expect(later.map(published)).toEqual(unhealthy.map(published));
}

describe('chaos: the SQLite file deleted or moved under two processes', () => {
  it('deleted: both processes turn unhealthy and acknowledge nothing more; no process creates a file in its place', async () => {
    const { options } = await fleet();
    for (const suffix of FILES) rmSync(`${file}${suffix}`, { force: true });
    await everyMemberRefusesWrites();
    expect(existsSync(file)).toBe(false);
    // A process joining now is refused instead of starting on a new, empty file.
    const late = spawnMember('late', { ...options, fileMustExist: true });
    expect(await late.exited).not.toBe(0);
    expect(late.stderr()).toContain('STORE_UNAVAILABLE');
    expect(existsSync(file)).toBe(false);
    const acked = audit(members, []).acknowledged.length;
    console.log(`[chaos] ${JSON.stringify({ scenario: 'sqlite file deleted', acknowledgedBefore: acked })}`);
  });

  it('moved away and back: writes are refused meanwhile, then both carry on and nothing acknowledged is lost', async () => {
    await fleet();
    for (const suffix of FILES) renameSync(`${file}${suffix}`, `${file}.moved${suffix}`);
    await everyMemberRefusesWrites();
    for (const suffix of FILES) renameSync(`${file}.moved${suffix}`, `${file}${suffix}`);
    await Promise.all(members.map((m) => m.next('published-all', { timeoutMs: 120_000 })));
    await waitUntilHandled(members);
    const result = audit(members, [{ label: 'file moved away', start: 0, end: Date.now() }]);
    printAudit('sqlite file moved away and back', result);
    expect(result.acknowledged.length).toBe(2 * PER_MEMBER);
    expect(result.lost).toEqual([]);
    expect((await statuses(members)).every((s) => s.storeHealthy === true)).toBe(true);
  });
});
