/**
 * `/health/ready` against a real Postgres that goes away: the demo reaches the database through
 * a TCP relay the test controls, so "unreachable" is real (connections cut, new ones refused).
 */
import { randomBytes } from 'node:crypto';
import { createPostgresStore } from '@evco/store-postgres';
import { TcpRelay, waitFor } from '@evco/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STACK_FRAME } from './helpers.js';
import { type DemoProcess, json, services, startDemo } from './processes.js';

const schema = `demo_r_${randomBytes(5).toString('hex')}`;
let databaseUrl: string;
let demo: DemoProcess;

let relay: TcpRelay;

beforeAll(async () => {
  ({ databaseUrl } = await services());
  const target = new URL(databaseUrl);
  relay = new TcpRelay({ host: target.hostname, port: Number(target.port || 5432) });
  await relay.open();
  const viaRelay = new URL(databaseUrl);
  viaRelay.hostname = '127.0.0.1';
  viaRelay.port = String(relay.port);
  demo = await startDemo({
    DATABASE_URL: viaRelay.toString(),
    EVCO_DATABASE_SCHEMA: schema,
    EVCO_LOG_LEVEL: 'warn',
  });
});

afterAll(async () => {
  if (demo && demo.child.exitCode === null) {
    demo.child.kill('SIGTERM');
    await demo.exited;
  }
  await relay?.close();
  if (!databaseUrl) return;
  const store = createPostgresStore({ connectionString: databaseUrl, schema, poolSize: 1 });
  await store.pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await store.close();
});

describe('/health/ready on Postgres', () => {
  it('is 200 while the database answers, 503 while it is unreachable, 200 again once it is back', async () => {
    expect((await json(`${demo.url}/evco/health/ready`)).status).toBe(200);

    const port = relay.port;
    await relay.close();
    const down = await waitFor(
      async () => {
        const res = await json<{ error: { code: string; message: string } }>(`${demo.url}/evco/health/ready`);
        return res.status === 503 ? res : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 100 },
    );
    expect(down.body.error.code).toBe('STORE_UNAVAILABLE');
    expect(down.body.error.message).toContain('postgres');
    const password = new URL(databaseUrl).password;
    if (password) expect(JSON.stringify(down.body)).not.toContain(password);
    expect(JSON.stringify(down.body)).not.toMatch(STACK_FRAME);
    // The process itself is fine: liveness does not follow the database.
    expect((await json(`${demo.url}/evco/health/live`)).status).toBe(200);

    await relay.open(port);
    await waitFor(async () => (await json(`${demo.url}/evco/health/ready`)).status === 200, {
      timeoutMs: 15_000,
      intervalMs: 100,
    });
  });
});
