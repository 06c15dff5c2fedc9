import type { Entitlements } from './entitlements.js';
import type { UserStatus } from './events.js';
import type { Plan } from './subscription-events.js';

export interface UserSubscription {
  readonly subscriptionId: string;
  readonly plan: Plan;
  readonly expiresAt: string;
}

export interface UserLogin {
  /** ISO-8601. */
  readonly at: string;
  readonly ip?: string | undefined;
  readonly userAgent?: string | undefined;
}

export interface UserRecord {
  readonly userId: string;
  readonly email: string;
  readonly username: string;
  readonly status: UserStatus;
  /** ISO-8601. */
  readonly registeredAt: string;
  readonly subscription: UserSubscription | null;
  readonly entitlements: Entitlements;
  readonly lastLogin: UserLogin | null;
}

export interface NewUser {
  readonly userId: string;
  readonly email: string;
  readonly username: string;
  readonly registeredAt: string;
}

/**
 * Where the user module keeps its users.
 *
 * Methods that take an `idempotencyKey` apply it at most once (the inbox pattern) and return
 * whether they changed anything: `false` for a key seen before. A database implementation inserts the key into an inbox table in
 * the same transaction as the change, so a re-delivered event can never apply twice, even when
 * the process died between the change and acknowledging the delivery.
 *
 * Methods about a user throw `UnknownUserError` when the user is not there (yet): the reaction
 * may have overtaken the user's registration, and evco retries it.
 */
export interface UserDirectory {
  get(userId: string): Promise<UserRecord | undefined>;
  /** Adds an active user without a subscription. */
  add(user: NewUser, idempotencyKey: string): Promise<boolean>;
  setStatus(userId: string, status: UserStatus, idempotencyKey: string): Promise<boolean>;
  setSubscription(
    userId: string,
    subscription: UserSubscription,
    entitlements: Entitlements,
    idempotencyKey: string,
  ): Promise<boolean>;
  /** Clears the subscription only while it is still `subscriptionId`: a newer one stays. */
  clearSubscription(
    userId: string,
    subscriptionId: string,
    entitlements: Entitlements,
    idempotencyKey: string,
  ): Promise<boolean>;
  /**
   * Keeps the most recent login. Naturally idempotent, so no key: the same login applied twice,
   * or an older one arriving late, changes nothing. Returns whether it became the last login.
   */
  recordLogin(userId: string, login: UserLogin): Promise<boolean>;
}

export class UnknownUserError extends Error {
  /** Worth retrying: the registration is probably still on its way. */
  readonly retryable = true;

  constructor(readonly userId: string) {
    super(`[evco:handlers-user] user ${userId} is not in the directory (yet)`);
    this.name = 'UnknownUserError';
  }
}
