import { describeEventStoreContract } from '@evco/testkit';
import type { PostgresStore } from '../src/index.js';
import { createTestStore, dropSchema } from './support.js';

describeEventStoreContract({
  name: 'store-postgres',
  create: () => createTestStore(),
  destroy: (store) => dropSchema((store as PostgresStore).schema),
});
