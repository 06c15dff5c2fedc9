import {
  type EventDrivenCoordinator,
  type EventOf,
  type HandlerContext,
  type HandlerRegistration,
  type ModuleHandlerOptions,
  type Reaction,
  type RecordedEvent,
  reaction,
  registerReactions,
} from '@evco/core';

export type { ModuleHandlerOptions };

import { entitlementsFor } from './entitlements.js';
import { UserLoggedIn, UserRegistered, UserStatusChanged } from './events.js';
import type { UserDirectory } from './ports.js';
import { SubscriptionActivatedView, SubscriptionExpiredView } from './subscription-events.js';

export interface UserModuleDeps {
  users: UserDirectory;
}

/** Stable names: deliveries are tracked under them, so renaming one orphans its pending work. */
export const userHandlerNames = {
  recordRegistration: 'user.recordRegistration',
  recordStatusChange: 'user.recordStatusChange',
  recordLastLogin: 'user.recordLastLogin',
  syncPlanWithSubscription: 'user.syncPlanWithSubscription',
} as const;

/** One handler's reaction to one event: the key its effects are deduplicated by. */
function reactionKey(context: HandlerContext, event: RecordedEvent): string {
  return `${context.handlerName}:${event.id}`;
}

/** The module's reactions as plain functions, e.g. to call them directly in a test. */
export function createUserHandlers({ users }: UserModuleDeps) {
  return {
    async recordRegistration(event: EventOf<typeof UserRegistered>, context: HandlerContext): Promise<void> {
      const { userId, email, username } = event.eventData;
      await users.add(
        { userId, email, username, registeredAt: event.occurredAt.toISOString() },
        reactionKey(context, event),
      );
    },

    async recordStatusChange(
      event: EventOf<typeof UserStatusChanged>,
      context: HandlerContext,
    ): Promise<void> {
      // Replaying an old change after a newer one must not roll the status back: the key makes
      // a replayed event a no-op, and per-aggregate ordering keeps live changes in order.
      await users.setStatus(event.eventData.userId, event.eventData.newStatus, reactionKey(context, event));
    },

    async recordLastLogin(event: EventOf<typeof UserLoggedIn>): Promise<void> {
      const { userId, ip, userAgent } = event.eventData;
      await users.recordLogin(userId, { at: event.occurredAt.toISOString(), ip, userAgent });
    },

    async syncPlanWithSubscription(
      event: EventOf<typeof SubscriptionActivatedView> | EventOf<typeof SubscriptionExpiredView>,
      context: HandlerContext,
    ): Promise<void> {
      const key = reactionKey(context, event);
      if (SubscriptionActivatedView.is(event)) {
        const { userId, subscriptionId, plan, expiresAt } = event.eventData;
        await users.setSubscription(userId, { subscriptionId, plan, expiresAt }, entitlementsFor(plan), key);
      } else {
        const { userId, subscriptionId } = event.eventData;
        await users.clearSubscription(userId, subscriptionId, entitlementsFor(null), key);
      }
    },
  };
}

/**
 * The user module's reaction table: which events each reaction handles, under its stable name.
 * `registerUserHandlers` registers it; an app can also list or filter it.
 */
export function userReactions(deps: UserModuleDeps): Reaction[] {
  const h = createUserHandlers(deps);
  const names = userHandlerNames;
  return [
    reaction(names.recordRegistration, UserRegistered, h.recordRegistration),
    reaction(names.recordStatusChange, UserStatusChanged, h.recordStatusChange),
    reaction(names.recordLastLogin, UserLoggedIn, h.recordLastLogin),
    // One handler for both events: evco hands one handler the events of one aggregate (the
    // subscription) in append order, so an expiry is applied after its activation. Two
    // handlers would each get their own order, and could apply them the other way round.
    reaction(
      names.syncPlanWithSubscription,
      [SubscriptionActivatedView, SubscriptionExpiredView],
      h.syncPlanWithSubscription,
    ),
  ];
}

/**
 * Registers the user module's reactions. Resolves once every subscription is stored, so events
 * published afterwards reach them.
 */
export function registerUserHandlers(
  coordinator: Pick<EventDrivenCoordinator, 'registerHandler'>,
  deps: UserModuleDeps,
  options: ModuleHandlerOptions = {},
): Promise<HandlerRegistration[]> {
  return registerReactions(coordinator, userReactions(deps), options);
}
