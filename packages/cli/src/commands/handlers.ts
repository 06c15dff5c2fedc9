import type { Context } from '../context.js';
import { withConnection } from '../context.js';
import { UsageError } from '../errors.js';
import { printJson, printTable } from '../output.js';

/** `evco handlers`: every subscription in the store, live or expired (orphaned), with its backlog. */
export async function listHandlers(ctx: Context): Promise<void> {
  const { subscriptions, status } = await withConnection(ctx, {}, async ({ admin }) => ({
    subscriptions: await admin.listSubscriptions(),
    status: await admin.getCoordinatorStatus(),
  }));
  const backlog = new Map(status.handlers.map((h) => [h.name, h]));
  if (ctx.json) {
    printJson(ctx.io, {
      subscriptions,
      handlers: status.handlers,
    });
    return;
  }
  printTable(
    ctx.io,
    [
      'handler',
      'event type',
      'ordering',
      'state',
      'expires at',
      'last seen by',
      'pending',
      'dead',
      'orphaned',
    ],
    subscriptions.map((s) => {
      const h = backlog.get(s.handler);
      return [
        s.handler,
        s.eventType,
        s.ordering,
        s.expired ? 'EXPIRED' : 'live',
        s.expiresAt,
        s.lastSeenBy,
        figure(h?.pending),
        figure(h?.dead),
        figure(h?.orphaned),
      ];
    }),
    'no subscriptions: no handler has registered on this store',
  );
}

/** A handler's count; '?' when the store's stats did not answer (null), not a reassuring 0. */
function figure(value: number | null | undefined): number | string {
  return value === null ? '?' : (value ?? 0);
}

/** `evco handlers retire NAME --yes`: deletes its subscriptions and drops its unfinished deliveries. */
export async function retireHandler(ctx: Context, name: string, yes: boolean): Promise<void> {
  await withConnection(ctx, {}, async ({ admin }) => {
    const known = (await admin.listSubscriptions()).some((s) => s.handler === name);
    if (!known) throw new UsageError(`no handler named "${name}" is subscribed (see evco handlers)`);
    if (!yes) {
      const h = (await admin.getCoordinatorStatus()).handlers.find((x) => x.name === name);
      const counts = [h?.pending, h?.running, h?.dead];
      const open = counts.includes(null)
        ? 'its unfinished deliveries (how many is unknown: the store did not count them)'
        : `${counts.reduce<number>((sum, n) => sum + (n ?? 0), 0)} unfinished deliveries`;
      throw new UsageError(`retiring "${name}" deletes its subscriptions and ${open}; add --yes to do it`);
    }
    const result = await admin.retireHandler(name);
    if (ctx.json) printJson(ctx.io, { handler: name, ...result });
    else ctx.io.stdout.write(`retired ${name}: ${result.deliveriesRemoved} unfinished deliveries removed\n`);
  });
}
