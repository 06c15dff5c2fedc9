export { LATEST_VERSION as SCHEMA_VERSION } from './migrations.js';
export { type SqliteDatabase, type SqliteStoreOptions, sqliteStoreOptionsSchema } from './options.js';
export { readSqliteSchemaVersion } from './schema-version.js';
export { createSqliteStore, type SqliteStore } from './sqlite-store.js';
