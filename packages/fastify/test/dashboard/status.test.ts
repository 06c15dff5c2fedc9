import { describe, expect, it } from 'vitest';
import {
  coordinatorsOf,
  goneHandlers,
  lastMinute,
  rateSeries,
  ratesOf,
  toStatusView,
  toSubscriptionRows,
  withExpiry,
} from '../../dashboard/src/status.js';

const pluginStatus = {
  id: 'c-1',
  state: 'running',
  startedAt: '2026-11-28T09:00:00.000Z',
  lastPosition: '42',
  store: { name: 'sqlite', health: { healthy: true, latencyMs: 1, details: {} } },
  publisher: { name: 'redis', health: { healthy: false, latencyMs: 0, details: { error: 'ECONNREFUSED' } } },
  // The fleet's figures; `metrics.dead` is only what died in this process.
  counts: {
    published: 10,
    handled: 7,
    failed: 2,
    dead: 4,
    pending: 3,
    unprocessed: 2,
    inFlight: 1,
    lagMs: 1500,
  },
  metrics: { published: 10, handled: 7, failed: 2, dead: 1, retried: 1 },
  fleet: [
    { coordinatorId: 'c-2', self: false, lastSeenAt: '2026-11-28T09:02:30.000Z', handlers: ['audit'] },
    { coordinatorId: 'c-1', self: true, lastSeenAt: '2026-11-28T09:02:00.000Z', handlers: ['a', 'b'] },
  ],
  handlers: [
    {
      name: 'user.recordLastLogin',
      eventTypes: ['UserLoggedIn'],
      local: true,
      pending: 1,
      running: 0,
      dead: 1,
      orphaned: 0,
      lagMs: 900,
      lastError: { message: 'user u-1 is not in the directory (yet)', at: '2026-11-28T09:01:00.000Z' },
    },
    {
      name: 'audit',
      eventTypes: ['UserRegistered'],
      local: false,
      pending: 0,
      running: 0,
      dead: 0,
      orphaned: 4,
    },
  ],
};

const handlersReply = {
  subscriptions: [
    {
      handler: 'user.recordLastLogin',
      eventType: 'UserLoggedIn',
      ordering: 'aggregate',
      lastSeenBy: 'c-1',
      lastSeenAt: '2026-11-28T09:02:00.000Z',
      expiresAt: '2026-11-28T09:03:00.000Z',
    },
    {
      handler: 'audit',
      eventType: 'UserRegistered',
      ordering: 'none',
      lastSeenBy: 'c-2',
      lastSeenAt: '2026-11-28T08:00:00.000Z',
      expiresAt: '2026-11-28T08:01:00.000Z',
      expired: true,
    },
  ],
};

describe('toStatusView', () => {
  it('reads the plugin status: totals, handlers with lag and last error, adapters, fleet', () => {
    const view = toStatusView(pluginStatus);
    expect(view.totals).toEqual({
      published: 10,
      handled: 7,
      failed: 2,
      dead: 4,
      pending: 3,
      unprocessed: 2,
      inFlight: 1,
      lagMs: 1500,
    });
    expect(view.handlers[0]).toEqual({
      name: 'user.recordLastLogin',
      eventTypes: ['UserLoggedIn'],
      local: true,
      pending: 1,
      running: 0,
      dead: 1,
      orphaned: 0,
      lagMs: 900,
      lastError: 'user u-1 is not in the directory (yet)',
    });
    expect(view.handlers[1]).toMatchObject({ name: 'audit', local: false, orphaned: 4, lagMs: undefined });
    expect(view.store).toEqual({ name: 'sqlite', healthy: true, detail: undefined });
    expect(view.publisher).toEqual({ name: 'redis', healthy: false, detail: 'ECONNREFUSED' });
    expect(view.coordinators.map((c) => [c.id, c.self, c.handlers, c.lastSeenAt])).toEqual([
      ['c-2', false, 1, '2026-11-28T09:02:30.000Z'],
      ['c-1', true, 2, '2026-11-28T09:02:00.000Z'],
    ]);
    // Their expiry comes from the subscriptions they renew (GET {prefix}/handlers).
    const subscriptions = toSubscriptionRows(handlersReply.subscriptions);
    expect(subscriptions.map((x) => [x.handler, x.expired])).toEqual([
      ['user.recordLastLogin', undefined],
      ['audit', true],
    ]);
    expect(withExpiry(view.coordinators, subscriptions).map((c) => c.expiresAt)).toEqual([
      '2026-11-28T08:01:00.000Z',
      '2026-11-28T09:03:00.000Z',
    ]);
    expect(view.lastPosition).toBe('42');
  });

  it("takes each coordinator's expiry and verdict from the status when it sends them (no subscriptions needed)", () => {
    const view = toStatusView({
      ...pluginStatus,
      fleet: [
        {
          coordinatorId: 'c-1',
          self: true,
          lastSeenAt: '2026-11-28T09:02:00.000Z',
          expiresAt: '2026-11-29T09:02:00.000Z',
          expired: false,
          handlers: ['a'],
        },
        {
          coordinatorId: 'c-9',
          self: false,
          lastSeenAt: '2026-11-28T08:00:00.000Z',
          expiresAt: '2026-11-28T08:00:02.000Z',
          expired: true,
          handlers: ['legacy'],
        },
      ],
    });
    expect(view.coordinators.map((c) => [c.id, c.expiresAt, c.expired])).toEqual([
      ['c-1', '2026-11-29T09:02:00.000Z', false],
      ['c-9', '2026-11-28T08:00:02.000Z', true],
    ]);
    // An older server's fleet without them: the verdict is left open, not "alive".
    expect(toStatusView(pluginStatus).coordinators.map((c) => c.expired)).toEqual([undefined, undefined]);
  });

  it('while the store does not answer, the fleet figures are unknown, not the zeros the server sends', () => {
    // What GET /evco/status answers during a Postgres outage: placeholder zeros, store unhealthy.
    const down = {
      ...pluginStatus,
      store: { name: 'postgres', health: { healthy: false, latencyMs: 3 } },
      counts: { ...pluginStatus.counts, dead: 0, pending: 0, unprocessed: 0, lagMs: 0 },
      lastPosition: null,
    };
    const view = toStatusView(down);
    expect(view.fleetUnknown).toBe(true);
    expect(view.totals).toEqual({
      published: 10,
      handled: 7,
      failed: 2,
      dead: undefined,
      pending: undefined,
      unprocessed: undefined,
      inFlight: 1,
      lagMs: undefined,
    });
    expect(toStatusView(pluginStatus).fleetUnknown).toBe(false);
    expect(view.statsUnavailable).toBe(false);
  });

  it('while only the stats query fails, the fleet figures are unknown too (null from the server), with the reason', () => {
    // What GET /evco/status answers (to an admin) when the store is up but its counts timed out.
    const uncounted = {
      ...pluginStatus,
      fleetStats: { available: false, error: 'canceling statement due to statement timeout' },
      counts: {
        ...pluginStatus.counts,
        dead: null,
        pending: null,
        unprocessed: null,
        orphaned: null,
        lagMs: null,
      },
      handlers: pluginStatus.handlers.map((h) => ({
        ...h,
        pending: null,
        running: null,
        dead: null,
        orphaned: null,
      })),
      lastPosition: null,
    };
    const view = toStatusView(uncounted);
    expect(view.store?.healthy).toBe(true);
    expect([view.fleetUnknown, view.statsUnavailable, view.statsError]).toEqual([
      true,
      true,
      'canceling statement due to statement timeout',
    ]);
    expect([view.totals.dead, view.totals.pending, view.totals.lagMs, view.lastPosition]).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
    expect(toStatusView({ ...pluginStatus, fleetStats: { available: true } }).fleetUnknown).toBe(false);
  });

  it('reads the older nested shape (coordinator.counts) and a plain-string last error', () => {
    const view = toStatusView({
      service: { name: 'evco-demo' },
      coordinator: {
        id: 'c-9',
        state: 'stopping',
        counts: { published: 3, handled: 2, dead: 0 },
        handlers: [
          { name: 'h', eventTypes: [], pending: 0, running: 1, dead: 0, orphaned: 0, lastError: 'boom' },
        ],
      },
    });
    expect(view.state).toBe('stopping');
    expect(view.totals.published).toBe(3);
    expect(view.totals.pending).toBeUndefined();
    expect(view.handlers[0]?.lastError).toBe('boom');
    expect(view.coordinators).toEqual([]);
  });

  it('reads whether the admin routes are on (and the hint when off); a server that does not say counts as on', () => {
    expect(
      toStatusView({ ...pluginStatus, adminRoutes: { enabled: false, hint: 'set X' } }).adminRoutes,
    ).toEqual({
      enabled: false,
      hint: 'set X',
    });
    expect(toStatusView({ ...pluginStatus, adminRoutes: { enabled: true } }).adminRoutes).toEqual({
      enabled: true,
      hint: undefined,
    });
    expect(toStatusView(pluginStatus).adminRoutes).toEqual({ enabled: true, hint: undefined });
  });

  it('draws nothing rather than failing on a reply that is not a status', () => {
    for (const reply of [null, 'text', 42, [], { handlers: 'no' }]) {
      const view = toStatusView(reply);
      expect(view.handlers).toEqual([]);
      expect(view.totals.published).toBeUndefined();
    }
  });
});

describe('goneHandlers', () => {
  it('names the handlers whose every subscription expired; an unknown expiry is not gone', () => {
    const view = toStatusView({
      ...pluginStatus,
      handlers: [
        { ...pluginStatus.handlers[0], subscriptionExpiresAt: '2026-11-29T09:00:00.000Z' },
        { ...pluginStatus.handlers[1], subscriptionExpiresAt: '2026-11-28T08:00:00.000Z' },
        { name: 'unknown', eventTypes: [], subscriptionExpiresAt: null },
      ],
    });
    expect([...goneHandlers(view.handlers, Date.parse('2026-11-28T09:00:00.000Z'))]).toEqual(['audit']);
  });
});

describe('coordinatorsOf', () => {
  it('groups subscriptions by the coordinator renewing them, latest renewal and expiry, this process first', () => {
    const rows = coordinatorsOf(
      [
        {
          handler: 'a',
          eventType: 'X',
          ordering: undefined,
          expired: undefined,
          lastSeenBy: 'z-remote',
          lastSeenAt: '2026-01-01T00:00:01Z',
          expiresAt: '2026-01-01T00:01:01Z',
        },
        {
          handler: 'a',
          eventType: 'Y',
          ordering: undefined,
          expired: undefined,
          lastSeenBy: 'z-remote',
          lastSeenAt: '2026-01-01T00:00:05Z',
          expiresAt: '2026-01-01T00:01:05Z',
        },
        {
          handler: 'b',
          eventType: 'X',
          ordering: undefined,
          expired: undefined,
          lastSeenBy: 'z-remote',
          lastSeenAt: '2026-01-01T00:00:03Z',
          expiresAt: '2026-01-01T00:01:03Z',
        },
        {
          handler: 'c',
          eventType: 'X',
          ordering: undefined,
          expired: undefined,
          lastSeenBy: 'me',
          lastSeenAt: '2026-01-01T00:00:00Z',
          expiresAt: '2026-01-01T00:01:00Z',
        },
      ],
      'me',
    );
    expect(rows).toEqual([
      {
        id: 'me',
        handlers: 1,
        self: true,
        lastSeenAt: '2026-01-01T00:00:00Z',
        expiresAt: '2026-01-01T00:01:00Z',
      },
      {
        id: 'z-remote',
        handlers: 2,
        self: false,
        lastSeenAt: '2026-01-01T00:00:05Z',
        expiresAt: '2026-01-01T00:01:05Z',
      },
    ]);
  });
});

describe('ratesOf', () => {
  it('gives events per second over the samples of the last window', () => {
    const samples = [
      { at: 0, published: 0, handled: 0 },
      { at: 1000, published: 10, handled: 5 },
      { at: 2000, published: 30, handled: 25 },
      { at: 3000, published: 30, handled: 35 },
    ];
    expect(ratesOf(samples, 5000)).toEqual({ published: 10, handled: 35 / 3 });
    // Only the last two seconds count with a 2 s window.
    expect(ratesOf(samples, 2000)).toEqual({ published: 10, handled: 15 });
  });

  it('restarts after a counter went down (the server restarted) and needs two samples', () => {
    expect(ratesOf([])).toBeUndefined();
    expect(ratesOf([{ at: 0, published: 5, handled: 5 }])).toBeUndefined();
    const samples = [
      { at: 0, published: 100, handled: 100 },
      { at: 1000, published: 2, handled: 1 },
      { at: 2000, published: 6, handled: 3 },
    ];
    expect(ratesOf(samples)).toEqual({ published: 4, handled: 2 });
  });

  it('rateSeries gives one rate per poll, a restart as 0', () => {
    const samples = [
      { at: 0, published: 0, handled: 0 },
      { at: 500, published: 5, handled: 0 },
      { at: 1500, published: 1, handled: 0 },
    ];
    expect(rateSeries(samples, 'published')).toEqual([10, 0]);
  });
});

describe('lastMinute', () => {
  it('keeps the last points and pads a short series in front', () => {
    expect(lastMinute([1, 2], 4)).toEqual([0, 0, 1, 2]);
    expect(lastMinute([1, 2, 3, 4, 5], 4)).toEqual([2, 3, 4, 5]);
  });
});
