import type { SchemaMigration } from '@evco/core';
import type { Target } from '../connect.js';
import type { Context } from '../context.js';
import { withConnection } from '../context.js';
import { printJson } from '../output.js';

/** `evco migrate`: creates the store's schema (or the SQLite file) or brings it up to date. */
export async function migrate(ctx: Context): Promise<void> {
  const { target, migration } = await withConnection(
    ctx,
    { mustExist: false },
    async ({ admin, target }) => ({
      target,
      migration: await admin.migrate(),
    }),
  );
  const where =
    target.kind === 'sqlite'
      ? `SQLite file ${target.where}`
      : `${target.where} schema ${target.schema ?? 'evco'}`;
  if (ctx.json) printJson(ctx.io, migrationReport(target, migration));
  else ctx.io.stdout.write(`${describeMigration(migration)}: ${where}\n`);
}

/**
 * `evco migrate --json`: the store, where it is and, on Postgres, the schema migrated (as the
 * text line says it), so a script migrating one schema per tenant can tell its lines apart.
 */
export function migrationReport(
  target: Target,
  migration: SchemaMigration | undefined,
): Record<string, unknown> {
  return {
    migrated: true,
    store: target.kind,
    where: target.where,
    ...(target.kind === 'postgres' ? { schema: target.schema ?? 'evco' } : {}),
    fromVersion: migration?.fromVersion ?? null,
    toVersion: migration?.toVersion ?? null,
  };
}

/** What `migrate()` did, in words: a schema created, migrated, or already current. */
export function describeMigration(migration: SchemaMigration | undefined): string {
  if (!migration) return 'schema up to date';
  const { fromVersion, toVersion } = migration;
  if (fromVersion === 0) return `schema created at version ${toVersion}`;
  if (fromVersion < toVersion) return `schema migrated from version ${fromVersion} to ${toVersion}`;
  return `schema already at version ${toVersion}`;
}
