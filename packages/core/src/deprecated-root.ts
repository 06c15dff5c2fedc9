/**
 * Symbols that moved to `@evco/core/adapter` in 0.2, re-exported from the root for one release
 * so that adapters written against 0.1 keep compiling. Removed from the root in the next minor.
 */
import * as adapter from './adapter.js';

/** @deprecated Moved to `@evco/core/adapter`; this root re-export goes in the next minor release. */
export const FORBIDDEN_KEYS = adapter.FORBIDDEN_KEYS;
/** @deprecated Moved to `@evco/core/adapter`; this root re-export goes in the next minor release. */
export const freezeJsonObject = adapter.freezeJsonObject;
/** @deprecated Moved to `@evco/core/adapter`; this root re-export goes in the next minor release. */
export const isPlainObject = adapter.isPlainObject;
/** @deprecated Moved to `@evco/core/adapter`; this root re-export goes in the next minor release. */
export const IDENTIFIER_PATTERN = adapter.IDENTIFIER_PATTERN;
/** @deprecated Moved to `@evco/core/adapter`; this root re-export goes in the next minor release. */
export const parseOptions = adapter.parseOptions;
/** @deprecated Moved to `@evco/core/adapter`; this root re-export goes in the next minor release. */
export const toIssues = adapter.toIssues;
/** @deprecated Moved to `@evco/core/adapter`; this root re-export goes in the next minor release. */
export const readAllByPages = adapter.readAllByPages;
/** @deprecated Moved to `@evco/core/adapter`; this root re-export goes in the next minor release. */
export const recordEvent = adapter.recordEvent;
/** @deprecated Moved to `@evco/core/adapter`; this root re-export goes in the next minor release. */
export const MAX_POSITION = adapter.MAX_POSITION;
/** @deprecated Moved to `@evco/core/adapter`; this root re-export goes in the next minor release. */
export type AnnouncedEvent = adapter.AnnouncedEvent;
/** @deprecated Moved to `@evco/core/adapter`; this root re-export goes in the next minor release. */
export type Announcement = adapter.Announcement;
/** @deprecated Moved to `@evco/core/adapter`; this root re-export goes in the next minor release. */
export type AnnouncementListener = adapter.AnnouncementListener;
/** @deprecated Moved to `@evco/core/adapter`; this root re-export goes in the next minor release. */
export type AppendResult = adapter.AppendResult;
/** @deprecated Moved to `@evco/core/adapter`; this root re-export goes in the next minor release. */
export type ClaimedDelivery = adapter.ClaimedDelivery;
/** @deprecated Moved to `@evco/core/adapter`; this root re-export goes in the next minor release. */
export type ClaimRequest = adapter.ClaimRequest;
/** @deprecated Moved to `@evco/core/adapter`; this root re-export goes in the next minor release. */
export type DeliveryFailure = adapter.DeliveryFailure;
/** @deprecated Moved to `@evco/core/adapter`; this root re-export goes in the next minor release. */
export type DeliveryToken = adapter.DeliveryToken;
/** @deprecated Moved to `@evco/core/adapter`; this root re-export goes in the next minor release. */
export type EventQuery = adapter.EventQuery;
/** @deprecated Moved to `@evco/core/adapter`; this root re-export goes in the next minor release. */
export type LeaseRequest = adapter.LeaseRequest;
/** @deprecated Moved to `@evco/core/adapter`; this root re-export goes in the next minor release. */
export type ListQuery = adapter.ListQuery;
/** @deprecated Moved to `@evco/core/adapter`; this root re-export goes in the next minor release. */
export type PruneBatch = adapter.PruneBatch;
/** @deprecated Moved to `@evco/core/adapter`; this root re-export goes in the next minor release. */
export type PruneCursor = adapter.PruneCursor;
/** @deprecated Moved to `@evco/core/adapter`; this root re-export goes in the next minor release. */
export type PruneRequest = adapter.PruneRequest;
/** @deprecated Moved to `@evco/core/adapter`; this root re-export goes in the next minor release. */
export type ReadAllQuery = adapter.ReadAllQuery;
/** @deprecated Moved to `@evco/core/adapter`; this root re-export goes in the next minor release. */
export type ReadQuery = adapter.ReadQuery;
/** @deprecated Moved to `@evco/core/adapter`; this root re-export goes in the next minor release. */
export type ReplaySpec = adapter.ReplaySpec;
/** @deprecated Moved to `@evco/core/adapter`; this root re-export goes in the next minor release. */
export type RetryDeadLettersQuery = adapter.RetryDeadLettersQuery;
/** @deprecated Moved to `@evco/core/adapter`; this root re-export goes in the next minor release. */
export type SubscriberHooks = adapter.SubscriberHooks;
/** @deprecated Moved to `@evco/core/adapter`; this root re-export goes in the next minor release. */
export type SubscriptionSpec = adapter.SubscriptionSpec;
