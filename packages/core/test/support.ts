// Core cannot depend on its adapters or on testkit (they depend on it), so its tests load the
// reference store, the in-process publisher and testkit's coordinator helper from their sources.
import { createInProcPublisher } from '../../publisher-inproc/src/index.js';
import { createMemoryStore } from '../../store-memory/src/index.js';
import { createTestCoordinator } from '../../testkit/src/coordinator.js';
import type { CoordinatorOptions, EventDrivenCoordinator, EventStore } from '../src/index.js';

export { createInProcPublisher, createMemoryStore };

export function memoryCoordinator(
  options: Partial<CoordinatorOptions> = {},
): Promise<EventDrivenCoordinator> {
  return createTestCoordinator({ store: createMemoryStore, publisher: createInProcPublisher }, options);
}

/** Wraps a store so every method call is recorded by name, before it runs. */
export function spyStore(store: EventStore): { store: EventStore; calls: string[] } {
  const calls: string[] = [];
  const proxy = new Proxy(store, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls.push(String(key));
        return value.apply(target, args);
      };
    },
  });
  return { store: proxy, calls };
}
