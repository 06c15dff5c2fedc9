import { type HealthStatus, maskSecrets } from '@evco/core';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { errorSchema } from '../dto.js';
import { ApiError, publicMessage } from '../errors.js';
import type { RouteContext } from './context.js';
import { open } from './schemas.js';

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
          operationId: 'evcoLive',
          tags: ['evco'],
          summary: 'Liveness: the process answers',
          ...open,
          response: { 200: z.object({ status: z.literal('ok') }) },
        },
      },
      async () => ({ status: 'ok' as const }),
    );

    app.get(
      '/health/ready',
      {
        schema: {
          operationId: 'evcoReady',
          tags: ['evco'],
          summary: 'Readiness: the coordinator runs and the event store answers',
          ...open,
          description:
            'Turns 503 as soon as the app starts closing (draining). The publisher (e.g. Redis) is not ' +
            'part of readiness: without it events are still stored and delivered by polling the store. ' +
            'Its health is in the status.',
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
        const health = await checkWithin(() => store.healthCheck(), ctx.options.readyTimeoutMs);
        if (!health.healthy) {
          const reason = typeof health.details.error === 'string' ? `: ${health.details.error}` : '';
          throw new ApiError(
            503,
            'STORE_UNAVAILABLE',
            // The probe is public: the reply says what failed, not where; the log says where.
            publicMessage(`the event store (${store.name}) is not ready${reason}`),
            {
              headers: { 'retry-after': '5' },
              logMessage: maskSecrets(`the event store (${store.name}) is not ready${reason}`),
            },
          );
        }
        return {
          status: 'ready' as const,
          store: { name: store.name, latencyMs: Math.round(health.latencyMs * 100) / 100 },
        };
      },
    );
  };
}
