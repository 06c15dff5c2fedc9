import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const packageDir = join(here, '..');

/** A fresh directory under the OS temp dir; `cleanup()` removes it with everything inside. */
export function tempDir(prefix = 'evco-sqlite-'): {
  dir: string;
  file: (name?: string) => string;
  cleanup: () => void;
} {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  // An unprivileged child may run as another user (see `unprivilegedCommand`): let it in.
  chmodSync(dir, 0o777);
  return {
    dir,
    file: (name = 'events.db') => join(dir, name),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface Message {
  type: string;
  [key: string]: unknown;
}

export interface Child {
  process: ChildProcess;
  /** Every JSON line the child printed so far. */
  messages: Message[];
  /** Resolves with the first message of that type (also one already received). */
  next(type: string, timeoutMs?: number): Promise<Message>;
  /** Resolves with the exit code (or the signal name) once the child is gone. */
  exited: Promise<number | string>;
  stderr(): string;
}

/**
 * Runs a TypeScript fixture in its own Node process, from source (tsx + the `@evco/source`
 * condition). The child talks back with one JSON object per stdout line. With `unprivileged`,
 * a root parent starts the child without the capabilities that let root ignore file
 * permissions (see `unprivilegedCommand`), so permission tests mean the same for everyone.
 */
export function runFixture(
  script: string,
  options: { env?: Record<string, string>; unprivileged?: boolean } = {},
): Child {
  const args = ['--import', 'tsx', '--conditions=@evco/source', join(here, 'fixtures', script)];
  const command = options.unprivileged
    ? unprivilegedCommand(process.execPath, args)
    : { file: process.execPath, args, ids: {} };
  const child = spawn(command.file, command.args, {
    cwd: packageDir,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...command.ids,
  });
  const messages: Message[] = [];
  const waiters: Array<{ type: string; resolve: (m: Message) => void }> = [];
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    stdout += chunk;
    let newline = stdout.indexOf('\n');
    while (newline >= 0) {
      const line = stdout.slice(0, newline).trim();
      stdout = stdout.slice(newline + 1);
      newline = stdout.indexOf('\n');
      if (!line.startsWith('{')) continue;
      const message = JSON.parse(line) as Message;
      messages.push(message);
      for (const w of waiters.filter((x) => x.type === message.type)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(message);
      }
    }
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<number | string>((resolve) => {
    child.on('exit', (code, signal) => resolve(code ?? signal ?? -1));
  });
  return {
    process: child,
    messages,
    exited,
    stderr: () => stderr,
    next(type, timeoutMs = 60_000) {
      const seen = messages.find((m) => m.type === type);
      if (seen) return Promise.resolve(seen);
      return new Promise<Message>((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new Error(`no "${type}" message from ${script} within ${timeoutMs} ms; stderr:\n${stderr}`),
            ),
          timeoutMs,
        );
        const fail = (code: number | string) =>
          reject(new Error(`${script} exited (${code}) before sending "${type}"; stderr:\n${stderr}`));
        void exited.then(fail);
        waiters.push({
          type,
          resolve: (m) => {
            clearTimeout(timer);
            resolve(m);
          },
        });
      });
    },
  };
}

const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((f) => existsSync(f));

/**
 * Root ignores file permissions. As root, the child runs as root but without CAP_DAC_OVERRIDE
 * and CAP_DAC_READ_SEARCH (util-linux `setpriv`), so it still reads the repository it runs from
 * while permission bits apply to it; without `setpriv`, it runs as `nobody` instead (the
 * repository must then be readable by everyone). Not root: nothing to drop.
 */
export function unprivilegedCommand(
  file: string,
  args: string[],
): { file: string; args: string[]; ids: { uid?: number; gid?: number } } {
  if (process.getuid?.() !== 0) return { file, args, ids: {} };
  if (SETPRIV) {
    const caps = '-dac_override,-dac_read_search';
    return {
      file: SETPRIV,
      args: ['--bounding-set', caps, '--inh-caps', caps, '--', file, ...args],
      ids: {},
    };
  }
  return { file, args, ids: { uid: 65534, gid: 65534 } };
}
