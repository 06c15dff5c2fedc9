import { isEvcoError } from '@evco/core';
import { describe, expect, it, vi } from 'vitest';

// What better-sqlite3 throws when its native module was never built (its install script did not
// run) or was built for another Node.js: the constructor is where it loads the module.
const failure = vi.hoisted(() => ({ error: new Error('unset') as Error & { code?: string } }));
vi.mock('better-sqlite3', () => ({
  default: class {
    constructor() {
      throw failure.error;
    }
  },
}));

const { createSqliteStore, readSqliteSchemaVersion } = await import('../src/index.js');
const { tempDir } = await import('./support.js');

const NOT_BUILT = `Could not locate the bindings file. Tried:
 → /app/node_modules/better-sqlite3/build/better_sqlite3.node
 → /app/node_modules/better-sqlite3/build/Release/better_sqlite3.node`;
const OTHER_NODE = Object.assign(
  new Error(
    "The module '/app/node_modules/better-sqlite3/build/Release/better_sqlite3.node'\nwas compiled against a different Node.js version using\nNODE_MODULE_VERSION 115. This version of Node.js requires\nNODE_MODULE_VERSION 127.",
  ),
  { code: 'ERR_DLOPEN_FAILED' },
);

describe('better-sqlite3 without its native module', () => {
  it.each([
    ['never built', new Error(NOT_BUILT)],
    ['built for another Node.js', OTHER_NODE],
  ])('%s: STORE_FAILED saying to rebuild it, not "cannot open the SQLite file"', async (_, error) => {
    failure.error = error;
    const dir = tempDir();
    try {
      const store = createSqliteStore({ filename: dir.file() });
      const thrown = await store.migrate().catch((e: unknown) => e);
      expect(isEvcoError(thrown, 'STORE_FAILED')).toBe(true);
      const message = (thrown as Error).message;
      expect(message).toMatch(/cannot load better-sqlite3's native module/);
      expect(message).toMatch(/npm rebuild better-sqlite3/);
      expect(message).not.toMatch(/cannot open the SQLite file/);
      expect(message).not.toContain('\n');
      expect(message).not.toMatch(/Tried:/);
      expect(message).not.toContain(dir.dir);
      expect((thrown as Error).cause).toBe(error);
      await store.close();
    } finally {
      dir.cleanup();
    }
  });

  it('readSqliteSchemaVersion says the same', async () => {
    failure.error = new Error(NOT_BUILT);
    const dir = tempDir();
    try {
      const file = dir.file();
      const { writeFileSync } = await import('node:fs');
      writeFileSync(file, '');
      let thrown: unknown;
      try {
        readSqliteSchemaVersion({ filename: file });
      } catch (e) {
        thrown = e;
      }
      expect(isEvcoError(thrown, 'STORE_FAILED')).toBe(true);
      expect((thrown as Error).message).toMatch(/npm rebuild better-sqlite3/);
    } finally {
      dir.cleanup();
    }
  });

  it('any other constructor failure keeps its meaning', async () => {
    failure.error = new TypeError('Cannot open database because the directory does not exist');
    const dir = tempDir();
    try {
      const thrown = await createSqliteStore({ filename: dir.file() })
        .migrate()
        .catch((e: unknown) => e);
      expect(isEvcoError(thrown, 'STORE_UNAVAILABLE')).toBe(true);
      expect((thrown as Error).message).toMatch(
        /cannot open the SQLite file: Cannot open database because the directory/,
      );
    } finally {
      dir.cleanup();
    }
  });
});
