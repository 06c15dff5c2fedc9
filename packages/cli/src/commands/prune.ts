import { mkdirSync, mkdtempSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { type ArchiveHook, isEvcoError, ndjsonFileArchiver, parsePruneEventsOptions } from '@evco/core';
import type { Context } from '../context.js';
import { withConnection } from '../context.js';
import { CommandFailed, describeFailure, UsageError } from '../errors.js';
import { printJson } from '../output.js';
import { parseDuration, parseTime } from '../time.js';

export interface PruneArgs {
  before: string;
  type?: string[];
  archiveDir?: string;
  archiveTimeout?: string;
  batchSize?: number;
  dutyCycle?: number;
  maxRate?: number;
}

/** Each `pruneEvents` option and the flag that sets it, so a refused value names what was typed. */
const FLAGS = {
  before: '--before',
  types: '--type',
  batchSize: '--batch-size',
  dutyCycle: '--duty-cycle',
  maxEventsPerSecond: '--max-rate',
  archiveTimeoutMs: '--archive-timeout',
} as const;

/**
 * `evco prune --before TIME [--type T]... [--archive-dir DIR] [--archive-timeout DURATION]
 * [--batch-size N] [--duty-cycle SHARE] [--max-rate N]`: removes events older than TIME (an ISO
 * date-time, a date or an age such as 90d) whose deliveries are all done, in short batches, each
 * written first to DIR as a newline-delimited JSON file when given (a write that has not finished
 * after `--archive-timeout`, 5m by default, stops the prune with that batch kept), pausing between
 * batches when `--duty-cycle` or `--max-rate` is given (so the application's writes keep their
 * share of the database). Events with an open or dead delivery, or inside a running replay, stay.
 * Every value is checked with core's own ranges before the archive directory or the store is
 * touched (exit 2).
 */
export async function prune(ctx: Context, args: PruneArgs): Promise<void> {
  const options = pruneOptions(args);
  const archive = args.archiveDir === undefined ? undefined : archiveTo(args.archiveDir);
  const result = await withConnection(ctx, {}, ({ admin }) =>
    admin.pruneEvents({ ...options, ...(archive === undefined ? {} : { archive }) }).catch((error) => {
      if (!isEvcoError(error, 'TIMEOUT') || archive === undefined) throw error;
      // The archive's write is abandoned but still holds one of Node's threads, and Node's exit
      // waits for it: Ctrl-C must end the process again before the line that tells the operator
      // so is printed (released after it, a Ctrl-C sent on seeing the line could be swallowed).
      ctx.io.release?.();
      throw new CommandFailed(
        `${describeFailure(error)}; --archive-timeout ${args.archiveTimeout ?? '5m (the default)'} (is ${args.archiveDir} on a mount that stopped answering?)`,
      );
    }),
  );
  const before = options.before;
  if (ctx.json) printJson(ctx.io, { ...result, before });
  else {
    ctx.io.stdout.write(
      `pruned ${result.removed} ${result.removed === 1 ? 'event' : 'events'} older than ${before.toISOString()} in ${result.batches} ${result.batches === 1 ? 'batch' : 'batches'}${archive === undefined || result.removed === 0 ? '' : ` (archived to ${args.archiveDir})`}\n`,
    );
  }
}

/**
 * The flags as `pruneEvents` options, checked by core's `parsePruneEventsOptions` (the ranges
 * `pruneEvents` enforces: `--archive-timeout` 100ms to 1d, ...) before anything is opened; a
 * refused value is a usage error naming the flag and core's option.
 */
export function pruneOptions(args: PruneArgs): {
  before: Date;
  types?: string[];
  batchSize?: number;
  dutyCycle?: number;
  maxEventsPerSecond?: number;
  archiveTimeoutMs?: number;
} {
  const options = {
    before: parseTime(args.before, '--before'),
    ...(args.type === undefined ? {} : { types: args.type }),
    ...(args.batchSize === undefined ? {} : { batchSize: args.batchSize }),
    ...(args.dutyCycle === undefined ? {} : { dutyCycle: args.dutyCycle }),
    ...(args.maxRate === undefined ? {} : { maxEventsPerSecond: args.maxRate }),
    ...(args.archiveTimeout === undefined
      ? {}
      : { archiveTimeoutMs: parseDuration(args.archiveTimeout, '--archive-timeout') }),
  };
  try {
    parsePruneEventsOptions(options);
  } catch (error) {
    if (!isEvcoError(error, 'INVALID_OPTIONS')) throw error;
    const issues = (error as { issues?: ReadonlyArray<{ path: string; message: string }> }).issues ?? [];
    throw new UsageError(
      issues
        .map((i) => {
          const option = i.path.split('.')[0] as keyof typeof FLAGS;
          return `${FLAGS[option] ?? i.path} (${option}): ${i.message}`;
        })
        .join('; ') || error.message,
    );
  }
  return options;
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
