import { existsSync } from 'node:fs';
import { IDENTIFIER_PATTERN, StoreUnavailableError } from '@evco/core/adapter';
import Database from 'better-sqlite3';
import { z } from 'zod';
import { fileErrorOptions, nativeModuleError, translateError } from './errors.js';
import { readSchemaVersion } from './migrations.js';
import { DEFAULTS, filenameFromUrl, parseSqliteOptions } from './options.js';

const inspectSchema = z.strictObject({
  filename: z.string().min(1, 'must not be empty').max(4096, 'must be at most 4096 characters'),
  tablePrefix: z
    .string()
    .regex(IDENTIFIER_PATTERN, 'must match ^[a-z_][a-z0-9_]{0,40}$ (lower-case letters, digits, _)')
    .default(DEFAULTS.tablePrefix),
});

/**
 * The evco schema version recorded in an existing SQLite file, read without changing it (a
 * read-only connection: no table, no WAL switch, no migration), or 0 when the file has no evco
 * tables. For tools that must not migrate a file they only inspect (the `evco` CLI, a readiness
 * check) — the store itself brings a file up to date whenever it opens it.
 * A missing or unreadable file is `STORE_UNAVAILABLE`; bad options are `INVALID_OPTIONS`.
 */
export function readSqliteSchemaVersion(options: {
  filename: string;
  tablePrefix?: string | undefined;
}): number {
  const { filename, tablePrefix } = parseSqliteOptions(inspectSchema, options, 'SQLite schema check options');
  const path = filenameFromUrl(filename);
  if (path === ':memory:' || !existsSync(path)) {
    throw new StoreUnavailableError(
      'cannot read the schema version: there is no SQLite file at that path',
      fileErrorOptions(path),
    );
  }
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
    return readSchemaVersion(db, tablePrefix);
  } catch (error) {
    throw nativeModuleError(error, path) ?? translateError(error, path, 'read the schema version');
  } finally {
    db?.close();
  }
}
