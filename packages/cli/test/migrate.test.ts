import { existsSync } from 'node:fs';
import { SCHEMA_VERSION } from '@evco/store-sqlite';
import { describe, expect, it } from 'vitest';
import { describeMigration, migrate, migrationReport } from '../src/commands/migrate.js';
import { capturedContext, tempStoreFile } from './support.js';

describe('evco migrate', () => {
  it('says whether it created the schema or found it current (SQLite), in text and --json', async () => {
    const file = tempStoreFile('evco-cli-migrate-');
    const first = capturedContext({ sqlite: file });
    await migrate(first.ctx);
    expect(existsSync(file)).toBe(true);
    expect(first.out()).toBe(`schema created at version ${SCHEMA_VERSION}: SQLite file ${file}\n`);
    const again = capturedContext({ sqlite: file });
    await migrate(again.ctx);
    expect(again.out()).toBe(`schema already at version ${SCHEMA_VERSION}: SQLite file ${file}\n`);
    const json = capturedContext({ sqlite: file }, true);
    await migrate(json.ctx);
    expect(JSON.parse(json.out())).toEqual({
      migrated: true,
      store: 'sqlite',
      where: file,
      fromVersion: SCHEMA_VERSION,
      toVersion: SCHEMA_VERSION,
    });
  });

  it('words each outcome: created, migrated from A to B, already current, or a store without versions', () => {
    expect(describeMigration({ fromVersion: 0, toVersion: 7 })).toBe('schema created at version 7');
    expect(describeMigration({ fromVersion: 5, toVersion: 7 })).toBe('schema migrated from version 5 to 7');
    expect(describeMigration({ fromVersion: 7, toVersion: 7 })).toBe('schema already at version 7');
    expect(describeMigration(undefined)).toBe('schema up to date');
  });

  it('--json names the Postgres schema it migrated, as the text line does (the default one too)', () => {
    // Before, two runs on different schemas printed the same JSON: where held the URL only.
    const target = {
      kind: 'postgres',
      url: 'postgresql://u:pw@h/db',
      where: 'postgresql://u:***@h/db',
    } as const;
    expect(migrationReport({ ...target, schema: 'tenant_a' }, { fromVersion: 0, toVersion: 10 })).toEqual({
      migrated: true,
      store: 'postgres',
      where: 'postgresql://u:***@h/db',
      schema: 'tenant_a',
      fromVersion: 0,
      toVersion: 10,
    });
    expect(
      migrationReport({ ...target, schema: undefined }, { fromVersion: 10, toVersion: 10 }),
    ).toMatchObject({
      schema: 'evco',
    });
  });
});
