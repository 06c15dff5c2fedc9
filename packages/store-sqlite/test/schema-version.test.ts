import { readFileSync, statSync } from 'node:fs';
import { isEvcoError } from '@evco/core';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { readSqliteSchemaVersion, SCHEMA_VERSION } from '../src/index.js';
import { useTempStores } from './store-fixture.js';

const { tmp, open } = useTempStores();

function thrown(call: () => unknown): unknown {
  try {
    call();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

describe('readSqliteSchemaVersion', () => {
  it('reads 0 from a file without evco tables and leaves the file exactly as it was', () => {
    const file = tmp.file();
    const db = new Database(file);
    db.exec('CREATE TABLE orders (id TEXT PRIMARY KEY)');
    db.close();
    const before = readFileSync(file);

    expect(readSqliteSchemaVersion({ filename: file })).toBe(0);
    expect(readSqliteSchemaVersion({ filename: `sqlite:${file}` })).toBe(0);

    expect(readFileSync(file).equals(before)).toBe(true);
    const check = new Database(file, { readonly: true });
    const tables = check.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all();
    expect(check.pragma('journal_mode', { simple: true })).toBe('delete');
    check.close();
    expect(tables).toEqual(['orders']);
  });

  it('reads the version a migrated file records, for the table prefix asked', async () => {
    const file = tmp.file();
    await open({ filename: file, tablePrefix: 'shop_' }).migrate();
    expect(readSqliteSchemaVersion({ filename: file, tablePrefix: 'shop_' })).toBe(SCHEMA_VERSION);
    expect(readSqliteSchemaVersion({ filename: file })).toBe(0);
  });

  it('a missing file is STORE_UNAVAILABLE and is not created; bad options are INVALID_OPTIONS', () => {
    const file = tmp.file();
    const missing = thrown(() => readSqliteSchemaVersion({ filename: file }));
    expect(isEvcoError(missing, 'STORE_UNAVAILABLE')).toBe(true);
    expect((missing as Error).message).not.toContain(tmp.dir);
    expect(() => statSync(file)).toThrow();
    expect((thrown(() => readSqliteSchemaVersion(file as never)) as Error).message).toContain(
      "(root): expected an options object, received a string: pass the path as filename, e.g. { filename: './events.db' }",
    );
    for (const bad of [{ filename: '' }, { filename: file, tablePrefix: 'Bad-Prefix' }, { file }]) {
      expect(
        isEvcoError(
          thrown(() => readSqliteSchemaVersion(bad as never)),
          'INVALID_OPTIONS',
        ),
      ).toBe(true);
    }
  });
});
