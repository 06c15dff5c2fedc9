import type { EventStore } from '@evco/core';
import { describeEventStoreContract } from '@evco/testkit';
import { createSqliteStore, type SqliteStore } from '../src/index.js';
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
  // Another connection to the same file, as another process would have.
  share: async (store) => createSqliteStore({ filename: (store as SqliteStore).filename }),
  destroy: async (store) => {
    dirs.get(store)?.();
  },
});
