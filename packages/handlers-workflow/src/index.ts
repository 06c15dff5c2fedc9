export {
  WORKFLOW_EXECUTION_AGGREGATE,
  WorkflowExecutionCompleted,
  type WorkflowExecutionCompletedData,
  WorkflowExecutionFailed,
  type WorkflowExecutionFailedData,
  WorkflowExecutionStarted,
  type WorkflowExecutionStartedData,
  workflowExecutionCompletedSchema,
  workflowExecutionFailedSchema,
  workflowExecutionStartedSchema,
} from './events.js';
export {
  createWorkflowHandlers,
  type ModuleHandlerOptions,
  registerWorkflowHandlers,
  type WorkflowModuleDeps,
  workflowHandlerNames,
  workflowReactions,
} from './handlers.js';
export { InMemoryNotifier, InMemoryUsageRecorder, InMemoryWorkflowScheduler } from './in-memory.js';
export type {
  ExecutionState,
  Notification,
  Notifier,
  ScheduledWorkflow,
  Usage,
  UsageRecorder,
  WorkflowExecution,
  WorkflowScheduler,
  WorkflowState,
} from './ports.js';
