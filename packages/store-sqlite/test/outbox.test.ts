/**
 * The transactional outbox on real SQLite files: the application's own better-sqlite3
 * transaction holds its row and the events, through the coordinator.
 */
import {
  type Announcement,
  type CoordinatorOptions,
  createCoordinator,
  type EvcoError,
  type EventDrivenCoordinator,
  type EventStore,
  isEvcoError,
  type RecordedEvent,
  silentLogger,
} from '@evco/core';
import { createInProcPublisher } from '@evco/publisher-inproc';
import { waitFor } from '@evco/testkit';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { createSqliteStore } from '../src/index.js';
import { useTempStores } from './store-fixture.js';

const { tmp } = useTempStores();
const opened: Array<{ close(): unknown }> = [];
const coordinators: EventDrivenCoordinator[] = [];

afterEach(async () => {
  for (const c of coordinators.splice(0)) await c.shutdown();
  for (const db of opened.splice(0)) db.close();
});

/** The application's connection, with its own table in the store's file. */
function appDatabase(file = tmp.file()): Database.Database {
  const db = new Database(file);
  opened.push(db);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY, total INTEGER NOT NULL)');
  return db;
}

async function start(store: EventStore, options: Partial<CoordinatorOptions> = {}) {
  const publisher = createInProcPublisher();
  const heard: Announcement[] = [];
  publisher.subscribe((a) => heard.push(a));
  const coordinator = await createCoordinator({
    store,
    publisher,
    logger: silentLogger,
    pollIntervalMs: 20,
    ...options,
  });
  coordinators.push(coordinator);
  const handled: RecordedEvent[] = [];
  await coordinator.registerHandler('OrderPlaced', (e) => void handled.push(e), { name: 'ship' });
  return { coordinator, handled, heard };
}

function thrown(fn: () => unknown): EvcoError {
  try {
    fn();
  } catch (error) {
    expect(isEvcoError(error), String(error)).toBe(true);
    return error as EvcoError;
  }
  throw new Error('expected a throw');
}

const orderPlaced = (id: string, total = 10) => ({
  eventType: 'OrderPlaced',
  aggregateId: id,
  eventData: { total },
});

describe.each([
  ['the store shares the application’s connection', 'shared'],
  ['the store has its own connection to the same file', 'own'],
] as const)('publishInTransactionSync when %s', (_title, shape) => {
  function setup() {
    const db = appDatabase();
    const store =
      shape === 'shared' ? createSqliteStore({ database: db }) : createSqliteStore({ filename: tmp.file() });
    return { db, store };
  }

  it('commit: the application row and the event exist, announced after commit, and the handler runs', async () => {
    const { db, store } = setup();
    const { coordinator, handled, heard } = await start(store);
    const placeOrder = db.transaction((id: string) => {
      db.prepare('INSERT INTO orders (id, total) VALUES (?, ?)').run(id, 10);
      const outbox = coordinator.publishInTransactionSync(db, orderPlaced(id));
      // Inside the transaction: written on this connection, announced to nobody yet.
      expect(heard).toEqual([]);
      return outbox;
    });
    const outbox = placeOrder.immediate('o-1');
    expect(outbox.results).toEqual([
      { eventId: expect.any(String), position: expect.any(String), deliveries: 1 },
    ]);
    expect(heard).toEqual([]);
    await outbox.afterCommit();
    expect(heard.flatMap((a) => a.events.map((e) => e.id))).toEqual([outbox.results[0]!.eventId]);
    await waitFor(() => handled.length === 1);
    expect(handled[0]!).toMatchObject({
      id: outbox.results[0]!.eventId,
      aggregateId: 'o-1',
      position: outbox.results[0]!.position,
    });
    expect(db.prepare('SELECT total FROM orders WHERE id = ?').get('o-1')).toEqual({ total: 10 });
  });

  it('afterCommit() inside the transaction is INVALID_TRANSACTION and announces nothing; after it, it announces', async () => {
    const { db, store } = setup();
    const { coordinator, heard } = await start(store);
    let early: unknown;
    const placeOrder = db.transaction((id: string) => {
      const outbox = coordinator.publishInTransactionSync(db, orderPlaced(id));
      outbox.afterCommit().catch((e: unknown) => {
        early = e;
      });
      return outbox;
    });
    const outbox = placeOrder.immediate('o-9');
    await waitFor(() => early !== undefined);
    expect(isEvcoError(early, 'INVALID_TRANSACTION'), String(early)).toBe(true);
    expect(heard).toEqual([]);
    await outbox.afterCommit();
    expect(heard.flatMap((a) => a.events.map((e) => e.id))).toEqual([outbox.results[0]!.eventId]);
  });

  it('rollback: neither the application row nor the event exists, and no handler runs', async () => {
    const { db, store } = setup();
    const { coordinator, handled } = await start(store);
    let eventId: string | undefined;
    const placeOrder = db.transaction((id: string) => {
      db.prepare('INSERT INTO orders (id, total) VALUES (?, ?)').run(id, 10);
      eventId = coordinator.publishInTransactionSync(db, orderPlaced(id)).results[0]!.eventId;
      throw new Error('payment declined');
    });
    expect(() => placeOrder('o-2')).toThrow('payment declined');
    expect(db.prepare('SELECT count(*) AS n FROM orders').get()).toEqual({ n: 0 });
    expect(await store.getEvent(eventId!)).toBeUndefined();
    // A full claim round (waitForIdle asks the store) finds nothing to run.
    await coordinator.waitForIdle();
    expect(handled).toEqual([]);
    expect((await store.stats({ now: new Date() })).pending).toBe(0);
  });

  it('a failed append (a duplicate id) is undone to a savepoint: the application commits the rest', async () => {
    const { db, store } = setup();
    const { coordinator, handled } = await start(store);
    const first = await coordinator.publishEvent(orderPlaced('o-3'));
    const outcome = db.transaction(() => {
      db.prepare('INSERT INTO orders (id, total) VALUES (?, ?)').run('o-3', 30);
      const error = thrown(() =>
        coordinator.publishInTransactionSync(db, { ...orderPlaced('o-3'), id: first.eventId }),
      );
      return error.code;
    })();
    expect(outcome).toBe('DUPLICATE_EVENT');
    expect(db.prepare('SELECT total FROM orders WHERE id = ?').get('o-3')).toEqual({ total: 30 });
    await coordinator.waitForIdle();
    expect(handled.map((e) => e.id)).toEqual([first.eventId]);
  });
});

describe('publishInTransactionSync refuses', () => {
  it('an invalid event before writing: the transaction is untouched and rolls back cleanly', async () => {
    const db = appDatabase();
    const { coordinator } = await start(createSqliteStore({ database: db }));
    db.exec('BEGIN IMMEDIATE');
    db.prepare('INSERT INTO orders (id, total) VALUES (?, ?)').run('o-4', 1);
    const error = thrown(() =>
      coordinator.publishInTransactionSync(db, [
        orderPlaced('o-4'),
        { eventType: 'bad type!', aggregateId: '' },
      ]),
    );
    expect(error.code).toBe('EVENT_VALIDATION');
    expect(error.message).toMatch(/\[1\]\.eventType/);
    expect(db.inTransaction).toBe(true);
    db.exec('ROLLBACK');
    expect(db.prepare('SELECT count(*) AS n FROM orders').get()).toEqual({ n: 0 });
    expect(await coordinator.getEventHistory({ limit: 10 })).toEqual([]);
  });

  it('a database with no open transaction, another file, or no database at all (INVALID_TRANSACTION)', async () => {
    const db = appDatabase();
    const { coordinator } = await start(createSqliteStore({ database: db }));
    const outside = thrown(() => coordinator.publishInTransactionSync(db, orderPlaced('o-5')));
    expect(outside.code).toBe('INVALID_TRANSACTION');
    expect(outside.message).toMatch(/db\.transaction/);

    const other = appDatabase(tmp.file('other.db'));
    const elsewhere = other.transaction(() =>
      thrown(() => coordinator.publishInTransactionSync(other, orderPlaced('o-5'))),
    )();
    expect(elsewhere.code).toBe('INVALID_TRANSACTION');
    expect(elsewhere.message).toMatch(/not the store's file/);
    expect(other.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name LIKE 'evco_%'").get()).toEqual({
      n: 0,
    });

    expect(thrown(() => coordinator.publishInTransactionSync({ query() {} }, orderPlaced('o-5'))).code).toBe(
      'INVALID_TRANSACTION',
    );
    expect(await coordinator.getEventHistory({ limit: 10 })).toEqual([]);
  });

  it('a beforePublish middleware that returns a promise (UNSUPPORTED): nothing is written', async () => {
    const db = appDatabase();
    const { coordinator } = await start(createSqliteStore({ database: db }), {
      middleware: [{ name: 'lookup', beforePublish: async (e) => e }],
    });
    const placeOrder = db.transaction(() => {
      db.prepare('INSERT INTO orders (id, total) VALUES (?, ?)').run('o-6', 1);
      return coordinator.publishInTransactionSync(db, orderPlaced('o-6'));
    });
    expect(thrown(() => placeOrder()).code).toBe('UNSUPPORTED');
    expect(db.prepare('SELECT count(*) AS n FROM orders').get()).toEqual({ n: 0 });
    expect(await coordinator.getEventHistory({ limit: 10 })).toEqual([]);
  });
});

describe('publishInTransaction (async) in a transaction driven by hand', () => {
  it('runs asynchronous middlewares; the store does not write into the open transaction meanwhile', async () => {
    const db = appDatabase();
    const store = createSqliteStore({ database: db });
    const { coordinator, handled } = await start(store, {
      middleware: [{ beforePublish: async (e) => ({ ...e, metadata: { ...e.metadata, tenant: 'acme' } }) }],
    });
    db.exec('BEGIN IMMEDIATE');
    db.prepare('INSERT INTO orders (id, total) VALUES (?, ?)').run('o-7', 7);
    const outbox = await coordinator.publishInTransaction(db, orderPlaced('o-7'));
    // Before COMMIT: refused, nothing announced; the same call after COMMIT announces.
    const early = await outbox.afterCommit().catch((e: unknown) => e);
    expect(isEvcoError(early, 'INVALID_TRANSACTION'), String(early)).toBe(true);
    // The shared connection is in the application's transaction: a claim now would join it
    // (and see the uncommitted event), so the store refuses its own writes until it ends.
    const claim = await store
      .claimDue({ consumerId: 'x', handlers: ['ship'], now: new Date(), leaseMs: 1000, limit: 10 })
      .catch((e: unknown) => e);
    expect(isEvcoError(claim, 'STORE_UNAVAILABLE')).toBe(true);
    db.exec('COMMIT');
    await outbox.afterCommit();
    await waitFor(() => handled.length === 1);
    expect(handled[0]!.metadata.tenant).toBe('acme');
    expect(db.prepare('SELECT total FROM orders WHERE id = ?').get('o-7')).toEqual({ total: 7 });
  });
});
