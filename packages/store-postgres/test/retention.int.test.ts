import { describeRetentionEnforcement } from '@evco/testkit';
import type { PostgresStore } from '../src/index.js';
import { createTestStore, dropSchema } from './support.js';

describeRetentionEnforcement({
  name: 'store-postgres, two pools on one schema',
  open: async () => {
    const first = await createTestStore();
    return [first, await createTestStore({ schema: first.schema })];
  },
  destroy: async ([first]) => dropSchema((first as PostgresStore).schema),
});
