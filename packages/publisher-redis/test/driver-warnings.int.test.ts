import { recordingLogger } from '@evco/testkit';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { createRedisPublisher, type RedisPublisher } from '../src/index.js';
import { redisUrl, stopRedisContainer } from './redis-url.js';

let publisher: RedisPublisher | undefined;
afterEach(async () => {
  await publisher?.close();
  publisher = undefined;
  vi.restoreAllMocks();
});
afterAll(stopRedisContainer);

describe("ioredis's console warnings", () => {
  it('a password the server does not need: one warn line per connection in the evco logger, nothing on the console, the console given back on close', async () => {
    const url = new URL(await redisUrl());
    if (url.password) return; // the shared Redis needs one: this case cannot arise
    url.password = 's3cret-pw';
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const error = vi.spyOn(console, 'error').mockImplementation(() => {});
    const consoleWarn = console.warn;
    const logger = recordingLogger();
    publisher = createRedisPublisher({ url: url.toString(), logger });
    await publisher.waitUntilReady({ timeoutMs: 10_000 });
    expect((await publisher.healthCheck()).healthy).toBe(true);
    expect(warn).not.toHaveBeenCalled();
    expect(error).not.toHaveBeenCalled();
    const routed = logger.lines
      .map((l) => JSON.parse(l) as { level: string; driver?: string; msg: string })
      .filter((e) => e.driver === 'ioredis');
    // The publishing and the subscribing connection each sent AUTH: the first said at warn.
    expect(routed.map((e) => e.level)).toEqual(['warn', 'debug']);
    expect(routed[0]!.msg).toMatch(/^ioredis: \[WARN\] .*does not require a password/);
    expect(logger.lines.join('\n')).not.toContain('s3cret-pw');
    await publisher.close();
    // Given back once the closed publisher's grace is over (driver-console.ts).
    await vi.waitFor(() => expect(console.warn).toBe(consoleWarn), { timeout: 10_000, interval: 100 });
  });
});
