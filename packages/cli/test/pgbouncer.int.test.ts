import { randomBytes } from 'node:crypto';
import { resolveServiceUrl } from '@evco/testkit';
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import {
  type PgBouncer,
  SYSTEM_PGBOUNCER,
  startPgBouncer,
  withPgBouncer,
} from '../../store-postgres/test/pgbouncer.js';
import { evco } from './bin.js';

/**
 * The built `evco` through a real PgBouncer in transaction mode (the system's: 1.18 in CI), where
 * store-postgres logs at info what it found: the CLI's output is the command's own, log lines only
 * when EVCO_LOG_LEVEL asks for them.
 */
withPgBouncer(SYSTEM_PGBOUNCER, 'evco through PgBouncer', () => {
  let url: string;
  let bouncer: PgBouncer | undefined;
  const schema = `evco_cli_${randomBytes(5).toString('hex')}`;
  afterAll(async () => {
    await bouncer?.stop();
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
  });

  it('migrate and status print nothing on stderr, the store found the pooler all the same; EVCO_LOG_LEVEL=info shows what it found', async () => {
    url = await resolveServiceUrl({
      envVar: 'EVCO_TEST_DATABASE_URL',
      what: 'cli integration',
      startContainer: async () => {
        throw new Error('set EVCO_TEST_DATABASE_URL');
      },
    });
    bouncer = await startPgBouncer(url, { binary: SYSTEM_PGBOUNCER });
    const flags = ['--database-url', bouncer.url, '--schema', schema];

    const migrate = await evco(['migrate', ...flags, '--json']);
    expect(migrate).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(migrate.stdout)).toMatchObject({ fromVersion: 0 });
    const status = await evco(['status', ...flags, '--json']);
    expect(status.stderr).toBe('');
    expect(status.code).toBe(0);
    expect(JSON.stringify(JSON.parse(status.stdout))).toContain('"pooler":"transaction"');

    const verbose = await evco(['status', ...flags], { EVCO_LOG_LEVEL: 'info' });
    expect(verbose.code).toBe(0);
    const lines = verbose.stderr.trimEnd().split('\n');
    expect(lines).toEqual([expect.stringContaining('evco store-postgres: the transaction pooler')]);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 30, store: 'postgres', schema });
  });
});
