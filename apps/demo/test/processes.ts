/**
 * Real demo processes for the integration tests: spawned, read until they print their URL,
 * stopped with a signal, their output kept for the assertion messages.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { resolveServiceUrl } from '@evco/testkit';

export const DEMO_DIR = resolve(import.meta.dirname, '..');

export interface RunningProcess {
  child: ChildProcess;
  /** stdout and stderr, line by line, as they came. */
  output: string[];
  /** The exit code (null when killed by a signal) and the signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The output is complete: every process holding the pipes (grandchildren too) has gone. */
  closed: Promise<void>;
  /** Waits for a line matching `pattern` (already printed or to come). */
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
}

export function run(
  command: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; detached?: boolean },
): RunningProcess {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.detached ?? false,
  });
  const output: string[] = [];
  const waiters = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    output.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    for (const w of waiters) w();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveExit) => {
    child.on('exit', (code, signal) => {
      resolveExit({ code, signal });
      for (const w of waiters) w();
    });
  });
  const closed = new Promise<void>((resolveClose) => child.on('close', () => resolveClose()));
  let done = false;
  void exited.then(() => {
    done = true;
  });
  return {
    child,
    output,
    exited,
    closed,
    waitForLine(pattern, timeoutMs) {
      return new Promise((resolveLine, reject) => {
        const check = () => {
          for (const line of output) {
            const m = line.match(pattern);
            if (m) {
              cleanup();
              resolveLine(m);
              return;
            }
          }
          if (done) {
            cleanup();
            reject(new Error(`exited before printing ${pattern}:\n${output.join('\n')}`));
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`no line matching ${pattern} within ${timeoutMs} ms:\n${output.join('\n')}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
  };
}

export interface DemoProcess extends RunningProcess {
  url: string;
}

/** `node --import tsx --conditions=@evco/source src/main.ts` on a free port, once it listens. */
export async function startDemo(env: Record<string, string>): Promise<DemoProcess> {
  const proc = run(process.execPath, ['--import', 'tsx', '--conditions=@evco/source', 'src/main.ts'], {
    cwd: DEMO_DIR,
    env: { PATH: process.env.PATH, HOST: '127.0.0.1', PORT: '0', ...env },
  });
  try {
    const [, url] = await proc.waitForLine(/^evco demo listening on (http:\/\/\S+)$/, 60_000);
    return Object.assign(proc, { url: url! });
  } catch (error) {
    proc.child.kill('SIGKILL');
    throw error;
  }
}

export async function json<T = unknown>(
  url: string,
  init: RequestInit = {},
): Promise<{ status: number; body: T }> {
  const res = await fetch(url, {
    ...init,
    headers: { ...(init.body ? { 'content-type': 'application/json' } : {}), ...init.headers },
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

export function services(): Promise<{ databaseUrl: string; redisUrl: string }> {
  return Promise.all([
    resolveServiceUrl({ envVar: 'EVCO_TEST_DATABASE_URL', what: 'The demo’s Postgres integration' }),
    resolveServiceUrl({ envVar: 'EVCO_TEST_REDIS_URL', what: 'The demo’s Redis integration' }),
  ]).then(([databaseUrl, redisUrl]) => ({ databaseUrl, redisUrl }));
}
