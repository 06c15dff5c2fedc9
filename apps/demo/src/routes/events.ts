import { NAME_PATTERN } from '@evco/core';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { decodeCursor, encodeCursor } from '../cursor.js';
import { errorSchema, publishedSchema, recordedEventSchema, toEventDto } from '../dto.js';
import { ApiError } from '../http-errors.js';
import { MAX_BATCH, parsePublishBody, publishBodyDocSchema } from '../publish-body.js';
import type { RouteContext } from './context.js';

/** The most events one history page returns. */
export const MAX_PAGE = 1000;

const isoDateTime = z.iso.datetime({
  offset: true,
  message: 'must be an ISO-8601 date-time with a timezone',
});
const eventTypeName = z
  .string()
  .min(1)
  .max(200)
  .regex(NAME_PATTERN, 'may only contain letters, digits and _ . : -');

export const historyQuerySchema = z
  .strictObject({
    eventType: z
      .union([eventTypeName, z.array(eventTypeName).min(1).max(50)])
      .optional()
      .describe('One type, or several: repeat the parameter'),
    aggregateId: z.string().min(1).max(200).optional(),
    from: isoDateTime.optional().describe('Inclusive, on occurredAt'),
    to: isoDateTime.optional().describe('Exclusive, on occurredAt'),
    limit: z.coerce
      .number()
      .int('must be a whole number')
      .min(1, 'must be at least 1')
      .max(MAX_PAGE, `must be at most ${MAX_PAGE}`)
      .default(100),
    order: z.enum(['asc', 'desc']).optional().describe("By position. @default asc (or the cursor's)"),
    cursor: z.string().max(200).optional().describe('nextCursor of the previous page'),
  })
  .refine((q) => q.from === undefined || q.to === undefined || Date.parse(q.from) < Date.parse(q.to), {
    path: ['to'],
    message: 'must be after from',
  });

const publishReplySchema = z.union([publishedSchema, z.object({ events: z.array(publishedSchema) })]);

/** The request body is validated in the handler (`parsePublishBody`), which knows every module's contract. */
const passThrough = () => (data: unknown) => ({ value: data });

export function eventRoutes(ctx: RouteContext): FastifyPluginAsyncZod {
  return async (app) => {
    app.post(
      '/events',
      {
        schema: {
          tags: ['events'],
          summary: 'Publish one event, or a batch atomically',
          description:
            `Body: one event, or \`{ "events": [ ... ] }\` (at most ${MAX_BATCH}, stored all or none). ` +
            `Accepted types: ${ctx.catalog.types.join(', ')}; eventData must match the type's contract. ` +
            'The event is stored, then handled asynchronously by every module that reacts to it.',
          body: publishBodyDocSchema(ctx.catalog),
          response: {
            201: publishReplySchema,
            400: errorSchema,
            409: errorSchema,
            413: errorSchema,
            503: errorSchema,
          },
        },
        validatorCompiler: passThrough,
      },
      async (request, reply) => {
        const { batch, events } = parsePublishBody(request.body as unknown, ctx.catalog);
        const results = await ctx.coordinator().publishEvents(events);
        const published = results.map((r, i) => {
          const event = events[i]!;
          return {
            eventId: r.eventId,
            eventType: event.eventType,
            position: r.position.toString(),
            deliveries: r.deliveries,
            correlationId: String(event.metadata.correlationId ?? event.id),
          };
        });
        reply.code(201);
        return batch ? { events: published } : published[0]!;
      },
    );

    app.get(
      '/events',
      {
        schema: {
          tags: ['events'],
          summary: 'Event history, filtered and paged',
          description:
            `Pages of at most ${MAX_PAGE} events by position. Pass \`nextCursor\` as \`cursor\` for the next ` +
            'page while `hasMore` is true. To follow new events as they are stored, keep polling with ' +
            'the latest `nextCursor` (an empty page hands back the cursor it was given).',
          querystring: historyQuerySchema,
          response: {
            200: z.object({
              events: z.array(recordedEventSchema),
              nextCursor: z
                .string()
                .nullable()
                .describe('Continues after this page; null only for an empty first page'),
              hasMore: z.boolean().describe('The page was full: there may be more right away'),
            }),
            400: errorSchema,
            503: errorSchema,
          },
        },
      },
      async (request) => {
        const q = request.query;
        const cursor = q.cursor === undefined ? undefined : decodeCursor(q.cursor);
        if (cursor && q.order && cursor.order !== q.order) {
          throw new ApiError(400, 'INVALID_CURSOR', `the cursor continues an order=${cursor.order} listing`, {
            issues: [{ path: 'order', message: `must be ${cursor.order} with this cursor, or left out` }],
          });
        }
        const order = q.order ?? cursor?.order ?? 'asc';
        const events = await ctx.coordinator().getEventHistory({
          eventType: q.eventType,
          aggregateId: q.aggregateId,
          from: q.from,
          to: q.to,
          limit: q.limit,
          order,
          afterPosition: order === 'asc' ? cursor?.position : undefined,
          beforePosition: order === 'desc' ? cursor?.position : undefined,
        });
        const last = events[events.length - 1];
        return {
          events: events.map(toEventDto),
          nextCursor: last ? encodeCursor({ position: last.position, order }) : (q.cursor ?? null),
          hasMore: events.length === q.limit,
        };
      },
    );
  };
}
