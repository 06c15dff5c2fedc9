import type { Context } from '../context.js';
import { withConnection } from '../context.js';
import { UsageError } from '../errors.js';
import { printJson } from '../output.js';

/**
 * `evco retry [DELIVERY_ID...] [--handler NAME] [--all]`: re-drives dead letters with a fresh
 * attempt count, then rings the doorbell (with --redis-url) so running handlers act at once.
 * Retrying everything needs `--all`, so a forgotten argument never re-drives the whole store.
 */
export async function retry(
  ctx: Context,
  args: { ids: string[]; handler?: string; all: boolean },
): Promise<void> {
  if (args.ids.length === 0 && args.handler === undefined && !args.all) {
    throw new UsageError('name what to retry: delivery ids, --handler NAME, or --all');
  }
  if (args.all && (args.ids.length > 0 || args.handler !== undefined)) {
    throw new UsageError('--all retries every dead letter; leave out ids and --handler');
  }
  const result = await withConnection(ctx, { announce: true }, ({ admin }) =>
    admin.retryDeadLetters({
      ...(args.ids.length > 0 ? { deliveryIds: args.ids } : {}),
      ...(args.handler === undefined ? {} : { handler: args.handler }),
    }),
  );
  if (ctx.json) printJson(ctx.io, result);
  else ctx.io.stdout.write(`retried ${result.retried} dead ${result.retried === 1 ? 'letter' : 'letters'}\n`);
}
