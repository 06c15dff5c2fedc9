/**
 * The composition root: a coordinator on the chosen adapters with all four modules registered.
 * `createDemoCoordinator` is what `main.ts` hands to the app; tests call `composeDemo` with the
 * memory store and the in-process publisher.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type CoordinatorOptions,
  createCoordinator,
  type EventDrivenCoordinator,
  type EventHandler,
  type HandlerTarget,
  type Logger,
  type RegisterHandlerOptions,
} from '@evco/core';
import { createPublisher, createStore, waitForPublisher } from './adapters.js';
import type { DemoConfig } from './config.js';
import { createModules, type ModuleDeps, type ModulesOptions, registerAllModules } from './modules.js';
import { workflowEngineStandIn } from './workflow-engine.js';

export interface ComposeOptions extends Omit<CoordinatorOptions, 'logger' | 'middleware'> {
  logger: Logger;
  /** Simulated latency before every handler (EVCO_HANDLER_DELAY_MS). @default 0 */
  handlerDelayMs?: number;
  modules?: ModulesOptions;
  /** Passed to every module handler (e.g. short retry delays in tests). */
  handlerOptions?: Parameters<typeof registerAllModules>[2];
}

export interface DemoRuntime {
  coordinator: EventDrivenCoordinator;
  /** The modules' in-memory state, per process. */
  deps: ModuleDeps;
}

/** Runs `handler` after `delayMs`; the wait ends early (and the handler is skipped) when the run is aborted. */
function withLatency(handler: EventHandler, delayMs: number): EventHandler {
  const run = typeof handler === 'function' ? handler : handler.handle.bind(handler);
  return async (event, context) => {
    await sleep(delayMs, undefined, { signal: context.signal });
    await run(event, context);
  };
}

export async function composeDemo(options: ComposeOptions): Promise<DemoRuntime> {
  const { handlerDelayMs = 0, modules, handlerOptions, ...coordinatorOptions } = options;
  const deps = createModules(modules);
  const coordinator = await createCoordinator({
    ...coordinatorOptions,
    middleware: [workflowEngineStandIn(deps.workflows, options.logger)],
  });
  try {
    const delayed = (target: HandlerTarget, handler: EventHandler, handlerOpts?: RegisterHandlerOptions) =>
      coordinator.registerHandler(target, withLatency(handler, handlerDelayMs), handlerOpts);
    const registrar: Pick<EventDrivenCoordinator, 'registerHandler'> =
      handlerDelayMs > 0
        ? { registerHandler: delayed as EventDrivenCoordinator['registerHandler'] }
        : coordinator;
    await registerAllModules(registrar, deps, handlerOptions);
  } catch (error) {
    await coordinator.shutdown({ timeoutMs: 0 });
    throw error;
  }
  return { coordinator, deps };
}

/** The coordinator `main.ts` runs: adapters from the configuration, every module registered. */
export async function createDemoCoordinator(
  config: DemoConfig,
  logger: Logger,
  instrumentation: CoordinatorOptions['instrumentation'] = [],
): Promise<EventDrivenCoordinator> {
  const store = createStore(config, logger);
  const publisher = createPublisher(config, logger);
  try {
    await waitForPublisher(publisher, logger);
    const { coordinator } = await composeDemo({
      store,
      publisher,
      logger,
      handlerDelayMs: config.handlerDelayMs,
      shutdownTimeoutMs: config.shutdownTimeoutMs,
      instrumentation,
    });
    return coordinator;
  } catch (error) {
    // A half-started demo must not keep the process alive (Redis reconnects, open pools).
    await publisher.close().catch(() => {});
    await store.close().catch(() => {});
    throw error;
  }
}
