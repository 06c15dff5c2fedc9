import { ndjsonFileArchiver } from '@evco/core';
import type { Context } from '../context.js';
import { withConnection } from '../context.js';
import { printJson } from '../output.js';
import { parseTime } from '../time.js';

/**
 * `evco prune --before TIME [--type T]... [--archive-dir DIR] [--batch-size N] [--max-rate N]`: removes events
 * older than TIME (an ISO date-time, a date or an age such as 90d) whose deliveries are all
 * done, in short batches, each written first to DIR as a newline-delimited JSON file when
 * given, at most `--max-rate` events a second when given (so the application's writes keep their
 * share of the database). Events with an open or dead delivery, or inside a running replay, stay.
 */
export async function prune(
  ctx: Context,
  args: { before: string; type?: string[]; archiveDir?: string; batchSize?: number; maxRate?: number },
): Promise<void> {
  const before = parseTime(args.before, '--before');
  const result = await withConnection(ctx, {}, ({ admin }) =>
    admin.pruneEvents({
      before,
      ...(args.type === undefined ? {} : { types: args.type }),
      ...(args.batchSize === undefined ? {} : { batchSize: args.batchSize }),
      ...(args.maxRate === undefined ? {} : { maxEventsPerSecond: args.maxRate }),
      ...(args.archiveDir === undefined ? {} : { archive: ndjsonFileArchiver({ dir: args.archiveDir }) }),
    }),
  );
  if (ctx.json) printJson(ctx.io, { ...result, before });
  else {
    ctx.io.stdout.write(
      `pruned ${result.removed} ${result.removed === 1 ? 'event' : 'events'} older than ${before.toISOString()} in ${result.batches} ${result.batches === 1 ? 'batch' : 'batches'}${args.archiveDir === undefined ? '' : ` (archived to ${args.archiveDir})`}\n`,
    );
  }
}
