import { type Entitlements, NO_ENTITLEMENTS } from './entitlements.js';
import type { UserStatus } from './events.js';
import {
  type NewUser,
  UnknownUserError,
  type UserDirectory,
  type UserLogin,
  type UserRecord,
  type UserSubscription,
} from './ports.js';

/**
 * A `UserDirectory` in a Map, for tests and the demo. Each change and its idempotency key are
 * written in one synchronous step, which is what a transaction gives a real implementation.
 */
export class InMemoryUserDirectory implements UserDirectory {
  readonly #users = new Map<string, UserRecord>();
  readonly #processed = new Set<string>();

  async get(userId: string): Promise<UserRecord | undefined> {
    return this.#users.get(userId);
  }

  /** Every user, in registration order. */
  list(): UserRecord[] {
    return [...this.#users.values()];
  }

  async add(user: NewUser, idempotencyKey: string): Promise<boolean> {
    return this.#once(idempotencyKey, () => {
      if (this.#users.has(user.userId)) return false;
      this.#users.set(
        user.userId,
        Object.freeze({
          ...user,
          status: 'active',
          subscription: null,
          entitlements: NO_ENTITLEMENTS,
          lastLogin: null,
        }),
      );
      return true;
    });
  }

  async setStatus(userId: string, status: UserStatus, idempotencyKey: string): Promise<boolean> {
    return this.#once(idempotencyKey, () => this.#update(userId, (u) => ({ ...u, status })));
  }

  async setSubscription(
    userId: string,
    subscription: UserSubscription,
    entitlements: Entitlements,
    idempotencyKey: string,
  ): Promise<boolean> {
    return this.#once(idempotencyKey, () =>
      this.#update(userId, (u) => ({ ...u, subscription: Object.freeze({ ...subscription }), entitlements })),
    );
  }

  async clearSubscription(
    userId: string,
    subscriptionId: string,
    entitlements: Entitlements,
    idempotencyKey: string,
  ): Promise<boolean> {
    return this.#once(idempotencyKey, () =>
      this.#update(userId, (u) =>
        u.subscription?.subscriptionId === subscriptionId ? { ...u, subscription: null, entitlements } : u,
      ),
    );
  }

  async recordLogin(userId: string, login: UserLogin): Promise<boolean> {
    return this.#update(userId, (u) =>
      u.lastLogin && Date.parse(u.lastLogin.at) >= Date.parse(login.at)
        ? u
        : { ...u, lastLogin: Object.freeze({ ...login }) },
    );
  }

  #once(key: string, apply: () => boolean): boolean {
    if (this.#processed.has(key)) return false;
    // Throws before the key is recorded, so a failed attempt is retried in full.
    const changed = apply();
    this.#processed.add(key);
    return changed;
  }

  #update(userId: string, change: (user: UserRecord) => UserRecord): boolean {
    const user = this.#users.get(userId);
    if (!user) throw new UnknownUserError(userId);
    const next = change(user);
    if (next === user) return false;
    this.#users.set(userId, Object.freeze(next));
    return true;
  }
}
