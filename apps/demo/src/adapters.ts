/**
 * Picks the store and the publisher from the configuration: the embedded default (SQLite file +
 * in-process) with nothing set, Postgres and Redis when their URLs are given.
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { EventPublisher, EventStore, Logger } from '@evco/core';
import { createInProcPublisher } from '@evco/publisher-inproc';
import { createRedisPublisher, type RedisPublisher } from '@evco/publisher-redis';
import { createPostgresStore } from '@evco/store-postgres';
import { createSqliteStore } from '@evco/store-sqlite';
import type { DemoConfig } from './config.js';

export interface Adapters {
  store: EventStore;
  publisher: EventPublisher;
}

/**
 * The store logs through the demo's logger (at `EVCO_LOG_LEVEL`), like the coordinator and the
 * publisher: store-postgres's own lines, pg's warnings (an `sslmode=require` SECURITY WARNING)
 * and the server's notices, instead of its default console logger on stderr.
 */
export function createStore(config: DemoConfig, logger: Logger): EventStore {
  const store = config.store;
  if (store.kind === 'postgres') {
    return createPostgresStore({
      connectionString: store.url,
      schema: store.schema,
      applicationName: 'evco-demo',
      logger,
    });
  }
  if (store.filename !== ':memory:') mkdirSync(dirname(resolve(store.filename)), { recursive: true });
  return createSqliteStore({ filename: store.filename });
}

export function createPublisher(config: DemoConfig, logger: Logger): EventPublisher {
  const publisher = config.publisher;
  if (publisher.kind === 'redis') {
    return createRedisPublisher({ url: publisher.url, channelPrefix: publisher.channelPrefix, logger });
  }
  return createInProcPublisher();
}

/**
 * Waits (briefly) for Redis so the first announcements are not lost to a connection still coming
 * up. Not fatal: the store is the source of truth and every process polls it, so the demo starts
 * without Redis and catches up when it is back.
 */
export async function waitForPublisher(
  publisher: EventPublisher,
  logger: Logger,
  timeoutMs = 5000,
): Promise<void> {
  const redis = publisher as Partial<RedisPublisher>;
  if (typeof redis.waitUntilReady !== 'function') return;
  try {
    await redis.waitUntilReady({ timeoutMs });
  } catch (error) {
    logger.warn(
      { err: error },
      'Redis is not reachable yet; starting anyway (events are still delivered by polling the store)',
    );
  }
}
