/**
 * `pnpm demo` runs the server under a chain of processes (pnpm, a shell, maybe pnpm again). A
 * terminal's Ctrl-C reaches the whole chain, but a SIGTERM sent to pnpm alone does not: pnpm
 * exits without forwarding it and the server would keep running, orphaned, holding its port.
 * So when it was started by a package manager, the server watches that chain and shuts down
 * gracefully as soon as a process of it is gone. `node dist/main.js` (no package manager) is
 * left alone: there, signals reach the server itself.
 */
import { readFileSync } from 'node:fs';

const PACKAGE_MANAGER = /(^|\/)(pnpm|npm|yarn|bun)(\.c?js)?$|pnpm\.c?js$/;

/** `/proc/<pid>/stat`'s ppid (Linux); undefined where /proc is not there. */
function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: read after its `)`.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ppid = Number(fields[1]);
    return Number.isInteger(ppid) && ppid > 0 ? ppid : undefined;
  } catch {
    return undefined;
  }
}

function argvOf(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

/**
 * The processes between this one and the outermost package manager that launched it (both
 * included); just the parent where /proc cannot tell.
 */
export function launcherChain(pid = process.pid, ppid = process.ppid): number[] {
  const chain: number[] = [];
  let outermost = -1;
  for (let current: number | undefined = ppid; current && current > 1 && chain.length < 32; ) {
    chain.push(current);
    if (
      argvOf(current)
        .slice(0, 2)
        .some((arg) => PACKAGE_MANAGER.test(arg))
    )
      outermost = chain.length - 1;
    current = parentOf(current);
  }
  if (chain.length === 0 || parentOf(pid) === undefined) return ppid > 1 ? [ppid] : [];
  return outermost >= 0 ? chain.slice(0, outermost + 1) : [ppid];
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Calls `onGone` once when a process of the launcher chain exits (checked every `intervalMs`).
 * Only under a package manager (`npm_lifecycle_event` set); returns a function that stops watching.
 */
export function exitWithLauncher(
  onGone: (pid: number) => void,
  options: { env?: NodeJS.ProcessEnv; intervalMs?: number } = {},
): () => void {
  const env = options.env ?? process.env;
  if (!env.npm_lifecycle_event) return () => {};
  const chain = launcherChain();
  if (chain.length === 0) return () => {};
  const timer = setInterval(() => {
    const gone = chain.find((pid) => !alive(pid)) ?? (process.ppid !== chain[0] ? chain[0] : undefined);
    if (gone !== undefined) {
      clearInterval(timer);
      onGone(gone);
    }
  }, options.intervalMs ?? 250);
  timer.unref();
  return () => clearInterval(timer);
}
