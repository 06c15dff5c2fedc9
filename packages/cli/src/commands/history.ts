import { type EventHistoryQuery, lookaheadLimit, type PrunedRange, type RecordedEvent } from '@evco/core';
import type { Context } from '../context.js';
import { withConnection } from '../context.js';
import { printJson, printTable } from '../output.js';
import { pageOf, prunedOnPage } from '../paging.js';
import { parsePosition, showPosition } from '../position.js';
import { parseTime } from '../time.js';

export interface HistoryArgs {
  type?: string[];
  aggregate?: string;
  aggregateType?: string;
  correlation?: string;
  causation?: string;
  from?: string;
  to?: string;
  limit: number;
  cursor?: string;
  order: 'asc' | 'desc';
}

/** `evco history`: stored events with every filter, a page at a time (`--cursor` for the next). */
export async function history(ctx: Context, args: HistoryArgs): Promise<void> {
  const query: EventHistoryQuery = {
    limit: lookaheadLimit(args.limit),
    order: args.order,
    ...(args.type?.length ? { eventType: args.type } : {}),
    ...(args.aggregate === undefined ? {} : { aggregateId: args.aggregate }),
    ...(args.aggregateType === undefined ? {} : { aggregateType: args.aggregateType }),
    ...(args.correlation === undefined ? {} : { correlationId: args.correlation }),
    ...(args.causation === undefined ? {} : { causationId: args.causation }),
    ...(args.from === undefined ? {} : { from: parseTime(args.from, '--from') }),
    ...(args.to === undefined ? {} : { to: parseTime(args.to, '--to') }),
  };
  if (args.cursor !== undefined) {
    const position = parsePosition(args.cursor, '--cursor');
    if (args.order === 'desc') query.beforePosition = position;
    else query.afterPosition = position;
  }
  const read = await withConnection(ctx, {}, ({ admin }) => admin.readEventHistory(query));
  const { rows: events, nextCursor } = pageOf(read.events, args.limit, (e) => e.position);
  // Only the pruned ranges this page reaches: nothing older follows the last page newest first,
  // nor precedes the first page oldest first.
  const atOldestEnd = args.order === 'desc' ? nextCursor === null : args.cursor === undefined;
  const pruned = prunedOnPage(read.pruned, events, atOldestEnd);
  if (ctx.json) {
    printJson(ctx.io, { events, nextCursor, pruned });
    return;
  }
  printEvents(ctx, events, 'no events match');
  if (nextCursor) ctx.io.stdout.write(`more: add --cursor ${nextCursor}\n`);
  printPruned(ctx, pruned, 'any with an open or dead delivery were kept');
}

/**
 * One `pruned:` line per event type retention removed from a range, for history and replays: an
 * operator must not take a range that was pruned for one where nothing happened. `note` says
 * what that means for the reader (kept events still listed; a replay does not replay them).
 */
export function printPruned(ctx: Context, pruned: readonly PrunedRange[], note: string): void {
  for (const p of pruned) {
    ctx.io.stdout.write(
      `pruned: ${p.eventType} events that occurred before ${p.before.toISOString()} were removed by retention (${p.removed} so far; ${note})\n`,
    );
  }
}

export function printEvents(ctx: Context, events: readonly RecordedEvent[], empty: string): void {
  printTable(
    ctx.io,
    ['position', 'occurred at', 'event type', 'aggregate', 'event id', 'correlation id'],
    events.map((e) => [
      showPosition(e.position),
      e.occurredAt,
      e.eventType,
      e.aggregateType ? `${e.aggregateType} ${e.aggregateId}` : e.aggregateId,
      e.id,
      e.metadata.correlationId ?? '-',
    ]),
    empty,
  );
}
