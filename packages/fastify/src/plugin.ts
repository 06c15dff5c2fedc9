/**
 * `evcoPlugin`: one `register` call wires evco into a Fastify app.
 *
 *   register/ready → the coordinator is created (or adopted), `app.evco` points at it, the routes
 *                    and the dashboard are mounted under the prefix
 *   close()        → preClose: readiness turns 503 and the routes refuse new work · the server
 *                    stops and in-flight requests finish · onClose: the coordinator drains its
 *                    in-flight handlers and closes the store and the publisher
 */
import {
  type CoordinatorOptions,
  createCoordinator,
  type EventDrivenCoordinator,
  type Logger,
} from '@evco/core';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { createAuthGuard, isAuthorized } from './auth.js';
import { registerDashboard } from './dashboard.js';
import { ApiError, evcoErrorHandler, evcoNotFoundHandler } from './errors.js';
import { type EvcoPluginOptions, isCoordinator, type ResolvedOptions, resolveOptions } from './options.js';
import type { RouteContext } from './routes/context.js';
import { deadLetterRoutes } from './routes/dead-letters.js';
import { eventRoutes } from './routes/events.js';
import { handlerRoutes } from './routes/handlers.js';
import { healthRoutes } from './routes/health.js';
import { replayRoutes } from './routes/replays.js';
import { statusRoutes } from './routes/status.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The evco coordinator the plugin runs (registered by `@evco/fastify`). */
    evco: EventDrivenCoordinator;
  }
}

async function obtainCoordinator(
  source: ResolvedOptions['coordinator'],
  logger: Logger,
): Promise<EventDrivenCoordinator> {
  if (isCoordinator(source)) return source;
  if (typeof source === 'function') return source({ logger });
  return createCoordinator({ logger, ...(source as CoordinatorOptions) });
}

/** The routes, in their own encapsulated context: their compilers and handlers stay out of the host app. */
function evcoRoutes(ctx: RouteContext): FastifyPluginAsync {
  return async (scope) => {
    scope.setValidatorCompiler(validatorCompiler);
    scope.setSerializerCompiler(serializerCompiler);
    scope.setErrorHandler(evcoErrorHandler());
    scope.setNotFoundHandler(evcoNotFoundHandler);
    // JSON only: Fastify would otherwise hand a text/plain body to the routes as a string.
    scope.removeContentTypeParser(['text/plain']);
    await scope.register(healthRoutes(ctx));
    await scope.register(statusRoutes(ctx));
    await scope.register(eventRoutes(ctx));
    await scope.register(deadLetterRoutes(ctx));
    await scope.register(replayRoutes(ctx));
    await scope.register(handlerRoutes(ctx));
  };
}

async function evco(app: FastifyInstance, options: EvcoPluginOptions): Promise<void> {
  const o = resolveOptions(options);
  const logger = app.log.child({ component: 'evco' }) as unknown as Logger;
  if (o.protectReads && o.auth === undefined) {
    // Fail closed, but not silently: a deployment whose admin token is unset (`auth: token ?
    // bearerToken(token) : undefined`) keeps its event data private and still boots; the log says
    // so once here, and status's public `adminRoutes` tells the dashboard why the reads are shut.
    logger.warn(
      { protectReads: true, auth: false },
      'protectReads is on without auth: history, event details, unprocessed events, dead letters, handlers and replay progress answer 404 ADMIN_DISABLED to everyone; pass auth (e.g. bearerToken(token)) to open them to admins, or set protectReads: false',
    );
  }
  const coordinator = await obtainCoordinator(o.coordinator, logger);
  let draining = false;

  const ctx: RouteContext = {
    options: o,
    coordinator() {
      if (draining || coordinator.state !== 'running') {
        throw new ApiError(503, 'SHUTTING_DOWN', 'the service is shutting down; try another instance', {
          headers: { 'retry-after': '5' },
        });
      }
      return coordinator;
    },
    isAdmin: (request) => isAuthorized(o.auth, request),
    guards: {
      admin: createAuthGuard(o.auth, o.authHint),
      read: o.protectReads ? [createAuthGuard(o.auth, o.authHint)] : [],
    },
  };

  app.decorate('evco', coordinator);
  app.addHook('preClose', async () => {
    draining = true;
  });
  app.addHook('onClose', async () => {
    app.log.info({ component: 'evco' }, 'draining in-flight handlers');
    await coordinator.shutdown(o.shutdownTimeoutMs === undefined ? {} : { timeoutMs: o.shutdownTimeoutMs });
    // What this process did, for the record: counted in memory, no store needed.
    const { published, handled, failed, retried } = coordinator.metrics;
    app.log.info(
      { component: 'evco', published, handled, failed, retried },
      'coordinator stopped: final counts',
    );
  });

  await app.register(
    async (scope) => {
      await scope.register(evcoRoutes(ctx));
      if (o.dashboard) await registerDashboard(scope, { prefix: '', root: o.dashboard.root });
    },
    { prefix: o.prefix },
  );
}

/**
 * The evco Fastify plugin. `await app.register(evcoPlugin, { coordinator, auth })`; see
 * `EvcoPluginOptions`.
 */
export const evcoPlugin = fp(evco, { fastify: '5.x', name: '@evco/fastify' });
