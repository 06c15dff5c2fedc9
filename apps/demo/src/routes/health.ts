import type { HealthStatus } from '@evco/core';
import { maskSecrets } from '@evco/core';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { describeConfig } from '../config.js';
import { errorSchema, statusSchema, toStatusDto } from '../dto.js';
import { ApiError } from '../http-errors.js';
import type { RouteContext } from './context.js';

/** A store that does not answer within this is as good as down for a readiness probe. */
export const READY_TIMEOUT_MS = 2000;

async function checkWithin(check: () => Promise<HealthStatus>, timeoutMs: number): Promise<HealthStatus> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<HealthStatus>((resolve) => {
    timer = setTimeout(
      () =>
        resolve({
          healthy: false,
          latencyMs: timeoutMs,
          details: { error: `no answer within ${timeoutMs} ms` },
        }),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([
      check().catch(
        (error: unknown): HealthStatus => ({
          healthy: false,
          latencyMs: 0,
          details: { error: error instanceof Error ? error.message : String(error) },
        }),
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export function healthRoutes(ctx: RouteContext): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/health/live',
      {
        schema: {
          tags: ['health'],
          summary: 'Liveness: the process answers',
          response: { 200: z.object({ status: z.literal('ok') }) },
        },
      },
      async () => ({ status: 'ok' as const }),
    );

    app.get(
      '/health/ready',
      {
        schema: {
          tags: ['health'],
          summary: 'Readiness: the coordinator runs and the event store answers',
          description:
            'The publisher (Redis) is not part of readiness: without it events are still stored and ' +
            'delivered by polling the store. Its health is in /status.',
          response: {
            200: z.object({
              status: z.literal('ready'),
              store: z.object({ name: z.string(), latencyMs: z.number() }),
            }),
            503: errorSchema,
          },
        },
      },
      async () => {
        const coordinator = ctx.coordinator();
        const store = coordinator.eventStore;
        const health = await checkWithin(() => store.healthCheck(), READY_TIMEOUT_MS);
        if (!health.healthy) {
          const reason = typeof health.details.error === 'string' ? `: ${health.details.error}` : '';
          throw new ApiError(
            503,
            'STORE_UNAVAILABLE',
            maskSecrets(`the event store (${store.name}) is unreachable${reason}`),
            {
              headers: { 'retry-after': '5' },
            },
          );
        }
        return {
          status: 'ready' as const,
          store: { name: store.name, latencyMs: Math.round(health.latencyMs * 100) / 100 },
        };
      },
    );

    app.get(
      '/status',
      {
        schema: {
          tags: ['status'],
          summary: 'Coordinator status: adapters and their health, handlers, counts, lag',
          description: 'Connection strings are shown with passwords masked; the admin token never appears.',
          response: { 200: statusSchema, 503: errorSchema },
        },
      },
      async () => {
        const status = await ctx.coordinator().getCoordinatorStatus();
        const { store, publisher, adminRoutes } = describeConfig(ctx.config);
        return {
          service: {
            name: 'evco-demo',
            startedAt: ctx.startedAt.toISOString(),
            uptimeSeconds: Math.round((Date.now() - ctx.startedAt.getTime()) / 1000),
            store,
            publisher,
            adminRoutes,
            eventTypes: [...ctx.catalog.types],
          },
          coordinator: toStatusDto(status),
        };
      },
    );
  };
}
