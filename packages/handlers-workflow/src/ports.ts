export type WorkflowState = 'active' | 'paused';

export interface ScheduledWorkflow {
  readonly workflowId: string;
  readonly userId: string;
  readonly name: string;
  readonly state: WorkflowState;
}

export type ExecutionState = 'running' | 'completed' | 'failed' | 'cancelled';

export interface WorkflowExecution {
  readonly executionId: string;
  readonly workflowId: string;
  readonly userId: string;
  /** 1 for a first run, n for the (n-1)th retry. */
  readonly attempt: number;
  /** The failed execution this one retries. */
  readonly retryOf: string | null;
  readonly state: ExecutionState;
}

/**
 * The workflow engine, as the workflow module's reactions drive it.
 *
 * Pausing and cancelling take an `idempotencyKey` and apply it at most once (the inbox pattern):
 * both look idempotent, but replaying an old `SubscriptionExpired` after the user's workflows
 * were resumed must not pause them again. A database implementation writes the key in the
 * same transaction as the change.
 */
export interface WorkflowScheduler {
  getExecution(executionId: string): Promise<WorkflowExecution | undefined>;
  /** Pauses the user's active scheduled workflows; returns the ids paused by this call. */
  pauseWorkflowsOf(userId: string, idempotencyKey: string): Promise<string[]>;
  /** Cancels the user's running executions; returns the ids cancelled by this call. */
  cancelRunningExecutionsOf(userId: string, idempotencyKey: string): Promise<string[]>;
  /**
   * Runs a failed execution again as `retryExecutionId`. Naturally idempotent: a repeat with the
   * same id returns the retry already started. Resolves to `undefined` when the engine declines
   * (the execution is not failed any more, e.g. cancelled, or its workflow is paused).
   */
  retryExecution(failedExecutionId: string, retryExecutionId: string): Promise<WorkflowExecution | undefined>;
}

export interface Usage {
  readonly userId: string;
  readonly workflowId: string;
  readonly executionId: string;
  readonly durationMs: number;
  /** ISO-8601. */
  readonly at: string;
}

/** Metering. Naturally idempotent: one entry per execution, a repeat changes nothing. */
export interface UsageRecorder {
  /** `false` when the execution's usage was recorded already. */
  record(usage: Usage): Promise<boolean>;
}

export interface Notification {
  readonly userId: string;
  /** Dotted, e.g. `workflow.execution.failed`. */
  readonly topic: string;
  readonly message: string;
}

/**
 * Tells a user something. The `idempotencyKey` is handed to the provider (most mail and push
 * APIs accept one), so a re-delivered event never notifies twice. Returns `false` for a key
 * seen before.
 */
export interface Notifier {
  notify(notification: Notification, idempotencyKey: string): Promise<boolean>;
}
