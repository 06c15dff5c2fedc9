/**
 * The demo's configuration: environment variables, validated with zod once at start. A bad value
 * fails fast with one line per problem saying what to fix; no value is echoed with its password.
 */
import { isAbsolute, resolve } from 'node:path';
import { maskUrl } from '@evco/core';
import { z } from 'zod';

/** Where the embedded default keeps its events, relative to the working directory. */
export const DEFAULT_SQLITE_FILE = './.evco/demo.db';

export type StoreConfig =
  | { kind: 'sqlite'; filename: string }
  | { kind: 'postgres'; url: string; schema: string };

export type PublisherConfig = { kind: 'inproc' } | { kind: 'redis'; url: string; channelPrefix: string };

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

export interface DemoConfig {
  host: string;
  /** 0 lets the OS pick a free port. */
  port: number;
  store: StoreConfig;
  publisher: PublisherConfig;
  /** Admin routes are off without it. */
  adminToken: string | undefined;
  logLevel: LogLevel;
  /** `auto`: readable lines on a terminal, JSON lines otherwise. */
  logFormat: 'auto' | 'json' | 'pretty';
  /** Largest accepted request body; larger ones get 413. */
  bodyLimitBytes: number;
  /** How long a shutdown waits for in-flight handlers. */
  shutdownTimeoutMs: number;
  /** Simulated latency added to every handler, to watch competing consumers and draining. */
  handlerDelayMs: number;
}

/** Thrown by `loadConfig`: `problems` has one line per bad variable. */
export class ConfigError extends Error {
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Unset and empty are the same: `FOO=` in an env file means "not configured". */
const optional = <T extends z.ZodType>(schema: T) =>
  z.preprocess((v) => (typeof v === 'string' && v.trim() === '' ? undefined : v), schema.optional());

const integer = (min: number, max: number, fallback: number) =>
  optional(
    z
      .string()
      .trim()
      .regex(/^\d+$/, `must be a whole number from ${min} to ${max}`)
      .transform(Number)
      .pipe(z.number().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`)),
  ).transform((v) => v ?? fallback);

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,40}$/;
const CHANNEL_PREFIX = /^[A-Za-z0-9_.:-]{1,100}$/;
const HOST =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|[0-9A-Fa-f:.]+)$/;
const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

const envSchema = z.object({
  HOST: optional(
    z
      .string()
      .trim()
      .max(253)
      .regex(HOST, 'must be a host name or an IP address (e.g. 127.0.0.1, 0.0.0.0, ::)'),
  ),
  PORT: integer(0, 65535, 3000),
  DATABASE_URL: optional(z.string().trim().max(4096)),
  REDIS_URL: optional(z.string().trim().max(4096)),
  EVCO_ADMIN_TOKEN: optional(
    z
      .string()
      .min(16, 'must be at least 16 characters (e.g. `openssl rand -hex 32`)')
      .max(1024, 'must be at most 1024 characters')
      .regex(/^[\x21-\x7e]+$/, 'may only contain printable ASCII without spaces'),
  ),
  EVCO_LOG_LEVEL: optional(
    z
      .string()
      .trim()
      .toLowerCase()
      .pipe(z.enum(LOG_LEVELS, `must be one of ${LOG_LEVELS.join(', ')}`)),
  ),
  EVCO_LOG_FORMAT: optional(
    z
      .string()
      .trim()
      .toLowerCase()
      .pipe(z.enum(['auto', 'json', 'pretty'], 'must be one of auto, json, pretty')),
  ),
  EVCO_DATABASE_SCHEMA: optional(
    z.string().trim().regex(IDENTIFIER, 'must match ^[a-z_][a-z0-9_]{0,40}$ (lower-case letters, digits, _)'),
  ),
  EVCO_REDIS_CHANNEL_PREFIX: optional(
    z.string().trim().regex(CHANNEL_PREFIX, 'must be 1 to 100 characters of A-Z a-z 0-9 _ . : -'),
  ),
  EVCO_BODY_LIMIT_BYTES: integer(1024, 64 * 1024 * 1024, 1024 * 1024),
  EVCO_SHUTDOWN_TIMEOUT_MS: integer(0, 600_000, 10_000),
  EVCO_HANDLER_DELAY_MS: integer(0, 20_000, 0),
});

const SCHEME = /^([a-z][a-z0-9+.-]*):/i;

/**
 * `postgresql://…` → Postgres; `sqlite:…` or a path → SQLite; anything else is a mistake worth
 * stopping for (a `mysql://` URL silently becoming a file named `mysql:` would be no favour).
 */
function parseDatabaseUrl(value: string | undefined, schema: string, problems: string[]): StoreConfig {
  if (value === undefined) return { kind: 'sqlite', filename: DEFAULT_SQLITE_FILE };
  const scheme = SCHEME.exec(value)?.[1]?.toLowerCase();
  if (scheme === 'postgres' || scheme === 'postgresql') {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      problems.push(
        `DATABASE_URL: ${maskUrl(value)} is not a valid URL; expected postgresql://user:password@host:5432/database`,
      );
      return { kind: 'postgres', url: value, schema };
    }
    if (!url.hostname && !url.searchParams.has('host')) {
      problems.push(
        `DATABASE_URL: ${maskUrl(value)} names no host; expected postgresql://user:password@host:5432/database`,
      );
    }
    if (url.port !== '' && !/^\d+$/.test(url.port)) problems.push('DATABASE_URL: the port must be a number');
    return { kind: 'postgres', url: value, schema };
  }
  if (scheme === 'sqlite') {
    const filename = value.replace(/^sqlite:(\/\/)?/i, '');
    if (filename === '')
      problems.push('DATABASE_URL: the sqlite: URL names no file; e.g. sqlite:./.evco/demo.db');
    return { kind: 'sqlite', filename };
  }
  // One letter followed by `:` is a Windows drive, not a scheme.
  if (scheme !== undefined && scheme.length > 1) {
    problems.push(
      `DATABASE_URL: the scheme "${scheme}:" is not supported; use postgresql://…, sqlite:<file> or a file path`,
    );
    return { kind: 'sqlite', filename: DEFAULT_SQLITE_FILE };
  }
  if (value.includes('\u0000')) problems.push('DATABASE_URL: must not contain a NUL character');
  return { kind: 'sqlite', filename: value };
}

function parseRedisUrl(
  value: string | undefined,
  channelPrefix: string,
  problems: string[],
): PublisherConfig {
  if (value === undefined) return { kind: 'inproc' };
  const hint = 'expected redis://[user:password@]host[:port][/db] or rediss://… (TLS)';
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    // reported below
  }
  if (!url || (url.protocol !== 'redis:' && url.protocol !== 'rediss:')) {
    problems.push(`REDIS_URL: ${maskUrl(value)} is not a redis:// URL; ${hint}`);
  } else if (!url.hostname) {
    problems.push(`REDIS_URL: ${maskUrl(value)} names no host; ${hint}`);
  } else if (url.pathname.length > 1 && !/^\/\d{1,2}$/.test(url.pathname)) {
    problems.push(`REDIS_URL: the database "${url.pathname.slice(1)}" must be a number; ${hint}`);
  }
  return { kind: 'redis', url: value, channelPrefix };
}

/**
 * Reads the configuration from `env` (normally `process.env`). Throws `ConfigError` listing
 * every problem.
 */
export function loadConfig(env: Record<string, string | undefined>): DemoConfig {
  const problems: string[] = [];
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const name = String(issue.path[0] ?? '(environment)');
      // Secrets never go into a message; the other values help to see the typo.
      const raw = env[name];
      const shown =
        name === 'EVCO_ADMIN_TOKEN' || raw === undefined ? '' : ` (got "${maskUrl(raw).slice(0, 80)}")`;
      problems.push(`${name}: ${issue.message}${shown}`);
    }
  }
  const e = parsed.success ? parsed.data : undefined;
  const store = parseDatabaseUrl(
    e ? e.DATABASE_URL : emptyToUndefined(env.DATABASE_URL),
    e?.EVCO_DATABASE_SCHEMA ?? 'evco',
    problems,
  );
  const publisher = parseRedisUrl(
    e ? e.REDIS_URL : emptyToUndefined(env.REDIS_URL),
    e?.EVCO_REDIS_CHANNEL_PREFIX ?? 'evco',
    problems,
  );
  if (problems.length > 0 || !e) throw new ConfigError(problems);
  return {
    host: e.HOST ?? '127.0.0.1',
    port: e.PORT,
    store,
    publisher,
    adminToken: e.EVCO_ADMIN_TOKEN,
    logLevel: e.EVCO_LOG_LEVEL ?? 'info',
    logFormat: e.EVCO_LOG_FORMAT ?? 'auto',
    bodyLimitBytes: e.EVCO_BODY_LIMIT_BYTES,
    shutdownTimeoutMs: e.EVCO_SHUTDOWN_TIMEOUT_MS,
    handlerDelayMs: e.EVCO_HANDLER_DELAY_MS,
  };
}

function emptyToUndefined(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

/** What the demo runs on, fit for a log line or the status view: passwords masked. */
export function describeConfig(config: DemoConfig): {
  store: { kind: string; location: string; schema?: string };
  publisher: { kind: string; location: string; channelPrefix?: string };
  adminRoutes: 'on' | 'off';
} {
  const store =
    config.store.kind === 'sqlite'
      ? {
          kind: 'sqlite',
          location:
            config.store.filename === ':memory:' || isAbsolute(config.store.filename)
              ? config.store.filename
              : resolve(config.store.filename),
        }
      : { kind: 'postgres', location: maskUrl(config.store.url), schema: config.store.schema };
  const publisher =
    config.publisher.kind === 'inproc'
      ? { kind: 'inproc', location: 'this process only' }
      : {
          kind: 'redis',
          location: maskUrl(config.publisher.url),
          channelPrefix: config.publisher.channelPrefix,
        };
  return { store, publisher, adminRoutes: config.adminToken ? 'on' : 'off' };
}
