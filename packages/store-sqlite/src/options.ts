import {
  IDENTIFIER_PATTERN,
  InvalidOptionsError,
  type OptionsMatchSchema,
  parseOptions,
} from '@evco/core/adapter';
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

/**
 * Every default, once: applied by the schema (or, for those that only apply to a file the
 * store opens itself, by `resolveSqliteOptions`), documented on `SqliteStoreOptions`.
 */
export const DEFAULTS = {
  busyTimeoutMs: 5000,
  fileMustExist: false,
  synchronous: 'NORMAL',
  tempStore: 'MEMORY',
  tablePrefix: 'evco_',
  periodEvents: 200_000,
  pruneThread: 'worker',
} as const;

/**
 * Validates `SqliteStoreOptions` (see core's options.ts for the convention: the documented
 * interface is what users hover, the schema is checked against it).
 */
export const sqliteStoreOptionsSchema = z
  .strictObject({
    filename: z
      .string()
      .min(1, 'must not be empty')
      .max(4096, 'must be at most 4096 characters')
      .refine((f) => !f.includes('\u0000'), 'must not contain a NUL character')
      .optional(),
    database: z
      .custom<SqliteDatabase>(isDatabase, { message: 'must be an open better-sqlite3 Database' })
      .optional(),
    // No schema default: not applied to a `database` you pass unless given.
    busyTimeoutMs: z.number().int().min(0).max(3_600_000).optional(),
    fileMustExist: z.boolean().default(DEFAULTS.fileMustExist),
    // No schema default: not applied to a `database` you pass unless given.
    synchronous: z.enum(['NORMAL', 'FULL']).optional(),
    // No schema default: not applied to a `database` you pass unless given.
    tempStore: z.enum(['MEMORY', 'FILE']).optional(),
    tablePrefix: z
      .string()
      .regex(IDENTIFIER_PATTERN, 'must match ^[a-z_][a-z0-9_]{0,40}$ (lower-case letters, digits, _)')
      .default(DEFAULTS.tablePrefix),
    periodEvents: z
      .number()
      .int('must be an integer')
      .min(1, 'must be at least 1')
      .max(100_000_000, 'must be at most 100 000 000')
      .default(DEFAULTS.periodEvents),
    // No schema default: `'worker'` only applies to a file the store opens by name.
    pruneThread: z.enum(['worker', 'inline']).optional(),
  })
  .superRefine((o, ctx) => {
    if (o.filename === undefined && o.database === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['filename'],
        message:
          'give a filename or an open database; neither is set (an undefined filename, say from an unset environment variable, counts as not set)',
      });
    }
    if (o.filename !== undefined && filenameFromUrl(o.filename) === '') {
      ctx.addIssue({ code: 'custom', path: ['filename'], message: 'the sqlite: URL names no file' });
    }
    if (o.pruneThread === 'worker' && (o.database !== undefined || isMemory(o.filename))) {
      ctx.addIssue({
        code: 'custom',
        path: ['pruneThread'],
        message:
          "'worker' needs a file the store opens by name (the worker opens a connection of its own to it); not ':memory:' or a database passed in",
      });
    }
    if (o.filename !== undefined && o.database !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['database'],
        message: 'give a filename or a database, not both',
      });
    }
  });

export interface SqliteStoreOptions {
  /**
   * The database file, created when missing: a path, `:memory:` (one process, gone on close),
   * or a `sqlite:` URL (`sqlite:./data/events.db`, `sqlite:///var/lib/app/events.db`).
   * Give this or `database`.
   */
  filename?: string | undefined;
  /**
   * An open better-sqlite3 `Database` to use instead of opening `filename`. The store switches
   * it to WAL and creates its tables in it; `close()` leaves it open. Give this or `filename`.
   */
  database?: SqliteDatabase | undefined;
  /**
   * How long a statement waits for another process's write lock before failing with
   * `STORE_UNAVAILABLE`. Not applied to a `database` you pass unless given.
   * @default 5000
   */
  busyTimeoutMs?: number | undefined;
  /**
   * Refuse to create the file: a missing file is `STORE_UNAVAILABLE` instead of a new, empty
   * database. For processes that join a file another one created, so a deleted file is not
   * silently replaced by an empty one. Ignored with `database`.
   * @default false
   */
  fileMustExist?: boolean | undefined;
  /**
   * `NORMAL`: in WAL mode a crash of the process never loses a commit; a power loss or OS crash
   * may lose the last few. `FULL`: every commit is fsynced (slower). Not applied to a
   * `database` you pass unless given.
   * @default 'NORMAL'
   */
  synchronous?: 'NORMAL' | 'FULL' | undefined;
  /**
   * Where SQLite keeps a statement's temporary data (`PRAGMA temp_store`): above all the
   * statement journal of a write that changes many rows inside a transaction (a prune batch),
   * which holds the first version of each page the statement changes, and temporary sort
   * tables. `MEMORY`: no temporary file; a prune batch holds one copy of each page it changes
   * for its duration (about 1.5 MB per 1 000 events in the bench's data, up to about 5 MB when
   * their index entries are scattered), and pruning costs less CPU per event (at 1 M events,
   * 3–13 % less with the bench's data, 15–24 % with scattered aggregates). `FILE`: SQLite's
   * build default, a temporary file once a journal passes 64 KiB (its writes are system calls,
   * not disk I/O, until the OS flushes them). Setting it drops the connection's temporary
   * tables, so it is not applied to a `database` you pass unless given.
   * @default 'MEMORY'
   */
  tempStore?: 'MEMORY' | 'FILE' | undefined;
  /**
   * Prefix of every table and index, so several stores (or an app's own tables) can share one
   * file. Must match `^[a-z_][a-z0-9_]{0,40}$`.
   * @default 'evco_'
   */
  tablePrefix?: string | undefined;
  /**
   * Events per period table. Events are kept in tables of consecutive positions
   * (`{prefix}events_<n>`); appends go to the newest, and a new one is started once it holds
   * this many. Retention moves a watermark over the oldest events and drops a period once the
   * watermark has passed it, instead of deleting its events one by one. A period's `DROP` stalls
   * every writer of the file while it runs (about 35 ms for 200 000 events measured), and every
   * read visits the periods its range covers (about 130 000 instructions each), so: fewer, larger
   * periods for reads, smaller ones for shorter stalls. Each process uses its own value when it
   * starts a period; periods already written keep their size.
   * @default 200000
   */
  periodEvents?: number | undefined;
  /**
   * Where `pruneEvents` without an archive (retention's batches, an operator's prune) runs.
   * `'worker'`: in a worker thread the store starts on the first such batch, with a connection
   * of its own to the file (a second connection, one thread, both ended by `close()`), so the
   * batch's statements run off the application's thread and its appends, claims and timers go
   * on meanwhile; they share SQLite's one write lock with the worker's short removal
   * transactions. `'inline'`: on the application's thread, in one write transaction per batch.
   * Batches with an archive hook run on the application's thread either way (the hook is the
   * application's function). Only a file opened by name can have a worker.
   * @default 'worker' for a file opened by name, 'inline' for ':memory:' or a database passed in
   */
  pruneThread?: 'worker' | 'inline' | undefined;
}
true satisfies OptionsMatchSchema<SqliteStoreOptions, typeof sqliteStoreOptionsSchema>;

/** The schema's output with the file resolved (and its file-only defaults applied). */
export type ResolvedSqliteOptions = Omit<
  z.output<typeof sqliteStoreOptionsSchema>,
  'filename' | 'pruneThread'
> & {
  /** Where a batch without an archive runs, resolved (`'worker'` only for a file opened by name). */
  pruneThread: 'worker' | 'inline';
  /** The path to open, or undefined when the caller passed a database. */
  path: string | undefined;
  /** How the file is named in errors and the status view. */
  label: string;
};

/**
 * Options parsed by `schema`, after refusing a bare path (`createSqliteStore('./events.db')`, a
 * common first try) with what to write instead of zod's "expected object, received string". The
 * message names no path (messages reach HTTP clients); the path goes in `details.file`.
 */
export function parseSqliteOptions<S extends z.ZodType>(
  schema: S,
  options: unknown,
  subject: string,
): z.output<S> {
  if (typeof options === 'string') {
    const message =
      "expected an options object, received a string: pass the path as filename, e.g. { filename: './events.db' }";
    throw new InvalidOptionsError(subject, [{ path: '', message }], {
      source: SOURCE,
      details: { file: options },
    });
  }
  return parseOptions(schema, options, subject, SOURCE);
}

/** Validates everything before any file is touched; throws `InvalidOptionsError` listing every problem. */
export function resolveSqliteOptions(options: unknown): ResolvedSqliteOptions {
  const { filename, ...o } = parseSqliteOptions(sqliteStoreOptionsSchema, options, 'SQLite store options');
  const path = filename === undefined ? undefined : filenameFromUrl(filename);
  const ownFile = path !== undefined;
  return {
    ...o,
    path,
    label: path ?? (o.database?.name || 'the given database'),
    busyTimeoutMs: o.busyTimeoutMs ?? (ownFile ? DEFAULTS.busyTimeoutMs : undefined),
    synchronous: o.synchronous ?? (ownFile ? DEFAULTS.synchronous : undefined),
    tempStore: o.tempStore ?? (ownFile ? DEFAULTS.tempStore : undefined),
    pruneThread: o.pruneThread ?? (ownFile && !isMemory(path) ? DEFAULTS.pruneThread : 'inline'),
  };
}

/** Whether a filename (as given, or resolved) names SQLite's in-memory database. */
function isMemory(filename: string | undefined): boolean {
  return filename !== undefined && filenameFromUrl(filename) === ':memory:';
}

/** `sqlite:./a.db` → `./a.db`, `sqlite:///var/a.db` → `/var/a.db`, `sqlite::memory:` → `:memory:`. */
export function filenameFromUrl(filename: string): string {
  return filename.replace(/^sqlite:(\/\/)?/i, '');
}
