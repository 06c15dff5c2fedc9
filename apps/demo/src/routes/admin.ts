import { NAME_PATTERN, type Position } from '@evco/core';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { createAdminGuard } from '../admin-auth.js';
import { decodeCursor, encodeCursor } from '../cursor.js';
import {
  deadLetterSchema,
  errorSchema,
  toDeadLetterDto,
  toUnprocessedDto,
  unprocessedSchema,
} from '../dto.js';
import { ApiError } from '../http-errors.js';
import type { RouteContext } from './context.js';
import { MAX_PAGE } from './events.js';

/** At most this many events per replay call; the reply says `truncated` when the range held more. */
export const MAX_REPLAY_EVENTS = 100_000;
export const DEFAULT_REPLAY_EVENTS = 10_000;

const boundary = (name: string) =>
  z.iso.datetime({
    offset: true,
    error: (issue) =>
      issue.input === undefined
        ? `is required: a replay covers a bounded range [from, to) of occurredAt`
        : `${name} must be an ISO-8601 date-time with a timezone`,
  });

export const replayBodySchema = z
  .strictObject({
    from: boundary('from').describe('Inclusive, on occurredAt'),
    to: boundary('to').describe('Exclusive, on occurredAt'),
    eventType: z.string().min(1).max(200).regex(NAME_PATTERN).optional(),
    handler: z.string().min(1).max(200).optional().describe('Replay to this handler only'),
    maxEvents: z
      .number()
      .int()
      .min(1)
      .max(MAX_REPLAY_EVENTS, `must be at most ${MAX_REPLAY_EVENTS}; replay the rest with a later from`)
      .default(DEFAULT_REPLAY_EVENTS),
  })
  .refine((b) => Date.parse(b.from) < Date.parse(b.to), { path: ['to'], message: 'must be after from' });

const limit = z.coerce
  .number()
  .int('must be a whole number')
  .min(1, 'must be at least 1')
  .max(MAX_PAGE, `must be at most ${MAX_PAGE}`)
  .default(100);

const listQuerySchema = z.strictObject({ limit, cursor: z.string().max(200).optional() });
const deadLetterQuerySchema = listQuerySchema.extend({ handler: z.string().min(1).max(200).optional() });

const retryBodySchema = z
  .strictObject({
    deliveryIds: z.array(z.string().min(1).max(300)).min(1).max(MAX_PAGE).optional(),
    handler: z.string().min(1).max(200).optional(),
  })
  .nullish()
  .describe('No body (or {}) re-drives every dead letter');

const secured = { security: [{ adminToken: [] }] };
const adminErrors = { 400: errorSchema, 401: errorSchema, 404: errorSchema, 503: errorSchema };

function afterPosition(cursor: string | undefined): Position | undefined {
  if (cursor === undefined) return undefined;
  const decoded = decodeCursor(cursor);
  if (decoded.order !== 'asc')
    throw new ApiError(400, 'INVALID_CURSOR', 'this cursor belongs to another listing');
  return decoded.position;
}

/** The position just before `p` (as a cursor that includes `p`), or none for the first one. */
function positionBefore(p: Position): Position | undefined {
  const n = BigInt(p);
  return n > 0n ? (n - 1n).toString() : undefined;
}

export function adminRoutes(ctx: RouteContext): FastifyPluginAsyncZod {
  return async (app) => {
    // onRequest: an unauthenticated request is turned away before its body is even read.
    app.addHook('onRequest', createAdminGuard(ctx.config.adminToken));

    app.post(
      '/admin/replay',
      {
        schema: {
          ...secured,
          tags: ['admin'],
          summary: 'Re-deliver stored events of a bounded time range',
          description:
            `Requeues deliveries of events whose occurredAt is in [from, to), at most maxEvents ` +
            `(default ${DEFAULT_REPLAY_EVENTS}, max ${MAX_REPLAY_EVENTS}). Handlers see context.isReplay.`,
          body: replayBodySchema,
          response: {
            200: z.object({
              replayId: z.string(),
              events: z.number().int(),
              deliveries: z.number().int(),
              truncated: z.boolean().describe('The range held more than maxEvents events'),
            }),
            ...adminErrors,
          },
        },
      },
      async (request) => ctx.coordinator().replayEvents(request.body),
    );

    app.get(
      '/admin/unprocessed',
      {
        schema: {
          ...secured,
          tags: ['admin'],
          summary: 'Events with a delivery not done (pending, running or dead)',
          querystring: listQuerySchema,
          response: {
            200: z.object({
              events: z.array(unprocessedSchema),
              nextCursor: z.string().nullable(),
              hasMore: z.boolean(),
            }),
            ...adminErrors,
          },
        },
      },
      async (request) => {
        const { limit, cursor } = request.query;
        const page = await ctx
          .coordinator()
          .getUnprocessedEvents({ limit, afterPosition: afterPosition(cursor) });
        const last = page[page.length - 1];
        return {
          events: page.map(toUnprocessedDto),
          nextCursor:
            last && page.length === limit
              ? encodeCursor({ position: last.event.position, order: 'asc' })
              : null,
          hasMore: page.length === limit,
        };
      },
    );

    app.get(
      '/admin/dead-letters',
      {
        schema: {
          ...secured,
          tags: ['admin'],
          summary: 'Deliveries that ran out of attempts, with their last error',
          querystring: deadLetterQuerySchema,
          response: {
            200: z.object({
              deadLetters: z.array(deadLetterSchema),
              nextCursor: z.string().nullable(),
              hasMore: z.boolean(),
            }),
            ...adminErrors,
          },
        },
      },
      async (request) => {
        const { limit, cursor, handler } = request.query;
        const coordinator = ctx.coordinator();
        const page = await coordinator.getDeadLetters({
          limit,
          handler,
          afterPosition: afterPosition(cursor),
        });
        if (page.length < limit)
          return { deadLetters: page.map(toDeadLetterDto), nextCursor: null, hasMore: false };
        // The store pages by event position, and one event may have dead letters of several
        // handlers: a page cut between them would skip the rest. So the last position's letters
        // are held back for the next page; when they fill the whole page, that position is
        // fetched complete (one letter per handler at most, so this stays small).
        const lastPosition = page[page.length - 1]!.event.position;
        let shown = page.filter((d) => d.event.position !== lastPosition);
        if (shown.length === 0) {
          const group = await coordinator.getDeadLetters({
            limit: 10_000,
            handler,
            afterPosition: positionBefore(lastPosition),
          });
          shown = group.filter((d) => d.event.position === lastPosition);
        }
        return {
          deadLetters: shown.map(toDeadLetterDto),
          nextCursor: encodeCursor({ position: shown[shown.length - 1]!.event.position, order: 'asc' }),
          hasMore: true,
        };
      },
    );

    app.post(
      '/admin/dead-letters/retry',
      {
        schema: {
          ...secured,
          tags: ['admin'],
          summary: 'Re-drive dead letters with a fresh attempt count',
          description: "All of them, one handler's, or the given deliveryIds.",
          body: retryBodySchema,
          response: { 200: z.object({ retried: z.number().int() }), ...adminErrors },
        },
      },
      async (request) => ctx.coordinator().retryDeadLetters(request.body ?? {}),
    );
  };
}
