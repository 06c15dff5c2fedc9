import { randomUUID } from 'node:crypto';
import { StoreUnavailableError } from '@evco/core';
import type { LightMyRequestResponse } from 'fastify';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MAX_BATCH } from '../src/app.js';
import {
  ADMIN_TOKEN,
  auth,
  createTestApp,
  DB_PASSWORD,
  REDIS_PASSWORD,
  STACK_FRAME,
  type TestApp,
  userRegistered,
  workflowCompleted,
} from './helpers.js';

const KNOWN_TYPES = [
  'ContentDeleted',
  'ContentModerationCompleted',
  'ContentPublished',
  'SubscriptionActivated',
  'SubscriptionExpired',
  'UserLoggedIn',
  'UserRegistered',
  'UserStatusChanged',
  'WorkflowExecutionCompleted',
  'WorkflowExecutionFailed',
  'WorkflowExecutionStarted',
];

let t: TestApp | undefined;
const replies: LightMyRequestResponse[] = [];

async function start(env: Record<string, string | undefined> = {}, options = {}): Promise<TestApp> {
  t = await createTestApp(env, options);
  await t.app.ready();
  return t;
}

/** Every reply goes through here, so the last test can check them all for leaks. */
async function call(
  app: TestApp,
  method: 'GET' | 'POST',
  url: string,
  options: { body?: unknown; payload?: string; headers?: Record<string, string> } = {},
) {
  const res = await app.app.inject({
    method,
    url,
    headers: options.headers,
    ...(options.payload !== undefined ? { payload: options.payload } : {}),
    ...(options.body !== undefined ? { payload: options.body as object } : {}),
  });
  replies.push(res);
  assertNoLeak(res.body);
  return res;
}

function assertNoSecret(text: string) {
  expect(text).not.toContain(DB_PASSWORD);
  expect(text).not.toContain(REDIS_PASSWORD);
  expect(text).not.toContain(ADMIN_TOKEN);
}

/** Replies carry neither secrets nor stack traces; logs may carry stacks (server side), never secrets. */
function assertNoLeak(text: string) {
  assertNoSecret(text);
  expect(text).not.toMatch(STACK_FRAME);
}

function errorOf(res: LightMyRequestResponse) {
  const body = res.json() as { error: { code: string; message: string; issues?: Array<{ path: string }> } };
  expect(Object.keys(body)).toEqual(['error']);
  return body.error;
}

afterEach(async () => {
  if (t) {
    expect(t.logs.length).toBeGreaterThan(0);
    for (const line of t.logs) assertNoSecret(line);
    await t.close();
  }
  t = undefined;
});

describe('POST /events', () => {
  it('publishes one event: stored, positions as strings, handled by the modules', async () => {
    const app = await start();
    const event = userRegistered();
    const res = await call(app, 'POST', '/evco/events', { body: event });
    expect(res.statusCode).toBe(201);
    const published = res.json();
    expect(published).toEqual({
      eventId: expect.any(String),
      eventType: 'UserRegistered',
      position: expect.stringMatching(/^\d+$/),
      deliveries: 2, // user.recordRegistration, subscription.activateTrialOnUserRegistered
      correlationId: published.eventId,
    });
    await app.coordinator().waitForIdle();
    expect((await app.runtime().deps.users.get(event.aggregateId))?.subscription?.plan).toBe('trial');

    const history = (await call(app, 'GET', '/evco/events')).json();
    expect(history.events.map((e: { eventType: string }) => e.eventType)).toEqual([
      'UserRegistered',
      'SubscriptionActivated',
    ]);
    const [root, activated] = history.events;
    expect(root).toMatchObject({
      id: published.eventId,
      position: published.position,
      aggregateType: 'User',
    });
    expect(root.occurredAt).toMatch(/Z$/);
    expect(activated.metadata).toMatchObject({ correlationId: root.id, causationId: root.id });
  });

  it('publishes a batch atomically: all stored, or none when one is bad', async () => {
    const app = await start();
    const ok = await call(app, 'POST', '/evco/events', {
      body: { events: [userRegistered(), workflowCompleted()] },
    });
    expect(ok.statusCode).toBe(201);
    const positions = ok.json().events.map((e: { position: string }) => BigInt(e.position));
    expect(positions[1]).toBeGreaterThan(positions[0]);

    const before = (await call(app, 'GET', '/evco/events?eventType=WorkflowExecutionCompleted')).json().events
      .length;
    const bad = workflowCompleted();
    (bad.eventData as Record<string, unknown>).durationMs = -5;
    const res = await call(app, 'POST', '/evco/events', { body: { events: [workflowCompleted(), bad] } });
    expect(res.statusCode).toBe(400);
    expect(errorOf(res)).toMatchObject({
      code: 'EVENT_VALIDATION',
      issues: [{ path: 'events.1.eventData.durationMs', message: expect.any(String) }],
    });
    const after = (await call(app, 'GET', '/evco/events?eventType=WorkflowExecutionCompleted')).json().events
      .length;
    expect(after).toBe(before);
  });

  it('rejects an unknown event type, listing the known ones', async () => {
    const app = await start();
    const res = await call(app, 'POST', '/evco/events', {
      body: { eventType: 'UserTeleported', aggregateId: 'u-1', eventData: {} },
    });
    expect(res.statusCode).toBe(400);
    const error = errorOf(res) as { code: string; message: string; knownTypes: string[] };
    expect(error.code).toBe('UNKNOWN_EVENT_TYPE');
    expect(error.knownTypes).toEqual(KNOWN_TYPES);
    for (const type of KNOWN_TYPES) expect(error.message).toContain(type);

    const inBatch = await call(app, 'POST', '/evco/events', {
      body: { events: [userRegistered(), { eventType: 'Nope', aggregateId: 'x' }] },
    });
    expect(errorOf(inBatch)).toMatchObject({
      code: 'UNKNOWN_EVENT_TYPE',
      issues: [{ path: 'events.1.eventType' }],
    });
  });

  it('lists every bad field of the envelope and of the contract', async () => {
    const app = await start();
    const userId = randomUUID();
    const res = await call(app, 'POST', '/evco/events', {
      body: {
        eventType: 'UserRegistered',
        eventData: { userId, email: 'not-an-email', username: 'x', admin: true },
        occurredAt: '2026-01-01T10:00:00',
        extra: 1,
      },
    });
    expect(res.statusCode).toBe(400);
    const error = errorOf(res);
    expect(error.code).toBe('EVENT_VALIDATION');
    expect(error.issues!.map((i) => i.path).sort()).toEqual([
      'aggregateId',
      'eventData.admin',
      'eventData.email',
      'eventData.username',
      'extra',
      'occurredAt',
    ]);
  });

  it('checks the aggregate type and the contract version', async () => {
    const app = await start();
    const res = await call(app, 'POST', '/evco/events', {
      body: userRegistered({ aggregateType: 'Invoice', metadata: { schemaVersion: 7 } }),
    });
    expect(errorOf(res).issues!.map((i) => i.path)).toEqual(['aggregateType', 'metadata.schemaVersion']);
  });

  it('answers 400 for bad JSON, an empty body, prototype keys or a non-object; 415 for other media', async () => {
    const app = await start();
    const json = { 'content-type': 'application/json' };
    const bad = await call(app, 'POST', '/evco/events', { payload: '{"eventType": ', headers: json });
    expect([bad.statusCode, errorOf(bad).code]).toEqual([400, 'INVALID_JSON']);
    const empty = await call(app, 'POST', '/evco/events', { payload: '', headers: json });
    expect([empty.statusCode, errorOf(empty).code]).toEqual([400, 'INVALID_JSON']);
    const proto = await call(app, 'POST', '/evco/events', {
      payload: '{"eventType":"UserRegistered","aggregateId":"a","eventData":{"__proto__":{"x":1}}}',
      headers: json,
    });
    expect(proto.statusCode).toBe(400);
    const array = await call(app, 'POST', '/evco/events', { body: [userRegistered()] });
    expect([array.statusCode, errorOf(array).code]).toEqual([400, 'INVALID_REQUEST']);
    const text = await call(app, 'POST', '/evco/events', {
      payload: 'hello',
      headers: { 'content-type': 'text/csv' },
    });
    expect([text.statusCode, errorOf(text).code]).toEqual([415, 'UNSUPPORTED_MEDIA_TYPE']);
  });

  it('answers 413 over the body limit', async () => {
    const app = await start({ EVCO_BODY_LIMIT_BYTES: '2048' });
    const event = userRegistered({ metadata: { note: 'x'.repeat(1900) } });
    const res = await call(app, 'POST', '/evco/events', { body: { events: [event, event] } });
    expect(res.statusCode).toBe(413);
    expect(errorOf(res)).toMatchObject({
      code: 'PAYLOAD_TOO_LARGE',
      message: expect.stringContaining('2048'),
    });
  });

  it('bounds batches: at least one event, at most MAX_BATCH', async () => {
    const app = await start();
    const empty = await call(app, 'POST', '/evco/events', { body: { events: [] } });
    expect(errorOf(empty).issues).toEqual([{ path: 'events', message: 'must hold at least one event' }]);
    const tooMany = Array.from({ length: MAX_BATCH + 1 }, () => ({
      eventType: 'UserLoggedIn',
      aggregateId: 'a',
    }));
    const big = await call(app, 'POST', '/evco/events', { body: { events: tooMany } });
    expect(errorOf(big).issues).toEqual([
      { path: 'events', message: expect.stringContaining(`${MAX_BATCH}`) },
    ]);
    const notArray = await call(app, 'POST', '/evco/events', { body: { events: {}, more: 1 } });
    expect(errorOf(notArray).issues!.map((i) => i.path)).toEqual(['more', 'events']);
  });

  it('answers 409 for a duplicate event id and for a taken aggregate version', async () => {
    const app = await start();
    const event = userRegistered({ id: randomUUID() });
    expect((await call(app, 'POST', '/evco/events', { body: event })).statusCode).toBe(201);
    const again = await call(app, 'POST', '/evco/events', { body: event });
    expect([again.statusCode, errorOf(again).code]).toEqual([409, 'DUPLICATE_EVENT']);

    const first = workflowCompleted({ aggregateVersion: 1 });
    expect((await call(app, 'POST', '/evco/events', { body: first })).statusCode).toBe(201);
    const clash = await call(app, 'POST', '/evco/events', {
      body: { ...first, id: undefined, aggregateVersion: 1 },
    });
    expect([clash.statusCode, errorOf(clash).code]).toEqual([409, 'CONCURRENCY']);
  });
});

describe('GET /events', () => {
  async function seed(app: TestApp) {
    const events = [
      userRegistered(),
      workflowCompleted(),
      workflowCompleted(),
      workflowCompleted(),
      userRegistered(),
    ];
    for (const e of events) await call(app, 'POST', '/evco/events', { body: e });
    await app.coordinator().waitForIdle();
    return events;
  }

  it('filters by type (one or several), aggregate and time range', async () => {
    const app = await start();
    const events = await seed(app);
    const types = (url: string) =>
      call(app, 'GET', url).then((r) => r.json().events.map((e: { eventType: string }) => e.eventType));
    expect(await types('/evco/events?eventType=WorkflowExecutionCompleted')).toHaveLength(3);
    expect(await types('/evco/events?eventType=UserRegistered&eventType=SubscriptionActivated')).toHaveLength(
      4,
    );
    expect(await types(`/evco/events?aggregateId=${events[1]!.aggregateId}`)).toEqual([
      'WorkflowExecutionCompleted',
    ]);
    const future = new Date(Date.now() + 60_000).toISOString();
    expect(await types(`/evco/events?from=${encodeURIComponent(future)}`)).toEqual([]);
    expect(await types(`/evco/events?to=${encodeURIComponent(future)}`)).toHaveLength(7);
  });

  it('pages with an opaque cursor, in both directions, without gaps or repeats', async () => {
    const app = await start();
    await seed(app);
    const all: string[] = (await call(app, 'GET', '/evco/events'))
      .json()
      .events.map((e: { position: string }) => e.position);
    expect(all).toHaveLength(7);
    for (const order of ['asc', 'desc'] as const) {
      const seen: string[] = [];
      let url = `/evco/events?limit=3&order=${order}`;
      let pages = 0;
      for (;;) {
        const page = (await call(app, 'GET', url)).json();
        pages += 1;
        seen.push(...page.events.map((e: { position: string }) => e.position));
        if (!page.hasMore) break;
        expect(page.nextCursor).not.toMatch(/^\d+$/);
        url = `/evco/events?limit=3&cursor=${page.nextCursor}`;
      }
      expect(pages).toBe(3);
      expect(seen).toEqual(order === 'asc' ? all : [...all].reverse());
    }
  });

  it('lets a client follow new events with the last cursor', async () => {
    const app = await start();
    const first = (await call(app, 'GET', '/evco/events')).json();
    expect(first).toEqual({ events: [], nextCursor: null, hasMore: false, pruned: [] });
    await call(app, 'POST', '/evco/events', { body: workflowCompleted() });
    const page = (await call(app, 'GET', '/evco/events')).json();
    expect(page.events).toHaveLength(1);
    const idle = (await call(app, 'GET', `/evco/events?cursor=${page.nextCursor}`)).json();
    expect(idle).toEqual({ events: [], nextCursor: page.nextCursor, hasMore: false, pruned: [] });
    const published = (await call(app, 'POST', '/evco/events', { body: workflowCompleted() })).json();
    const next = (await call(app, 'GET', `/evco/events?cursor=${idle.nextCursor}`)).json();
    expect(next.events.map((e: { id: string }) => e.id)).toEqual([published.eventId]);
  });

  it('rejects bad bounds and parameters with the field at fault', async () => {
    const app = await start();
    const fieldOf = async (url: string) => {
      const res = await call(app, 'GET', url);
      expect(res.statusCode, url).toBe(400);
      return errorOf(res).issues!.map((i) => i.path);
    };
    expect(await fieldOf('/evco/events?limit=1001')).toEqual(['limit']);
    expect(await fieldOf('/evco/events?limit=0')).toEqual(['limit']);
    expect(await fieldOf('/evco/events?limit=ten')).toEqual(['limit']);
    expect(await fieldOf('/evco/events?from=yesterday')).toEqual(['from']);
    expect(await fieldOf('/evco/events?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z')).toEqual(['to']);
    expect(await fieldOf('/evco/events?limt=5')).toEqual(['limt']);
    expect(await fieldOf('/evco/events?eventType=not%20a%20type')).toEqual(['eventType']);
    expect(await fieldOf('/evco/events?cursor=bm9wZQ')).toEqual(['cursor']);
    const cursor = Buffer.from('v1:desc:5').toString('base64url');
    expect(await fieldOf(`/evco/events?cursor=${cursor}&order=asc`)).toEqual(['order']);
    const res = await call(app, 'GET', '/evco/events?limit=1001');
    expect(errorOf(res)).toMatchObject({
      code: 'INVALID_REQUEST',
      message: expect.stringContaining('limit'),
    });
  });
});

describe('GET /status, /health', () => {
  it('reports the adapters and the coordinator without any secret; locations only to an admin', async () => {
    const app = await start();
    await call(app, 'POST', '/evco/events', { body: userRegistered() });
    const res = await call(app, 'GET', '/evco/status');
    expect(res.statusCode).toBe(200);
    const status = res.json();
    expect(status.admin).toBe(false);
    expect(status.service).toMatchObject({
      name: 'evco-demo',
      store: { kind: 'postgres', schema: 'evco' },
      publisher: { kind: 'redis', channelPrefix: 'evco' },
      adminRoutes: 'on',
      eventTypes: KNOWN_TYPES,
    });
    expect(status.service.store.location).toBeUndefined();
    expect(status.service.publisher.location).toBeUndefined();
    expect(status).toMatchObject({
      state: 'running',
      store: { name: 'memory', health: { healthy: true } },
      publisher: { name: 'inproc', health: { healthy: true } },
      counts: { published: expect.any(Number) },
      metrics: { published: expect.any(Number) },
    });
    expect(status.store.health.details).toBeUndefined();
    expect(status.handlers.map((h: { name: string }) => h.name)).toContain('user.recordRegistration');
    expect(status.lastPosition).toMatch(/^\d+$/);

    const privileged = (await call(app, 'GET', '/evco/status', { headers: auth })).json();
    expect(privileged.admin).toBe(true);
    expect(privileged.service).toMatchObject({
      store: { kind: 'postgres', location: 'postgresql://demo:***@db.internal:5432/app', schema: 'evco' },
      publisher: { kind: 'redis', location: 'redis://default:***@cache.internal:6379/0' },
    });
  });

  it('never shows the SQLite file to a client, only to an admin', async () => {
    const app = await start({ DATABASE_URL: '/var/lib/evco-secret-dir/demo.db' });
    const status = (await call(app, 'GET', '/evco/status')).body;
    expect(status).not.toContain('evco-secret-dir');
    const privileged = (await call(app, 'GET', '/evco/status', { headers: auth })).json();
    expect(privileged.service.store.location).toBe('/var/lib/evco-secret-dir/demo.db');
  });

  it('answers live and ready', async () => {
    const app = await start();
    expect((await call(app, 'GET', '/evco/health/live')).json()).toEqual({ status: 'ok' });
    expect((await call(app, 'GET', '/evco/health/ready')).json()).toMatchObject({
      status: 'ready',
      store: { name: 'memory' },
    });
  });

  it('is not ready (503) when the store is unreachable, and says so without the password', async () => {
    const app = await start();
    const store = app.coordinator().eventStore;
    vi.spyOn(store, 'healthCheck').mockResolvedValue({
      healthy: false,
      latencyMs: 3,
      details: { error: `connect ECONNREFUSED postgresql://demo:${DB_PASSWORD}@db.internal:5432/app` },
    });
    const res = await call(app, 'GET', '/evco/health/ready');
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('5');
    expect(errorOf(res)).toMatchObject({
      code: 'STORE_UNAVAILABLE',
      message: expect.stringContaining('ECONNREFUSED'),
    });

    vi.spyOn(store, 'healthCheck').mockRejectedValue(new Error('socket hang up'));
    expect((await call(app, 'GET', '/evco/health/ready')).statusCode).toBe(503);
  });
});

describe('admin routes', () => {
  // The mutating routes. Reads (history, unprocessed, dead letters) are public in the demo, as the
  // history always was: the dashboard shows them without a token.
  const adminCalls: Array<[method: 'GET' | 'POST', url: string, body?: unknown]> = [
    ['POST', '/evco/replays', { from: '2026-01-01T00:00:00Z', to: '2026-01-02T00:00:00Z' }],
    ['POST', '/evco/dead-letters/retry', {}],
    ['POST', '/evco/handlers/user.recordRegistration/retire'],
  ];

  it('are off without EVCO_ADMIN_TOKEN, and say so', async () => {
    const app = await start({ EVCO_ADMIN_TOKEN: undefined });
    for (const [method, url, body] of adminCalls) {
      const res = await call(app, method, url, { body, headers: auth });
      expect(res.statusCode, url).toBe(404);
      expect(errorOf(res)).toMatchObject({
        code: 'ADMIN_DISABLED',
        message: expect.stringContaining('EVCO_ADMIN_TOKEN'),
      });
    }
  });

  it('need the bearer token: 401 without it or with a wrong one', async () => {
    const app = await start();
    const wrong: Array<Record<string, string>> = [
      {},
      { authorization: ADMIN_TOKEN },
      { authorization: `Basic ${Buffer.from(`admin:${ADMIN_TOKEN}`).toString('base64')}` },
      { authorization: `Bearer ${ADMIN_TOKEN.slice(0, -1)}x` },
      { authorization: `Bearer ${ADMIN_TOKEN}${ADMIN_TOKEN}` },
      { authorization: 'Bearer ' },
    ];
    for (const [method, url, body] of adminCalls) {
      for (const headers of wrong) {
        const res = await call(app, method, url, { body, headers });
        expect(res.statusCode, `${url} ${JSON.stringify(headers)}`).toBe(401);
        expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
        expect(errorOf(res).code).toBe('UNAUTHORIZED');
      }
    }
  });

  it('replay: re-delivers a bounded range and refuses unbounded, inverted or oversized ones', async () => {
    const app = await start();
    const from = new Date(Date.now() - 1000).toISOString();
    await call(app, 'POST', '/evco/events', { body: workflowCompleted() });
    await app.coordinator().waitForIdle();
    const to = new Date(Date.now() + 1000).toISOString();
    const res = await call(app, 'POST', '/evco/replays', { body: { from, to }, headers: auth });
    expect(res.statusCode).toBe(202);
    const job = res.json();
    expect(job).toMatchObject({ id: expect.any(String), from, to, maxEvents: 10_000, truncated: false });
    // The job runs in the background; its progress is followed until every delivery it queued is done.
    await vi.waitFor(async () => {
      const progress = (await call(app, 'GET', `/evco/replays/${job.id}`)).json();
      expect(progress).toMatchObject({
        done: true,
        eventsMatched: 1,
        deliveriesQueued: 1,
        deliveriesOpen: 0,
      });
    });
    await app.coordinator().waitForIdle();

    const problems = async (body: unknown) => {
      const r = await call(app, 'POST', '/evco/replays', { body, headers: auth });
      expect(r.statusCode, JSON.stringify(body)).toBe(400);
      return errorOf(r);
    };
    expect((await problems({ from })).issues).toEqual([
      { path: 'to', message: expect.stringContaining('bounded') },
    ]);
    expect((await problems({})).issues!.map((i) => i.path)).toEqual(['from', 'to']);
    expect((await problems({ from: to, to: from })).issues).toEqual([
      { path: 'to', message: 'must be after from' },
    ]);
    expect((await problems({ from, to, maxEvents: 100_001 })).issues!.map((i) => i.path)).toEqual([
      'maxEvents',
    ]);
    expect(await problems({ from, to, handler: 'nobody.handles' })).toMatchObject({
      code: 'UNKNOWN_HANDLER',
    });
  });

  it('dead letters: listed with their error, paged, and re-driven once the cause is gone', async () => {
    const app = await start();
    // The engine announces a failure of an execution it never announced: the workflow module
    // cannot look it up (it retries, then gives up), so both its handlers dead-letter.
    const executionId = randomUUID();
    const workflowId = randomUUID();
    const userId = randomUUID();
    await call(app, 'POST', '/evco/events', {
      body: {
        eventType: 'WorkflowExecutionFailed',
        aggregateId: executionId,
        eventData: { executionId, workflowId, userId, error: 'boom', retryable: true },
      },
    });
    await app.coordinator().waitForIdle();

    const dead = (await call(app, 'GET', '/evco/dead-letters')).json();
    expect(dead.deadLetters.map((d: { delivery: { handler: string } }) => d.delivery.handler).sort()).toEqual(
      ['workflow.notifyUserOnExecutionFailed', 'workflow.retryFailedExecution'],
    );
    expect(dead.deadLetters[0].delivery).toMatchObject({
      status: 'dead',
      lastError: expect.stringContaining('unknown'),
    });
    expect([dead.nextCursor, dead.hasMore]).toEqual([null, false]);

    // Both letters belong to one event: a page of one must not cut between them, and as they are
    // all there is, it sends the client to no next page.
    const paged = (await call(app, 'GET', '/evco/dead-letters?limit=1', { headers: auth })).json();
    expect(paged.deadLetters).toHaveLength(2);
    expect([paged.nextCursor, paged.hasMore]).toEqual([null, false]);

    const filtered = (
      await call(app, 'GET', '/evco/dead-letters?handler=workflow.retryFailedExecution', { headers: auth })
    ).json();
    expect(filtered.deadLetters).toHaveLength(1);

    const unprocessed = (await call(app, 'GET', '/evco/unprocessed', { headers: auth })).json();
    expect(unprocessed.events).toHaveLength(1);
    expect(unprocessed.events[0].event.id).toBe(dead.deadLetters[0].event.id);
    expect(unprocessed.events[0].deliveries).toHaveLength(2);

    // The engine catches up: now the execution is known and the reactions succeed.
    await call(app, 'POST', '/evco/events', {
      body: {
        eventType: 'WorkflowExecutionStarted',
        aggregateId: executionId,
        eventData: { executionId, workflowId, userId },
      },
    });
    const one = dead.deadLetters[0].delivery.deliveryId;
    const first = await call(app, 'POST', '/evco/dead-letters/retry', {
      body: { deliveryIds: [one] },
      headers: auth,
    });
    expect(first.json()).toEqual({ retried: 1 });
    const rest2 = await call(app, 'POST', '/evco/dead-letters/retry', { headers: auth });
    expect(rest2.json()).toEqual({ retried: 1 });
    await app.coordinator().waitForIdle();
    expect((await call(app, 'GET', '/evco/dead-letters')).json().deadLetters).toEqual([]);
    expect((await call(app, 'GET', '/evco/unprocessed', { headers: auth })).json().events).toEqual([]);
    expect(app.runtime().deps.notifier.list(userId)).toHaveLength(1);

    const bad = await call(app, 'POST', '/evco/dead-letters/retry', {
      body: { everything: true },
      headers: auth,
    });
    expect(errorOf(bad).issues).toEqual([{ path: 'everything', message: 'unknown field' }]);
    const badLimit = await call(app, 'GET', '/evco/unprocessed?limit=5000', { headers: auth });
    expect(errorOf(badLimit).issues!.map((i) => i.path)).toEqual(['limit']);
  });
});

describe('errors', () => {
  it('unknown routes: 404 in the API shape', async () => {
    const app = await start();
    const res = await call(app, 'GET', '/nope?x=1');
    expect(res.statusCode).toBe(404);
    expect(errorOf(res)).toEqual({ code: 'NOT_FOUND', message: expect.stringContaining('GET /nope') });
  });

  it('maps evco codes to statuses and hides unexpected failures behind a request id', async () => {
    const app = await start();
    const coordinator = app.coordinator();
    vi.spyOn(coordinator, 'publishEvents').mockRejectedValueOnce(
      new StoreUnavailableError(`connection refused to postgresql://demo:${DB_PASSWORD}@db.internal/app`, {
        source: 'store-postgres',
      }),
    );
    const down = await call(app, 'POST', '/evco/events', { body: userRegistered() });
    expect(down.statusCode).toBe(503);
    // The client learns what failed, not where the database lives; the log has both (masked).
    expect(errorOf(down)).toMatchObject({
      code: 'STORE_UNAVAILABLE',
      message: '[evco:store-postgres] connection refused to <url>',
    });
    expect(down.body).not.toContain('db.internal');
    expect(app.logs.find((l) => l.includes('connection refused to'))).toContain(
      'postgresql://demo:***@db.internal/app',
    );

    vi.spyOn(coordinator, 'readEventHistory').mockRejectedValueOnce(
      new TypeError(`cannot read x of undefined (postgresql://demo:${DB_PASSWORD}@db.internal/app)`),
    );
    const bug = await call(app, 'GET', '/evco/events');
    expect(bug.statusCode).toBe(500);
    const error = errorOf(bug) as { code: string; message: string; requestId: string };
    expect(error.code).toBe('INTERNAL');
    expect(error.message).not.toContain('cannot read');
    // The log has the details (masked) under the request id.
    const logged = app.logs.find((l) => l.includes('"request failed"'));
    expect(logged).toContain(error.requestId);
    expect(logged).toContain('cannot read x of undefined');
  });
});

describe('lifecycle', () => {
  it('starts the coordinator when the app is ready and drains handlers on close', async () => {
    const app = await start({}, { handlerDelayMs: 200 });
    const coordinator = app.coordinator();
    expect(coordinator.state).toBe('running');
    const events = Array.from({ length: 5 }, () => workflowCompleted());
    await call(app, 'POST', '/evco/events', { body: { events } });
    await vi.waitFor(() =>
      expect(coordinator.getCoordinatorStatus()).resolves.toMatchObject({ counts: { inFlight: 5 } }),
    );
    const started = Date.now();
    await app.close();
    t = undefined;
    expect(coordinator.state).toBe('stopped');
    // Each handler finished its work before the store closed.
    expect(
      app
        .runtime()
        .deps.usage.list()
        .map((u) => u.executionId)
        .sort(),
    ).toEqual(events.map((e) => e.aggregateId).sort());
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('serves the OpenAPI document at /docs', async () => {
    const app = await start();
    const ui = await call(app, 'GET', '/docs');
    expect([200, 302]).toContain(ui.statusCode);
    const doc = (await call(app, 'GET', '/docs/json')).json();
    expect(Object.keys(doc.paths).sort()).toEqual([
      '/evco/dead-letters',
      '/evco/dead-letters/retry',
      '/evco/events',
      '/evco/events/{id}',
      '/evco/handlers',
      '/evco/handlers/{name}/retire',
      '/evco/health/live',
      '/evco/health/ready',
      '/evco/replays',
      '/evco/replays/{id}',
      '/evco/status',
      '/evco/unprocessed',
    ]);
    expect(doc.paths['/evco/replays'].post.security).toEqual([{ evcoAuth: [] }]);
    expect(doc.components.securitySchemes.evcoAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
    // Publishing is open in the demo: an explicitly empty security list.
    expect(doc.paths['/evco/events'].post.security).toEqual([]);
    expect(JSON.stringify(doc.paths['/evco/events'].post.requestBody)).toContain('WorkflowExecutionFailed');
  });
});
