import { randomUUID } from 'node:crypto';
import { type DomainEvent, type EventDrivenCoordinator, type HandlerContext, silentLogger } from '@evco/core';
import { SubscriptionExpired } from '@evco/handlers-subscription/events';
import { type UserStatus, UserStatusChanged } from '@evco/handlers-user/events';
import { createInProcPublisher } from '@evco/publisher-inproc';
import { createMemoryStore } from '@evco/store-memory';
import { createTestCoordinator, fastRetry, replayAll, validationIssuePaths } from '@evco/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createWorkflowHandlers,
  InMemoryNotifier,
  InMemoryUsageRecorder,
  InMemoryWorkflowScheduler,
  registerWorkflowHandlers,
  WorkflowExecutionCompleted,
  WorkflowExecutionFailed,
  WorkflowExecutionStarted,
  workflowHandlerNames,
} from '../src/index.js';

const memoryCoordinator = () =>
  createTestCoordinator({ store: createMemoryStore, publisher: createInProcPublisher });

let coordinator: EventDrivenCoordinator;
let scheduler: InMemoryWorkflowScheduler;
let usage: InMemoryUsageRecorder;
let notifier: InMemoryNotifier;
const userId = randomUUID();

beforeEach(async () => {
  coordinator = await memoryCoordinator();
  scheduler = new InMemoryWorkflowScheduler();
  usage = new InMemoryUsageRecorder();
  notifier = new InMemoryNotifier();
  await registerWorkflowHandlers(coordinator, { scheduler, usage, notifier }, fastRetry);
});

afterEach(async () => {
  await coordinator.shutdown();
});

/** Plays the engine: runs a first attempt of a new workflow and reports it. */
async function run(outcome: 'completed' | 'failed' | 'running', retryable = true) {
  const workflow = scheduler.addWorkflow({ userId, name: 'nightly-report' });
  const execution = scheduler.startExecution(workflow.workflowId);
  const ids = { executionId: execution.executionId, workflowId: workflow.workflowId, userId };
  await coordinator.publishEvent(
    WorkflowExecutionStarted.create({ aggregateId: ids.executionId, data: ids }),
  );
  if (outcome === 'running') return ids;
  scheduler.finishExecution(ids.executionId, outcome);
  await coordinator.publishEvent(
    outcome === 'completed'
      ? WorkflowExecutionCompleted.create({
          aggregateId: ids.executionId,
          data: { ...ids, durationMs: 1_250 },
          occurredAt: '2024-05-02T10:00:00Z',
        })
      : WorkflowExecutionFailed.create({
          aggregateId: ids.executionId,
          data: { ...ids, error: 'upstream API timed out', retryable },
        }),
  );
  return ids;
}

function statusChanged(previousStatus: UserStatus, newStatus: UserStatus) {
  return UserStatusChanged.create({ aggregateId: userId, data: { userId, previousStatus, newStatus } });
}

describe('workflow module reactions', () => {
  it('WorkflowExecutionCompleted records the usage', async () => {
    const ids = await run('completed');
    await coordinator.waitForIdle();
    expect(usage.list()).toEqual([{ ...ids, durationMs: 1_250, at: '2024-05-02T10:00:00.000Z' }]);
  });

  it('a retryable WorkflowExecutionFailed notifies the user and starts a retry, announced as caused by the failure', async () => {
    const ids = await run('failed', true);
    await coordinator.waitForIdle();

    expect(notifier.list()).toEqual([
      {
        userId,
        topic: 'workflow.execution.failed',
        message: `Workflow ${ids.workflowId} failed: upstream API timed out. It will be retried.`,
      },
    ]);
    const [, retry] = scheduler.listExecutions();
    expect(retry).toMatchObject({ attempt: 2, retryOf: ids.executionId, state: 'running' });
    const [failed] = await coordinator.getEventHistory({ eventType: 'WorkflowExecutionFailed' });
    const started = await coordinator.getEventHistory({ eventType: 'WorkflowExecutionStarted' });
    expect(started.map((e) => [e.aggregateId, e.eventData.executionId, e.metadata.causationId])).toEqual([
      [ids.executionId, ids.executionId, undefined],
      [retry!.executionId, retry!.executionId, failed!.id],
    ]);
    expect(started[1]!.metadata.correlationId).toBe(failed!.metadata.correlationId);
  });

  it('a permanent failure notifies the user and is not retried', async () => {
    const ids = await run('failed', false);
    await coordinator.waitForIdle();
    expect(notifier.list().map((n) => n.message)).toEqual([
      `Workflow ${ids.workflowId} failed: upstream API timed out. It will not be retried.`,
    ]);
    expect(scheduler.listExecutions()).toHaveLength(1);
    expect(await coordinator.getEventHistory({ eventType: 'WorkflowExecutionStarted' })).toHaveLength(1);
  });

  it('stops retrying once an execution has run maxExecutionAttempts times', async () => {
    const ids = await run('failed', true);
    await coordinator.waitForIdle();
    // Play the engine: every retry fails again.
    for (let i = 0; i < 3; i++) {
      const retry = scheduler.listExecutions().find((e) => e.state === 'running');
      if (!retry) break;
      scheduler.finishExecution(retry.executionId, 'failed');
      await coordinator.publishEvent(
        WorkflowExecutionFailed.create({
          aggregateId: retry.executionId,
          data: { ...ids, executionId: retry.executionId, error: 'still timing out', retryable: true },
        }),
      );
      await coordinator.waitForIdle();
    }
    expect(scheduler.listExecutions().map((e) => [e.attempt, e.state])).toEqual([
      [1, 'failed'],
      [2, 'failed'],
      [3, 'failed'],
    ]);
    expect(notifier.list().map((n) => n.message.endsWith('It will not be retried.'))).toEqual([
      false,
      false,
      true,
    ]);
  });

  it('SubscriptionExpired pauses the user’s scheduled workflows, and only theirs', async () => {
    const mine = scheduler.addWorkflow({ userId, name: 'a' });
    const theirs = scheduler.addWorkflow({ userId: randomUUID(), name: 'b' });
    const subscriptionId = randomUUID();
    await coordinator.publishEvent(
      SubscriptionExpired.create({
        aggregateId: subscriptionId,
        data: { subscriptionId, userId, plan: 'trial', expiredAt: '2024-05-15T00:00:00Z' },
      }),
    );
    await coordinator.waitForIdle();
    expect(scheduler.listWorkflows().map((w) => [w.workflowId, w.state])).toEqual([
      [mine.workflowId, 'paused'],
      [theirs.workflowId, 'active'],
    ]);
  });

  it.each(['suspended', 'banned'] as const)(
    'a user %s has their running executions cancelled',
    async (status) => {
      const finished = await run('completed');
      const running = await run('running');
      await coordinator.publishEvent(statusChanged('active', status));
      await coordinator.waitForIdle();
      expect(scheduler.listExecutions().map((e) => [e.executionId, e.state])).toEqual([
        [finished.executionId, 'completed'],
        [running.executionId, 'cancelled'],
      ]);
    },
  );

  it('a user reinstated or deleted keeps their executions running', async () => {
    await run('running');
    await coordinator.publishEvents([
      statusChanged('suspended', 'active'),
      statusChanged('active', 'deleted'),
    ]);
    await coordinator.waitForIdle();
    expect(scheduler.listExecutions().map((e) => e.state)).toEqual(['running']);
  });
});

/** What the dispatcher would hand a handler: the stored event and a context. */
function delivered<E extends DomainEvent>(event: E, handlerName: string) {
  const context = { handlerName, attempt: 1, isReplay: false, logger: silentLogger } as HandlerContext;
  return [{ ...event, position: '1', recordedAt: new Date() }, context] as const;
}

describe('workflow module idempotency', () => {
  it('calling a reaction twice with the same event has one effect', async () => {
    const h = createWorkflowHandlers({ scheduler, usage, notifier });
    const workflow = scheduler.addWorkflow({ userId, name: 'a' });
    const ids = { executionId: randomUUID(), workflowId: workflow.workflowId, userId };
    const [completed] = delivered(
      WorkflowExecutionCompleted.create({ aggregateId: ids.executionId, data: { ...ids, durationMs: 5 } }),
      workflowHandlerNames.recordUsageOnExecutionCompleted,
    );
    const failed = delivered(
      WorkflowExecutionFailed.create({
        aggregateId: ids.executionId,
        data: { ...ids, error: 'x', retryable: false },
      }),
      workflowHandlerNames.notifyUserOnExecutionFailed,
    );
    const banned = delivered(
      statusChanged('active', 'banned'),
      workflowHandlerNames.cancelExecutionsOnUserSuspendedOrBanned,
    );
    const before = scheduler.startExecution(workflow.workflowId);
    await h.recordUsageOnExecutionCompleted(completed);
    await h.notifyUserOnExecutionFailed(...failed);
    await h.cancelExecutionsOnUserSuspendedOrBanned(...banned);
    // A run started after the ban was handled must survive the ban's re-delivery.
    const since = scheduler.startExecution(workflow.workflowId);
    await h.recordUsageOnExecutionCompleted(completed);
    await h.notifyUserOnExecutionFailed(...failed);
    await h.cancelExecutionsOnUserSuspendedOrBanned(...banned);

    expect(usage.list()).toHaveLength(1);
    expect(notifier.list()).toHaveLength(1);
    expect(scheduler.listExecutions().map((e) => [e.executionId, e.state])).toEqual([
      [before.executionId, 'cancelled'],
      [since.executionId, 'running'],
    ]);
  });

  it('re-delivering every event (replay) notifies, retries, records and pauses nothing twice', async () => {
    await run('completed');
    await run('failed', true);
    await run('running');
    await coordinator.waitForIdle();
    const subscriptionId = randomUUID();
    await coordinator.publishEvent(
      SubscriptionExpired.create({
        aggregateId: subscriptionId,
        data: { subscriptionId, userId, plan: 'trial', expiredAt: '2024-05-15T00:00:00Z' },
      }),
    );
    await coordinator.publishEvent(statusChanged('active', 'banned'));
    await coordinator.waitForIdle();
    const state = {
      workflows: scheduler.listWorkflows(),
      executions: scheduler.listExecutions(),
      usage: usage.list(),
      notifications: notifier.list(),
      events: await coordinator.getEventHistory(),
    };
    expect(state.executions.map((e) => e.state)).toEqual(['completed', 'failed', 'cancelled', 'cancelled']);

    await replayAll(coordinator);
    expect({
      workflows: scheduler.listWorkflows(),
      executions: scheduler.listExecutions(),
      usage: usage.list(),
      notifications: notifier.list(),
      events: await coordinator.getEventHistory(),
    }).toEqual(state);
    expect(await coordinator.getDeadLetters()).toEqual([]);
  });

  it('a usage backend outage is ridden out by evco’s retries, and the usage is recorded once', async () => {
    usage.simulateOutage(2);
    await run('completed');
    await coordinator.waitForIdle();
    expect(usage.list()).toHaveLength(1);
    expect(await coordinator.getDeadLetters()).toEqual([]);
    expect((await coordinator.getCoordinatorStatus()).counts.retried).toBe(2);
  });
});

describe('workflow module contracts', () => {
  const ids = { executionId: randomUUID(), workflowId: randomUUID(), userId };
  const invalid: Array<[string, () => unknown, string]> = [
    [
      'a negative duration',
      () =>
        WorkflowExecutionCompleted.create({ aggregateId: ids.executionId, data: { ...ids, durationMs: -1 } }),
      'eventData.durationMs',
    ],
    [
      'a retryable flag that is not a boolean',
      () =>
        WorkflowExecutionFailed.create({
          aggregateId: ids.executionId,
          data: { ...ids, error: 'x', retryable: 'yes' as never },
        }),
      'eventData.retryable',
    ],
    [
      'an empty error',
      () =>
        WorkflowExecutionFailed.create({
          aggregateId: ids.executionId,
          data: { ...ids, error: '', retryable: false },
        }),
      'eventData.error',
    ],
    [
      'an unknown field',
      () =>
        WorkflowExecutionStarted.create({
          aggregateId: ids.executionId,
          data: { ...ids, priority: 'high' } as never,
        }),
      'eventData',
    ],
    [
      'an id that is not a UUID',
      () =>
        WorkflowExecutionStarted.create({
          aggregateId: ids.executionId,
          data: { ...ids, workflowId: 'wf-1' },
        }),
      'eventData.workflowId',
    ],
  ];

  it.each(invalid)('rejects %s with an EventValidationError naming the field', (_name, create, path) => {
    expect(validationIssuePaths(create)).toContain(path);
  });

  it('an invalid WorkflowExecutionFailed from an untyped publisher goes to the dead letters of both reactions', async () => {
    const { eventId } = await coordinator.publishEvent({
      eventType: 'WorkflowExecutionFailed',
      aggregateId: ids.executionId,
      eventData: { ...ids, error: 'boom', retryable: 'maybe' },
    });
    await coordinator.waitForIdle();
    const dead = await coordinator.getDeadLetters();
    expect(dead.map((d) => [d.event.id, d.delivery.handler, d.delivery.attempts]).sort()).toEqual(
      [
        [eventId, workflowHandlerNames.notifyUserOnExecutionFailed, 1],
        [eventId, workflowHandlerNames.retryFailedExecution, 1],
      ].sort(),
    );
    expect(dead.every((d) => d.delivery.lastError?.includes('eventData.retryable'))).toBe(true);
    expect(notifier.list()).toEqual([]);
  });
});
