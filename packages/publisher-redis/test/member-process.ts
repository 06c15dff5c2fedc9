import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

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
}

export interface Member {
  name: string;
  child: ChildProcess;
  messages: Message[];
  stderr: () => string;
  exited: Promise<number | null>;
}

/** Starts a member; `started` collects it so the test's cleanup can kill it whatever happens. */
export function startMember(
  name: string,
  handlers: string[],
  env: Record<string, string>,
  started: Member[],
): Member {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--conditions=@evco/source', join(here, 'fixtures', 'fleet-member.ts')],
    {
      cwd: join(here, '..'),
      env: { ...process.env, ...env, MEMBER: name, HANDLERS: handlers.join(',') },
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    },
  );
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const messages: Message[] = [];
  child.on('message', (m: Message) => messages.push(m));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const member = { name, child, messages, stderr: () => stderr, exited };
  started.push(member);
  return member;
}

/** Kills what is still running of `started` and waits for it. */
export async function killMembers(started: Member[]): Promise<void> {
  for (const m of started.splice(0)) {
    if (m.child.exitCode === null && m.child.signalCode === null) m.child.kill('SIGKILL');
    await m.exited;
  }
}

export const has = (m: Member, type: string) => m.messages.some((x) => x.type === type);
