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
        h?.pending ?? 0,
        h?.dead ?? 0,
        h?.orphaned ?? 0,
      ];
    }),
    'no subscriptions: no handler has registered on this store',
  );
}

/** `evco handlers retire NAME --yes`: deletes its subscriptions and drops its unfinished deliveries. */
export async function retireHandler(ctx: Context, name: string, yes: boolean): Promise<void> {
  await withConnection(ctx, {}, async ({ admin }) => {
    const known = (await admin.listSubscriptions()).some((s) => s.handler === name);
    if (!known) throw new UsageError(`no handler named "${name}" is subscribed (see evco handlers)`);
    if (!yes) {
      const h = (await admin.getCoordinatorStatus()).handlers.find((x) => x.name === name);
      const open = (h?.pending ?? 0) + (h?.running ?? 0) + (h?.dead ?? 0);
      throw new UsageError(
        `retiring "${name}" deletes its subscriptions and ${open} unfinished deliveries; add --yes to do it`,
      );
    }
    const result = await admin.retireHandler(name);
    if (ctx.json) printJson(ctx.io, { handler: name, ...result });
    else ctx.io.stdout.write(`retired ${name}: ${result.deliveriesRemoved} unfinished deliveries removed\n`);
  });
}
