import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { makeEvent, waitFor } from '@evco/testkit';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { PostgresStore } from '../src/index.js';
import { type PgBouncer, pgBouncerMissing, startPgBouncer } from './pgbouncer.js';
import { createTestStore, databaseUrl, dropSchema } from './support.js';

const WORKER = fileURLToPath(new URL('./fixtures/worker.ts', import.meta.url));
const EVENTS = 10_000;

interface Worker {
  child: ChildProcess;
  exited: Promise<number | null>;
}

async function startWorker(url: string, schema: string, leaseMs: number, timeoutMs: number): Promise<Worker> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--conditions=@evco/source', WORKER, schema, String(leaseMs), String(timeoutMs)],
    {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      env: { ...process.env, EVCO_TEST_DATABASE_URL: url },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr!.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) resolve();
    });
    void exited.then((code) => reject(new Error(`worker exited (${code}) before it was ready: ${stderr}`)));
  });
  return { child, exited };
}

/** `url`: where the workers and the test's own store connect (the database, or a pooler). */
function describeFleet(title: string, url: () => Promise<string>): void {
  describe(title, () => {
    let store: PostgresStore;
    let workers: Worker[] = [];

    beforeEach(async () => {
      store = await createTestStore({ connectionString: await url() });
      await store.pool.query(
        `CREATE TABLE "${store.schema}".handled (event_id uuid NOT NULL, attempt int NOT NULL, pid int NOT NULL)`,
      );
    });

    afterEach(async () => {
      for (const w of workers) {
        if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGTERM');
        await w.exited;
      }
      workers = [];
      await store.close();
      await dropSchema(store.schema);
    });

    async function publish(): Promise<string[]> {
      const ids: string[] = [];
      for (let i = 0; i < EVENTS; i += 250) {
        const batch = Array.from({ length: 250 }, (_, j) =>
          makeEvent({ eventType: 'Work', aggregateId: `agg-${(i + j) % 200}` }),
        );
        const { deliveries } = await store.append(batch, { now: new Date() });
        expect(deliveries.every((d) => d === 1)).toBe(true);
        ids.push(...batch.map((e) => e.id));
      }
      return ids;
    }

    async function runs(): Promise<Array<{ event_id: string; pid: number }>> {
      return (await store.pool.query(`SELECT event_id, pid FROM "${store.schema}".handled`)).rows;
    }

    async function drained(): Promise<boolean> {
      const stats = await store.stats({ now: new Date() });
      return stats.pending + stats.running + stats.dead === 0;
    }

    it(`${EVENTS} events, one handler in both: every delivery handled exactly once in total`, async () => {
      workers = await Promise.all([
        startWorker(await url(), store.schema, 60_000, 30_000),
        startWorker(await url(), store.schema, 60_000, 30_000),
      ]);
      const ids = await publish();
      await waitFor(drained, { timeoutMs: 120_000, intervalMs: 100, message: 'deliveries still open' });
      const handled = await runs();
      expect(handled.length).toBe(EVENTS);
      expect(new Set(handled.map((r) => r.event_id))).toEqual(new Set(ids));
      const byPid = new Map<number, number>();
      for (const r of handled) byPid.set(r.pid, (byPid.get(r.pid) ?? 0) + 1);
      // Competing consumers: both processes took a share.
      expect([...byPid.keys()].sort()).toEqual(workers.map((w) => w.child.pid!).sort());
    });

    it('kill -9 of one process mid-run loses nothing: the other takes over its expired leases', async () => {
      workers = await Promise.all([
        startWorker(await url(), store.schema, 6000, 5000),
        startWorker(await url(), store.schema, 6000, 5000),
      ]);
      const [victim, survivor] = workers as [Worker, Worker];
      const ids = await publish();
      await waitFor(
        async () =>
          (await runs()).some((r) => r.pid === victim.child.pid) && (await runs()).length > EVENTS / 4,
        {
          timeoutMs: 60_000,
          intervalMs: 20,
        },
      );
      victim.child.kill('SIGKILL');
      await victim.exited;
      // Killed mid-run: work was left, some of it leased by the victim.
      expect(new Set((await runs()).map((r) => r.event_id)).size).toBeLessThan(EVENTS);
      await waitFor(drained, { timeoutMs: 120_000, intervalMs: 100, message: 'deliveries still open' });
      const handled = await runs();
      expect(new Set(handled.map((r) => r.event_id))).toEqual(new Set(ids));
      // A second run only ever repeats work the killed process had leased (at least once).
      const pidsByEvent = new Map<string, number[]>();
      for (const r of handled) pidsByEvent.set(r.event_id, [...(pidsByEvent.get(r.event_id) ?? []), r.pid]);
      for (const [eventId, pids] of pidsByEvent) {
        if (pids.length > 1) expect(pids, eventId).toContain(victim.child.pid);
      }
      expect(handled.some((r) => r.pid === survivor.child.pid)).toBe(true);
    });
  });
}

describeFleet('two coordinators in two OS processes on one database', databaseUrl);

// The same fleet with every connection (workers, handlers' own writes, the test) through a
// PgBouncer in transaction mode, on the store's default options.
let bouncer: PgBouncer | undefined;
afterAll(async () => {
  await bouncer?.stop();
});
describe.skipIf(pgBouncerMissing !== undefined)(`behind PgBouncer ${pgBouncerMissing ?? ''}`, () => {
  describeFleet('two coordinators in two OS processes through PgBouncer (transaction pooling)', async () => {
    bouncer ??= await startPgBouncer(await databaseUrl(), { poolSize: 8 });
    return bouncer.url;
  });
});
