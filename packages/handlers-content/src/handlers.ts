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

import { UserStatusChanged } from '@evco/handlers-user/events';
import { ContentDeleted, ContentModerationCompleted, ContentPublished } from './events.js';
import type { ContentRepository, ModerationService, Notifier } from './ports.js';

export interface ContentModuleDeps {
  contents: ContentRepository;
  moderation: ModerationService;
  notifier: Notifier;
}

/** Stable names: deliveries are tracked under them, so renaming one orphans its pending work. */
export const contentHandlerNames = {
  recordPublication: 'content.recordPublication',
  requestModerationOnContentPublished: 'content.requestModerationOnContentPublished',
  applyModerationDecision: 'content.applyModerationDecision',
  unpublishOnAuthorBanned: 'content.unpublishOnAuthorBanned',
  cleanUpOnContentDeleted: 'content.cleanUpOnContentDeleted',
} as const;

/** One handler's reaction to one event: the key its effects are deduplicated by. */
function reactionKey(context: HandlerContext, event: RecordedEvent): string {
  return `${context.handlerName}:${event.id}`;
}

/** The module's reactions as plain functions, e.g. to call them directly in a test. */
export function createContentHandlers({ contents, moderation, notifier }: ContentModuleDeps) {
  return {
    async recordPublication(event: EventOf<typeof ContentPublished>): Promise<void> {
      const { contentId, authorId, title } = event.eventData;
      await contents.add({ contentId, authorId, title, publishedAt: event.occurredAt.toISOString() });
    },

    async requestModerationOnContentPublished(
      event: EventOf<typeof ContentPublished>,
      context: HandlerContext,
    ): Promise<void> {
      const { contentId, authorId, title } = event.eventData;
      const result = await moderation.review({ contentId, authorId, title }, reactionKey(context, event));
      // Should a repeat get a different answer anyway, the derived id keeps the first one:
      // one publication gets exactly one moderation outcome.
      await context.publish(
        ContentModerationCompleted.create({
          id: context.derivedId(ContentModerationCompleted.eventType),
          aggregateId: contentId,
          data: { contentId, decision: result.decision, reason: result.reason },
        }),
        { idempotent: true },
      );
    },

    async applyModerationDecision(
      event: EventOf<typeof ContentModerationCompleted>,
      context: HandlerContext,
    ): Promise<void> {
      const { contentId, decision, reason } = event.eventData;
      const key = reactionKey(context, event);
      await contents.recordModeration(contentId, decision, reason ?? null, key);
      if (decision !== 'rejected') return;
      // Notify even when the decision was recorded by an earlier attempt: that attempt may have
      // failed before notifying. The key keeps it to one notification.
      const item = await contents.get(contentId);
      if (!item) return; // purged meanwhile: nothing left to tell the author about
      await notifier.notify(
        {
          userId: item.authorId,
          topic: 'content.rejected',
          message: `"${item.title}" was hidden by moderation: ${reason}.`,
        },
        key,
      );
    },

    async unpublishOnAuthorBanned(
      event: EventOf<typeof UserStatusChanged>,
      context: HandlerContext,
    ): Promise<void> {
      const { userId, newStatus } = event.eventData;
      if (newStatus !== 'banned') return;
      const unpublished = await contents.unpublishByAuthor(userId, reactionKey(context, event));
      if (unpublished.length > 0)
        context.logger.info({ unpublished }, "unpublished a banned author's content");
    },

    async cleanUpOnContentDeleted(event: EventOf<typeof ContentDeleted>): Promise<void> {
      await contents.purge(event.eventData.contentId);
    },
  };
}

/**
 * The content module's reaction table: which events each reaction handles, under its stable name.
 * `registerContentHandlers` registers it; an app can also list or filter it.
 */
export function contentReactions(deps: ContentModuleDeps): Reaction[] {
  const h = createContentHandlers(deps);
  const names = contentHandlerNames;
  return [
    reaction(names.recordPublication, ContentPublished, h.recordPublication),
    reaction(
      names.requestModerationOnContentPublished,
      ContentPublished,
      h.requestModerationOnContentPublished,
    ),
    reaction(names.applyModerationDecision, ContentModerationCompleted, h.applyModerationDecision),
    reaction(names.unpublishOnAuthorBanned, UserStatusChanged, h.unpublishOnAuthorBanned),
    reaction(names.cleanUpOnContentDeleted, ContentDeleted, h.cleanUpOnContentDeleted),
  ];
}

/**
 * Registers the content module's reactions. Resolves once every subscription is stored, so events
 * published afterwards reach them.
 */
export function registerContentHandlers(
  coordinator: Pick<EventDrivenCoordinator, 'registerHandler'>,
  deps: ContentModuleDeps,
  options: ModuleHandlerOptions = {},
): Promise<HandlerRegistration[]> {
  return registerReactions(coordinator, contentReactions(deps), options);
}
