/**
 * The HTTP service: Fastify with the evco plugin. `buildApp` takes the configuration and a
 * coordinator factory (tests inject one on the memory store); the plugin owns the lifecycle:
 *
 *   listen()/ready() → the plugin creates the coordinator (migrations run, handlers registered)
 *   close()          → readiness turns 503 · the server stops and in-flight requests finish ·
 *                      the coordinator drains in-flight handlers and closes the store and the publisher
 *
 * What is the demo's own: the configuration, the modules, the logger, the OpenAPI page.
 */

import { type EventDrivenCoordinator, type Logger, maskSecrets } from '@evco/core';
import {
  bearerToken,
  evcoErrorHandler,
  evcoNotFoundHandler,
  evcoOpenApiTransform,
  evcoOpenApiTransformObject,
  evcoPlugin,
  evcoSecuritySchemes,
  evcoTag,
} from '@evco/fastify';
import { traceLogFields } from '@evco/opentelemetry';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import { pino } from 'pino';
import { type DemoConfig, describeConfig } from './config.js';
import { EVENT_TYPES, MODULE_EVENTS } from './event-catalog.js';
import { prettyStream } from './pretty-log.js';

/** Builds and starts the coordinator, logging through the given (pino) logger. */
export type CoordinatorFactory = (logger: Logger) => Promise<EventDrivenCoordinator>;

export interface BuildAppOptions {
  config: DemoConfig;
  createCoordinator: CoordinatorFactory;
  /** A pino logger. @default pino at `config.logLevel` on stdout */
  logger?: FastifyBaseLogger;
}

/** Where the evco routes and the dashboard live. */
export const EVCO_PREFIX = '/evco';
/** Events per `POST /evco/events` batch (stored atomically, so kept to what one transaction handles well). */
export const MAX_BATCH = 1000;

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
    // A line logged inside traced work (a handler attempt, a traced request) carries trace_id,
    // span_id and trace_flags, so logs and traces join; nothing is added outside a span.
    mixin: traceLogFields,
  };
  const pretty =
    config.logFormat === 'pretty' || (config.logFormat === 'auto' && process.stdout.isTTY === true);
  const destination = stream ?? (pretty ? prettyStream() : undefined);
  return (destination ? pino(options, destination) : pino(options)) as FastifyBaseLogger;
}

export async function buildApp(options: BuildAppOptions): Promise<FastifyInstance> {
  const { config } = options;
  const app = Fastify({
    loggerInstance: options.logger ?? createLogger(config),
    bodyLimit: config.bodyLimitBytes,
    // Requests still arriving while the app drains reach the routes, which answer 503 in the API's
    // error shape (readiness included), instead of Fastify's own 503 body.
    return503OnClosing: false,
    // A line per request is noise on a demo's terminal; failures are logged by the error handler.
    logController: new LogController({
      disableRequestLogging: config.logLevel !== 'debug' && config.logLevel !== 'trace',
    }),
  });
  // The demo's own routes (the docs) answer errors in the same shape as evco's.
  app.setErrorHandler(evcoErrorHandler());
  app.setNotFoundHandler(evcoNotFoundHandler);
  app.removeContentTypeParser(['text/plain']);

  const startedAt = new Date();
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'evco demo',
        version: '0.1.0',
        description:
          'The evco example service: four modules (users, subscriptions, workflows, content) coordinating ' +
          'through domain events, served by the @evco/fastify plugin. Errors are ' +
          '`{ "error": { "code", "message", "issues"? } }`.',
        license: { name: 'MIT', identifier: 'MIT' },
      },
      servers: [{ url: '/', description: 'this service' }],
      tags: [evcoTag],
      components: { securitySchemes: { ...evcoSecuritySchemes } },
    },
    transform: evcoOpenApiTransform,
    transformObject: evcoOpenApiTransformObject,
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  // The coordinator starts here (migrations run, handlers registered): a store that cannot be
  // reached fails buildApp, which main.ts reports.
  await app.register(evcoPlugin, {
    prefix: EVCO_PREFIX,
    coordinator: ({ logger }) => {
      app.log.info(describeConfig(config), 'starting the coordinator');
      return options.createCoordinator(logger);
    },
    auth: config.adminToken ? bearerToken(config.adminToken) : undefined,
    authHint: 'start the demo with EVCO_ADMIN_TOKEN set (16+ characters) and send Authorization: Bearer <it>',
    // Anyone may publish to the demo (the story does, as the outside world); only the modules'
    // event types, each checked against its contract.
    publish: { eventTypes: MODULE_EVENTS, requireAuth: false, maxBatch: MAX_BATCH },
    shutdownTimeoutMs: config.shutdownTimeoutMs,
    describe: ({ admin }) => {
      const { store, publisher, adminRoutes } = describeConfig(config);
      // Where the data lives is for operators only: a file path or a host maps the server.
      const where = <T extends { location: string }>(adapter: T) =>
        admin ? adapter : (({ location: _hidden, ...rest }) => rest)(adapter);
      return {
        name: 'evco-demo',
        startedAt: startedAt.toISOString(),
        uptimeSeconds: Math.round((Date.now() - startedAt.getTime()) / 1000),
        store: where(store),
        publisher: where(publisher),
        adminRoutes,
        eventTypes: [...EVENT_TYPES],
      };
    },
  });
  return app;
}
