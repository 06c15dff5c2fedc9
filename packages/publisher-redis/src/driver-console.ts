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
 *
 * A closed publisher keeps its route for `graceMs` more (default 2 s, on an unref'd timer, so it
 * never holds a process open): ioredis's connections finish closing after `close()` resolves, and a
 * sentinel connection torn down mid-handshake then reports an error of its own (CI, 29 November:
 * '[ioredis] Unhandled error event: … tlsv1 alert decode error' on the CLI's stderr after its
 * publisher closed). Lines routed to a closing publisher's logger are its teardown, said at `debug`.
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

/** See the module's comment. */
export const CLOSING_GRACE_MS = 2_000;

/** The open (and closing, for their grace) publishers' loggers, newest last. */
const loggers: Array<{ logger: Logger; closing: boolean }> = [];
let installed:
  | {
      warn: typeof console.warn;
      error: typeof console.error;
      ours: typeof console.warn;
      oursError: typeof console.error;
    }
  | undefined;

/** Routes ioredis's console lines to `logger` until the returned function is called (idempotent). */
export function routeDriverConsole(logger: Logger, graceMs = CLOSING_GRACE_MS): () => void {
  const route = { logger, closing: false };
  loggers.push(route);
  if (!installed || console.warn !== installed.ours || console.error !== installed.oursError) install();
  let released = false;
  const unroute = () => {
    loggers.splice(loggers.indexOf(route), 1);
    if (loggers.length > 0 || !installed) return;
    if (console.warn === installed.ours) console.warn = installed.warn;
    if (console.error === installed.oursError) console.error = installed.error;
    installed = undefined;
  };
  return () => {
    if (released) return;
    released = true;
    route.closing = true;
    if (graceMs <= 0) unroute();
    else setTimeout(unroute, graceMs).unref();
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
  // The newest open route, else the newest closing one.
  const route = loggers.findLast((r) => !r.closing) ?? loggers[loggers.length - 1];
  const first = args[0];
  if (!route || typeof first !== 'string') return false;
  const logger = route.logger;
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
    logger[repeated || route.closing ? 'debug' : line.level]({ driver: 'ioredis' }, text);
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
