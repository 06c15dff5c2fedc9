import { describeEventStoreContract } from '@evco/testkit';
import { createMemoryStore } from '../src/index.js';

describeEventStoreContract({ name: 'store-memory', create: async () => createMemoryStore() });
