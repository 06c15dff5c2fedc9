import { randomUUID } from 'node:crypto';
import type { EventDrivenCoordinator, RecordedEvent } from '@evco/core';
import { UserRegistered, type UserStatus, UserStatusChanged } from '@evco/handlers-user/events';
import { createInProcPublisher } from '@evco/publisher-inproc';
import { createMemoryStore } from '@evco/store-memory';
import { createTestCoordinator, fastRetry, replayAll, validationIssuePaths } from '@evco/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  InMemorySubscriptionRepository,
  registerSubscriptionHandlers,
  SubscriptionActivated,
  SubscriptionExpired,
  type SubscriptionRepository,
  subscriptionHandlerNames,
} from '../src/index.js';

const memoryCoordinator = () =>
  createTestCoordinator({ store: createMemoryStore, publisher: createInProcPublisher });

let coordinator: EventDrivenCoordinator;
let subscriptions: InMemorySubscriptionRepository;

async function start(repository: SubscriptionRepository = subscriptions, trialDays?: number) {
  await registerSubscriptionHandlers(coordinator, { subscriptions: repository, trialDays }, fastRetry);
}

beforeEach(async () => {
  coordinator = await memoryCoordinator();
  subscriptions = new InMemorySubscriptionRepository();
});

afterEach(async () => {
  await coordinator.shutdown();
});

function registered(userId = randomUUID()) {
  return UserRegistered.create({
    aggregateId: userId,
    data: { userId, email: 'grace@example.com', username: 'grace' },
    occurredAt: '2024-05-01T12:00:00Z',
  });
}

function statusChanged(userId: string, previousStatus: UserStatus, newStatus: UserStatus) {
  return UserStatusChanged.create({
    aggregateId: userId,
    data: { userId, previousStatus, newStatus },
    occurredAt: '2024-05-03T12:00:00Z',
  });
}

async function history(eventType: string): Promise<RecordedEvent[]> {
  return coordinator.getEventHistory({ eventType });
}

describe('subscription module reactions', () => {
  it('UserRegistered activates a trial and publishes SubscriptionActivated caused by the registration', async () => {
    await start();
    const user = registered();
    await coordinator.publishEvent(user);
    await coordinator.waitForIdle();

    const [trial, ...others] = subscriptions.list();
    expect(others).toEqual([]);
    expect(trial).toMatchObject({
      userId: user.eventData.userId,
      plan: 'trial',
      status: 'active',
      startsAt: '2024-05-01T12:00:00.000Z',
      expiresAt: '2024-05-15T12:00:00.000Z',
      expiredAt: null,
    });
    const [activated, ...more] = await history('SubscriptionActivated');
    expect(more).toEqual([]);
    expect(activated).toMatchObject({
      aggregateId: trial!.subscriptionId,
      aggregateType: 'Subscription',
      eventData: {
        subscriptionId: trial!.subscriptionId,
        userId: user.eventData.userId,
        plan: 'trial',
        startsAt: trial!.startsAt,
        expiresAt: trial!.expiresAt,
      },
      metadata: { schemaVersion: 1, correlationId: user.id, causationId: user.id },
    });
    expect(() => SubscriptionActivated.parse(activated!)).not.toThrow();
  });

  it('the trial length is configurable', async () => {
    await start(subscriptions, 30);
    await coordinator.publishEvent(registered());
    await coordinator.waitForIdle();
    expect(subscriptions.list()[0]?.expiresAt).toBe('2024-05-31T12:00:00.000Z');
  });

  it('a user who already has a subscription gets no second trial', async () => {
    await start();
    const user = registered();
    const { userId } = user.eventData;
    await subscriptions.add({
      subscriptionId: randomUUID(),
      userId,
      plan: 'pro',
      startsAt: '2024-04-01T00:00:00Z',
      expiresAt: '2025-04-01T00:00:00Z',
    });
    await coordinator.publishEvent(user);
    await coordinator.waitForIdle();
    expect(subscriptions.list().map((s) => s.plan)).toEqual(['pro']);
    expect(await history('SubscriptionActivated')).toEqual([]);
  });

  it.each(['banned', 'deleted'] as const)(
    'UserStatusChanged to %s ends the active subscription with SubscriptionExpired',
    async (status) => {
      await start();
      const user = registered();
      const { userId } = user.eventData;
      await coordinator.publishEvent(user);
      await coordinator.waitForIdle();
      const change = statusChanged(userId, 'active', status);
      await coordinator.publishEvent(change);
      await coordinator.waitForIdle();

      const [trial] = subscriptions.list();
      expect(trial).toMatchObject({ status: 'expired', expiredAt: '2024-05-03T12:00:00.000Z' });
      const expired = await history('SubscriptionExpired');
      expect(expired.map((e) => [e.aggregateId, e.eventData, e.metadata.causationId])).toEqual([
        [
          trial!.subscriptionId,
          { subscriptionId: trial!.subscriptionId, userId, plan: 'trial', expiredAt: trial!.expiredAt },
          change.id,
        ],
      ]);
    },
  );

  it('suspending a user keeps the subscription', async () => {
    await start();
    const user = registered();
    await coordinator.publishEvent(user);
    await coordinator.publishEvent(statusChanged(user.eventData.userId, 'active', 'suspended'));
    await coordinator.waitForIdle();
    expect(subscriptions.list().map((s) => s.status)).toEqual(['active']);
    expect(await history('SubscriptionExpired')).toEqual([]);
  });
});

describe('subscription module idempotency', () => {
  it('re-delivering every event (replay) creates no second subscription and no second event', async () => {
    await start();
    const user = registered();
    await coordinator.publishEvent(user);
    await coordinator.waitForIdle();
    await coordinator.publishEvent(statusChanged(user.eventData.userId, 'active', 'banned'));
    await coordinator.waitForIdle();
    const state = subscriptions.list();
    const events = await coordinator.getEventHistory();

    await replayAll(coordinator);
    expect(subscriptions.list()).toEqual(state);
    expect(await coordinator.getEventHistory()).toEqual(events);
    expect(await coordinator.getDeadLetters()).toEqual([]);
  });

  it('a reaction that fails after publishing is retried without publishing twice', async () => {
    // The write after the publish fails once, as if the process died between the two.
    let failures = 0;
    const flaky: SubscriptionRepository = {
      get: (id) => subscriptions.get(id),
      listByUser: (id) => subscriptions.listByUser(id),
      add: (s) => subscriptions.add(s),
      expire: async (id, at) => {
        if (failures++ === 0) throw new Error('connection reset');
        return subscriptions.expire(id, at);
      },
    };
    await start(flaky);
    const user = registered();
    await coordinator.publishEvent(user);
    await coordinator.waitForIdle();
    await coordinator.publishEvent(statusChanged(user.eventData.userId, 'active', 'banned'));
    await coordinator.waitForIdle();

    expect(failures).toBe(2);
    expect(subscriptions.list().map((s) => s.status)).toEqual(['expired']);
    expect(await history('SubscriptionExpired')).toHaveLength(1);
    expect(await coordinator.getDeadLetters()).toEqual([]);
  });
});

describe('subscription module contracts', () => {
  const subscriptionId = randomUUID();
  const userId = randomUUID();
  const valid = {
    subscriptionId,
    userId,
    plan: 'basic' as const,
    startsAt: '2024-05-01T00:00:00+02:00',
    expiresAt: '2024-06-01T00:00:00+02:00',
  };
  const invalid: Array<[string, () => unknown, string]> = [
    [
      'an unknown plan',
      () =>
        SubscriptionActivated.create({
          aggregateId: subscriptionId,
          data: { ...valid, plan: 'gold' as never },
        }),
      'eventData.plan',
    ],
    [
      'a date without a timezone',
      () =>
        SubscriptionActivated.create({
          aggregateId: subscriptionId,
          data: { ...valid, startsAt: '2024-05-01T00:00:00' },
        }),
      'eventData.startsAt',
    ],
    [
      'an end before the start',
      () =>
        SubscriptionActivated.create({
          aggregateId: subscriptionId,
          data: { ...valid, expiresAt: '2024-04-01T00:00:00Z' },
        }),
      'eventData.expiresAt',
    ],
    [
      'an unknown field',
      () =>
        SubscriptionExpired.create({
          aggregateId: subscriptionId,
          data: {
            subscriptionId,
            userId,
            plan: 'pro',
            expiredAt: '2024-05-01T00:00:00Z',
            refund: 10,
          } as never,
        }),
      'eventData',
    ],
    [
      'a user id that is not a UUID',
      () => SubscriptionActivated.create({ aggregateId: subscriptionId, data: { ...valid, userId: '42' } }),
      'eventData.userId',
    ],
  ];

  it.each(invalid)('rejects %s with an EventValidationError naming the field', (_name, create, path) => {
    expect(validationIssuePaths(create)).toContain(path);
  });

  it('an invalid UserRegistered from an untyped publisher goes to the dead letters and starts no trial', async () => {
    await start();
    const id = randomUUID();
    const { eventId } = await coordinator.publishEvent({
      eventType: 'UserRegistered',
      aggregateId: id,
      eventData: { userId: id, email: 'grace@example.com', username: 'grace', role: 'admin' },
    });
    await coordinator.waitForIdle();
    const dead = await coordinator.getDeadLetters();
    expect(dead.map((d) => [d.event.id, d.delivery.handler, d.delivery.attempts])).toEqual([
      [eventId, subscriptionHandlerNames.activateTrialOnUserRegistered, 1],
    ]);
    expect(dead[0]?.delivery.lastError).toContain('Unrecognized key: "role"');
    expect(subscriptions.list()).toEqual([]);
    expect(await history('SubscriptionActivated')).toEqual([]);
  });
});
