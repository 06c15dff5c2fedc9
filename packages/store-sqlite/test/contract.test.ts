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
  destroy: async (store) => {
    dirs.get(store)?.();
  },
});
