import { readDeadLetterPage } from '@evco/core';
import type { Context } from '../context.js';
import { withConnection } from '../context.js';
import { printJson, printTable, short } from '../output.js';
import { parsePosition, showPosition } from '../position.js';

/** `evco dead-letters`: deliveries that ran out of attempts, with their last error. */
export async function deadLetters(
  ctx: Context,
  args: { limit: number; cursor?: string; handler?: string },
): Promise<void> {
  // One event's letters are never split between pages: a cursor after a split would skip the rest.
  const { deadLetters: dead, more } = await withConnection(ctx, {}, async ({ admin }) => {
    // A mistyped handler is UNKNOWN_HANDLER (exit 2), from core, rather than "no dead letters".
    return readDeadLetterPage((q) => admin.getDeadLetters(q), {
      limit: args.limit,
      ...(args.handler === undefined ? {} : { handler: args.handler }),
      ...(args.cursor === undefined ? {} : { afterPosition: parsePosition(args.cursor, '--cursor') }),
    });
  });
  const last = dead[dead.length - 1];
  const nextCursor = more && last ? showPosition(last.event.position) : null;
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
