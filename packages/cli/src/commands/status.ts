import type { CoordinatorStatus } from '@evco/core';
import { type RedisTransport, redisTransport, type Target } from '../connect.js';
import type { Context } from '../context.js';
import { withConnection } from '../context.js';
import { CommandFailed, EXIT, withSchemaHint } from '../errors.js';
import { duration, printFields, printJson, printTable } from '../output.js';

/** `evco status`: store and publisher health, fleet counts, lag, and every handler the fleet knows. */
export async function status(ctx: Context): Promise<number> {
  const { s, target, redis } = await withConnection(
    ctx,
    { announce: true },
    async ({ admin, target, redis }) => ({ s: await admin.getCoordinatorStatus(), target, redis }),
  );
  return reportStatus(ctx, s, storeWhere(target), redis && redisTransport(redis));
}

/** The store as messages name it: the masked URL and, on Postgres, the schema. */
export function storeWhere(target: Target): string {
  return target.kind === 'postgres' ? `${target.where} schema ${target.schema ?? 'evco'}` : target.where;
}

/**
 * Exit 3 with the reason on stderr when the store answered but its counts query did not (the
 * fleet's counts are unknown), else 0: `status` and `handlers` both print counts, and neither may
 * pass as "all clear" when it could not count.
 */
export function countsExit(ctx: Context, s: CoordinatorStatus, where: string): number {
  if (s.fleetStats.available) return EXIT.ok;
  ctx.io.stderr.write(
    `evco: the fleet counts are unknown: the ${s.store.name} store at ${where} answers, but its stats did not (${s.fleetStats.error}); exit ${EXIT.incomplete}\n`,
  );
  return EXIT.incomplete;
}

/**
 * Prints the status and gives the exit code a probe reads: 1 (thrown) when the store is
 * unhealthy, 3 when it answers but its counts query did not, 0 otherwise. The publisher is a
 * doorbell and does not count. Unknown counts are not a pass: a script alerting on the exit
 * code would otherwise go quiet exactly while dead letters and backlog cannot be seen.
 */
export function reportStatus(
  ctx: Context,
  s: CoordinatorStatus,
  where: string,
  redis?: RedisTransport | undefined,
): number {
  if (ctx.json) printJson(ctx.io, redis ? { ...s, publisher: { ...s.publisher, ...redis } } : s);
  else printStatus(ctx, s, where, redis);
  if (!s.store.health.healthy) {
    const error = s.store.health.details.error;
    throw new CommandFailed(
      `the ${s.store.name} store at ${where} is unhealthy${typeof error === 'string' ? `: ${error}` : ''}`,
    );
  }
  return countsExit(ctx, s, where);
}

function health(h: CoordinatorStatus['store']['health'], flags: Context['flags']): string {
  // The same advice as the error line on stderr: `evco migrate` names the schema the command used.
  const error = typeof h.details.error === 'string' ? ` (${withSchemaHint(h.details.error, flags)})` : '';
  return `${h.healthy ? 'healthy' : 'UNHEALTHY'}, ${Math.round(h.latencyMs)} ms${error}`;
}

/** `rediss://host:port (tls)`, `redis-sentinel://…/NAME (tls; sentinels plain)`. */
function transport(r: RedisTransport): string {
  const sentinels = r.sentinelTransport === undefined ? '' : `; sentinels ${r.sentinelTransport}`;
  return `${r.where} (${r.transport}${sentinels})`;
}

export function printStatus(
  ctx: Context,
  s: CoordinatorStatus,
  where: string,
  redis?: RedisTransport | undefined,
): void {
  const publisher =
    s.publisher.name === 'none'
      ? 'none (coordinators find work by polling)'
      : `${s.publisher.name}${redis ? ` ${transport(redis)}` : ''}: ${health(s.publisher.health, ctx.flags)}`;
  const c = s.counts;
  const store = `${s.store.name} ${where}: ${health(s.store.health, ctx.flags)}`;
  // Counts of a store that did not answer would read as zeros: show only the health then.
  if (!s.store.health.healthy) {
    printFields(ctx.io, [
      ['store', store],
      ['publisher', publisher],
    ]);
    return;
  }
  // The store answers but its counts query failed (a statement timeout): unknown, not zero.
  const known = s.fleetStats.available;
  const fleet: Array<[string, unknown]> = s.fleetStats.available
    ? [
        ['last position', s.lastPosition ?? 'no events'],
        ['deliveries', `${c.pending} pending, ${c.dead} dead, ${c.orphaned} orphaned`],
        ['unprocessed', `${c.unprocessed} events`],
        ['lag', c.lagMs !== null && c.lagMs > 0 ? duration(c.lagMs) : 'none'],
      ]
    : [['fleet counts', `UNKNOWN: the store's stats did not answer (${s.fleetStats.error})`]];
  printFields(ctx.io, [['store', store], ['publisher', publisher], ...fleet]);
  ctx.io.stdout.write('\n');
  const now = Date.now();
  printTable(
    ctx.io,
    ['handler', 'event types', 'pending', 'running', 'dead', 'orphaned', 'lag', 'subscription'],
    s.handlers.map((h) => [
      h.name,
      h.eventTypes.join(', '),
      known ? h.pending : '?',
      known ? h.running : '?',
      known ? h.dead : '?',
      known ? h.orphaned : '?',
      !known ? '?' : h.lagMs !== null && h.lagMs > 0 ? duration(h.lagMs) : '-',
      h.subscriptionExpiresAt === null
        ? 'none'
        : h.subscriptionExpiresAt.getTime() > now
          ? `live until ${h.subscriptionExpiresAt.toISOString()}`
          : `EXPIRED ${h.subscriptionExpiresAt.toISOString()}`,
    ]),
    'no handlers known to the fleet',
  );
}
