import { randomUUID } from 'node:crypto';
import type { EventDrivenCoordinator } from '@evco/core';
import { createInProcPublisher } from '@evco/publisher-inproc';
import { createMemoryStore } from '@evco/store-memory';
import { createTestCoordinator, fastRetry, replayAll, validationIssuePaths, waitFor } from '@evco/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  entitlementsFor,
  InMemoryUserDirectory,
  NO_ENTITLEMENTS,
  registerUserHandlers,
  SubscriptionActivatedView,
  SubscriptionExpiredView,
  UserLoggedIn,
  UserRegistered,
  UserStatusChanged,
  userHandlerNames,
} from '../src/index.js';

const memoryCoordinator = () =>
  createTestCoordinator({ store: createMemoryStore, publisher: createInProcPublisher });

let coordinator: EventDrivenCoordinator;
let users: InMemoryUserDirectory;

beforeEach(async () => {
  coordinator = await memoryCoordinator();
  users = new InMemoryUserDirectory();
  await registerUserHandlers(coordinator, { users }, fastRetry);
});

afterEach(async () => {
  await coordinator.shutdown();
});

function registered(userId = randomUUID()) {
  return UserRegistered.create({
    aggregateId: userId,
    data: { userId, email: 'ada@example.com', username: 'ada' },
    occurredAt: '2024-05-01T10:00:00+02:00',
  });
}

function activated(userId: string, subscriptionId = randomUUID(), plan: 'trial' | 'pro' = 'trial') {
  return SubscriptionActivatedView.create({
    aggregateId: subscriptionId,
    data: { subscriptionId, userId, plan, expiresAt: '2024-05-15T08:00:00.000Z' },
  });
}

function expired(userId: string, subscriptionId: string) {
  return SubscriptionExpiredView.create({ aggregateId: subscriptionId, data: { subscriptionId, userId } });
}

describe('user module reactions', () => {
  it('UserRegistered adds an active user without a plan', async () => {
    const event = registered();
    await coordinator.publishEvent(event);
    await coordinator.waitForIdle();
    expect(await users.get(event.eventData.userId)).toEqual({
      userId: event.eventData.userId,
      email: 'ada@example.com',
      username: 'ada',
      status: 'active',
      registeredAt: '2024-05-01T08:00:00.000Z',
      subscription: null,
      entitlements: NO_ENTITLEMENTS,
      lastLogin: null,
    });
  });

  it('SubscriptionActivated grants the plan and its entitlements; SubscriptionExpired takes them away', async () => {
    const user = registered();
    const { userId } = user.eventData;
    await coordinator.publishEvent(user);
    const activation = activated(userId);
    await coordinator.publishEvent(activation);
    await coordinator.waitForIdle();
    expect((await users.get(userId))?.subscription).toEqual({
      subscriptionId: activation.eventData.subscriptionId,
      plan: 'trial',
      expiresAt: '2024-05-15T08:00:00.000Z',
    });
    expect((await users.get(userId))?.entitlements).toEqual(entitlementsFor('trial'));

    await coordinator.publishEvent(expired(userId, activation.eventData.subscriptionId));
    await coordinator.waitForIdle();
    expect((await users.get(userId))?.subscription).toBeNull();
    expect((await users.get(userId))?.entitlements).toEqual(NO_ENTITLEMENTS);
  });

  it('the expiry of an older subscription leaves a newer one in place', async () => {
    const user = registered();
    const { userId } = user.eventData;
    const trial = activated(userId);
    const pro = activated(userId, randomUUID(), 'pro');
    await coordinator.publishEvents([user, trial, pro]);
    await coordinator.waitForIdle();
    await coordinator.publishEvent(expired(userId, trial.eventData.subscriptionId));
    await coordinator.waitForIdle();
    expect((await users.get(userId))?.subscription?.plan).toBe('pro');
    expect((await users.get(userId))?.entitlements).toEqual(entitlementsFor('pro'));
  });

  it('UserStatusChanged records the new status', async () => {
    const user = registered();
    const { userId } = user.eventData;
    await coordinator.publishEvents([
      user,
      UserStatusChanged.create({
        aggregateId: userId,
        data: { userId, previousStatus: 'active', newStatus: 'suspended', reason: 'chargeback' },
      }),
    ]);
    await coordinator.waitForIdle();
    expect((await users.get(userId))?.status).toBe('suspended');
  });

  it('UserLoggedIn records the most recent login, even when an older one arrives late', async () => {
    const user = registered();
    const { userId } = user.eventData;
    const login = (at: string, ip: string) =>
      UserLoggedIn.create({ aggregateId: userId, data: { userId, ip, userAgent: 'curl/8' }, occurredAt: at });
    await coordinator.publishEvents([user, login('2024-05-02T09:00:00Z', '10.0.0.2')]);
    await coordinator.publishEvent(login('2024-05-02T08:00:00Z', '10.0.0.1'));
    await coordinator.waitForIdle();
    expect((await users.get(userId))?.lastLogin).toEqual({
      at: '2024-05-02T09:00:00.000Z',
      ip: '10.0.0.2',
      userAgent: 'curl/8',
    });
  });

  it('a reaction that overtakes the registration it needs is retried until the user is there', async () => {
    // Enough quick attempts to outlast the test's own step of publishing the registration.
    await coordinator.shutdown();
    coordinator = await memoryCoordinator();
    await registerUserHandlers(
      coordinator,
      { users },
      { retry: { maxAttempts: 1_000, baseDelayMs: 1, maxDelayMs: 5 } },
    );
    const user = registered();
    const { userId } = user.eventData;
    const activation = activated(userId);
    await coordinator.publishEvent(activation);
    await waitFor(async () => {
      const [pending] = await coordinator.getUnprocessedEvents();
      return pending?.deliveries.some(
        (d) => d.attempts >= 1 && d.lastError?.includes('not in the directory'),
      );
    });
    await coordinator.publishEvent(user);
    await coordinator.waitForIdle();
    expect((await users.get(userId))?.subscription?.subscriptionId).toBe(activation.eventData.subscriptionId);
    expect(await coordinator.getDeadLetters()).toEqual([]);
  });
});

describe('user module idempotency', () => {
  it('re-delivering every event (replay) changes nothing', async () => {
    const user = registered();
    const { userId } = user.eventData;
    const trial = activated(userId);
    await coordinator.publishEvents([
      user,
      trial,
      UserLoggedIn.create({ aggregateId: userId, data: { userId }, occurredAt: '2024-05-02T09:00:00Z' }),
      UserStatusChanged.create({
        aggregateId: userId,
        data: { userId, previousStatus: 'active', newStatus: 'suspended' },
      }),
    ]);
    await coordinator.publishEvent(expired(userId, trial.eventData.subscriptionId));
    await coordinator.publishEvent(
      UserStatusChanged.create({
        aggregateId: userId,
        data: { userId, previousStatus: 'suspended', newStatus: 'active' },
      }),
    );
    await coordinator.waitForIdle();
    const before = users.list();
    expect(before[0]).toMatchObject({ status: 'active', subscription: null });

    await replayAll(coordinator);
    expect(users.list()).toEqual(before);
  });

  it('replaying an old status change alone does not roll the status back', async () => {
    const user = registered();
    const { userId } = user.eventData;
    await coordinator.publishEvents([
      user,
      UserStatusChanged.create({
        aggregateId: userId,
        data: { userId, previousStatus: 'active', newStatus: 'suspended' },
        occurredAt: '2024-05-03T00:00:00Z',
      }),
      UserStatusChanged.create({
        aggregateId: userId,
        data: { userId, previousStatus: 'suspended', newStatus: 'active' },
        occurredAt: '2024-05-04T00:00:00Z',
      }),
    ]);
    await coordinator.waitForIdle();
    const result = await coordinator.replayEvents({
      from: '2024-05-03T00:00:00Z',
      to: '2024-05-03T00:00:01Z',
      handler: userHandlerNames.recordStatusChange,
    });
    expect(result.deliveries).toBe(1);
    await coordinator.waitForIdle();
    expect((await users.get(userId))?.status).toBe('active');
  });
});

describe('user module contracts', () => {
  const userId = randomUUID();
  const invalid: Array<[string, () => unknown, string]> = [
    [
      'a bad email',
      () => UserRegistered.create({ aggregateId: userId, data: { userId, email: 'ada', username: 'ada' } }),
      'eventData.email',
    ],
    [
      'an unknown field',
      () =>
        UserRegistered.create({
          aggregateId: userId,
          data: { userId, email: 'ada@example.com', username: 'ada', admin: true } as never,
        }),
      'eventData',
    ],
    [
      'an id that is not a UUID',
      () =>
        UserRegistered.create({
          aggregateId: userId,
          data: { userId: 'u-1', email: 'ada@example.com', username: 'ada' },
        }),
      'eventData.userId',
    ],
    [
      'an unknown status',
      () =>
        UserStatusChanged.create({
          aggregateId: userId,
          data: { userId, previousStatus: 'active', newStatus: 'frozen' as never },
        }),
      'eventData.newStatus',
    ],
    [
      'a status "change" to the same status',
      () =>
        UserStatusChanged.create({
          aggregateId: userId,
          data: { userId, previousStatus: 'active', newStatus: 'active' },
        }),
      'eventData.newStatus',
    ],
    [
      'an ip that is not one',
      () => UserLoggedIn.create({ aggregateId: userId, data: { userId, ip: '999.1.1.1' } }),
      'eventData.ip',
    ],
  ];

  it.each(invalid)('rejects %s with an EventValidationError naming the field', (_name, create, path) => {
    expect(validationIssuePaths(create)).toContain(path);
  });

  it('an invalid event from an untyped publisher goes to the dead letters, not into the directory', async () => {
    const { eventId } = await coordinator.publishEvent({
      eventType: 'UserRegistered',
      aggregateId: userId,
      eventData: { userId, email: 'not-an-email', username: 'ada' },
    });
    await coordinator.waitForIdle();
    const dead = await coordinator.getDeadLetters();
    expect(dead.map((d) => [d.event.id, d.delivery.handler, d.delivery.attempts])).toEqual([
      [eventId, userHandlerNames.recordRegistration, 1],
    ]);
    expect(dead[0]?.delivery.lastError).toContain('eventData.email');
    expect(users.list()).toEqual([]);
  });
});
