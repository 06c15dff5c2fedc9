// Core cannot depend on its adapters (they depend on it), so its tests load the reference
// store and publisher straight from their sources.
import { createInProcPublisher } from '../../publisher-inproc/src/index.js';
import { createMemoryStore } from '../../store-memory/src/index.js';
import {
  type CoordinatorOptions,
  createCoordinator,
  type EventDrivenCoordinator,
  silentLogger,
} from '../src/index.js';

export { createInProcPublisher, createMemoryStore };

export async function memoryCoordinator(
  options: Partial<CoordinatorOptions> = {},
): Promise<EventDrivenCoordinator> {
  return createCoordinator({
    store: createMemoryStore(),
    publisher: createInProcPublisher(),
    logger: silentLogger,
    pollIntervalMs: 20,
    ...options,
  });
}
