import { resolve } from 'node:path';
import {
  EvcoError,
  type EvcoErrorOptions,
  isEvcoError,
  maskedMessage,
  StoreSchemaError,
  StoreUnavailableError,
} from '@evco/core/adapter';
import { SOURCE } from './options.js';

/** better-sqlite3's `SqliteError`: `code` is SQLite's extended result code name (`SQLITE_BUSY_SNAPSHOT`). */
export function sqliteCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('SQLITE_') ? code : undefined;
}

/**
 * Turns a driver error into a typed `EvcoError`. Messages never name the file (a service may
 * answer them to its clients); the path is in `details.file` for operators, and logged.
 * Errors that are already evco's pass through; anything that is not a SQLite error (a bug) is
 * rethrown untouched.
 */
export function translateError(error: unknown, file: string, action: string): unknown {
  if (isEvcoError(error)) return error;
  const code = sqliteCode(error);
  const detail = withoutPath(maskedMessage(error), file);
  const options = fileErrorOptions(file, error);
  if (code === undefined) {
    // better-sqlite3 throws a TypeError for any call on a connection closed behind our back.
    if (error instanceof TypeError && /not open/i.test(error.message)) {
      return new StoreUnavailableError(
        `cannot ${action}: the connection to the SQLite file is closed`,
        options,
      );
    }
    return error;
  }
  return byCode(code, action, detail, options);
}

/** A driver message naming the file (some do) names it no more. */
function withoutPath(message: string, file: string): string {
  let out = message;
  for (const path of new Set([resolve(file), file])) {
    if (path.length > 1 && path !== ':memory:') out = out.split(path).join('<the SQLite file>');
  }
  return out;
}

/** Error options carrying the file for operators: `source`, `details.file`, and the cause. */
export function fileErrorOptions(file: string, cause?: unknown): EvcoErrorOptions {
  return { source: SOURCE, cause, details: { file } };
}

function byCode(code: string, action: string, detail: string, options: EvcoErrorOptions): EvcoError {
  const suffix = `${detail} (${code})`;
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new StoreUnavailableError(
      `cannot ${action}: the SQLite file stayed locked by another connection beyond the busy timeout: ${suffix}`,
      options,
    );
  }
  if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT')) {
    return new StoreSchemaError(
      `cannot ${action}: the file is not a usable SQLite database (corrupt, or another kind of file); it was left untouched: ${suffix}`,
      options,
    );
  }
  if (code.startsWith('SQLITE_CANTOPEN')) {
    return new StoreUnavailableError(
      `cannot ${action}: cannot open the SQLite file (missing directory, no permission, or not a regular file): ${suffix}`,
      options,
    );
  }
  if (code.startsWith('SQLITE_READONLY')) {
    return new StoreUnavailableError(
      `cannot ${action}: the SQLite file is read-only (the store needs to write the file and create its -wal and -shm files beside it): ${suffix}`,
      options,
    );
  }
  if (code === 'SQLITE_PERM' || code === 'SQLITE_AUTH') {
    return new StoreUnavailableError(
      `cannot ${action}: permission denied on the SQLite file: ${suffix}`,
      options,
    );
  }
  if (code === 'SQLITE_FULL') {
    return new StoreUnavailableError(
      `cannot ${action}: the disk holding the SQLite file is full: ${suffix}`,
      options,
    );
  }
  return new StoreUnavailableError(`cannot ${action}: ${suffix}`, options);
}

/**
 * better-sqlite3 loads its native module when the first connection opens. Without it (the
 * package's install script never ran: blocked, or no compiler and no prebuilt binary) or built
 * for another Node.js, that is an installation problem, not a file the store cannot open, and no
 * retry fixes it: `STORE_FAILED`, saying what to run. Undefined for any other error.
 */
export function nativeModuleError(error: unknown, file: string): EvcoError | undefined {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown } | null)?.code;
  if (
    code !== 'ERR_DLOPEN_FAILED' &&
    !/Could not locate the bindings file|NODE_MODULE_VERSION|compiled against a different Node\.js/.test(
      message,
    )
  ) {
    return undefined;
  }
  const first = message
    .split('\n')[0]!
    .replace(/\s*Tried:\s*$/, '')
    .trim();
  return new EvcoError(
    'STORE_FAILED',
    `cannot load better-sqlite3's native module (its install script did not run, or it was built for another Node.js than ${process.version}): run "npm rebuild better-sqlite3" with install scripts allowed (npm 11 asks to approve them), or reinstall with build tools present; ${first}`,
    fileErrorOptions(file, error),
  );
}
