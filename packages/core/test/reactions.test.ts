import { describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import {
  defineEvent,
  type EventOf,
  type RecordedEvent,
  reaction,
  registerHandler,
  registerReactions,
} from '../src/index.js';
import { memoryCoordinator } from './support.js';

const OrderPlaced = defineEvent('OrderPlaced', z.object({ total: z.number() }));
const OrderCancelled = defineEvent('OrderCancelled', z.object({ reason: z.string() }));

describe('a handler registered with a definition', () => {
  it("gets the schema's output: a coerced Date, a default for a field the publisher left out", async () => {
    const c = await memoryCoordinator();
    const Shipped = defineEvent(
      'Shipped',
      z.object({ at: z.coerce.date(), carrier: z.string().default('post') }),
    );
    const seen: Array<[Date, string]> = [];
    await c.registerHandler(Shipped, async function recordShipment(e) {
      seen.push([e.eventData.at, e.eventData.carrier]);
    });
    await c.publishEvent(Shipped.create({ aggregateId: 's1', data: { at: new Date(0) } }));
    // An untyped publisher of the same event, without the defaulted field.
    await c.publishEvent({
      eventType: 'Shipped',
      aggregateId: 's2',
      eventData: { at: '2026-01-01T00:00:00Z' },
    });
    await c.waitForIdle();
    // Before: the stored ISO string and undefined reached a handler typed Date and string.
    expect(seen.map(([at, carrier]) => [at instanceof Date && at.toISOString(), carrier])).toEqual([
      ['1970-01-01T00:00:00.000Z', 'post'],
      ['2026-01-01T00:00:00.000Z', 'post'],
    ]);
    expect(await c.getDeadLetters()).toEqual([]);
    await c.shutdown();
  });
});

describe('reaction tables', () => {
  it('registers every row in order under its name, and each reaction gets its events', async () => {
    const c = await memoryCoordinator();
    const seen: string[] = [];
    const table = [
      reaction('orders.bill', OrderPlaced, async (e) => {
        seen.push(`bill ${e.eventData.total}`);
      }),
      reaction('orders.track', [OrderPlaced, OrderCancelled], async (e) => {
        seen.push(OrderPlaced.is(e) ? `track placed` : `track cancelled ${e.eventData.reason}`);
      }),
    ];
    const registrations = await registerReactions(c, table);
    expect(registrations.map((r) => [r.name, r.eventTypes])).toEqual([
      ['orders.bill', ['OrderPlaced']],
      ['orders.track', ['OrderPlaced', 'OrderCancelled']],
    ]);
    await c.publishEvent(OrderPlaced.create({ aggregateId: 'o1', data: { total: 3 } }));
    await c.publishEvent(OrderCancelled.create({ aggregateId: 'o1', data: { reason: 'late' } }));
    await c.waitForIdle();
    expect(seen.sort()).toEqual(['bill 3', 'track cancelled late', 'track placed']);
    await c.shutdown();
  });

  it("applies the caller's module options to every row, over the row's own; keeps the rest of the row's", async () => {
    const c = await memoryCoordinator();
    const attempts = { strict: 0, slow: 0 };
    await registerReactions(
      c,
      [
        reaction(
          'orders.strict',
          OrderPlaced,
          async () => {
            attempts.strict += 1;
            throw new Error('refused');
          },
          { retry: { maxAttempts: 5, baseDelayMs: 1, maxDelayMs: 1 } },
        ),
        reaction(
          'orders.slow',
          OrderCancelled,
          async () => {
            attempts.slow += 1;
            await new Promise(() => {});
          },
          { timeoutMs: 30 },
        ),
      ],
      { retry: { maxAttempts: 1 } },
    );
    await c.publishEvent(OrderPlaced.create({ aggregateId: 'o1', data: { total: 1 } }));
    await c.publishEvent(OrderCancelled.create({ aggregateId: 'o2', data: { reason: 'x' } }));
    await c.waitForIdle();
    const dead = await c.getDeadLetters();
    expect(attempts).toEqual({ strict: 1, slow: 1 });
    expect(
      dead
        .map((d) => [d.delivery.handler, d.delivery.attempts, d.delivery.lastError?.includes('30 ms')])
        .sort(),
    ).toEqual([
      ['orders.slow', 1, true],
      ['orders.strict', 1, false],
    ]);
    await c.shutdown();
  });

  it('types each handler by the events of its row', () => {
    const bill = async (e: EventOf<typeof OrderPlaced>) => {
      expect(e.eventData.total).toBeTypeOf('number');
    };
    expect(reaction('orders.bill', OrderPlaced, bill).on).toBe(OrderPlaced);
    // @ts-expect-error an OrderCancelled has no total: this handler cannot take one
    expect(reaction('orders.bill', OrderCancelled, bill).name).toBe('orders.bill');
  });

  it('registerHandler refuses, at compile time, a handler typed for other events than the definition', async () => {
    const c = await memoryCoordinator();
    const bill = async function bill(e: EventOf<typeof OrderPlaced>) {
      expect(e.eventData.total).toBeTypeOf('number');
    };
    await c.registerHandler(OrderPlaced, bill);
    // Before: accepted through the string-target overload, whose handler type is free.
    // @ts-expect-error an OrderCancelled has no total: this handler cannot take one
    await c.registerHandler(OrderCancelled, bill, { name: 'bill.cancelled' });
    // The same through the process-wide registerHandler (compiled, not called: no coordinator here).
    const processWide = () =>
      // @ts-expect-error an OrderCancelled has no total: this handler cannot take one
      registerHandler(OrderCancelled, bill);
    void processWide;
    // Names still take a handler typed as the caller asserts, and a mixed target an untyped one.
    await c.registerHandler<EventOf<typeof OrderPlaced>>('OrderPlaced', bill, { name: 'bill.byName' });
    await c.registerHandler([OrderPlaced, 'Legacy'], async function legacy(e) {
      expectTypeOf(e).toEqualTypeOf<RecordedEvent>();
    });
    await c.shutdown();
  });
});
