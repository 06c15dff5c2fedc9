export type {
  EventDetails,
  EventHistoryQuery,
  EventHistoryResult,
  ReplayOptions,
  ReplayReport,
  SubscriptionStatus,
} from './admin.js';
export { type AdminClient, type AdminClientOptions, createAdminClient } from './admin-client.js';
export {
  type DeadLetterQuery,
  lookaheadLimit,
  MAX_ADMIN_PAGE,
  readDeadLetterPage,
  splitLookahead,
} from './admin-page.js';
export type { CausationLimits, CausationNode } from './causation.js';
export {
  type CoordinatorStatus,
  createCoordinator,
  EventDrivenCoordinator,
  type HandlerRegistration,
  type HandlerTarget,
  type RegisterHandlerOptions,
  type ReplayResult,
} from './coordinator.js';
// Moved to `@evco/core/adapter` (what store and publisher authors need); the aliases below keep
// old imports working for one release.
export * from './deprecated-root.js';
export { describeError } from './describe-error.js';
export type { DispatcherMetrics } from './dispatcher.js';
export {
  ConcurrencyError,
  CoordinatorClosedError,
  DuplicateEventError,
  DuplicateHandlerError,
  EvcoError,
  type EvcoErrorCode,
  type EvcoErrorOptions,
  EventValidationError,
  HandlerTimeoutError,
  InvalidOptionsError,
  InvalidTransactionError,
  isEvcoError,
  MiddlewareRejectedError,
  NotFoundError,
  PublisherUnavailableError,
  StoreSchemaError,
  StoreUnavailableError,
  type ValidationIssue,
} from './errors.js';
export {
  type AnyEventInput,
  type CreateEventOptions,
  createDomainEvent,
  DEFAULT_MAX_PAYLOAD_BYTES,
  type DomainEvent,
  type DomainEventInput,
  defineEvent,
  domainEventInputSchema,
  type EventData,
  type EventDefinition,
  type EventMetadata,
  type EventOf,
  ensureDomainEvent,
  eventMetadataSchema,
  GenericDomainEvent,
  type InferInput,
  type InferOutput,
  NAME_PATTERN,
  type RecordedEvent,
  type StandardSchemaV1,
  type TypedEventInput,
  withMetadata,
} from './event.js';
export { EventBus, type EventBusMetrics } from './event-bus.js';
export type {
  DeadLetterReason,
  DeliveryFailureOutcome,
  DeliveryOutcome,
  DeliveryScope,
  DeliveryStart,
  Instrumentation,
  InstrumentedCoordinator,
  PublishOutcome,
  PublishScope,
  PublishStart,
  ReplayInfo,
} from './instrumentation.js';
export type {
  JsonObject,
  JsonPrimitive,
  JsonValue,
} from './json.js';
export { createConsoleLogger, parseLogLevel, silentLogger } from './logger.js';
export { maskSecrets, maskUrl } from './mask.js';
export { type NdjsonFileArchiverOptions, ndjsonFileArchiver } from './ndjson-archiver.js';
export {
  type CoordinatorOptions,
  coordinatorOptionsSchema,
  retryPolicySchema,
} from './options.js';
export type {
  DeadLetter,
  DeliveryInfo,
  DeliveryStatus,
  EventBusMiddleware,
  EventHandler,
  EventHandlerFunction,
  EventHandlerObject,
  EventPublisher,
  EventStore,
  HandlerContext,
  HandlerOrdering,
  HandlerStats,
  HealthStatus,
  LogFn,
  Logger,
  LogLevel,
  PrunedRange,
  PublishContext,
  PublisherCapabilities,
  PublishOptions,
  PublishResult,
  ReadOrder,
  ReplayJob,
  ReplayProgress,
  ReplayStatus,
  SchemaMigration,
  StoreCapabilities,
  StoreStats,
  SubscriptionInfo,
  TransactionalPublish,
  UnprocessedEvent,
} from './ports.js';
export {
  comparePositions,
  formatPosition,
  isPosition,
  type Position,
  parsePosition,
} from './position.js';
export {
  getCoordinator,
  publishEvent,
  publishEvents,
  publishInTransaction,
  publishInTransactionSync,
  registerHandler,
  shutdownCoordinator,
} from './process-coordinator.js';
export {
  type ModuleHandlerOptions,
  type Reaction,
  reaction,
  registerReactions,
} from './reactions.js';
export {
  type ArchiveHook,
  DEFAULT_PRUNE_BATCH,
  DEFAULT_RETENTION_DUTY_CYCLE,
  type PruneEventsOptions,
  type PruneEventsResult,
  parsePruneEventsOptions,
  type RetentionPolicy,
  retentionSchema,
} from './retention.js';
export { DEFAULT_RETRY, type RetryPolicy, retryDelayMs } from './retry.js';
export type { FleetStats, HandlerStatus } from './status.js';
