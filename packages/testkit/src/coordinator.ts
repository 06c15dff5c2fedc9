import {
  type CoordinatorOptions,
  createCoordinator,
  type EventDrivenCoordinator,
  type EventPublisher,
  type EventStore,
  silentLogger,
} from '@evco/core';

/**
 * The adapters a test coordinator gets, as factories (a fresh pair per coordinator). Parameters
 * rather than dependencies: the adapters use testkit for their own tests, so testkit depends on
 * none of them.
 */
export interface TestAdapters {
  store: () => EventStore;
  publisher: () => EventPublisher;
}

/**
 * A coordinator for tests: fresh adapters, a silent logger, a 20 ms recovery poll; `options`
 * override any of it.
 */
export function createTestCoordinator(
  adapters: TestAdapters,
  options: Partial<CoordinatorOptions> = {},
): Promise<EventDrivenCoordinator> {
  return createCoordinator({
    store: adapters.store(),
    publisher: adapters.publisher(),
    logger: silentLogger,
    pollIntervalMs: 20,
    ...options,
  });
}

/** Quick retries: a reaction that overtook the event it needs gets another go within milliseconds. */
export const fastRetry = { retry: { baseDelayMs: 1, maxDelayMs: 5 } } as const;

/** Re-delivers every stored event to `handler` (or to every handler), as after a crash or an admin replay. */
export async function replayAll(coordinator: EventDrivenCoordinator, handler?: string): Promise<void> {
  await coordinator.replayEvents({ from: new Date(0), to: new Date(Date.now() + 60_000), handler });
  await coordinator.waitForIdle();
}
