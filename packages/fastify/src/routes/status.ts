import type { HealthStatus } from '@evco/core';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { jsonSafe, positionSchema } from '../dto.js';
import { fleetMembers } from '../fleet.js';
import type { RouteContext } from './context.js';
import { optionalAuth, readErrors } from './schemas.js';

const healthSchema = z.looseObject({
  healthy: z.boolean(),
  latencyMs: z.number(),
  details: z.record(z.string(), z.unknown()).optional().describe('Only for an authorized request'),
});

const adapterSchema = z.looseObject({ name: z.string(), health: healthSchema });

export const statusSchema = z.object({
  admin: z.boolean().describe('The request was authorized: internals (locations, health details) are shown'),
  adminRoutes: z
    .object({
      enabled: z.boolean(),
      hint: z.string().optional().describe("The plugin's authHint: how to turn them on"),
    })
    .describe(
      'Whether the admin routes are on (an auth check is configured); off, they answer 404 ADMIN_DISABLED',
    ),
  service: z
    .record(z.string(), z.unknown())
    .optional()
    .describe("The app's own facts (the plugin's describe option)"),
  id: z.string().describe('This coordinator'),
  state: z.enum(['running', 'stopping', 'stopped']),
  startedAt: z.string(),
  store: adapterSchema,
  publisher: adapterSchema,
  handlers: z.array(
    z.looseObject({
      name: z.string(),
      eventTypes: z.array(z.string()),
      local: z.boolean().describe('Registered in this process'),
      pending: z.number().nullable().describe('null: unknown, the store did not count (see fleetStats)'),
      running: z.number().nullable(),
      dead: z.number().nullable(),
      orphaned: z.number().nullable(),
      lagMs: z.number().nullable().optional().describe("Age of the handler's oldest open delivery"),
    }),
  ),
  fleetStats: z
    .object({
      available: z.boolean(),
      error: z.string().optional().describe('Why not; only for an authorized request'),
    })
    .describe(
      "Whether the store answered the fleet's counts (a statement timeout can fail them alone): when not, " +
        "the fleet's figures (counts.dead, pending, unprocessed, orphaned, lagMs, the handlers' counts) are null, not 0",
    ),
  counts: z
    .record(z.string(), z.number().nullable())
    .describe(
      'This process (published, handled, …) and the fleet (dead, pending, lagMs, …; null when fleetStats is unavailable)',
    ),
  metrics: z.record(z.string(), z.number()).describe("This process's counters since start"),
  fleet: z.array(
    z.object({
      coordinatorId: z.string(),
      self: z.boolean(),
      lastSeenAt: z.string(),
      expiresAt: z.string().describe('The latest expiry of the subscriptions it renews'),
      expired: z
        .boolean()
        .describe(
          'Nobody renewed any of its subscriptions in time (by the server clock): the process is gone',
        ),
      handlers: z.array(z.string()),
    }),
  ),
  lastPosition: positionSchema.nullable(),
});

/** Health without its details: they name files, hosts and driver errors. */
function publicHealth(health: HealthStatus): { healthy: boolean; latencyMs: number } {
  return { healthy: health.healthy, latencyMs: Math.round(health.latencyMs * 100) / 100 };
}

export function statusRoutes(ctx: RouteContext): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/status',
      {
        schema: {
          operationId: 'evcoStatus',
          tags: ['evco'],
          summary: 'What the coordinator and the fleet are doing: adapters, handlers, counts, lag',
          description:
            'Public, for dashboards and probes. With an authorized request (admin: true) it also shows ' +
            "the adapters' health details (store location, connection URLs with passwords masked) and the " +
            "app's private facts. Secrets never appear.",
          ...optionalAuth,
          response: { 200: statusSchema, ...readErrors },
        },
      },
      async (request) => {
        const coordinator = ctx.coordinator();
        const admin = await ctx.isAdmin(request);
        const [status, subscriptions] = await Promise.all([
          coordinator.getCoordinatorStatus(),
          coordinator.listSubscriptions().catch(() => []),
        ]);
        const store = admin ? status.store : { ...status.store, health: publicHealth(status.store.health) };
        const publisher = admin
          ? status.publisher
          : { ...status.publisher, health: publicHealth(status.publisher.health) };
        // The stats error is a driver's message (hosts, statements): like health details, admins only.
        const fleetStats = admin ? status.fleetStats : { available: status.fleetStats.available };
        const { auth, authHint } = ctx.options;
        const body = {
          admin,
          // Public like the 404 ADMIN_DISABLED it predicts: a dashboard says so before a click.
          adminRoutes: auth ? { enabled: true } : { enabled: false, ...(authHint ? { hint: authHint } : {}) },
          ...(ctx.options.describe ? { service: ctx.options.describe({ admin }) } : {}),
          ...status,
          store,
          publisher,
          fleetStats,
          metrics: { ...coordinator.metrics },
          fleet: fleetMembers(subscriptions, coordinator.id),
        };
        return jsonSafe(body) as z.output<typeof statusSchema>;
      },
    );
  };
}
