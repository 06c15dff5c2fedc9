import { describeEventStoreContract } from '@evco/testkit';
import type { PostgresStore } from '../src/index.js';
import { createTestStore, dropSchema } from './support.js';

describeEventStoreContract({
  name: 'store-postgres',
  create: () => createTestStore(),
  // Another pool on the same schema, as another process would have.
  share: (store) => createTestStore({ schema: (store as PostgresStore).schema }),
  destroy: (store) => dropSchema((store as PostgresStore).schema),
});

// The path behind a transaction-mode pooler: unnamed statements, no session settings.
describeEventStoreContract({
  name: 'store-postgres, preparedStatements: false',
  create: () => createTestStore({ preparedStatements: false }),
  destroy: (store) => dropSchema((store as PostgresStore).schema),
});
