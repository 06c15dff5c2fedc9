import { describeError } from './describe-error.js';
import type { LogFn, Logger, LogLevel } from './ports.js';

const LEVELS: Record<LogLevel, number> = {
  trace: 10,
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
  fatal: 60,
  silent: 100,
};

export function parseLogLevel(value: string | undefined, fallback: LogLevel = 'info'): LogLevel {
  const v = value?.trim().toLowerCase();
  return v && v in LEVELS ? (v as LogLevel) : fallback;
}

/**
 * A dependency-free logger writing one JSON line per entry to stderr, in pino's shape
 * (`level`, `time`, `msg`, bindings). Pass a real pino logger in production; this one exists so
 * that `@evco/core` needs no logging dependency. Level from `EVCO_LOG_LEVEL` (default `info`).
 */
export function createConsoleLogger(
  options: {
    level?: LogLevel | undefined;
    bindings?: Record<string, unknown> | undefined;
    write?: ((line: string) => void) | undefined;
  } = {},
): Logger {
  const level = options.level ?? parseLogLevel(process.env.EVCO_LOG_LEVEL);
  const threshold = LEVELS[level];
  const bindings = options.bindings ?? {};
  const write = options.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const make = (name: Exclude<LogLevel, 'silent'>): LogFn => {
    const n = LEVELS[name];
    return ((objOrMsg: object | string, msg?: string) => {
      if (n < threshold) return;
      const entry =
        typeof objOrMsg === 'string'
          ? { level: n, time: Date.now(), ...bindings, msg: objOrMsg }
          : { level: n, time: Date.now(), ...bindings, ...serializeErrors(objOrMsg), msg };
      write(stringifyEntry(entry));
    }) as LogFn;
  };
  return {
    trace: make('trace'),
    debug: make('debug'),
    info: make('info'),
    warn: make('warn'),
    error: make('error'),
    child: (more) => createConsoleLogger({ level, bindings: { ...bindings, ...more }, write }),
    isLevelEnabled: (l: string) => (LEVELS[l as LogLevel] ?? 0) >= threshold,
  };
}

/** A logger that drops everything. */
export const silentLogger: Logger = (() => {
  const noop = (() => {}) as LogFn;
  const logger: Logger = {
    trace: noop,
    debug: noop,
    info: noop,
    warn: noop,
    error: noop,
    child: () => logger,
    isLevelEnabled: () => false,
  };
  return logger;
})();

export function isDebugEnabled(logger: Logger): boolean {
  return logger.isLevelEnabled ? logger.isLevelEnabled('debug') : true;
}

export function childLogger(logger: Logger, bindings: Record<string, unknown>): Logger {
  return logger.child ? logger.child(bindings) : logger;
}

function serializeErrors(obj: object): object {
  try {
    const err = (obj as { err?: unknown }).err;
    if (err instanceof Error) {
      const { code, details } = err as { code?: unknown; details?: unknown };
      return { ...obj, err: { type: err.name, message: err.message, code, details } };
    }
    return { ...obj };
  } catch {
    // A Proxy or a throwing getter among the fields.
    return { fields: describeError(obj) };
  }
}

/** A log call must never throw: fields with a cycle or a throwing getter are described instead. */
function stringifyEntry(entry: Record<string, unknown>): string {
  try {
    return JSON.stringify(entry, jsonSafe);
  } catch {
    const safe: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(entry)) {
      try {
        JSON.stringify(value, jsonSafe);
        safe[key] = value;
      } catch {
        safe[key] = describeError(value);
      }
    }
    return JSON.stringify(safe, jsonSafe);
  }
}

function jsonSafe(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}
