/**
 * A Fastify app with the evco plugin on the memory store and the in-process publisher, for
 * `app.inject` tests.
 */
import { type CoordinatorOptions, createCoordinator, type EventDrivenCoordinator } from '@evco/core';
import { createInProcPublisher } from '@evco/publisher-inproc';
import { createMemoryStore } from '@evco/store-memory';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { bearerToken } from '../src/auth.js';
import type { EvcoPluginOptions } from '../src/options.js';
import { evcoPlugin } from '../src/plugin.js';

export const TOKEN = 'plugin-test-token-0123456789';
export const auth = { authorization: `Bearer ${TOKEN}` };

export function coordinatorOptions(overrides: Partial<CoordinatorOptions> = {}): CoordinatorOptions {
  return {
    store: createMemoryStore(),
    publisher: createInProcPublisher(),
    pollIntervalMs: 20,
    retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 2 },
    logger: silent,
    ...overrides,
  };
}

const noop = () => {};
export const silent = { debug: noop, info: noop, warn: noop, error: noop, child: () => silent } as never;

export async function startApp(
  options: Partial<EvcoPluginOptions> = {},
  fastifyOptions: FastifyServerOptions = {},
): Promise<{ app: FastifyInstance; coordinator: EventDrivenCoordinator }> {
  const app = Fastify({ logger: false, ...fastifyOptions });
  await app.register(evcoPlugin, {
    coordinator: options.coordinator ?? (await createCoordinator(coordinatorOptions())),
    auth: bearerToken(TOKEN),
    ...options,
  });
  await app.ready();
  return { app, coordinator: app.evco };
}
