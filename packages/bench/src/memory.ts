import { EventEmitter } from 'node:events';
import type { DomainEventInput, EventDrivenCoordinator } from '@evco/core';
import { createMemoryStore } from '@evco/store-memory';
import { type BenchSection, compare, countingCoordinator } from './harness.js';

const BATCH = 1000;

function inputs(n: number, offset: number): DomainEventInput[] {
  return Array.from({ length: n }, (_, i) => ({
    eventType: 'BenchHappened',
    aggregateId: `agg-${(offset + i) % 997}`,
    eventData: { n: offset + i, label: 'bench' },
  }));
}

async function coordinatorWithCounter(): Promise<{ c: EventDrivenCoordinator; handled: () => number }> {
  const { coordinator, handled } = await countingCoordinator(
    createMemoryStore(),
    { eventType: 'BenchHappened', name: 'counter' },
    { concurrency: 256 },
  );
  return { c: coordinator, handled };
}

async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setImmediate(r));
}

/**
 * evco on memory + in-process against a bare EventEmitter dispatch: the baseline does no
 * validation, no storage and no delivery tracking, so the ratio shows what those cost.
 */
export const memorySection: BenchSection = {
  name: 'memory',
  async run() {
    const results = [];
    const total = 100_000;

    // publishEvents in batches of 1000, one handler, all handled.
    {
      const emitter = new EventEmitter();
      let seen = 0;
      emitter.on('BenchHappened', async () => {
        seen++;
      });
      let evco = await coordinatorWithCounter();
      let offset = 0;
      results.push(
        await compare(
          `publishEvents batches of ${BATCH}, 1 handler, ${total} events handled`,
          total,
          {
            name: 'EventEmitter.emit',
            fn: async () => {
              seen = 0;
              for (let b = 0; b < total; b += BATCH) {
                for (const e of inputs(BATCH, b)) emitter.emit(e.eventType, e);
                await new Promise((r) => setImmediate(r));
              }
              await until(() => seen >= total);
            },
          },
          {
            name: 'evco memory+inproc',
            fn: async () => {
              await evco.c.shutdown();
              evco = await coordinatorWithCounter();
              for (let b = 0; b < total; b += BATCH) {
                await evco.c.publishEvents(inputs(BATCH, offset + b));
              }
              offset += total;
              await until(() => evco.handled() >= total);
            },
          },
          { goal: '>= 1 000 000 events handled/s' },
        ),
      );
      await evco.c.shutdown();
    }

    // Sequential awaited publishEvent.
    {
      const n = 50_000;
      const emitter = new EventEmitter();
      emitter.on('BenchHappened', async () => {});
      let evco = await coordinatorWithCounter();
      results.push(
        await compare(
          `sequential awaited publishEvent, ${n} events handled`,
          n,
          {
            name: 'EventEmitter.emit',
            fn: async () => {
              for (const e of inputs(n, 0)) {
                emitter.emit(e.eventType, e);
                await Promise.resolve();
              }
            },
          },
          {
            name: 'evco memory+inproc',
            fn: async () => {
              await evco.c.shutdown();
              evco = await coordinatorWithCounter();
              for (const e of inputs(n, 0)) await evco.c.publishEvent(e);
              await until(() => evco.handled() >= n);
            },
          },
          { goal: '>= 200 000 events/s' },
        ),
      );
      await evco.c.shutdown();
    }
    return results;
  },
};
