import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createAdminClient,
  createDomainEvent,
  type EventDrivenCoordinator,
  type EventStore,
  isEvcoError,
  type Logger,
  ndjsonFileArchiver,
  parsePruneEventsOptions,
  type RecordedEvent,
  silentLogger,
} from '../src/index.js';
import { nextDueForRate, pauseAfterBatch, pruneByRule, RetentionEnforcer } from '../src/retention.js';
import { createMemoryStore, memoryCoordinator, spyStore } from './support.js';

const DAY = 86_400_000;
const OLD = '2020-01-01T00:00:00.000Z';
const old = (i: number) => new Date(Date.parse(OLD) + i * 1000);

/** The store as one without these methods (a third-party store without the capability). */
function withoutMethods(store: EventStore, missing: string[]): EventStore {
  return new Proxy(store, {
    get(target, key) {
      if (missing.includes(String(key))) return undefined;
      const value = Reflect.get(target, key, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

const coordinators: EventDrivenCoordinator[] = [];
afterEach(async () => {
  await Promise.all(coordinators.splice(0).map((c) => c.shutdown()));
});
async function coordinator(...args: Parameters<typeof memoryCoordinator>) {
  const c = await memoryCoordinator(...args);
  coordinators.push(c);
  return c;
}

describe('pruneEvents (operators)', () => {
  it('refuses bad options with INVALID_OPTIONS listing each problem, before any store call', async () => {
    const { store, calls } = spyStore(createMemoryStore());
    const admin = await createAdminClient({ store, logger: silentLogger });
    const bad = [
      {},
      { before: 'yesterday' },
      { before: new Date(), types: [] },
      { before: new Date(), types: ['has space'] },
      { before: new Date(), batchSize: 0 },
      { before: new Date(), dutyCycle: 0 },
      { before: new Date(), dutyCycle: 1.5 },
      { before: new Date(), maxEventsPerSecond: 0 },
      { before: new Date(), maxEventsPerSecond: 1.5 },
      { before: new Date(), archive: 'file.ndjson' },
      { before: new Date(), archiveTimeoutMs: 0 },
      { before: new Date(), archiveTimeoutMs: 50 },
      { before: new Date(), archiveTimeoutMs: 1.5e3 + 0.5 },
      { before: new Date(), archiveTimeoutMs: 2 * DAY },
      { before: new Date(), olderThan: 5 },
    ];
    for (const options of bad) {
      const error = await admin.pruneEvents(options as never).catch((e: unknown) => e);
      expect(isEvcoError(error, 'INVALID_OPTIONS'), JSON.stringify(options)).toBe(true);
      // The same check without a store (what `evco prune` runs before it connects), same message.
      expect(() => parsePruneEventsOptions(options as never), JSON.stringify(options)).toThrow(
        (error as Error).message,
      );
    }
    expect(
      parsePruneEventsOptions({ before: OLD, archiveTimeoutMs: 100, dutyCycle: 0.5, maxEventsPerSecond: 1 }),
    ).toMatchObject({ archiveTimeoutMs: 100, dutyCycle: 0.5, maxEventsPerSecond: 1 });
    const error = (await admin
      .pruneEvents({ before: 'nope', batchSize: -1 } as never)
      .catch((e: unknown) => e)) as Error;
    expect(error.message).toMatch(/before/);
    expect(error.message).toMatch(/batchSize/);
    expect(calls).toEqual([]);
    await admin.close();
  });

  it('says UNSUPPORTED for a store without the retention capability', async () => {
    const store = createMemoryStore();
    const bare = withoutMethods(store, ['pruneEvents', 'getPrunedRanges']);
    const admin = await createAdminClient({ store: bare, logger: silentLogger });
    const error = await admin.pruneEvents({ before: new Date() }).catch((e: unknown) => e);
    expect(isEvcoError(error, 'UNSUPPORTED')).toBe(true);
    // History still works and reports nothing pruned.
    expect((await admin.readEventHistory()).pruned).toEqual([]);
    await admin.close();
  });

  it('removes handled old events in batches, archives each once, and history and replay report the pruned range', async () => {
    const c = await coordinator();
    const handled: string[] = [];
    await c.registerHandler('Old', async (e) => void handled.push(e.id), { name: 'h' });
    const events = Array.from({ length: 25 }, (_, i) =>
      createDomainEvent({ eventType: 'Old', aggregateId: `a${i}`, eventData: { i }, occurredAt: old(i) }),
    );
    const recent = createDomainEvent({ eventType: 'Old', aggregateId: 'r', eventData: {} });
    const other = createDomainEvent({
      eventType: 'Other',
      aggregateId: 'o',
      eventData: {},
      occurredAt: old(0),
    });
    await c.publishEvents([...events, recent, other]);
    await c.waitForIdle();
    const archived: RecordedEvent[] = [];
    const before = new Date(Date.parse(OLD) + DAY);
    const result = await c.pruneEvents({
      before,
      types: ['Old'],
      batchSize: 10,
      archive: async (batch) => void archived.push(...batch),
    });
    expect(result).toEqual({ removed: 25, batches: 3 });
    expect(archived.map((e) => e.id).sort()).toEqual(events.map((e) => e.id).sort());

    const history = await c.readEventHistory({ eventType: 'Old' });
    expect(history.events.map((e) => e.id)).toEqual([recent.id]);
    expect(history.pruned).toEqual([
      { eventType: 'Old', before, removed: 25, lastPrunedAt: expect.any(Date) },
    ]);
    expect(JSON.parse(JSON.stringify(history.pruned))[0].before).toBe(before.toISOString());
    // A range that starts after the cutoff lost nothing; a type never pruned neither.
    expect((await c.readEventHistory({ eventType: 'Old', from: before })).pruned).toEqual([]);
    expect((await c.readEventHistory({ eventType: 'Other' })).pruned).toEqual([]);
    expect((await c.readEventHistory({})).pruned.map((p) => p.eventType)).toEqual(['Old']);

    const replay = await c.replayEvents({ from: OLD, to: new Date(Date.parse(OLD) + 2 * DAY) });
    expect(replay.events).toBe(1);
    expect(replay.pruned.map((p) => p.eventType)).toEqual(['Old']);
    const progress = await c.getReplay(replay.replayId);
    expect(progress?.pruned.map((p) => p.eventType)).toEqual(['Old']);
    const typed = await c.replayEvents({
      from: OLD,
      to: new Date(Date.parse(OLD) + 2 * DAY),
      eventType: 'Other',
    });
    expect(typed.pruned).toEqual([]);
  });

  it('keeps a batch whose archive throws, and stops with that error', async () => {
    const c = await coordinator();
    await c.publishEvents(
      [1, 2, 3].map((i) => ({ eventType: 'Old', aggregateId: `a${i}`, eventData: {}, occurredAt: old(i) })),
    );
    let calls = 0;
    const error = await c
      .pruneEvents({
        before: new Date(Date.parse(OLD) + DAY),
        batchSize: 2,
        archive: async () => {
          calls++;
          if (calls === 2) throw new Error('bucket unreachable');
        },
      })
      .catch((e: unknown) => e);
    expect((error as Error).message).toBe('bucket unreachable');
    // The first batch went, the second stayed.
    expect((await c.getEventHistory({})).length).toBe(1);
  });
});

describe('retention policy', () => {
  it('refuses a bad policy, or a store without the capability, before starting anything', async () => {
    const { store, calls } = spyStore(createMemoryStore());
    const bad = [
      { maxAge: 10 },
      {},
      { perType: { Old: null } },
      { maxAge: DAY, intervalMs: 5 },
      { maxAge: DAY, dutyCycle: 0 },
      { maxAge: DAY, dutyCycle: 2 },
      { maxAge: DAY, maxEventsPerSecond: 0 },
      { maxAge: DAY, maxEventsPerSecond: 'fast' },
      { maxAge: DAY, archiveTimeoutMs: 10 },
      { maxAge: DAY, archiveTimeoutMs: '5m' },
      { maxAge: DAY, perType: { 'bad type': DAY } },
      { maxAge: DAY, every: 5 },
    ];
    for (const retention of bad) {
      const error = await memoryCoordinator({ store, retention: retention as never }).catch(
        (e: unknown) => e,
      );
      expect(isEvcoError(error, 'INVALID_OPTIONS'), JSON.stringify(retention)).toBe(true);
      expect((error as Error).message).toMatch(/retention/);
    }
    const bare = withoutMethods(createMemoryStore(), ['acquireLease']);
    const error = await memoryCoordinator({ store: bare, retention: { maxAge: DAY } }).catch(
      (e: unknown) => e,
    );
    expect(isEvcoError(error, 'INVALID_OPTIONS')).toBe(true);
    expect((error as Error).message).toMatch(/retention capability/);
    expect(calls.filter((c) => c !== 'close')).toEqual([]);
  });

  it('two coordinators enforcing on one store: each old handled event archived and removed once; dead and per-type kept', async () => {
    const store = createMemoryStore();
    const archived: string[] = [];
    const archive = async (batch: readonly RecordedEvent[]) => {
      await new Promise((r) => setTimeout(r, 1));
      archived.push(...batch.map((e) => e.id));
    };
    const retention = { maxAge: DAY, perType: { Kept: null }, intervalMs: 100, batchSize: 7, archive };
    const [a, b] = [
      await coordinator({ store, closeAdapters: false, retention }),
      await coordinator({ store, closeAdapters: false, retention }),
    ];
    const poison = createDomainEvent({
      eventType: 'Poison',
      aggregateId: 'p',
      eventData: {},
      occurredAt: old(0),
    });
    await a.registerHandler(
      'Poison',
      async () => {
        throw Object.assign(new Error('never'), { retryable: false });
      },
      { name: 'poison' },
    );
    await b.registerHandler('Old', async () => {}, { name: 'h' });
    const events = Array.from({ length: 40 }, (_, i) =>
      createDomainEvent({ eventType: 'Old', aggregateId: `a${i % 5}`, eventData: { i }, occurredAt: old(i) }),
    );
    const kept = createDomainEvent({
      eventType: 'Kept',
      aggregateId: 'k',
      eventData: {},
      occurredAt: old(0),
    });
    await a.publishEvents([...events, kept, poison]);
    await until(() => archived.length >= 40);
    expect(archived.length).toBe(40);
    expect(new Set(archived).size).toBe(40);
    const left = (await a.getEventHistory({})).map((e) => e.eventType).sort();
    expect(left).toEqual(['Kept', 'Poison']);
    // The dead letter stays until retried and handled (or its handler retired).
    expect((await a.getDeadLetters()).map((d) => d.event.id)).toEqual([poison.id]);
    await a.retireHandler('poison');
    await until(async () => (await a.getEventHistory({})).length === 1);
    expect((await a.getEventHistory({}))[0]!.id).toBe(kept.id);
    await store.close();
  });

  it('an archive failure removes nothing, is logged as an error, and the next round carries on', async () => {
    const errors: string[] = [];
    const logger: Logger = {
      debug: () => {},
      info: () => {},
      warn: () => {},
      error: ((o: unknown, msg?: string) => void errors.push(String(msg ?? o))) as Logger['error'],
    };
    let failing = true;
    const archived: string[] = [];
    const c = await coordinator({
      logger,
      retention: {
        maxAge: DAY,
        intervalMs: 100,
        archive: async (batch) => {
          if (failing) throw new Error('disk full');
          archived.push(...batch.map((e) => e.id));
        },
      },
    });
    await c.publishEvents(
      [1, 2, 3].map((i) => ({ eventType: 'Old', aggregateId: `a${i}`, eventData: {}, occurredAt: old(i) })),
    );
    await until(() => errors.length >= 2);
    expect(errors[0]).toMatch(/retention/);
    expect((await c.getEventHistory({})).length).toBe(3);
    failing = false;
    await until(async () => (await c.getEventHistory({})).length === 0);
    expect(archived.length).toBe(3);
  });

  it('an archive hook that never settles is given up after archiveTimeoutMs: TIMEOUT logged, nothing removed, the next round archives', async () => {
    const errors: unknown[] = [];
    const logger: Logger = {
      debug: () => {},
      info: () => {},
      warn: () => {},
      error: ((o: { err?: unknown }) => void errors.push(o.err)) as Logger['error'],
    };
    let hanging = true;
    const archived: string[] = [];
    const c = await coordinator({
      logger,
      retention: {
        maxAge: DAY,
        intervalMs: 100,
        archiveTimeoutMs: 100,
        archive: (batch) => {
          if (hanging) return new Promise<void>(() => {});
          archived.push(...batch.map((e) => e.id));
          return Promise.resolve();
        },
      },
    });
    await c.publishEvents(
      [1, 2, 3].map((i) => ({ eventType: 'Old', aggregateId: `a${i}`, eventData: {}, occurredAt: old(i) })),
    );
    await until(() => errors.length >= 1);
    expect(isEvcoError(errors[0], 'TIMEOUT')).toBe(true);
    expect((await c.getEventHistory({})).length).toBe(3);
    hanging = false;
    await until(async () => (await c.getEventHistory({})).length === 0);
    expect(archived.length).toBe(3);
  });
});

describe('the retention lease between batches', () => {
  /**
   * An enforcer (policy `maxAge` a day, `intervalMs` a minute: a lease of three minutes) on a
   * store of `batches` batches, each taking `batchMs` of a fake clock; `granted(i)` answers the
   * i-th lease call. Returns the batches run and the clock time of each lease call.
   */
  async function enforce(batches: number, batchMs: number, granted: (i: number) => boolean = () => true) {
    let t = Date.parse('2026-01-01T00:00:00.000Z');
    let served = 0;
    const leases: number[] = [];
    const store = {
      name: 'fake',
      async pruneEvents() {
        t += batchMs;
        served++;
        return {
          removed: 10,
          next: served < batches ? { occurredAt: new Date(0), position: String(served) } : null,
        };
      },
      async acquireLease(request: { now: Date; ttlMs: number }) {
        leases.push(request.now.getTime());
        return granted(leases.length - 1);
      },
      async releaseLease() {},
    } as unknown as EventStore;
    const enforcer = new RetentionEnforcer({
      store,
      policy: { maxAge: DAY, intervalMs: 60_000, dutyCycle: 1 },
      holder: 'me',
      logger: silentLogger,
      clock: () => new Date(t),
    });
    await enforcer.runOnce();
    return { served, leases };
  }

  it('is renewed only once a third of its term has passed, not after every batch', async () => {
    // 20 batches of 1 s: the lease taken at the start covers them all.
    expect((await enforce(20, 1_000)).leases).toHaveLength(1);
  });

  it('is renewed before it could lapse, however long the round', async () => {
    // 40 batches of 25 s (1 000 s): renewed every third batch (75 s), never 180 s apart.
    const { served, leases } = await enforce(40, 25_000);
    expect(served).toBe(40);
    const gaps = leases.slice(1).map((at, i) => at - leases[i]!);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(75_000);
    expect(leases.length).toBeLessThan(20);
  });

  it('stops the round at the first renewal that finds the lease taken by another process', async () => {
    const { served, leases } = await enforce(40, 25_000, (i) => i === 0);
    expect(leases).toHaveLength(2);
    expect(served).toBe(3);
  });
});

describe('pacing', () => {
  /**
   * A store whose batches take `batchMs[i]` ms (40 when not given) of a fake monotonic clock;
   * `batches` batches in all. `advance` moves the clock (a pause that sleeps).
   */
  function pacedStore(batches: number, batchMs: readonly number[] = []) {
    let t = 0;
    let served = 0;
    const store = {
      async pruneEvents() {
        t += batchMs[served] ?? 40;
        served++;
        return {
          removed: 10,
          next: served < batches ? { occurredAt: new Date(0), position: String(served) } : null,
        };
      },
    };
    return {
      store,
      now: () => t,
      served: () => served,
      advance: (ms: number) => {
        t += ms;
      },
    };
  }

  /**
   * `batches` batches of 10 through `pruneByRule` with this pacing; the pauses it asked for (each
   * one sleeps `overrunMs` longer than asked, as a late timer does) and when each batch started.
   */
  async function prunePaced(
    pacing?: { dutyCycle: number; maxEventsPerSecond?: number },
    { batches = 3, batchMs = [] as number[], overrunMs = 0 } = {},
  ) {
    const { store, now, advance } = pacedStore(batches, batchMs);
    const pauses: number[] = [];
    const starts: number[] = [];
    const timed = {
      pruneEvents: (...args: Parameters<typeof store.pruneEvents>) => {
        starts.push(now());
        return store.pruneEvents(...args);
      },
    };
    const sleep = async (ms: number) => {
      pauses.push(ms);
      advance(ms + overrunMs);
    };
    const result = await pruneByRule(
      timed,
      { before: new Date() },
      { batchSize: 10, clock: () => new Date(), ...(pacing ? { pacing: { ...pacing, now, sleep } } : {}) },
    );
    return { result, pauses, starts };
  }

  it('pauses after each batch but the last for the time its duty cycle leaves', async () => {
    const { result, pauses } = await prunePaced({ dutyCycle: 0.25 });
    expect(result).toEqual({ removed: 30, batches: 3 });
    // 40 ms of work is a quarter: 120 ms of pause after each batch that has a successor.
    expect(pauses).toEqual([120, 120]);
  });

  it('runs back to back at a duty cycle of 1, or without pacing (an operator’s prune)', async () => {
    for (const pacing of [{ dutyCycle: 1 }, undefined]) {
      expect((await prunePaced(pacing)).pauses).toEqual([]);
    }
    expect(pauseAfterBatch(40, 0.5)).toBe(40);
    expect(pauseAfterBatch(40, 1)).toBe(0);
  });

  it('holds a ceiling on the rate: pauses for the rest of the time a batch’s events are worth; with a duty cycle the longer pause wins', async () => {
    const cases = [
      // 10 events at 100/s are worth 100 ms; the batch took 40: 60 ms of pause.
      { dutyCycle: 1, maxEventsPerSecond: 100, pauses: [60, 60] },
      // The duty cycle's 120 ms is longer than the rate's 60.
      { dutyCycle: 0.25, maxEventsPerSecond: 100, pauses: [120, 120] },
      // 10 events at 50/s are worth 200 ms: 160 of pause, longer than the duty cycle's 120.
      { dutyCycle: 0.25, maxEventsPerSecond: 50, pauses: [160, 160] },
      // A batch slower than its events are worth at the rate: no pause, one event-loop turn.
      { dutyCycle: 1, maxEventsPerSecond: 1000, pauses: [] },
    ];
    for (const { pauses: expected, ...pacing } of cases) {
      const { result, pauses } = await prunePaced(pacing);
      expect(result, JSON.stringify(pacing)).toEqual({ removed: 30, batches: 3 });
      expect(pauses, JSON.stringify(pacing)).toEqual(expected);
    }
    // 1 000 events at 50 000/s are worth 20 ms.
    expect(nextDueForRate(0, 1000, 5, 50_000)).toBe(20);
    // Behind the schedule: it restarts now.
    expect(nextDueForRate(0, 1000, 35, 50_000)).toBe(35);
  });

  it('holds the rate on average: what a late timer overran is taken off the next pause', async () => {
    // 10 events at 100/s: a batch may start every 100 ms. Each batch takes 40 ms and each pause
    // sleeps 7 ms longer than asked.
    const { result, pauses, starts } = await prunePaced(
      { dutyCycle: 1, maxEventsPerSecond: 100 },
      { batches: 5, overrunMs: 7 },
    );
    expect(result).toEqual({ removed: 50, batches: 5 });
    expect(pauses).toEqual([60, 53, 53, 53]);
    // Every batch after the first starts 7 ms late, never later: the run keeps the schedule.
    expect(starts).toEqual([0, 107, 207, 307, 407]);
    // Without the payback (pauses of 60 each) the fifth batch would have started at 428.
  });

  it('after a stall does not catch up: no burst above the rate', async () => {
    // Batches of 10 at 100/s (100 ms each); the second batch stalls for 1 s.
    const { pauses, starts } = await prunePaced(
      { dutyCycle: 1, maxEventsPerSecond: 100 },
      { batches: 5, batchMs: [40, 1000, 40, 40, 40] },
    );
    // After the stall (it ends at 1100) the third batch goes at once and the schedule restarts
    // there: a batch every 100 ms again, not the 9 batches' worth of back-to-back batches that
    // paying back the whole second would take.
    expect(starts).toEqual([0, 100, 1100, 1200, 1300]);
    expect(pauses).toEqual([60, 60, 60]);
  });

  it('back to back, still lets the application’s I/O callbacks run between batches (store-sqlite’s batches resolve without I/O)', async () => {
    const { store, served } = pacedStore(5);
    // What an application's appends look like to the event loop: callbacks of the I/O phase.
    const seenAt: number[] = [];
    let running = true;
    const io = () => {
      seenAt.push(served());
      if (running) setImmediate(io);
    };
    setImmediate(io);
    try {
      const result = await pruneByRule(
        store,
        { before: new Date() },
        { batchSize: 10, clock: () => new Date() },
      );
      expect(result).toEqual({ removed: 50, batches: 5 });
    } finally {
      running = false;
    }
    // The callback ran while the prune was between batches, not only once it was over.
    expect(new Set(seenAt.filter((n) => n >= 1 && n < 5)).size).toBeGreaterThanOrEqual(3);
  });

  it('lets the application’s timers run between background batches (a timer, not a microtask)', async () => {
    const { store } = pacedStore(5);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    try {
      await pruneByRule(
        store,
        { before: new Date() },
        {
          batchSize: 10,
          clock: () => new Date(),
          pacing: {
            dutyCycle: 0.5,
            now: (() => {
              let t = 0;
              return () => (t += 2);
            })(),
          },
        },
      );
    } finally {
      clearInterval(timer);
    }
    // Without a pause the five batches resolve in microtasks and no timer fires in between.
    expect(ticks).toBeGreaterThanOrEqual(4);
  });
});

describe('ndjsonFileArchiver', () => {
  it('writes each batch durably as one JSON line per event, readable back, with no temporary file left', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'evco-archive-'));
    try {
      const c = await coordinator();
      const events = [1, 2, 3].map((i) => ({
        eventType: 'Old',
        aggregateId: `a${i}`,
        eventData: { i, text: 'grüße\nline' },
        occurredAt: old(i),
      }));
      await c.publishEvents(events);
      const stored = await c.getEventHistory({});
      const result = await c.pruneEvents({
        before: new Date(Date.parse(OLD) + DAY),
        batchSize: 2,
        archive: ndjsonFileArchiver({ dir: join(dir, 'nested') }),
      });
      expect(result.removed).toBe(3);
      const files = readdirSync(join(dir, 'nested')).sort();
      expect(files.length).toBe(2);
      expect(files.every((f) => /^events-\d{4}-\d{2}-\d{2}T\d{9}Z-\d+-\d+\.ndjson$/.test(f))).toBe(true);
      const lines = files.flatMap((f) =>
        readFileSync(join(dir, 'nested', f), 'utf8')
          .trimEnd()
          .split('\n')
          .map((l) => JSON.parse(l)),
      );
      expect(lines).toEqual(JSON.parse(JSON.stringify(stored)));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('creates the files readable by their owner only (0600) unless told otherwise, whatever the umask', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'evco-archive-'));
    const umask = process.umask(0o022);
    try {
      const c = await coordinator();
      await c.publishEvents(
        [1, 2].map((i) => ({
          eventType: 'Old',
          aggregateId: `a${i}`,
          eventData: { email: 'x@y' },
          occurredAt: old(i),
        })),
      );
      const before = new Date(Date.parse(OLD) + DAY);
      // Archived events may hold personal data: not world-readable under the usual 022 umask.
      await c.pruneEvents({
        before,
        batchSize: 1,
        archive: ndjsonFileArchiver({ dir: join(dir, 'private') }),
      });
      const modes = (sub: string) =>
        readdirSync(join(dir, sub)).map((f) => statSync(join(dir, sub, f)).mode & 0o777);
      expect(modes('private')).toEqual([0o600, 0o600]);
      // A group that reads the archive is the operator's choice.
      await c.publishEvents([{ eventType: 'Old', aggregateId: 'b', eventData: {}, occurredAt: old(3) }]);
      await c.pruneEvents({ before, archive: ndjsonFileArchiver({ dir: join(dir, 'group'), mode: 0o640 }) });
      expect(modes('group')).toEqual([0o640]);
      // A mode that is no permission bits is refused when the hook is made, before any file.
      for (const mode of [-1, 0o1000, 1.5]) {
        expect(() => ndjsonFileArchiver({ dir: join(dir, 'never'), mode }), String(mode)).toThrow(
          expect.objectContaining({ code: 'INVALID_OPTIONS' }),
        );
      }
    } finally {
      process.umask(umask);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects when it cannot write, so the batch stays', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'evco-archive-'));
    try {
      const blocker = join(dir, 'file');
      writeFileSync(blocker, 'not a directory');
      const c = await coordinator();
      await c.publishEvents([{ eventType: 'Old', aggregateId: 'a', eventData: {}, occurredAt: old(1) }]);
      const error = await c
        .pruneEvents({
          before: new Date(Date.parse(OLD) + DAY),
          archive: ndjsonFileArchiver(join(blocker, 'x')),
        })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Error);
      expect((await c.getEventHistory({})).length).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
