import { IDENTIFIER_PATTERN, parseOptions } from '@evco/core';
import type Database from 'better-sqlite3';
import { z } from 'zod';

export const SOURCE = 'store-sqlite';

/** An open better-sqlite3 connection (named here so declaration files can refer to it). */
export interface SqliteDatabase extends Database.Database {}

/** Duck-typed: another copy of better-sqlite3 in the tree would make `instanceof` lie. */
export function isDatabase(value: unknown): value is SqliteDatabase {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.prepare === 'function' &&
    typeof v.transaction === 'function' &&
    typeof v.pragma === 'function' &&
    typeof v.exec === 'function' &&
    typeof v.open === 'boolean'
  );
}

export const sqliteStoreOptionsSchema = z
  .strictObject({
    /**
     * The database file, created when missing: a path, `:memory:` (one process, gone on close),
     * or a `sqlite:` URL (`sqlite:./data/events.db`, `sqlite:///var/lib/app/events.db`).
     * Give this or `database`.
     */
    filename: z
      .string()
      .min(1, 'must not be empty')
      .max(4096, 'must be at most 4096 characters')
      .refine((f) => !f.includes('\u0000'), 'must not contain a NUL character')
      .optional(),
    /**
     * An open better-sqlite3 `Database` to use instead of opening `filename`. The store switches
     * it to WAL and creates its tables in it; `close()` leaves it open. Give this or `filename`.
     */
    database: z
      .custom<SqliteDatabase>(isDatabase, { message: 'must be an open better-sqlite3 Database' })
      .optional(),
    /**
     * How long a statement waits for another process's write lock before failing with
     * `STORE_UNAVAILABLE`. Not applied to a `database` you pass unless given.
     * @default 5000
     */
    busyTimeoutMs: z.number().int().min(0).max(3_600_000).optional(),
    /**
     * Refuse to create the file: a missing file is `STORE_UNAVAILABLE` instead of a new, empty
     * database. For processes that join a file another one created, so a deleted file is not
     * silently replaced by an empty one. Ignored with `database`.
     * @default false
     */
    fileMustExist: z.boolean().optional(),
    /**
     * `NORMAL`: in WAL mode a crash of the process never loses a commit; a power loss or OS crash
     * may lose the last few. `FULL`: every commit is fsynced (slower). Not applied to a
     * `database` you pass unless given.
     * @default 'NORMAL'
     */
    synchronous: z.enum(['NORMAL', 'FULL']).optional(),
    /**
     * Prefix of every table and index, so several stores (or an app's own tables) can share one
     * file. Must match `^[a-z_][a-z0-9_]{0,40}$`.
     * @default 'evco_'
     */
    tablePrefix: z
      .string()
      .regex(IDENTIFIER_PATTERN, 'must match ^[a-z_][a-z0-9_]{0,40}$ (lower-case letters, digits, _)')
      .optional(),
  })
  .superRefine((o, ctx) => {
    if (o.filename === undefined && o.database === undefined) {
      ctx.addIssue({ code: 'custom', path: ['filename'], message: 'give a filename or an open database' });
    }
    if (o.filename !== undefined && filenameFromUrl(o.filename) === '') {
      ctx.addIssue({ code: 'custom', path: ['filename'], message: 'the sqlite: URL names no file' });
    }
    if (o.filename !== undefined && o.database !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['database'],
        message: 'give a filename or a database, not both',
      });
    }
  });

export type SqliteStoreOptions = z.input<typeof sqliteStoreOptionsSchema>;

export interface ResolvedSqliteOptions {
  /** The path to open, or undefined when the caller passed a database. */
  path: string | undefined;
  database: SqliteDatabase | undefined;
  /** How the file is named in errors and the status view. */
  label: string;
  busyTimeoutMs: number | undefined;
  fileMustExist: boolean;
  synchronous: 'NORMAL' | 'FULL' | undefined;
  tablePrefix: string;
}

export const DEFAULT_BUSY_TIMEOUT_MS = 5000;
export const DEFAULT_SYNCHRONOUS = 'NORMAL';
export const DEFAULT_TABLE_PREFIX = 'evco_';

/** Validates everything before any file is touched; throws `InvalidOptionsError` listing every problem. */
export function resolveSqliteOptions(options: unknown): ResolvedSqliteOptions {
  const o = parseOptions(sqliteStoreOptionsSchema, options, 'SQLite store options', SOURCE);
  const path = o.filename === undefined ? undefined : filenameFromUrl(o.filename);
  const ownFile = path !== undefined;
  return {
    path,
    database: o.database,
    label: path ?? (o.database?.name || 'the given database'),
    busyTimeoutMs: o.busyTimeoutMs ?? (ownFile ? DEFAULT_BUSY_TIMEOUT_MS : undefined),
    fileMustExist: o.fileMustExist ?? false,
    synchronous: o.synchronous ?? (ownFile ? DEFAULT_SYNCHRONOUS : undefined),
    tablePrefix: o.tablePrefix ?? DEFAULT_TABLE_PREFIX,
  };
}

/** `sqlite:./a.db` → `./a.db`, `sqlite:///var/a.db` → `/var/a.db`, `sqlite::memory:` → `:memory:`. */
export function filenameFromUrl(filename: string): string {
  return filename.replace(/^sqlite:(\/\/)?/i, '');
}
