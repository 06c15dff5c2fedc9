import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createCoordinator, type EventStore, silentLogger } from '@evco/core';
import { createInProcPublisher } from '@evco/publisher-inproc';
import { createRedisPublisher } from '@evco/publisher-redis';
import { createPostgresStore } from '@evco/store-postgres';
import { createSqliteStore } from '@evco/store-sqlite';
import { resolveServiceUrl, TcpRelay, waitFor } from '@evco/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, evco, here, type Result, root } from './bin.js';

/** Spawns the built CLI and collects its output as it comes. */
function evcoChild(args: string[]): {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exit: Promise<number>;
} {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: root, env: { PATH: process.env.PATH } });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  child.stderr.on('data', (d) => {
    err += d;
  });
  const exit = new Promise<number>((resolve) =>
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1))),
  );
  return { child, out: () => out, err: () => err, exit };
}

/**
 * Waits until a running `evco tail` has read where the store ends (it prints only events stored
 * after that): publishes `probe()` events until one is printed. How long the CLI takes to start
 * depends on the machine's load, so no fixed pause would do.
 */
async function untilTailing(tail: { out: () => string }, probe: () => Promise<unknown>): Promise<void> {
  await waitFor(
    async () => {
      if (tail.out().length > 0) return true;
      await probe();
      return false;
    },
    { timeoutMs: 30_000, intervalMs: 200, message: 'tail printed none of the probes' },
  );
}

/** The handler process (from source: tsx + the source condition). */
function startWorker(env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--conditions=@evco/source', join(here, 'fixtures', 'worker.ts')],
    {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      if (String(d).includes('ready')) resolve(child);
    });
    child.on('exit', (code) => reject(new Error(`worker exited with ${code}`)));
  });
}

async function stopWorker(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

const json = <T>(r: Result): T => {
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as T;
};

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** No stack trace, one line, no password. */
function expectOneLineError(r: Result, code: number, text: string | RegExp): void {
  expect(r.code).toBe(code);
  expect(r.stdout).toBe('');
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines.length).toBe(1);
  expect(lines[0]).toMatch(/^evco: /);
  expect(lines[0]).toMatch(text);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(r.stderr).not.toContain('s3cret');
}

interface Fixture {
  name: string;
  /** Connection flags for the CLI. */
  flags: string[];
  /** Env for the worker fixture. */
  workerEnv: NodeJS.ProcessEnv;
  open(): EventStore;
  cleanup(): Promise<void>;
  /** Whether done deliveries stay listed (store-sqlite keeps them). */
  keepsDone: boolean;
}

const hasPostgres = Boolean(process.env.EVCO_TEST_DATABASE_URL);

async function sqliteFixture(): Promise<Fixture> {
  const dir = mkdtempSync(join(tmpdir(), 'evco-cli-'));
  const file = join(dir, 'events.db');
  return {
    name: 'sqlite',
    flags: ['--sqlite', file],
    workerEnv: { WORKER_SQLITE: file },
    open: () => createSqliteStore({ filename: file }),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    keepsDone: true,
  };
}

async function postgresFixture(): Promise<Fixture> {
  const url = await resolveServiceUrl({
    envVar: 'EVCO_TEST_DATABASE_URL',
    what: 'cli integration',
    startContainer: async () => {
      throw new Error('set EVCO_TEST_DATABASE_URL');
    },
  });
  const schema = `evco_cli_${randomBytes(5).toString('hex')}`;
  return {
    name: 'postgres',
    flags: ['--database-url', url, '--schema', schema],
    workerEnv: { WORKER_DATABASE_URL: url, WORKER_SCHEMA: schema },
    open: () => createPostgresStore({ connectionString: url, schema, poolSize: 2 }),
    cleanup: async () => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await client.end();
    },
    keepsDone: false,
  };
}

describe.each([
  ['sqlite', sqliteFixture, false],
  ['postgres', postgresFixture, !hasPostgres],
] as const)('evco on %s', (name, makeFixture, skip) => {
  let f: Fixture;
  let t0: string;
  let roots: string[] = [];

  beforeAll(async () => {
    if (skip) return;
    expect(existsSync(BIN), 'build @evco/cli first (pnpm turbo run build --filter=@evco/cli)').toBe(true);
    f = await makeFixture();
    t0 = new Date(Date.now() - 60_000).toISOString();
    // The store is created by the CLI itself.
    const migrated = await evco(['migrate', ...f.flags]);
    expect(migrated.code).toBe(0);
    expect(migrated.stdout).toMatch(/^schema created at version \d+: /);
    // A fleet ran: `welcome` reacts with WelcomeSent, `audit` failed every time (one attempt).
    const c = await createCoordinator({
      store: f.open(),
      publisher: createInProcPublisher(),
      logger: silentLogger,
      retry: { maxAttempts: 1 },
      pollIntervalMs: 20,
    });
    await c.registerHandler('UserRegistered', async function welcome(e, ctx) {
      await ctx.publish({ eventType: 'WelcomeSent', aggregateId: e.aggregateId });
    });
    await c.registerHandler('UserRegistered', async function audit() {
      throw new Error('audit service down');
    });
    roots = [];
    for (const user of ['ada', 'grace', 'alan']) {
      roots.push(
        (await c.publishEvent({ eventType: 'UserRegistered', aggregateId: user, eventData: { user } }))
          .eventId,
      );
    }
    await c.waitForIdle();
    await c.shutdown();
  }, 120_000);

  afterAll(async () => {
    if (!skip) await f.cleanup();
  });

  it.skipIf(skip)('status: health, handlers and counts, as a table and as JSON', async () => {
    const table = await evco(['status', ...f.flags]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(new RegExp(`^store\\s+${name}\\b.*healthy`, 'm'));
    expect(table.stdout).toMatch(/deliveries\s+0 pending, 3 dead, 0 orphaned/);
    expect(table.stdout).toMatch(/│ audit\s+│ UserRegistered\s+│ 0\s+│ 0\s+│ 3\s+│/);
    expect(table.stdout).toMatch(/│ welcome\s+│ UserRegistered/);
    const s = json<{ counts: { dead: number; unprocessed: number }; handlers: Array<{ name: string }> }>(
      await evco(['status', '--json', ...f.flags]),
    );
    expect(s.counts).toMatchObject({ dead: 3, unprocessed: 3 });
    expect(s.handlers.map((h) => h.name)).toEqual(['audit', 'welcome']);
  });

  it.skipIf(skip)('handlers: the subscriptions, live, with their backlog', async () => {
    const table = await evco(['handlers', ...f.flags]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/│ audit\s+│ UserRegistered\s+│ aggregate\s+│ live\s+│/);
    const h = json<{ subscriptions: Array<{ handler: string; expired: boolean }> }>(
      await evco(['handlers', '--json', ...f.flags]),
    );
    expect(h.subscriptions.map((s) => [s.handler, s.expired])).toEqual([
      ['audit', false],
      ['welcome', false],
    ]);
    const refused = await evco(['handlers', 'retire', 'audit', ...f.flags]);
    expectOneLineError(refused, 2, /deletes its subscriptions and 3 unfinished deliveries; add --yes/);
    expectOneLineError(
      await evco(['handlers', 'retire', 'nobody', '--yes', ...f.flags]),
      2,
      /no handler named "nobody"/,
    );
  });

  it.skipIf(skip)('history: every filter, pages with --cursor, JSON with positions as strings', async () => {
    const all = json<{
      events: Array<{ id: string; eventType: string; position: string }>;
      nextCursor: string | null;
    }>(await evco(['history', '--json', ...f.flags]));
    expect(all.events.map((e) => e.eventType).sort()).toEqual(
      [...Array(3).fill('UserRegistered'), ...Array(3).fill('WelcomeSent')].sort(),
    );
    expect(typeof all.events[0]!.position).toBe('string');
    expect(all.nextCursor).toBeNull();
    const typed = await evco(['history', '--type', 'UserRegistered', ...f.flags]);
    expect(typed.code).toBe(0);
    expect(typed.stdout.match(/│ UserRegistered /g)?.length).toBe(3);
    expect(typed.stdout).not.toContain('WelcomeSent');
    const flow = json<{ events: Array<{ eventType: string; aggregateId: string }> }>(
      await evco(['history', '--json', '--correlation', roots[1]!, ...f.flags]),
    );
    expect(flow.events.map((e) => [e.eventType, e.aggregateId])).toEqual([
      ['UserRegistered', 'grace'],
      ['WelcomeSent', 'grace'],
    ]);
    const caused = json<{ events: Array<{ eventType: string }> }>(
      await evco(['history', '--json', '--causation', roots[2]!, ...f.flags]),
    );
    expect(caused.events.map((e) => e.eventType)).toEqual(['WelcomeSent']);
    const byAggregate = json<{ events: unknown[] }>(
      await evco(['history', '--json', '--aggregate', 'ada', ...f.flags]),
    );
    expect(byAggregate.events.length).toBe(2);
    const page = await evco(['history', '--limit', '2', ...f.flags]);
    const cursor = /more: add --cursor (\d+)/.exec(page.stdout)?.[1];
    expect(cursor).toBe(all.events[1]!.position);
    const next = json<{ events: Array<{ id: string }> }>(
      await evco(['history', '--json', '--limit', '2', '--cursor', cursor!, ...f.flags]),
    );
    expect(next.events.map((e) => e.id)).toEqual(all.events.slice(2, 4).map((e) => e.id));
    const desc = json<{ events: Array<{ id: string }> }>(
      await evco(['history', '--json', '--order', 'desc', '--limit', '1', ...f.flags]),
    );
    expect(desc.events[0]!.id).toBe(all.events[5]!.id);
    const future = json<{ events: unknown[] }>(
      await evco(['history', '--json', '--from', '2999-01-01', ...f.flags]),
    );
    expect(future.events).toEqual([]);
    const window = json<{ events: unknown[] }>(
      await evco(['history', '--json', '--from', t0, '--to', 'now', '--type', 'WelcomeSent', ...f.flags]),
    );
    expect(window.events.length).toBe(3);
    expectOneLineError(
      await evco(['history', '--cursor', 'abc', ...f.flags]),
      2,
      /--cursor must be a position/,
    );
    expectOneLineError(
      await evco(['history', '--from', 'yesterday', ...f.flags]),
      2,
      /--from must be an ISO-8601/,
    );
    expectOneLineError(
      await evco(['history', '--from', 'now', '--to', '2h', ...f.flags]),
      2,
      /to: must not be before from \(are from and to swapped\?\)/,
    );
  });

  it.skipIf(skip)('event ID: the event, its deliveries per handler and the causation tree', async () => {
    const table = await evco(['event', roots[0]!, ...f.flags]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^id\s+/m);
    expect(table.stdout).toMatch(/│ audit\s+│ dead\s+│ 1\s+│/);
    expect(table.stdout).toContain('audit service down');
    expect(table.stdout).toMatch(new RegExp(`^  UserRegistered ${roots[0]} \\(ada\\)   ◀ this event$`, 'm'));
    expect(table.stdout).toMatch(/^ {2}└─ WelcomeSent \S+ \(ada\)$/m);
    const d = json<{
      event: { id: string };
      deliveries: Array<{ handler: string; status: string }>;
      causes: unknown[];
      effects: Array<{ event: { id: string; eventType: string } }>;
    }>(await evco(['event', roots[0]!, '--json', ...f.flags]));
    expect(d.event.id).toBe(roots[0]);
    expect(d.causes).toEqual([]);
    expect(d.effects.map((n) => n.event.eventType)).toEqual(['WelcomeSent']);
    const statuses = Object.fromEntries(d.deliveries.map((x) => [x.handler, x.status]));
    expect(statuses.audit).toBe('dead');
    expect(statuses.welcome ?? 'done').toBe('done');
    // From the effect's side: its cause, itself, nothing below.
    const effect = await evco(['event', d.effects[0]!.event.id, ...f.flags]);
    expect(effect.stdout).toMatch(
      new RegExp(`^  UserRegistered ${roots[0]} \\(ada\\)\\n  └─ WelcomeSent .*◀ this event$`, 'm'),
    );
    expectOneLineError(
      await evco(['event', '0190f5d2-0000-7000-8000-000000000000', ...f.flags]),
      1,
      /no event with id "0190f5d2-0000-7000-8000-000000000000"/,
    );
  });

  it.skipIf(skip)('unprocessed and dead-letters: the three failed audits', async () => {
    const u = await evco(['unprocessed', ...f.flags]);
    expect(u.code).toBe(0);
    expect(u.stdout.match(/│ audit\s+│ dead\s+│ 1\s+│ Error: audit service down/g)?.length).toBe(3);
    const uj = json<{ events: Array<{ event: { id: string }; deliveries: Array<{ handler: string }> }> }>(
      await evco(['unprocessed', '--json', ...f.flags]),
    );
    expect(uj.events.map((e) => e.event.id)).toEqual(roots);
    const dl = await evco(['dead-letters', '--handler', 'audit', ...f.flags]);
    expect(dl.code).toBe(0);
    expect(dl.stdout.match(/│ audit\s+│ UserRegistered │/g)?.length).toBe(3);
    const dj = json<{ deadLetters: Array<{ delivery: { handler: string; lastError: string } }> }>(
      await evco(['dead-letters', '--json', ...f.flags]),
    );
    expect(dj.deadLetters.map((d) => d.delivery.lastError)).toEqual(
      Array(3).fill('Error: audit service down'),
    );
    const none = await evco(['dead-letters', '--handler', 'welcome', ...f.flags]);
    expect(none.stdout).toBe('no dead letters\n');
    // A mistyped handler is not "no dead letters" (which reads as "that handler is fine").
    expectOneLineError(
      await evco(['dead-letters', '--handler', 'welcom', ...f.flags]),
      2,
      /no handler named "welcom" is subscribed/,
    );
  });

  it.skipIf(skip)(
    'retry turns a dead letter into a handled delivery once a handler process runs',
    async () => {
      expectOneLineError(await evco(['retry', ...f.flags]), 2, /name what to retry/);
      // A mistyped handler is refused like `handlers retire`, not answered "retried 0".
      expectOneLineError(
        await evco(['retry', '--handler', 'audti', ...f.flags]),
        2,
        /no handler named "audti" is subscribed/,
      );
      // A delivery id that names no dead letter: nothing to retry, and the exit code (3) says so.
      const ghost = await evco(['retry', `${name}-no-such-delivery`, ...f.flags]);
      expect(ghost).toMatchObject({ code: 3, stdout: 'retried 0 dead letters\n' });
      expect(ghost.stderr).toMatch(
        new RegExp(`^evco: 1 of the 1 delivery ids named no dead letter .*: ${name}-no-such-delivery\\n$`),
      );
      const dead = json<{ deadLetters: Array<{ event: { id: string }; delivery: { deliveryId: string } }> }>(
        await evco(['dead-letters', '--json', ...f.flags]),
      );
      const first = dead.deadLetters[0]!;
      const retried = await evco(['retry', first.delivery.deliveryId, ...f.flags]);
      expect(retried).toMatchObject({ code: 0, stdout: 'retried 1 dead letter\n' });
      const worker = await startWorker(f.workerEnv);
      try {
        await waitFor(
          async () => {
            const d = json<{ deliveries: Array<{ handler: string; status: string }> }>(
              await evco(['event', first.event.id, '--json', ...f.flags]),
            );
            const audit = d.deliveries.find((x) => x.handler === 'audit');
            return f.keepsDone ? audit?.status === 'done' : audit === undefined;
          },
          { timeoutMs: 30_000, intervalMs: 200 },
        );
        const left = json<{ deadLetters: unknown[] }>(await evco(['dead-letters', '--json', ...f.flags]));
        expect(left.deadLetters.length).toBe(2);
        const rest = json<{ retried: number }>(
          await evco(['retry', '--handler', 'audit', '--json', ...f.flags]),
        );
        expect(rest.retried).toBe(2);
        await waitFor(
          async () =>
            json<{ deadLetters: unknown[] }>(await evco(['dead-letters', '--json', ...f.flags])).deadLetters
              .length === 0 &&
            json<{ events: unknown[] }>(await evco(['unprocessed', '--json', ...f.flags])).events.length ===
              0,
          { timeoutMs: 30_000, intervalMs: 200 },
        );
      } finally {
        await stopWorker(worker);
      }
    },
  );

  it.skipIf(skip)(
    'with a Redis that is down: retry still re-drives in the store and prints only its own line',
    async () => {
      // Port 1 refuses: the publisher's reconnect warnings go to the CLI's logger (silent), not
      // as JSON lines on stderr, and the password is nowhere.
      const r = await evco([
        'retry',
        '--handler',
        'welcome',
        '--redis-url',
        'redis://:s3cret@127.0.0.1:1',
        ...f.flags,
      ]);
      expect(r).toMatchObject({ code: 0, stdout: 'retried 0 dead letters\n', stderr: '' });
      // status waits for the publisher's health check, so the connection errors surely came.
      const s = json<{ publisher: { name: string; health: { healthy: boolean } } }>(
        await evco(['status', '--json', '--redis-url', 'redis://:s3cret@127.0.0.1:1', ...f.flags]),
      );
      expect(s.publisher).toMatchObject({ name: 'redis', health: { healthy: false } });
    },
  );

  it.skipIf(skip)(
    'replay: watched to completion with a handler process running; --json gives the final progress',
    async () => {
      const worker = await startWorker(f.workerEnv);
      try {
        const r = await evco([
          'replay',
          '--from',
          t0,
          '--to',
          'now',
          '--handler',
          'welcome',
          '--interval',
          '50',
          ...f.flags,
        ]);
        expect(r.code).toBe(0);
        expect(r.stdout).toMatch(
          /^replay \S+ done: 6 events, 3 deliveries queued, 3 handled, 0 open, 0 dead\n$/,
        );
        expect(r.stderr).toMatch(/^replay \S+ started\n/);
        const j = json<{ done: boolean; eventsMatched: number; deliveriesQueued: number; id: string }>(
          await evco([
            'replay',
            '--json',
            '--from',
            t0,
            '--to',
            'now',
            '--type',
            'UserRegistered',
            '--interval',
            '50',
            ...f.flags,
          ]),
        );
        expect(j).toMatchObject({ done: true, eventsMatched: 3, deliveriesQueued: 6 });
        const st = await evco(['replay', 'status', j.id, ...f.flags]);
        expect(st.stdout).toMatch(/^state\s+done$/m);
        expect(st.stdout).toMatch(/^deliveries\s+6 queued, 0 open, 0 dead$/m);
      } finally {
        await stopWorker(worker);
      }
      expectOneLineError(
        await evco(['replay', '--from', '2h', ...f.flags]),
        2,
        /replay needs --from and --to/,
      );
      expectOneLineError(
        await evco(['replay', '--from', 'now', '--to', '2h', ...f.flags]),
        2,
        /to: must be after from/,
      );
      expectOneLineError(
        await evco(['replay', '--from', '2h', '--to', 'now', '--handler', 'ghost', ...f.flags]),
        2,
        /no handler named "ghost"/,
      );
      expectOneLineError(await evco(['replay', 'status', 'replay-nope', ...f.flags]), 1, /no replay with id/);
    },
  );

  it.skipIf(skip)(
    'Ctrl-C while watching a replay leaves the job running; replay status shows it finish once handlers run',
    async () => {
      // No handler process: the replay's deliveries stay open, so the watch goes on until Ctrl-C.
      const watch = evcoChild([
        'replay',
        '--from',
        t0,
        '--to',
        'now',
        '--handler',
        'audit',
        '--interval',
        '50',
        ...f.flags,
      ]);
      await waitFor(() => /replay (\S+) started/.exec(watch.err()), { timeoutMs: 30_000 });
      const id = /replay (\S+) started/.exec(watch.err())![1]!;
      await waitFor(() => /handled/.test(watch.err()), { timeoutMs: 30_000 });
      watch.child.kill('SIGINT');
      expect(await watch.exit).toBe(130);
      expect(watch.err()).toContain(`stopped watching; replay ${id} goes on`);
      const paused = json<{ done: boolean; deliveriesOpen: number }>(
        await evco(['replay', 'status', id, '--json', ...f.flags]),
      );
      expect(paused.done).toBe(false);
      const worker = await startWorker(f.workerEnv);
      try {
        const finished = await waitFor(
          async () => {
            const p = json<{
              done: boolean;
              eventsMatched: number;
              deliveriesQueued: number;
              deliveriesDead: number;
            }>(await evco(['replay', 'status', id, '--json', ...f.flags]));
            return p.done ? p : undefined;
          },
          { timeoutMs: 60_000, intervalMs: 250 },
        );
        expect(finished).toMatchObject({ eventsMatched: 6, deliveriesQueued: 3, deliveriesDead: 0 });
      } finally {
        await stopWorker(worker);
      }
    },
  );

  it.skipIf(skip)('tail prints new events as they are stored, filtered by type', async () => {
    const store = f.open();
    const c = await createCoordinator({ store, publisher: createInProcPublisher(), logger: silentLogger });
    const old = await c.publishEvent({ eventType: 'OrderPlaced', aggregateId: 'old' });
    const tail = evcoChild(['tail', '--type', 'OrderPlaced', '--json', '--interval', '50', ...f.flags]);
    try {
      // Only events stored after it found the current end are printed: probes until one is.
      await untilTailing(tail, () => c.publishEvent({ eventType: 'OrderPlaced', aggregateId: 'probe' }));
      await c.publishEvent({ eventType: 'Ignored', aggregateId: 'x' });
      const a = await c.publishEvent({ eventType: 'OrderPlaced', aggregateId: 'o1' });
      const b = await c.publishEvent({ eventType: 'OrderPlaced', aggregateId: 'o2' });
      await waitFor(() => tail.out().includes(b.eventId), { timeoutMs: 15_000 });
      tail.child.kill('SIGINT');
      expect(await tail.exit).toBe(0);
      const lines = tail
        .out()
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { id: string; aggregateId: string });
      const probes = lines.findIndex((l) => l.aggregateId !== 'probe');
      expect(probes).toBeGreaterThan(0);
      expect(lines.slice(probes).map((l) => l.id)).toEqual([a.eventId, b.eventId]);
      expect(lines.map((l) => l.id)).not.toContain(old.eventId);

      // --limit: stops by itself after that many (here from the first stored event).
      const limited = evcoChild([
        'tail',
        '--type',
        'OrderPlaced',
        '--from-start',
        '--limit',
        '2',
        '--json',
        ...f.flags,
      ]);
      expect(await limited.exit).toBe(0);
      expect(
        limited
          .out()
          .trim()
          .split('\n')
          .map((l) => (JSON.parse(l) as { aggregateId: string }).aggregateId),
      ).toEqual(['old', 'probe']);
    } finally {
      tail.child.kill('SIGINT');
      await tail.exit;
      await c.shutdown();
    }
  });

  it.skipIf(skip)('tail --cursor P goes on after P: what was stored since, nothing before', async () => {
    const store = f.open();
    const c = await createCoordinator({ store, publisher: createInProcPublisher(), logger: silentLogger });
    try {
      const seen = await c.publishEvent({ eventType: 'TailCursor', aggregateId: 'seen' });
      const next = await c.publishEvent({ eventType: 'TailCursor', aggregateId: 'next' });
      await c.publishEvent({ eventType: 'Ignored', aggregateId: 'x' });
      const last = await c.publishEvent({ eventType: 'TailCursor', aggregateId: 'last' });
      const tail = evcoChild([
        'tail',
        '--type',
        'TailCursor',
        '--cursor',
        seen.position,
        '--limit',
        '2',
        '--json',
        '--interval',
        '50',
        ...f.flags,
      ]);
      expect(await tail.exit).toBe(0);
      const ids = tail
        .out()
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { id: string }).id);
      expect(ids).toEqual([next.eventId, last.eventId]);
    } finally {
      await c.shutdown();
    }
  });

  it.skipIf(skip || name !== 'postgres')(
    'tail goes on through a database outage: said once on stderr, then the events stored meanwhile',
    async () => {
      const [, url, , schema] = f.flags;
      const target = new URL(url!);
      const relay = new TcpRelay({ host: target.hostname, port: Number(target.port || 5432) });
      await relay.open();
      const viaRelay = new URL(url!);
      viaRelay.hostname = '127.0.0.1';
      viaRelay.port = String(relay.port);
      const tail = evcoChild([
        'tail',
        '--type',
        'OutageProbe',
        '--json',
        '--interval',
        '50',
        '--database-url',
        viaRelay.toString(),
        '--schema',
        schema!,
      ]);
      const store = f.open();
      const c = await createCoordinator({ store, publisher: createInProcPublisher(), logger: silentLogger });
      try {
        // Only events stored after it found the current end are printed: probes until one is.
        await untilTailing(tail, () => c.publishEvent({ eventType: 'OutageProbe', aggregateId: 'probe' }));
        const a = await c.publishEvent({ eventType: 'OutageProbe', aggregateId: 'before' });
        await waitFor(() => tail.out().includes(a.eventId), { timeoutMs: 15_000 });
        await relay.close();
        await waitFor(() => /tail tries again until it answers/.test(tail.err()), { timeoutMs: 15_000 });
        expect(tail.child.exitCode).toBeNull();
        const b = await c.publishEvent({ eventType: 'OutageProbe', aggregateId: 'during' });
        await relay.open(relay.port);
        await waitFor(() => tail.out().includes(b.eventId), { timeoutMs: 15_000 });
        const err = tail.err().trimEnd().split('\n');
        expect(err).toHaveLength(2);
        expect(err[0]).toMatch(
          /^evco: .* is unavailable: .*; tail tries again until it answers \(Ctrl-C stops\)$/,
        );
        expect(err[1]).toBe('evco: the store answers again; tail goes on');
        expect(
          tail
            .out()
            .trim()
            .split('\n')
            .map((l) => (JSON.parse(l) as { aggregateId: string }).aggregateId)
            .filter((id) => id !== 'probe'),
        ).toEqual(['before', 'during']);
      } finally {
        tail.child.kill('SIGINT');
        await tail.exit;
        await c.shutdown();
        await relay.close();
      }
    },
  );

  it.skipIf(skip || !process.env.EVCO_TEST_REDIS_URL)(
    'with --redis-url: status shows the Redis publisher healthy, retry runs with it, a bad Redis URL is refused without its password (needs EVCO_TEST_REDIS_URL)',
    async () => {
      const redis = process.env.EVCO_TEST_REDIS_URL!;
      const s = json<{ publisher: { name: string; health: { healthy: boolean } } }>(
        await evco(['status', '--json', '--redis-url', redis, ...f.flags]),
      );
      expect(s.publisher).toMatchObject({ name: 'redis', health: { healthy: true } });
      const r = json<{ retried: number }>(
        await evco(['retry', '--handler', 'welcome', '--json', '--redis-url', redis, ...f.flags]),
      );
      expect(r.retried).toBe(0);
      expectOneLineError(
        await evco(['retry', '--all', '--redis-url', 'http://u:s3cret@host', ...f.flags]),
        2,
        /--redis-url must be a redis:\/\/ or rediss:\/\/ URL/,
      );
      // A fleet with its own channelPrefix (as the deployment guide advises) hears the CLI's
      // announcements only on <prefix>:events (--channel-prefix; the env variable: unit test).
      const prefix = `cli-${name}-${randomBytes(4).toString('hex')}`;
      const listener = createRedisPublisher({ url: redis, channelPrefix: prefix, logger: silentLogger });
      const heard: string[][] = [];
      listener.subscribe((a) => {
        heard.push(a.events.map((e) => e.eventType));
      });
      await listener.waitUntilReady();
      try {
        const replay = (extra: string[], env: NodeJS.ProcessEnv = {}) =>
          evco(
            [
              'replay',
              '--from',
              t0,
              '--to',
              'now',
              '--handler',
              'welcome',
              '--detach',
              '--redis-url',
              redis,
              ...extra,
              ...f.flags,
            ],
            env,
          );
        expect((await replay(['--channel-prefix', prefix])).code).toBe(0);
        await waitFor(() => heard.length >= 1, { timeoutMs: 15_000 });
        expect(heard[0]).toContain('UserRegistered');
        expectOneLineError(
          await evco(['retry', '--all', '--redis-url', redis, '--channel-prefix', 'no spaces', ...f.flags]),
          2,
          /channelPrefix/,
        );
      } finally {
        await listener.close();
      }
    },
  );

  it.skipIf(skip)(
    'prune removes handled old events of a type, archived first; history then says the range was pruned',
    async () => {
      expectOneLineError(await evco(['prune', ...f.flags]), 2, /before/);
      expectOneLineError(await evco(['prune', '--before', 'yesterday', ...f.flags]), 2, /--before must be/);
      const welcomes = json<{ events: Array<{ id: string }> }>(
        await evco(['history', '--type', 'WelcomeSent', '--limit', '1000', '--json', ...f.flags]),
      ).events;
      expect(welcomes.length).toBeGreaterThanOrEqual(3);
      const dir = mkdtempSync(join(tmpdir(), 'evco-cli-archive-'));
      try {
        // An archive directory that cannot take files is refused before anything is pruned
        // (here a path under a regular file), not reported as "archived to" it.
        const file = join(dir, 'not-a-dir');
        writeFileSync(file, '');
        expectOneLineError(
          await evco([
            'prune',
            '--before',
            'now',
            '--type',
            'WelcomeSent',
            '--archive-dir',
            join(file, 'x'),
            ...f.flags,
          ]),
          2,
          /--archive-dir .*not-a-dir\/x cannot take files \(.*ENOTDIR.*\); nothing was pruned$/,
        );
        rmSync(file);
        expect(
          json<{ events: unknown[] }>(
            await evco(['history', '--type', 'WelcomeSent', '--limit', '1000', '--json', ...f.flags]),
          ).events,
        ).toHaveLength(welcomes.length);
        // Nothing to prune: the reply does not claim an archive was written.
        const nothing = await evco([
          'prune',
          '--before',
          '2000-01-01',
          '--archive-dir',
          join(dir, 'empty'),
          ...f.flags,
        ]);
        expect(nothing).toMatchObject({ code: 0, stderr: '' });
        expect(nothing.stdout).toMatch(/^pruned 0 events older than 2000-01-01T00:00:00.000Z in 1 batch\n$/);
        rmSync(join(dir, 'empty'), { recursive: true });
        const pruned = await evco([
          'prune',
          '--before',
          'now',
          '--type',
          'WelcomeSent',
          '--archive-dir',
          dir,
          '--batch-size',
          '2',
          ...f.flags,
        ]);
        expect(pruned.code).toBe(0);
        expect(pruned.stdout).toMatch(
          new RegExp(`^pruned ${welcomes.length} events older than .* in \\d+ batches`),
        );
        const archived = readdirSync(dir).flatMap((file) =>
          readFileSync(join(dir, file), 'utf8')
            .trimEnd()
            .split('\n')
            .map((line) => (JSON.parse(line) as { id: string }).id),
        );
        expect(archived.sort()).toEqual(welcomes.map((e) => e.id).sort());
        const after = json<{ events: unknown[]; pruned: Array<{ eventType: string; removed: number }> }>(
          await evco(['history', '--type', 'WelcomeSent', '--json', ...f.flags]),
        );
        expect(after.events).toEqual([]);
        expect(after.pruned).toMatchObject([{ eventType: 'WelcomeSent', removed: welcomes.length }]);
        const table = await evco(['history', '--type', 'WelcomeSent', ...f.flags]);
        expect(table.stdout).toMatch(
          /^pruned: WelcomeSent events that occurred before .* were removed by retention \(\d+ so far; any with an open or dead delivery were kept\)$/m,
        );
        // A replay over the pruned range says so too, in its summary and its status: "0 events"
        // alone reads as "nothing happened then".
        const replayed = await evco([
          'replay',
          '--from',
          t0,
          '--to',
          'now',
          '--type',
          'WelcomeSent',
          ...f.flags,
        ]);
        expect(replayed.code).toBe(0);
        expect(replayed.stdout).toMatch(
          /^replay (\S+) done: 0 events.*\npruned: WelcomeSent events that occurred before .* were removed by retention \(\d+ so far; those are not replayed\)\n$/,
        );
        const replayId = /^replay (\S+) done/.exec(replayed.stdout)![1]!;
        expect((await evco(['replay', 'status', replayId, ...f.flags])).stdout).toMatch(
          /^pruned: WelcomeSent events that occurred before .* \(\d+ so far; those are not replayed\)$/m,
        );
        // The user events with their (dead or open) deliveries are all still there.
        const again = json<{ removed: number }>(
          await evco(['prune', '--before', 'now', '--type', 'WelcomeSent', '--json', ...f.flags]),
        );
        expect(again.removed).toBe(0);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  it.skipIf(skip)(
    'prune --max-rate: a bad rate is one line naming the option; a good one runs the prune',
    async () => {
      expectOneLineError(
        await evco(['prune', '--before', 'now', '--type', 'UserRegistered', '--max-rate', '0', ...f.flags]),
        2,
        /maxEventsPerSecond/,
      );
      // Accepted and passed on: a prune of nothing (every event is younger than 2000) ends at once.
      const before = json<{ events: unknown[] }>(
        await evco(['history', '--type', 'UserRegistered', '--json', ...f.flags]),
      ).events.length;
      const pruned = json<{ removed: number; batches: number }>(
        await evco([
          'prune',
          '--before',
          '2000-01-01',
          '--type',
          'UserRegistered',
          '--max-rate',
          '100000',
          '--json',
          ...f.flags,
        ]),
      );
      expect(pruned).toMatchObject({ removed: 0, batches: 1 });
      const kept = json<{ events: unknown[] }>(
        await evco(['history', '--type', 'UserRegistered', '--json', ...f.flags]),
      ).events;
      expect(kept).toHaveLength(before);
    },
  );

  it.skipIf(skip)(
    'prune --archive-timeout: a hung archive write is cut off: one line naming the flag, its batch kept, Ctrl-C ends the wait',
    async () => {
      // Two old events of a type of their own; nothing is subscribed to it, so both are prunable.
      const c = await createCoordinator({
        store: f.open(),
        publisher: createInProcPublisher(),
        logger: silentLogger,
      });
      const occurredAt = '2001-01-01T00:00:00.000Z';
      const published = await c.publishEvents(
        ['h1', 'h2'].map((aggregateId) => ({ eventType: 'ArchiveHung', aggregateId, occurredAt })),
      );
      await c.shutdown();
      const dir = mkdtempSync(join(tmpdir(), 'evco-cli-hung-'));
      try {
        // The archiver's temporary file for either one-event batch is a FIFO nobody reads: its
        // open() blocks for ever, as a write to a mount that stopped answering does.
        for (const { position } of published) {
          execFileSync('mkfifo', [join(dir, `events-2001-01-01T000000000Z-${position}-1.ndjson.tmp`)]);
        }
        const args = ['prune', '--before', '2002-01-01', '--type', 'ArchiveHung', '--batch-size', '1'];
        const started = Date.now();
        const hung = evcoChild([...args, '--archive-dir', dir, '--archive-timeout', '1s', ...f.flags]);
        try {
          // Cut off after about a second (not the 5 minute default): one line, the batch kept.
          await waitFor(() => hung.err().endsWith('\n'), { timeoutMs: 30_000 });
          expect(Date.now() - started).toBeLessThan(30_000);
          expect(hung.err()).toMatch(
            new RegExp(
              `^evco: \\[evco:core\\] the archive hook did not finish within 1000 ms \\(archiveTimeoutMs\\): its batch of 1 events stays in the store and the prune stopped; --archive-timeout 1s \\(is ${escapeRegExp(dir)} on a mount that stopped answering\\?\\)\n$`,
            ),
          );
          expect(hung.out()).toBe('');
          // The open() is still blocked in Node's thread pool, and Node's exit waits for it; the
          // CLI has let go of Ctrl-C, so Ctrl-C ends the wait.
          hung.child.kill('SIGINT');
          expect(await hung.exit).toBe(128);
          expect(hung.child.signalCode).toBe('SIGINT');
        } finally {
          if (hung.child.exitCode === null && hung.child.signalCode === null) hung.child.kill('SIGKILL');
        }
        const left = async () =>
          json<{ events: unknown[] }>(await evco(['history', '--type', 'ArchiveHung', '--json', ...f.flags]))
            .events.length;
        expect(await left()).toBe(2);
        // The store was let go of: once the mount answers again the same prune goes through.
        rmSync(dir, { recursive: true, force: true });
        const pruned = json<{ removed: number }>(
          await evco([...args, '--archive-dir', dir, '--archive-timeout', '1m', '--json', ...f.flags]),
        );
        expect(pruned.removed).toBe(2);
        expect(await left()).toBe(0);
        expect(readdirSync(dir)).toHaveLength(2);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  it.skipIf(skip || name !== 'sqlite')(
    'Ctrl-C stops a paced prune: exit 130, what was pruned stays pruned, the rest stays',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'evco-cli-int-'));
      const file = join(dir, 'events.db');
      try {
        const c = await createCoordinator({
          store: createSqliteStore({ filename: file }),
          publisher: createInProcPublisher(),
          logger: silentLogger,
        });
        await c.publishEvents(
          Array.from({ length: 30 }, (_, i) => ({
            eventType: 'Old',
            aggregateId: `a${i}`,
            occurredAt: '2020-01-01T00:00:00Z',
          })),
        );
        await c.shutdown();
        // One event per batch, two a second: fifteen seconds unless stopped.
        const prune = evcoChild([
          'prune',
          '--before',
          '2021-01-01',
          '--batch-size',
          '1',
          '--max-rate',
          '2',
          '--sqlite',
          file,
        ]);
        const left = async () =>
          json<{ events: unknown[] }>(await evco(['history', '--json', '--limit', '100', '--sqlite', file]))
            .events.length;
        await waitFor(async () => (await left()) < 30, { timeoutMs: 15_000, intervalMs: 100 });
        prune.child.kill('SIGINT');
        expect(await prune.exit).toBe(130);
        expect(prune.err()).toMatch(/^evco: interrupted; the batch in flight is rolled back/);
        const remaining = await left();
        expect(remaining).toBeGreaterThan(0);
        expect(remaining).toBeLessThan(30);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  it.skipIf(skip)(
    'bad input: one line naming the problem, the right exit code, no stack, no password',
    async () => {
      expectOneLineError(await evco(['frobnicate', ...f.flags]), 2, /unknown command or option: frobnicate/);
      expectOneLineError(
        await evco(['status', '--frobnicate', ...f.flags]),
        2,
        /^evco: unknown command or option: --frobnicate \(see evco --help\)$/,
      );
      expectOneLineError(await evco([]), 2, /name a command/);
      expectOneLineError(
        await evco(['status', '--database-url', 'not a url']),
        2,
        /--database-url must be a postgresql:\/\/ or sqlite: URL/,
      );
      expectOneLineError(await evco(['status']), 2, /no store: give --database-url/);
      expectOneLineError(
        await evco(['status', '--sqlite', 'x.db', '--database-url', 'postgresql://h/db']),
        2,
        /not both/,
      );
      expectOneLineError(await evco(['history', '--limit', '0', ...f.flags]), 2, /limit/);
      expectOneLineError(
        await evco(['status', '--sqlite', join(tmpdir(), 'evco-cli-missing.db')]),
        2,
        /no SQLite file at/,
      );
      // A directory is a wrong argument, not "disk I/O error"; a file that is no database is
      // named in the line (store-sqlite keeps paths out of its messages, the CLI adds it back).
      expectOneLineError(
        await evco(['status', '--sqlite', tmpdir()]),
        2,
        /is a directory; give the SQLite file/,
      );
      const garbage = join(mkdtempSync(join(tmpdir(), 'evco-cli-garbage-')), 'notes.db');
      writeFileSync(garbage, 'not a database, just notes\n'.repeat(200));
      expectOneLineError(
        await evco(['status', '--sqlite', garbage]),
        1,
        new RegExp(`not a usable SQLite database .*\\(file: ${garbage.replaceAll('.', '\\.')}\\)$`),
      );
      rmSync(dirname(garbage), { recursive: true, force: true });
      if (name === 'postgres') {
        // A schema never migrated (or a wrong --schema): the store's message says what to run.
        const [url] = f.flags.slice(1);
        const none = `evco_cli_none_${randomBytes(4).toString('hex')}`;
        const fresh = ['--database-url', url!, '--schema', none];
        // The advice names the schema the command used, and the likelier mistake.
        const hint = `\`evco migrate --schema ${none}\` if schema "${none}" is the one you meant (a mistyped --schema would get an empty store)`;
        expectOneLineError(
          await evco(['history', ...fresh]),
          1,
          new RegExp(
            `tables are missing or out of date .*; run store\\.migrate\\(\\) or ${escapeRegExp(hint)}$`,
          ),
        );
        const unmigrated = await evco(['status', ...fresh]);
        expect(unmigrated.code).toBe(1);
        expect(unmigrated.stderr).toMatch(
          new RegExp(`^evco: the postgres store at .* is unhealthy: .*${escapeRegExp(hint)}\\n$`),
        );
        // The store line on stdout carries the same advice, not the bare `evco migrate`.
        expect(unmigrated.stdout).toContain(hint);
        expect(unmigrated.stdout).not.toContain('`evco migrate`');
      }
      const down = await evco(['history', '--database-url', 'postgresql://ops:s3cret@127.0.0.1:1/app']);
      expectOneLineError(down, 1, /postgresql:\/\/ops:\*\*\*@127\.0\.0\.1:1\/app .*unavailable/);
      const downStatus = await evco(['status', '--database-url', 'postgresql://ops:s3cret@127.0.0.1:1/app']);
      expect(downStatus.code).toBe(1);
      expect(downStatus.stdout + downStatus.stderr).not.toContain('s3cret');
      expect(downStatus.stderr).toMatch(
        /^evco: the postgres store at postgresql:\/\/ops:\*\*\*@127\.0\.0\.1:1\/app schema evco is unhealthy/,
      );
    },
  );
});
