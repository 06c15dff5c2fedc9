import { randomUUID } from 'node:crypto';
import {
  createCoordinator,
  defineEvent,
  EvcoError,
  MiddlewareRejectedError,
  NotFoundError,
} from '@evco/core';
import { createMemoryStore } from '@evco/store-memory';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { resolveError } from '../src/errors.js';
import { auth, coordinatorOptions, startApp } from './helpers.js';

const apps: FastifyInstance[] = [];
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
});

/** An app whose handlers tell a small story: an order is placed, stock is reserved, an invoice fails once per flag. */
async function storyApp(options: Parameters<typeof startApp>[0] = {}) {
  const coordinator = await createCoordinator(coordinatorOptions());
  const failing = new Set<string>();
  await coordinator.registerHandler('OrderPlaced', async function reserveStock(event, context) {
    await context.publish({ eventType: 'StockReserved', aggregateId: event.aggregateId, eventData: {} });
  });
  await coordinator.registerHandler('StockReserved', async function shipOrder(event, context) {
    await context.publish({ eventType: 'OrderShipped', aggregateId: event.aggregateId, eventData: {} });
  });
  await coordinator.registerHandler('OrderPlaced', async function sendInvoice(event) {
    if (failing.has(event.aggregateId)) throw new Error(`invoice service refused ${event.aggregateId}`);
  });
  const { app } = await startApp({ coordinator, ...options });
  apps.push(app);
  return { app, coordinator, failing };
}

function errorOf(res: LightMyRequestResponse) {
  const body = res.json() as { error: { code: string; message: string; issues?: Array<{ path: string }> } };
  expect(Object.keys(body)).toEqual(['error']);
  return body.error;
}

const order = (aggregateId = randomUUID()) => ({
  eventType: 'OrderPlaced',
  aggregateId,
  eventData: { total: 42 },
});

async function publish(app: FastifyInstance, body: unknown) {
  const res = await app.inject({
    method: 'POST',
    url: '/evco/events',
    payload: body as object,
    headers: auth,
  });
  expect(res.statusCode, res.body).toBe(201);
  return res.json();
}

describe('GET /status', () => {
  it('shows handlers, counts, metrics and the fleet; health details only to an authorized request', async () => {
    const { app, coordinator } = await storyApp();
    await publish(app, order());
    await coordinator.waitForIdle();
    const res = await app.inject('/evco/status');
    expect(res.statusCode).toBe(200);
    const status = res.json();
    expect(status).toMatchObject({
      admin: false,
      id: coordinator.id,
      state: 'running',
      store: { name: 'memory', health: { healthy: true, latencyMs: expect.any(Number) } },
      metrics: { published: 3, handled: 3 },
      counts: { published: 3, handled: 3, dead: 0 },
      lastPosition: expect.stringMatching(/^\d+$/),
    });
    expect(status.store.health.details).toBeUndefined();
    expect(status.handlers.map((h: { name: string }) => h.name)).toEqual([
      'reserveStock',
      'sendInvoice',
      'shipOrder',
    ]);
    expect(status.fleet).toEqual([
      {
        coordinatorId: coordinator.id,
        self: true,
        lastSeenAt: expect.any(String),
        expiresAt: expect.any(String),
        expired: false,
        handlers: ['reserveStock', 'sendInvoice', 'shipOrder'],
      },
    ]);
    const privileged = (await app.inject({ url: '/evco/status', headers: auth })).json();
    expect(privileged.admin).toBe(true);
    expect(privileged.store.health.details).toMatchObject({ store: 'memory' });
  });

  it('says whether the admin routes are on, with the hint when they are off, so a dashboard can say so before a click', async () => {
    const { app } = await storyApp();
    expect((await app.inject('/evco/status')).json().adminRoutes).toEqual({ enabled: true });
    const { app: off } = await storyApp({ auth: undefined, authHint: 'set EVCO_ADMIN_TOKEN' });
    expect((await off.inject('/evco/status')).json().adminRoutes).toEqual({
      enabled: false,
      hint: 'set EVCO_ADMIN_TOKEN',
    });
  });

  it("says when each coordinator of the fleet expires, so a gone one reads as gone without the handlers' list", async () => {
    const store = createMemoryStore();
    let aheadMs = 0;
    const coordinator = await createCoordinator(
      coordinatorOptions({ store, clock: () => new Date(Date.now() + aheadMs) }),
    );
    // A process that ran a handler and went away: nobody renews its subscription any more.
    const gone = await createCoordinator(
      coordinatorOptions({ store, closeAdapters: false, subscriptionTtlMs: 1000 }),
    );
    await gone.registerHandler('OrderPlaced', async function legacyProjection() {});
    await gone.shutdown();
    const { app } = await startApp({ coordinator, protectReads: true });
    apps.push(app);
    await coordinator.registerHandler('OrderPlaced', async function reserveStock() {});
    aheadMs = 5000;
    // Public: the dashboard reads it even when `protectReads` keeps the subscriptions from it.
    const fleet = (await app.inject('/evco/status')).json().fleet;
    expect(fleet).toEqual([
      {
        coordinatorId: coordinator.id,
        self: true,
        lastSeenAt: expect.any(String),
        expiresAt: expect.any(String),
        expired: false,
        handlers: ['reserveStock'],
      },
      {
        coordinatorId: gone.id,
        self: false,
        lastSeenAt: expect.any(String),
        expiresAt: expect.any(String),
        expired: true,
        handlers: ['legacyProjection'],
      },
    ]);
    expect(Date.parse(fleet[1].expiresAt) - Date.parse(fleet[1].lastSeenAt)).toBe(1000);
  });

  it('marks the fleet figures unknown (null, the reason for admins only) when only the stats query fails', async () => {
    let failStats = false;
    const memory = createMemoryStore();
    const store = new Proxy(memory, {
      get(target, key) {
        if (key === 'stats' && failStats)
          return () => Promise.reject(new Error('statement timeout at db.internal:5432'));
        const value = Reflect.get(target, key, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const coordinator = await createCoordinator(coordinatorOptions({ store }));
    await coordinator.registerHandler('OrderPlaced', async function sendInvoice() {});
    const { app } = await startApp({ coordinator });
    apps.push(app);
    expect((await app.inject('/evco/status')).json().fleetStats).toEqual({ available: true });
    failStats = true;
    const res = await app.inject('/evco/status');
    expect(res.statusCode).toBe(200);
    const status = res.json();
    expect(status).toMatchObject({
      store: { health: { healthy: true } },
      fleetStats: { available: false },
      counts: { dead: null, pending: null, unprocessed: null, orphaned: null, lagMs: null },
      lastPosition: null,
    });
    expect(status.fleetStats.error).toBeUndefined();
    expect(status.handlers).toEqual([
      expect.objectContaining({
        name: 'sendInvoice',
        pending: null,
        running: null,
        dead: null,
        orphaned: null,
      }),
    ]);
    const privileged = (await app.inject({ url: '/evco/status', headers: auth })).json();
    expect(privileged.fleetStats).toEqual({
      available: false,
      error: 'statement timeout at db.internal:5432',
    });
  });

  it("adds the app's facts from describe(), the private ones only for admins", async () => {
    const { app } = await storyApp({
      describe: ({ admin }) => ({ name: 'shop', ...(admin ? { database: '/srv/shop/events.db' } : {}) }),
    });
    expect((await app.inject('/evco/status')).json().service).toEqual({ name: 'shop' });
    expect((await app.inject({ url: '/evco/status', headers: auth })).json().service).toEqual({
      name: 'shop',
      database: '/srv/shop/events.db',
    });
  });
});

describe('POST /events', () => {
  it('publishes one event or a batch behind auth; 401 without it, 404 with no auth configured', async () => {
    const { app } = await storyApp();
    const one = await publish(app, order());
    expect(one).toEqual({
      eventId: expect.any(String),
      eventType: 'OrderPlaced',
      position: expect.stringMatching(/^\d+$/),
      deliveries: 2,
      correlationId: one.eventId,
    });
    const batch = await publish(app, { events: [order(), order()] });
    expect(batch.events).toHaveLength(2);

    const anonymous = await app.inject({ method: 'POST', url: '/evco/events', payload: order() });
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.headers['www-authenticate']).toMatch(/^Bearer/);
    expect(errorOf(anonymous).code).toBe('UNAUTHORIZED');
    const wrong = await app.inject({
      method: 'POST',
      url: '/evco/events',
      payload: order(),
      headers: { authorization: 'Bearer not-the-token-at-all-0000' },
    });
    expect(wrong.statusCode).toBe(401);

    const { app: open } = await storyApp({ auth: undefined, authHint: 'set EVCO_ADMIN_TOKEN' });
    const off = await open.inject({ method: 'POST', url: '/evco/events', payload: order(), headers: auth });
    expect(off.statusCode).toBe(404);
    expect(errorOf(off)).toMatchObject({
      code: 'ADMIN_DISABLED',
      message: expect.stringContaining('EVCO_ADMIN_TOKEN'),
    });
  });

  it('checks the envelope, and the contracts when the app names its event types', async () => {
    const OrderPlaced = defineEvent('OrderPlaced', z.strictObject({ total: z.number().positive() }));
    const { app } = await storyApp({
      publish: { eventTypes: { orders: [OrderPlaced] }, requireAuth: false },
    });
    const ok = await app.inject({ method: 'POST', url: '/evco/events', payload: order() });
    expect(ok.statusCode).toBe(201);
    const bad = await app.inject({
      method: 'POST',
      url: '/evco/events',
      payload: { eventType: 'OrderPlaced', aggregateId: 'o-1', eventData: { total: -1, note: 'x' } },
    });
    expect(errorOf(bad)).toMatchObject({ code: 'EVENT_VALIDATION' });
    expect(
      errorOf(bad)
        .issues!.map((i) => i.path)
        .sort(),
    ).toEqual(['eventData.note', 'eventData.total']);
    // A missing field says so, in the envelope and in the data, rather than zod's "Invalid input".
    const missing = await app.inject({
      method: 'POST',
      url: '/evco/events',
      payload: { eventType: 'OrderPlaced', eventData: {} },
    });
    expect(errorOf(missing).issues).toEqual(
      expect.arrayContaining([
        { path: 'aggregateId', message: 'is required' },
        { path: 'eventData.total', message: 'is required' },
      ]),
    );
    const unknown = await app.inject({
      method: 'POST',
      url: '/evco/events',
      payload: { eventType: 'OrderTeleported', aggregateId: 'o-1' },
    });
    expect(unknown.json().error).toMatchObject({ code: 'UNKNOWN_EVENT_TYPE', knownTypes: ['OrderPlaced'] });

    const { app: any } = await storyApp();
    const envelope = await any.inject({
      method: 'POST',
      url: '/evco/events',
      headers: auth,
      payload: { eventType: 'not a type', eventData: { n: 1 } },
    });
    expect(
      errorOf(envelope)
        .issues!.map((i) => i.path)
        .sort(),
    ).toEqual(['aggregateId', 'eventType']);
  });

  it('is left out with publish: false', async () => {
    const { app } = await storyApp({ publish: false });
    const res = await app.inject({ method: 'POST', url: '/evco/events', payload: order(), headers: auth });
    expect([res.statusCode, errorOf(res).code]).toEqual([404, 'NOT_FOUND']);
  });

  it("answers 422 MIDDLEWARE_REJECTED for a middleware's veto, 500 for a middleware that fails", async () => {
    const { app, coordinator } = await storyApp();
    coordinator.eventBus.addMiddleware({
      name: 'limits',
      beforePublish(event) {
        if (event.eventData.total === 0)
          throw new MiddlewareRejectedError('an order needs a total', { middleware: 'limits' });
        if (event.eventData.total === -1) throw new Error('limits table missing');
        return event;
      },
    });
    const vetoed = await app.inject({
      method: 'POST',
      url: '/evco/events',
      payload: { ...order(), eventData: { total: 0 } },
      headers: auth,
    });
    expect([vetoed.statusCode, errorOf(vetoed)]).toEqual([
      422,
      { code: 'MIDDLEWARE_REJECTED', message: '[evco:core] limits: an order needs a total' },
    ]);
    const broken = await app.inject({
      method: 'POST',
      url: '/evco/events',
      payload: { ...order(), eventData: { total: -1 } },
      headers: auth,
    });
    expect([broken.statusCode, errorOf(broken).code]).toEqual([500, 'INTERNAL']);
    expect(await coordinator.getEventHistory()).toEqual([]);
  });

  it('answers 415 for a body that is not JSON (text/plain included) and 400 for broken JSON', async () => {
    const { app } = await storyApp();
    for (const url of ['/evco/events', '/evco/dead-letters/retry', '/evco/replays']) {
      for (const type of ['text/plain', 'text/csv', 'application/x-www-form-urlencoded']) {
        const res = await app.inject({
          method: 'POST',
          url,
          payload: '{"eventType":"OrderPlaced"}',
          headers: { ...auth, 'content-type': type },
        });
        expect([res.statusCode, errorOf(res).code], `${url} ${type}`).toEqual([
          415,
          'UNSUPPORTED_MEDIA_TYPE',
        ]);
      }
    }
    const broken = await app.inject({
      method: 'POST',
      url: '/evco/events',
      payload: '{"eventType": ',
      headers: { ...auth, 'content-type': 'application/json' },
    });
    expect([broken.statusCode, errorOf(broken).code]).toEqual([400, 'INVALID_JSON']);
  });
});

describe('GET /events', () => {
  it('says what retention removed from the range, and so does a replay over it', async () => {
    const { app, coordinator } = await storyApp();
    await coordinator.publishEvent({
      eventType: 'OrderPlaced',
      aggregateId: randomUUID(),
      eventData: {},
      occurredAt: '2020-01-01T00:00:00Z',
    });
    await coordinator.waitForIdle();
    const before = new Date('2021-01-01T00:00:00Z');
    const { removed } = await coordinator.pruneEvents({ before, types: ['OrderPlaced'] });
    expect(removed).toBe(1);
    const page = (await app.inject('/evco/events?eventType=OrderPlaced')).json();
    expect(page.events).toEqual([]);
    expect(page.pruned).toEqual([
      {
        eventType: 'OrderPlaced',
        before: before.toISOString(),
        removed: 1,
        lastPrunedAt: expect.any(String),
      },
    ]);
    const later = (await app.inject('/evco/events?eventType=OrderPlaced&from=2022-01-01T00:00:00Z')).json();
    expect(later.pruned).toEqual([]);
    const replay = await app.inject({
      method: 'POST',
      url: '/evco/replays',
      headers: auth,
      payload: { from: '2019-01-01T00:00:00Z', to: '2022-01-01T00:00:00Z' },
    });
    expect(replay.statusCode).toBe(202);
    expect(replay.json().pruned.map((p: { eventType: string }) => p.eventType)).toEqual(['OrderPlaced']);
  });

  it('filters by type, aggregate and time, and pages with an opaque cursor', async () => {
    const { app, coordinator } = await storyApp();
    const ids = [randomUUID(), randomUUID(), randomUUID()];
    for (const id of ids) await publish(app, order(id));
    await coordinator.waitForIdle();
    const all = (await app.inject('/evco/events?limit=1000')).json();
    expect(all.events).toHaveLength(9);
    const types = (await app.inject('/evco/events?eventType=OrderShipped&eventType=StockReserved')).json();
    expect(types.events).toHaveLength(6);
    const one = (await app.inject(`/evco/events?aggregateId=${ids[1]}`)).json();
    expect(one.events.map((e: { eventType: string }) => e.eventType)).toEqual([
      'OrderPlaced',
      'StockReserved',
      'OrderShipped',
    ]);
    const future = encodeURIComponent(new Date(Date.now() + 60_000).toISOString());
    expect((await app.inject(`/evco/events?from=${future}`)).json().events).toEqual([]);

    const seen: string[] = [];
    let url = '/evco/events?limit=4&order=desc';
    for (let page = 0; page < 5; page++) {
      const body = (await app.inject(url)).json();
      seen.push(...body.events.map((e: { position: string }) => e.position));
      if (!body.hasMore) break;
      url = `/evco/events?limit=4&cursor=${body.nextCursor}`;
    }
    expect(seen).toEqual(all.events.map((e: { position: string }) => e.position).reverse());

    const bad = await app.inject('/evco/events?limit=0&from=yesterday&nope=1');
    expect(
      errorOf(bad)
        .issues!.map((i) => i.path)
        .sort(),
    ).toEqual(['from', 'limit', 'nope']);
  });

  it('filters by correlation id: one flow', async () => {
    const { app, coordinator } = await storyApp();
    const first = await publish(app, order());
    await publish(app, order());
    await coordinator.waitForIdle();
    const flow = (await app.inject(`/evco/events?correlationId=${first.correlationId}`)).json();
    expect(flow.events.map((e: { eventType: string }) => e.eventType)).toEqual([
      'OrderPlaced',
      'StockReserved',
      'OrderShipped',
    ]);
  });
});

describe('GET /events/:id', () => {
  it('returns the event, its deliveries and its causation tree', async () => {
    const { app, coordinator } = await storyApp();
    const placed = await publish(app, order());
    await coordinator.waitForIdle();
    const flow = (
      await app.inject(
        `/evco/events?aggregateId=${(await app.inject('/evco/events')).json().events[0].aggregateId}`,
      )
    ).json();
    const reserved = flow.events[1];
    const details = (await app.inject(`/evco/events/${reserved.id}`)).json();
    expect(details.event.id).toBe(reserved.id);
    expect(details.causes.map((e: { id: string }) => e.id)).toEqual([placed.eventId]);
    expect(details.effects).toEqual([
      { event: expect.objectContaining({ eventType: 'OrderShipped' }), children: [] },
    ]);
    // Done deliveries are kept only by some stores; open and dead ones always (see the dead-letter case).
    expect(Array.isArray(details.deliveries)).toBe(true);
    const root = (await app.inject(`/evco/events/${placed.eventId}`)).json();
    expect(root.causes).toEqual([]);
    expect(root.effects[0].children[0].event.eventType).toBe('OrderShipped');
  });

  it('answers 404 NOT_FOUND for an unknown id', async () => {
    const { app } = await storyApp();
    const id = randomUUID();
    const res = await app.inject(`/evco/events/${id}`);
    expect([res.statusCode, errorOf(res)]).toEqual([
      404,
      { code: 'NOT_FOUND', message: `[evco:fastify] no event with id "${id}"` },
    ]);
  });
});

describe('unprocessed events and dead letters', () => {
  it('says hasMore only when there is a next page: a listing that ends at the limit ends there', async () => {
    const { app, coordinator, failing } = await storyApp();
    const ids = [randomUUID(), randomUUID()];
    for (const id of ids) {
      failing.add(id);
      await publish(app, order(id));
    }
    await coordinator.waitForIdle();
    type Page = { nextCursor: string | null; hasMore: boolean };
    const get = async (url: string) => (await app.inject(url)).json();

    const exact = await get('/evco/events?limit=6');
    expect([exact.events.length, exact.hasMore]).toEqual([6, false]);
    // The history's cursor still continues after the page, for clients that poll for new events.
    expect((await get(`/evco/events?cursor=${exact.nextCursor}`)).events).toEqual([]);
    const cut = await get('/evco/events?limit=5');
    expect([cut.events.length, cut.hasMore]).toEqual([5, true]);
    const tail = await get(`/evco/events?limit=5&cursor=${cut.nextCursor}`);
    expect([tail.events.length, tail.hasMore]).toEqual([1, false]);

    for (const [url, key] of [
      ['/evco/unprocessed', 'events'],
      ['/evco/dead-letters', 'deadLetters'],
    ] as const) {
      const whole = await get(`${url}?limit=2`);
      expect([whole[key].length, whole.nextCursor, whole.hasMore], url).toEqual([2, null, false]);
      const first: Page & Record<string, unknown[]> = await get(`${url}?limit=1`);
      expect([first[key]!.length, first.hasMore], url).toEqual([1, true]);
      const last = await get(`${url}?limit=1&cursor=${first.nextCursor}`);
      expect([last[key].length, last.nextCursor, last.hasMore], url).toEqual([1, null, false]);
    }
  });

  it('pages dead letters without cutting between the letters of one event, and ends where they end', async () => {
    const { app, coordinator, failing } = await storyApp();
    await coordinator.registerHandler('OrderPlaced', async function chargeCard(event) {
      if (failing.has(event.aggregateId)) throw new Error(`card declined for ${event.aggregateId}`);
    });
    const get = async (url: string) => (await app.inject(url)).json();
    const letters = (page: {
      deadLetters: Array<{ event: { aggregateId: string }; delivery: { handler: string } }>;
    }) => page.deadLetters.map((d) => `${d.event.aggregateId}:${d.delivery.handler}`).sort();
    const [a, b] = [randomUUID(), randomUUID()];
    failing.add(a);
    await publish(app, order(a));
    await coordinator.waitForIdle();
    const both = [`${a}:chargeCard`, `${a}:sendInvoice`];

    // One event's two letters on a page of one: both come, and nothing is left.
    const alone = await get('/evco/dead-letters?limit=1');
    expect([letters(alone), alone.nextCursor, alone.hasMore]).toEqual([both, null, false]);

    failing.add(b);
    await publish(app, order(b));
    await coordinator.waitForIdle();
    const other = [`${b}:chargeCard`, `${b}:sendInvoice`];
    for (const limit of [1, 2, 3]) {
      const first = await get(`/evco/dead-letters?limit=${limit}`);
      expect([letters(first), first.hasMore], `limit ${limit}`).toEqual([both, true]);
      const second = await get(`/evco/dead-letters?limit=${limit}&cursor=${first.nextCursor}`);
      expect([letters(second), second.nextCursor, second.hasMore], `limit ${limit}`).toEqual([
        other,
        null,
        false,
      ]);
    }
    const whole = await get('/evco/dead-letters?limit=4');
    expect([letters(whole).length, whole.nextCursor, whole.hasMore]).toEqual([4, null, false]);
  });

  it('lists dead letters with their error and re-drives them behind auth', async () => {
    const { app, coordinator, failing } = await storyApp();
    const id = randomUUID();
    failing.add(id);
    await publish(app, order(id));
    await coordinator.waitForIdle();
    const dead = (await app.inject('/evco/dead-letters')).json();
    expect(dead.deadLetters).toHaveLength(1);
    expect(dead.deadLetters[0]).toMatchObject({
      event: { aggregateId: id },
      delivery: {
        handler: 'sendInvoice',
        status: 'dead',
        lastError: expect.stringContaining('invoice service refused'),
      },
    });
    expect((await app.inject('/evco/dead-letters?handler=shipOrder')).json().deadLetters).toEqual([]);
    // A mistyped handler is a 400 as the retry answers it, not an empty list ("that handler is fine").
    const unknown = await app.inject('/evco/dead-letters?handler=sendInvoiec');
    expect([unknown.statusCode, errorOf(unknown).code, errorOf(unknown).message]).toEqual([
      400,
      'UNKNOWN_HANDLER',
      expect.stringContaining('no handler named "sendInvoiec" is subscribed'),
    ]);
    const details = (await app.inject(`/evco/events/${dead.deadLetters[0].event.id}`)).json();
    expect(details.deliveries).toContainEqual(
      expect.objectContaining({
        handler: 'sendInvoice',
        status: 'dead',
        lastError: expect.stringContaining('refused'),
      }),
    );
    const unprocessed = (await app.inject('/evco/unprocessed')).json();
    expect(unprocessed).toMatchObject({
      events: [{ event: { aggregateId: id } }],
      nextCursor: null,
      hasMore: false,
    });

    const anonymous = await app.inject({ method: 'POST', url: '/evco/dead-letters/retry', payload: {} });
    expect(anonymous.statusCode).toBe(401);
    failing.delete(id);
    const retried = await app.inject({
      method: 'POST',
      url: '/evco/dead-letters/retry',
      payload: { deliveryIds: [dead.deadLetters[0].delivery.deliveryId] },
      headers: auth,
    });
    expect(retried.json()).toEqual({ retried: 1 });
    await coordinator.waitForIdle();
    expect((await app.inject('/evco/dead-letters')).json().deadLetters).toEqual([]);
    expect((await app.inject('/evco/unprocessed')).json().events).toEqual([]);

    const bad = await app.inject({
      method: 'POST',
      url: '/evco/dead-letters/retry',
      payload: { all: true },
      headers: auth,
    });
    expect(errorOf(bad).issues).toEqual([{ path: 'all', message: 'unknown field' }]);
    // A mistyped handler is a 400, not { retried: 0 } (which reads as "nothing was dead").
    const typo = await app.inject({
      method: 'POST',
      url: '/evco/dead-letters/retry',
      payload: { handler: 'sendInvoiec' },
      headers: auth,
    });
    expect([typo.statusCode, errorOf(typo).code]).toEqual([400, 'UNKNOWN_HANDLER']);
    const badCursor = await app.inject('/evco/unprocessed?cursor=bm9wZQ');
    expect([badCursor.statusCode, errorOf(badCursor).code]).toEqual([400, 'INVALID_CURSOR']);
  });

  it('needs auth for the read routes with protectReads', async () => {
    const { app } = await storyApp({ protectReads: true });
    for (const url of [
      '/evco/events',
      '/evco/unprocessed',
      '/evco/dead-letters',
      '/evco/handlers',
      `/evco/events/${randomUUID()}`,
    ]) {
      expect((await app.inject(url)).statusCode, url).toBe(401);
      expect((await app.inject({ url, headers: auth })).statusCode, url).not.toBe(401);
    }
    // Probes and the status stay public.
    expect((await app.inject('/evco/status')).statusCode).toBe(200);
    expect((await app.inject('/evco/health/ready')).statusCode).toBe(200);
  });
});

describe('replays', () => {
  const range = () => ({
    from: new Date(Date.now() - 60_000).toISOString(),
    to: new Date(Date.now() + 60_000).toISOString(),
  });

  it('starts a replay (202) and reports its progress until done', async () => {
    const { app, coordinator } = await storyApp();
    await publish(app, order());
    await coordinator.waitForIdle();
    const started = await app.inject({
      method: 'POST',
      url: '/evco/replays',
      payload: { ...range(), eventType: 'OrderPlaced', handler: 'sendInvoice' },
      headers: auth,
    });
    expect(started.statusCode).toBe(202);
    const job = started.json();
    expect(started.headers.location).toBe(`/evco/replays/${job.id}`);
    expect(job).toMatchObject({ eventType: 'OrderPlaced', handler: 'sendInvoice', maxEvents: 10_000 });
    await vi.waitFor(async () => {
      const progress = (await app.inject(`/evco/replays/${job.id}`)).json();
      expect(progress).toMatchObject({
        status: 'done',
        done: true,
        eventsMatched: 1,
        deliveriesQueued: 1,
        deliveriesOpen: 0,
      });
    });
  });

  it('validates the range before anything starts, needs auth, 404s an unknown job', async () => {
    const { app } = await storyApp();
    const { from, to } = range();
    const issues = async (payload: object) => {
      const res = await app.inject({ method: 'POST', url: '/evco/replays', payload, headers: auth });
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      return errorOf(res).issues!.map((i) => i.path);
    };
    expect(await issues({ from })).toEqual(['to']);
    expect(await issues({ from: to, to: from })).toEqual(['to']);
    expect((await issues({ from, to, maxEvents: 100_001, extra: 1 })).sort()).toEqual(['extra', 'maxEvents']);
    expect(
      (await app.inject({ method: 'POST', url: '/evco/replays', payload: { from, to } })).statusCode,
    ).toBe(401);
    const unknownId = randomUUID();
    const unknown = await app.inject(`/evco/replays/${unknownId}`);
    expect([unknown.statusCode, errorOf(unknown)]).toEqual([
      404,
      { code: 'NOT_FOUND', message: `[evco:fastify] no replay with id "${unknownId}"` },
    ]);
  });
});

describe('evco error codes over HTTP', () => {
  it('maps NOT_FOUND to 404 and INVALID_POSITION to 400, with their messages', () => {
    const missing = resolveError(
      new NotFoundError('replay', 'replay-9', { source: 'store-sqlite' }),
      'req-1',
      1024,
    );
    expect([missing.status, missing.body.error]).toEqual([
      404,
      { code: 'NOT_FOUND', message: '[evco:store-sqlite] no replay with id "replay-9"' },
    ]);
    const position = resolveError(new EvcoError('INVALID_POSITION', 'not a position: "x"'), 'req-2', 1024);
    expect([position.status, position.body.error.code]).toEqual([400, 'INVALID_POSITION']);
  });

  it('keeps faults a client cannot fix out of the reply: STORE_FAILED and HANDLER_CRASHED are a 500 with a request id', () => {
    for (const code of ['STORE_FAILED', 'HANDLER_CRASHED', 'STORE_SCHEMA'] as const) {
      const resolved = resolveError(
        new EvcoError(code, 'relation "evco.events" has no column x'),
        'req-3',
        1024,
      );
      expect([resolved.status, resolved.body.error.code, resolved.body.error.requestId], code).toEqual([
        500,
        'INTERNAL',
        'req-3',
      ]);
      expect(resolved.body.error.message).not.toContain('evco.events');
    }
  });
});

describe('handlers', () => {
  it("lists the fleet's subscriptions and retires a handler behind auth", async () => {
    const { app } = await storyApp();
    const subscriptions = (await app.inject('/evco/handlers')).json().subscriptions;
    expect(
      subscriptions.map((s: { handler: string; eventType: string }) => `${s.handler}:${s.eventType}`).sort(),
    ).toEqual(['reserveStock:OrderPlaced', 'sendInvoice:OrderPlaced', 'shipOrder:StockReserved']);
    expect(subscriptions[0]).toMatchObject({
      ordering: 'aggregate',
      expiresAt: expect.any(String),
      expired: false,
    });
    expect((await app.inject({ method: 'POST', url: '/evco/handlers/sendInvoice/retire' })).statusCode).toBe(
      401,
    );
    const retired = await app.inject({
      method: 'POST',
      url: '/evco/handlers/sendInvoice/retire',
      headers: auth,
    });
    expect(retired.json()).toEqual({ deliveriesRemoved: 0 });
    const after = (await app.inject('/evco/handlers')).json().subscriptions;
    expect(after.map((s: { handler: string }) => s.handler)).not.toContain('sendInvoice');
    // A mistyped (or already retired) name is a 400, as `evco handlers retire` and the retry route
    // answer it, not { deliveriesRemoved: 0 }, which reads as "retired"; nothing else is touched.
    for (const name of ['shipOrdr', 'sendInvoice']) {
      const typo = await app.inject({ method: 'POST', url: `/evco/handlers/${name}/retire`, headers: auth });
      expect([typo.statusCode, errorOf(typo).code]).toEqual([400, 'UNKNOWN_HANDLER']);
      expect(errorOf(typo).message).toContain(`no handler named "${name}" is subscribed`);
    }
    expect((await app.inject('/evco/handlers')).json().subscriptions).toHaveLength(after.length);
  });
});

describe('health and unknown routes', () => {
  it('is not ready (503) while the store does not answer, without its details', async () => {
    const { app, coordinator } = await storyApp();
    const store = coordinator.eventStore;
    const original = store.healthCheck.bind(store);
    store.healthCheck = async () => ({
      healthy: false,
      latencyMs: 1,
      details: { error: 'SQLITE_CANTOPEN /var/lib/app/events.db' },
    });
    const res = await app.inject('/evco/health/ready');
    expect([res.statusCode, res.headers['retry-after'], errorOf(res).code]).toEqual([
      503,
      '5',
      'STORE_UNAVAILABLE',
    ]);
    expect(res.body).not.toContain('/var/lib');
    // A Postgres outage as store-postgres words it: the public probe says what failed, not where
    // the database lives (the status shows that to authorized requests only).
    for (const error of [
      '[evco:store-postgres] postgres at postgresql://app:***@db.internal:5432/app is unavailable: connect ECONNREFUSED 10.1.2.3:5432',
      '[evco:store-postgres] postgres at postgres://app@db.internal/app is unavailable: getaddrinfo ENOTFOUND db.internal',
    ]) {
      store.healthCheck = async () => ({ healthy: false, latencyMs: 1, details: { error } });
      const down = await app.inject('/evco/health/ready');
      expect(down.statusCode).toBe(503);
      expect(errorOf(down).message).toMatch(
        /^the event store \(\w+\) is not ready: \[evco:store-postgres\] postgres at <url> is unavailable: (connect ECONNREFUSED|getaddrinfo ENOTFOUND) <address>$/,
      );
      expect(down.body).not.toMatch(/db\.internal|10\.1\.2\.3|5432|app@/);
    }
    // A store that answers but whose schema a newer release migrated while this process ran: the
    // probe fails (an orchestrator takes the process out of rotation) and says to replace it.
    const newer =
      '[evco:store-postgres] schema "evco" is at version 6, newer than this process knows (5): a newer @evco/store-postgres migrated it while this process ran; replace this process with one running that release';
    store.healthCheck = async () => ({ healthy: false, latencyMs: 1, details: { error: newer } });
    const stale = await app.inject('/evco/health/ready');
    expect(stale.statusCode).toBe(503);
    expect(errorOf(stale).message).toBe(`the event store (${store.name}) is not ready: ${newer}`);
    store.healthCheck = original;
    expect((await app.inject('/evco/health/ready')).statusCode).toBe(200);
  });

  it('answers unknown routes under the prefix with 404 in the error shape', async () => {
    const { app } = await storyApp();
    const res = await app.inject('/evco/nope');
    expect([res.statusCode, errorOf(res).code]).toEqual([404, 'NOT_FOUND']);
  });
});

describe('bearerToken', () => {
  it('refuses a short token at setup', async () => {
    const { bearerToken } = await import('../src/auth.js');
    // Named for the package that refused it (the operator looks for the option there).
    expect(() => bearerToken('short')).toThrow(
      expect.objectContaining({
        code: 'INVALID_OPTIONS',
        message:
          '[evco:fastify] invalid bearer token: token: must be at least 16 printable ASCII characters without spaces',
      }),
    );
  });

  it('accepts exactly the token, in any letter case of the scheme', async () => {
    const { bearerToken } = await import('../src/auth.js');
    const check = bearerToken('0123456789abcdef0123');
    const request = (authorization?: string) =>
      ({ headers: authorization ? { authorization } : {} }) as never;
    expect(check(request('Bearer 0123456789abcdef0123'))).toBe(true);
    expect(check(request('bearer 0123456789abcdef0123'))).toBe(true);
    for (const wrong of [
      undefined,
      '0123456789abcdef0123',
      'Bearer 0123456789abcdef012',
      'Bearer 0123456789abcdef01234',
      'Basic x',
    ]) {
      expect(check(request(wrong)), String(wrong)).toBe(false);
    }
  });

  it('treats an auth check that throws as a refusal', async () => {
    const { app } = await storyApp({
      auth: () => {
        throw new Error('identity provider down');
      },
    });
    const res = await app.inject({ method: 'POST', url: '/evco/dead-letters/retry', payload: {} });
    expect(res.statusCode).toBe(401);
    expect(res.body).not.toContain('identity provider');
  });
});
