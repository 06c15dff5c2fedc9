import { EvcoError } from '@evco/core';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { jsonSafe, subscriptionSchema } from '../dto.js';
import type { RouteContext } from './context.js';
import { nameSchema, readErrors, secured, securityWhen, writeErrors } from './schemas.js';

export function handlerRoutes(ctx: RouteContext): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/handlers',
      {
        onRequest: ctx.guards.read,
        schema: {
          operationId: 'evcoListHandlers',
          tags: ['evco'],
          summary: "The fleet's subscriptions: which handler takes which event type, and who renews it",
          ...securityWhen(ctx.options.protectReads),
          response: { 200: z.object({ subscriptions: z.array(subscriptionSchema) }), ...readErrors },
        },
      },
      async () => {
        const subscriptions = await ctx.coordinator().listSubscriptions();
        return { subscriptions: jsonSafe(subscriptions) as Array<z.output<typeof subscriptionSchema>> };
      },
    );

    app.post(
      '/handlers/:name/retire',
      {
        onRequest: [ctx.guards.admin],
        schema: {
          operationId: 'evcoRetireHandler',
          tags: ['evco'],
          summary: 'Retire a handler nobody runs any more: its subscriptions and unfinished deliveries go',
          ...secured,
          params: z.strictObject({ name: nameSchema }),
          response: { 200: z.object({ deliveriesRemoved: z.number().int() }), ...writeErrors },
        },
      },
      async (request) => {
        const coordinator = ctx.coordinator();
        const { name } = request.params;
        // A mistyped or already retired name is a 400 (as the retry route and `evco handlers
        // retire` answer it), not { deliveriesRemoved: 0 }, which reads as "retired".
        if (!(await coordinator.listSubscriptions()).some((s) => s.handler === name)) {
          throw new EvcoError(
            'UNKNOWN_HANDLER',
            `no handler named "${name}" is subscribed to any event type`,
          );
        }
        return coordinator.retireHandler(name);
      },
    );
  };
}
