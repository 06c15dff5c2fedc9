import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createCoordinator, type RecordedEvent, silentLogger } from '@evco/core';
import { createRedisPublisher } from '@evco/publisher-redis';
import { createPostgresStore } from '@evco/store-postgres';
import { resolveServiceUrl } from '@evco/testkit';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { ATTR } from '../src/index.js';
import { createHarness, parentOf } from './harness.js';

const run = promisify(execFile);
const PUBLISHER = fileURLToPath(new URL('./fixtures/publisher.ts', import.meta.url));

describe('across processes on Postgres + Redis', () => {
  it('the handling process parents its attempt on the publishing process’s span: one trace', async () => {
    const databaseUrl = await resolveServiceUrl({
      envVar: 'EVCO_TEST_DATABASE_URL',
      what: 'opentelemetry cross-process',
    });
    const redisUrl = await resolveServiceUrl({
      envVar: 'EVCO_TEST_REDIS_URL',
      what: 'opentelemetry cross-process',
    });
    const schema = `evco_otel_${randomBytes(5).toString('hex')}`;
    const channelPrefix = `evco-otel-${randomBytes(4).toString('hex')}`;
    const h = createHarness();
    const handler = await createCoordinator({
      store: createPostgresStore({ connectionString: databaseUrl, schema, poolSize: 2 }),
      publisher: createRedisPublisher({ url: redisUrl, channelPrefix }),
      logger: silentLogger,
      pollIntervalMs: 50,
      instrumentation: [h.instrumentation],
    });
    try {
      let resolveHandled: (e: RecordedEvent) => void;
      const handled = new Promise<RecordedEvent>((resolve) => {
        resolveHandled = resolve;
      });
      await handler.registerHandler('CrossProcess', async function receive(event) {
        resolveHandled(event);
      });
      const { stdout } = await run(
        process.execPath,
        [
          '--import',
          'tsx',
          '--conditions=@evco/source',
          PUBLISHER,
          databaseUrl,
          schema,
          redisUrl,
          channelPrefix,
        ],
        { cwd: fileURLToPath(new URL('..', import.meta.url)), timeout: 60_000 },
      );
      const child = JSON.parse(stdout.trim().split('\n').pop()!) as {
        eventId: string;
        spans: Array<{ name: string; traceId: string; spanId: string; parentSpanId?: string }>;
      };
      const event = await handled;
      expect(event.id).toBe(child.eventId);
      await handler.waitForIdle();

      const [publish] = child.spans.filter((s) => s.name === 'publish CrossProcess');
      expect(publish, 'the publishing process exported its publish span').toBeDefined();
      const attempts = h.spans().filter((s) => s.name === 'process CrossProcess');
      expect(attempts).toHaveLength(1);
      const attempt = attempts[0]!;
      expect(attempt.spanContext().traceId).toBe(publish!.traceId);
      expect(parentOf(attempt)).toBe(publish!.spanId);
      expect(attempt.attributes[ATTR.MESSAGING_MESSAGE_ID]).toBe(child.eventId);
      // A different process: its own coordinator id, not the publisher's.
      expect(attempt.attributes[ATTR.MESSAGING_CLIENT_ID]).toBe(handler.id);
    } finally {
      await handler.shutdown();
      await h.shutdown();
      const client = new pg.Client({ connectionString: databaseUrl });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await client.end();
    }
  });
});
