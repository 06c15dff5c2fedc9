import { lookaheadLimit, readDeadLetterPage, splitLookahead } from '@evco/core';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { afterCursor, encodeCursor } from '../cursor.js';
import { deadLetterSchema, toDeadLetterDto, toUnprocessedDto, unprocessedSchema } from '../dto.js';
import type { RouteContext } from './context.js';
import {
  cursorSchema,
  limitSchema,
  MAX_PAGE,
  readErrors,
  secured,
  securityWhen,
  writeErrors,
} from './schemas.js';

const listQuerySchema = z.strictObject({ limit: limitSchema, cursor: cursorSchema });
const deadLetterQuerySchema = listQuerySchema.extend({
  handler: z
    .string()
    .min(1)
    .max(200)
    .optional()
    .describe("Only this handler's dead letters; one no process subscribed is 400 UNKNOWN_HANDLER"),
});

const retryBodySchema = z
  .strictObject({
    deliveryIds: z.array(z.string().min(1).max(200)).min(1).max(MAX_PAGE).optional(),
    handler: z.string().min(1).max(200).optional(),
  })
  .nullish()
  .describe('No body (or {}) re-drives every dead letter');

export function deadLetterRoutes(ctx: RouteContext): FastifyPluginAsyncZod {
  return async (app) => {
    const readSecurity = securityWhen(ctx.options.protectReads);

    app.get(
      '/unprocessed',
      {
        onRequest: ctx.guards.read,
        schema: {
          operationId: 'evcoListUnprocessed',
          tags: ['evco'],
          summary: 'Events with a delivery not done (pending, running or dead), oldest first',
          ...readSecurity,
          querystring: listQuerySchema,
          response: {
            200: z.object({
              events: z.array(unprocessedSchema),
              nextCursor: z.string().nullable(),
              hasMore: z.boolean(),
            }),
            ...readErrors,
          },
        },
      },
      async (request) => {
        const { limit, cursor } = request.query;
        const read = await ctx
          .coordinator()
          .getUnprocessedEvents({ limit: lookaheadLimit(limit), afterPosition: afterCursor(cursor) });
        const { rows: page, more } = splitLookahead(read, limit);
        const last = page[page.length - 1];
        return {
          events: page.map(toUnprocessedDto),
          nextCursor: last && more ? encodeCursor({ position: last.event.position, order: 'asc' }) : null,
          hasMore: more,
        };
      },
    );

    app.get(
      '/dead-letters',
      {
        onRequest: ctx.guards.read,
        schema: {
          operationId: 'evcoListDeadLetters',
          tags: ['evco'],
          summary: 'Deliveries that ran out of attempts, with their last error',
          ...readSecurity,
          querystring: deadLetterQuerySchema,
          response: {
            200: z.object({
              deadLetters: z.array(deadLetterSchema),
              nextCursor: z.string().nullable(),
              hasMore: z.boolean(),
            }),
            ...readErrors,
          },
        },
      },
      async (request) => {
        const { limit, cursor, handler } = request.query;
        const coordinator = ctx.coordinator();
        const afterPosition = afterCursor(cursor);
        const { deadLetters, more } = await readDeadLetterPage((q) => coordinator.getDeadLetters(q), {
          limit,
          ...(handler === undefined ? {} : { handler }),
          ...(afterPosition === undefined ? {} : { afterPosition }),
        });
        const last = deadLetters[deadLetters.length - 1];
        return {
          deadLetters: deadLetters.map(toDeadLetterDto),
          nextCursor: more && last ? encodeCursor({ position: last.event.position, order: 'asc' }) : null,
          hasMore: more,
        };
      },
    );

    app.post(
      '/dead-letters/retry',
      {
        onRequest: [ctx.guards.admin],
        schema: {
          operationId: 'evcoRetryDeadLetters',
          tags: ['evco'],
          summary: 'Re-drive dead letters with a fresh attempt count',
          description: "All of them, one handler's, or the given deliveryIds.",
          ...secured,
          body: retryBodySchema,
          response: { 200: z.object({ retried: z.number().int() }), ...writeErrors },
        },
      },
      async (request) => ctx.coordinator().retryDeadLetters(request.body ?? {}),
    );
  };
}
