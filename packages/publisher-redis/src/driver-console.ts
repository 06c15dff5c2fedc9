/**
 * ioredis writes a few lines to the console itself, outside any logger: a password the server
 * does not need ("[WARN] … does not require a password", on every connection and reconnection),
 * an ACL user that may not run INFO ("Skipping the ready check…"), AUTH with a username on
 * Redis 5 ("[ERROR] The server returned…"), and "[ioredis] Unhandled error event" for a
 * connection of its own that has no error listener (the sentinel connections of Sentinel's
 * failover detector, retrying a sentinel that is down, are such connections). A process whose
 * stderr is its output (the CLI) or whose log level is `error` or `silent` got them anyway.
 *
 * While a publisher is open, `console.warn` and `console.error` are wrapped: those lines (known
 * by how ioredis starts them) go to the newest open publisher's logger, one line each with
 * credentials masked, at `warn` (`error` for the AUTH one); a line that logger said already is
 * said again at `debug`. Every other console call passes through unchanged. The console is given back when the
 * last publisher closes (unless something wrapped it after us: then ours stays, passing through).
 */
import type { Logger } from '@evco/core';
import { maskSecrets } from '@evco/core/adapter';

type Level = 'warn' | 'error';

const IOREDIS_LINES: ReadonlyArray<{ method: 'warn' | 'error'; start: string; level: Level }> = [
  { method: 'warn', start: '[WARN] Redis server does not require a password', level: 'warn' },
  {
    method: 'warn',
    start: "[WARN] This Redis server's `default` user does not require a password",
    level: 'warn',
  },
  {
    method: 'warn',
    start: '[ERROR] The server returned "wrong number of arguments for \'auth\' command"',
    level: 'error',
  },
  { method: 'warn', start: 'Skipping the ready check because INFO command fails', level: 'warn' },
  { method: 'error', start: '[ioredis] Unhandled error event:', level: 'warn' },
];

/** Lines each logger has said once at their level (bounded: cleared when full). */
const saidBy = new WeakMap<Logger, Set<string>>();
const MAX_SAID = 100;

/** The open publishers' loggers, newest last. */
const loggers: Logger[] = [];
let installed:
  | {
      warn: typeof console.warn;
      error: typeof console.error;
      ours: typeof console.warn;
      oursError: typeof console.error;
    }
  | undefined;

/** Routes ioredis's console lines to `logger` until the returned function is called (idempotent). */
export function routeDriverConsole(logger: Logger): () => void {
  loggers.push(logger);
  if (!installed || console.warn !== installed.ours || console.error !== installed.oursError) install();
  let released = false;
  return () => {
    if (released) return;
    released = true;
    loggers.splice(loggers.lastIndexOf(logger), 1);
    if (loggers.length > 0 || !installed) return;
    if (console.warn === installed.ours) console.warn = installed.warn;
    if (console.error === installed.oursError) console.error = installed.error;
    installed = undefined;
  };
}

function install(): void {
  const warn = console.warn;
  const error = console.error;
  const ours = (...args: unknown[]) => {
    if (!routed('warn', args)) warn.apply(console, args);
  };
  const oursError = (...args: unknown[]) => {
    if (!routed('error', args)) error.apply(console, args);
  };
  console.warn = ours;
  console.error = oursError;
  installed = { warn, error, ours, oursError };
}

function routed(method: 'warn' | 'error', args: unknown[]): boolean {
  const logger = loggers[loggers.length - 1];
  const first = args[0];
  if (!logger || typeof first !== 'string') return false;
  const line = IOREDIS_LINES.find((l) => l.method === method && first.startsWith(l.start));
  if (!line) return false;
  try {
    const text = maskSecrets(describe(first, args.slice(1)));
    const said = saidBy.get(logger) ?? new Set<string>();
    saidBy.set(logger, said);
    const repeated = said.has(text);
    if (!repeated) {
      if (said.size >= MAX_SAID) said.clear();
      said.add(text);
    }
    logger[repeated ? 'debug' : line.level]({ driver: 'ioredis' }, text);
  } catch {
    // A logger that throws must not break the driver's error path: the line is dropped.
  }
  return true;
}

/** One line: the unhandled error's first stack line (its name and message), not its frames. */
function describe(first: string, rest: unknown[]): string {
  if (first.startsWith('[ioredis] Unhandled error event:')) {
    const stack = typeof rest[0] === 'string' ? rest[0] : String(rest[0]);
    return `ioredis: a connection without an error listener failed: ${stack.split('\n')[0]}`;
  }
  return `ioredis: ${[first, ...rest.map(String)].join(' ').replace(/\s*\n\s*/g, ' ')}`;
}
