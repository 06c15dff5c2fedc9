import type { Context } from '../context.js';
import { withConnection } from '../context.js';
import { CommandFailed, UsageError } from '../errors.js';
import { printJson } from '../output.js';

/**
 * `evco retry [DELIVERY_ID...] [--handler NAME] [--all]`: re-drives dead letters with a fresh
 * attempt count, then rings the doorbell (with --redis-url) so running handlers act at once.
 * Retrying everything needs `--all`, so a forgotten argument never re-drives the whole store.
 * A handler name nobody subscribed is refused (as `handlers retire` does): a typo must not read
 * as "retried 0", which an operator takes for "nothing was dead". Delivery ids that named no
 * dead letter make the command fail (exit 1) after the others are retried.
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
  const ids = [...new Set(args.ids)];
  // A handler nobody subscribed is UNKNOWN_HANDLER (exit 2), from core's retryDeadLetters.
  const result = await withConnection(ctx, { announce: true }, ({ admin }) =>
    admin.retryDeadLetters({
      ...(ids.length > 0 ? { deliveryIds: ids } : {}),
      ...(args.handler === undefined ? {} : { handler: args.handler }),
    }),
  );
  if (ctx.json) printJson(ctx.io, result);
  else ctx.io.stdout.write(`retried ${result.retried} dead ${result.retried === 1 ? 'letter' : 'letters'}\n`);
  const missed = ids.length - result.retried;
  if (ids.length > 0 && missed > 0) {
    throw new CommandFailed(
      `${missed} of the ${ids.length} delivery ids named no dead letter${args.handler === undefined ? '' : ` of ${args.handler}`} (handled, retried already, retired, or mistyped; see evco dead-letters)`,
    );
  }
}
