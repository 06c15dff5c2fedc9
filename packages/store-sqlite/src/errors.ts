import {
  type EvcoError,
  isEvcoError,
  maskSecrets,
  StoreSchemaError,
  StoreUnavailableError,
} from '@evco/core';
import { SOURCE } from './options.js';

/** better-sqlite3's `SqliteError`: `code` is SQLite's extended result code name (`SQLITE_BUSY_SNAPSHOT`). */
export function sqliteCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('SQLITE_') ? code : undefined;
}

/**
 * Turns a driver error into a typed `EvcoError` naming the file. Errors that are already evco's
 * pass through; anything that is not a SQLite error (a bug) is rethrown untouched.
 */
export function translateError(error: unknown, file: string, action: string): unknown {
  if (isEvcoError(error)) return error;
  const code = sqliteCode(error);
  const detail = maskSecrets(error instanceof Error ? error.message : String(error));
  const options = { source: SOURCE, cause: error };
  if (code === undefined) {
    // better-sqlite3 throws a TypeError for any call on a connection closed behind our back.
    if (error instanceof TypeError && /not open/i.test(error.message)) {
      return new StoreUnavailableError(`cannot ${action}: the connection to ${file} is closed`, options);
    }
    return error;
  }
  return byCode(code, file, action, detail, options);
}

function byCode(
  code: string,
  file: string,
  action: string,
  detail: string,
  options: { source: string; cause: unknown },
): EvcoError {
  const suffix = `${detail} (${code})`;
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new StoreUnavailableError(
      `cannot ${action}: ${file} stayed locked by another connection beyond the busy timeout: ${suffix}`,
      options,
    );
  }
  if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT')) {
    return new StoreSchemaError(
      `cannot ${action}: ${file} is not a usable SQLite database (corrupt, or another kind of file); it was left untouched: ${suffix}`,
      options,
    );
  }
  if (code.startsWith('SQLITE_CANTOPEN')) {
    return new StoreUnavailableError(
      `cannot ${action}: cannot open ${file} (missing directory, no permission, or not a regular file): ${suffix}`,
      options,
    );
  }
  if (code.startsWith('SQLITE_READONLY')) {
    return new StoreUnavailableError(
      `cannot ${action}: ${file} is read-only (the store needs to write the file and create its -wal and -shm files beside it): ${suffix}`,
      options,
    );
  }
  if (code === 'SQLITE_PERM' || code === 'SQLITE_AUTH') {
    return new StoreUnavailableError(`cannot ${action}: permission denied on ${file}: ${suffix}`, options);
  }
  if (code === 'SQLITE_FULL') {
    return new StoreUnavailableError(
      `cannot ${action}: the disk holding ${file} is full: ${suffix}`,
      options,
    );
  }
  return new StoreUnavailableError(`cannot ${action} on ${file}: ${suffix}`, options);
}
