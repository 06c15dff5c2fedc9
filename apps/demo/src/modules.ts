/**
 * The four modules of the example application, wired on in-memory ports. The service (and the
 * cross-module story test) build them here so that every entry point runs the same modules.
 */
import type { EventDrivenCoordinator, HandlerRegistration, RegisterHandlerOptions } from '@evco/core';
import {
  InMemoryContentRepository,
  InMemoryModerationService,
  registerContentHandlers,
} from '@evco/handlers-content';
import { InMemorySubscriptionRepository, registerSubscriptionHandlers } from '@evco/handlers-subscription';
import { InMemoryUserDirectory, registerUserHandlers } from '@evco/handlers-user';
import {
  InMemoryNotifier,
  InMemoryUsageRecorder,
  InMemoryWorkflowScheduler,
  registerWorkflowHandlers,
} from '@evco/handlers-workflow';

export interface ModulesOptions {
  /** @default 14 */
  trialDays?: number;
  /** @default 3 */
  maxExecutionAttempts?: number;
  /** Words that make moderation reject a title. @default ['spam', 'casino'] */
  blockedWords?: readonly string[];
}

/** Every port of every module, in memory, so a caller can look at each module's state. */
export interface ModuleDeps {
  users: InMemoryUserDirectory;
  subscriptions: InMemorySubscriptionRepository;
  workflows: InMemoryWorkflowScheduler;
  usage: InMemoryUsageRecorder;
  contents: InMemoryContentRepository;
  moderation: InMemoryModerationService;
  /** Shared by the workflow and content modules: one inbox per user, whoever writes to it. */
  notifier: InMemoryNotifier;
  trialDays: number;
  maxExecutionAttempts: number;
}

export function createModules(options: ModulesOptions = {}): ModuleDeps {
  return {
    users: new InMemoryUserDirectory(),
    subscriptions: new InMemorySubscriptionRepository(),
    workflows: new InMemoryWorkflowScheduler(),
    usage: new InMemoryUsageRecorder(),
    contents: new InMemoryContentRepository(),
    moderation: new InMemoryModerationService({ blockedWords: options.blockedWords }),
    notifier: new InMemoryNotifier(),
    trialDays: options.trialDays ?? 14,
    maxExecutionAttempts: options.maxExecutionAttempts ?? 3,
  };
}

/**
 * Registers every module's handlers. Each module only knows the others' event contracts; this
 * is the one place that knows all four.
 */
export async function registerAllModules(
  coordinator: Pick<EventDrivenCoordinator, 'registerHandler'>,
  deps: ModuleDeps,
  options: Pick<RegisterHandlerOptions, 'retry' | 'timeoutMs'> = {},
): Promise<HandlerRegistration[]> {
  return [
    ...(await registerUserHandlers(coordinator, { users: deps.users }, options)),
    ...(await registerSubscriptionHandlers(
      coordinator,
      { subscriptions: deps.subscriptions, trialDays: deps.trialDays },
      options,
    )),
    ...(await registerWorkflowHandlers(
      coordinator,
      {
        scheduler: deps.workflows,
        usage: deps.usage,
        notifier: deps.notifier,
        maxExecutionAttempts: deps.maxExecutionAttempts,
      },
      options,
    )),
    ...(await registerContentHandlers(
      coordinator,
      { contents: deps.contents, moderation: deps.moderation, notifier: deps.notifier },
      options,
    )),
  ];
}
