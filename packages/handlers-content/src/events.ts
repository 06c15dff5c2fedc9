import { defineEvent } from '@evco/core';
import { z } from 'zod';

/**
 * The content module's contracts. Other modules import them from
 * `@evco/handlers-content/events`. `aggregateId` is the `contentId`.
 */

export const CONTENT_AGGREGATE = 'Content';

export const moderationDecisionSchema = z.enum(['approved', 'rejected']);
export type ModerationDecisionValue = z.infer<typeof moderationDecisionSchema>;

export const contentPublishedSchema = z.strictObject({
  contentId: z.uuid('must be a UUID'),
  authorId: z.uuid('must be a UUID'),
  title: z.string().trim().min(1).max(200),
});
export type ContentPublishedData = z.infer<typeof contentPublishedSchema>;

export const ContentPublished = defineEvent('ContentPublished', contentPublishedSchema, {
  schemaVersion: 1,
  aggregateType: CONTENT_AGGREGATE,
});

export const contentModerationCompletedSchema = z
  .strictObject({
    contentId: z.uuid('must be a UUID'),
    decision: moderationDecisionSchema,
    reason: z.string().min(1).max(500).optional(),
  })
  // The author is told why; a rejection without a reason would leave them guessing.
  .refine((d) => d.decision !== 'rejected' || d.reason !== undefined, {
    path: ['reason'],
    message: 'is required when the decision is "rejected"',
  });
export type ContentModerationCompletedData = z.infer<typeof contentModerationCompletedSchema>;

export const ContentModerationCompleted = defineEvent(
  'ContentModerationCompleted',
  contentModerationCompletedSchema,
  { schemaVersion: 1, aggregateType: CONTENT_AGGREGATE },
);

export const contentDeletedSchema = z.strictObject({
  contentId: z.uuid('must be a UUID'),
  authorId: z.uuid('must be a UUID'),
  /** The author, or a moderator. */
  deletedBy: z.uuid('must be a UUID'),
});
export type ContentDeletedData = z.infer<typeof contentDeletedSchema>;

export const ContentDeleted = defineEvent('ContentDeleted', contentDeletedSchema, {
  schemaVersion: 1,
  aggregateType: CONTENT_AGGREGATE,
});
