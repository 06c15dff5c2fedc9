import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { silentLogger } from '@evco/core';
import { makeEvent, waitFor } from '@evco/testkit';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { PostgresStore } from '../src/index.js';
import {
  atLeast,
  MODERN_PGBOUNCER,
  type PgBouncer,
  SYSTEM_PGBOUNCER,
  startPgBouncer,
  withPgBouncer,
} from './pgbouncer.js';
import { createTestStore, databaseUrl, dropSchema } from './support.js';

const WORKER = fileURLToPath(new URL('./fixtures/worker.ts', import.meta.url));
const EVENTS = 10_000;

interface Worker {
  child: ChildProcess;
  exited: Promise<number | null>;
  /** What the worker's store detected in front of Postgres (`none`, `transaction`). */
  pooler: string;
  /** Whether it uses named statements (`true`, `false`). */
  prepared: string;
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
  let stdout = '';
  const [pooler, prepared] = await new Promise<[string, string]>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
      const ready = /ready pooler=(\w+) prepared=(\w+)/.exec(stdout);
      if (ready) resolve([ready[1]!, ready[2]!]);
    });
    void exited.then((code) => reject(new Error(`worker exited (${code}) before it was ready: ${stderr}`)));
  });
  return { child, exited, pooler, prepared };
}

/**
 * `url`: where the workers and the test's own store connect (the database, or a pooler), with
 * the store's default options; `pooler`: what every store must detect there; `prepared`: whether
 * each then uses named statements.
 */
function describeFleet(
  title: string,
  url: () => Promise<string>,
  pooler: 'none' | 'transaction',
  prepared: boolean,
): void {
  describe(title, () => {
    let store: PostgresStore;
    let workers: Worker[] = [];

    beforeEach(async () => {
      store = await createTestStore({ connectionString: await url(), logger: silentLogger });
      expect((await store.healthCheck()).details).toMatchObject({ pooler, preparedStatements: prepared });
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
      expect(workers.map((w) => w.pooler)).toEqual([pooler, pooler]);
      expect(workers.map((w) => w.prepared)).toEqual([String(prepared), String(prepared)]);
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
      expect(workers.map((w) => w.pooler)).toEqual([pooler, pooler]);
      expect(workers.map((w) => w.prepared)).toEqual([String(prepared), String(prepared)]);
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

describeFleet('two coordinators in two OS processes on one database', databaseUrl, 'none', true);

// The same fleet with every connection (workers, handlers' own writes, the test) through a
// PgBouncer in transaction mode, on the store's default options: the system's (Debian bookworm's
// 1.18) and a modern one (1.24, `EVCO_PGBOUNCER_124`), which reads `options` and keeps named
// statements (its default `max_prepared_statements` 200, left as it is).
for (const binary of [SYSTEM_PGBOUNCER, MODERN_PGBOUNCER]) {
  const title = `two coordinators in two OS processes through PgBouncer ${binary.label} (transaction pooling)`;
  withPgBouncer(binary, title, () => {
    let bouncer: Promise<PgBouncer> | undefined;
    afterAll(async () => {
      await (await bouncer)?.stop();
    });
    describeFleet(
      title,
      async () => {
        bouncer ??= databaseUrl().then((url) => startPgBouncer(url, { binary, poolSize: 8 }));
        return (await bouncer).url;
      },
      'transaction',
      // 1.18 passes named statements through; 1.22+ keeps them (its default max_prepared_statements 200).
      atLeast(binary.version, 1, 22),
    );
  });
}
