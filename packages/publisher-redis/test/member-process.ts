import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSqliteStore } from '@evco/store-sqlite';
import { type IpcProcess, spawnIpcProcess } from '@evco/testkit';
import { expect } from 'vitest';

/** A fleet member in an OS process of its own (`fixtures/fleet-member.ts`), driven over IPC. */
const here = dirname(fileURLToPath(import.meta.url));

export interface Message {
  type: string;
  member: string;
  id?: string;
  handler?: string;
  at?: number;
  /** On 'stopped': events its subscription received through Redis. */
  received?: number;
  [key: string]: unknown;
}

export interface Member extends IpcProcess<Message> {
  name: string;
}

/** Starts a member; `started` collects it so the test's cleanup can kill it whatever happens. */
export function startMember(
  name: string,
  handlers: string[],
  env: Record<string, string>,
  started: Member[],
): Member {
  const proc = spawnIpcProcess<Message>(join(here, 'fixtures', 'fleet-member.ts'), {
    cwd: join(here, '..'),
    env: { ...env, MEMBER: name, HANDLERS: handlers.join(',') },
  });
  const member = Object.assign(proc, { name });
  started.push(member);
  return member;
}

/** Kills what is still running of `started` and waits for it. */
export async function killMembers(started: Member[]): Promise<void> {
  for (const m of started.splice(0)) await m.kill();
}

export const has = (m: Member, type: string) => m.messages.some((x) => x.type === type);

/**
 * Every event the members reported published (`total` of them) was handled exactly once by
 * each of `handlers`, and the store at `dbFile` has nothing pending, running or dead.
 */
export async function expectEachHandledOnce(
  fleet: Member[],
  handlers: string[],
  total: number,
  dbFile: string,
): Promise<void> {
  const all = fleet.flatMap((m) => m.messages);
  const published = new Set(all.filter((x) => x.type === 'published').map((x) => x.id));
  expect(published.size).toBe(total);
  for (const handler of handlers) {
    const times = new Map<string, number>();
    for (const h of all) {
      if (h.type === 'handled' && h.handler === handler) times.set(h.id!, (times.get(h.id!) ?? 0) + 1);
    }
    expect([...times.keys()].sort(), handler).toEqual([...published].sort());
    expect([...times.values()].filter((n) => n !== 1)).toEqual([]);
  }
  const store = createSqliteStore({ filename: dbFile });
  try {
    const stats = await store.stats({ now: new Date() });
    expect(stats.pending + stats.running + stats.dead).toBe(0);
  } finally {
    await store.close();
  }
}
