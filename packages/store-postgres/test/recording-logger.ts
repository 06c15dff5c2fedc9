import type { LogFn, Logger } from '@evco/core';

export interface LogEntry {
  level: string;
  msg: string;
  [field: string]: unknown;
}

/** A logger keeping every entry (fields and message) to assert on. */
export function recordingLogger(): Logger & { entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const make = (level: string): LogFn =>
    ((obj: object | string, msg?: string) => {
      entries.push(typeof obj === 'string' ? { level, msg: obj } : { level, ...obj, msg: msg ?? '' });
    }) as LogFn;
  const logger = {
    entries,
    trace: make('trace'),
    debug: make('debug'),
    info: make('info'),
    warn: make('warn'),
    error: make('error'),
    child: () => logger,
  };
  return logger;
}
