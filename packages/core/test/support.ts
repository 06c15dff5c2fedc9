// Core cannot depend on its adapters or on testkit (they depend on it), so its tests load the
// reference store, the in-process publisher and testkit's coordinator helper from their sources.
import { createInProcPublisher } from '../../publisher-inproc/src/index.js';
import { createMemoryStore } from '../../store-memory/src/index.js';
import { createTestCoordinator } from '../../testkit/src/coordinator.js';
import type { CoordinatorOptions, EventDrivenCoordinator } from '../src/index.js';

export { createInProcPublisher, createMemoryStore };

export function memoryCoordinator(
  options: Partial<CoordinatorOptions> = {},
): Promise<EventDrivenCoordinator> {
  return createTestCoordinator({ store: createMemoryStore, publisher: createInProcPublisher }, options);
}
