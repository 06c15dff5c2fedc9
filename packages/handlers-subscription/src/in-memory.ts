import type { NewSubscription, SubscriptionRecord, SubscriptionRepository } from './ports.js';

/** A `SubscriptionRepository` in a Map, for tests and the demo. */
export class InMemorySubscriptionRepository implements SubscriptionRepository {
  readonly #subscriptions = new Map<string, SubscriptionRecord>();

  async get(subscriptionId: string): Promise<SubscriptionRecord | undefined> {
    return this.#subscriptions.get(subscriptionId);
  }

  async listByUser(userId: string): Promise<SubscriptionRecord[]> {
    return this.list().filter((s) => s.userId === userId);
  }

  /** Every subscription, oldest first. */
  list(): SubscriptionRecord[] {
    return [...this.#subscriptions.values()];
  }

  async add(subscription: NewSubscription): Promise<boolean> {
    if (this.#subscriptions.has(subscription.subscriptionId)) return false;
    this.#subscriptions.set(
      subscription.subscriptionId,
      Object.freeze({ ...subscription, status: 'active', expiredAt: null }),
    );
    return true;
  }

  async expire(subscriptionId: string, expiredAt: string): Promise<boolean> {
    const subscription = this.#subscriptions.get(subscriptionId);
    if (!subscription) throw new Error(`[evco:handlers-subscription] unknown subscription ${subscriptionId}`);
    if (subscription.status === 'expired') return false;
    this.#subscriptions.set(subscriptionId, Object.freeze({ ...subscription, status: 'expired', expiredAt }));
    return true;
  }
}
