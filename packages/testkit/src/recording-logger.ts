import type { LogFn, Logger } from '@evco/core';

/** One call of a recording logger: its level, its fields and its message. */
export interface LogEntry {
  level: string;
  msg: string;
  [field: string]: unknown;
}

/**
 * A logger that keeps every entry to assert on: `entries` as given (fields and message), and
 * `lines`, each entry as the JSON line a logger would write (errors as name and message, bigints
 * as strings). `child()` records into the same lists.
 */
export function recordingLogger(): Logger & { entries: LogEntry[]; readonly lines: string[] } {
  const entries: LogEntry[] = [];
  const make = (level: string): LogFn =>
    ((obj: object | string, msg?: string) => {
      entries.push(typeof obj === 'string' ? { level, msg: obj } : { level, ...obj, msg: msg ?? '' });
    }) as LogFn;
  const logger = {
    entries,
    get lines(): string[] {
      return entries.map((entry) =>
        JSON.stringify(entry, (_k, v) =>
          v instanceof Error ? { name: v.name, message: v.message } : typeof v === 'bigint' ? String(v) : v,
        ),
      );
    },
    trace: make('trace'),
    debug: make('debug'),
    info: make('info'),
    warn: make('warn'),
    error: make('error'),
    child: () => logger,
  };
  return logger;
}
