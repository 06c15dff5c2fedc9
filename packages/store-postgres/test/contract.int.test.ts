import { describeEventStoreContract } from '@evco/testkit';
import { createTestStore, dropSchema } from './support.js';

const capabilities = { durable: true, crossProcess: true, retention: true };

describeEventStoreContract({
  name: 'store-postgres',
  create: () => createTestStore(),
  capabilities,
  // Another pool on the same schema, as another process would have.
  share: (store) => createTestStore({ schema: store.schema }),
  reopen: (store) => createTestStore({ schema: store.schema }),
  destroy: (store) => dropSchema(store.schema),
});

// The path behind a transaction-mode pooler: unnamed statements, no session settings.
describeEventStoreContract({
  name: 'store-postgres, preparedStatements: false',
  create: () => createTestStore({ preparedStatements: false }),
  capabilities,
  share: (store) => createTestStore({ schema: store.schema, preparedStatements: false }),
  reopen: (store) => createTestStore({ schema: store.schema, preparedStatements: false }),
  destroy: (store) => dropSchema(store.schema),
});
