import { afterEach, describe, expect, it } from 'vitest';
import {
  getCoordinator,
  isEvcoError,
  publishEvent,
  publishEvents,
  type RecordedEvent,
  registerHandler,
  shutdownCoordinator,
  silentLogger,
} from '../src/index.js';
import { createInProcPublisher, createMemoryStore, spyStore } from './support.js';

const options = () => ({
  store: createMemoryStore(),
  publisher: createInProcPublisher(),
  logger: silentLogger,
});

afterEach(async () => {
  await shutdownCoordinator();
});

describe('process-wide coordinator', () => {
  it('says how to configure it when used before getCoordinator(options)', async () => {
    const error = await publishEvent({ eventType: 'Early', aggregateId: 'a' }).catch((e: unknown) => e);
    expect(isEvcoError(error, 'COORDINATOR_NOT_CONFIGURED')).toBe(true);
    expect((error as Error).message).toMatch(/getCoordinator\(\{ store, publisher \}\)/);
  });

  it('returns one instance, also to concurrent first callers', async () => {
    const [a, b, c] = await Promise.all([
      getCoordinator(options()),
      getCoordinator(options()),
      getCoordinator(),
    ]);
    expect(a).toBe(b);
    expect(b).toBe(c);
    expect(await getCoordinator()).toBe(a);
  });

  it('mirrors the original module: register, publish, handle, shut down', async () => {
    await getCoordinator(options());
    const seen: RecordedEvent[] = [];
    await registerHandler('UserRegistered', async function onUserRegistered(event) {
      seen.push(event);
    });
    const one = await publishEvent({
      eventType: 'UserRegistered',
      aggregateId: 'u1',
      eventData: { email: 'a@b.c' },
    });
    const more = await publishEvents([
      { eventType: 'UserRegistered', aggregateId: 'u2' },
      { eventType: 'UserRegistered', aggregateId: 'u3' },
    ]);
    const coordinator = await getCoordinator();
    await coordinator.waitForIdle();
    expect(seen.map((e) => e.id)).toEqual([one.eventId, ...more.map((r) => r.eventId)]);
    await shutdownCoordinator();
    expect(coordinator.state).toBe('stopped');
    const error = await publishEvent({ eventType: 'Late', aggregateId: 'x' }).catch((e: unknown) => e);
    expect(isEvcoError(error, 'COORDINATOR_CLOSED')).toBe(true);
    const fresh = await getCoordinator(options());
    expect(fresh).not.toBe(coordinator);
  });

  it('publishEvent and publishEvents take the publish options, as the coordinator does', async () => {
    await getCoordinator(options());
    const id = '0190a0b0-1234-7abc-8def-0123456789ab';
    const first = await publishEvent({ id, eventType: 'PaymentTaken', aggregateId: 'p1' });
    // A retry of a publish whose outcome was unknown (architecture: 'retry it with the same event').
    // Before: the options were dropped, and the retry failed with DUPLICATE_EVENT.
    const again = await publishEvent(
      { id, eventType: 'PaymentTaken', aggregateId: 'p1' },
      { idempotent: true },
    );
    expect(again.position).toBe(first.position);
    const batch = await publishEvents([{ id, eventType: 'PaymentTaken', aggregateId: 'p1' }], {
      idempotent: true,
    });
    expect(batch.map((r) => r.position)).toEqual([first.position]);
  });

  it('publishes eventData typed by an interface (no index signature), from the caller and from a handler', async () => {
    interface OrderData {
      orderId: string;
      total: number;
    }
    const order: OrderData = { orderId: 'o1', total: 5 };
    const c = await getCoordinator(options());
    await registerHandler('OrderPlaced', async function confirm(event, ctx) {
      // Before: TS2322 here and below, 'Index signature for type 'string' is missing in type 'OrderData''.
      await ctx.publish({ eventType: 'OrderConfirmed', aggregateId: event.aggregateId, eventData: order });
    });
    await publishEvent({ eventType: 'OrderPlaced', aggregateId: 'o1', eventData: order });
    await c.publishEvents([{ eventType: 'OrderNoted', aggregateId: 'o1', eventData: order }]);
    await c.waitForIdle();
    const stored = await c.getEventHistory({ aggregateId: 'o1' });
    expect(stored.map((e) => [e.eventType, e.eventData]).sort()).toEqual([
      ['OrderConfirmed', order],
      ['OrderNoted', order],
      ['OrderPlaced', order],
    ]);
  });

  it('a failed first start does not poison later calls', async () => {
    const error = await getCoordinator({ ...options(), leaseMs: -5 }).catch((e: unknown) => e);
    expect(isEvcoError(error, 'INVALID_OPTIONS')).toBe(true);
    const ok = await getCoordinator(options());
    expect(ok.state).toBe('running');
  });

  it('shutdownCoordinator refuses bad options before touching the coordinator, which keeps running', async () => {
    const first = await getCoordinator(options());
    const error = await shutdownCoordinator({ timeoutMs: '5s' } as unknown as { timeoutMs?: number }).catch(
      (e: unknown) => e,
    );
    expect(isEvcoError(error, 'INVALID_OPTIONS')).toBe(true);
    expect(await getCoordinator()).toBe(first);
    await publishEvent({ eventType: 'StillRunning', aggregateId: 'a' });
  });

  it('a later getCoordinator(options) closes the adapters it handed over, not the running ones, nor with closeAdapters: false', async () => {
    const first = options();
    const running = await getCoordinator(first);
    /** Every adapter of one later call, with the methods called on each. */
    const later = () => {
      const store = spyStore(createMemoryStore());
      const publisher = spyStore(createInProcPublisher() as never);
      return {
        store,
        publisher,
        options: { store: store.store, publisher: publisher.store as never, logger: silentLogger },
      };
    };
    const settled = () => new Promise((resolve) => setImmediate(resolve));

    const extra = later();
    expect(await getCoordinator(extra.options)).toBe(running);
    await settled();
    expect(extra.store.calls).toContain('close');
    expect(extra.publisher.calls).toContain('close');

    const kept = later();
    expect(await getCoordinator({ ...kept.options, closeAdapters: false })).toBe(running);
    // The running coordinator's own adapters passed again, beside a new publisher.
    const mixed = later();
    expect(await getCoordinator({ ...first, publisher: mixed.options.publisher })).toBe(running);
    await settled();
    expect(kept.store.calls).not.toContain('close');
    expect(kept.publisher.calls).not.toContain('close');
    expect(mixed.publisher.calls).toContain('close');
    // Its own store stayed open: it still publishes and handles.
    let handled = 0;
    await registerHandler('StillOpen', async function stillOpen() {
      handled += 1;
    });
    await publishEvent({ eventType: 'StillOpen', aggregateId: 'a' });
    await running.waitForIdle();
    expect(handled).toBe(1);
  });
});
