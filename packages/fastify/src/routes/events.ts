import { lookaheadLimit, NotFoundError, splitLookahead } from '@evco/core';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { decodeCursor, encodeCursor } from '../cursor.js';
import {
  errorSchema,
  eventDetailsSchema,
  prunedRangeSchema,
  publishedSchema,
  recordedEventSchema,
  toEventDetailsDto,
  toEventDto,
  toPrunedDto,
} from '../dto.js';
import { ApiError } from '../errors.js';
import { EventCatalog } from '../event-catalog.js';
import { parsePublishBody, publishBodyDocSchema } from '../publish-body.js';
import type { RouteContext } from './context.js';
import {
  cursorSchema,
  idParam,
  isoDateTime,
  limitSchema,
  MAX_PAGE,
  nameSchema,
  readErrors,
  securityWhen,
  writeErrors,
} from './schemas.js';

export const historyQuerySchema = z
  .strictObject({
    eventType: z
      .union([nameSchema, z.array(nameSchema).min(1).max(50)])
      .optional()
      .describe('One type, or several: repeat the parameter'),
    aggregateId: z.string().min(1).max(200).optional(),
    aggregateType: z.string().min(1).max(200).optional(),
    correlationId: z.string().min(1).max(200).optional().describe('Events of one flow'),
    from: isoDateTime.optional().describe('Inclusive, on occurredAt'),
    to: isoDateTime.optional().describe('Exclusive, on occurredAt'),
    limit: limitSchema,
    order: z.enum(['asc', 'desc']).optional().describe("By position. @default asc (or the cursor's)"),
    cursor: cursorSchema,
  })
  .refine((q) => q.from === undefined || q.to === undefined || Date.parse(q.from) < Date.parse(q.to), {
    path: ['to'],
    message: 'must be after from',
  });

const publishReplySchema = z.union([publishedSchema, z.object({ events: z.array(publishedSchema) })]);

/** The request body is validated in the handler (`parsePublishBody`), which knows every contract. */
const passThrough = () => (data: unknown) => ({ value: data });

export function eventRoutes(ctx: RouteContext): FastifyPluginAsyncZod {
  return async (app) => {
    const publish = ctx.options.publish;
    if (publish) {
      const catalog = publish.eventTypes ? new EventCatalog(publish.eventTypes) : undefined;
      const accepted = catalog
        ? `Accepted types: ${catalog.types.join(', ')}; eventData must match the type's contract. `
        : '';
      app.post(
        '/events',
        {
          onRequest: publish.requireAuth ? [ctx.guards.admin] : [],
          schema: {
            operationId: 'evcoPublishEvents',
            tags: ['evco'],
            summary: 'Publish one event, or a batch atomically',
            description:
              `Body: one event, or \`{ "events": [ ... ] }\` (at most ${publish.maxBatch}, stored all or none). ` +
              accepted +
              'The event is stored, then handled asynchronously by every handler registered for its type.',
            ...securityWhen(publish.requireAuth),
            body: publishBodyDocSchema(catalog, publish.maxBatch),
            response: { 201: publishReplySchema, ...writeErrors, 413: errorSchema },
          },
          validatorCompiler: passThrough,
        },
        async (request, reply) => {
          const { batch, events } = parsePublishBody(request.body as unknown, catalog, publish.maxBatch);
          const results = await ctx.coordinator().publishEvents(events);
          const published = results.map((r, i) => {
            const event = events[i]!;
            return {
              eventId: r.eventId,
              eventType: event.eventType,
              position: r.position,
              deliveries: r.deliveries,
              correlationId: String(event.metadata.correlationId ?? event.id),
            };
          });
          reply.code(201);
          return batch ? { events: published } : published[0]!;
        },
      );
    }

    app.get(
      '/events',
      {
        onRequest: ctx.guards.read,
        schema: {
          operationId: 'evcoListEvents',
          tags: ['evco'],
          summary: 'Event history, filtered and paged',
          description:
            `Pages of at most ${MAX_PAGE} events by position. Pass \`nextCursor\` as \`cursor\` for the next ` +
            'page while `hasMore` is true. To follow new events as they are stored, keep polling with ' +
            'the latest `nextCursor` (an empty page hands back the cursor it was given).',
          ...securityWhen(ctx.options.protectReads),
          querystring: historyQuerySchema,
          response: {
            200: z.object({
              events: z.array(recordedEventSchema),
              nextCursor: z
                .string()
                .nullable()
                .describe('Continues after this page; null only for an empty first page'),
              hasMore: z
                .boolean()
                .describe('More events follow this page right now: fetch the next one without waiting'),
              pruned: z
                .array(prunedRangeSchema)
                .describe('Per event type the query covers, what retention removed from its range'),
            }),
            ...readErrors,
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
        const query = {
          eventType: q.eventType,
          aggregateId: q.aggregateId,
          aggregateType: q.aggregateType,
          from: q.from,
          to: q.to,
          limit: lookaheadLimit(q.limit),
          order,
          afterPosition: order === 'asc' ? cursor?.position : undefined,
          beforePosition: order === 'desc' ? cursor?.position : undefined,
          ...(q.correlationId === undefined ? {} : { correlationId: q.correlationId }),
        };
        const read = await ctx.coordinator().readEventHistory(query);
        const { rows: events, more } = splitLookahead(read.events, q.limit);
        const { pruned } = read;
        const last = events[events.length - 1];
        return {
          events: events.map(toEventDto),
          nextCursor: last ? encodeCursor({ position: last.position, order }) : (q.cursor ?? null),
          hasMore: more,
          pruned: pruned.map(toPrunedDto),
        };
      },
    );

    app.get(
      '/events/:id',
      {
        onRequest: ctx.guards.read,
        schema: {
          operationId: 'evcoGetEvent',
          tags: ['evco'],
          summary: 'One event, its deliveries and its causation tree',
          description:
            'causes: the chain of events that led to it, root first. effects: the events it caused, ' +
            'each with its own effects (bounded; truncated says when a limit cut the tree).',
          ...securityWhen(ctx.options.protectReads),
          params: idParam('id'),
          response: { 200: eventDetailsSchema, ...readErrors },
        },
      },
      async (request) => {
        const { id } = request.params as { id: string };
        const details = await ctx.coordinator().getEventDetails(id);
        if (!details) throw new NotFoundError('event', id, { source: 'fastify' });
        return toEventDetailsDto(details);
      },
    );
  };
}
