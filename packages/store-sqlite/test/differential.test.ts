import { createMemoryStore } from '@evco/store-memory';
import { describeDifferentialTest } from '@evco/testkit';
import { createSqliteStore } from '../src/index.js';

// SQLite's positions are a rowid with no gaps, so they must equal the reference's exactly.
describeDifferentialTest({
  name: 'store-sqlite',
  create: async () => createSqliteStore({ filename: ':memory:' }),
  reference: createMemoryStore,
  positions: 'equal',
});
