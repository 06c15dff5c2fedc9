import type { SubscriptionPlan } from './events.js';

export type SubscriptionStatus = 'active' | 'expired';

export interface SubscriptionRecord {
  readonly subscriptionId: string;
  readonly userId: string;
  readonly plan: SubscriptionPlan;
  readonly status: SubscriptionStatus;
  /** ISO-8601. */
  readonly startsAt: string;
  /** ISO-8601. */
  readonly expiresAt: string;
  /** ISO-8601, set once expired. */
  readonly expiredAt: string | null;
}

export interface NewSubscription {
  readonly subscriptionId: string;
  readonly userId: string;
  readonly plan: SubscriptionPlan;
  readonly startsAt: string;
  readonly expiresAt: string;
}

/**
 * Where the subscription module keeps subscriptions.
 *
 * Both writes are naturally idempotent, so they need no inbox: `add` is keyed by an id the
 * reaction derives from the triggering event, and a subscription only ever moves from active
 * to expired.
 */
export interface SubscriptionRepository {
  get(subscriptionId: string): Promise<SubscriptionRecord | undefined>;
  /** The user's subscriptions, oldest first. */
  listByUser(userId: string): Promise<SubscriptionRecord[]>;
  /** Stores a new active subscription; `false` when one with this id exists already. */
  add(subscription: NewSubscription): Promise<boolean>;
  /** `false` when it was expired already. Throws for an unknown id. */
  expire(subscriptionId: string, expiredAt: string): Promise<boolean>;
}
