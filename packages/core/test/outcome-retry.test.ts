import { describe, expect, it, vi } from 'vitest';
import { Dispatcher } from '../src/dispatcher.js';
import {
  type ClaimRequest,
  createDomainEvent,
  type DeliveryToken,
  type EventStore,
  type Logger,
  StoreUnavailableError,
} from '../src/index.js';
import { createMemoryStore, memoryCoordinator } from './support.js';

type Write = 'complete' | 'completeAndClaim' | 'fail';

/**
 * A memory store whose writes of handler outcomes fail while `refuse(call, tokens)` says so (the
 * store unreachable for a moment: a PgBouncer restart, a failover), counting every call. With
 * `combined`, it also has `completeAndClaim` (complete, then claim), as store-postgres does.
 */
function flakyStore(
  refuse: (call: Write, tokens: readonly DeliveryToken[]) => boolean,
  options: { combined?: boolean } = {},
) {
  const base = createMemoryStore();
  const calls: Record<Write, number> = { complete: 0, completeAndClaim: 0, fail: 0 };
  const refused: Record<Write, number> = { complete: 0, completeAndClaim: 0, fail: 0 };
  const attempt = (call: Write, tokens: readonly DeliveryToken[]) => {
    calls[call] += 1;
    if (!refuse(call, tokens)) return;
    refused[call] += 1;
    throw new StoreUnavailableError('[evco:test] the store is unreachable');
  };
  const store = new Proxy(base, {
    get(target, key) {
      if (key === 'completeAndClaim') {
        if (!options.combined) return undefined;
        return async (tokens: DeliveryToken[], request: ClaimRequest) => {
          attempt('completeAndClaim', tokens);
          await target.complete(tokens, { now: request.now });
          return target.claimDue(request);
        };
      }
      if (key === 'complete' || key === 'fail') {
        return async (tokens: DeliveryToken[], o: { now: Date }) => {
          attempt(key, tokens);
          return (target[key] as (t: DeliveryToken[], o: { now: Date }) => Promise<void>)(tokens, o);
        };
      }
      const value = Reflect.get(target, key, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  }) as EventStore;
  return { store, calls, refused };
}

/** The first `n` calls of `call` fail. */
function firstN(n: number, call: Write) {
  let left = n;
  return (c: Write) => c === call && left-- > 0;
}

function recordingLogger() {
  const errors: Array<{ msg: string; fields: Record<string, unknown> }> = [];
  const logger: Logger = {
    debug: () => {},
    info: () => {},
    warn: () => {},
    error: ((fields: Record<string, unknown>, msg?: string) => {
      errors.push({ msg: String(msg), fields });
    }) as Logger['error'],
  };
  return {
    logger,
    errors,
    dropped: () => errors.filter((e) => e.msg.startsWith('dropped handler outcomes')),
  };
}

describe('a handler outcome whose write fails is written again while its lease lasts', () => {
  for (const combined of [false, true]) {
    it(`a completion refused 3 times lands on the 4th write; the handler ran once (${combined ? 'completeAndClaim' : 'complete'})`, async () => {
      const call: Write = combined ? 'completeAndClaim' : 'complete';
      const { store, calls, refused } = flakyStore(firstN(3, call), { combined });
      const { logger, errors, dropped } = recordingLogger();
      const c = await memoryCoordinator({ store, logger, closeAdapters: false, pollIntervalMs: 60_000 });
      let runs = 0;
      await c.registerHandler('Work', async function work() {
        runs += 1;
      });
      await c.publishEvent(createDomainEvent({ eventType: 'Work', aggregateId: 'w' }));
      await vi.waitFor(async () => expect(await store.getUnprocessedEvents({ limit: 10 })).toEqual([]), {
        timeout: 5000,
      });
      expect(runs).toBe(1);
      expect(refused[call]).toBe(3);
      expect(calls[call]).toBeGreaterThanOrEqual(4);
      expect(errors.filter((e) => e.msg.includes('retrying while their leases last'))).toHaveLength(3);
      expect(dropped()).toEqual([]);
      expect(c.metrics.handled).toBe(1);
      await c.shutdown();
      await store.close();
    });
  }

  it('a dead letter whose fail() write is refused twice is still recorded; the handler ran once', async () => {
    const { store, refused } = flakyStore(firstN(2, 'fail'));
    const c = await memoryCoordinator({ store, closeAdapters: false, pollIntervalMs: 60_000 });
    let runs = 0;
    await c.registerHandler('Bad', async function bad() {
      runs += 1;
      throw Object.assign(new Error('not worth retrying'), { retryable: false });
    });
    await c.publishEvent(createDomainEvent({ eventType: 'Bad', aggregateId: 'b' }));
    await vi.waitFor(async () => expect(await store.getDeadLetters({ limit: 10 })).toHaveLength(1), {
      timeout: 5000,
    });
    expect(runs).toBe(1);
    expect(refused.fail).toBe(2);
    await c.shutdown();
    await store.close();
  });

  it('a completion refused until its lease is over is dropped, logged once, and the delivery runs again', async () => {
    // Every completion of the first attempt is refused; the second attempt's goes through. The
    // coordinator's clock moves only with the refusals (150 ms each), so the 400 ms lease is over
    // at the third whatever the machine's load: on the wall clock, a loaded machine firing the
    // backoff timers late ran the lease out after two.
    let now = Date.now();
    const { store, refused } = flakyStore((call, tokens) => {
      const refuse = call === 'complete' && tokens.some((t) => t.attempt === 1);
      if (refuse) now += 150;
      return refuse;
    });
    const { logger, dropped } = recordingLogger();
    const c = await memoryCoordinator({
      store,
      logger,
      closeAdapters: false,
      clock: () => new Date(now),
      leaseMs: 400,
      handlerTimeoutMs: 100,
      pollIntervalMs: 20,
    });
    const attempts: number[] = [];
    await c.registerHandler('Work', async function work(_e, ctx) {
      attempts.push(ctx.attempt);
    });
    await c.publishEvent(createDomainEvent({ eventType: 'Work', aggregateId: 'w' }));
    await vi.waitFor(async () => expect(await store.getUnprocessedEvents({ limit: 10 })).toEqual([]), {
      timeout: 5000,
    });
    // The drop is noticed when its backoff timer fires, which may be after the second run.
    await vi.waitFor(() => expect(dropped().length).toBeGreaterThan(0), { timeout: 5000 });
    expect(attempts).toEqual([1, 2]);
    // Retried while the lease lasted (after backoffs of 50–100 ms, then 100–200 ms), then given up.
    expect(refused.complete).toBe(3);
    expect(dropped()).toHaveLength(1);
    expect(dropped()[0]!.fields).toMatchObject({ count: 1 });
    expect(dropped()[0]!.msg).toMatch(/leases expired/);
    await c.shutdown();
    await store.close();
  });

  it('shutdown writes a refused completion once more without waiting for its backoff', async () => {
    // Timers are fake (setImmediate, promises and Date stay real), so the backoff timer set when
    // the completion is refused (50-100 ms on its clock) fires only when this test moves the clock.
    // Shutdown gets 49 ms of fake time, less than the shortest backoff: it must be over by then,
    // having written the completion a second time; waiting for the backoff, it would still be open.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
    try {
      let retained!: () => void;
      const retaining = new Promise<void>((r) => {
        retained = r;
      });
      const logger: Logger = {
        debug: () => {},
        info: () => {},
        warn: () => {},
        error: ((_fields: Record<string, unknown>, msg?: string) => {
          if (String(msg).endsWith('retrying while their leases last')) retained();
        }) as Logger['error'],
      };
      const { store, calls, refused } = flakyStore(firstN(1, 'complete'));
      const c = await memoryCoordinator({ store, logger, closeAdapters: false, pollIntervalMs: 60_000 });
      await c.registerHandler('Work', async function work() {});
      await c.publishEvent(createDomainEvent({ eventType: 'Work', aggregateId: 'w' }));
      // The refused completion is kept, and its backoff timer set (on the fake clock).
      await retaining;
      expect(calls.complete).toBe(1);
      let closed = false;
      const closing = c.shutdown({ timeoutMs: 5000 }).then(() => {
        closed = true;
      });
      await vi.advanceTimersByTimeAsync(49);
      const closedBeforeBackoff = closed;
      const writesBeforeBackoff = calls.complete;
      await vi.runAllTimersAsync();
      await closing;
      expect(closedBeforeBackoff).toBe(true);
      expect(writesBeforeBackoff).toBe(2);
      expect(refused.complete).toBe(1);
      expect(await store.getUnprocessedEvents({ limit: 10 })).toEqual([]);
      await store.close();
    } finally {
      vi.useRealTimers();
    }
  });

  it('a completion still refused at shutdown is dropped with one log line', async () => {
    const { store } = flakyStore((call) => call === 'complete');
    const { logger, dropped } = recordingLogger();
    const c = await memoryCoordinator({ store, logger, closeAdapters: false, pollIntervalMs: 60_000 });
    await c.registerHandler('Work', async function work() {});
    await c.publishEvent(createDomainEvent({ eventType: 'Work', aggregateId: 'w' }));
    await vi.waitFor(() => expect(c.metrics.handled).toBe(1));
    await c.shutdown({ timeoutMs: 1000 });
    expect(dropped()).toHaveLength(1);
    expect(dropped()[0]!.msg).toMatch(/shutdown/);
    expect(await store.getUnprocessedEvents({ limit: 10 })).toHaveLength(1);
    await store.close();
  });

  it('keeps at most maxRetainedOutcomes: past it the oldest are dropped (one line), the rest land later', async () => {
    let down = true;
    const { store } = flakyStore((call) => call === 'complete' && down);
    const { logger, dropped } = recordingLogger();
    const dispatcher = new Dispatcher({
      store,
      logger,
      consumerId: 'me',
      now: () => new Date(),
      random: () => 0,
      leaseMs: 60_000,
      concurrency: 8,
      maxRetainedOutcomes: 3,
      publish: async () => [],
    });
    await store.registerSubscriptions([{ handler: 'work', eventType: 'Work', ordering: 'none' }], {
      consumerId: 'me',
      now: new Date(),
      ttlMs: 60_000,
    });
    dispatcher.add({
      name: 'work',
      eventType: 'Work',
      ordering: 'none',
      retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 2 },
      timeoutMs: 1000,
      handler: { handle: async () => {} },
    });
    const events = Array.from({ length: 5 }, (_, n) =>
      createDomainEvent({ eventType: 'Work', aggregateId: `w${n}` }),
    );
    await store.append(events, { now: new Date() });
    dispatcher.wake();
    await vi.waitFor(() => expect(dispatcher.metrics.handled).toBe(5));
    await vi.waitFor(() => expect(dropped()).toHaveLength(1));
    expect(dropped()[0]!.fields).toMatchObject({ count: 2 });
    expect(dropped()[0]!.msg).toMatch(/more than 3/);
    down = false;
    await vi.waitFor(async () => expect(await store.getUnprocessedEvents({ limit: 10 })).toHaveLength(2), {
      timeout: 5000,
    });
    await dispatcher.stop(Date.now());
    await store.close();
  });
});
