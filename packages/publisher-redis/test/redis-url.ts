import { resolveServiceUrl } from '@evco/testkit';

let container: { stop(): Promise<unknown> } | undefined;

/**
 * The shared Redis for tests that only publish and subscribe: `EVCO_TEST_REDIS_URL`, else a
 * Testcontainers Redis (started once per test file), else a failure naming what to provide.
 * Tests that kill or restart Redis never use it: they start a private `redis-server`.
 */
export function redisUrl(): Promise<string> {
  return resolveServiceUrl({
    envVar: 'EVCO_TEST_REDIS_URL',
    what: 'publisher-redis',
    startContainer: async () => {
      const { RedisContainer } = await import('@testcontainers/redis');
      const started = await new RedisContainer('redis:7-alpine').start();
      container = started;
      return started.getConnectionUrl();
    },
  });
}

/** Stops the Testcontainers Redis, if this file started one. */
export async function stopRedisContainer(): Promise<void> {
  await container?.stop();
  container = undefined;
}
