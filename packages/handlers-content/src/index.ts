export {
  CONTENT_AGGREGATE,
  ContentDeleted,
  type ContentDeletedData,
  ContentModerationCompleted,
  type ContentModerationCompletedData,
  ContentPublished,
  type ContentPublishedData,
  contentDeletedSchema,
  contentModerationCompletedSchema,
  contentPublishedSchema,
  type ModerationDecisionValue,
  moderationDecisionSchema,
} from './events.js';
export {
  type ContentModuleDeps,
  contentHandlerNames,
  contentReactions,
  createContentHandlers,
  type ModuleHandlerOptions,
  registerContentHandlers,
} from './handlers.js';
export { InMemoryContentRepository, InMemoryModerationService, InMemoryNotifier } from './in-memory.js';
export {
  type ContentItem,
  type ContentRepository,
  type ContentVisibility,
  type ModerationDecision,
  type ModerationRequest,
  type ModerationService,
  type ModerationStatus,
  type NewContent,
  type Notification,
  type Notifier,
  UnknownContentError,
} from './ports.js';
