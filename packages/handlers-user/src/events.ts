import { defineEvent } from '@evco/core';
import { z } from 'zod';

/**
 * The user module's contracts: what it tells the rest of the application. Other modules import
 * them from `@evco/handlers-user/events`, never the handlers. `aggregateId` is the `userId`.
 */

export const USER_AGGREGATE = 'User';

export const userStatusSchema = z.enum(['active', 'suspended', 'banned', 'deleted']);
export type UserStatus = z.infer<typeof userStatusSchema>;

const userId = z.uuid('must be a UUID');

export const userRegisteredSchema = z.strictObject({
  userId,
  email: z.email('must be an email address').max(254),
  username: z
    .string()
    .min(3)
    .max(32)
    .regex(/^[A-Za-z0-9_.-]+$/, 'may only contain letters, digits and _ . -'),
});
export type UserRegisteredData = z.infer<typeof userRegisteredSchema>;

export const UserRegistered = defineEvent('UserRegistered', userRegisteredSchema, {
  schemaVersion: 1,
  aggregateType: USER_AGGREGATE,
});

export const userStatusChangedSchema = z
  .strictObject({
    userId,
    previousStatus: userStatusSchema,
    newStatus: userStatusSchema,
    reason: z.string().min(1).max(500).optional(),
  })
  // A "change" to the same status would make every consumer guess whether to react.
  .refine((d) => d.previousStatus !== d.newStatus, {
    path: ['newStatus'],
    message: 'must differ from previousStatus',
  });
export type UserStatusChangedData = z.infer<typeof userStatusChangedSchema>;

export const UserStatusChanged = defineEvent('UserStatusChanged', userStatusChangedSchema, {
  schemaVersion: 1,
  aggregateType: USER_AGGREGATE,
});

export const userLoggedInSchema = z.strictObject({
  userId,
  ip: z.union([z.ipv4(), z.ipv6()], 'must be an IPv4 or IPv6 address').optional(),
  userAgent: z.string().min(1).max(512).optional(),
});
export type UserLoggedInData = z.infer<typeof userLoggedInSchema>;

export const UserLoggedIn = defineEvent('UserLoggedIn', userLoggedInSchema, {
  schemaVersion: 1,
  aggregateType: USER_AGGREGATE,
});
