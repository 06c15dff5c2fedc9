import { describeRetentionEnforcement } from '@evco/testkit';
import { createMemoryStore } from '../src/index.js';

// One process: both coordinators share the one store (closing it twice is safe).
describeRetentionEnforcement({
  name: 'store-memory, one store shared by two coordinators',
  open: async () => {
    const store = createMemoryStore();
    return [store, store];
  },
});
