/**
 * The workflow module reacts to executions by asking the workflow engine about them (its
 * `WorkflowScheduler` port: is this execution known, on which attempt, may it be retried). The
 * demo has no engine, only the module's in-memory stand-in, and clients announce executions
 * through `POST /events`. This middleware keeps the stand-in in step with those announcements,
 * as the real engine would be with itself: a `WorkflowExecutionStarted` from a client registers
 * the workflow and starts the execution, `…Completed` / `…Failed` finish it. It runs before the
 * event is stored, so the module's handlers always find the execution in the state the event
 * reports. Events that handlers publish (a retry's start) are the module's own business: skipped.
 */
import type { EventBusMiddleware, Logger } from '@evco/core';
import type { InMemoryWorkflowScheduler } from '@evco/handlers-workflow';
import {
  WorkflowExecutionCompleted,
  WorkflowExecutionFailed,
  WorkflowExecutionStarted,
} from '@evco/handlers-workflow/events';

export function workflowEngineStandIn(
  scheduler: InMemoryWorkflowScheduler,
  logger: Logger,
): EventBusMiddleware {
  return {
    name: 'demo.workflowEngineStandIn',
    async beforePublish(event, context) {
      if (context.causedBy) return event;
      try {
        if (WorkflowExecutionStarted.is(event)) {
          const { executionId, workflowId, userId } = WorkflowExecutionStarted.parse(event).eventData;
          if (await scheduler.getExecution(executionId)) return event;
          if (!scheduler.listWorkflows().some((w) => w.workflowId === workflowId)) {
            scheduler.addWorkflow({ workflowId, userId, name: `workflow ${workflowId.slice(0, 8)}` });
          }
          scheduler.startExecution(workflowId, executionId);
        } else if (WorkflowExecutionCompleted.is(event) || WorkflowExecutionFailed.is(event)) {
          const { executionId } = event.eventData as { executionId: string };
          const execution = await scheduler.getExecution(executionId);
          if (execution?.state === 'running') {
            scheduler.finishExecution(
              executionId,
              WorkflowExecutionFailed.is(event) ? 'failed' : 'completed',
            );
          }
        }
      } catch (error) {
        // The stand-in never vetoes an event: what happened, happened (e.g. a run of a paused workflow).
        logger.debug(
          { err: error, eventId: event.id },
          'workflow engine stand-in could not follow the event',
        );
      }
      return event;
    },
  };
}
