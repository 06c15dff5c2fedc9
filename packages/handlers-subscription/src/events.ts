import { defineEvent } from '@evco/core';
import { z } from 'zod';

/**
 * The subscription module's contracts. Other modules import them from
 * `@evco/handlers-subscription/events`. `aggregateId` is the `subscriptionId`.
 */

export const SUBSCRIPTION_AGGREGATE = 'Subscription';

export const subscriptionPlanSchema = z.enum(['trial', 'basic', 'pro']);
export type SubscriptionPlan = z.infer<typeof subscriptionPlanSchema>;

const isoDateTime = z.iso.datetime({
  offset: true,
  message: 'must be an ISO-8601 date-time with a timezone',
});

export const subscriptionActivatedSchema = z
  .strictObject({
    subscriptionId: z.uuid('must be a UUID'),
    userId: z.uuid('must be a UUID'),
    plan: subscriptionPlanSchema,
    startsAt: isoDateTime,
    expiresAt: isoDateTime,
  })
  .refine((d) => Date.parse(d.expiresAt) > Date.parse(d.startsAt), {
    path: ['expiresAt'],
    message: 'must be after startsAt',
  });
export type SubscriptionActivatedData = z.infer<typeof subscriptionActivatedSchema>;

export const SubscriptionActivated = defineEvent('SubscriptionActivated', subscriptionActivatedSchema, {
  schemaVersion: 1,
  aggregateType: SUBSCRIPTION_AGGREGATE,
});

export const subscriptionExpiredSchema = z.strictObject({
  subscriptionId: z.uuid('must be a UUID'),
  userId: z.uuid('must be a UUID'),
  plan: subscriptionPlanSchema,
  expiredAt: isoDateTime,
});
export type SubscriptionExpiredData = z.infer<typeof subscriptionExpiredSchema>;

export const SubscriptionExpired = defineEvent('SubscriptionExpired', subscriptionExpiredSchema, {
  schemaVersion: 1,
  aggregateType: SUBSCRIPTION_AGGREGATE,
});
