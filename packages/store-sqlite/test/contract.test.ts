import type { EventStore } from '@evco/core';
import { describeEventStoreContract } from '@evco/testkit';
import { createSqliteStore } from '../src/index.js';
import { tempDir } from './support.js';

// Each case gets its own file in its own directory, removed afterwards.
const dirs = new WeakMap<EventStore, () => void>();

describeEventStoreContract({
  name: 'store-sqlite',
  create: async () => {
    const tmp = tempDir();
    const store = createSqliteStore({ filename: tmp.file() });
    await store.migrate();
    dirs.set(store, tmp.cleanup);
    return store;
  },
  capabilities: { durable: true, crossProcess: true, retention: true },
  // Another connection to the same file, as another process would have.
  share: async (store) => createSqliteStore({ filename: store.filename }),
  reopen: async (store) => {
    const reopened = createSqliteStore({ filename: store.filename });
    await reopened.migrate();
    return reopened;
  },
  destroy: async (store) => {
    dirs.get(store)?.();
  },
});

// Again with periods of 100 events: the long cases cross period boundaries (the differential test crosses them in every case).
describeEventStoreContract({
  name: 'store-sqlite, periods of 100 events',
  create: async () => {
    const tmp = tempDir();
    const store = createSqliteStore({ filename: tmp.file(), periodEvents: 100 });
    await store.migrate();
    dirs.set(store, tmp.cleanup);
    return store;
  },
  capabilities: { durable: true, crossProcess: true, retention: true },
  // Another connection to the same file, as another process would have.
  share: async (store) => createSqliteStore({ filename: store.filename, periodEvents: 100 }),
  reopen: async (store) => {
    const reopened = createSqliteStore({ filename: store.filename, periodEvents: 100 });
    await reopened.migrate();
    return reopened;
  },
  destroy: async (store) => {
    dirs.get(store)?.();
  },
});
