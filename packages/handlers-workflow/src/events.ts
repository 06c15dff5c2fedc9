import { defineEvent } from '@evco/core';
import { z } from 'zod';

/**
 * The workflow module's contracts. Other modules import them from
 * `@evco/handlers-workflow/events`. `aggregateId` is the `executionId`.
 */

export const WORKFLOW_EXECUTION_AGGREGATE = 'WorkflowExecution';

const execution = {
  executionId: z.uuid('must be a UUID'),
  workflowId: z.uuid('must be a UUID'),
  userId: z.uuid('must be a UUID'),
};

export const workflowExecutionStartedSchema = z.strictObject(execution);
export type WorkflowExecutionStartedData = z.infer<typeof workflowExecutionStartedSchema>;

export const WorkflowExecutionStarted = defineEvent(
  'WorkflowExecutionStarted',
  workflowExecutionStartedSchema,
  {
    schemaVersion: 1,
    aggregateType: WORKFLOW_EXECUTION_AGGREGATE,
  },
);

export const workflowExecutionCompletedSchema = z.strictObject({
  ...execution,
  durationMs: z
    .number()
    .int()
    .min(0)
    .max(7 * 86_400_000),
});
export type WorkflowExecutionCompletedData = z.infer<typeof workflowExecutionCompletedSchema>;

export const WorkflowExecutionCompleted = defineEvent(
  'WorkflowExecutionCompleted',
  workflowExecutionCompletedSchema,
  { schemaVersion: 1, aggregateType: WORKFLOW_EXECUTION_AGGREGATE },
);

export const workflowExecutionFailedSchema = z.strictObject({
  ...execution,
  error: z.string().min(1).max(2000),
  /** The failure is transient (a timeout, a dependency down): running it again may succeed. */
  retryable: z.boolean(),
});
export type WorkflowExecutionFailedData = z.infer<typeof workflowExecutionFailedSchema>;

export const WorkflowExecutionFailed = defineEvent('WorkflowExecutionFailed', workflowExecutionFailedSchema, {
  schemaVersion: 1,
  aggregateType: WORKFLOW_EXECUTION_AGGREGATE,
});
