import { IDENTIFIER_PATTERN, parseOptions } from '@evco/core';
import type { Pool } from 'pg';
import { z } from 'zod';

export const SOURCE = 'store-postgres';

const isPool = (value: unknown): value is Pool =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as Pool).query === 'function' &&
  typeof (value as Pool).connect === 'function';

export const postgresStoreOptionsSchema = z
  .strictObject({
    /** `postgresql://user:password@host:5432/db`. Give this or `pool`. */
    connectionString: z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'must start with postgresql:// or postgres://')
      .optional(),
    /** A `pg.Pool` you own: the store uses it and never closes it. Give this or `connectionString`. */
    pool: z.custom<Pool>(isPool, { message: 'must be a pg.Pool' }).optional(),
    /** Schema holding the store's tables, created by `migrate()`. @default 'evco' */
    schema: z
      .string()
      .regex(IDENTIFIER_PATTERN, 'must match ^[a-z_][a-z0-9_]{0,40}$ (lower-case letters, digits, _)')
      .default('evco'),
    /** Connections in the pool the store creates (ignored with `pool`). @default 10 */
    poolSize: z.number().int().min(1).max(1000).default(10),
    /** Server-side limit per statement on the pool the store creates; 0 disables it. @default 30000 */
    statementTimeoutMs: z.number().int().min(0).max(86_400_000).default(30_000),
    /** How long to wait for a connection before failing with STORE_UNAVAILABLE. @default 10000 */
    connectionTimeoutMs: z.number().int().min(1).max(600_000).default(10_000),
    /** `application_name` of the store's connections (shows in `pg_stat_activity`). @default 'evco' */
    applicationName: z.string().min(1).max(63).default('evco'),
    /**
     * A history read or a claim that finds committed events not yet settled (a transaction
     * that started earlier is still running somewhere in the cluster) waits up to this long for
     * them to settle, so a read right after an append sees it. Past it, the read returns only
     * settled events and the rest show up on the next read. @default 2000
     */
    settleTimeoutMs: z.number().int().min(0).max(60_000).default(2000),
    /**
     * Appends send a Postgres NOTIFY (at commit) and `onAppended` listens for them (the
     * coordinator wakes its dispatcher on each): a doorbell for fleets without Redis. Off by
     * default: it costs every append a little and holds one connection, and correctness never
     * depends on it. @default false
     */
    notify: z.boolean().default(false),
    /**
     * Use named (server-side prepared) statements: each statement is parsed and planned once
     * per connection. Unset: on, except behind a transaction pooler (see `pooler`), where
     * PgBouncer before 1.21 (or with `max_prepared_statements = 0`) cannot keep them. Set it
     * to `true` behind a PgBouncer that tracks prepared statements. @default on unless pooled
     */
    preparedStatements: z.boolean().optional(),
    /**
     * What sits between the store and Postgres. `'auto'` finds out on the first connection of
     * the pool the store creates: a pooler that refuses or drops the store's startup
     * parameters (PgBouncer does one or the other) is taken for a transaction pooler.
     * `'transaction'`: a transaction-mode pooler (PgBouncer `pool_mode = transaction`); the
     * store sends no session settings (so `statementTimeoutMs` is not applied: set
     * `statement_timeout` on the role instead), uses unnamed statements unless
     * `preparedStatements: true`, and listens for `notify` on `listenConnectionString`.
     * `'none'`: a direct connection or a session pooler, no check. With a `pool` you pass,
     * `'auto'` cannot look at startup parameters and means `'none'`. @default 'auto'
     */
    pooler: z.enum(['auto', 'none', 'transaction']).default('auto'),
    /**
     * A direct (or session-pooled) connection used only to LISTEN when `notify` is on: a
     * transaction pooler hands each transaction to any server connection, so a LISTEN through
     * it hears nothing. Required with `notify` behind a transaction pooler. @default the pool
     */
    listenConnectionString: z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'must start with postgresql:// or postgres://')
      .optional(),
  })
  .superRefine((o, ctx) => {
    if ((o.connectionString === undefined) === (o.pool === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['connectionString'],
        message: 'give exactly one of connectionString and pool',
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

/** Why `notify` needs `listenConnectionString` behind a transaction pooler (also a runtime error). */
export const LISTEN_NEEDS_DIRECT_CONNECTION =
  'notify: true needs LISTEN on a session of its own, which a transaction pooler cannot keep: ' +
  'set listenConnectionString to a direct connection to Postgres (or notify: false)';

export type PostgresStoreOptions = z.input<typeof postgresStoreOptionsSchema>;
export type ResolvedPostgresStoreOptions = z.output<typeof postgresStoreOptionsSchema>;

/** Validates everything before any connection is made; throws `InvalidOptionsError` listing every problem. */
export function resolvePostgresStoreOptions(options: PostgresStoreOptions): ResolvedPostgresStoreOptions {
  return parseOptions(postgresStoreOptionsSchema, options, 'postgres store options', SOURCE);
}
