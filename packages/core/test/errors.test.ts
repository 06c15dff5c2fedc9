import { describe, expect, it } from 'vitest';
import {
  createDomainEvent,
  EvcoError,
  type EvcoErrorCode,
  isEvcoError,
  MiddlewareRejectedError,
  NotFoundError,
} from '../src/index.js';
import { createMemoryStore, memoryCoordinator } from './support.js';

describe('error codes', () => {
  it('the code union is closed: an unknown code does not compile', () => {
    // @ts-expect-error not an evco code
    const unknown: EvcoErrorCode = 'SOMETHING_ELSE';
    // @ts-expect-error isEvcoError only takes evco codes
    expect(isEvcoError(new EvcoError('TIMEOUT', 'x'), 'SOMETHING_ELSE')).toBe(false);
    expect(unknown).toBe('SOMETHING_ELSE');
  });

  it('the brand survives a second copy of core: a foreign EvcoError still answers isEvcoError', () => {
    // What another installed copy of @evco/core builds: another class, the same Symbol.for brand.
    const foreign = Object.defineProperty(
      Object.assign(new Error('[evco:core] x'), { code: 'NOT_FOUND' }),
      Symbol.for('evco.error'),
      { value: true },
    );
    expect(foreign instanceof EvcoError).toBe(false);
    expect(isEvcoError(foreign, 'NOT_FOUND')).toBe(true);
    expect(isEvcoError(foreign, 'TIMEOUT')).toBe(false);
    expect(isEvcoError(Object.assign(new Error('x'), { code: 'NOT_FOUND' }))).toBe(false);
  });

  it('NotFoundError names what was looked up, bounded', () => {
    const error = new NotFoundError('replay', `r-${'x'.repeat(500)}`, { source: 'store-memory' });
    expect(isEvcoError(error, 'NOT_FOUND')).toBe(true);
    expect([error.kind, error.id.length]).toEqual(['replay', 502]);
    expect(error.message).toBe(`[evco:store-memory] no replay with id "r-${'x'.repeat(198)}"`);
  });

  it('a middleware vetoes a publish with MiddlewareRejectedError: MIDDLEWARE_REJECTED, nothing stored', async () => {
    const c = await memoryCoordinator();
    c.eventBus.addMiddleware({
      name: 'quota',
      beforePublish(event) {
        if (event.eventData.tenant === 'over') {
          throw new MiddlewareRejectedError('tenant "over" is over its quota', { middleware: 'quota' });
        }
        return event;
      },
    });
    const error = await c
      .publishEvents([
        { eventType: 'Ordered', aggregateId: 'a' },
        { eventType: 'Ordered', aggregateId: 'b', eventData: { tenant: 'over' } },
      ])
      .catch((e: unknown) => e);
    expect(isEvcoError(error, 'MIDDLEWARE_REJECTED')).toBe(true);
    expect((error as MiddlewareRejectedError).middleware).toBe('quota');
    expect((error as Error).message).toBe('[evco:core] quota: tenant "over" is over its quota');
    expect(await c.getEventHistory()).toEqual([]);
    expect(c.eventBus.metrics.rejectedByMiddleware).toBe(1);
    await c.shutdown();
  });

  it('HANDLER_CRASHED: a delivery whose lease expired past maxAttempts is dead-lettered with that code', async () => {
    const store = createMemoryStore();
    const t0 = Date.parse('2026-01-01T00:00:00Z');
    const ttlMs = 3_600_000;
    await store.registerSubscriptions([{ eventType: 'Fragile', handler: 'fragile', ordering: 'none' }], {
      consumerId: 'ghost',
      now: new Date(t0),
      ttlMs,
    });
    await store.append([createDomainEvent({ eventType: 'Fragile', aggregateId: 'a' })], {
      now: new Date(t0),
    });
    // Two processes claimed it and died: each lease ran out without a completion.
    for (const at of [t0 + 1, t0 + 2_000]) {
      const claimed = await store.claimDue({
        consumerId: 'ghost',
        handlers: ['fragile'],
        now: new Date(at),
        leaseMs: 1000,
        limit: 10,
      });
      expect(claimed.length).toBe(1);
    }
    let ran = 0;
    const c = await memoryCoordinator({
      store,
      clock: () => new Date(t0 + 10_000),
      retry: { maxAttempts: 2 },
    });
    await c.registerHandler(
      'Fragile',
      async () => {
        ran += 1;
      },
      { name: 'fragile' },
    );
    await c.waitForIdle({ timeoutMs: 10_000 });
    const dead = await c.getDeadLetters();
    expect(ran).toBe(0);
    expect(dead.map((d) => d.delivery.lastError)).toEqual([expect.stringContaining('HANDLER_CRASHED')]);
    await c.shutdown();
  });

  it('TIMEOUT: waitForIdle gives up on a handler that is still running', async () => {
    const c = await memoryCoordinator();
    let release!: () => void;
    const running = new Promise<void>((resolve) => {
      release = resolve;
    });
    await c.registerHandler('Slow', () => running, { name: 'slow' });
    await c.publishEvent({ eventType: 'Slow', aggregateId: 'a' });
    await c.registerHandler('Slow', async function idle() {}); // no work left: not named
    const error = await c.waitForIdle({ timeoutMs: 50 }).catch((e: unknown) => e);
    expect(isEvcoError(error, 'TIMEOUT')).toBe(true);
    // Names the handler that kept it busy (it said only 'handlers still had work after 50 ms').
    expect((error as Error).message).toBe(
      '[evco:core] handlers still had work after 50 ms: slow (0 pending, 1 running)',
    );
    release();
    await c.waitForIdle();
    await c.shutdown();
  });

  it('INVALID_OPTIONS: waitForIdle and shutdown refuse a timeout that is not a number of ms, or a misspelt key, instead of waiting forever or the default', async () => {
    const c = await memoryCoordinator();
    await c.registerHandler('Stuck', () => new Promise<void>(() => {}), { name: 'stuck' });
    await c.publishEvent({ eventType: 'Stuck', aggregateId: 'a' });
    // A string deadline is NaN: without the check this wait never ends.
    const bad = [{ timeoutMs: '100' }, { timeout: 100 }, { timeoutMs: -1 }, { timeoutMs: Number.NaN }];
    for (const options of bad) {
      const error = await c.waitForIdle(options as { timeoutMs?: number }).catch((e: unknown) => e);
      expect(isEvcoError(error, 'INVALID_OPTIONS'), JSON.stringify(options)).toBe(true);
      expect((error as Error).message).toMatch(/waitForIdle options: (timeoutMs|timeout)/);
      const refused = await c.shutdown(options as { timeoutMs?: number }).catch((e: unknown) => e);
      expect(isEvcoError(refused, 'INVALID_OPTIONS'), JSON.stringify(options)).toBe(true);
    }
    // Refused shutdowns left it running: it still publishes, then shuts down for real.
    await c.publishEvent({ eventType: 'Other', aggregateId: 'b' });
    await c.shutdown({ timeoutMs: 0 });
    expect(
      isEvcoError(
        await c.publishEvent({ eventType: 'Other', aggregateId: 'c' }).catch((e: unknown) => e),
        'COORDINATOR_CLOSED',
      ),
    ).toBe(true);
  });
});
