import { setTimeout as sleep } from 'node:timers/promises';
import type { RecordedEvent } from '@evco/core';
import type { Context } from '../context.js';
import { withConnection } from '../context.js';
import { UsageError } from '../errors.js';
import { outageTolerant } from '../outage.js';
import { cell, toJson } from '../output.js';
import { parsePosition, showPosition } from '../position.js';
import { checkCount, checkInterval } from '../time.js';

export interface TailArgs {
  type?: string[];
  fromStart: boolean;
  /** Begin after this position (one `tail`, `history` or `event` printed), instead of at the end. */
  cursor?: string | undefined;
  limit?: number;
  intervalMs: number;
}

/**
 * `evco tail`: prints events as they are stored, until Ctrl-C (or `--limit` events), through
 * store outages (said on stderr, polled again at the interval). Reads by position, so nothing is skipped or repeated whatever the store's commit order (the stores only
 * hand out settled positions).
 */
export async function tail(ctx: Context, args: TailArgs): Promise<void> {
  checkInterval(args.intervalMs, '--interval');
  if (args.limit !== undefined) checkCount(args.limit, '--limit', 'events');
  if (args.cursor !== undefined && args.fromStart) {
    throw new UsageError('--cursor and --from-start both say where to begin; give one');
  }
  const cursor = args.cursor === undefined ? undefined : parsePosition(args.cursor, '--cursor');
  await withConnection(ctx, {}, async ({ admin }) => {
    const types = args.type?.length ? { eventType: args.type } : {};
    let after: RecordedEvent['position'] | undefined = cursor;
    if (!args.fromStart && cursor === undefined) {
      const [latest] = await admin.getEventHistory({ ...types, order: 'desc', limit: 1 });
      after = latest?.position;
    }
    let printed = 0;
    let stop = false;
    void ctx.io.interrupted.then(() => {
      stop = true;
    });
    const poll = outageTolerant(ctx, 'tail');
    while (!stop) {
      const page = await poll(() =>
        admin.getEventHistory({
          ...types,
          limit: 500,
          ...(after === undefined ? {} : { afterPosition: after }),
        }),
      );
      if (page === undefined) {
        await Promise.race([sleep(args.intervalMs), ctx.io.interrupted]);
        continue;
      }
      for (const e of page) {
        ctx.io.stdout.write(`${ctx.json ? toJson(e, false) : line(e)}\n`);
        after = e.position;
        if (args.limit !== undefined && ++printed >= args.limit) return;
      }
      if (page.length < 500) await Promise.race([sleep(args.intervalMs), ctx.io.interrupted]);
    }
  });
}

function line(e: RecordedEvent): string {
  return [showPosition(e.position), cell(e.occurredAt), e.eventType, e.aggregateId, e.id].join('  ');
}
