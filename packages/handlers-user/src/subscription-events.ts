import { defineEvent } from '@evco/core';
import { z } from 'zod';

/**
 * What the user module reads of the subscription module's events.
 *
 * The subscription module already depends on this package (it reacts to `UserRegistered`), so
 * importing its contracts from here would close a dependency cycle. Instead the user module
 * declares the part it reads, as a tolerant reader: `z.object` ignores fields it does not use,
 * so the producer may add fields freely. The producer's tests check its real events against
 * these views (see `@evco/handlers-subscription`'s contract test), so a breaking change there
 * fails a build instead of filling the dead letters here.
 */

/** The plans the user module grants entitlements for. */
export const planSchema = z.enum(['trial', 'basic', 'pro']);
export type Plan = z.infer<typeof planSchema>;

const isoDateTime = z.iso.datetime({
  offset: true,
  message: 'must be an ISO-8601 date-time with a timezone',
});

export const SubscriptionActivatedView = defineEvent(
  'SubscriptionActivated',
  z.object({
    subscriptionId: z.uuid(),
    userId: z.uuid(),
    plan: planSchema,
    expiresAt: isoDateTime,
  }),
  { schemaVersion: 1 },
);

export const SubscriptionExpiredView = defineEvent(
  'SubscriptionExpired',
  z.object({
    subscriptionId: z.uuid(),
    userId: z.uuid(),
  }),
  { schemaVersion: 1 },
);
