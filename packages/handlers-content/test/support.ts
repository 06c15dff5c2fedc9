import { createCoordinator, type EventDrivenCoordinator, silentLogger } from '@evco/core';
import { createInProcPublisher } from '@evco/publisher-inproc';
import { createMemoryStore } from '@evco/store-memory';

/** Quick retries: a reaction that overtook the event it needs gets another go within milliseconds. */
export const fastRetry = { retry: { baseDelayMs: 1, maxDelayMs: 5 } };

export function memoryCoordinator(): Promise<EventDrivenCoordinator> {
  return createCoordinator({
    store: createMemoryStore(),
    publisher: createInProcPublisher(),
    logger: silentLogger,
    pollIntervalMs: 20,
  });
}

/** Re-delivers every stored event to `handler` (or to every handler), as after a crash or an admin replay. */
export async function replayAll(coordinator: EventDrivenCoordinator, handler?: string): Promise<void> {
  await coordinator.replayEvents({ from: new Date(0), to: new Date(Date.now() + 60_000), handler });
  await coordinator.waitForIdle();
}
