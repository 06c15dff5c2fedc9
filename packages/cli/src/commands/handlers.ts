import type { CoordinatorStatus, SubscriptionStatus } from '@evco/core';
import type { Context } from '../context.js';
import { withConnection } from '../context.js';
import { UsageError } from '../errors.js';
import { printJson, printTable } from '../output.js';
import { countsExit, storeWhere } from './status.js';

/**
 * `evco handlers`: every subscription in the store, live or expired (orphaned), with its backlog.
 * Exit 3, as `status`, when the store's counts query did not answer: the backlog shows `?`, and a
 * script reading the exit code must not take unknown counts for none.
 */
export async function listHandlers(ctx: Context): Promise<number> {
  const { subscriptions, status, target } = await withConnection(ctx, {}, async ({ admin, target }) => ({
    subscriptions: await admin.listSubscriptions(),
    status: await admin.getCoordinatorStatus(),
    target,
  }));
  return reportHandlers(ctx, subscriptions, status, storeWhere(target));
}

/** Prints the subscriptions with their backlog and gives the exit code: 3 when the counts are unknown. */
export function reportHandlers(
  ctx: Context,
  subscriptions: SubscriptionStatus[],
  status: CoordinatorStatus,
  where: string,
): number {
  printHandlers(ctx, subscriptions, status);
  return countsExit(ctx, status, where);
}

function printHandlers(ctx: Context, subscriptions: SubscriptionStatus[], status: CoordinatorStatus): void {
  const backlog = new Map(status.handlers.map((h) => [h.name, h]));
  if (ctx.json) {
    // fleetStats says whether the handlers' counts are known (null when not) and why not.
    printJson(ctx.io, {
      subscriptions,
      handlers: status.handlers,
      fleetStats: status.fleetStats,
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
