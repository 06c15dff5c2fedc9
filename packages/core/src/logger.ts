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
  options: { level?: LogLevel; bindings?: Record<string, unknown>; write?: (line: string) => void } = {},
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
      write(JSON.stringify(entry, jsonSafe));
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
  const err = (obj as { err?: unknown }).err;
  if (err instanceof Error) {
    return { ...obj, err: { type: err.name, message: err.message, code: (err as { code?: unknown }).code } };
  }
  return obj;
}

function jsonSafe(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}
