import { type ChildProcess, spawn } from 'node:child_process';
import { dirname } from 'node:path';

/** What a child sends over its IPC channel: an object with a `type`. */
export interface IpcMessage {
  type: string;
  [key: string]: unknown;
}

/** A TypeScript script running in its own Node process, talking over an IPC channel. */
export interface IpcProcess<M extends IpcMessage = IpcMessage> {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Every message received so far, in order. */
  readonly messages: M[];
  send(message: object): void;
  /** The first message of that type (already received or to come) matching `where`. */
  next(
    type: string,
    options?: { timeoutMs?: number | undefined; where?: ((m: M) => boolean) | undefined },
  ): Promise<M>;
  stderr(): string;
  /** Exit code, or the signal's name when killed. */
  readonly exited: Promise<number | string>;
  readonly alive: boolean;
  /** SIGKILL; resolves once it is gone. */
  kill(): Promise<void>;
}

/**
 * Runs `script` (TypeScript, from source: tsx + the `@evco/source` condition) in a child Node
 * process with an IPC channel (`process.send` / `process.on('message')` in the child), for
 * tests where several coordinators must really be separate processes (kill -9, competing
 * consumers, a process that must survive what its handlers throw).
 */
export function spawnIpcProcess<M extends IpcMessage = IpcMessage>(
  script: string,
  options: { env?: Record<string, string> | undefined; cwd?: string | undefined } = {},
): IpcProcess<M> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=@evco/source', script], {
    cwd: options.cwd ?? dirname(script),
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    // Keep the tail only: a long run must not hold every line it ever logged.
    stderr = (stderr + d.toString()).slice(-64 * 1024);
  });
  const messages: M[] = [];
  child.on('message', (m: M) => messages.push(m));
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)),
  );
  let alive = true;
  void exited.then(() => {
    alive = false;
  });
  const proc: IpcProcess<M> = {
    child,
    pid: child.pid!,
    messages,
    get alive() {
      return alive;
    },
    send: (message) => {
      if (alive && child.connected) child.send(message);
    },
    next: async (type, { timeoutMs = 60_000, where } = {}) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = messages.find((m) => m.type === type && (!where || where(m)));
        if (found) return found;
        if (!alive) throw new Error(`${script} exited before sending "${type}"; stderr:\n${stderr}`);
        if (Date.now() > deadline) {
          throw new Error(`no "${type}" message from ${script} within ${timeoutMs} ms; stderr:\n${stderr}`);
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    stderr: () => stderr,
    exited,
    kill: async () => {
      if (alive) child.kill('SIGKILL');
      await exited;
    },
  };
  return proc;
}
