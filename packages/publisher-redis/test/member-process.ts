import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type IpcProcess, spawnIpcProcess } from '@evco/testkit';

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
