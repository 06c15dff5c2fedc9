import { describe, expect, it } from 'vitest';
import {
  advanceReplay,
  deepFreezeJson,
  maskedMessage,
  planReplayPage,
  safeHealth,
  summarizeStats,
  unhealthyStatus,
} from '../src/adapter.js';

const at = (minute: number) => new Date(Date.UTC(2026, 0, 1, 0, minute));

describe('summarizeStats', () => {
  it('adds up rows of one handler, lists live handlers, marks pending of dead subscriptions orphaned', () => {
    const stats = summarizeStats({
      lastPosition: '42',
      unprocessedEvents: 7,
      backlog: [
        { handler: 'mailer', pending: 2, oldestPendingAt: at(5) },
        { handler: 'mailer', running: 1, oldestPendingAt: at(3) },
        { handler: 'mailer', dead: 4 },
        { handler: 'billing', pending: 3, running: 0, dead: 1, oldestPendingAt: at(9) },
        { handler: 'audit', dead: 2, oldestPendingAt: null },
      ],
      live: ['mailer', 'search', 'mailer'],
    });
    expect(stats).toEqual({
      lastPosition: '42',
      pending: 5,
      running: 1,
      dead: 7,
      unprocessedEvents: 7,
      oldestPendingAt: at(3),
      orphaned: 3,
      handlers: [
        { handler: 'audit', pending: 0, running: 0, dead: 2, orphaned: 0, oldestPendingAt: null },
        { handler: 'billing', pending: 3, running: 0, dead: 1, orphaned: 3, oldestPendingAt: at(9) },
        { handler: 'mailer', pending: 2, running: 1, dead: 4, orphaned: 0, oldestPendingAt: at(3) },
        { handler: 'search', pending: 0, running: 0, dead: 0, orphaned: 0, oldestPendingAt: null },
      ],
    });
  });

  it('leaves out a handler whose every delivery is done unless it is live', () => {
    const stats = summarizeStats({
      lastPosition: '3',
      unprocessedEvents: 0,
      backlog: [
        { handler: 'gone', pending: 0, running: 0, dead: 0 },
        { handler: 'kept', pending: 0, running: 0, dead: 0 },
      ],
      live: ['kept'],
    });
    expect(stats.handlers.map((h) => h.handler)).toEqual(['kept']);
    expect([stats.pending, stats.orphaned, stats.oldestPendingAt]).toEqual([0, 0, null]);
  });

  it('an empty store: no handlers, zero counts, no last position', () => {
    expect(summarizeStats({ lastPosition: null, unprocessedEvents: 0, backlog: [], live: [] })).toEqual({
      lastPosition: null,
      pending: 0,
      running: 0,
      dead: 0,
      unprocessedEvents: 0,
      oldestPendingAt: null,
      orphaned: 0,
      handlers: [],
    });
  });

  it('sorts handlers as every view does (localeCompare), whatever order the rows came in', () => {
    const stats = summarizeStats({
      lastPosition: '1',
      unprocessedEvents: 1,
      backlog: ['b', 'B', 'a', 'A'].map((handler) => ({ handler, pending: 1 })),
      live: [],
    });
    const names = stats.handlers.map((h) => h.handler);
    expect(names).toEqual([...names].sort((x, y) => x.localeCompare(y)));
    expect(names).toHaveLength(4);
    expect(stats.orphaned).toBe(4);
  });
});

describe('planReplayPage / advanceReplay', () => {
  const job = (eventsMatched: number, maxEvents = 10) => ({
    maxEvents,
    eventsMatched,
    deliveriesQueued: 5,
    cursor: 'c0' as string | null,
  });

  it('takes a page within what maxEvents leaves and reads one row more', () => {
    expect(planReplayPage(job(0), 4)).toEqual({ take: 4, limit: 5, remaining: 10 });
    expect(planReplayPage(job(8), 4)).toEqual({ take: 2, limit: 3, remaining: 2 });
    expect(planReplayPage(job(10), 4)).toEqual({ take: 0, limit: 1, remaining: 0 });
  });

  it('a page size below 1 still makes progress', () => {
    expect(planReplayPage(job(0), 0).take).toBe(1);
    expect(planReplayPage(job(0), -3).take).toBe(1);
  });

  it('a full page with a row past it: still running, cursor and counters advanced', () => {
    const plan = planReplayPage(job(2), 3);
    expect(advanceReplay(job(2), plan, { found: 4, last: 'c3', queued: 6 })).toEqual({
      status: 'running',
      cursor: 'c3',
      eventsMatched: 5,
      deliveriesQueued: 11,
      truncated: false,
    });
  });

  it('fewer rows than the page: done, not truncated', () => {
    const plan = planReplayPage(job(2), 3);
    expect(advanceReplay(job(2), plan, { found: 2, last: 'c2', queued: 2 })).toEqual({
      status: 'done',
      cursor: 'c2',
      eventsMatched: 4,
      deliveriesQueued: 7,
      truncated: false,
    });
  });

  it('more matching events than maxEvents allows: done and truncated', () => {
    const plan = planReplayPage(job(8), 5);
    expect(advanceReplay(job(8), plan, { found: 3, last: 'c10', queued: 1 })).toMatchObject({
      status: 'done',
      eventsMatched: 10,
      truncated: true,
    });
    // Exactly maxEvents matching events: done, nothing cut off.
    expect(advanceReplay(job(8), plan, { found: 2, last: 'c10', queued: 1 })).toMatchObject({
      status: 'done',
      truncated: false,
    });
  });

  it('an empty page keeps the previous cursor', () => {
    const plan = planReplayPage(job(0), 3);
    expect(advanceReplay(job(0), plan, { found: 0, last: undefined, queued: 0 })).toEqual({
      status: 'done',
      cursor: 'c0',
      eventsMatched: 0,
      deliveriesQueued: 5,
      truncated: false,
    });
  });
});

describe('deepFreezeJson', () => {
  it('freezes parsed JSON at every depth, in place', () => {
    const value = JSON.parse('{"a":{"b":[1,{"c":"d"}]},"e":[[]]}');
    expect(deepFreezeJson(value)).toBe(value);
    expect(Object.isFrozen(value)).toBe(true);
    expect(Object.isFrozen(value.a)).toBe(true);
    expect(Object.isFrozen(value.a.b)).toBe(true);
    expect(Object.isFrozen(value.a.b[1])).toBe(true);
    expect(Object.isFrozen(value.e[0])).toBe(true);
    expect(() => {
      value.a.b[1].c = 'changed';
    }).toThrow(TypeError);
  });

  it('passes primitives and null through', () => {
    expect(deepFreezeJson(3)).toBe(3);
    expect(deepFreezeJson(null)).toBeNull();
    expect(deepFreezeJson('x')).toBe('x');
  });
});

describe('masked health-check errors', () => {
  it('maskedMessage masks credentials in an error or a thrown value', () => {
    expect(maskedMessage(new Error('no route to postgres://app:s3cret@db/app'))).toBe(
      'no route to postgres://app:***@db/app',
    );
    expect(maskedMessage('password=hunter2 refused')).toBe('password=*** refused');
  });

  it('unhealthyStatus keeps the adapter details next to the masked error, with the time spent', () => {
    const started = performance.now() - 50;
    const status = unhealthyStatus(new Error('connect postgres://u:pw@h/d failed'), started, {
      store: 'x',
      closed: false,
    });
    expect(status.healthy).toBe(false);
    expect(status.latencyMs).toBeGreaterThanOrEqual(50);
    expect(status.details).toEqual({
      store: 'x',
      closed: false,
      error: 'connect postgres://u:***@h/d failed',
    });
  });

  it('safeHealth returns a check that answers as is, and a check that throws as unhealthy and masked', async () => {
    const ok = { healthy: true, latencyMs: 1, details: { store: 'x' } };
    expect(await safeHealth(async () => ok)).toBe(ok);
    const failed = await safeHealth(async () => {
      throw new Error('token=abc123 expired');
    });
    expect(failed).toMatchObject({ healthy: false, details: { error: 'token=*** expired' } });
  });
});
