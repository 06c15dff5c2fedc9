import { describeEventStoreContract } from '@evco/testkit';
import { createMemoryStore } from '../src/index.js';

describeEventStoreContract({
  name: 'store-memory',
  create: async () => createMemoryStore(),
  // One process's memory: nothing to reopen, nothing to share.
  capabilities: { durable: false, crossProcess: false, retention: true },
});
