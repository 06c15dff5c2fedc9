import { isEvcoError } from '@evco/core';
import { freePort, recordingLogger, waitFor } from '@evco/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { createRedisPublisher, type RedisPublisher } from '../src/index.js';

const announcement = {
  source: 'node-a',
  events: [{ id: 'e-1', eventType: 'UserRegistered', aggregateId: 'u-1', position: '1' }],
};

describe('publisher-redis with nothing listening', () => {
  let publisher: RedisPublisher | undefined;

  afterEach(async () => {
    await publisher?.close();
  });

  it('fails publishes with PUBLISHER_UNAVAILABLE instead of waiting, and never shows the password', async () => {
    const port = await freePort();
    const logger = recordingLogger();
    publisher = createRedisPublisher({
      url: `redis://app:s3cret-pw@127.0.0.1:${port}`,
      logger,
      // Long enough that waiting for it would fail the test's own timeout.
      publishTimeoutMs: 600_000,
    });
    // The first publish waits for the first connection attempt, which is refused.
    const first = await publisher.publish(announcement).catch((e: unknown) => e);
    expect(isEvcoError(first, 'PUBLISHER_UNAVAILABLE')).toBe(true);
    // Later ones fail at once: the connection is known to be down.
    const errors = await Promise.all(
      Array.from({ length: 50 }, () => publisher!.publish(announcement).catch((e: unknown) => e)),
    );
    expect(errors.every((e) => isEvcoError(e, 'PUBLISHER_UNAVAILABLE'))).toBe(true);

    const health = await publisher.healthCheck();
    expect(health.healthy).toBe(false);
    expect(health.details.url).toBe(`redis://app:***@127.0.0.1:${port}`);
    expect(health.details.error).toMatch(/publisher: .*subscriber: /);
    // Why, not only that it reconnects: the connections' last error (a wrong password reads
    // WRONGPASS here, a port with nothing behind it ECONNREFUSED).
    expect(health.details.error).toMatch(
      /^publisher: connection \w+, last error: connect ECONNREFUSED 127\.0\.0\.1:\d+; subscriber: not subscribed \(connection \w+, last error: connect ECONNREFUSED/,
    );

    const everything = [
      ...[first, ...errors].map((e) => `${(e as Error).message} ${String((e as Error).cause ?? '')}`),
      JSON.stringify(health),
      ...logger.lines,
    ].join('\n');
    expect(everything).toContain('***');
    expect(everything).not.toContain('s3cret-pw');
    expect(logger.lines.some((l) => l.includes('"level":"warn"'))).toBe(true);
  });

  it('close is idempotent and publish after close fails with PUBLISHER_UNAVAILABLE', async () => {
    publisher = createRedisPublisher({
      url: `redis://127.0.0.1:${await freePort()}`,
      logger: recordingLogger(),
    });
    await Promise.all([publisher.close(), publisher.close()]);
    await publisher.close();
    const error = await publisher.publish(announcement).catch((e: unknown) => e);
    expect(isEvcoError(error, 'PUBLISHER_UNAVAILABLE')).toBe(true);
    expect(() => publisher!.subscribe(() => {})).toThrow(/closed/);
    expect((await publisher.healthCheck()).healthy).toBe(false);
    await expect(publisher.waitUntilReady()).rejects.toThrow(/closed/);
  });

  it("waitUntilReady rejects with PUBLISHER_UNAVAILABLE after its timeout, saying why (the connections' last errors)", async () => {
    publisher = createRedisPublisher({
      url: `redis://127.0.0.1:${await freePort()}`,
      logger: recordingLogger(),
    });
    const error = await publisher.waitUntilReady({ timeoutMs: 200 }).catch((e: unknown) => e);
    expect(isEvcoError(error, 'PUBLISHER_UNAVAILABLE')).toBe(true);
    expect((error as Error).message).toMatch(/not ready within 200 ms/);
    expect((error as Error).message).toMatch(
      /publisher \w+, last error: connect ECONNREFUSED.*subscriber \w+, last error: connect ECONNREFUSED/,
    );
  });

  it('rejects an invalid announcement with EVENT_VALIDATION, not as a connection problem', async () => {
    publisher = createRedisPublisher({
      url: `redis://127.0.0.1:${await freePort()}`,
      logger: recordingLogger(),
    });
    const error = await publisher
      .publish({ source: 'node-a', events: [{ ...announcement.events[0]!, eventType: 'has space' }] })
      .catch((e: unknown) => e);
    expect(isEvcoError(error, 'EVENT_VALIDATION')).toBe(true);
  });
});

describe('publisher-redis logging while Redis stays down', () => {
  it('warns once per connection per outage, not on every retry', async () => {
    const logger = recordingLogger();
    const publisher = createRedisPublisher({
      url: `redis://127.0.0.1:${await freePort()}`,
      logger,
      reconnectBaseDelayMs: 1,
      reconnectMaxDelayMs: 5,
    });
    try {
      // Many retries at a 5 ms cap: each fails with ECONNREFUSED and is logged at debug.
      await waitFor(() => logger.lines.filter((l) => l.includes('"level":"debug"')).length >= 20);
      const warnings = logger.lines.filter((l) => l.includes('"level":"warn"'));
      expect(warnings.length).toBeLessThanOrEqual(4);
      expect(warnings.some((l) => l.includes('publishing connection'))).toBe(true);
      expect(warnings.some((l) => l.includes('subscrib'))).toBe(true);
    } finally {
      await publisher.close();
    }
  });
});
