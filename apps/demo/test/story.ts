/**
 * The cross-module story, written once and run on every store/publisher combination: only the
 * coordinator given to it differs.
 *
 *   const deps = createModules();
 *   await registerAllModules(coordinator, deps, { retry: { maxAttempts: 20, baseDelayMs: 1, maxDelayMs: 5 } });
 *   const story = await runCrossModuleStory(coordinator, deps);
 *   await assertStory(coordinator, deps, story);
 *   await assertReplayChangesNothing(coordinator, deps, story);
 *
 * A user registers → the subscription module activates a trial → the user runs two workflows;
 * one fails retryably and the workflow module's retry succeeds (meanwhile the metering backend
 * hiccups, and evco's delivery retry rides it out) → the user publishes two posts, moderation
 * rejects one → an admin bans the user → every module reacts.
 *
 * Quick retries keep the story fast; plenty of them cover a reaction that overtakes the event it
 * depends on (the user's plan arriving before the user's record, on a slow store).
 *
 * Causation. Events published by a handler get the handled event's id as `causationId` from
 * evco. Events published by the story's actors (the user, the workflow engine, the admin) are
 * published the way a service does when it acts on what it saw: with the correlation of the
 * flow and the id of the event that prompted the action (`after(cause)` below). So every event
 * but the registration has a cause, and all of them share the registration's correlation.
 */
import { randomUUID } from 'node:crypto';
import {
  comparePositions,
  createCoordinator,
  type DomainEvent,
  type EventDrivenCoordinator,
  type EventPublisher,
  type EventStore,
  type RecordedEvent,
  silentLogger,
} from '@evco/core';
import { ContentPublished } from '@evco/handlers-content';
import { NO_ENTITLEMENTS, UserRegistered, UserStatusChanged } from '@evco/handlers-user';
import {
  type WorkflowExecution,
  WorkflowExecutionCompleted,
  WorkflowExecutionFailed,
  WorkflowExecutionStarted,
} from '@evco/handlers-workflow';
import { expect } from 'vitest';
import { createModules, type ModuleDeps, registerAllModules } from '../src/modules.js';

export interface StoryObservation {
  /** Before the first event: the start of the story's replay range. */
  startedAt: Date;
  userId: string;
  /** `UserRegistered`: the root of the flow. */
  rootEventId: string;
  workflows: { report: string; sync: string };
  executions: {
    /** Completes at once. */
    completed: string;
    /** Fails retryably... */
    failed: string;
    /** ...and is retried by the workflow module; completes. */
    retry: string;
    /** Still running when the user is banned. */
    cancelled: string;
  };
  content: { approved: string; rejected: string };
  /** Cause of every event the story's actors published (event id → cause id). */
  actorCauses: Record<string, string>;
  /** Every event about the story's aggregates or in its correlation, in append order. */
  events: RecordedEvent[];
}

/**
 * Metadata of an action taken because of `cause`: same flow, caused by it, and in its trace
 * (its `traceparent`, when tracing put one there).
 */
function after(cause: DomainEvent): {
  correlationId: string;
  causationId: string;
  traceparent?: string;
  tracestate?: string;
} {
  const { traceparent, tracestate } = cause.metadata;
  return {
    correlationId: cause.metadata.correlationId ?? cause.id,
    causationId: cause.id,
    ...(typeof traceparent === 'string' ? { traceparent } : {}),
    ...(typeof tracestate === 'string' ? { tracestate } : {}),
  };
}

async function one(
  coordinator: EventDrivenCoordinator,
  eventType: string,
  aggregateId: string,
): Promise<RecordedEvent> {
  const found = await coordinator.getEventHistory({ eventType, aggregateId });
  expect(found, `${eventType} of ${aggregateId}`).toHaveLength(1);
  return found[0]!;
}

function executionIds(execution: WorkflowExecution) {
  return { executionId: execution.executionId, workflowId: execution.workflowId, userId: execution.userId };
}

export async function runCrossModuleStory(
  coordinator: EventDrivenCoordinator,
  deps: ModuleDeps,
): Promise<StoryObservation> {
  const startedAt = new Date();
  const userId = randomUUID();
  const actorCauses: Record<string, string> = {};
  const publish = async (...events: DomainEvent[]) => {
    for (const e of events) if (e.metadata.causationId) actorCauses[e.id] = e.metadata.causationId;
    await coordinator.publishEvents(events);
  };

  // 1. A user registers: the root of the flow.
  const registered = UserRegistered.create({
    aggregateId: userId,
    data: { userId, email: 'ada@example.com', username: 'ada' },
  });
  await publish(registered);
  await coordinator.waitForIdle();
  const [trial] = await deps.subscriptions.listByUser(userId);
  expect(trial, 'a trial for the new user').toBeDefined();
  const activated = await one(coordinator, 'SubscriptionActivated', trial!.subscriptionId);

  // 2. With the trial active, the user runs two workflows. The metering backend is down for one
  //    call, so recording the first run's usage fails once and evco retries it.
  const report = deps.workflows.addWorkflow({ userId, name: 'weekly-report' });
  const sync = deps.workflows.addWorkflow({ userId, name: 'crm-sync' });
  const first = deps.workflows.startExecution(report.workflowId);
  const second = deps.workflows.startExecution(sync.workflowId);
  const startedFirst = WorkflowExecutionStarted.create({
    aggregateId: first.executionId,
    data: executionIds(first),
    metadata: after(activated),
  });
  const startedSecond = WorkflowExecutionStarted.create({
    aggregateId: second.executionId,
    data: executionIds(second),
    metadata: after(activated),
  });
  await publish(startedFirst, startedSecond);
  // Actors act on the events as stored (with the trace context the store has).
  const seenFirst = await one(coordinator, 'WorkflowExecutionStarted', first.executionId);
  const seenSecond = await one(coordinator, 'WorkflowExecutionStarted', second.executionId);
  deps.usage.simulateOutage(1);
  deps.workflows.finishExecution(first.executionId, 'completed');
  deps.workflows.finishExecution(second.executionId, 'failed');
  await publish(
    WorkflowExecutionCompleted.create({
      aggregateId: first.executionId,
      data: { ...executionIds(first), durationMs: 1_200 },
      metadata: after(seenFirst),
    }),
    WorkflowExecutionFailed.create({
      aggregateId: second.executionId,
      data: { ...executionIds(second), error: 'CRM API timed out', retryable: true },
      metadata: after(seenSecond),
    }),
  );
  await coordinator.waitForIdle();

  // 3. The workflow module retried the failed run; the engine reports it completed.
  const retry = deps.workflows.listExecutions().find((e) => e.retryOf === second.executionId);
  expect(retry, 'a retry of the failed execution').toBeDefined();
  const startedRetry = await one(coordinator, 'WorkflowExecutionStarted', retry!.executionId);
  deps.workflows.finishExecution(retry!.executionId, 'completed');
  const completedRetry = WorkflowExecutionCompleted.create({
    aggregateId: retry!.executionId,
    data: { ...executionIds(retry!), durationMs: 900 },
    metadata: after(startedRetry),
  });
  await publish(completedRetry);
  await coordinator.waitForIdle();
  const seenCompletedRetry = await one(coordinator, 'WorkflowExecutionCompleted', retry!.executionId);

  // 4. Happy with the result, the user publishes two posts; moderation rejects one.
  const approvedId = randomUUID();
  const rejectedId = randomUUID();
  await publish(
    ContentPublished.create({
      aggregateId: approvedId,
      data: { contentId: approvedId, authorId: userId, title: 'Automating the weekly report' },
      metadata: after(seenCompletedRetry),
    }),
    ContentPublished.create({
      aggregateId: rejectedId,
      data: { contentId: rejectedId, authorId: userId, title: 'Win big at the casino' },
      metadata: after(seenCompletedRetry),
    }),
  );
  await coordinator.waitForIdle();
  const rejection = await one(coordinator, 'ContentModerationCompleted', rejectedId);

  // 5. The weekly report runs again; while it runs, an admin bans the user for the rejected post.
  const third = deps.workflows.startExecution(report.workflowId);
  await publish(
    WorkflowExecutionStarted.create({
      aggregateId: third.executionId,
      data: executionIds(third),
      metadata: after(seenFirst),
    }),
  );
  await publish(
    UserStatusChanged.create({
      aggregateId: userId,
      data: { userId, previousStatus: 'active', newStatus: 'banned', reason: 'spam' },
      metadata: after(rejection),
    }),
  );
  await coordinator.waitForIdle();

  const executions = {
    completed: first.executionId,
    failed: second.executionId,
    retry: retry!.executionId,
    cancelled: third.executionId,
  };
  const aggregates = new Set([
    userId,
    ...(await deps.subscriptions.listByUser(userId)).map((s) => s.subscriptionId),
    ...Object.values(executions),
    approvedId,
    rejectedId,
  ]);
  return {
    startedAt,
    userId,
    rootEventId: registered.id,
    workflows: { report: report.workflowId, sync: sync.workflowId },
    executions,
    content: { approved: approvedId, rejected: rejectedId },
    actorCauses,
    events: await storyEvents(coordinator, aggregates, registered.id),
  };
}

/**
 * Pages through the whole history: selecting by aggregate catches a story event published with
 * the wrong correlation, selecting by correlation catches one about an unexpected aggregate.
 */
async function storyEvents(
  coordinator: EventDrivenCoordinator,
  aggregates: ReadonlySet<string>,
  correlationId: string,
): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = [];
  let afterPosition: string | undefined;
  for (;;) {
    const page = await coordinator.getEventHistory({ afterPosition, limit: 1000 });
    if (page.length === 0) return out;
    for (const e of page) {
      if (aggregates.has(e.aggregateId) || e.metadata.correlationId === correlationId) out.push(e);
    }
    afterPosition = page[page.length - 1]!.position;
  }
}

/** The final state of every module, and the flow's correlation and causation. */
export async function assertStory(
  coordinator: EventDrivenCoordinator,
  deps: ModuleDeps,
  story: StoryObservation,
): Promise<void> {
  const { userId, executions: ex, content } = story;
  const byType = (type: string) => story.events.filter((e) => e.eventType === type);
  const only = (type: string, aggregateId: string) => {
    const found = byType(type).filter((e) => e.aggregateId === aggregateId);
    expect(found, `${type} of ${aggregateId}`).toHaveLength(1);
    return found[0]!;
  };

  // --- users: banned, and the expired trial took the plan and entitlements with it.
  expect(await deps.users.get(userId)).toMatchObject({
    email: 'ada@example.com',
    username: 'ada',
    status: 'banned',
    subscription: null,
    entitlements: NO_ENTITLEMENTS,
  });

  // --- subscriptions: one trial, ended by the ban.
  const ban = only('UserStatusChanged', userId);
  const subscriptions = await deps.subscriptions.listByUser(userId);
  expect(subscriptions).toHaveLength(1);
  const trial = subscriptions[0]!;
  expect(trial).toMatchObject({ plan: 'trial', status: 'expired', expiredAt: ban.occurredAt.toISOString() });
  expect(Date.parse(trial.expiresAt) - Date.parse(trial.startsAt)).toBe(deps.trialDays * 86_400_000);

  // --- workflows: paused, the failed run retried and completed, the running one cancelled.
  expect(
    deps.workflows
      .listWorkflows()
      .filter((w) => w.userId === userId)
      .map((w) => [w.workflowId, w.state]),
  ).toEqual([
    [story.workflows.report, 'paused'],
    [story.workflows.sync, 'paused'],
  ]);
  expect(
    deps.workflows
      .listExecutions()
      .filter((e) => e.userId === userId)
      .map((e) => [e.executionId, e.attempt, e.retryOf, e.state]),
  ).toEqual([
    [ex.completed, 1, null, 'completed'],
    [ex.failed, 1, null, 'failed'],
    [ex.retry, 2, ex.failed, 'completed'],
    [ex.cancelled, 1, null, 'cancelled'],
  ]);
  // Usage once per completed run, although recording the first one failed on its first attempt.
  expect(
    deps.usage
      .list()
      .filter((u) => u.userId === userId)
      .map((u) => [u.executionId, u.durationMs]),
  ).toEqual([
    [ex.completed, 1_200],
    [ex.retry, 900],
  ]);
  expect((await coordinator.getCoordinatorStatus()).counts.retried).toBeGreaterThanOrEqual(1);

  // --- content: the approved post unpublished by the ban, the rejected one hidden.
  expect(await deps.contents.get(content.approved)).toMatchObject({
    moderation: 'approved',
    visibility: 'unpublished',
  });
  expect(await deps.contents.get(content.rejected)).toMatchObject({
    moderation: 'rejected',
    visibility: 'hidden',
    moderationReason: 'the title contains the blocked word "casino"',
  });

  // --- notifications: one per failure the user had to hear about.
  expect(deps.notifier.list(userId).map((n) => n.topic)).toEqual(
    expect.arrayContaining(['workflow.execution.failed', 'content.rejected']),
  );
  expect(deps.notifier.list(userId)).toHaveLength(2);

  // --- the events: what happened, exactly once each.
  const counts: Record<string, number> = {};
  for (const e of story.events) counts[e.eventType] = (counts[e.eventType] ?? 0) + 1;
  expect(counts).toEqual({
    UserRegistered: 1,
    SubscriptionActivated: 1,
    WorkflowExecutionStarted: 4,
    WorkflowExecutionCompleted: 2,
    WorkflowExecutionFailed: 1,
    ContentPublished: 2,
    ContentModerationCompleted: 2,
    UserStatusChanged: 1,
    SubscriptionExpired: 1,
  });

  // --- one flow: a single root, everything else in its correlation.
  const root = story.events[0]!;
  expect(root.id).toBe(story.rootEventId);
  expect(root.metadata.causationId).toBeUndefined();
  for (const e of story.events) expect(e.metadata.correlationId, e.eventType).toBe(root.id);

  // --- causation: each event names the event whose handler (or actor) published it.
  const expectedCause: Record<string, string> = {
    ...story.actorCauses,
    [only('SubscriptionActivated', trial.subscriptionId).id]: root.id,
    [only('WorkflowExecutionStarted', ex.retry).id]: only('WorkflowExecutionFailed', ex.failed).id,
    [only('ContentModerationCompleted', content.approved).id]: only('ContentPublished', content.approved).id,
    [only('ContentModerationCompleted', content.rejected).id]: only('ContentPublished', content.rejected).id,
    [only('SubscriptionExpired', trial.subscriptionId).id]: ban.id,
  };
  const position = new Map(story.events.map((e) => [e.id, e.position]));
  for (const e of story.events.slice(1)) {
    expect(e.metadata.causationId, `cause of ${e.eventType}`).toBe(expectedCause[e.id]);
    // A cause is always stored before its effect.
    expect(
      comparePositions(position.get(e.metadata.causationId!)!, e.position),
      `${e.eventType} after its cause`,
    ).toBeLessThan(0);
  }

  // --- nothing left over.
  const storyIds = new Set(story.events.map((e) => e.id));
  expect((await coordinator.getDeadLetters()).filter((d) => storyIds.has(d.event.id))).toEqual([]);
  expect((await coordinator.getUnprocessedEvents()).filter((u) => storyIds.has(u.event.id))).toEqual([]);
}

function snapshot(deps: ModuleDeps) {
  return {
    users: deps.users.list(),
    subscriptions: deps.subscriptions.list(),
    workflows: deps.workflows.listWorkflows(),
    executions: deps.workflows.listExecutions(),
    usage: deps.usage.list(),
    contents: deps.contents.list(),
    notifications: deps.notifier.list(),
    moderationReviews: deps.moderation.reviews,
  };
}

/**
 * Re-delivers every event of the story to every handler (as after a crash, or an admin replay):
 * no module changes, nothing is published again.
 */
export async function assertReplayChangesNothing(
  coordinator: EventDrivenCoordinator,
  deps: ModuleDeps,
  story: StoryObservation,
): Promise<void> {
  const before = snapshot(deps);
  const history = await coordinator.getEventHistory({ from: story.startedAt, limit: 10_000 });
  const replay = await coordinator.replayEvents({ from: story.startedAt, to: new Date(Date.now() + 60_000) });
  expect(replay.deliveries).toBeGreaterThanOrEqual(story.events.length);
  await coordinator.waitForIdle();
  expect(snapshot(deps)).toEqual(before);
  expect(await coordinator.getEventHistory({ from: story.startedAt, limit: 10_000 })).toEqual(history);
  const storyIds = new Set(story.events.map((e) => e.id));
  expect((await coordinator.getDeadLetters()).filter((d) => storyIds.has(d.event.id))).toEqual([]);
}

/**
 * The whole story on the given adapters: only the store and publisher differ between runs, which
 * is the point (swapping adapters is one line).
 */
export async function tellStoryOn(store: EventStore, publisher: EventPublisher): Promise<void> {
  const coordinator = await createCoordinator({ store, publisher, logger: silentLogger, pollIntervalMs: 20 });
  try {
    const deps = createModules();
    await registerAllModules(coordinator, deps, {
      retry: { maxAttempts: 20, baseDelayMs: 1, maxDelayMs: 5 },
    });
    const story = await runCrossModuleStory(coordinator, deps);
    await assertStory(coordinator, deps, story);
    await assertReplayChangesNothing(coordinator, deps, story);
  } finally {
    await coordinator.shutdown();
  }
}
