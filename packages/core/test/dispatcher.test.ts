import { afterEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import {
  type ClaimRequest,
  createConsoleLogger,
  createDomainEvent,
  DEFAULT_RETRY,
  type DeliveryToken,
  defineEvent,
  type HandlerContext,
  isEvcoError,
  type Logger,
  type RecordedEvent,
  retryDelayMs,
} from '../src/index.js';
import { createInProcPublisher, createMemoryStore, memoryCoordinator } from './support.js';

const fast = { baseDelayMs: 1, maxDelayMs: 2 };

afterEach(() => {
  vi.useRealTimers();
});

describe('retry policy', () => {
  it('full jitter stays within [0, min(max, base * 2^(n-1))) and grows exponentially', () => {
    const policy = { maxAttempts: 10, baseDelayMs: 100, maxDelayMs: 5000 };
    for (let attempt = 1; attempt <= 10; attempt++) {
      const cap = Math.min(5000, 100 * 2 ** (attempt - 1));
      expect(retryDelayMs(policy, attempt, () => 0)).toBe(0);
      expect(retryDelayMs(policy, attempt, () => 0.999999)).toBe(Math.floor(0.999999 * cap));
      for (let i = 0; i < 200; i++) {
        const d = retryDelayMs(policy, attempt);
        expect(d).toBeGreaterThanOrEqual(0);
        expect(d).toBeLessThan(cap);
      }
    }
    expect(DEFAULT_RETRY).toEqual({ maxAttempts: 5, baseDelayMs: 200, maxDelayMs: 60_000 });
  });
});

describe('dispatcher', () => {
  it('isolates handlers: one failing does not stop another for the same event', async () => {
    const c = await memoryCoordinator({ retry: { maxAttempts: 2, ...fast } });
    const good: string[] = [];
    await c.registerHandler('OrderPlaced', async function failing() {
      throw new Error('always');
    });
    await c.registerHandler('OrderPlaced', async function working(e) {
      good.push(e.id);
    });
    const r = await c.publishEvent({ eventType: 'OrderPlaced', aggregateId: 'o1' });
    expect(r.deliveries).toBe(2);
    await c.waitForIdle();
    expect(good).toEqual([r.eventId]);
    const dead = await c.getDeadLetters();
    expect(dead.map((d) => [d.delivery.handler, d.delivery.attempts])).toEqual([['failing', 2]]);
    expect(dead[0]!.delivery.lastError).toBe('Error: always');
    await c.shutdown();
  });

  it('retries at the backoff time (fake timers), with context.attempt counting up', async () => {
    vi.useFakeTimers({
      toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate', 'Date'],
    });
    const c = await memoryCoordinator({
      retry: { maxAttempts: 3, baseDelayMs: 1000, maxDelayMs: 10_000 },
      random: () => 0.5,
      pollIntervalMs: 60_000,
    });
    const attempts: Array<{ attempt: number; at: number }> = [];
    const start = Date.now();
    await c.registerHandler('Flaky', async function flaky(_e, ctx) {
      attempts.push({ attempt: ctx.attempt, at: Date.now() - start });
      if (ctx.attempt < 3) throw new Error(`fail ${ctx.attempt}`);
    });
    await c.publishEvent({ eventType: 'Flaky', aggregateId: 'f' });
    await vi.advanceTimersByTimeAsync(10);
    expect(attempts.map((a) => a.attempt)).toEqual([1]);
    // First retry after random(0.5) * 1000 = 500 ms.
    await vi.advanceTimersByTimeAsync(480);
    expect(attempts.length).toBe(1);
    await vi.advanceTimersByTimeAsync(40);
    expect(attempts.map((a) => a.attempt)).toEqual([1, 2]);
    // Second retry after 0.5 * 2000 = 1000 ms.
    await vi.advanceTimersByTimeAsync(970);
    expect(attempts.length).toBe(2);
    await vi.advanceTimersByTimeAsync(60);
    expect(attempts.map((a) => a.attempt)).toEqual([1, 2, 3]);
    expect(attempts[1]!.at).toBeGreaterThanOrEqual(500);
    expect(attempts[2]!.at - attempts[1]!.at).toBeGreaterThanOrEqual(1000);
    await vi.advanceTimersByTimeAsync(10);
    const status = await c.getCoordinatorStatus();
    expect(status.counts).toMatchObject({ handled: 1, failed: 2, retried: 2, dead: 0, pending: 0 });
    await c.shutdown({ timeoutMs: 0 });
  });

  it('dead-letters after maxAttempts with the error, then re-drives on retryDeadLetters', async () => {
    const c = await memoryCoordinator({ retry: { maxAttempts: 3, ...fast } });
    let healthy = false;
    const seen: number[] = [];
    await c.registerHandler('Charge', async function charge(_e, ctx) {
      seen.push(ctx.attempt);
      if (!healthy) throw new Error('card declined');
    });
    const r = await c.publishEvent({ eventType: 'Charge', aggregateId: 'c1' });
    await c.waitForIdle();
    expect(seen).toEqual([1, 2, 3]);
    const [dead] = await c.getDeadLetters();
    expect(dead!.event.id).toBe(r.eventId);
    expect(dead!.delivery).toMatchObject({ status: 'dead', attempts: 3, lastError: 'Error: card declined' });
    expect((await c.getUnprocessedEvents()).map((u) => u.event.id)).toEqual([r.eventId]);
    expect((await c.getCoordinatorStatus()).counts.dead).toBe(1);
    healthy = true;
    expect(await c.retryDeadLetters()).toEqual({ retried: 1 });
    await c.waitForIdle();
    expect(seen).toEqual([1, 2, 3, 1]);
    expect(await c.getDeadLetters()).toEqual([]);
    expect(await c.getUnprocessedEvents()).toEqual([]);
    await c.shutdown();
  });

  it('sends errors marked retryable: false straight to the dead letters', async () => {
    const c = await memoryCoordinator({ retry: { maxAttempts: 5, ...fast } });
    let calls = 0;
    await c.registerHandler('Permanent', async function permanent() {
      calls++;
      throw Object.assign(new Error('unknown customer'), { retryable: false });
    });
    await c.publishEvent({ eventType: 'Permanent', aggregateId: 'p' });
    await c.waitForIdle();
    expect(calls).toBe(1);
    expect((await c.getDeadLetters()).length).toBe(1);
    await c.shutdown();
  });

  it('times a hung handler out, aborting its signal, and retries it', async () => {
    const c = await memoryCoordinator({
      handlerTimeoutMs: 50,
      leaseMs: 5000,
      retry: { maxAttempts: 2, ...fast },
    });
    const aborted: unknown[] = [];
    await c.registerHandler('Slow', async function slow(_e, ctx: HandlerContext) {
      if (ctx.attempt === 1) {
        ctx.signal.addEventListener('abort', () => aborted.push(ctx.signal.reason));
        await new Promise(() => {});
      }
    });
    await c.publishEvent({ eventType: 'Slow', aggregateId: 's' });
    await c.waitForIdle();
    expect(aborted.length).toBe(1);
    expect(isEvcoError(aborted[0], 'HANDLER_TIMEOUT')).toBe(true);
    const status = await c.getCoordinatorStatus();
    expect(status.counts).toMatchObject({ timedOut: 1, handled: 1, dead: 0 });
    await c.shutdown();
  });

  it('keeps per-aggregate order under retries and runs other aggregates meanwhile', async () => {
    // A retry delay that B's three events (three claim rounds) cannot outlast.
    const c = await memoryCoordinator({
      retry: { maxAttempts: 5, baseDelayMs: 200, maxDelayMs: 200 },
      random: () => 0.99,
      concurrency: 8,
    });
    const log: string[] = [];
    let failedOnce = false;
    await c.registerHandler('Step', async function step(e) {
      const n = e.eventData.n as number;
      if (e.aggregateId === 'A' && n === 1 && !failedOnce) {
        failedOnce = true;
        throw new Error('transient');
      }
      log.push(`${e.aggregateId}${n}`);
    });
    await c.publishEvents(
      [1, 2, 3].flatMap((n) =>
        ['A', 'B'].map((a) => ({ eventType: 'Step', aggregateId: a, eventData: { n } })),
      ),
    );
    await c.waitForIdle();
    expect(log.filter((x) => x.startsWith('A'))).toEqual(['A1', 'A2', 'A3']);
    expect(log.filter((x) => x.startsWith('B'))).toEqual(['B1', 'B2', 'B3']);
    // B did not wait for A's retry.
    expect(log.indexOf('B3')).toBeLessThan(log.indexOf('A1'));
    await c.shutdown();
  });

  it('with ordering: none, runs events of one aggregate in parallel', async () => {
    const c = await memoryCoordinator({ concurrency: 10 });
    let running = 0;
    let peak = 0;
    await c.registerHandler(
      'Parallel',
      async () => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((r) => setTimeout(r, 20));
        running--;
      },
      { name: 'parallel', ordering: 'none' },
    );
    await c.publishEvents(Array.from({ length: 5 }, () => ({ eventType: 'Parallel', aggregateId: 'same' })));
    await c.waitForIdle();
    expect(peak).toBe(5);
    await c.shutdown();
  });

  it('events published from a handler inherit the correlationId and get causationId = the handled event', async () => {
    const c = await memoryCoordinator();
    await c.registerHandler('UserRegistered', async function grantTrial(e, ctx) {
      await ctx.publish({
        eventType: 'TrialGranted',
        aggregateId: e.aggregateId,
        metadata: { correlationId: 'ignored' },
      });
    });
    await c.registerHandler('TrialGranted', async function welcome(e, ctx) {
      await ctx.publishEvents([{ eventType: 'WelcomeSent', aggregateId: e.aggregateId }]);
    });
    const root = await c.publishEvent({
      eventType: 'UserRegistered',
      aggregateId: 'u',
      metadata: { correlationId: 'flow-1' },
    });
    await c.waitForIdle();
    const history = await c.getEventHistory();
    expect(history.map((e) => e.eventType)).toEqual(['UserRegistered', 'TrialGranted', 'WelcomeSent']);
    expect(history.map((e) => e.metadata.correlationId)).toEqual(['flow-1', 'flow-1', 'flow-1']);
    expect(history.map((e) => e.metadata.causationId)).toEqual([undefined, root.eventId, history[1]!.id]);
    await c.shutdown();
  });

  it('a crashed coordinator’s claimed delivery is finished by another after the lease expires', async () => {
    const store = createMemoryStore();
    const publisher = createInProcPublisher();
    // The first process registers the handler, publishes, claims the delivery and dies mid-handler:
    // its lease is never completed, failed or released.
    const dying = await memoryCoordinator({ store, publisher, closeAdapters: false, pollIntervalMs: 60_000 });
    await dying.registerHandler('Work', async function work() {}, { name: 'work' });
    await dying.shutdown({ timeoutMs: 0 });
    await store.append([createDomainEvent({ eventType: 'Work', aggregateId: 'w' })], { now: new Date() });
    const [lost] = await store.claimDue({
      consumerId: 'dead-process',
      handlers: ['work'],
      now: new Date(),
      leaseMs: 150,
      limit: 1,
    });
    expect(lost!.attempt).toBe(1);

    const survivor = await memoryCoordinator({
      store,
      publisher,
      leaseMs: 150,
      handlerTimeoutMs: 100,
      pollIntervalMs: 20,
      closeAdapters: false,
    });
    const finished: Array<{ id: string; attempt: number }> = [];
    await survivor.registerHandler(
      'Work',
      async (e, ctx) => {
        finished.push({ id: e.id, attempt: ctx.attempt });
      },
      { name: 'work' },
    );
    // While the lease is live, nobody else may run it.
    expect(finished).toEqual([]);
    await survivor.waitForIdle();
    expect(finished).toEqual([{ id: lost!.event.id, attempt: 2 }]);
    expect(await store.getUnprocessedEvents({ limit: 10 })).toEqual([]);
    await survivor.shutdown();
  });
});

/** A memory store that also has `completeAndClaim` (complete, then claim), counting the calls. */
function completingOnClaims() {
  const base = createMemoryStore();
  const calls = { combined: 0, completedThere: 0, complete: 0 };
  const store = new Proxy(base, {
    get(target, key) {
      if (key === 'completeAndClaim') {
        return async (tokens: DeliveryToken[], request: ClaimRequest) => {
          calls.combined += 1;
          calls.completedThere += tokens.length;
          await target.complete(tokens, { now: request.now });
          return target.claimDue(request);
        };
      }
      if (key === 'complete') {
        return (tokens: DeliveryToken[], options: { now: Date }) => {
          calls.complete += 1;
          return target.complete(tokens, options);
        };
      }
      const value = Reflect.get(target, key, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { store, calls };
}

describe('dispatcher with a store that completes on claims (completeAndClaim)', () => {
  it('writes completions with the claim rounds: each delivery once, per-aggregate order kept, nothing left', async () => {
    const { store, calls } = completingOnClaims();
    const c = await memoryCoordinator({ store, concurrency: 4, pollIntervalMs: 60_000 });
    const seen = new Map<string, number[]>();
    await c.registerHandler('Step', async function step(e: RecordedEvent) {
      const list = seen.get(e.aggregateId) ?? [];
      list.push((e.eventData as { n: number }).n);
      seen.set(e.aggregateId, list);
      await new Promise((r) => setTimeout(r, Math.random() * 2));
    });
    const events = Array.from({ length: 60 }, (_, n) =>
      createDomainEvent({ eventType: 'Step', aggregateId: `agg-${n % 3}`, eventData: { n } }),
    );
    for (let i = 0; i < events.length; i += 7) await c.publishEvents(events.slice(i, i + 7));
    await c.waitForIdle({ timeoutMs: 10_000 });
    for (let a = 0; a < 3; a++) {
      expect(seen.get(`agg-${a}`)).toEqual(events.map((_, n) => n).filter((n) => n % 3 === a));
    }
    expect(calls.completedThere).toBe(60);
    expect(calls.complete).toBe(0);
    expect(calls.combined).toBeLessThan(60);
    expect(await store.getUnprocessedEvents({ limit: 10 })).toEqual([]);
    await c.shutdown();
  });

  it('at shutdown, a completion that no claim round will carry is still written', async () => {
    const { store, calls } = completingOnClaims();
    const c = await memoryCoordinator({ store, closeAdapters: false, pollIntervalMs: 60_000 });
    let open!: () => void;
    const gate = new Promise<void>((r) => {
      open = r;
    });
    let started!: () => void;
    const running = new Promise<void>((r) => {
      started = r;
    });
    await c.registerHandler('Slow', async function slow() {
      started();
      await gate;
    });
    await c.publishEvent(createDomainEvent({ eventType: 'Slow', aggregateId: 's' }));
    await running;
    const stopping = c.shutdown({ timeoutMs: 10_000 });
    open();
    await stopping;
    expect(calls.complete).toBe(1);
    expect(await store.getUnprocessedEvents({ limit: 10 })).toEqual([]);
    await store.close();
  });
});

/** A memory store that issues a lease id with every claim and records the tokens it gets back. */
function issuingLeases() {
  const base = createMemoryStore();
  const issued = new Map<string, string>();
  const returned: Array<{ call: string; token: DeliveryToken }> = [];
  let next = 0;
  const record = (call: string, tokens: readonly DeliveryToken[]) => {
    for (const token of tokens) returned.push({ call, token });
  };
  const store = new Proxy(base, {
    get(target, key) {
      if (key === 'claimDue') {
        return async (request: ClaimRequest) =>
          (await target.claimDue(request)).map((d) => {
            const lease = `lease-${++next}`;
            issued.set(`${d.deliveryId}#${d.attempt}`, lease);
            return { ...d, lease };
          });
      }
      if (key === 'complete' || key === 'fail' || key === 'release') {
        return (tokens: DeliveryToken[], options: { now: Date }) => {
          record(key, tokens);
          return (target[key] as (t: DeliveryToken[], o: { now: Date }) => Promise<void>)(tokens, options);
        };
      }
      const value = Reflect.get(target, key, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { store, issued, returned };
}

describe('dispatcher with a store that issues lease ids', () => {
  it("passes each claim's lease id back with its completion, failure and release", async () => {
    const { store, issued, returned } = issuingLeases();
    const c = await memoryCoordinator({ store, closeAdapters: false, retry: { maxAttempts: 3, ...fast } });
    let failedOnce = false;
    await c.registerHandler('Flaky', async function flaky() {
      if (!failedOnce) {
        failedOnce = true;
        throw new Error('once');
      }
    });
    let stuck = false;
    await c.registerHandler('Stuck', async function stuckHandler() {
      stuck = true;
      await new Promise(() => {});
    });
    await c.publishEvent({ eventType: 'Flaky', aggregateId: 'f' });
    await c.publishEvent({ eventType: 'Stuck', aggregateId: 's' });
    await vi.waitFor(async () => {
      expect(stuck).toBe(true);
      expect(
        (await store.stats({ now: new Date() })).handlers.find((h) => h.handler === 'flaky'),
      ).toMatchObject({
        pending: 0,
        running: 0,
      });
    });
    await c.shutdown({ timeoutMs: 20 });
    expect(returned.map((r) => r.call).sort()).toEqual(['complete', 'fail', 'release']);
    for (const { token } of returned) {
      expect(token.lease).toBe(issued.get(`${token.deliveryId}#${token.attempt}`));
    }
    await store.close();
  });
});

describe('replay', () => {
  it('re-runs handlers for events in the range with isReplay, leaving others alone', async () => {
    const c = await memoryCoordinator();
    const runs: Array<{ n: unknown; replay: boolean }> = [];
    await c.registerHandler('Tick', async function tick(e, ctx) {
      runs.push({ n: e.eventData.n, replay: ctx.isReplay });
    });
    const base = Date.parse('2026-02-01T00:00:00Z');
    await c.publishEvents(
      [0, 1, 2, 3].map((n) => ({
        eventType: 'Tick',
        aggregateId: 't',
        eventData: { n },
        occurredAt: new Date(base + n * 60_000),
      })),
    );
    await c.waitForIdle();
    const result = await c.replayEvents({
      from: new Date(base + 60_000),
      to: new Date(base + 3 * 60_000).toISOString(),
    });
    expect(result).toMatchObject({ events: 2, deliveries: 2, truncated: false });
    await c.waitForIdle();
    expect(runs).toEqual([
      { n: 0, replay: false },
      { n: 1, replay: false },
      { n: 2, replay: false },
      { n: 3, replay: false },
      { n: 1, replay: true },
      { n: 2, replay: true },
    ]);
    await c.shutdown();
  });

  it('rejects unbounded or inverted ranges and unknown handlers before doing anything', async () => {
    const c = await memoryCoordinator();
    const now = new Date();
    for (const bad of [
      { from: now, to: now },
      { from: now, to: new Date(now.getTime() - 1) },
      { from: now, to: '2026-01-01T00:00:00' },
      { from: now, to: new Date(now.getTime() + 1), maxEvents: 2_000_000 },
    ]) {
      const error = await c.replayEvents(bad as never).catch((e: unknown) => e);
      expect(isEvcoError(error, 'INVALID_OPTIONS')).toBe(true);
    }
    const error = await c
      .replayEvents({ from: now, to: new Date(now.getTime() + 1), handler: 'nobody' })
      .catch((e: unknown) => e);
    expect(isEvcoError(error, 'UNKNOWN_HANDLER')).toBe(true);
    await c.shutdown();
  });
});

describe('dates outside years 1–9999', () => {
  it('history and replay ranges outside them are INVALID_OPTIONS before the store is asked', async () => {
    const store = createMemoryStore();
    const c = await memoryCoordinator({ store });
    const read = vi.spyOn(store, 'read');
    const startReplay = vi.spyOn(store, 'startReplay');
    const late = new Date('+010000-01-01T00:00:00Z');
    const early = new Date('0000-06-01T00:00:00Z');
    for (const query of [{ from: late }, { to: early }, { from: '9999-12-31T23:30:00-01:00' }]) {
      const error = await c.getEventHistory(query).catch((e: unknown) => e);
      expect(isEvcoError(error, 'INVALID_OPTIONS')).toBe(true);
    }
    const error = await c.replayEvents({ from: early, to: new Date() }).catch((e: unknown) => e);
    expect(isEvcoError(error, 'INVALID_OPTIONS')).toBe(true);
    expect(read).not.toHaveBeenCalled();
    expect(startReplay).not.toHaveBeenCalled();
    await c.shutdown();
  });

  it('an event outside them is EVENT_VALIDATION and never reaches the store', async () => {
    const store = createMemoryStore();
    const c = await memoryCoordinator({ store });
    const append = vi.spyOn(store, 'append');
    for (const occurredAt of [new Date('+010000-01-01T00:00:00Z'), new Date(-62_135_596_800_001)]) {
      const error = await c
        .publishEvent({ eventType: 'Dated', aggregateId: 'd', occurredAt })
        .catch((e: unknown) => e);
      expect(isEvcoError(error, 'EVENT_VALIDATION')).toBe(true);
    }
    expect(append).not.toHaveBeenCalled();
    expect(await store.read({ limit: 10, order: 'asc' })).toEqual([]);
    await c.shutdown();
  });
});

describe('lifecycle', () => {
  it('shutdown waits for in-flight handlers, then refuses work; twice is safe', async () => {
    const c = await memoryCoordinator();
    let finished = false;
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let started = false;
    await c.registerHandler('Long', async function long() {
      started = true;
      await gate;
      finished = true;
    });
    await c.publishEvent({ eventType: 'Long', aggregateId: 'l' });
    await vi.waitFor(() => expect(started).toBe(true));
    const stopping = c.shutdown({ timeoutMs: 5000 });
    expect(c.state).toBe('stopping');
    setTimeout(release, 30);
    await stopping;
    expect(finished).toBe(true);
    expect(c.state).toBe('stopped');
    await c.shutdown();
    for (const call of [
      () => c.publishEvent({ eventType: 'Late', aggregateId: 'x' }),
      () => c.registerHandler('Late', async function late() {}),
      () => c.replayEvents({ from: new Date(0), to: new Date() }),
      () => c.getEventHistory(),
    ]) {
      const error = await call().catch((e: unknown) => e);
      expect(isEvcoError(error, 'COORDINATOR_CLOSED')).toBe(true);
    }
  });

  it('at the shutdown deadline, releases the leases of unfinished handlers for others to take', async () => {
    const store = createMemoryStore();
    const c = await memoryCoordinator({ store, closeAdapters: false });
    let started = false;
    await c.registerHandler('Stuck', async function stuck() {
      started = true;
      await new Promise(() => {});
    });
    await c.publishEvent({ eventType: 'Stuck', aggregateId: 's' });
    await vi.waitFor(() => expect(started).toBe(true));
    await c.shutdown({ timeoutMs: 20 });
    const stats = await store.stats({ now: new Date() });
    expect(stats).toMatchObject({ running: 0, pending: 1 });
    const [claim] = await store.claimDue({
      consumerId: 'next',
      handlers: ['stuck'],
      now: new Date(),
      leaseMs: 1000,
      limit: 1,
    });
    expect(claim!.attempt).toBe(2);
  });

  it('tells the store in each claim whether one of its handlers is ordered (ClaimRequest.ordered)', async () => {
    const store = createMemoryStore();
    const hints: Array<boolean | undefined> = [];
    const claimDue = store.claimDue.bind(store);
    const spy = Object.assign(store, {
      claimDue: async (request: ClaimRequest) => {
        if (request.handlers.length > 0) hints.push(request.ordered);
        return claimDue(request);
      },
    });
    const c = await memoryCoordinator({ store: spy });
    const seen = async (eventType: string) => {
      hints.length = 0;
      await c.publishEvent({ eventType, aggregateId: 'a' });
      await c.waitForIdle();
      return [...new Set(hints)];
    };
    await c.registerHandler('Free', function free() {}, { ordering: 'none' });
    expect(await seen('Free')).toEqual([false]);
    // The default ordering is 'aggregate'.
    const kept = await c.registerHandler('Kept', function kept() {});
    expect(await seen('Free')).toEqual([true]);
    kept.unregister();
    expect(await seen('Free')).toEqual([false]);
    await c.shutdown();
  });

  it('hands back a claim that was in flight when shutdown began, before the store is closed', async () => {
    const store = createMemoryStore();
    let closed = false;
    let gate: (() => void) | undefined;
    let claimStarted: (() => void) | undefined;
    const claiming = new Promise<void>((resolve) => {
      claimStarted = resolve;
    });
    const claimDue = store.claimDue.bind(store);
    const release = store.release.bind(store);
    // A slow claim (held at a gate) and a store that refuses work once closed, as a pool does.
    const slow = Object.assign(store, {
      claimDue: async (request: Parameters<typeof claimDue>[0]) => {
        if (request.handlers.length > 0 && !gate) {
          await new Promise<void>((resolve) => {
            gate = resolve;
            claimStarted!();
          });
        }
        return claimDue(request);
      },
      release: async (...args: Parameters<typeof release>) => {
        await new Promise((r) => setTimeout(r, 5));
        if (closed) throw new Error('store closed');
        return release(...args);
      },
      close: async () => {
        closed = true;
      },
    });
    const c = await memoryCoordinator({ store: slow, pollIntervalMs: 60_000 });
    let ran = false;
    await c.registerHandler('Late', function late() {
      ran = true;
    });
    await c.publishEvent({ eventType: 'Late', aggregateId: 'l' });
    await claiming;
    const stopping = c.shutdown({ timeoutMs: 1000 });
    gate!();
    await stopping;
    expect(ran).toBe(false);
    closed = false;
    expect(await store.stats({ now: new Date() })).toMatchObject({ running: 0, pending: 1 });
  });

  it('a store that stops answering mid-shutdown (a claim and the close never settle): shutdown still resolves soon after its deadline, and says why', async () => {
    const store = createMemoryStore();
    let claimStarted: (() => void) | undefined;
    const claiming = new Promise<void>((resolve) => {
      claimStarted = resolve;
    });
    const claimDue = store.claimDue.bind(store);
    // What a Postgres behind PgBouncer does when the server goes away: calls queue at the pooler
    // (query_wait_timeout, 120 s by default) instead of failing.
    const hung = Object.assign(store, {
      claimDue: async (request: Parameters<typeof claimDue>[0]) => {
        if (request.handlers.length === 0) return claimDue(request);
        claimStarted!();
        return new Promise<never>(() => {});
      },
      close: () => new Promise<void>(() => {}),
    });
    const warnings: string[] = [];
    const logger: Logger = {
      debug: () => {},
      info: () => {},
      warn: ((o: unknown, msg?: string) => void warnings.push(String(msg ?? o))) as Logger['warn'],
      error: () => {},
    };
    const c = await memoryCoordinator({ store: hung, logger, pollIntervalMs: 60_000 });
    await c.registerHandler('Late', function late() {});
    await c.publishEvent({ eventType: 'Late', aggregateId: 'l' });
    await claiming;
    const started = performance.now();
    await c.shutdown({ timeoutMs: 50 });
    const tookMs = performance.now() - started;
    // The deadline, then 2 s for the store and publisher calls in flight and their close.
    expect(tookMs).toBeLessThan(50 + 2000 + 1000);
    expect(warnings.join('\n')).toMatch(/still in flight.*leaseMs/);
    await expect(c.publishEvent({ eventType: 'Late', aggregateId: 'l' })).rejects.toMatchObject({
      code: 'COORDINATOR_CLOSED',
    });
  });

  it('rejects a second registration under a taken name; several types go in one explicit call', async () => {
    const c = await memoryCoordinator();
    const handler = async function same() {};
    await c.registerHandler('A', handler);
    const error = await c.registerHandler('A', handler).catch((e: unknown) => e);
    expect(isEvcoError(error, 'DUPLICATE_HANDLER')).toBe(true);
    expect((error as Error).message).toMatch(/"same".*"A"/);
    const widened = await c.registerHandler(['B', 'C'], handler).catch((e: unknown) => e);
    expect(isEvcoError(widened, 'DUPLICATE_HANDLER')).toBe(true);
    expect((widened as Error).message).toMatch(/in one call/);
    const multi = await c.registerHandler(['B', 'C'], handler, { name: 'same-bc' });
    expect(multi.eventTypes).toEqual(['B', 'C']);
    const anonymous = await c.registerHandler('D', (() => async () => {})()).catch((e: unknown) => e);
    expect(isEvcoError(anonymous, 'INVALID_OPTIONS')).toBe(true);
    expect((anonymous as Error).message).toMatch(/pass \{ name \}/);
    class Mailer {
      async handle() {}
    }
    expect((await c.registerHandler('E', new Mailer())).name).toBe('Mailer');
    await c.shutdown();
  });

  it('rejects bad coordinator options listing every problem', async () => {
    const error = await memoryCoordinator({
      pollIntervalMs: -1,
      leaseMs: 100,
      handlerTimeoutMs: 200,
      concurrency: 0,
      retry: { maxAttempts: 0 },
      bogus: true,
    } as never).catch((e: unknown) => e);
    expect(isEvcoError(error, 'INVALID_OPTIONS')).toBe(true);
    const paths = (error as { issues: Array<{ path: string }> }).issues.map((i) => i.path).sort();
    expect(paths).toEqual([
      'bogus',
      'concurrency',
      'handlerTimeoutMs',
      'pollIntervalMs',
      'retry.maxAttempts',
    ]);
    const missing = await memoryCoordinator({ store: undefined, publisher: {} } as never).catch(
      (e: unknown) => e,
    );
    expect((missing as { issues: Array<{ path: string }> }).issues.map((i) => i.path).sort()).toEqual([
      'publisher',
      'store',
    ]);
  });

  it("masks credentials in what a handler threw before it is recorded and logged (dead letters, the handler's log lines)", async () => {
    // A driver's error naming its connection string, password included: the dead letter is read
    // by `evco dead-letters`, the dashboard and the plugin's public read routes; before, it held
    // the password as thrown.
    const lines: string[] = [];
    const logger = createConsoleLogger({ level: 'debug', write: (l) => lines.push(l) });
    const c = await memoryCoordinator({ logger, retry: { maxAttempts: 2, ...fast } });
    await c.registerHandler('Charged', async function chargeCard() {
      throw new Error('connect failed: postgresql://app:s3cret-pw@db.internal:5432/shop (password=hunter2)');
    });
    await c.publishEvent({ eventType: 'Charged', aggregateId: 'c1' });
    await c.waitForIdle();
    const [dead] = await c.getDeadLetters();
    await c.shutdown();
    expect(dead!.delivery.lastError).toContain('connect failed: postgresql://app:***@db.internal:5432/shop');
    expect(dead!.delivery.lastError).toContain('password=***');
    const failures = lines.filter((l) => /handler failed/.test(l));
    expect(failures).toHaveLength(2);
    for (const text of [dead!.delivery.lastError!, ...lines]) {
      expect(text).not.toContain('s3cret-pw');
      expect(text).not.toContain('hunter2');
    }
  });

  it('EVCO_LOG_LEVEL=debug shows each publish, attempt, retry and dead letter', async () => {
    const lines: string[] = [];
    const logger = createConsoleLogger({ level: 'debug', write: (l) => lines.push(l) });
    const c = await memoryCoordinator({ logger, retry: { maxAttempts: 2, ...fast } });
    await c.registerHandler('Logged', async function logged() {
      throw new Error('nope');
    });
    await c.publishEvent({ eventType: 'Logged', aggregateId: 'l' });
    await c.waitForIdle();
    await c.shutdown();
    const msgs = lines.map((l) => JSON.parse(l).msg);
    for (const m of [
      'published',
      'attempt',
      'handler failed; retry scheduled',
      'dead letter: handler failed for the last time',
    ]) {
      expect(msgs).toContain(m);
    }
    expect(
      createConsoleLogger({ level: 'info', write: (l) => lines.push(l) }).isLevelEnabled?.('debug'),
    ).toBe(false);
  });

  it('the status view lists handlers, health and counts', async () => {
    const c = await memoryCoordinator();
    await c.registerHandler(['S1', 'S2'], async function statusHandler(_e: RecordedEvent) {});
    await c.publishEvents([
      { eventType: 'S1', aggregateId: 'a' },
      { eventType: 'S2', aggregateId: 'b' },
    ]);
    await c.waitForIdle();
    const status = await c.getCoordinatorStatus();
    expect(status.state).toBe('running');
    expect(status.store).toMatchObject({ name: 'memory', health: { healthy: true } });
    expect(status.publisher).toMatchObject({ name: 'inproc', health: { healthy: true } });
    expect(status.handlers).toEqual([
      expect.objectContaining({
        name: 'statusHandler',
        eventTypes: ['S1', 'S2'],
        local: true,
        pending: 0,
        dead: 0,
      }),
    ]);
    expect(status.counts).toMatchObject({
      published: 2,
      handled: 2,
      failed: 0,
      unprocessed: 0,
      inFlight: 0,
      lagMs: 0,
    });
    expect(status.lastPosition).toBe('2');
    await c.shutdown();
    expect(c.metrics).toMatchObject({ published: 2, handled: 2, failed: 0, publishFailures: 0 });
  });
});

describe('idempotent reactions', () => {
  it('derivedId is stable per (event, handler, parts); an idempotent re-publish resolves to the stored event', async () => {
    const c = await memoryCoordinator({ retry: { maxAttempts: 3, ...fast } });
    const ids: string[] = [];
    await c.registerHandler('OrderPlaced', async function invoice(e, ctx) {
      const id = ctx.derivedId('invoice');
      ids.push(id);
      const result = await ctx.publish(
        { id, eventType: 'InvoiceIssued', aggregateId: e.aggregateId },
        { idempotent: true },
      );
      expect(result.eventId).toBe(id);
      // Crash after publishing: the retry derives the same id and does not publish twice.
      if (ctx.attempt === 1) throw new Error('crashed after publishing');
    });
    await c.publishEvent({ eventType: 'OrderPlaced', aggregateId: 'o1' });
    await c.waitForIdle();
    expect(ids.length).toBe(2);
    expect(ids[0]).toBe(ids[1]);
    expect(ids[0]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect((await c.getEventHistory({ eventType: 'InvoiceIssued' })).map((e) => e.id)).toEqual([ids[0]]);
    const again = await c
      .publishEvent({ id: ids[0], eventType: 'InvoiceIssued', aggregateId: 'o1' })
      .catch((e: unknown) => e);
    expect(isEvcoError(again, 'DUPLICATE_EVENT')).toBe(true);
    await c.shutdown();
  });
});

describe('typed registration', () => {
  it('hands handlers registered with a definition schema-checked, typed events; bad data is dead-lettered', async () => {
    const Paid = defineEvent('Paid', z.strictObject({ amount: z.number().positive() }));
    const c = await memoryCoordinator({ retry: { maxAttempts: 3, ...fast } });
    const amounts: number[] = [];
    await c.registerHandler(Paid, async function onPaid(event) {
      amounts.push(event.eventData.amount);
    });
    await c.publishEvent(Paid.create({ aggregateId: 'p', data: { amount: 5 } }));
    await c.publishEvent({ eventType: 'Paid', aggregateId: 'p', eventData: { amount: -1 } });
    await c.waitForIdle();
    expect(amounts).toEqual([5]);
    const [dead] = await c.getDeadLetters();
    expect(dead!.delivery).toMatchObject({ attempts: 1, handler: 'onPaid' });
    expect(dead!.delivery.lastError).toMatch(/eventData.amount/);
    await c.shutdown();
  });
});

describe('handler names', () => {
  it('two different functions that share a name (both `h`) are a typed error, not one merged handler', async () => {
    const c = await memoryCoordinator();
    try {
      const seen: string[] = [];
      const first = (() =>
        async function h(e: RecordedEvent) {
          seen.push(`first:${e.eventType}`);
        })();
      const second = (() =>
        async function h(e: RecordedEvent) {
          seen.push(`second:${e.eventType}`);
        })();
      await c.registerHandler('OrderPlaced', first);
      const error = await c.registerHandler('UserRegistered', second).catch((e: unknown) => e);
      expect(isEvcoError(error, 'DUPLICATE_HANDLER')).toBe(true);
      expect((error as Error).message).toMatch(/a different handler is already registered as "h"/);
      expect(error).toMatchObject({ handlerName: 'h' });
      // Nothing was subscribed for the rejected one: its events get no delivery.
      const [placed, registered] = await c.publishEvents([
        { eventType: 'OrderPlaced', aggregateId: 'o' },
        { eventType: 'UserRegistered', aggregateId: 'u' },
      ]);
      expect(placed!.deliveries).toBe(1);
      expect(registered!.deliveries).toBe(0);
      await c.waitForIdle();
      expect(seen).toEqual(['first:OrderPlaced']);
      // After unregistering, the name is free again.
      const registration = await c.registerHandler('Other', async function h2() {}, { name: 'x' });
      registration.unregister();
      expect((await c.registerHandler('Other', async () => {}, { name: 'x' })).name).toBe('x');
    } finally {
      await c.shutdown();
    }
  });
});

describe('idempotent follow-ups from a handler', () => {
  it('ctx.publish(e, { idempotent: true }) without an id publishes one follow-up across a retry and a replay', async () => {
    const c = await memoryCoordinator();
    try {
      let runs = 0;
      await c.registerHandler(
        'OrderPlaced',
        async (event, ctx) => {
          runs += 1;
          await ctx.publish(
            { eventType: 'OrderConfirmed', aggregateId: event.aggregateId },
            { idempotent: true },
          );
          await ctx.publishEvents(
            [
              { eventType: 'InvoiceRequested', aggregateId: event.aggregateId },
              { eventType: 'ShipmentRequested', aggregateId: event.aggregateId },
            ],
            { idempotent: true },
          );
          // The first attempt fails after publishing: the retry runs the whole reaction again.
          if (ctx.attempt === 1) throw new Error('crashed after publishing');
        },
        { name: 'confirm', retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 2 } },
      );
      const placed = await c.publishEvent({ eventType: 'OrderPlaced', aggregateId: 'o-1' });
      await c.waitForIdle();
      await c.replayEvents({
        from: new Date(0),
        to: new Date(Date.now() + 60_000),
        eventType: 'OrderPlaced',
      });
      await c.waitForIdle();
      // Two runs for the publish (attempt 1 fails), two for the replay (its attempt 1 fails too).
      expect(runs).toBe(4);
      const followUps = await c.getEventHistory({
        eventType: ['OrderConfirmed', 'InvoiceRequested', 'ShipmentRequested'],
      });
      expect(followUps.map((e) => e.eventType)).toEqual([
        'OrderConfirmed',
        'InvoiceRequested',
        'ShipmentRequested',
      ]);
      expect(followUps.every((e) => e.metadata.causationId === placed.eventId)).toBe(true);
      // Distinct ids per position in the output, stable across runs.
      expect(new Set(followUps.map((e) => e.id)).size).toBe(3);
    } finally {
      await c.shutdown();
    }
  });

  it('an event built beforehand without an id (a definition, createDomainEvent) takes the derived id too; a given id is kept', async () => {
    const c = await memoryCoordinator();
    const InvoiceIssued = defineEvent('InvoiceIssued', z.object({ orderId: z.string() }));
    const givenId = '0190a0b0-1234-7abc-8def-0123456789ab';
    try {
      await c.registerHandler(
        'OrderPlaced',
        async function invoice(event, ctx) {
          const typed = InvoiceIssued.create({
            aggregateId: event.aggregateId,
            data: { orderId: event.aggregateId },
          });
          await ctx.publish(typed, { idempotent: true });
          await ctx.publishEvents(
            [
              createDomainEvent({ eventType: 'InvoiceMailed', aggregateId: event.aggregateId }),
              createDomainEvent({
                id: givenId,
                eventType: 'InvoiceArchived',
                aggregateId: event.aggregateId,
              }),
            ],
            { idempotent: true },
          );
          if (ctx.attempt < 3) throw new Error('crashed after publishing');
        },
        { retry: { maxAttempts: 3, ...fast } },
      );
      const placed = await c.publishEvent({ eventType: 'OrderPlaced', aggregateId: 'o-1' });
      await c.waitForIdle();
      const followUps = await c.getEventHistory({
        eventType: ['InvoiceIssued', 'InvoiceMailed', 'InvoiceArchived'],
      });
      // Before: 3 InvoiceIssued and 3 InvoiceMailed (a random id per run), 1 InvoiceArchived.
      expect(followUps.map((e) => e.eventType)).toEqual([
        'InvoiceIssued',
        'InvoiceMailed',
        'InvoiceArchived',
      ]);
      expect(followUps[2]!.id).toBe(givenId);
      expect(followUps.every((e) => e.metadata.correlationId === placed.eventId)).toBe(true);
      expect(followUps.every((e) => e.metadata.causationId === placed.eventId)).toBe(true);
      expect(followUps[0]!.eventData).toEqual({ orderId: 'o-1' });
    } finally {
      await c.shutdown();
    }
  });

  it('without idempotent, every run publishes again (ids stay random)', async () => {
    const c = await memoryCoordinator();
    try {
      await c.registerHandler(
        'OrderPlaced',
        async (event, ctx) => {
          await ctx.publish({ eventType: 'OrderConfirmed', aggregateId: event.aggregateId });
          if (ctx.attempt === 1) throw new Error('crashed after publishing');
        },
        { name: 'confirm', retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 2 } },
      );
      await c.publishEvent({ eventType: 'OrderPlaced', aggregateId: 'o-1' });
      await c.waitForIdle();
      expect((await c.getEventHistory({ eventType: 'OrderConfirmed' })).length).toBe(2);
    } finally {
      await c.shutdown();
    }
  });
});
