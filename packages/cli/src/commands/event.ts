import { NotFoundError } from '@evco/core';
import type { Context } from '../context.js';
import { withConnection } from '../context.js';
import { cell, printFields, printJson, printTable, short, toJson } from '../output.js';
import { showPosition } from '../position.js';
import { drawCausation } from '../tree.js';

/** `evco event ID`: the event, its deliveries per handler and its causation tree. */
export async function showEvent(ctx: Context, id: string): Promise<void> {
  const details = await withConnection(ctx, {}, ({ admin }) => admin.getEventDetails(id));
  if (!details) throw new NotFoundError('event', id, { source: 'cli' });
  if (ctx.json) {
    printJson(ctx.io, details);
    return;
  }
  const e = details.event;
  printFields(ctx.io, [
    ['id', e.id],
    ['event type', e.eventType],
    ['aggregate', e.aggregateType ? `${e.aggregateType} ${e.aggregateId}` : e.aggregateId],
    ['version', e.aggregateVersion],
    ['position', showPosition(e.position)],
    ['occurred at', e.occurredAt],
    ['recorded at', e.recordedAt],
    ['metadata', e.metadata],
  ]);
  ctx.io.stdout.write(`data\n${indent(toJson(e.eventData))}\n\ndeliveries\n`);
  printTable(
    ctx.io,
    ['handler', 'status', 'attempts', 'next attempt', 'replay', 'updated at', 'last error', 'delivery id'],
    details.deliveries.map((d) => [
      d.handler,
      d.status,
      d.attempts,
      d.nextAttemptAt,
      d.isReplay ? 'yes' : 'no',
      d.updatedAt,
      short(d.lastError),
      d.deliveryId,
    ]),
    // Stores that forget done deliveries (memory, postgres) list only open and dead ones.
    'none open or dead (done deliveries are not kept by every store)',
  );
  ctx.io.stdout.write('\ncausation\n');
  for (const line of drawCausation(e, details.causes, details.effects)) ctx.io.stdout.write(`  ${line}\n`);
  if (details.truncated) ctx.io.stdout.write('  … (cut at a limit: see evco history --correlation)\n');
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `  ${cell(l)}`)
    .join('\n');
}
