import { lookaheadLimit } from '@evco/core';
import type { Context } from '../context.js';
import { withConnection } from '../context.js';
import { printJson, printTable, short } from '../output.js';
import { pageOf } from '../paging.js';
import { parsePosition } from '../position.js';

/** `evco dead-letters`: deliveries that ran out of attempts, with their last error. */
export async function deadLetters(
  ctx: Context,
  args: { limit: number; cursor?: string; handler?: string },
): Promise<void> {
  const page = await withConnection(ctx, {}, ({ admin }) =>
    admin.getDeadLetters({
      limit: lookaheadLimit(args.limit),
      ...(args.handler === undefined ? {} : { handler: args.handler }),
      ...(args.cursor === undefined ? {} : { afterPosition: parsePosition(args.cursor, '--cursor') }),
    }),
  );
  const { rows: dead, nextCursor } = pageOf(page, args.limit, (d) => d.event.position);
  if (ctx.json) {
    printJson(ctx.io, { deadLetters: dead, nextCursor });
    return;
  }
  printTable(
    ctx.io,
    ['delivery id', 'handler', 'event type', 'event id', 'attempts', 'failed at', 'error'],
    dead.map((d) => [
      d.delivery.deliveryId,
      d.delivery.handler,
      d.event.eventType,
      d.event.id,
      d.delivery.attempts,
      d.delivery.updatedAt,
      short(d.delivery.lastError),
    ]),
    'no dead letters',
  );
  if (nextCursor) ctx.io.stdout.write(`more: add --cursor ${nextCursor}\n`);
}
