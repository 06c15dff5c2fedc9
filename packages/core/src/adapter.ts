/**
 * `@evco/core/adapter`: what a store or publisher adapter needs, kept out of the root entry so
 * that an application's autocomplete shows the application API. An adapter implements the ports
 * (`EventStore`, `EventPublisher`), passes `@evco/testkit`'s contract suites, and reuses the
 * helpers here instead of copying them: option parsing, paging (`readAllByPages`, replay pages),
 * positions, row freezing, the `stats()` summary, masked health-check errors. A store then writes
 * only its queries. See testkit's README, "Writing a store adapter".
 */

export { parsesAsPostgresUrl } from './connection-url.js';
export {
  ConcurrencyError,
  DuplicateEventError,
  EvcoError,
  type EvcoErrorCode,
  type EvcoErrorOptions,
  EventValidationError,
  InvalidOptionsError,
  InvalidTransactionError,
  isEvcoError,
  NotFoundError,
  PublisherUnavailableError,
  StoreSchemaError,
  StoreUnavailableError,
  type ValidationIssue,
} from './errors.js';
export {
  type DomainEvent,
  type EventMetadata,
  MAX_NAME_LENGTH,
  NAME_PATTERN,
  type RecordedEvent,
  recordEvent,
} from './event.js';
export { safeHealth, unhealthyStatus } from './health.js';
export {
  deepFreezeJson,
  FORBIDDEN_KEYS,
  freezeJsonObject,
  isPlainObject,
  type JsonObject,
  type JsonValue,
} from './json.js';
export { createConsoleLogger, silentLogger } from './logger.js';
export { maskedMessage, maskSecrets, maskUrl } from './mask.js';
export { IDENTIFIER_PATTERN } from './options.js';
export { readAllByPages } from './paging.js';
export type {
  AnnouncedEvent,
  Announcement,
  AnnouncementListener,
  AppendResult,
  ClaimedDelivery,
  ClaimRequest,
  DeadLetter,
  DeliveryFailure,
  DeliveryInfo,
  DeliveryStatus,
  DeliveryToken,
  EventPublisher,
  EventQuery,
  EventStore,
  HandlerOrdering,
  HandlerStats,
  HealthStatus,
  LeaseRequest,
  ListQuery,
  LogFn,
  Logger,
  PruneBatch,
  PruneCursor,
  PrunedRange,
  PruneRequest,
  PublisherCapabilities,
  ReadAllQuery,
  ReadOrder,
  ReadQuery,
  ReplayJob,
  ReplayProgress,
  ReplaySpec,
  ReplayStatus,
  RetryDeadLettersQuery,
  SchemaMigration,
  StoreCapabilities,
  StoreStats,
  SubscriberHooks,
  SubscriptionInfo,
  SubscriptionSpec,
  TransactionalPublish,
  UnprocessedEvent,
} from './ports.js';
export {
  comparePositions,
  formatPosition,
  isPosition,
  MAX_POSITION,
  type Position,
  parsePosition,
} from './position.js';
export {
  advanceReplay,
  planReplayPage,
  type ReplayPageOutcome,
  type ReplayPagePlan,
} from './replay-page.js';
export { type HandlerBacklog, summarizeStats } from './store-stats.js';
export { type OptionsMatchSchema, parseOptions, toIssues } from './zod-issues.js';
