import {
  type EventDrivenCoordinator,
  type EventOf,
  type HandlerContext,
  type HandlerRegistration,
  type ModuleHandlerOptions,
  type Reaction,
  type RecordedEvent,
  reaction,
  registerReactions,
} from '@evco/core';

export type { ModuleHandlerOptions };

import { SubscriptionExpired } from '@evco/handlers-subscription/events';
import { UserStatusChanged } from '@evco/handlers-user/events';
import { WorkflowExecutionCompleted, WorkflowExecutionFailed, WorkflowExecutionStarted } from './events.js';
import type { Notifier, UsageRecorder, WorkflowScheduler } from './ports.js';

export interface WorkflowModuleDeps {
  scheduler: WorkflowScheduler;
  usage: UsageRecorder;
  notifier: Notifier;
  /** Runs of one workflow execution in total (the first included) before retryable failures stop being retried. @default 3 */
  maxExecutionAttempts?: number | undefined;
}

/** Stable names: deliveries are tracked under them, so renaming one orphans its pending work. */
export const workflowHandlerNames = {
  pauseWorkflowsOnSubscriptionExpired: 'workflow.pauseWorkflowsOnSubscriptionExpired',
  cancelExecutionsOnUserSuspendedOrBanned: 'workflow.cancelExecutionsOnUserSuspendedOrBanned',
  notifyUserOnExecutionFailed: 'workflow.notifyUserOnExecutionFailed',
  retryFailedExecution: 'workflow.retryFailedExecution',
  recordUsageOnExecutionCompleted: 'workflow.recordUsageOnExecutionCompleted',
} as const;

/** One handler's reaction to one event: the key its effects are deduplicated by. */
function reactionKey(context: HandlerContext, event: RecordedEvent): string {
  return `${context.handlerName}:${event.id}`;
}

/** The module's reactions as plain functions, e.g. to call them directly in a test. */
export function createWorkflowHandlers({
  scheduler,
  usage,
  notifier,
  maxExecutionAttempts = 3,
}: WorkflowModuleDeps) {
  async function willRetry(event: EventOf<typeof WorkflowExecutionFailed>): Promise<boolean> {
    if (!event.eventData.retryable) return false;
    const execution = await scheduler.getExecution(event.eventData.executionId);
    // The engine published the event, so it knows the execution; if not, it is lagging: retry later.
    if (!execution)
      throw new Error(`execution ${event.eventData.executionId} is unknown to the scheduler (yet)`);
    return execution.attempt < maxExecutionAttempts;
  }

  return {
    async pauseWorkflowsOnSubscriptionExpired(
      event: EventOf<typeof SubscriptionExpired>,
      context: HandlerContext,
    ): Promise<void> {
      const paused = await scheduler.pauseWorkflowsOf(event.eventData.userId, reactionKey(context, event));
      if (paused.length > 0) context.logger.info({ paused }, 'paused scheduled workflows');
    },

    async cancelExecutionsOnUserSuspendedOrBanned(
      event: EventOf<typeof UserStatusChanged>,
      context: HandlerContext,
    ): Promise<void> {
      const { userId, newStatus } = event.eventData;
      if (newStatus !== 'suspended' && newStatus !== 'banned') return;
      const cancelled = await scheduler.cancelRunningExecutionsOf(userId, reactionKey(context, event));
      if (cancelled.length > 0) context.logger.info({ cancelled }, 'cancelled running executions');
    },

    async notifyUserOnExecutionFailed(
      event: EventOf<typeof WorkflowExecutionFailed>,
      context: HandlerContext,
    ): Promise<void> {
      const { userId, workflowId, error } = event.eventData;
      const next = (await willRetry(event)) ? 'It will be retried.' : 'It will not be retried.';
      await notifier.notify(
        {
          userId,
          topic: 'workflow.execution.failed',
          message: `Workflow ${workflowId} failed: ${error}. ${next}`,
        },
        reactionKey(context, event),
      );
    },

    async retryFailedExecution(
      event: EventOf<typeof WorkflowExecutionFailed>,
      context: HandlerContext,
    ): Promise<void> {
      if (!(await willRetry(event))) return;
      const { executionId, workflowId, userId } = event.eventData;
      const retryId = context.derivedId('retry');
      const retry = await scheduler.retryExecution(executionId, retryId);
      if (!retry) {
        context.logger.info({ executionId }, 'the scheduler declined the retry');
        return;
      }
      await context.publish(
        WorkflowExecutionStarted.create({
          id: context.derivedId(WorkflowExecutionStarted.eventType),
          aggregateId: retry.executionId,
          data: { executionId: retry.executionId, workflowId, userId },
        }),
        { idempotent: true },
      );
    },

    async recordUsageOnExecutionCompleted(event: EventOf<typeof WorkflowExecutionCompleted>): Promise<void> {
      const { userId, workflowId, executionId, durationMs } = event.eventData;
      await usage.record({ userId, workflowId, executionId, durationMs, at: event.occurredAt.toISOString() });
    },
  };
}

/**
 * The workflow module's reaction table: which events each reaction handles, under its stable name.
 * `registerWorkflowHandlers` registers it; an app can also list or filter it.
 */
export function workflowReactions(deps: WorkflowModuleDeps): Reaction[] {
  const h = createWorkflowHandlers(deps);
  const names = workflowHandlerNames;
  return [
    reaction(
      names.pauseWorkflowsOnSubscriptionExpired,
      SubscriptionExpired,
      h.pauseWorkflowsOnSubscriptionExpired,
    ),
    reaction(
      names.cancelExecutionsOnUserSuspendedOrBanned,
      UserStatusChanged,
      h.cancelExecutionsOnUserSuspendedOrBanned,
    ),
    reaction(names.notifyUserOnExecutionFailed, WorkflowExecutionFailed, h.notifyUserOnExecutionFailed),
    reaction(names.retryFailedExecution, WorkflowExecutionFailed, h.retryFailedExecution),
    reaction(
      names.recordUsageOnExecutionCompleted,
      WorkflowExecutionCompleted,
      h.recordUsageOnExecutionCompleted,
    ),
  ];
}

/**
 * Registers the workflow module's reactions. Resolves once every subscription is stored, so events
 * published afterwards reach them.
 */
export function registerWorkflowHandlers(
  coordinator: Pick<EventDrivenCoordinator, 'registerHandler'>,
  deps: WorkflowModuleDeps,
  options: ModuleHandlerOptions = {},
): Promise<HandlerRegistration[]> {
  return registerReactions(coordinator, workflowReactions(deps), options);
}
