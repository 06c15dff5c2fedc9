import { lookaheadLimit } from '@evco/core';
import type { Context } from '../context.js';
import { withConnection } from '../context.js';
import { printJson, printTable, short } from '../output.js';
import { pageOf } from '../paging.js';
import { parsePosition, showPosition } from '../position.js';

/** `evco unprocessed`: events with a delivery not done (pending, running or dead), oldest first. */
export async function unprocessed(ctx: Context, args: { limit: number; cursor?: string }): Promise<void> {
  const page = await withConnection(ctx, {}, ({ admin }) =>
    admin.getUnprocessedEvents({
      limit: lookaheadLimit(args.limit),
      ...(args.cursor === undefined ? {} : { afterPosition: parsePosition(args.cursor, '--cursor') }),
    }),
  );
  const { rows: events, nextCursor } = pageOf(page, args.limit, (u) => u.event.position);
  if (ctx.json) {
    printJson(ctx.io, { events, nextCursor });
    return;
  }
  printTable(
    ctx.io,
    ['position', 'event type', 'aggregate', 'event id', 'handler', 'status', 'attempts', 'last error'],
    events.flatMap((u) =>
      u.deliveries.map((d) => [
        showPosition(u.event.position),
        u.event.eventType,
        u.event.aggregateId,
        u.event.id,
        d.handler,
        d.status,
        d.attempts,
        short(d.lastError, 40),
      ]),
    ),
    'nothing unprocessed: every delivery is done',
  );
  if (nextCursor) ctx.io.stdout.write(`more: add --cursor ${nextCursor}\n`);
}
