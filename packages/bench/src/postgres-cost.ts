import { createPostgresStore } from '@evco/store-postgres';
import pg from 'pg';
import { databaseUrl } from './env.js';
import { type BenchSection, countingCoordinator } from './harness.js';
import { countEach } from './pg-counters.js';
import { insertConcurrently, publishAndDrain, RAW_DDL, RAW_INSERT, RAW_SCHEMA } from './postgres.js';

/**
 * What the Postgres end-to-end case costs the server per event, in units load does not change:
 * transactions committed, statements (round trips), WAL records and bytes, rows written. The
 * same 8-publisher, one-handler workload as the `postgres` section's end-to-end case, and the
 * same raw baseline (8 concurrent INSERTs).
 *
 * The counters are server-wide (`pg_stat_wal`, `pg_stat_database`, and `pg_stat_statements`
 * when it is loaded), so the figures are only this workload's on a server nobody else uses: run
 * it against a private instance (`EVCO_BENCH_DATABASE_URL`), e.g. one started with
 * `-c shared_preload_libraries=pg_stat_statements` and `CREATE EXTENSION pg_stat_statements`.
 */
const SCHEMA = 'evco_bench_cost';
const TOTAL = 4000;

export const postgresCostSection: BenchSection = {
  name: 'postgres-cost',
  async run() {
    // Connections never idle out: their server processes' CPU time is read before and after.
    const admin = new pg.Pool({ connectionString: databaseUrl, max: 8, idleTimeoutMillis: 0 });
    await admin.query(RAW_DDL);
    // One coordinator per asyncCommit mode, each on a schema of its own.
    const modes = ['none', 'leases'] as const;
    const runs: Array<Awaited<ReturnType<typeof countingCoordinator>>> = [];
    for (const asyncCommit of modes) {
      await admin.query(`DROP SCHEMA IF EXISTS ${SCHEMA}_${asyncCommit} CASCADE`);
      const store = createPostgresStore({
        connectionString: databaseUrl,
        schema: `${SCHEMA}_${asyncCommit}`,
        poolSize: 10,
        asyncCommit,
      });
      runs.push(
        await countingCoordinator(store, { eventType: 'CostHappened', name: 'cost', ordering: 'none' }),
      );
    }
    try {
      const raw = () => insertConcurrently(admin, RAW_INSERT, TOTAL, 'CostHappened');
      const evco = (asyncCommit: (typeof modes)[number]) => () =>
        publishAndDrain(runs[modes.indexOf(asyncCommit)]!, TOTAL, 'CostHappened');
      // Warm-up: plans, pools, first pages of every index.
      await raw();
      for (const mode of modes) await evco(mode)();
      const out = await countEach(
        admin,
        [
          { name: 'raw: pg INSERT … VALUES ×8', fn: raw },
          ...modes.map((mode) => ({
            name: `evco (asyncCommit: ${mode}): publishEvent ×8 → handled → completed`,
            fn: evco(mode),
          })),
        ],
        TOTAL,
      );
      return [
        {
          name: `end to end, cost per event (${TOTAL} events, 8 publishers, one handler, completed)`,
          note: 'server-wide counters: only meaningful on a server nobody else uses',
          ...out,
        },
      ];
    } finally {
      for (const mode of modes) {
        await runs[modes.indexOf(mode)]?.coordinator.shutdown();
        await admin.query(`DROP SCHEMA IF EXISTS ${SCHEMA}_${mode} CASCADE`);
      }
      await admin.query(`DROP SCHEMA IF EXISTS ${RAW_SCHEMA} CASCADE`);
      await admin.end();
    }
  },
};
