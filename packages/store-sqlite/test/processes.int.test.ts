import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createCoordinator, silentLogger } from '@evco/core';
import { createInProcPublisher } from '@evco/publisher-inproc';
import { collect, waitFor } from '@evco/testkit';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSqliteStore, SCHEMA_VERSION } from '../src/index.js';
import { type Child, runFixture, tempDir } from './support.js';

interface Handled {
  id: string;
  position: bigint;
  aggregateId: string;
  attempt: number;
  worker: string;
}

let tmp: ReturnType<typeof tempDir>;
const children: Child[] = [];

beforeEach(() => {
  tmp = tempDir();
});

afterEach(async () => {
  for (const c of children.splice(0)) {
    if (c.process.exitCode === null && c.process.signalCode === null) c.process.kill('SIGKILL');
    await c.exited;
  }
  tmp.cleanup();
});

function worker(name: string, env: Record<string, string>): Child {
  const child = runFixture('worker.ts', {
    env: {
      WORKER_DB: tmp.file(),
      WORKER_NAME: name,
      WORKER_LOG: tmp.file('handled.log'),
      WORKER_GO: tmp.file('go'),
      ...env,
    },
  });
  children.push(child);
  return child;
}

function handledLog(): Handled[] {
  const file = tmp.file('handled.log');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [id, position, aggregateId, attempt, w] = line.split(' ');
      return {
        id: id!,
        position: BigInt(position!),
        aggregateId: aggregateId!,
        attempt: Number(attempt),
        worker: w!,
      };
    });
}

/** Per aggregate, the first handling of each event happened in position order (across processes). */
function outOfOrder(log: Handled[]): string[] {
  const seen = new Set<string>();
  const last = new Map<string, bigint>();
  const problems: string[] = [];
  for (const h of log) {
    if (seen.has(h.id)) continue;
    seen.add(h.id);
    const previous = last.get(h.aggregateId);
    if (previous !== undefined && previous > h.position) {
      problems.push(`${h.aggregateId}: position ${h.position} handled after ${previous}`);
    }
    last.set(h.aggregateId, h.position);
  }
  return problems;
}

async function inspect() {
  const store = createSqliteStore({ filename: tmp.file() });
  const coordinator = await createCoordinator({
    store,
    publisher: createInProcPublisher(),
    logger: silentLogger,
  });
  const events = await collect(store.readAll({ pageSize: 1000 }));
  const unprocessed = await coordinator.getUnprocessedEvents({ limit: 100 });
  const stats = await store.stats({ now: new Date() });
  await coordinator.shutdown();
  return { events, unprocessed, stats };
}

describe('processes sharing one file', () => {
  it('two coordinators in two processes, 5 000 events from both: every delivery handled exactly once', async () => {
    const a = worker('worker-a', { WORKER_EVENTS: '2500', WORKER_TOTAL: '5000' });
    const b = worker('worker-b', { WORKER_EVENTS: '2500', WORKER_TOTAL: '5000' });
    // Both migrate the fresh file at start-up, racing each other.
    await Promise.all([a.next('ready'), b.next('ready')]);
    writeFileSync(tmp.file('go'), '');
    const [doneA, doneB] = await Promise.all([a.next('done', 240_000), b.next('done', 240_000)]);
    expect(await a.exited).toBe(0);
    expect(await b.exited).toBe(0);

    const log = handledLog();
    const { events, unprocessed, stats } = await inspect();
    expect(events.length).toBe(5000);
    expect(unprocessed).toEqual([]);
    expect(stats).toMatchObject({ pending: 0, running: 0, dead: 0, unprocessedEvents: 0 });
    // Exactly once in total: one log line per stored event, no more, no less.
    expect(log.length).toBe(5000);
    expect(new Set(log.map((h) => h.id))).toEqual(new Set(events.map((e) => e.id)));
    expect(log.every((h) => h.attempt === 1)).toBe(true);
    expect((doneA.handled as number) + (doneB.handled as number)).toBe(5000);
    expect(doneA.handled).toBeGreaterThan(0);
    expect(doneB.handled).toBeGreaterThan(0);
    expect(outOfOrder(log)).toEqual([]);
    const byWorker = events.filter((e) => (e.eventData as { worker: string }).worker === 'worker-a').length;
    expect(byWorker).toBe(2500);
  });

  it('kill -9 of one process mid-run: after its leases expire the survivor finishes; 0 events lost', async () => {
    const leaseMs = '2000';
    const survivor = worker('survivor', {
      WORKER_EVENTS: '2500',
      WORKER_LEASE_MS: leaseMs,
      WORKER_FINISH: tmp.file('finish'),
    });
    // The victim's handler is slow so that it holds leases most of the time.
    const victim = worker('victim', {
      WORKER_EVENTS: '2500',
      WORKER_LEASE_MS: leaseMs,
      WORKER_DELAY_MS: '300',
    });
    await Promise.all([survivor.next('ready'), victim.next('ready')]);
    writeFileSync(tmp.file('go'), '');
    await victim.next('progress');

    // Kill the victim at a moment it holds at least one lease, as seen in the file itself.
    const db = new Database(tmp.file(), { readonly: true, timeout: 5000 });
    const leasedByVictim = db.prepare(
      "SELECT id FROM evco_deliveries WHERE status = 'running' AND lease_owner = 'victim'",
    );
    const held = await waitFor(
      () => {
        const rows = leasedByVictim.all() as Array<{ id: number }>;
        return rows.length > 0 ? rows.map((r) => r.id) : undefined;
      },
      { timeoutMs: 60_000, message: 'the victim never held a lease' },
    );
    victim.process.kill('SIGKILL');
    expect(await victim.exited).toBe('SIGKILL');
    db.close();
    writeFileSync(tmp.file('finish'), '');

    const done = await survivor.next('done', 240_000);
    expect(await survivor.exited).toBe(0);
    expect(done.published).toBe(2500);

    const log = handledLog();
    const { events, unprocessed, stats } = await inspect();
    // Nothing lost: everything stored (the survivor's 2 500 and whatever the victim committed) is done.
    expect(unprocessed).toEqual([]);
    expect(stats).toMatchObject({ pending: 0, running: 0, dead: 0, unprocessedEvents: 0 });
    const bySurvivor = events.filter((e) => (e.eventData as { worker: string }).worker === 'survivor');
    expect(bySurvivor.length).toBe(2500);
    expect(events.length).toBeGreaterThan(2500);
    const handledIds = new Set(log.map((h) => h.id));
    expect(events.filter((e) => !handledIds.has(e.id))).toEqual([]);
    // The deliveries the victim held were taken over by the survivor with a later attempt.
    const check = new Database(tmp.file(), { readonly: true });
    const taken = check
      .prepare(
        `SELECT id, attempts, status FROM evco_deliveries WHERE id IN (${held.map(() => '?').join(',')})`,
      )
      .all(...held) as Array<{ attempts: number; status: string }>;
    check.close();
    expect(taken.every((d) => d.status === 'done')).toBe(true);
    const reclaimed = log.filter((h) => h.worker === 'survivor' && h.attempt > 1);
    expect(reclaimed.length).toBeGreaterThan(0);
    // At-least-once: an event ran twice only when the victim started it and died before its
    // completion was written; the survivor then ran it with a later attempt.
    const byId = new Map<string, Handled[]>();
    for (const h of log) byId.set(h.id, [...(byId.get(h.id) ?? []), h]);
    for (const runs of byId.values()) {
      if (runs.length === 1) continue;
      expect(runs.map((r) => r.worker)).toEqual(['victim', 'survivor']);
      expect(runs[1]!.attempt).toBeGreaterThan(runs[0]!.attempt);
    }
    expect(outOfOrder(log)).toEqual([]);
  });

  it('migrations from several processes at once apply each version exactly once', async () => {
    const racers = Array.from({ length: 4 }, (_, i) =>
      runFixture('migrate.ts', {
        env: { MIGRATE_DB: tmp.file(), MIGRATE_GO: tmp.file('go'), MIGRATE_NAME: `racer-${i}` },
      }),
    );
    children.push(...racers);
    await Promise.all(racers.map((r) => r.next('ready')));
    writeFileSync(tmp.file('go'), '');
    const results = await Promise.all(racers.map((r) => r.next('migrated')));
    expect(await Promise.all(racers.map((r) => r.exited))).toEqual([0, 0, 0, 0]);
    expect(results.every((r) => r.version === SCHEMA_VERSION)).toBe(true);
    const db = new Database(tmp.file(), { readonly: true });
    const versions = db.prepare('SELECT version FROM evco_schema_version').all() as Array<{
      version: number;
    }>;
    const stored = db.prepare('SELECT count(*) AS n FROM evco_event_keys').get() as { n: number };
    db.close();
    expect(versions.map((v) => v.version)).toEqual(Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1));
    expect(stored.n).toBe(4);
  });

  it('one process appends across period rollovers while another reads and prunes: each sees the periods the other created and dropped', async () => {
    const appender = runFixture('appender.ts', {
      env: { APPEND_DB: tmp.file(), APPEND_COUNT: '2000', APPEND_PERIOD: '100', APPEND_GO: tmp.file('go') },
    });
    children.push(appender);
    await appender.next('ready', 30_000);
    const store = createSqliteStore({ filename: tmp.file(), periodEvents: 100 });
    const T0 = Date.parse('2026-01-01T00:00:00.000Z');
    let cutoff = 0;
    let reads = 0;
    while (!appender.messages.some((m) => m.type === 'appended')) {
      // Every event read is one the appender wrote, in position order, none below the cutoff.
      const seen = await store.read({ limit: 5000 });
      const positions = seen.map((e) => BigInt(e.position));
      expect(positions.every((p, i) => i === 0 || p > positions[i - 1]!)).toBe(true);
      expect(seen.every((e) => e.occurredAt.getTime() >= T0 + cutoff * 1000)).toBe(true);
      reads++;
      if (seen.length > 300) {
        cutoff = Math.min(1000, Number((seen[200]!.eventData as { n: number }).n));
        let batch: Awaited<ReturnType<NonNullable<typeof store.pruneEvents>>> | undefined;
        do {
          batch = await store.pruneEvents!({
            before: new Date(T0 + cutoff * 1000),
            limit: 50,
            after: batch?.next ?? undefined,
            now: new Date(T0),
          });
        } while (batch.next);
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(reads).toBeGreaterThan(1);
    // The last cut: everything before event 1500 goes.
    let batch: Awaited<ReturnType<NonNullable<typeof store.pruneEvents>>> | undefined;
    do {
      batch = await store.pruneEvents!({
        before: new Date(T0 + 1500 * 1000),
        limit: 64,
        after: batch?.next ?? undefined,
        now: new Date(T0),
      });
    } while (batch.next);
    const left = await collect(store.readAll());
    expect(left.map((e) => (e.eventData as { n: number }).n)).toEqual(
      Array.from({ length: 500 }, (_, i) => 1500 + i),
    );
    expect(left.map((e) => e.position)).toEqual(Array.from({ length: 500 }, (_, i) => String(1501 + i)));
    const db = new Database(tmp.file(), { readonly: true });
    const periods = db.prepare('SELECT n FROM evco_periods ORDER BY n').all() as Array<{ n: number }>;
    db.close();
    // Periods of 100: the ones wholly below position 1501 are gone, the rest (and the newest) stay.
    expect(periods.length).toBeLessThanOrEqual(7);
    expect(periods.at(-1)!.n).toBe(21);
    await store.close();
    writeFileSync(tmp.file('go'), '');
    const read = await appender.next('read', 30_000);
    expect(read.positions).toEqual(left.map((e) => e.position));
    expect(read.last).toEqual(['2000', '1999', '1998']);
    expect(await appender.exited).toBe(0);
  });
});
