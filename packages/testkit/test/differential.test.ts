// testkit depends on no store (they use it for their tests), so this loads the reference store
// from its sources, as core's tests do.
import type { EventStore } from '@evco/core';
import { describe, expect, it } from 'vitest';
import { createMemoryStore } from '../../store-memory/src/index.js';
import { runDifferential } from '../src/index.js';

/** A store that behaves like the reference except for one method. */
function brokenStore(method: keyof EventStore, replacement: (store: EventStore) => unknown): EventStore {
  const store = createMemoryStore();
  return new Proxy(store, {
    get: (target, key, receiver) =>
      key === method
        ? replacement(target)
        : (Reflect.get(target, key, receiver)?.bind?.(target) ?? Reflect.get(target, key, receiver)),
  });
}

describe('the differential harness', () => {
  it('passes a store that is the reference', async () => {
    await runDifferential({ create: async () => createMemoryStore(), reference: createMemoryStore }, 1, 200);
  });

  it('names the seed, the step and the last operations when a store loses a completion', async () => {
    const error = await runDifferential(
      { create: async () => brokenStore('complete', () => async () => {}), reference: createMemoryStore },
      1,
      400,
    ).catch((e: unknown) => e);
    expect(String(error)).toMatch(/seed 1, step \d+: .*complete \d+/);
  });

  it('catches a store whose retry of dead letters reports a count but re-drives nothing', async () => {
    const error = await runDifferential(
      {
        create: async () => brokenStore('retryDeadLetters', () => async () => 0),
        reference: createMemoryStore,
      },
      3,
      400,
    ).catch((e: unknown) => e);
    expect(String(error)).toMatch(/retry dead letters/);
  });

  it("with positions: 'equal', catches positions that only keep the order", async () => {
    const shifted = () =>
      brokenStore(
        'read',
        (target) => async (query: Parameters<EventStore['read']>[0]) =>
          (await target.read(query)).map((e) => ({ ...e, position: String(Number(e.position) * 10) })),
      );
    const equal = await runDifferential(
      { create: async () => shifted(), reference: createMemoryStore, positions: 'equal' },
      2,
      50,
    ).catch((e: unknown) => e);
    expect(String(equal)).toMatch(/seed 2, step \d+/);
  });
});
