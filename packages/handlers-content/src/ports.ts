import type { ModerationDecisionValue } from './events.js';

/** `hidden`: rejected by moderation. `unpublished`: its author was banned. */
export type ContentVisibility = 'visible' | 'hidden' | 'unpublished';
export type ModerationStatus = 'pending' | ModerationDecisionValue;

export interface ContentItem {
  readonly contentId: string;
  readonly authorId: string;
  readonly title: string;
  /** ISO-8601. */
  readonly publishedAt: string;
  readonly visibility: ContentVisibility;
  readonly moderation: ModerationStatus;
  readonly moderationReason: string | null;
}

export interface NewContent {
  readonly contentId: string;
  readonly authorId: string;
  readonly title: string;
  readonly publishedAt: string;
}

/**
 * Where the content module keeps content.
 *
 * `add` and `purge` are naturally idempotent (keyed by `contentId`; a purged id is remembered so
 * a late re-delivery of its publication cannot bring it back). The other writes take an
 * `idempotencyKey` and apply it at most once (the inbox pattern; a database implementation
 * writes the key in the same transaction as the change).
 */
export interface ContentRepository {
  /** `undefined` for unknown and for purged content. */
  get(contentId: string): Promise<ContentItem | undefined>;
  /** Adds a visible item pending moderation; `false` when it exists or was purged. */
  add(item: NewContent): Promise<boolean>;
  /**
   * Records a moderation decision; rejected content is hidden. `false` for a key seen before or
   * purged content; throws `UnknownContentError` when the content is not there (yet).
   */
  recordModeration(
    contentId: string,
    decision: ModerationDecisionValue,
    reason: string | null,
    idempotencyKey: string,
  ): Promise<boolean>;
  /** Unpublishes the author's visible content; returns the ids unpublished by this call. */
  unpublishByAuthor(authorId: string, idempotencyKey: string): Promise<string[]>;
  /** Removes the content for good; `false` when it was gone already. */
  purge(contentId: string): Promise<boolean>;
}

export class UnknownContentError extends Error {
  /** Worth retrying: the publication is probably still on its way. */
  readonly retryable = true;

  constructor(readonly contentId: string) {
    super(`[evco:handlers-content] content ${contentId} is not in the repository (yet)`);
    this.name = 'UnknownContentError';
  }
}

export interface ModerationRequest {
  readonly contentId: string;
  readonly authorId: string;
  readonly title: string;
}

export interface ModerationDecision {
  readonly decision: ModerationDecisionValue;
  /** Required for a rejection. */
  readonly reason?: string | undefined;
}

/**
 * Reviews content (a model, a vendor API, a human queue). Given the same `idempotencyKey` it
 * returns the first decision again instead of reviewing (and billing) twice.
 */
export interface ModerationService {
  review(request: ModerationRequest, idempotencyKey: string): Promise<ModerationDecision>;
}

export interface Notification {
  readonly userId: string;
  /** Dotted, e.g. `content.rejected`. */
  readonly topic: string;
  readonly message: string;
}

/**
 * Tells a user something. The `idempotencyKey` is handed to the provider (most mail and push
 * APIs accept one), so a re-delivered event never notifies twice. Returns `false` for a key
 * seen before. Same shape as the workflow module's, so one implementation can serve both.
 */
export interface Notifier {
  notify(notification: Notification, idempotencyKey: string): Promise<boolean>;
}
