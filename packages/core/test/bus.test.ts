import { describe, expect, it, vi } from 'vitest';
import {
  createDomainEvent,
  type EventPublisher,
  type EventStore,
  isEvcoError,
  type Logger,
  type RecordedEvent,
} from '../src/index.js';
import { createInProcPublisher, createMemoryStore, memoryCoordinator } from './support.js';

function recordingLogger() {
  const entries: Array<{ level: string; obj: Record<string, unknown>; msg?: string }> = [];
  const log =
    (level: string) =>
    (obj: object | string, msg?: string): void => {
      entries.push(
        typeof obj === 'string'
          ? { level, obj: {}, msg: obj }
          : { level, obj: obj as Record<string, unknown>, msg },
      );
    };
  const logger: Logger = {
    debug: log('debug'),
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
    isLevelEnabled: () => true,
    child: () => logger,
  };
  return { logger, entries };
}

describe('EventBus publish path', () => {
  it('runs beforePublish in order, afterPublish in reverse, and stores the enriched event', async () => {
    const c = await memoryCoordinator();
    const calls: string[] = [];
    for (const name of ['first', 'second']) {
      c.eventBus.addMiddleware({
        name,
        beforePublish(event) {
          calls.push(`before:${name}`);
          return createDomainEvent({ ...event, metadata: { ...event.metadata, [name]: 'yes' } });
        },
        afterPublish(_event, result) {
          calls.push(`after:${name}`);
          return { ...result, deliveries: result.deliveries + 10 };
        },
      });
    }
    const result = await c.publishEvent({ eventType: 'Enriched', aggregateId: 'a' });
    expect(calls).toEqual(['before:first', 'before:second', 'after:second', 'after:first']);
    expect(result.deliveries).toBe(20);
    const [stored] = await c.getEventHistory({ eventType: 'Enriched' });
    expect(stored!.metadata).toMatchObject({ first: 'yes', second: 'yes' });
    expect(stored!.id).toBe(result.eventId);
    await c.shutdown();
  });

  it('re-validates what a middleware returns', async () => {
    const c = await memoryCoordinator();
    c.eventBus.addMiddleware({
      beforePublish: (event) => ({ ...event, eventData: { bad: 1n } }) as never,
    });
    const error = await c.publishEvent({ eventType: 'X', aggregateId: 'a' }).catch((e: unknown) => e);
    expect(isEvcoError(error, 'EVENT_VALIDATION')).toBe(true);
    expect(await c.getEventHistory()).toEqual([]);
    await c.shutdown();
  });

  it('names the middleware whose returned event is invalid, and one that returned nothing', async () => {
    const c = await memoryCoordinator();
    const remove = c.eventBus.addMiddleware({
      name: 'tenant',
      beforePublish: (event) => ({ ...event, metadata: { ...event.metadata, tenant: { id: 1 } } }) as never,
    });
    const invalid = await c.publishEvent({ eventType: 'X', aggregateId: 'a' }).catch((e: unknown) => e);
    expect(isEvcoError(invalid, 'EVENT_VALIDATION')).toBe(true);
    // Before: 'invalid event: metadata.tenant: Invalid input', as if the caller's event were wrong.
    expect((invalid as Error).message).toBe(
      '[evco:core] invalid event returned by middleware "tenant": metadata.tenant: must be a string or a number, got object',
    );
    remove();
    // A beforePublish that forgot its return (plain JS, or typed loosely); for both publish paths.
    c.eventBus.addMiddleware({ name: 'audit', beforePublish: (() => {}) as never });
    const nothing = await c.publishEvent({ eventType: 'X', aggregateId: 'a' }).catch((e: unknown) => e);
    // Before: a TypeError, "Cannot use 'in' operator to search for '#bytes' in undefined".
    expect(isEvcoError(nothing, 'EVENT_VALIDATION')).toBe(true);
    expect((nothing as Error).message).toBe(
      '[evco:core] invalid event returned by middleware "audit": (root): beforePublish returned undefined instead of an event: return the event it was given, or a copy (withMetadata(event, { ... }) adds metadata)',
    );
    expect(await c.getEventHistory()).toEqual([]);
    await c.shutdown();
  });

  it('a beforePublish that throws rejects the publish and stores nothing, for the whole batch', async () => {
    const c = await memoryCoordinator();
    const seen: string[] = [];
    await c.registerHandler('Guarded', async function guardedHandler(e) {
      seen.push(e.id);
    });
    const remove = c.eventBus.addMiddleware({
      beforePublish(event) {
        if (event.eventData.forbidden) throw new Error('not allowed');
        return event;
      },
    });
    const error = await c
      .publishEvents([
        { eventType: 'Guarded', aggregateId: 'a' },
        { eventType: 'Guarded', aggregateId: 'b', eventData: { forbidden: true } },
      ])
      .catch((e: unknown) => e);
    expect((error as Error).message).toBe('not allowed');
    expect(await c.getEventHistory()).toEqual([]);
    remove();
    await c.publishEvent({ eventType: 'Guarded', aggregateId: 'b', eventData: { forbidden: true } });
    await c.waitForIdle();
    expect(seen.length).toBe(1);
    expect((await c.getCoordinatorStatus()).counts.published).toBe(1);
    await c.shutdown();
  });

  it('validates before any I/O: a bad event in a batch reaches neither store nor publisher', async () => {
    const store = createMemoryStore();
    const publisher = createInProcPublisher();
    const append = vi.spyOn(store, 'append');
    const publish = vi.spyOn(publisher, 'publish');
    const c = await memoryCoordinator({ store, publisher });
    const error = await c
      .publishEvents([
        { eventType: 'Ok', aggregateId: 'a' },
        { eventType: 'not ok', aggregateId: '', eventData: { n: Number.NaN } },
      ])
      .catch((e: unknown) => e);
    expect(isEvcoError(error, 'EVENT_VALIDATION')).toBe(true);
    expect((error as { issues: Array<{ path: string }> }).issues.map((i) => i.path)).toEqual([
      '[1].eventType',
      '[1].aggregateId',
      '[1].eventData.n',
    ]);
    expect(append).not.toHaveBeenCalled();
    expect(publish).not.toHaveBeenCalled();
    await c.shutdown();
  });

  it('rejects the same event id twice in one batch, and an already stored id', async () => {
    const c = await memoryCoordinator();
    const e = createDomainEvent({ eventType: 'Once', aggregateId: 'a' });
    const twice = await c.publishEvents([e, e]).catch((x: unknown) => x);
    expect(isEvcoError(twice, 'EVENT_VALIDATION')).toBe(true);
    await c.publishEvent(e);
    const again = await c.publishEvent(e).catch((x: unknown) => x);
    expect(isEvcoError(again, 'DUPLICATE_EVENT')).toBe(true);
    expect((await c.getEventHistory()).length).toBe(1);
    await c.shutdown();
  });

  it('publishEvents is atomic: a version conflict stores none of the batch', async () => {
    const c = await memoryCoordinator();
    await c.publishEvent({ eventType: 'Deposited', aggregateId: 'acc', aggregateVersion: 1 });
    const error = await c
      .publishEvents([
        { eventType: 'Deposited', aggregateId: 'other', aggregateVersion: 1 },
        { eventType: 'Deposited', aggregateId: 'acc', aggregateVersion: 1 },
      ])
      .catch((x: unknown) => x);
    expect(isEvcoError(error, 'CONCURRENCY')).toBe(true);
    expect((await c.getEventHistory()).map((e) => e.aggregateId)).toEqual(['acc']);
    await c.shutdown();
  });

  it('a publisher failure after the append is logged and counted; recovery still delivers the event', async () => {
    const inner = createInProcPublisher();
    const broken: EventPublisher = {
      ...inner,
      name: 'broken',
      capabilities: inner.capabilities,
      publish: async () => {
        throw new Error('redis is down');
      },
      subscribe: (l, h) => inner.subscribe(l, h),
      healthCheck: () => inner.healthCheck(),
      close: () => inner.close(),
    };
    // Two processes sharing a store: the publisher of the first cannot ring the second.
    const store = createMemoryStore();
    const { logger, entries } = recordingLogger();
    const publisherSide = await memoryCoordinator({ store, publisher: broken, logger, closeAdapters: false });
    const handlerSide = await memoryCoordinator({
      store,
      publisher: createInProcPublisher(),
      pollIntervalMs: 30,
      closeAdapters: false,
    });
    const handled: RecordedEvent[] = [];
    await handlerSide.registerHandler('Paid', async function onPaid(e) {
      handled.push(e);
    });
    const result = await publisherSide.publishEvent({ eventType: 'Paid', aggregateId: 'p1' });
    expect(result.deliveries).toBe(1);
    const status = await publisherSide.getCoordinatorStatus();
    expect(status.counts.publishFailures).toBe(1);
    expect(entries.some((e) => e.level === 'warn' && /announcement failed/.test(e.msg ?? ''))).toBe(true);
    await handlerSide.waitForIdle();
    expect(handled.map((e) => e.id)).toEqual([result.eventId]);
    await publisherSide.shutdown();
    await handlerSide.shutdown();
  });

  it('announces to other coordinators on the same publisher, which claim and run their handlers', async () => {
    const store = createMemoryStore();
    const publisher = createInProcPublisher();
    const a = await memoryCoordinator({ store, publisher, pollIntervalMs: 60_000, closeAdapters: false });
    const b = await memoryCoordinator({ store, publisher, pollIntervalMs: 60_000, closeAdapters: false });
    const ran: string[] = [];
    await b.registerHandler('Pinged', async function onPing(e) {
      ran.push(e.id);
    });
    const r = await a.publishEvent({ eventType: 'Pinged', aggregateId: 'x' });
    await b.waitForIdle();
    expect(ran).toEqual([r.eventId]);
    await a.shutdown();
    await b.shutdown();
  });
});

describe('unused store methods are not required by the publish path', () => {
  it('works with a store that only appends and claims', async () => {
    // Guard that the bus calls nothing but append on publish (the rest is the dispatcher's).
    const store = createMemoryStore();
    const spies = Object.fromEntries(
      (['read', 'getUnprocessedEvents', 'getDeadLetters', 'stats'] as const).map((m) => [
        m,
        vi.spyOn(store as EventStore, m),
      ]),
    );
    const c = await memoryCoordinator({ store });
    await c.publishEvent({ eventType: 'Quiet', aggregateId: 'a' });
    for (const spy of Object.values(spies)) expect(spy).not.toHaveBeenCalled();
    await c.shutdown();
  });
});

describe('publisher outage logging', () => {
  it('warns once per 10 s while announcements keep failing, counting every failure', async () => {
    const inner = createInProcPublisher();
    const down: EventPublisher = {
      name: 'down',
      capabilities: inner.capabilities,
      publish: async () => {
        throw new Error('connection refused');
      },
      subscribe: (l, h) => inner.subscribe(l, h),
      healthCheck: () => inner.healthCheck(),
      close: () => inner.close(),
    };
    const { logger, entries } = recordingLogger();
    const c = await memoryCoordinator({ publisher: down, logger });
    for (let i = 0; i < 50; i++) await c.publishEvent({ eventType: 'Noisy', aggregateId: `n${i}` });
    const warnings = entries.filter((e) => e.level === 'warn' && /announcement failed/.test(e.msg ?? ''));
    expect(warnings.length).toBe(1);
    expect(entries.filter((e) => e.level === 'debug' && e.msg === 'announcement failed').length).toBe(49);
    expect((await c.getCoordinatorStatus()).counts.publishFailures).toBe(50);
    expect((await c.getEventHistory({ eventType: 'Noisy' })).length).toBe(50);
    await c.shutdown();
  });
});

describe('store wake-ups', () => {
  it('an append announced by the store itself (e.g. LISTEN/NOTIFY) wakes the dispatcher', async () => {
    const store = createMemoryStore();
    let ring: ((types: readonly string[] | undefined) => void) | undefined;
    let unsubscribed = false;
    const notifying = Object.assign(store, {
      onAppended(listener: (types: readonly string[] | undefined) => void) {
        ring = listener;
        return () => {
          unsubscribed = true;
        };
      },
    });
    const c = await memoryCoordinator({ store: notifying, pollIntervalMs: 3_600_000 });
    const handled: string[] = [];
    await c.registerHandler('Rung', async function onRung(e) {
      handled.push(e.id);
    });
    // Another process appended (straight into the shared store, no announcement at all).
    const { events } = await store.append([createDomainEvent({ eventType: 'Rung', aggregateId: 'r' })], {
      now: new Date(),
    });
    ring!(['Rung']);
    await vi.waitFor(() => expect(handled).toEqual([events[0]!.id]));
    await c.shutdown();
    expect(unsubscribed).toBe(true);
  });
});
