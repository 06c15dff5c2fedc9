import { describe, expect, it, vi } from 'vitest';
import {
  createCoordinator,
  type EventPublisher,
  type EventStore,
  isEvcoError,
  StoreUnavailableError,
  silentLogger,
} from '../src/index.js';
import { createInProcPublisher, createMemoryStore } from './support.js';

/** Adapters whose close() and subscriptions are counted. */
function watchedAdapters(storePatch: Partial<EventStore> = {}) {
  const store = Object.assign(createMemoryStore(), storePatch);
  const publisher = createInProcPublisher();
  const unsubscribed = vi.fn();
  const subscribe = publisher.subscribe.bind(publisher);
  vi.spyOn(publisher, 'subscribe').mockImplementation((listener, hooks) => {
    const off = subscribe(listener, hooks);
    return () => {
      unsubscribed();
      off();
    };
  });
  const storeClose = vi.spyOn(store, 'close');
  const publisherClose = vi.spyOn(publisher as EventPublisher, 'close');
  return { store, publisher, storeClose, publisherClose, unsubscribed };
}

const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

describe('a failed createCoordinator', () => {
  it('closes the adapters it was given when the store cannot migrate (store down)', async () => {
    const down = new StoreUnavailableError('connect ECONNREFUSED 127.0.0.1:1', { source: 'store-postgres' });
    const a = watchedAdapters({ migrate: () => Promise.reject(down) });
    const before = timers();
    const error = await createCoordinator({
      store: a.store,
      publisher: a.publisher,
      logger: silentLogger,
    }).catch((e: unknown) => e);
    expect(error).toBe(down);
    expect(a.storeClose).toHaveBeenCalledTimes(1);
    expect(a.publisherClose).toHaveBeenCalledTimes(1);
    expect(timers()).toBe(before);
  });

  it('undoes a start that failed half way: subscription dropped, timers cleared, adapters closed', async () => {
    const a = watchedAdapters({
      onAppended: () => {
        throw new Error('LISTEN failed');
      },
    });
    const before = timers();
    const error = await createCoordinator({
      store: a.store,
      publisher: a.publisher,
      logger: silentLogger,
    }).catch((e: unknown) => e);
    expect((error as Error).message).toBe('LISTEN failed');
    expect(a.unsubscribed).toHaveBeenCalledTimes(1);
    expect(a.storeClose).toHaveBeenCalledTimes(1);
    expect(a.publisherClose).toHaveBeenCalledTimes(1);
    expect(timers()).toBe(before);
  });

  it('closes them on invalid options too: from the call on, the adapters belong to the coordinator', async () => {
    const a = watchedAdapters();
    const error = await createCoordinator({ store: a.store, publisher: a.publisher, leaseMs: -1 }).catch(
      (e: unknown) => e,
    );
    expect(isEvcoError(error, 'INVALID_OPTIONS')).toBe(true);
    expect(a.storeClose).toHaveBeenCalledTimes(1);
    expect(a.publisherClose).toHaveBeenCalledTimes(1);
  });

  it('with closeAdapters: false leaves them open for their owner, still undoing its own subscription', async () => {
    const a = watchedAdapters({
      onAppended: () => {
        throw new Error('LISTEN failed');
      },
    });
    await expect(
      createCoordinator({
        store: a.store,
        publisher: a.publisher,
        logger: silentLogger,
        closeAdapters: false,
      }),
    ).rejects.toThrow('LISTEN failed');
    expect(a.unsubscribed).toHaveBeenCalledTimes(1);
    expect(a.storeClose).not.toHaveBeenCalled();
    expect(a.publisherClose).not.toHaveBeenCalled();
    await a.store.close();
  });

  it('reports the start failure, not a failure to close afterwards', async () => {
    const down = new StoreUnavailableError('down');
    const a = watchedAdapters({ migrate: () => Promise.reject(down) });
    a.publisherClose.mockRejectedValue(new Error('close failed too'));
    a.storeClose.mockImplementation(() => {
      throw new Error('sync close failure');
    });
    const error = await createCoordinator({
      store: a.store,
      publisher: a.publisher,
      logger: silentLogger,
    }).catch((e: unknown) => e);
    expect(error).toBe(down);
  });
});
