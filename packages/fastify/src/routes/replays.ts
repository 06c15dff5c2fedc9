import { NotFoundError } from '@evco/core';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { replayProgressSchema, toReplayDto } from '../dto.js';
import type { RouteContext } from './context.js';
import { idParam, nameSchema, readErrors, secured, securityWhen, writeErrors } from './schemas.js';

/** At most this many events per replay; the job says `truncated` when the range held more. */
export const MAX_REPLAY_EVENTS = 100_000;
export const DEFAULT_REPLAY_EVENTS = 10_000;

const boundary = (name: string) =>
  z.iso.datetime({
    offset: true,
    error: (issue) =>
      issue.input === undefined
        ? 'is required: a replay covers a bounded range [from, to) of occurredAt'
        : `${name} must be an ISO-8601 date-time with a timezone`,
  });

export const replayBodySchema = z
  .strictObject({
    from: boundary('from').describe('Inclusive, on occurredAt'),
    to: boundary('to').describe('Exclusive, on occurredAt'),
    eventType: nameSchema.optional(),
    handler: z.string().min(1).max(200).optional().describe('Replay to this handler only'),
    maxEvents: z
      .number()
      .int()
      .min(1)
      .max(MAX_REPLAY_EVENTS, `must be at most ${MAX_REPLAY_EVENTS}; replay the rest with a later from`)
      .default(DEFAULT_REPLAY_EVENTS),
  })
  .refine((b) => Date.parse(b.from) < Date.parse(b.to), { path: ['to'], message: 'must be after from' });

export function replayRoutes(ctx: RouteContext): FastifyPluginAsyncZod {
  return async (app) => {
    app.post(
      '/replays',
      {
        onRequest: [ctx.guards.admin],
        schema: {
          operationId: 'evcoStartReplay',
          tags: ['evco'],
          summary: 'Start re-delivering the stored events of a bounded time range',
          description:
            `Requeues deliveries of events whose occurredAt is in [from, to), at most maxEvents ` +
            `(default ${DEFAULT_REPLAY_EVENTS}, max ${MAX_REPLAY_EVENTS}). Answers 202 at once with the ` +
            'job; follow it at GET replays/{id} until done. Handlers see context.isReplay.',
          ...secured,
          body: replayBodySchema,
          response: { 202: replayProgressSchema, ...writeErrors },
        },
      },
      async (request, reply) => {
        const job = await ctx.coordinator().startReplay(request.body);
        reply.code(202).header('location', `${app.prefix}/replays/${encodeURIComponent(job.id)}`);
        return toReplayDto(job);
      },
    );

    app.get(
      '/replays/:id',
      {
        onRequest: ctx.guards.read,
        schema: {
          operationId: 'evcoGetReplay',
          tags: ['evco'],
          summary: "A replay job's progress",
          ...securityWhen(ctx.options.protectReads),
          params: idParam('id'),
          response: { 200: replayProgressSchema, ...readErrors },
        },
      },
      async (request) => {
        const { id } = request.params as { id: string };
        const job = await ctx.coordinator().getReplay(id);
        if (!job) throw new NotFoundError('replay', id, { source: 'fastify' });
        return toReplayDto(job);
      },
    );
  };
}
