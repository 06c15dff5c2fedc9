import { describeEventStoreContract } from '@evco/testkit';
import type { PostgresStore } from '../src/index.js';
import { createTestStore, dropSchema } from './support.js';

describeEventStoreContract({
  name: 'store-postgres',
  create: () => createTestStore(),
  destroy: (store) => dropSchema((store as PostgresStore).schema),
});

// The path behind a transaction-mode pooler: unnamed statements, no session settings.
describeEventStoreContract({
  name: 'store-postgres, preparedStatements: false',
  create: () => createTestStore({ preparedStatements: false }),
  destroy: (store) => dropSchema((store as PostgresStore).schema),
});
