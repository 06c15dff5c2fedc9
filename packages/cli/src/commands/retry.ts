import type { Context } from '../context.js';
import { withConnection } from '../context.js';
import { EXIT, UsageError } from '../errors.js';
import { printJson } from '../output.js';

/** Most delivery ids one `retry` takes (core's limit for one re-drive). */
const MAX_IDS = 10_000;
/** Unmatched ids named on the stderr line; `--json` lists them all. */
const SHOWN_UNMATCHED = 20;

/**
 * `evco retry [DELIVERY_ID...] [--handler NAME] [--all]`: re-drives dead letters with a fresh
 * attempt count, then rings the doorbell (with --redis-url) so running handlers act at once.
 * Retrying everything needs `--all`, so a forgotten argument never re-drives the whole store.
 * A handler name nobody subscribed is refused (as `handlers retire` does): a typo must not read
 * as "retried 0", which an operator takes for "nothing was dead".
 *
 * Delivery ids are re-driven one at a time, so each one is known to have matched a dead letter or
 * not (the store answers a count): those that named none are listed (`unmatched` in `--json`, one
 * line on stderr) and the exit code is 3 (`EXIT.incomplete`) after the others are retried, so a
 * script tells them from a failure (1) and from a wrong command line (2).
 */
export async function retry(
  ctx: Context,
  args: { ids: string[]; handler?: string; all: boolean },
): Promise<number> {
  if (args.ids.length === 0 && args.handler === undefined && !args.all) {
    throw new UsageError('name what to retry: delivery ids, --handler NAME, or --all');
  }
  if (args.all && (args.ids.length > 0 || args.handler !== undefined)) {
    throw new UsageError('--all retries every dead letter; leave out ids and --handler');
  }
  const ids = [...new Set(args.ids)];
  if (ids.length > MAX_IDS) {
    throw new UsageError(`at most ${MAX_IDS} delivery ids at once, got ${ids.length}`);
  }
  const handler = args.handler === undefined ? {} : { handler: args.handler };
  // A handler nobody subscribed is UNKNOWN_HANDLER (exit 2), from core's retryDeadLetters.
  const result = await withConnection(ctx, { announce: true }, async ({ admin }) => {
    if (ids.length === 0) return { retried: (await admin.retryDeadLetters(handler)).retried };
    let retried = 0;
    const unmatched: string[] = [];
    for (const id of ids) {
      const one = await admin.retryDeadLetters({ deliveryIds: [id], ...handler });
      retried += one.retried;
      if (one.retried === 0) unmatched.push(id);
    }
    return { retried, unmatched };
  });
  if (ctx.json) printJson(ctx.io, result);
  else ctx.io.stdout.write(`retried ${result.retried} dead ${result.retried === 1 ? 'letter' : 'letters'}\n`);
  const unmatched = result.unmatched ?? [];
  if (unmatched.length === 0) return EXIT.ok;
  // As typed: a stray control character or newline must not split the one line.
  const shown = unmatched
    .slice(0, SHOWN_UNMATCHED)
    .map((id) => id.slice(0, 200).replace(/\p{Cc}/gu, '?'))
    .join(', ');
  const more =
    unmatched.length > SHOWN_UNMATCHED
      ? ` and ${unmatched.length - SHOWN_UNMATCHED} more (--json lists them all)`
      : '';
  ctx.io.stderr.write(
    `evco: ${unmatched.length} of the ${ids.length} delivery ids named no dead letter${args.handler === undefined ? '' : ` of ${args.handler}`} (handled, retried already, retired, or mistyped; see evco dead-letters): ${shown}${more}\n`,
  );
  return EXIT.incomplete;
}
