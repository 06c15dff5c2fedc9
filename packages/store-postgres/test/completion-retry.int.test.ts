/**
 * A completion whose write fails because the store's connection went away (a PgBouncer restart,
 * a failover: here `pg_terminate_backend` on the statement) is written again while its lease
 * lasts, instead of the handler running again a lease (60 s) later.
 */
import { createCoordinator, type Logger } from '@evco/core';
import { createInProcPublisher } from '@evco/publisher-inproc';
import { waitFor } from '@evco/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { createPostgresStore, type PostgresStore } from '../src/index.js';
import { connect, databaseUrl, dropSchema, uniqueSchema } from './support.js';

describe('a completion refused by a terminated connection', () => {
  const schemas: string[] = [];
  afterEach(async () => {
    for (const schema of schemas.splice(0)) await dropSchema(schema);
  });

  it('is written again within the lease: the handler ran once and the delivery is done', async () => {
    const schema = uniqueSchema('evco_complete');
    schemas.push(schema);
    const applicationName = `evco-${schema}`;
    const store: PostgresStore = createPostgresStore({
      connectionString: await databaseUrl(),
      schema,
      poolSize: 3,
      applicationName,
    });
    const errors: string[] = [];
    const logger: Logger = {
      debug: () => {},
      info: () => {},
      warn: () => {},
      error: ((_fields: unknown, msg?: string) => void errors.push(String(msg))) as Logger['error'],
    };
    // The default lease (60 s): a completion dropped would leave the delivery running past the test.
    const coordinator = await createCoordinator({
      store,
      publisher: createInProcPublisher(),
      logger,
      pollIntervalMs: 60_000,
    });
    const blocker = await connect();
    try {
      let open!: () => void;
      const gate = new Promise<void>((r) => {
        open = r;
      });
      let runs = 0;
      await coordinator.registerHandler(
        'Work',
        async () => {
          runs += 1;
          await gate;
        },
        { name: 'work', ordering: 'none' },
      );
      await coordinator.publishEvent({ eventType: 'Work', aggregateId: 'w' });
      await waitFor(() => runs === 1);
      // Hold the deliveries so the completion waits inside the server, then kill its backend. A
      // claim round in flight may wait on the lock too, the completion queued behind it: end
      // every statement of the store that waits, until the coordinator says a completion failed.
      await blocker.query('BEGIN');
      await blocker.query(`LOCK TABLE "${schema}".deliveries IN ACCESS EXCLUSIVE MODE`);
      open();
      await waitFor(async () => {
        await blocker.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
           WHERE application_name = $1 AND wait_event_type = 'Lock'`,
          [applicationName],
        );
        return errors.some((m) => m.startsWith('recording completions failed'));
      });
      await blocker.query('ROLLBACK');
      await waitFor(async () => (await store.getUnprocessedEvents({ limit: 10 })).length === 0, {
        timeoutMs: 10_000,
        message: 'the completion was not written again',
      });
      expect(runs).toBe(1);
      expect(errors.filter((m) => m.startsWith('dropped'))).toEqual([]);
    } finally {
      await blocker.end();
      await coordinator.shutdown();
    }
  });
});
