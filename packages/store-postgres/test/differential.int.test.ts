import { setTimeout as sleep } from 'node:timers/promises';
import { createMemoryStore } from '@evco/store-memory';
import { describeDifferentialTest } from '@evco/testkit';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { POSITION_BLOCK, type PostgresStore } from '../src/index.js';
import { busyNeighbour, createTestStore, databaseUrl, dropSchema } from './support.js';

const SETTLE_TIMEOUT_MS = 60_000;
const pool = new pg.Pool({ connectionString: await databaseUrl(), max: 1 });
let stopNeighbour: (() => Promise<void>) | undefined;

// A session beside the run keeps opening short transactions, so the run meets the settled
// horizon on a quiet server too, not only when other writers happen to be busy.
beforeAll(async () => {
  stopNeighbour = await busyNeighbour();
});
afterAll(async () => {
  await stopNeighbour?.();
  await pool.end();
});

/**
 * Waits until the settled horizon (the first position a transaction still open on the server
 * could own) passed every event of the store's schema: the store then shows all it was given.
 * Reads wait for this themselves up to `settleTimeoutMs`, but a claim that finds some deliveries
 * returns them without waiting for ordered ones still settling; the comparison is of what the
 * store shows once settled.
 */
async function settled(store: PostgresStore): Promise<void> {
  const deadline = Date.now() + SETTLE_TIMEOUT_MS;
  for (let pause = 1; ; pause = Math.min(2 * pause, 50)) {
    const { rows } = await pool.query<{ settled: boolean | null }>(
      `SELECT (SELECT max(position) FROM "${store.schema}".events)
         < pg_snapshot_xmin(pg_current_snapshot())::text::bigint * $1 AS settled`,
      [POSITION_BLOCK],
    );
    if (rows[0]!.settled !== false) return;
    if (Date.now() > deadline) {
      throw new Error(
        `a transaction on the server held the settled horizon back for ${SETTLE_TIMEOUT_MS} ms`,
      );
    }
    await sleep(pause);
  }
}

// Positions are sparse (transaction id × 2^20 + index): only their order is compared.
describeDifferentialTest({
  name: 'store-postgres',
  create: () => createTestStore(),
  destroy: (store) => dropSchema(store.schema),
  reference: createMemoryStore,
  positions: 'ordered',
  settle: settled,
  seeds: [1, 2, 3],
  steps: 300,
});
