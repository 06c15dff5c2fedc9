import { randomUUID } from 'node:crypto';
import { SubscriptionActivatedView, SubscriptionExpiredView } from '@evco/handlers-user';
import { describe, expect, it } from 'vitest';
import { SubscriptionActivated, SubscriptionExpired, subscriptionPlanSchema } from '../src/index.js';

// The user module reads these events through its own views (it cannot import this package
// without a dependency cycle). This producer-side test keeps the two in step: a change here
// that the user module could not read fails this build, not a handler in production.
describe('events of the subscription module, as the user module reads them', () => {
  it.each(subscriptionPlanSchema.options)(
    'SubscriptionActivated / SubscriptionExpired for plan %s',
    (plan) => {
      const subscriptionId = randomUUID();
      const userId = randomUUID();
      const activated = SubscriptionActivated.create({
        aggregateId: subscriptionId,
        data: {
          subscriptionId,
          userId,
          plan,
          startsAt: '2024-05-01T00:00:00Z',
          expiresAt: '2024-05-15T00:00:00Z',
        },
      });
      const expired = SubscriptionExpired.create({
        aggregateId: subscriptionId,
        data: { subscriptionId, userId, plan, expiredAt: '2024-05-15T00:00:00Z' },
      });
      expect(SubscriptionActivatedView.parse(activated).eventData).toMatchObject({
        subscriptionId,
        userId,
        plan,
      });
      expect(SubscriptionExpiredView.parse(expired).eventData).toMatchObject({ subscriptionId, userId });
      expect(SubscriptionActivatedView.schemaVersion).toBe(SubscriptionActivated.schemaVersion);
      expect(SubscriptionExpiredView.schemaVersion).toBe(SubscriptionExpired.schemaVersion);
    },
  );
});
