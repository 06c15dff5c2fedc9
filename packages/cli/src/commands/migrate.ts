import type { Context } from '../context.js';
import { withConnection } from '../context.js';
import { printJson } from '../output.js';

/** `evco migrate`: creates the store's schema (or the SQLite file) or brings it up to date. */
export async function migrate(ctx: Context): Promise<void> {
  const target = await withConnection(ctx, { mustExist: false }, async ({ admin, target }) => {
    await admin.migrate();
    return target;
  });
  const where =
    target.kind === 'sqlite'
      ? `SQLite file ${target.where}`
      : `${target.where} schema ${target.schema ?? 'evco'}`;
  if (ctx.json) printJson(ctx.io, { migrated: true, store: target.kind, where: target.where });
  else ctx.io.stdout.write(`schema up to date: ${where}\n`);
}
