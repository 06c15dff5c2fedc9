/**
 * The HTTP service. `buildApp` takes the configuration and a coordinator factory (tests inject
 * one on the memory store); the lifecycle mirrors the original FastAPI lifespan:
 *
 *   listen()/ready() → onReady: the coordinator is created (migrations run, handlers registered)
 *   close()          → preClose: new requests get 503 · the server stops and in-flight requests
 *                      finish · onClose: the coordinator drains in-flight handlers and closes the
 *                      store and the publisher.
 */

import { type EventDrivenCoordinator, type Logger, maskSecrets } from '@evco/core';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import {
  createJsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import { pino } from 'pino';
import { type DemoConfig, describeConfig } from './config.js';
import { EventCatalog } from './event-catalog.js';
import { ApiError, createErrorHandler, notFoundHandler } from './http-errors.js';
import { prettyStream } from './pretty-log.js';
import { adminRoutes } from './routes/admin.js';
import type { RouteContext } from './routes/context.js';
import { eventRoutes } from './routes/events.js';
import { healthRoutes } from './routes/health.js';

/** Builds and starts the coordinator, logging through the given (pino) logger. */
export type CoordinatorFactory = (logger: Logger) => Promise<EventDrivenCoordinator>;

export interface BuildAppOptions {
  config: DemoConfig;
  createCoordinator: CoordinatorFactory;
  /** A pino logger. @default pino at `config.logLevel` on stdout */
  logger?: FastifyBaseLogger;
  catalog?: EventCatalog;
}

/** Never logged, whatever the level: credentials in headers. */
export const REDACT = ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization'];

/** pino's error serializer, with credentials scrubbed from the message and the stack (a driver error may quote a URL). */
function serializeError(error: Error): Record<string, unknown> {
  const out = pino.stdSerializers.err(error) as unknown as Record<string, unknown>;
  for (const key of ['message', 'stack']) {
    if (typeof out[key] === 'string') out[key] = maskSecrets(out[key] as string);
  }
  return out;
}

export function createLogger(config: DemoConfig, stream?: NodeJS.WritableStream): FastifyBaseLogger {
  const options = {
    level: config.logLevel,
    redact: REDACT,
    base: { service: 'evco-demo' },
    serializers: { err: serializeError },
  };
  const pretty =
    config.logFormat === 'pretty' || (config.logFormat === 'auto' && process.stdout.isTTY === true);
  const destination = stream ?? (pretty ? prettyStream() : undefined);
  return (destination ? pino(options, destination) : pino(options)) as FastifyBaseLogger;
}

export async function buildApp(options: BuildAppOptions): Promise<FastifyInstance> {
  const { config } = options;
  const catalog = options.catalog ?? new EventCatalog();
  const app = Fastify({
    loggerInstance: options.logger ?? createLogger(config),
    bodyLimit: config.bodyLimitBytes,
    // We answer 503 ourselves while closing, in the API's error shape.
    return503OnClosing: false,
    // A line per request is noise on a demo's terminal; failures are logged by the error handler.
    logController: new LogController({
      disableRequestLogging: config.logLevel !== 'debug' && config.logLevel !== 'trace',
    }),
  }).withTypeProvider<ZodTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(createErrorHandler(config.bodyLimitBytes));
  app.setNotFoundHandler(notFoundHandler);

  let coordinator: EventDrivenCoordinator | undefined;
  let closing = false;
  const startedAt = new Date();
  const ctx: RouteContext = {
    config,
    catalog,
    startedAt,
    coordinator() {
      if (closing || !coordinator || coordinator.state !== 'running') {
        throw new ApiError(
          503,
          closing ? 'SHUTTING_DOWN' : 'NOT_READY',
          closing ? 'the service is shutting down' : 'the service is not running',
          {
            headers: { 'retry-after': '5' },
          },
        );
      }
      return coordinator;
    },
  };

  app.addHook('onReady', async () => {
    const log = app.log.child({ component: 'evco' });
    log.info(describeConfig(config), 'starting the coordinator');
    coordinator = await options.createCoordinator(log as unknown as Logger);
  });
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', async (_request, reply) => {
    if (closing) {
      reply.header('connection', 'close');
      throw new ApiError(
        503,
        'SHUTTING_DOWN',
        'the service is shutting down; send the request to another instance',
        {
          headers: { 'retry-after': '5' },
        },
      );
    }
  });
  app.addHook('onClose', async () => {
    if (!coordinator) return;
    app.log.info({ timeoutMs: config.shutdownTimeoutMs }, 'draining in-flight handlers');
    // Shutdown drains the handlers, then closes the publisher and the store.
    await coordinator.shutdown({ timeoutMs: config.shutdownTimeoutMs });
    // What this process did, for the record: counted in memory, no store needed.
    const { published, handled, failed, retried } = coordinator.metrics;
    app.log.info({ published, handled, failed, retried }, 'coordinator stopped: final counts');
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'evco demo',
        version: '0.1.0',
        description:
          'The evco example service: four modules (users, subscriptions, workflows, content) coordinating ' +
          'through domain events. Errors are `{ "error": { "code", "message", "issues"? } }`.',
      },
      tags: [
        { name: 'events', description: 'Publish and read domain events' },
        { name: 'health', description: 'Probes' },
        { name: 'status', description: 'What the coordinator is doing' },
        {
          name: 'admin',
          description: 'Replay and dead letters; needs Authorization: Bearer $EVCO_ADMIN_TOKEN',
        },
      ],
      components: {
        securitySchemes: { adminToken: { type: 'http', scheme: 'bearer', description: 'EVCO_ADMIN_TOKEN' } },
      },
    },
    transform: createJsonSchemaTransform({ skipList: [] }),
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  await app.register(eventRoutes(ctx));
  await app.register(healthRoutes(ctx));
  await app.register(adminRoutes(ctx));
  return app;
}
