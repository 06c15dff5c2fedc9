/**
 * The coordinator's side of the transactional outbox, on a store double whose `appendWithin`
 * writes through the memory store (the real transactions are tested by store-postgres and
 * store-sqlite): what reaches the store, when the doorbell rings, and the typed refusals.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  type Announcement,
  type DomainEvent,
  type EventStore,
  getCoordinator,
  isEvcoError,
  publishInTransaction,
  publishInTransactionSync,
  shutdownCoordinator,
  silentLogger,
} from '../src/index.js';
import { createInProcPublisher, createMemoryStore, memoryCoordinator } from './support.js';

interface Call {
  transaction: unknown;
  events: readonly DomainEvent[];
}

/** A memory store with the outbox capability; records what each call was given. */
function transactionalStore(): EventStore & { calls: Call[] } {
  const store = createMemoryStore();
  const calls: Call[] = [];
  return Object.assign(store, {
    calls,
    appendWithin: (transaction: unknown, events: readonly DomainEvent[], options: { now: Date }) => {
      calls.push({ transaction, events });
      return store.append(events, options);
    },
    appendWithinSync: () => {
      throw new Error('not used: the double has no synchronous appends');
    },
  });
}

function announcements(publisher: ReturnType<typeof createInProcPublisher>): Announcement[] {
  const seen: Announcement[] = [];
  publisher.subscribe((a) => seen.push(a));
  return seen;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

afterEach(async () => {
  await shutdownCoordinator();
});

describe('publishInTransaction', () => {
  it('appends through the store with the handle given and announces only on afterCommit, once', async () => {
    const store = transactionalStore();
    const publisher = createInProcPublisher();
    const heard = announcements(publisher);
    const coordinator = await memoryCoordinator({ store, publisher });
    const handled: string[] = [];
    await coordinator.registerHandler('OrderPlaced', (e) => void handled.push(e.id), { name: 'ship' });
    const tx = { any: 'handle' };

    const outbox = await coordinator.publishInTransaction(tx, {
      eventType: 'OrderPlaced',
      aggregateId: 'o-1',
    });
    expect(store.calls).toHaveLength(1);
    expect(store.calls[0]!.transaction).toBe(tx);
    expect(outbox.results).toEqual([
      { eventId: store.calls[0]!.events[0]!.id, position: '1', deliveries: 1 },
    ]);
    expect(heard).toEqual([]);
    expect(coordinator.metrics.published).toBe(0);

    const [first, second] = await Promise.all([outbox.afterCommit(), outbox.afterCommit()]);
    expect(first).toEqual(outbox.results);
    expect(second).toBe(first);
    expect(heard).toHaveLength(1);
    expect(heard[0]!.events.map((e) => e.id)).toEqual([outbox.results[0]!.eventId]);
    expect(coordinator.metrics.published).toBe(1);
    await coordinator.waitForIdle();
    expect(handled).toEqual([outbox.results[0]!.eventId]);
    await coordinator.shutdown();
  });

  it('rejects an invalid batch with every issue before the store is called', async () => {
    const store = transactionalStore();
    const coordinator = await memoryCoordinator({ store });
    const error = await rejection(
      coordinator.publishInTransaction({}, [
        { eventType: 'ok', aggregateId: 'a' },
        { eventType: 'bad type!', aggregateId: '' },
      ]),
    );
    expect(isEvcoError(error, 'EVENT_VALIDATION')).toBe(true);
    expect((error as Error).message).toMatch(/\[1\]\.eventType/);
    expect((error as Error).message).toMatch(/\[1\]\.aggregateId/);
    expect(store.calls).toEqual([]);
    await coordinator.shutdown();
  });

  it('passes the events through beforePublish (which may rewrite or reject them); afterPublish waits for the commit', async () => {
    const store = transactionalStore();
    const after: string[] = [];
    const coordinator = await memoryCoordinator({
      store,
      middleware: [
        {
          name: 'tenant',
          beforePublish: async (event) => {
            if (event.eventData.reject) throw new Error('rejected by policy');
            return { ...event, metadata: { ...event.metadata, tenant: 'acme' } };
          },
          afterPublish: (event, result) => {
            after.push(event.id);
            return { ...result, deliveries: result.deliveries + 100 };
          },
        },
      ],
    });
    const outbox = await coordinator.publishInTransaction({}, [{ eventType: 'T', aggregateId: 'a' }]);
    expect(store.calls[0]!.events[0]!.metadata.tenant).toBe('acme');
    expect((await store.getEvent(outbox.results[0]!.eventId))?.metadata.tenant).toBe('acme');
    expect(after).toEqual([]);
    expect((await outbox.afterCommit())[0]!.deliveries).toBe(100);
    expect(after).toEqual([outbox.results[0]!.eventId]);

    const error = await rejection(
      coordinator.publishInTransaction({}, [
        { eventType: 'T', aggregateId: 'a', eventData: { reject: true } },
      ]),
    );
    expect((error as Error).message).toBe('rejected by policy');
    expect(store.calls).toHaveLength(1);
    await coordinator.shutdown();
  });

  it('is UNSUPPORTED on a store without the outbox (store-memory), naming the alternative', async () => {
    const coordinator = await memoryCoordinator();
    const error = await rejection(
      coordinator.publishInTransaction({}, [{ eventType: 'T', aggregateId: 'a' }]),
    );
    expect(isEvcoError(error, 'UNSUPPORTED')).toBe(true);
    expect((error as Error).message).toMatch(/memory store.*publishEvent/);
    expect(
      isEvcoError(
        thrown(() => coordinator.publishInTransactionSync({}, [])),
        'UNSUPPORTED',
      ),
    ).toBe(true);
    await coordinator.shutdown();
  });

  it('points a store with only asynchronous appends from the sync variant to publishInTransaction', async () => {
    const store = transactionalStore();
    delete (store as Partial<typeof store>).appendWithinSync;
    const coordinator = await memoryCoordinator({ store });
    const error = thrown(() =>
      coordinator.publishInTransactionSync({}, { eventType: 'T', aggregateId: 'a' }),
    );
    expect(isEvcoError(error, 'UNSUPPORTED')).toBe(true);
    expect((error as Error).message).toMatch(/use publishInTransaction/);
    await coordinator.shutdown();
  });

  it('opens the publish instrumentation scope: its metadata is stored, it ends with the appended events or the error', async () => {
    const store = transactionalStore();
    const outcomes: Array<{ events?: readonly { id: string }[]; error?: unknown }> = [];
    const coordinator = await memoryCoordinator({
      store,
      instrumentation: [
        {
          name: 'tracer',
          publish: () => ({
            metadata: () => ({ traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' }),
            end: (outcome) => void outcomes.push(outcome),
          }),
        },
      ],
    });
    const outbox = await coordinator.publishInTransaction({}, { eventType: 'T', aggregateId: 'a' });
    expect(store.calls[0]!.events[0]!.metadata.traceparent).toMatch(/^00-0af7/);
    expect(outcomes.map((o) => o.events?.map((e) => e.id))).toEqual([[outbox.results[0]!.eventId]]);
    await rejection(coordinator.publishInTransaction({}, { eventType: 'bad type!', aggregateId: 'a' }));
    expect(isEvcoError(outcomes[1]!.error, 'EVENT_VALIDATION')).toBe(true);
    await coordinator.shutdown();
  });

  it('afterCommit() before COMMIT (the store says the handle is still in its transaction) is INVALID_TRANSACTION, announces nothing, and works once committed', async () => {
    const store = transactionalStore();
    const tx = { open: true };
    const asked: unknown[] = [];
    Object.assign(store, {
      transactionOpen: (handle: unknown) => {
        asked.push(handle);
        return (handle as typeof tx).open;
      },
    });
    const publisher = createInProcPublisher();
    const heard = announcements(publisher);
    const after: string[] = [];
    const coordinator = await memoryCoordinator({
      store,
      publisher,
      middleware: [
        {
          afterPublish: (event, result) => {
            after.push(event.id);
            return result;
          },
        },
      ],
    });
    const outbox = await coordinator.publishInTransaction(tx, { eventType: 'T', aggregateId: 'a' });

    const early = await rejection(outbox.afterCommit());
    expect(isEvcoError(early, 'INVALID_TRANSACTION')).toBe(true);
    expect((early as Error).message).toMatch(
      /afterCommit\(\) was called before the transaction ended.*after COMMIT/,
    );
    expect(asked).toEqual([tx]);
    expect(heard).toEqual([]);
    expect(after).toEqual([]);
    expect(coordinator.metrics.published).toBe(0);

    tx.open = false;
    expect(await outbox.afterCommit()).toEqual(outbox.results);
    expect(heard).toHaveLength(1);
    expect(after).toEqual([outbox.results[0]!.eventId]);
    // Announced once: the handle is not asked again (it may be in another transaction by now).
    tx.open = true;
    expect(await outbox.afterCommit()).toEqual(outbox.results);
    expect(asked).toHaveLength(2);
    await coordinator.shutdown();
  });

  it('afterCommit() is not checked when the store cannot tell (no transactionOpen, or undefined)', async () => {
    const store = transactionalStore();
    Object.assign(store, { transactionOpen: () => undefined });
    const coordinator = await memoryCoordinator({ store });
    const outbox = await coordinator.publishInTransaction({}, { eventType: 'T', aggregateId: 'a' });
    expect(await outbox.afterCommit()).toEqual(outbox.results);
    await coordinator.shutdown();
  });

  it('refuses after shutdown', async () => {
    const store = transactionalStore();
    const coordinator = await memoryCoordinator({ store });
    await coordinator.shutdown();
    const error = await rejection(
      coordinator.publishInTransaction({}, [{ eventType: 'T', aggregateId: 'a' }]),
    );
    expect(isEvcoError(error, 'COORDINATOR_CLOSED')).toBe(true);
    expect(store.calls).toEqual([]);
  });
});

describe('publishInTransactionSync', () => {
  /** A store double whose synchronous append goes to a second memory store's state by hand. */
  function syncStore() {
    const store = transactionalStore();
    const appended: DomainEvent[][] = [];
    store.appendWithinSync = (_tx, events) => {
      appended.push([...events]);
      return {
        events: events.map((e, i) => ({ ...e, position: String(i + 1), recordedAt: new Date() })),
        deliveries: events.map(() => 0),
      };
    };
    return Object.assign(store, { appended });
  }

  it('returns at once with the appended events, and runs synchronous middlewares', async () => {
    const store = syncStore();
    const coordinator = await memoryCoordinator({
      store,
      middleware: [{ beforePublish: (e) => ({ ...e, metadata: { ...e.metadata, via: 'sync' } }) }],
    });
    const outbox = coordinator.publishInTransactionSync({}, [{ eventType: 'T', aggregateId: 'a' }]);
    expect(outbox.results).toHaveLength(1);
    expect(store.appended[0]![0]!.metadata.via).toBe('sync');
    await coordinator.shutdown();
  });

  it('afterCommit() inside the synchronous transaction is INVALID_TRANSACTION', async () => {
    const store = syncStore();
    let open = true;
    Object.assign(store, { transactionOpen: () => open });
    const coordinator = await memoryCoordinator({ store });
    const outbox = coordinator.publishInTransactionSync({}, [{ eventType: 'T', aggregateId: 'a' }]);
    expect(isEvcoError(await rejection(outbox.afterCommit()), 'INVALID_TRANSACTION')).toBe(true);
    open = false;
    expect(await outbox.afterCommit()).toHaveLength(1);
    await coordinator.shutdown();
  });

  it('refuses a beforePublish that returns a promise (UNSUPPORTED) before appending', async () => {
    const store = syncStore();
    const coordinator = await memoryCoordinator({
      store,
      middleware: [{ name: 'lookup', beforePublish: async (e) => e }],
    });
    const error = thrown(() =>
      coordinator.publishInTransactionSync({}, [{ eventType: 'T', aggregateId: 'a' }]),
    );
    expect(isEvcoError(error, 'UNSUPPORTED')).toBe(true);
    expect((error as Error).message).toMatch(/"lookup".*synchronous/);
    expect(store.appended).toEqual([]);
    await coordinator.shutdown();
  });

  it('is available at module level once the process-wide coordinator has started', async () => {
    const early = thrown(() => publishInTransactionSync({}, []));
    expect(isEvcoError(early, 'COORDINATOR_NOT_CONFIGURED')).toBe(true);
    const store = syncStore();
    const starting = getCoordinator({ store, publisher: createInProcPublisher(), logger: silentLogger });
    expect((thrown(() => publishInTransactionSync({}, [])) as Error).message).toMatch(/still starting/);
    await starting;
    expect(publishInTransactionSync({}, [{ eventType: 'T', aggregateId: 'a' }]).results).toHaveLength(1);
    expect((await publishInTransaction({}, [{ eventType: 'T', aggregateId: 'b' }])).results).toHaveLength(1);
    expect(store.calls).toHaveLength(1);
    await shutdownCoordinator();
    expect(
      isEvcoError(
        thrown(() => publishInTransactionSync({}, [])),
        'COORDINATOR_CLOSED',
      ),
    ).toBe(true);
  });
});
