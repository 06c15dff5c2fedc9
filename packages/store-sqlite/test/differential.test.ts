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

// The same operations over periods of 3 events: every read crosses period boundaries (and the
// prunes drop periods and keep what must stay), with the same results as one table.
describeDifferentialTest({
  name: 'store-sqlite, periods of 3 events',
  create: async () => createSqliteStore({ filename: ':memory:', periodEvents: 3 }),
  reference: createMemoryStore,
  positions: 'equal',
});
