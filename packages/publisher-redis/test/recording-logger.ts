import type { LogFn, Logger } from '@evco/core';

/** A logger that keeps every entry as one JSON line, to assert on what would be written. */
export function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const make = (level: string): LogFn =>
    ((obj: object | string, msg?: string) => {
      const entry = typeof obj === 'string' ? { level, msg: obj } : { level, ...obj, msg };
      lines.push(
        JSON.stringify(entry, (_k, v) =>
          v instanceof Error ? { name: v.name, message: v.message } : typeof v === 'bigint' ? String(v) : v,
        ),
      );
    }) as LogFn;
  const logger = {
    lines,
    trace: make('trace'),
    debug: make('debug'),
    info: make('info'),
    warn: make('warn'),
    error: make('error'),
    child: () => logger,
  };
  return logger;
}
