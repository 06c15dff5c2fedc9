import {
  type EventDrivenCoordinator,
  type EventOf,
  type HandlerContext,
  type HandlerRegistration,
  type ModuleHandlerOptions,
  type Reaction,
  reaction,
  registerReactions,
} from '@evco/core';

export type { ModuleHandlerOptions };

import { UserRegistered, UserStatusChanged } from '@evco/handlers-user/events';
import { SubscriptionActivated, SubscriptionExpired } from './events.js';
import type { SubscriptionRepository } from './ports.js';

export interface SubscriptionModuleDeps {
  subscriptions: SubscriptionRepository;
  /** Length of the trial every new user gets. @default 14 */
  trialDays?: number | undefined;
}

/** Stable names: deliveries are tracked under them, so renaming one orphans its pending work. */
export const subscriptionHandlerNames = {
  activateTrialOnUserRegistered: 'subscription.activateTrialOnUserRegistered',
  endOnUserBannedOrDeleted: 'subscription.endOnUserBannedOrDeleted',
} as const;

const DAY_MS = 86_400_000;

/** The module's reactions as plain functions, e.g. to call them directly in a test. */
export function createSubscriptionHandlers({ subscriptions, trialDays = 14 }: SubscriptionModuleDeps) {
  return {
    async activateTrialOnUserRegistered(
      event: EventOf<typeof UserRegistered>,
      context: HandlerContext,
    ): Promise<void> {
      const { userId } = event.eventData;
      const subscriptionId = context.derivedId('subscription');
      const existing = await subscriptions.listByUser(userId);
      // One trial per user. The subscription this very event created (an earlier attempt that
      // failed before publishing) does not count: that attempt must be finished.
      if (existing.some((s) => s.subscriptionId !== subscriptionId)) {
        context.logger.info({ userId }, 'user already had a subscription; no trial');
        return;
      }
      // Dates come from the event, not the clock, so every attempt computes the same data.
      const startsAt = event.occurredAt.toISOString();
      const expiresAt = new Date(event.occurredAt.getTime() + trialDays * DAY_MS).toISOString();
      await subscriptions.add({ subscriptionId, userId, plan: 'trial', startsAt, expiresAt });
      await context.publish(
        SubscriptionActivated.create({
          id: context.derivedId(SubscriptionActivated.eventType),
          aggregateId: subscriptionId,
          data: { subscriptionId, userId, plan: 'trial', startsAt, expiresAt },
        }),
        { idempotent: true },
      );
    },

    async endOnUserBannedOrDeleted(
      event: EventOf<typeof UserStatusChanged>,
      context: HandlerContext,
    ): Promise<void> {
      const { userId, newStatus } = event.eventData;
      if (newStatus !== 'banned' && newStatus !== 'deleted') return;
      const expiredAt = event.occurredAt.toISOString();
      for (const s of await subscriptions.listByUser(userId)) {
        if (s.status !== 'active') continue;
        // Publish first, then write: if the write fails, the retry still finds the subscription
        // active and publishes again, which the derived id makes a no-op. The other order
        // would lose the event when the process dies between the two.
        await context.publish(
          SubscriptionExpired.create({
            id: context.derivedId(SubscriptionExpired.eventType, s.subscriptionId),
            aggregateId: s.subscriptionId,
            data: { subscriptionId: s.subscriptionId, userId, plan: s.plan, expiredAt },
          }),
          { idempotent: true },
        );
        await subscriptions.expire(s.subscriptionId, expiredAt);
      }
    },
  };
}

/**
 * The subscription module's reaction table: which events each reaction handles, under its stable name.
 * `registerSubscriptionHandlers` registers it; an app can also list or filter it.
 */
export function subscriptionReactions(deps: SubscriptionModuleDeps): Reaction[] {
  const h = createSubscriptionHandlers(deps);
  const names = subscriptionHandlerNames;
  return [
    reaction(names.activateTrialOnUserRegistered, UserRegistered, h.activateTrialOnUserRegistered),
    reaction(names.endOnUserBannedOrDeleted, UserStatusChanged, h.endOnUserBannedOrDeleted),
  ];
}

/**
 * Registers the subscription module's reactions. Resolves once every subscription is stored, so events
 * published afterwards reach them.
 */
export function registerSubscriptionHandlers(
  coordinator: Pick<EventDrivenCoordinator, 'registerHandler'>,
  deps: SubscriptionModuleDeps,
  options: ModuleHandlerOptions = {},
): Promise<HandlerRegistration[]> {
  return registerReactions(coordinator, subscriptionReactions(deps), options);
}
