import { mkdirSync, mkdtempSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { type ArchiveHook, ndjsonFileArchiver } from '@evco/core';
import type { Context } from '../context.js';
import { withConnection } from '../context.js';
import { CommandFailed, describeFailure, UsageError } from '../errors.js';
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
  const archive = args.archiveDir === undefined ? undefined : archiveTo(args.archiveDir);
  const result = await withConnection(ctx, {}, ({ admin }) =>
    admin.pruneEvents({
      before,
      ...(args.type === undefined ? {} : { types: args.type }),
      ...(args.batchSize === undefined ? {} : { batchSize: args.batchSize }),
      ...(args.maxRate === undefined ? {} : { maxEventsPerSecond: args.maxRate }),
      ...(archive === undefined ? {} : { archive }),
    }),
  );
  if (ctx.json) printJson(ctx.io, { ...result, before });
  else {
    ctx.io.stdout.write(
      `pruned ${result.removed} ${result.removed === 1 ? 'event' : 'events'} older than ${before.toISOString()} in ${result.batches} ${result.batches === 1 ? 'batch' : 'batches'}${archive === undefined || result.removed === 0 ? '' : ` (archived to ${args.archiveDir})`}\n`,
    );
  }
}

/**
 * The archive hook for `--archive-dir`, after checking the directory can take files: a mistyped
 * or read-only directory is a usage error before the store is opened, not a failure at the first
 * batch (or, with nothing to prune yet, a reply that says "archived to" a place nothing can be
 * written to). A batch whose archive fails later (a full disk) is not removed; the message says so.
 */
function archiveTo(dir: string): ArchiveHook {
  try {
    mkdirSync(dir, { recursive: true });
    rmdirSync(mkdtempSync(join(dir, '.evco-prune-check-')));
  } catch (error) {
    throw new UsageError(
      `--archive-dir ${dir} cannot take files (${describeFailure(error)}); nothing was pruned`,
    );
  }
  const write = ndjsonFileArchiver({ dir });
  return async (events) => {
    try {
      await write(events);
    } catch (error) {
      throw new CommandFailed(
        `archiving a batch of ${events.length} events to ${dir} failed (${describeFailure(error)}); that batch and the ones after it were not pruned`,
      );
    }
  };
}
