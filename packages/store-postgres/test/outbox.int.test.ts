/**
 * The transactional outbox on a real Postgres: the application's own `pg` transaction holds its
 * row and the events, through the coordinator.
 */
import {
  type Announcement,
  type CoordinatorOptions,
  createCoordinator,
  type DomainEventInput,
  type EvcoError,
  type EventDrivenCoordinator,
  isEvcoError,
  type RecordedEvent,
  silentLogger,
} from '@evco/core';
import { createInProcPublisher } from '@evco/publisher-inproc';
import { waitFor } from '@evco/testkit';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresStore } from '../src/index.js';
import { databaseUrl, dropSchema, uniqueSchema } from './support.js';

const schema = uniqueSchema('evco_outbox');
/** The application's own pool, as in a real service: evco never sees it. */
let app: pg.Pool;
const coordinators: EventDrivenCoordinator[] = [];

beforeAll(async () => {
  app = new pg.Pool({ connectionString: await databaseUrl(), max: 4 });
  const store = createPostgresStore({ connectionString: await databaseUrl(), schema, poolSize: 2 });
  await store.migrate();
  await store.close();
  await app.query(`CREATE TABLE "${schema}".orders (id text PRIMARY KEY, total int NOT NULL)`);
});

afterEach(async () => {
  for (const c of coordinators.splice(0)) await c.shutdown();
});

afterAll(async () => {
  await app?.end();
  await dropSchema(schema);
});

async function start(options: Partial<CoordinatorOptions> = {}, handlerName: string | undefined = 'ship') {
  const publisher = createInProcPublisher();
  const heard: Announcement[] = [];
  publisher.subscribe((a) => heard.push(a));
  const coordinator = await createCoordinator({
    store: createPostgresStore({ connectionString: await databaseUrl(), schema, poolSize: 3 }),
    publisher,
    logger: silentLogger,
    pollIntervalMs: 20,
    ...options,
  });
  coordinators.push(coordinator);
  const handled: RecordedEvent[] = [];
  if (handlerName) {
    await coordinator.registerHandler('OrderPlaced', (e) => void handled.push(e), { name: handlerName });
  }
  return { coordinator, handled, heard };
}

/**
 * Claims of aggregate-ordered deliveries wait until no older transaction anywhere on the server
 * is still running (gap-safe order), and test files sharing the server hold some open on
 * purpose: wait generously, the outcome is what is checked.
 */
const settled = { timeoutMs: 60_000 };

let orders = 0;
function orderPlaced(total = 10): DomainEventInput & { aggregateId: string } {
  return { eventType: 'OrderPlaced', aggregateId: `order-${++orders}-${schema}`, eventData: { total } };
}

async function insertOrder(client: pg.PoolClient, id: string, total = 10): Promise<void> {
  await client.query(`INSERT INTO "${schema}".orders (id, total) VALUES ($1, $2)`, [id, total]);
}

async function orderTotal(id: string): Promise<number | undefined> {
  const { rows } = await app.query(`SELECT total FROM "${schema}".orders WHERE id = $1`, [id]);
  return rows[0]?.total;
}

/** Runs `fn` on one client of the application's pool and always gives it back clean. */
async function withClient<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await app.connect();
  try {
    return await fn(client);
  } finally {
    if (client.getTransactionStatus() !== 'I') await client.query('ROLLBACK');
    client.release();
  }
}

async function failure(promise: Promise<unknown>): Promise<EvcoError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isEvcoError(error), String(error)).toBe(true);
  return error as EvcoError;
}

describe('publishInTransaction on store-postgres', () => {
  it('commit: the order row and the event exist; nothing runs or rings before COMMIT, the handler runs after', async () => {
    const { coordinator, handled, heard } = await start();
    const event = orderPlaced();
    const outbox = await withClient(async (client) => {
      await client.query('BEGIN');
      await insertOrder(client, event.aggregateId);
      const outbox = await coordinator.publishInTransaction(client, event);
      expect(outbox.results).toEqual([
        { eventId: expect.any(String), position: expect.any(String), deliveries: 1 },
      ]);
      // A full claim round while the transaction is open finds nothing to run.
      await coordinator.waitForIdle();
      expect(handled).toEqual([]);
      expect(heard).toEqual([]);
      await client.query('COMMIT');
      return outbox;
    });
    await outbox.afterCommit();
    expect(heard.flatMap((a) => a.events.map((e) => e.id))).toEqual([outbox.results[0]!.eventId]);
    await waitFor(() => handled.length === 1, settled);
    expect(handled[0]).toMatchObject({
      id: outbox.results[0]!.eventId,
      position: outbox.results[0]!.position,
      aggregateId: event.aggregateId,
    });
    expect(await orderTotal(event.aggregateId)).toBe(10);
  });

  it('afterCommit() before COMMIT is INVALID_TRANSACTION and announces nothing; after COMMIT it announces', async () => {
    const { coordinator, handled, heard } = await start();
    const event = orderPlaced();
    const outbox = await withClient(async (client) => {
      await client.query('BEGIN');
      const outbox = await coordinator.publishInTransaction(client, event);
      const early = await failure(outbox.afterCommit());
      expect(early.code).toBe('INVALID_TRANSACTION');
      expect(early.message).toMatch(/before the transaction ended.*after COMMIT/);
      expect(heard).toEqual([]);
      await client.query('COMMIT');
      return outbox;
    });
    await outbox.afterCommit();
    expect(heard.flatMap((a) => a.events.map((e) => e.id))).toEqual([outbox.results[0]!.eventId]);
    await waitFor(() => handled.length === 1, settled);
  });

  it('rollback: neither the order row nor the event exists, and no handler runs', async () => {
    const { coordinator, handled, heard } = await start();
    const event = orderPlaced();
    const eventId = await withClient(async (client) => {
      await client.query('BEGIN');
      await insertOrder(client, event.aggregateId);
      const outbox = await coordinator.publishInTransaction(client, event);
      await client.query('ROLLBACK');
      return outbox.results[0]!.eventId;
    });
    await coordinator.waitForIdle();
    expect(handled).toEqual([]);
    expect(heard).toEqual([]);
    expect(await coordinator.eventStore.getEvent(eventId)).toBeUndefined();
    expect(await orderTotal(event.aggregateId)).toBeUndefined();
    expect(await coordinator.getEventHistory({ aggregateId: event.aggregateId, limit: 10 })).toEqual([]);
  });

  it('a crash between COMMIT and afterCommit(): another coordinator’s poll delivers the committed event', async () => {
    // The survivor subscribes first, so the publisher's transaction creates its delivery.
    const survivor = await start({}, 'ship');
    const publishing = await start({}, undefined);
    const event = orderPlaced(77);
    const outbox = await withClient(async (client) => {
      await client.query('BEGIN');
      await insertOrder(client, event.aggregateId, 77);
      const outbox = await publishing.coordinator.publishInTransaction(client, event);
      await client.query('COMMIT');
      return outbox;
    });
    // The publishing process "dies" here: afterCommit() never runs, nothing is announced.
    await publishing.coordinator.shutdown();
    expect(publishing.heard).toEqual([]);
    expect(survivor.heard).toEqual([]);
    await waitFor(() => survivor.handled.length === 1, settled);
    expect(survivor.handled[0]).toMatchObject({ id: outbox.results[0]!.eventId, eventData: { total: 77 } });
    expect(await orderTotal(event.aggregateId)).toBe(77);
  });

  it('an invalid event is refused before anything is sent: the transaction is intact and rolls back cleanly', async () => {
    const { coordinator } = await start();
    const event = orderPlaced();
    await withClient(async (client) => {
      await client.query('BEGIN');
      await insertOrder(client, event.aggregateId);
      const error = await failure(
        coordinator.publishInTransaction(client, [event, { eventType: 'Bad type!', aggregateId: '' }]),
      );
      expect(error.code).toBe('EVENT_VALIDATION');
      expect(error.message).toMatch(/\[1\]\.eventType/);
      expect(client.getTransactionStatus()).toBe('T');
      expect((await client.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
      await client.query('ROLLBACK');
    });
    expect(await orderTotal(event.aggregateId)).toBeUndefined();
    expect(await coordinator.getEventHistory({ aggregateId: event.aggregateId, limit: 10 })).toEqual([]);
  });

  it('middlewares: beforePublish rewrites what is stored; afterPublish waits for afterCommit()', async () => {
    const after: string[] = [];
    const { coordinator, handled } = await start({
      middleware: [
        {
          name: 'tenant',
          beforePublish: async (e) => ({ ...e, metadata: { ...e.metadata, tenant: 'acme' } }),
          afterPublish: (e) => void after.push(e.id),
        },
      ],
    });
    const outbox = await withClient(async (client) => {
      await client.query('BEGIN');
      const outbox = await coordinator.publishInTransaction(client, [orderPlaced(), orderPlaced()]);
      await client.query('COMMIT');
      return outbox;
    });
    expect(after).toEqual([]);
    await outbox.afterCommit();
    const ids = outbox.results.map((r) => r.eventId);
    expect(after).toEqual(ids);
    await waitFor(() => handled.length === 2, settled);
    expect(handled.map((e) => [e.id, e.metadata.tenant])).toEqual(ids.map((id) => [id, 'acme']));
  });

  it('INVALID_TRANSACTION for a client not in a transaction, an aborted one, or a pool; nothing written', async () => {
    const { coordinator } = await start();
    const event = orderPlaced();
    await withClient(async (client) => {
      const idle = await failure(coordinator.publishInTransaction(client, event));
      expect(idle.code).toBe('INVALID_TRANSACTION');
      expect(idle.message).toMatch(/BEGIN/);

      await client.query('BEGIN');
      await client.query('SELECT 1/0').catch(() => undefined);
      const aborted = await failure(coordinator.publishInTransaction(client, event));
      expect(aborted.code).toBe('INVALID_TRANSACTION');
      expect(aborted.message).toMatch(/roll it back/);
      // The same when the client's status still says 'T' (pg rejects a failed query before the
      // server's ready-for-query arrives): the server's 25P02 answer is mapped.
      const stale = { query: client.query.bind(client), getTransactionStatus: () => 'T' };
      const late = await failure(coordinator.publishInTransaction(stale as never, event));
      expect(late.code).toBe('INVALID_TRANSACTION');
      expect(late.message).toMatch(/roll it back/);
      await client.query('ROLLBACK');
    });
    const pool = await failure(coordinator.publishInTransaction(app, event));
    expect(pool.code).toBe('INVALID_TRANSACTION');
    expect(pool.message).toMatch(/pool\.connect\(\)/);
    expect(await coordinator.getEventHistory({ aggregateId: event.aggregateId, limit: 10 })).toEqual([]);
  });

  it('INVALID_TRANSACTION for a client of another database, where the store has no tables', async () => {
    const { coordinator } = await start();
    const database = `${schema}_other`;
    await app.query(`CREATE DATABASE "${database}"`);
    const url = new URL(await databaseUrl());
    url.pathname = `/${database}`;
    const other = new pg.Client({ connectionString: url.toString() });
    try {
      await other.connect();
      await other.query('BEGIN');
      const error = await failure(coordinator.publishInTransaction(other, orderPlaced()));
      expect(error.code).toBe('INVALID_TRANSACTION');
      expect(error.message).toMatch(/not connected to the store's database/);
      await other.query('ROLLBACK');
    } finally {
      await other.end();
      await app.query(`DROP DATABASE IF EXISTS "${database}"`);
    }
  });

  it('a taken aggregate version is CONCURRENCY and the application rolls back its whole transaction', async () => {
    const { coordinator } = await start();
    const event = { ...orderPlaced(), aggregateVersion: 1 };
    await coordinator.publishEvent(event);
    await withClient(async (client) => {
      await client.query('BEGIN');
      await insertOrder(client, event.aggregateId);
      expect((await failure(coordinator.publishInTransaction(client, event))).code).toBe('CONCURRENCY');
      await client.query('ROLLBACK');
    });
    expect(await orderTotal(event.aggregateId)).toBeUndefined();
  });

  it('concurrent transactions, some rolled back: exactly the committed ones are handled, each once', async () => {
    const { coordinator, handled } = await start();
    const committed: string[] = [];
    const rolledBack: string[] = [];
    const order = ['commit', 'rollback', 'commit', 'commit', 'rollback'] as const;
    await Promise.all(
      Array.from({ length: 6 }, (_, writer) =>
        withClient(async (client) => {
          for (let i = 0; i < 10; i++) {
            const total = 1000 + writer * 100 + i;
            const event = orderPlaced(total);
            await client.query('BEGIN');
            await insertOrder(client, event.aggregateId, total);
            const outbox = await coordinator.publishInTransaction(client, event);
            if (order[(writer + i) % order.length] === 'rollback') {
              await client.query('ROLLBACK');
              rolledBack.push(outbox.results[0]!.eventId);
            } else {
              await client.query('COMMIT');
              committed.push(outbox.results[0]!.eventId);
              // Every other commit is never announced: the poll must find those too.
              if (i % 2 === 0) await outbox.afterCommit();
            }
          }
        }),
      ),
    );
    const mine = (e: RecordedEvent) => (e.eventData.total as number) >= 1000;
    await waitFor(() => handled.filter(mine).length >= committed.length, settled);
    await coordinator.waitForIdle();
    expect(
      handled
        .filter(mine)
        .map((e) => e.id)
        .sort(),
    ).toEqual([...committed].sort());
    for (const id of rolledBack) expect(await coordinator.eventStore.getEvent(id)).toBeUndefined();
    const { rows } = await app.query(`SELECT count(*)::int AS n FROM "${schema}".orders WHERE total >= 1000`);
    expect(rows[0].n).toBe(committed.length);
  });

  it('the synchronous variant points to publishInTransaction (pg is asynchronous)', async () => {
    const { coordinator } = await start();
    expect(() => coordinator.publishInTransactionSync({}, orderPlaced())).toThrow(/use publishInTransaction/);
  });
});
