import { createCoordinator, type EventDrivenCoordinator, silentLogger } from '@evco/core';
import { createInProcPublisher } from '@evco/publisher-inproc';
import { createMemoryStore } from '@evco/store-memory';
import { afterEach, describe, it } from 'vitest';
import { createModules, registerAllModules } from '../src/modules.js';
import { assertReplayChangesNothing, assertStory, runCrossModuleStory } from './story.js';

let coordinator: EventDrivenCoordinator | undefined;

afterEach(async () => {
  await coordinator?.shutdown();
});

describe('the four modules on store-memory + publisher-inproc', () => {
  it('tell the cross-module story: one flow, every module in its final state', async () => {
    coordinator = await createCoordinator({
      store: createMemoryStore(),
      publisher: createInProcPublisher(),
      logger: silentLogger,
      pollIntervalMs: 20,
    });
    const deps = createModules();
    await registerAllModules(coordinator, deps, {
      retry: { maxAttempts: 20, baseDelayMs: 1, maxDelayMs: 5 },
    });

    const story = await runCrossModuleStory(coordinator, deps);
    await assertStory(coordinator, deps, story);
    await assertReplayChangesNothing(coordinator, deps, story);
  });
});
