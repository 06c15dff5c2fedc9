import { fileURLToPath } from 'node:url';
import { type PrivateRedis, spawnIpcProcess, startPrivateRedis } from '@evco/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * A process whose coordinator cannot start (Postgres unreachable) and that retries: each failed
 * start must close what it opened, so connections do not pile up and the process can still exit
 * on its own. Before the fix, each attempt left the Redis publisher's two connections open.
 */
const SCRIPT = fileURLToPath(new URL('./fixtures/failed-starts.ts', import.meta.url));
const ATTEMPTS = 8;

let redis: PrivateRedis;
beforeAll(async () => {
  redis = await startPrivateRedis();
});
afterAll(async () => {
  await redis?.kill();
});

describe('chaos: failed starts', () => {
  it(`${ATTEMPTS} failed starts leave no connection open, and the process exits by itself`, async () => {
    const child = spawnIpcProcess(SCRIPT, { env: { REDIS_URL: redis.url, ATTEMPTS: String(ATTEMPTS) } });
    const result = await child.next('result', { timeoutMs: 120_000 });
    console.log(
      `[chaos] ${JSON.stringify({ scenario: 'failed starts', attempts: ATTEMPTS, clientsLeft: result.clients })}`,
    );
    expect(result.codes).toEqual(Array(ATTEMPTS).fill('STORE_UNAVAILABLE'));
    expect(result.clients).toBe(0);
    // Nothing keeps the event loop alive: it exits with 0 without being told to.
    const exited = await Promise.race([
      child.exited,
      new Promise((resolve) => setTimeout(() => resolve('still running after 20 s'), 20_000)),
    ]);
    await child.kill();
    expect(exited).toBe(0);
  });
});
