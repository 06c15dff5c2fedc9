/**
 * The demo app on the memory store and the in-process publisher, with its log captured, for
 * `app.inject` tests. The configuration may name Postgres and Redis (with passwords): the
 * injected factory ignores them, which lets tests check that no reply or log line shows one.
 */
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import type { EventDrivenCoordinator } from '@evco/core';
import { createInProcPublisher } from '@evco/publisher-inproc';
import { createMemoryStore } from '@evco/store-memory';
import type { FastifyInstance } from 'fastify';
import { buildApp, createLogger } from '../src/app.js';
import { composeDemo, type DemoRuntime } from '../src/compose.js';
import { type DemoConfig, loadConfig } from '../src/config.js';

export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';
export const DB_PASSWORD = 'pg-Pa55word-never-shown';
export const REDIS_PASSWORD = 'redis-Pa55word-never-shown';

export interface TestApp {
  app: FastifyInstance;
  config: DemoConfig;
  /** Set once the app is ready (the first `inject` readies it). */
  runtime(): DemoRuntime;
  coordinator(): EventDrivenCoordinator;
  /** Every log line written so far. */
  logs: string[];
  close(): Promise<void>;
}

export async function createTestApp(
  env: Record<string, string | undefined> = {},
  options: { handlerDelayMs?: number } = {},
): Promise<TestApp> {
  const config = loadConfig({
    DATABASE_URL: `postgresql://demo:${DB_PASSWORD}@db.internal:5432/app`,
    REDIS_URL: `redis://default:${REDIS_PASSWORD}@cache.internal:6379/0`,
    EVCO_ADMIN_TOKEN: ADMIN_TOKEN,
    EVCO_LOG_LEVEL: 'debug',
    ...env,
  });
  const logs: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      logs.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  let runtime: DemoRuntime | undefined;
  const app = await buildApp({
    config,
    logger: createLogger(config, stream),
    createCoordinator: async (logger) => {
      runtime = await composeDemo({
        store: createMemoryStore(),
        publisher: createInProcPublisher(),
        logger,
        pollIntervalMs: 20,
        handlerDelayMs: options.handlerDelayMs ?? 0,
        shutdownTimeoutMs: config.shutdownTimeoutMs,
        handlerOptions: { retry: { baseDelayMs: 1, maxDelayMs: 5 } },
      });
      return runtime.coordinator;
    },
  });
  return {
    app,
    config,
    logs,
    runtime: () => {
      if (!runtime) throw new Error('the app is not ready yet');
      return runtime;
    },
    coordinator: () => {
      if (!runtime) throw new Error('the app is not ready yet');
      return runtime.coordinator;
    },
    close: () => app.close(),
  };
}

export const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };

export function userRegistered(overrides: Record<string, unknown> = {}) {
  const userId = randomUUID();
  return {
    eventType: 'UserRegistered',
    aggregateId: userId,
    eventData: { userId, email: `u${userId.slice(0, 8)}@example.com`, username: `u${userId.slice(0, 8)}` },
    ...overrides,
  };
}

export function workflowCompleted(overrides: Record<string, unknown> = {}) {
  const executionId = randomUUID();
  return {
    eventType: 'WorkflowExecutionCompleted',
    aggregateId: executionId,
    eventData: { executionId, workflowId: randomUUID(), userId: randomUUID(), durationMs: 250 },
    ...overrides,
  };
}

/** A stack frame in text: what must never reach a client. */
export const STACK_FRAME = /\n\s+at .+\(|\bat [\w$.<>]+ \(\/|node:internal|\.ts:\d+:\d+/;
