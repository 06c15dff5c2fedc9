import { randomUUID } from 'node:crypto';
import type {
  Notification,
  Notifier,
  ScheduledWorkflow,
  Usage,
  UsageRecorder,
  WorkflowExecution,
  WorkflowScheduler,
} from './ports.js';

const SOURCE = '[evco:handlers-workflow]';

/**
 * A toy workflow engine behind the `WorkflowScheduler` port, for tests and the demo. Besides the
 * port it lets the caller play the engine's own part: schedule workflows, start executions and
 * finish them (then publish the matching events).
 */
export class InMemoryWorkflowScheduler implements WorkflowScheduler {
  readonly #workflows = new Map<string, ScheduledWorkflow>();
  readonly #executions = new Map<string, WorkflowExecution>();
  readonly #processed = new Set<string>();

  addWorkflow(workflow: {
    workflowId?: string | undefined;
    userId: string;
    name: string;
  }): ScheduledWorkflow {
    const added: ScheduledWorkflow = Object.freeze({
      workflowId: workflow.workflowId ?? randomUUID(),
      userId: workflow.userId,
      name: workflow.name,
      state: 'active',
    });
    this.#workflows.set(added.workflowId, added);
    return added;
  }

  /** Starts a first run of an active workflow. */
  startExecution(workflowId: string, executionId: string = randomUUID()): WorkflowExecution {
    const workflow = this.#workflows.get(workflowId);
    if (!workflow) throw new Error(`${SOURCE} unknown workflow ${workflowId}`);
    if (workflow.state !== 'active') throw new Error(`${SOURCE} workflow ${workflowId} is ${workflow.state}`);
    return this.#put({
      executionId,
      workflowId,
      userId: workflow.userId,
      attempt: 1,
      retryOf: null,
      state: 'running',
    });
  }

  finishExecution(executionId: string, state: 'completed' | 'failed'): WorkflowExecution {
    const execution = this.#executions.get(executionId);
    if (execution?.state !== 'running') {
      throw new Error(`${SOURCE} execution ${executionId} is ${execution?.state ?? 'unknown'}, not running`);
    }
    return this.#put({ ...execution, state });
  }

  listWorkflows(): ScheduledWorkflow[] {
    return [...this.#workflows.values()];
  }

  /** Every execution, in start order. */
  listExecutions(): WorkflowExecution[] {
    return [...this.#executions.values()];
  }

  async getExecution(executionId: string): Promise<WorkflowExecution | undefined> {
    return this.#executions.get(executionId);
  }

  async pauseWorkflowsOf(userId: string, idempotencyKey: string): Promise<string[]> {
    return this.#once(idempotencyKey, () => {
      const paused: string[] = [];
      for (const w of this.#workflows.values()) {
        if (w.userId !== userId || w.state !== 'active') continue;
        this.#workflows.set(w.workflowId, Object.freeze({ ...w, state: 'paused' }));
        paused.push(w.workflowId);
      }
      return paused;
    });
  }

  async cancelRunningExecutionsOf(userId: string, idempotencyKey: string): Promise<string[]> {
    return this.#once(idempotencyKey, () => {
      const cancelled: string[] = [];
      for (const e of this.#executions.values()) {
        if (e.userId !== userId || e.state !== 'running') continue;
        this.#put({ ...e, state: 'cancelled' });
        cancelled.push(e.executionId);
      }
      return cancelled;
    });
  }

  async retryExecution(
    failedExecutionId: string,
    retryExecutionId: string,
  ): Promise<WorkflowExecution | undefined> {
    const existing = this.#executions.get(retryExecutionId);
    if (existing) return existing;
    const failed = this.#executions.get(failedExecutionId);
    if (!failed) throw new Error(`${SOURCE} unknown execution ${failedExecutionId}`);
    if (failed.state !== 'failed' || this.#workflows.get(failed.workflowId)?.state !== 'active')
      return undefined;
    return this.#put({
      executionId: retryExecutionId,
      workflowId: failed.workflowId,
      userId: failed.userId,
      attempt: failed.attempt + 1,
      retryOf: failed.executionId,
      state: 'running',
    });
  }

  #put(execution: WorkflowExecution): WorkflowExecution {
    const frozen = Object.freeze(execution);
    this.#executions.set(execution.executionId, frozen);
    return frozen;
  }

  #once(key: string, apply: () => string[]): string[] {
    if (this.#processed.has(key)) return [];
    const changed = apply();
    this.#processed.add(key);
    return changed;
  }
}

/** A `UsageRecorder` in memory, for tests and the demo. */
export class InMemoryUsageRecorder implements UsageRecorder {
  readonly #entries = new Map<string, Usage>();
  #outages = 0;

  async record(usage: Usage): Promise<boolean> {
    if (this.#outages > 0) {
      this.#outages -= 1;
      throw new Error(`${SOURCE} usage backend unavailable (simulated)`);
    }
    if (this.#entries.has(usage.executionId)) return false;
    this.#entries.set(usage.executionId, Object.freeze({ ...usage }));
    return true;
  }

  /** The next `calls` calls of `record` fail, as when the metering backend is briefly down. */
  simulateOutage(calls = 1): void {
    this.#outages = calls;
  }

  /** Every entry, in recording order. */
  list(): Usage[] {
    return [...this.#entries.values()];
  }

  totalDurationMs(userId: string): number {
    return this.list()
      .filter((u) => u.userId === userId)
      .reduce((sum, u) => sum + u.durationMs, 0);
  }
}

/** A `Notifier` that keeps what it sent, for tests and the demo. */
export class InMemoryNotifier implements Notifier {
  readonly #sent: Notification[] = [];
  readonly #keys = new Set<string>();

  async notify(notification: Notification, idempotencyKey: string): Promise<boolean> {
    if (this.#keys.has(idempotencyKey)) return false;
    this.#keys.add(idempotencyKey);
    this.#sent.push(Object.freeze({ ...notification }));
    return true;
  }

  /** Everything sent, in order; only to `userId` when given. */
  list(userId?: string): Notification[] {
    return this.#sent.filter((n) => userId === undefined || n.userId === userId);
  }
}
