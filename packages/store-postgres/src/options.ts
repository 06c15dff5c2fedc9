import {
  IDENTIFIER_PATTERN,
  InvalidOptionsError,
  type Logger,
  maskUrl,
  type OptionsMatchSchema,
  parseOptions,
  parsesAsPostgresUrl,
} from '@evco/core/adapter';
import type { Pool } from 'pg';
import { z } from 'zod';

export const SOURCE = 'store-postgres';

const isPool = (value: unknown): value is Pool =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as Pool).query === 'function' &&
  typeof (value as Pool).connect === 'function';

/** Every default, once: applied by the schema, documented on `PostgresStoreOptions`. */
export const DEFAULTS = {
  schema: 'evco',
  poolSize: 10,
  statementTimeoutMs: 30_000,
  connectionTimeoutMs: 10_000,
  connectionMaxLifetimeMs: 600_000,
  applicationName: 'evco',
  settleTimeoutMs: 2000,
  notify: false,
  pooler: 'auto',
  asyncCommit: 'none',
  coalesceAppends: false,
} as const;

const POSTGRES_URL = /^postgres(ql)?:\/\//;
/**
 * A URL that does not parse (a port that is not a number or above 65535, a space) is refused
 * here: pg would only fail at the first connection, as "Invalid URL". The message never
 * repeats the value (it may hold a password).
 */
const postgresUrl = z
  .string()
  .regex(POSTGRES_URL, 'must start with postgresql:// or postgres://')
  // Only once the scheme is right: one problem per mistake.
  .refine((value) => !POSTGRES_URL.test(value) || parsesAsPostgresUrl(value), {
    message: 'is not a valid URL (check the port, and percent-encode special characters in the password)',
  });

/**
 * Validates `PostgresStoreOptions` and applies `DEFAULTS` (see core's options.ts for the
 * convention: the documented interface is what users hover, the schema is checked against it).
 */
export const postgresStoreOptionsSchema = z
  .strictObject({
    connectionString: postgresUrl.optional(),
    pool: z.custom<Pool>(isPool, { message: 'must be a pg.Pool' }).optional(),
    schema: z
      .string()
      .regex(IDENTIFIER_PATTERN, 'must match ^[a-z_][a-z0-9_]{0,40}$ (lower-case letters, digits, _)')
      .default(DEFAULTS.schema),
    poolSize: z.number().int().min(1).max(1000).default(DEFAULTS.poolSize),
    statementTimeoutMs: z.number().int().min(0).max(86_400_000).default(DEFAULTS.statementTimeoutMs),
    connectionTimeoutMs: z.number().int().min(1).max(600_000).default(DEFAULTS.connectionTimeoutMs),
    connectionMaxLifetimeMs: z
      .number()
      .int()
      .min(0)
      .max(86_400_000)
      .default(DEFAULTS.connectionMaxLifetimeMs),
    applicationName: z.string().min(1).max(63).default(DEFAULTS.applicationName),
    settleTimeoutMs: z.number().int().min(0).max(60_000).default(DEFAULTS.settleTimeoutMs),
    notify: z.boolean().default(DEFAULTS.notify),
    preparedStatements: z.boolean().optional(),
    pooler: z.enum(['auto', 'none', 'transaction']).default(DEFAULTS.pooler),
    listenConnectionString: postgresUrl.optional(),
    asyncCommit: z.enum(['none', 'leases']).default(DEFAULTS.asyncCommit),
    coalesceAppends: z.boolean().default(DEFAULTS.coalesceAppends),
    logger: z
      .custom<Logger>(
        (v) =>
          typeof v === 'object' &&
          v !== null &&
          ['debug', 'info', 'warn', 'error'].every(
            (m) => typeof (v as Record<string, unknown>)[m] === 'function',
          ),
        { message: 'must implement debug, info, warn, error' },
      )
      .optional(),
  })
  .superRefine((o, ctx) => {
    if ((o.connectionString === undefined) === (o.pool === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['connectionString'],
        message:
          o.pool === undefined
            ? // The usual cause is `connectionString: process.env.DATABASE_URL` with the variable unset.
              'give connectionString or pool; neither is set (an undefined connectionString, say from an unset DATABASE_URL, counts as not set)'
            : 'give exactly one of connectionString and pool',
      });
    }
    if (o.notify && o.pooler === 'transaction' && o.listenConnectionString === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['listenConnectionString'],
        message: LISTEN_NEEDS_DIRECT_CONNECTION,
      });
    }
  });

export interface PostgresStoreOptions {
  /** `postgresql://user:password@host:5432/db`. Give this or `pool`. */
  connectionString?: string | undefined;
  /** A `pg.Pool` you own: the store uses it and never closes it. Give this or `connectionString`. */
  pool?: Pool | undefined;
  /** Schema holding the store's tables, created by `migrate()`. @default 'evco' */
  schema?: string | undefined;
  /** Connections in the pool the store creates (ignored with `pool`). @default 10 */
  poolSize?: number | undefined;
  /** Server-side limit per statement on the pool the store creates; 0 disables it. @default 30000 */
  statementTimeoutMs?: number | undefined;
  /** How long to wait for a connection before failing with STORE_UNAVAILABLE. @default 10000 */
  connectionTimeoutMs?: number | undefined;
  /**
   * Connections of the pool the store creates are replaced after this long (once idle), so the
   * plans they prepared are made again. A statement's plan is made on a connection's first use
   * and kept until its tables are analyzed: with autovacuum off, a connection that lived through
   * the tables' growth keeps plans made for small tables (claims then scan the backlog).
   * 0 keeps connections for good. @default 600000
   */
  connectionMaxLifetimeMs?: number | undefined;
  /** `application_name` of the store's connections (shows in `pg_stat_activity`). @default 'evco' */
  applicationName?: string | undefined;
  /**
   * A history read or a claim that finds committed events not yet settled (a transaction
   * that started earlier is still running somewhere in the cluster) waits up to this long for
   * them to settle, so a read right after an append sees it. Past it, the read returns only
   * settled events and the rest show up on the next read. @default 2000
   */
  settleTimeoutMs?: number | undefined;
  /**
   * Appends send a Postgres NOTIFY (at commit) and `onAppended` listens for them (the
   * coordinator wakes its dispatcher on each): a doorbell for fleets without Redis. Off by
   * default: it costs every append a little and holds one connection, and correctness never
   * depends on it. @default false
   */
  notify?: boolean | undefined;
  /**
   * Use named (server-side prepared) statements: each statement is parsed (and, with generic
   * plans, planned) once per connection. Unset: on for a direct connection; behind a transaction
   * pooler (see `pooler`) the store checks once, with one named statement, whether the pooler
   * keeps them (PgBouncer 1.21+ with `max_prepared_statements > 0`, 200 by default since 1.22,
   * renames them on the server) and uses named statements if it does, unnamed ones if it passes
   * them through (PgBouncer before 1.21, or `max_prepared_statements = 0`); it logs what it found
   * at info, and `healthCheck().details` says which and why. `false`: always unnamed. `true`:
   * always named; behind a pooler that does not keep them, the store's first call fails with
   * `TRANSACTION_POOLER` naming this option. @default on, behind a pooler on if it keeps them
   */
  preparedStatements?: boolean | undefined;
  /**
   * What sits between the store and Postgres. `'auto'` finds out on the first connection of
   * the pool the store creates: a pooler that refuses or drops the store's startup
   * parameters (PgBouncer does one or the other) is taken for a transaction pooler.
   * `'transaction'`: a transaction-mode pooler (PgBouncer `pool_mode = transaction`); the
   * store sends no session settings (so `statementTimeoutMs` is not applied: set
   * `statement_timeout` on the role instead), uses named statements only where the pooler keeps
   * them (see `preparedStatements`), and listens for `notify` on `listenConnectionString`.
   * `'none'`: a direct connection or a session pooler, no check. With a `pool` you pass,
   * `'auto'` cannot look at startup parameters and means `'none'`. @default 'auto'
   */
  pooler?: 'auto' | 'none' | 'transaction' | undefined;
  /**
   * A direct (or session-pooled) connection used only to LISTEN when `notify` is on: a
   * transaction pooler hands each transaction to any server connection, so a LISTEN through
   * it hears nothing. Required with `notify` behind a transaction pooler. @default the pool
   */
  listenConnectionString?: string | undefined;
  /**
   * Which writes may commit without waiting for their WAL flush (Postgres
   * `synchronous_commit = off` for that transaction only). `'leases'`: claims, completions,
   * failures and releases — they only move leases, so losing the last few hundred
   * milliseconds of them in a Postgres crash (or a failover to an asynchronous standby) means
   * those deliveries run again, which at-least-once allows; a delivery's handler then starts
   * one WAL flush sooner after its publish, and the server spends no flush on them. Appends and
   * `appendWithin` always wait: an acknowledged publish survives a crash. `'none'`: every
   * write waits for its flush, so a crash makes nothing run again that had been recorded as
   * done. Needs an `@evco/core` that passes lease ids back (0.2 and later). @default 'none'
   */
  asyncCommit?: 'none' | 'leases' | undefined;
  /**
   * Group commit for appends through the pool (not `appendWithin`): while earlier appends are
   * in flight, later ones wait and then go together as one statement, one transaction (each
   * caller's events contiguous and in order, each caller getting its own results). A lone
   * append goes at once. Should the shared statement fail on a constraint or a bad value
   * (SQLSTATE class 22 or 23: nothing was written), each caller's append runs again on its
   * own, so only the offending one fails; any other failure (connection lost, timeout) fails
   * every caller of the statement, never retried. The price is head-of-line waiting: an append
   * whose statement waits (on a lock: another transaction holding the same aggregate version, a
   * slow disk) holds every append of this store queued behind it, and a timeout of the shared
   * statement fails all of its callers. Off, each append has its own statement and connection.
   * Worth it for many concurrent publishers of independent events. @default false
   */
  coalesceAppends?: boolean | undefined;
  /**
   * pino-compatible. The store logs once, at info, what it found behind a transaction pooler
   * (named statements kept or not). @default the evco console logger at EVCO_LOG_LEVEL (info)
   */
  logger?: Logger | undefined;
}
true satisfies OptionsMatchSchema<PostgresStoreOptions, typeof postgresStoreOptionsSchema>;

/** Why `notify` needs `listenConnectionString` behind a transaction pooler (also a runtime error). */
export const LISTEN_NEEDS_DIRECT_CONNECTION =
  'notify: true needs LISTEN on a session of its own, which a transaction pooler cannot keep: ' +
  'set listenConnectionString to a direct connection to Postgres (or notify: false)';

export type ResolvedPostgresStoreOptions = z.output<typeof postgresStoreOptionsSchema>;

/** Validates everything before any connection is made; throws `InvalidOptionsError` listing every problem. */
export function resolvePostgresStoreOptions(options: PostgresStoreOptions): ResolvedPostgresStoreOptions {
  // A bare connection string (`createPostgresStore('postgres://…')`) is a common first try: say
  // what to write, with the URL's password masked, rather than "expected object, received string".
  // A string that is no postgres URL is not echoed: it could be anything, a password included.
  if (typeof options === 'string') {
    const url = POSTGRES_URL.test(options) ? maskUrl(options) : 'postgresql://user:password@host:5432/db';
    const message = `expected an options object, received a string: pass { connectionString: ${JSON.stringify(url)} }`;
    throw new InvalidOptionsError('postgres store options', [{ path: '', message }], { source: SOURCE });
  }
  return parseOptions(postgresStoreOptionsSchema, options, 'postgres store options', SOURCE);
}
