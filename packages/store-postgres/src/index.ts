export { TransactionPoolerError } from './errors.js';
export { LATEST_VERSION, MIGRATIONS, type Migration } from './migrations.js';
export {
  type PostgresStoreOptions,
  postgresStoreOptionsSchema,
} from './options.js';
export {
  type AppendedListener,
  createPostgresStore,
  type PostgresStore,
  type Queryable,
  type TransactionClient,
} from './postgres-store.js';
export { POSITION_BLOCK } from './sql.js';
