import { describe, expect, it, vi } from 'vitest';
import {
  type Announcement,
  createAdminClient,
  createDomainEvent,
  type EventPublisher,
  type EventStore,
  isEvcoError,
  type RecordedEvent,
  StoreSchemaError,
  silentLogger,
} from '../src/index.js';
import { createInProcPublisher, createMemoryStore, memoryCoordinator, spyStore } from './support.js';

/** A publisher that records announcements and subscriptions. */
function recordingPublisher(): EventPublisher & { announcements: Announcement[]; subscribed: number } {
  const inner = createInProcPublisher();
  const p = {
    name: 'recording',
    capabilities: { crossProcess: false },
    announcements: [] as Announcement[],
    subscribed: 0,
    async publish(a: Announcement) {
      p.announcements.push(a);
      await inner.publish(a);
    },
    subscribe(...args: Parameters<EventPublisher['subscribe']>) {
      p.subscribed++;
      return inner.subscribe(...args);
    },
    healthCheck: () => inner.healthCheck(),
    close: () => inner.close(),
  };
  return p;
}

const flow = (cause: RecordedEvent | undefined, eventType: string) =>
  createDomainEvent({
    eventType,
    aggregateId: 'a',
    metadata: cause ? { correlationId: cause.metadata.correlationId, causationId: cause.id } : {},
  });

async function errorOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (e: unknown) => e,
  );
}

describe('event details', () => {
  it('gives the event, its deliveries per handler, its causes up to the root and its effects as a tree', async () => {
    const c = await memoryCoordinator({ retry: { maxAttempts: 1 } });
    // root → placed → (charged → receipt, reserved)
    await c.registerHandler('OrderRequested', async function place(e, ctx) {
      await ctx.publish({ eventType: 'OrderPlaced', aggregateId: e.aggregateId });
    });
    await c.registerHandler('OrderPlaced', async function charge(e, ctx) {
      await ctx.publish({ eventType: 'PaymentCharged', aggregateId: e.aggregateId });
      await ctx.publish({ eventType: 'StockReserved', aggregateId: e.aggregateId });
    });
    await c.registerHandler('PaymentCharged', async function receipt(e, ctx) {
      await ctx.publish({ eventType: 'ReceiptSent', aggregateId: e.aggregateId });
    });
    await c.registerHandler('OrderPlaced', async function audit() {
      throw new Error('audit is down');
    });
    const { eventId: rootId } = await c.publishEvent({ eventType: 'OrderRequested', aggregateId: 'o1' });
    await c.waitForIdle();
    const [placed] = await c.getEventHistory({ eventType: 'OrderPlaced' });

    const details = (await c.getEventDetails(placed!.id))!;
    expect(details.event.id).toBe(placed!.id);
    expect(details.causes.map((e) => e.eventType)).toEqual(['OrderRequested']);
    expect(details.causes[0]!.id).toBe(rootId);
    const shape = (nodes: typeof details.effects): unknown =>
      nodes.map((n) => ({ [n.event.eventType]: shape(n.children) }));
    expect(shape(details.effects)).toEqual([
      { PaymentCharged: [{ ReceiptSent: [] }] },
      { StockReserved: [] },
    ]);
    expect(details.truncated).toBe(false);
    // The memory store forgets done deliveries: the dead one is what remains.
    expect(details.deliveries.map((d) => [d.handler, d.status, d.lastError])).toEqual([
      ['audit', 'dead', 'Error: audit is down'],
    ]);

    const leaf = (await c.getEventHistory({ eventType: 'ReceiptSent' }))[0]!;
    const leafDetails = (await c.getEventDetails(leaf.id))!;
    expect(leafDetails.causes.map((e) => e.eventType)).toEqual([
      'OrderRequested',
      'OrderPlaced',
      'PaymentCharged',
    ]);
    expect(leafDetails.effects).toEqual([]);

    const flowEvents = await c.getEventHistory({ correlationId: rootId });
    expect(flowEvents.map((e) => e.eventType)).toEqual([
      'OrderRequested',
      'OrderPlaced',
      'PaymentCharged',
      'StockReserved',
      'ReceiptSent',
    ]);
    expect((await c.getEventHistory({ causationId: placed!.id })).map((e) => e.eventType)).toEqual([
      'PaymentCharged',
      'StockReserved',
    ]);
    await c.shutdown();
  });

  it('is bounded: a wide or deep tree is cut and says so; forged causation loops end', async () => {
    const store = createMemoryStore();
    const c = await memoryCoordinator({ store });
    const root = (await store.append([flow(undefined, 'Root')], { now: new Date() })).events[0]!;
    const children = Array.from({ length: 30 }, () => flow(root, 'Child'));
    await store.append(children, { now: new Date() });
    const cut = (await c.getEventDetails(root.id, { maxEffects: 10 }))!;
    expect(cut.effects.length).toBe(10);
    expect(cut.truncated).toBe(true);
    const whole = (await c.getEventDetails(root.id))!;
    expect(whole.effects.length).toBe(30);
    expect(whole.truncated).toBe(false);

    let parent = root;
    for (let i = 0; i < 5; i++)
      parent = (await store.append([flow(parent, 'Deep')], { now: new Date() })).events[0]!;
    const deep = (await c.getEventDetails(root.id, { maxDepth: 3 }))!;
    expect(deep.truncated).toBe(true);
    const depth = (nodes: typeof deep.effects): number =>
      Math.max(0, ...nodes.map((n) => 1 + depth(n.children)));
    expect(depth(deep.effects)).toBe(3);
    expect((await c.getEventDetails(parent.id, { maxCauses: 2 }))!).toMatchObject({ truncated: true });

    // Two events naming each other as cause: metadata is data, and data can be wrong.
    const x = createDomainEvent({
      id: '0190f5d2-0000-7000-8000-00000000000a',
      eventType: 'X',
      aggregateId: 'l',
      metadata: { causationId: '0190f5d2-0000-7000-8000-00000000000b' },
    });
    const y = createDomainEvent({
      id: '0190f5d2-0000-7000-8000-00000000000b',
      eventType: 'Y',
      aggregateId: 'l',
      metadata: { causationId: x.id },
    });
    await store.append([x, y], { now: new Date() });
    const loop = (await c.getEventDetails(x.id))!;
    expect(loop.causes.map((e) => e.id)).toEqual([y.id]);
    expect(loop.effects.map((n) => n.event.id)).toEqual([]);
    await c.shutdown();
  });

  it('returns undefined for an unknown id and refuses a bad one before any I/O', async () => {
    const spy = spyStore(createMemoryStore());
    const c = await memoryCoordinator({ store: spy.store });
    expect(await c.getEventDetails('00000000-0000-7000-8000-000000000000')).toBeUndefined();
    spy.calls.length = 0;
    for (const bad of ['', 'x'.repeat(201), 42 as unknown as string, undefined as unknown as string]) {
      const error = await errorOf(c.getEventDetails(bad));
      expect(isEvcoError(error, 'INVALID_OPTIONS'), String(bad)).toBe(true);
      expect((error as Error).message).toContain('id');
    }
    for (const bad of [{ correlationId: '' }, { causationId: 7 }]) {
      const error = await errorOf(c.getEventHistory(bad as never));
      expect(isEvcoError(error, 'INVALID_OPTIONS')).toBe(true);
    }
    // Swapped bounds are refused, not answered with an empty page ("nothing happened then").
    for (const read of [c.getEventHistory.bind(c), c.readEventHistory.bind(c)]) {
      const swapped = await errorOf(read({ from: '2026-02-01T00:00:00Z', to: '2026-01-01T00:00:00Z' }));
      expect(isEvcoError(swapped, 'INVALID_OPTIONS')).toBe(true);
      expect((swapped as Error).message).toContain('to: must not be before from');
    }
    expect(isEvcoError(await errorOf(c.getReplay('')), 'INVALID_OPTIONS')).toBe(true);
    expect(spy.calls).toEqual([]);
    expect(await c.getReplay('replay-404')).toBeUndefined();
    await c.shutdown();
  });
});

describe('replay jobs', () => {
  it('startReplay returns before the pages are queued; getReplay follows the job until its deliveries are handled', async () => {
    const store = createMemoryStore();
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const gated: EventStore = new Proxy(store, {
      get(target, key, receiver) {
        const value = Reflect.get(target, key, receiver);
        if (key !== 'continueReplay') return typeof value === 'function' ? value.bind(target) : value;
        return async (...args: Parameters<EventStore['continueReplay']>) => {
          await gate;
          return target.continueReplay(...args);
        };
      },
    });
    const c = await memoryCoordinator({ store: gated, replayPageSize: 2 });
    const seen: boolean[] = [];
    await c.registerHandler('Ping', async function pong(_e, ctx) {
      seen.push(ctx.isReplay);
    });
    const from = new Date();
    for (let i = 0; i < 5; i++) await c.publishEvent({ eventType: 'Ping', aggregateId: `p${i}` });
    await c.waitForIdle();
    const started = await c.startReplay({ from, to: new Date(Date.now() + 1000) });
    expect(started).toMatchObject({ status: 'running', deliveriesQueued: 0, deliveriesOpen: 0, done: false });
    expect((await c.getReplay(started.id))!.status).toBe('running');
    release();
    for (;;) {
      const progress = (await c.getReplay(started.id))!;
      if (progress.done) {
        expect(progress).toMatchObject({
          status: 'done',
          eventsMatched: 5,
          deliveriesQueued: 5,
          deliveriesOpen: 0,
        });
        break;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(seen).toEqual([false, false, false, false, false, true, true, true, true, true]);
    await c.shutdown();
  });

  it('refuses bad options before writing: to before from, an unknown handler', async () => {
    const spy = spyStore(createMemoryStore());
    const c = await memoryCoordinator({ store: spy.store });
    spy.calls.length = 0;
    const backwards = await errorOf(c.startReplay({ from: new Date(2), to: new Date(1) }));
    expect(isEvcoError(backwards, 'INVALID_OPTIONS')).toBe(true);
    const missing = await errorOf(c.startReplay({ from: 'yesterday', to: new Date() } as never));
    expect(isEvcoError(missing, 'INVALID_OPTIONS')).toBe(true);
    const unknown = await errorOf(c.startReplay({ from: new Date(0), to: new Date(), handler: 'nobody' }));
    expect(isEvcoError(unknown, 'UNKNOWN_HANDLER')).toBe(true);
    expect(spy.calls).toEqual(['listSubscriptions']);
    await c.shutdown();
  });
});

describe('admin client', () => {
  it('never registers, claims, renews or runs anything, and leaves subscriptions and deliveries as they were', async () => {
    const spy = spyStore(createMemoryStore());
    const publisher = recordingPublisher();
    // A coordinator elsewhere subscribed a handler and left work behind.
    const owner = await memoryCoordinator({
      store: spy.store,
      publisher,
      closeAdapters: false,
      retry: { maxAttempts: 1 },
    });
    await owner.registerHandler('Job', async function worker(e) {
      if (e.eventData.fail) throw new Error('bad job');
    });
    await owner.publishEvent({ eventType: 'Job', aggregateId: 'j1', eventData: { fail: true } });
    await owner.waitForIdle();
    await owner.shutdown();
    await spy.store.append([createDomainEvent({ eventType: 'Job', aggregateId: 'j2' })], { now: new Date() });
    const subscriptionsBefore = await spy.store.listSubscriptions();
    const unprocessedBefore = await spy.store.getUnprocessedEvents({ limit: 100 });
    spy.calls.length = 0;

    const admin = await createAdminClient({
      store: spy.store,
      publisher,
      logger: silentLogger,
      closeAdapters: false,
    });
    const status = await admin.getCoordinatorStatus();
    expect(status.handlers).toEqual([
      expect.objectContaining({ name: 'worker', local: false, pending: 1, dead: 1 }),
    ]);
    expect(status.counts).toMatchObject({ pending: 1, dead: 1, unprocessed: 2, published: 0, handled: 0 });
    expect(status.publisher.name).toBe('recording');
    expect(await admin.listSubscriptions()).toEqual([
      expect.objectContaining({ handler: 'worker', eventType: 'Job', local: false, expired: false }),
    ]);
    const history = await admin.getEventHistory({ eventType: 'Job' });
    expect(history.length).toBe(2);
    expect((await admin.getEventDetails(history[0]!.id))!.deliveries.map((d) => d.status)).toEqual(['dead']);
    expect((await admin.getUnprocessedEvents()).length).toBe(2);
    expect((await admin.getDeadLetters()).length).toBe(1);
    await admin.close();

    const forbidden = [
      'registerSubscriptions',
      'claimDue',
      'complete',
      'fail',
      'release',
      'append',
      'retireHandler',
    ];
    expect(spy.calls.filter((c) => forbidden.includes(c))).toEqual([]);
    expect(publisher.subscribed).toBe(1); // the owner's, none from the admin client
    expect(await spy.store.listSubscriptions()).toEqual(subscriptionsBefore);
    expect(await spy.store.getUnprocessedEvents({ limit: 100 })).toEqual(unprocessedBefore);
  });

  it('retry re-drives dead letters and rings the doorbell, so a running coordinator handles them at once', async () => {
    const store = createMemoryStore();
    const publisher = recordingPublisher();
    let failing = true;
    const handled: string[] = [];
    // Polling effectively off: only the doorbell can wake this coordinator in time.
    const worker = await memoryCoordinator({
      store,
      publisher,
      closeAdapters: false,
      pollIntervalMs: 3_600_000,
      retry: { maxAttempts: 1 },
    });
    await worker.registerHandler('Mail', async function send(e) {
      if (failing) throw new Error('smtp down');
      handled.push(e.id);
    });
    const { eventId } = await worker.publishEvent({ eventType: 'Mail', aggregateId: 'm' });
    await worker.waitForIdle();
    failing = false;
    const admin = await createAdminClient({ store, publisher, logger: silentLogger, closeAdapters: false });
    const [dead] = await admin.getDeadLetters();
    publisher.announcements.length = 0;
    expect(await admin.retryDeadLetters({ deliveryIds: [dead!.delivery.deliveryId] })).toEqual({
      retried: 1,
    });
    expect(publisher.announcements).toEqual([
      { source: admin.id, events: [expect.objectContaining({ id: eventId, eventType: 'Mail' })] },
    ]);
    await worker.waitForIdle();
    expect(handled).toEqual([eventId]);
    expect(await admin.getDeadLetters()).toEqual([]);
    // Nothing to re-drive: no announcement.
    publisher.announcements.length = 0;
    expect(await admin.retryDeadLetters()).toEqual({ retried: 0 });
    expect(await admin.retryDeadLetters({ handler: 'send' })).toEqual({ retried: 0 });
    // A handler nobody subscribed (a typo) is refused, as a replay's is, not answered "0 retried".
    await expect(admin.retryDeadLetters({ handler: 'sned' })).rejects.toMatchObject({
      code: 'UNKNOWN_HANDLER',
      message: expect.stringContaining('no handler named "sned"'),
    });
    expect(publisher.announcements).toEqual([]);
    // Listing the dead letters of such a handler is refused too, not answered "none"; a handler
    // that is subscribed and has none gets an empty list.
    await expect(admin.getDeadLetters({ handler: 'sned' })).rejects.toMatchObject({
      code: 'UNKNOWN_HANDLER',
    });
    expect(await admin.getDeadLetters({ handler: 'send' })).toEqual([]);
    await admin.close();
    await worker.shutdown();
  });

  it('a replay it started and stopped driving (closed mid-way) is finished by a coordinator', async () => {
    const store = createMemoryStore();
    const seed = await memoryCoordinator({ store, closeAdapters: false });
    await seed.registerHandler('Tick', async function count() {});
    const from = new Date();
    for (let i = 0; i < 20; i++) await seed.publishEvent({ eventType: 'Tick', aggregateId: `t${i}` });
    await seed.waitForIdle();
    await seed.shutdown();

    // Pages of one event, the second page held until the client is closing.
    let pages = 0;
    let closing!: () => void;
    const closed = new Promise<void>((r) => {
      closing = r;
    });
    const slow: EventStore = new Proxy(store, {
      get(target, key, receiver) {
        const value = Reflect.get(target, key, receiver);
        if (key !== 'continueReplay') return typeof value === 'function' ? value.bind(target) : value;
        return async (...args: Parameters<EventStore['continueReplay']>) => {
          if (++pages > 1) await closed;
          return target.continueReplay(...args);
        };
      },
    });
    const admin = await createAdminClient({
      store: slow,
      logger: silentLogger,
      closeAdapters: false,
      replayPageSize: 1,
    });
    const job = await admin.startReplay({ from, to: new Date(Date.now() + 1000) });
    const closingDone = admin.close();
    closing();
    await closingDone;
    const paused = (await store.getReplay(job.id))!;
    expect(paused).toMatchObject({ status: 'running', done: false });
    expect(paused.eventsMatched).toBeLessThan(20);
    expect(isEvcoError(await errorOf(admin.getReplay(job.id)), 'COORDINATOR_CLOSED')).toBe(true);

    // A coordinator's poller finds the job stale (no progress for leaseMs) and finishes it.
    const resumer = await memoryCoordinator({
      store,
      closeAdapters: false,
      pollIntervalMs: 10,
      leaseMs: 200,
      handlerTimeoutMs: 100,
    });
    await resumer.registerHandler('Tick', async function count() {});
    for (;;) {
      const progress = (await resumer.getReplay(job.id))!;
      if (progress.done) {
        expect(progress).toMatchObject({ eventsMatched: 20, deliveriesQueued: 20, deliveriesOpen: 0 });
        break;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    await resumer.shutdown();
  });

  it('status: a store that answers but has no tables (STORE_SCHEMA from stats) is unhealthy, not an idle fleet; failed stats are unknown, not zero', async () => {
    const memory = createMemoryStore();
    const unmigrated = new Proxy(memory, {
      get(target, key, receiver) {
        if (key === 'stats')
          return () =>
            Promise.reject(
              new StoreSchemaError("the store's tables are missing or out of date; run migrate()"),
            );
        const value = Reflect.get(target, key, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const admin = await createAdminClient({ store: unmigrated, logger: silentLogger });
    const status = await admin.getCoordinatorStatus();
    expect(status.store.health.healthy).toBe(false);
    expect(status.store.health.details.error).toMatch(/tables are missing or out of date; run migrate\(\)/);
    // The adapter's own details stay; only the verdict and the reason change.
    expect(status.store.health.details).toMatchObject((await memory.healthCheck()).details);
    expect(status.fleetStats).toMatchObject({
      available: false,
      error: expect.stringMatching(/tables are missing/),
    });
    await admin.close();

    // Any other stats failure (a slow or flaky count) keeps the health the store reported.
    const flaky = new Proxy(createMemoryStore(), {
      get(target, key, receiver) {
        if (key === 'stats') return () => Promise.reject(new Error('statement timeout'));
        const value = Reflect.get(target, key, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const other = await createAdminClient({ store: flaky, logger: silentLogger });
    const partial = await other.getCoordinatorStatus();
    expect(partial.store.health.healthy).toBe(true);
    // ...but the fleet's figures are unknown, not zero: an operator must not read an idle fleet.
    expect(partial.fleetStats).toEqual({ available: false, error: 'statement timeout' });
    expect(partial.counts).toMatchObject({
      dead: null,
      pending: null,
      unprocessed: null,
      orphaned: null,
      lagMs: null,
    });
    expect(partial.lastPosition).toBeNull();
    await other.close();
    // A store whose stats answer says so, with its figures.
    const fine = await createAdminClient({ store: createMemoryStore(), logger: silentLogger });
    const whole = await fine.getCoordinatorStatus();
    expect(whole.fleetStats).toEqual({ available: true });
    expect(whole.counts).toMatchObject({ dead: 0, pending: 0, unprocessed: 0, orphaned: 0, lagMs: 0 });
    await fine.close();
  });

  it('a store that does not answer (PgBouncer queueing for a dead Postgres): the status comes back after 10 s, unhealthy with the reason, counts unknown', async () => {
    const memory = createMemoryStore();
    const silent = new Set<PropertyKey>(['healthCheck', 'stats', 'listSubscriptions']);
    const hung = new Proxy(memory, {
      get(target, key, receiver) {
        if (silent.has(key)) return () => new Promise(() => {});
        const value = Reflect.get(target, key, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const admin = await createAdminClient({ store: hung, logger: silentLogger });
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const pending = admin.getCoordinatorStatus();
      await vi.advanceTimersByTimeAsync(10_000);
      const status = await pending;
      expect(status.store.health).toMatchObject({
        healthy: false,
        details: { error: expect.stringMatching(/did not answer within 10000 ms/) },
      });
      expect(status.fleetStats).toMatchObject({
        available: false,
        error: expect.stringMatching(/did not answer within 10000 ms/),
      });
      expect(status.counts).toMatchObject({ dead: null, pending: null, unprocessed: null, lagMs: null });
      // Nor does closing wait for it (a pool's end waits for its queued statements): 2 s, then done.
      silent.add('close');
      const closing = admin.close();
      await vi.advanceTimersByTimeAsync(2_000);
      await closing;
    } finally {
      vi.useRealTimers();
    }
  });

  it('refuses bad options and closes idempotently', async () => {
    const error = await errorOf(createAdminClient({ store: {} as EventStore }));
    expect(isEvcoError(error, 'INVALID_OPTIONS')).toBe(true);
    const admin = await createAdminClient({ store: createMemoryStore(), logger: silentLogger });
    const status = await admin.getCoordinatorStatus();
    expect(status.publisher).toMatchObject({ name: 'none', health: { healthy: true } });
    await admin.close();
    await admin.close();
    expect(isEvcoError(await errorOf(admin.getEventHistory()), 'COORDINATOR_CLOSED')).toBe(true);
    expect((await admin.store.healthCheck()).healthy).toBe(false);
  });
});
