/**
 * The no-leak rule, route by route: whatever goes wrong (bad input, no or wrong credentials, a
 * body that is not JSON, a store error quoting its file and its password, a bug with a stack),
 * the client gets `{ error: { code, message } }` without a stack frame, a server path or a secret.
 */
import { ConcurrencyError, createCoordinator, StoreUnavailableError } from '@evco/core';
import Fastify, { type LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearerToken } from '../src/auth.js';
import { evcoPlugin } from '../src/plugin.js';
import { auth, coordinatorOptions, TOKEN } from './helpers.js';

const SECRET = 'hunter2-Pa55word';
const PATH = '/srv/evco-private/data/events.db';
const STACK_FRAME = /\n\s+at .+\(|\bat [\w$.<>]+ \(\/|node:internal|\.ts:\d+:\d+/;

const app = Fastify({ logger: false });
const routes: Array<{ method: string; url: string }> = [];
app.addHook('onRoute', (route) => {
  for (const method of [route.method].flat()) {
    if (method !== 'HEAD' && route.url.startsWith('/evco') && !route.url.includes('/dashboard'))
      routes.push({ method, url: route.url });
  }
});

const replies: Array<{ route: string; res: LightMyRequestResponse }> = [];

function fill(url: string): string {
  return url.replace(':id', '0190f3a2-5b1e-7c4d-9a8b-1234567890ab').replace(':name', 'someHandler');
}

async function call(
  route: { method: string; url: string },
  options: { url?: string; headers?: Record<string, string>; payload?: string } = {},
) {
  const res = await app.inject({
    method: route.method as 'GET' | 'POST',
    url: options.url ?? fill(route.url),
    headers: options.headers ?? {},
    ...(options.payload === undefined ? {} : { payload: options.payload }),
  });
  replies.push({ route: `${route.method} ${route.url}`, res });
  return res;
}

beforeAll(async () => {
  const coordinator = await createCoordinator(coordinatorOptions());
  await app.register(evcoPlugin, { coordinator, auth: bearerToken(TOKEN) });
  await app.ready();
});
afterAll(() => app.close());

describe('no stack, path or secret in any error reply', () => {
  it('walks every route with bad input and bad credentials (4xx)', async () => {
    expect(routes.length).toBeGreaterThanOrEqual(13);
    const json = { 'content-type': 'application/json' };
    for (const route of routes) {
      await call(route, {
        url: `${fill(route.url)}?limit=abc&zzz=${SECRET}&from=${encodeURIComponent(PATH)}`,
        headers: auth,
      });
      await call(route, { headers: { authorization: `Bearer ${SECRET}` } });
      await call(route, { headers: { authorization: `Basic ${SECRET}` } });
      if (route.method === 'POST') {
        await call(route, { headers: { ...auth, 'content-type': 'text/plain' }, payload: SECRET });
        await call(route, { headers: { ...auth, ...json }, payload: `{"x": "${SECRET}", ` });
        await call(route, {
          headers: { ...auth, ...json },
          payload: JSON.stringify({
            from: PATH,
            to: SECRET,
            deliveryIds: 'x',
            eventType: `${PATH}/${SECRET}`,
          }),
        });
      }
    }
    const clientErrors = replies.filter((r) => r.res.statusCode >= 400);
    // Every route that takes input refused something; the four without input are walked by the 5xx case.
    const refused = new Set(clientErrors.map((r) => r.route));
    const inputless = [
      'GET /evco/status',
      'GET /evco/health/live',
      'GET /evco/health/ready',
      'GET /evco/handlers',
    ];
    expect(
      routes
        .map((r) => `${r.method} ${r.url}`)
        .filter((r) => !refused.has(r))
        .sort(),
    ).toEqual(inputless.sort());
  });

  it('walks every route while the coordinator fails with paths, passwords and stacks (5xx)', async () => {
    const coordinator = app.evco;
    const storeDown = () =>
      new StoreUnavailableError(`cannot open ${PATH}: postgresql://app:${SECRET}@db.internal/app refused`, {
        source: 'store-sqlite',
      });
    const bug = () => new TypeError(`cannot read x of undefined at ${PATH} (password=${SECRET})`);
    const failing = [
      'getCoordinatorStatus',
      'getEventHistory',
      'publishEvents',
      'getUnprocessedEvents',
      'getDeadLetters',
      'retryDeadLetters',
      'retireHandler',
      'getEventDetails',
      'startReplay',
      'getReplay',
      'listSubscriptions',
    ] as const;
    const target = coordinator as unknown as Record<string, unknown>;
    const originals = new Map(failing.map((name) => [name, target[name]]));
    const store = coordinator.eventStore as unknown as Record<string, unknown>;
    const originalHealth = store.healthCheck;
    const originalList = store.listSubscriptions;
    const before = replies.length;
    try {
      for (const make of [
        storeDown,
        bug,
        () => new ConcurrencyError(`aggregate a already has version 1 in ${PATH}`),
      ]) {
        for (const name of failing) {
          if (typeof originals.get(name) === 'function') target[name] = async () => Promise.reject(make());
        }
        store.healthCheck = async () => Promise.reject(make());
        store.listSubscriptions = async () => Promise.reject(make());
        for (const route of routes) {
          const body = route.url.endsWith('/replays')
            ? { from: '2026-01-01T00:00:00Z', to: '2026-01-02T00:00:00Z' }
            : route.url.endsWith('/events')
              ? { eventType: 'OrderPlaced', aggregateId: 'o-1', eventData: {} }
              : {};
          await call(route, {
            headers: { ...auth, 'content-type': 'application/json' },
            ...(route.method === 'POST' ? { payload: JSON.stringify(body) } : {}),
          });
        }
      }
    } finally {
      for (const [name, fn] of originals) target[name] = fn;
      store.healthCheck = originalHealth;
      store.listSubscriptions = originalList;
    }
    const failures = replies.slice(before).filter((r) => r.res.statusCode >= 500);
    expect(failures.length).toBeGreaterThan(routes.length);
    const conflict = replies.slice(before).find((r) => r.res.statusCode === 409);
    expect(conflict?.res.json().error.message).toContain('<path>');
  });

  it('every error reply so far has the one shape and leaks nothing', () => {
    const errors = replies.filter((r) => r.res.statusCode >= 400);
    expect(errors.length).toBeGreaterThan(50);
    for (const { route, res } of errors) {
      const where = `${route} → ${res.statusCode} ${res.body}`;
      expect(res.headers['content-type'], where).toContain('application/json');
      const body = res.json() as { error?: { code?: unknown; message?: unknown } };
      expect(Object.keys(body), where).toEqual(['error']);
      expect(typeof body.error?.code, where).toBe('string');
      expect(typeof body.error?.message, where).toBe('string');
      expect(res.body, where).not.toMatch(STACK_FRAME);
      expect(res.body, where).not.toContain(SECRET);
      expect(res.body, where).not.toContain(TOKEN);
      expect(res.body, where).not.toContain('/srv/');
      expect(res.body, where).not.toContain('evco-private');
      // Nor where the database lives: the URL in the store's error is left out.
      expect(res.body, where).not.toContain('db.internal');
    }
  });
});
