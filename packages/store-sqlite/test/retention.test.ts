import { describeRetentionEnforcement, makeEvent, pruneAll } from '@evco/testkit';
import Database from 'better-sqlite3';
import { describe, expect, it, vi } from 'vitest';
import { useTempStores } from './store-fixture.js';

const T0 = new Date('2026-01-01T00:00:00.000Z');
const at = (ms: number) => new Date(T0.getTime() + ms);
const DAY = 86_400_000;

const { tmp, open } = useTempStores();

/** Page counts of the file, read on a connection of its own. */
function pages(file: string): { pageCount: number; freelist: number; autoVacuum: number } {
  const db = new Database(file, { readonly: true });
  try {
    return {
      pageCount: Number(db.pragma('page_count', { simple: true })),
      freelist: Number(db.pragma('freelist_count', { simple: true })),
      autoVacuum: Number(db.pragma('auto_vacuum', { simple: true })),
    };
  } finally {
    db.close();
  }
}

function count(file: string, table: string): number {
  const db = new Database(file, { readonly: true });
  try {
    return Number((db.prepare(`SELECT count(*) AS n FROM "evco_${table}"`).get() as { n: number }).n);
  } finally {
    db.close();
  }
}

/** Old events with a 2 KiB payload each, every delivery of handler `h` done. */
async function fill(store: ReturnType<typeof open>, n: number): Promise<void> {
  await store.registerSubscriptions([{ handler: 'h', eventType: 'TestHappened', ordering: 'none' }], {
    consumerId: 'c',
    now: T0,
    ttlMs: DAY,
  });
  for (let i = 0; i < n; i += 200) {
    await store.append(
      Array.from({ length: 200 }, () =>
        makeEvent({ occurredAt: at(0), eventData: { blob: 'x'.repeat(2048) } }),
      ),
      { now: T0 },
    );
  }
  for (;;) {
    const claimed = await store.claimDue({
      consumerId: 'c',
      handlers: ['h'],
      now: T0,
      leaseMs: 60_000,
      limit: 500,
    });
    if (claimed.length === 0) break;
    await store.complete(claimed, { now: T0 });
  }
}

describe('space and done deliveries', () => {
  it('creates new files with incremental auto-vacuum: a prune gives the space back, done deliveries go with their events', async () => {
    const file = tmp.file();
    // Space comes back when a period is dropped: periods of 250 here.
    const store = open({ filename: file, periodEvents: 250 });
    await fill(store, 1000);
    expect(count(file, 'deliveries')).toBe(1000);
    const before = pages(file);
    expect(before.autoVacuum).toBe(2);
    expect(await pruneAll(store, { before: at(DAY), limit: 250 })).toBe(1000);
    expect(count(file, 'deliveries')).toBe(0);
    expect(count(file, 'event_keys')).toBe(0);
    const after = pages(file);
    // ~2 MiB of payload went; most of it is handed back, a batch's worth at a time.
    expect(after.pageCount).toBeLessThan(before.pageCount / 2);
    expect(after.freelist).toBeLessThan(before.pageCount / 4);
  });

  it('an older file (auto-vacuum off) keeps its free pages until enableIncrementalVacuum() rebuilds it once', async () => {
    const file = tmp.file();
    // A table created first: SQLite fixes auto_vacuum with the first table.
    const db = new Database(file);
    db.exec('CREATE TABLE app_things (id INTEGER PRIMARY KEY)');
    db.close();
    const store = open({ filename: file, periodEvents: 100 });
    await fill(store, 600);
    expect(pages(file).autoVacuum).toBe(0);
    expect(await pruneAll(store, { before: at(DAY), limit: 200 })).toBe(600);
    const kept = pages(file);
    expect(kept.freelist).toBeGreaterThan(kept.pageCount / 2);
    expect(await store.enableIncrementalVacuum()).toBe(true);
    const rebuilt = pages(file);
    expect(rebuilt.autoVacuum).toBe(2);
    expect(rebuilt.pageCount).toBeLessThan(kept.pageCount / 2);
    expect(await store.enableIncrementalVacuum()).toBe(false);
    // The store carries on after the rebuild.
    await store.append([makeEvent()], { now: at(1) });
    expect((await store.read({ limit: 10 })).length).toBe(1);
  });
});

/** An archive hook's gate: `inArchive()` marks it entered, it waits on `gate` until `release()`. */
function archiveGate(): {
  gate: Promise<void>;
  release: () => void;
  entered: Promise<void>;
  inArchive: () => void;
} {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  let inArchive!: () => void;
  const entered = new Promise<void>((resolve) => {
    inArchive = resolve;
  });
  return { gate, release, entered, inArchive };
}

describe('batches without an archive', () => {
  it('wait while an archiving batch of another connection is between its choice and its removal: each event removed once, the archive saw exactly what its batch removed', async () => {
    const file = tmp.file();
    const archiving = open({ filename: file });
    const plain = open({ filename: file });
    await fill(archiving, 400);
    const now = at(2 * DAY);
    const archived: string[] = [];
    const { gate, release, entered, inArchive } = archiveGate();
    const first = archiving.pruneEvents!({
      before: at(DAY),
      limit: 200,
      now,
      archive: async (events) => {
        archived.push(...events.map((e) => e.position));
        inArchive();
        await gate;
      },
    });
    await entered;
    const rest = pruneAll(plain, { before: at(DAY), limit: 100, now });
    // Several of its retries pass; while the archive runs it removes nothing.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(count(file, 'event_keys')).toBe(400);
    release();
    const batch = await first;
    expect(batch.removed).toBe(200);
    expect(archived).toHaveLength(200);
    expect(await rest).toBe(200);
    expect(count(file, 'event_keys')).toBe(0);
    expect(count(file, 'deliveries')).toBe(0);
  });
});

describe('an archive hook slower than the prune lock', () => {
  it('keeps the lock while it runs: another pruner past the lease time waits instead of removing events under it', async () => {
    const file = tmp.file();
    const archiving = open({ filename: file });
    const plain = open({ filename: file });
    await fill(archiving, 400);
    const now = at(2 * DAY);
    const { gate, release, entered, inArchive } = archiveGate();
    // The lease's renewal timer and clock run on fake time; sleeps and waits stay real.
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] });
    try {
      const first = archiving.pruneEvents!({
        before: at(DAY),
        limit: 200,
        now,
        archive: async () => {
          inArchive();
          await gate;
        },
      });
      await entered;
      // 100 s into the archive: the lease (2 minutes from `now`) has been renewed on the way.
      await vi.advanceTimersByTimeAsync(100_000);
      // Another pruner whose clock is past the first lease's expiry (now + 120 s).
      const rest = pruneAll(plain, { before: at(DAY), limit: 100, now: new Date(now.getTime() + 130_000) });
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(count(file, 'event_keys')).toBe(400);
      release();
      expect((await first).removed).toBe(200);
      expect(await rest).toBe(200);
      expect(count(file, 'event_keys')).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });
});

describeRetentionEnforcement({
  name: 'store-sqlite, two connections to one file',
  open: async () => {
    const file = tmp.file();
    return [open({ filename: file }), open({ filename: file })];
  },
});
