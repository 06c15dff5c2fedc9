/**
 * A readable rendering of pino's JSON lines for a terminal (`EVCO_LOG_FORMAT=pretty`, the
 * default when stdout is a TTY): `12:00:01.234 INFO  coordinator started store=sqlite …`.
 * Machines (log shippers, tests) get the JSON lines untouched.
 */
import { Writable } from 'node:stream';

const LEVELS: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO ',
  40: 'WARN ',
  50: 'ERROR',
  60: 'FATAL',
};
const COLORS: Record<number, string> = { 10: '90', 20: '90', 30: '36', 40: '33', 50: '31', 60: '35' };
/** Always there, never informative on a terminal. */
const HIDDEN = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'service', 'coordinator']);

function value(v: unknown): string {
  if (typeof v === 'string') return /\s/.test(v) ? JSON.stringify(v) : v;
  return JSON.stringify(v);
}

export function formatLine(line: string, color: boolean): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const level = typeof entry.level === 'number' ? entry.level : 30;
  const time = new Date(typeof entry.time === 'number' ? entry.time : Date.now()).toISOString().slice(11, 23);
  const name = LEVELS[level] ?? String(level);
  const tag = color ? `\u001b[${COLORS[level] ?? '0'}m${name}\u001b[0m` : name;
  const parts = [`${time} ${tag} ${String(entry.msg ?? '')}`];
  for (const [k, v] of Object.entries(entry)) {
    if (HIDDEN.has(k) || v === undefined) continue;
    if (k === 'err' && typeof v === 'object' && v !== null) {
      const err = v as { type?: string; message?: string; stack?: string };
      parts.push(`err=${value(`${err.type ?? 'Error'}: ${err.message ?? ''}`)}`);
      if (level >= 50 && err.stack) parts.push(`\n${err.stack}`);
      continue;
    }
    parts.push(`${k}=${value(v)}`);
  }
  return parts.join(' ');
}

/** A stream for pino that writes each JSON line to `out` as one readable line. */
export function prettyStream(out: NodeJS.WritableStream & { isTTY?: boolean } = process.stdout): Writable {
  const color = out.isTTY === true && !process.env.NO_COLOR;
  let pending = '';
  return new Writable({
    write(chunk, _encoding, done) {
      pending += String(chunk);
      let nl = pending.indexOf('\n');
      while (nl >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (line) out.write(`${formatLine(line, color)}\n`);
        nl = pending.indexOf('\n');
      }
      done();
    },
  });
}
