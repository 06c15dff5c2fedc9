import { afterEach, beforeEach, describe, expect, it } from 'vitest';
// Core cannot depend on testkit (testkit depends on core): the matrix is loaded from its source.
import { THROWN_VALUES } from '../../testkit/src/thrown-values.js';
import { createConsoleLogger, describeError, StoreUnavailableError } from '../src/index.js';
import { memoryCoordinator } from './support.js';

const MAX_DESCRIPTION = 4000;

// Anything escaping evco's failure path shows up here (Node would exit on it in production).
const escaped: unknown[] = [];
const onEscape = (reason: unknown) => escaped.push(reason);
beforeEach(() => {
  escaped.length = 0;
  process.on('unhandledRejection', onEscape);
  process.on('uncaughtException', onEscape);
});
afterEach(() => {
  process.off('unhandledRejection', onEscape);
  process.off('uncaughtException', onEscape);
});

describe('describeError', () => {
  it.each(THROWN_VALUES)('describes $name without throwing, in at most 4000 characters', ({ make }) => {
    const description = describeError(make());
    expect(typeof description).toBe('string');
    expect(description.length).toBeGreaterThan(0);
    expect(description.length).toBeLessThanOrEqual(MAX_DESCRIPTION);
  });

  it('keeps the readable forms of ordinary values', () => {
    expect(describeError(new TypeError('boom'))).toBe('TypeError: boom');
    expect(describeError(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }))).toBe(
      'Error: ECONNREFUSED: refused',
    );
    expect(describeError('plain string')).toBe('non-error thrown: plain string');
    expect(describeError(undefined)).toBe('non-error thrown: undefined');
    expect(describeError(Symbol('s'))).toBe('non-error thrown: Symbol(s)');
    expect(describeError(10n)).toBe('non-error thrown: 10n');
    expect(describeError({ reason: 'nope', status: 503, list: [1, 'a', null] })).toBe(
      'non-error thrown: {"reason":"nope","status":503,"list":[1,"a",null]}',
    );
  });

  it('marks cycles, unreadable members and elisions instead of failing', () => {
    const cycle = Object.create(null) as Record<string, unknown>;
    cycle.self = cycle;
    expect(describeError(cycle)).toBe('non-error thrown: {"self":[Circular]}');
    const getter = Object.defineProperty({ ok: 1 }, 'bad', {
      enumerable: true,
      get() {
        throw new Error('no');
      },
    });
    expect(describeError(getter)).toBe('non-error thrown: {"ok":1,"bad":[unreadable]}');
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    expect(describeError(proxy)).toBe('non-error thrown: [unreadable object]');
    // Storable in Postgres text, which refuses NUL.
    expect(describeError('a\u0000b')).toBe('non-error thrown: a\uFFFDb');
    expect(describeError(new Error('x\u0000'))).toBe('Error: x\uFFFD');
    const huge = describeError('y'.repeat(1_000_000));
    expect(huge.length).toBe(MAX_DESCRIPTION);
    expect(huge.endsWith('…')).toBe(true);
  });
});

describe('the dispatcher under any thrown value', () => {
  const modes = [
    {
      mode: 'sync',
      wrap: (value: unknown) => () => {
        throw value;
      },
    },
    {
      mode: 'async',
      wrap: (value: unknown) => async () => {
        throw value;
      },
    },
  ] as const;

  it('records every throw or rejection, whatever the value, as a failed attempt; the process and other handlers carry on', async () => {
    const c = await memoryCoordinator({ retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 2 } });
    const calls = new Map<string, number>();
    const witnessed: string[] = [];
    const types: string[] = [];
    const handlers: string[] = [];
    for (const [i, { make }] of THROWN_VALUES.entries()) {
      for (const { mode, wrap } of modes) {
        const handler = `thrower_${mode}_${i}`;
        const type = `Thrown_${mode}_${i}`;
        types.push(type);
        handlers.push(handler);
        await c.registerHandler(
          type,
          (..._args: unknown[]) => {
            calls.set(handler, (calls.get(handler) ?? 0) + 1);
            return wrap(make())();
          },
          { name: handler },
        );
      }
    }
    await c.registerHandler(types, async function witness(e) {
      witnessed.push(e.eventType);
    });
    await c.publishEvents(types.map((eventType) => ({ eventType, aggregateId: eventType })));
    await c.waitForIdle({ timeoutMs: 60_000 });

    expect(escaped).toEqual([]);
    // Each called exactly maxAttempts times: nothing counted as done after a throw.
    expect(Object.fromEntries(calls)).toEqual(Object.fromEntries(handlers.map((h) => [h, 2])));
    expect(witnessed.sort()).toEqual([...types].sort());
    const dead = await c.getDeadLetters({ limit: 1000 });
    expect(dead.length).toBe(types.length);
    for (const d of dead) {
      expect(d.delivery.attempts).toBe(2);
      expect(d.delivery.lastError!.length).toBeGreaterThan(0);
      expect(d.delivery.lastError!.length).toBeLessThanOrEqual(MAX_DESCRIPTION);
    }
    const syncUndefined = dead.find((d) => d.delivery.handler === 'thrower_sync_0')!;
    expect(syncUndefined.delivery.lastError).toBe('non-error thrown: undefined');
    expect(c.metrics).toMatchObject({
      handled: types.length,
      failed: 2 * types.length,
      dead: types.length,
    });
    await c.shutdown();
  });

  it('a non-async handler throwing undefined is retried and dead-lettered like its async twin', async () => {
    const c = await memoryCoordinator({ retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 2 } });
    const attempts: number[] = [];
    await c.registerHandler('SyncThrow', function throwsUndefined(_e, ctx) {
      attempts.push(ctx.attempt);
      throw undefined;
    });
    await c.publishEvent({ eventType: 'SyncThrow', aggregateId: 'a' });
    await c.waitForIdle();
    expect(attempts).toEqual([1, 2, 3]);
    expect(c.metrics).toMatchObject({ handled: 0, failed: 3, dead: 1 });
    await c.shutdown();
  });

  it('a handler returning a hostile value (a Proxy whose traps throw, a revoked proxy) fails instead of escaping', async () => {
    const c = await memoryCoordinator({ retry: { maxAttempts: 1 } });
    const hostile = THROWN_VALUES.find((t) => t.name === 'a Proxy whose every trap throws')!;
    const revoked = THROWN_VALUES.find((t) => t.name === 'a revoked Proxy')!;
    await c.registerHandler('ReturnsHostile', (() => hostile.make()) as () => void, { name: 'hostile' });
    await c.registerHandler('ReturnsHostile', (() => revoked.make()) as () => void, { name: 'revoked' });
    await c.publishEvent({ eventType: 'ReturnsHostile', aggregateId: 'h' });
    await c.waitForIdle();
    expect(escaped).toEqual([]);
    const dead = await c.getDeadLetters();
    expect(dead.map((d) => d.delivery.handler).sort()).toEqual(['hostile', 'revoked']);
    expect(c.metrics).toMatchObject({ handled: 0, failed: 2, dead: 2 });
    await c.shutdown();
  });
});

describe('the console logger', () => {
  it('logs any value as a field, err included, without throwing', () => {
    const lines: string[] = [];
    const logger = createConsoleLogger({ level: 'info', write: (l) => lines.push(l) });
    // The huge values only cost time here: a logger writes what it is given.
    const cases = THROWN_VALUES.filter((t) => !/MB|100 000/.test(t.name));
    for (const { make } of cases) {
      logger.error({ err: make(), other: make() }, 'failed');
      const value = make();
      if (typeof value === 'object' && value !== null) logger.error(value, 'failed');
    }
    expect(lines.length).toBeGreaterThan(cases.length);
    for (const line of lines) expect(JSON.parse(line)).toMatchObject({ level: 50, msg: 'failed' });
  });

  it('logs the operator-only details of an evco error, which its message and toJSON leave out', () => {
    const lines: string[] = [];
    const logger = createConsoleLogger({ level: 'info', write: (l) => lines.push(l) });
    const error = new StoreUnavailableError('the SQLite file is gone', {
      details: { file: '/srv/app/events.db' },
    });
    logger.error({ err: error }, 'write failed');
    expect(JSON.parse(lines[0]!).err).toMatchObject({ details: { file: '/srv/app/events.db' } });
    expect(error.message).not.toContain('/srv');
    expect(JSON.stringify(error)).not.toContain('/srv');
  });
});
