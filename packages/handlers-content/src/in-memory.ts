import type { ModerationDecisionValue } from './events.js';
import {
  type ContentItem,
  type ContentRepository,
  type ModerationDecision,
  type ModerationRequest,
  type ModerationService,
  type NewContent,
  type Notification,
  type Notifier,
  UnknownContentError,
} from './ports.js';

/**
 * A `ContentRepository` in a Map, for tests and the demo. Each change and its idempotency key
 * are written in one synchronous step, which is what a transaction gives a real implementation.
 */
export class InMemoryContentRepository implements ContentRepository {
  readonly #items = new Map<string, ContentItem>();
  readonly #purged = new Set<string>();
  readonly #processed = new Set<string>();

  async get(contentId: string): Promise<ContentItem | undefined> {
    return this.#items.get(contentId);
  }

  /** Every item still there, in publication order. */
  list(): ContentItem[] {
    return [...this.#items.values()];
  }

  isPurged(contentId: string): boolean {
    return this.#purged.has(contentId);
  }

  async add(item: NewContent): Promise<boolean> {
    if (this.#items.has(item.contentId) || this.#purged.has(item.contentId)) return false;
    this.#items.set(
      item.contentId,
      Object.freeze({ ...item, visibility: 'visible', moderation: 'pending', moderationReason: null }),
    );
    return true;
  }

  async recordModeration(
    contentId: string,
    decision: ModerationDecisionValue,
    reason: string | null,
    idempotencyKey: string,
  ): Promise<boolean> {
    if (this.#processed.has(idempotencyKey) || this.#purged.has(contentId)) return false;
    const item = this.#items.get(contentId);
    if (!item) throw new UnknownContentError(contentId);
    this.#items.set(
      contentId,
      Object.freeze({
        ...item,
        moderation: decision,
        moderationReason: reason,
        visibility: decision === 'rejected' ? 'hidden' : item.visibility,
      }),
    );
    this.#processed.add(idempotencyKey);
    return true;
  }

  async unpublishByAuthor(authorId: string, idempotencyKey: string): Promise<string[]> {
    if (this.#processed.has(idempotencyKey)) return [];
    const unpublished: string[] = [];
    for (const item of this.#items.values()) {
      if (item.authorId !== authorId || item.visibility !== 'visible') continue;
      this.#items.set(item.contentId, Object.freeze({ ...item, visibility: 'unpublished' }));
      unpublished.push(item.contentId);
    }
    this.#processed.add(idempotencyKey);
    return unpublished;
  }

  async purge(contentId: string): Promise<boolean> {
    this.#purged.add(contentId);
    return this.#items.delete(contentId);
  }
}

/**
 * Rejects titles containing a blocked word, approves the rest; remembers decisions by key.
 * For tests and the demo.
 */
export class InMemoryModerationService implements ModerationService {
  readonly #blockedWords: readonly string[];
  readonly #decisions = new Map<string, ModerationDecision>();
  #reviews = 0;

  constructor(options: { blockedWords?: readonly string[] | undefined } = {}) {
    this.#blockedWords = (options.blockedWords ?? ['spam', 'casino']).map((w) => w.toLowerCase());
  }

  /** Reviews actually performed (repeats of a key are not counted). */
  get reviews(): number {
    return this.#reviews;
  }

  async review(request: ModerationRequest, idempotencyKey: string): Promise<ModerationDecision> {
    const known = this.#decisions.get(idempotencyKey);
    if (known) return known;
    this.#reviews += 1;
    const title = request.title.toLowerCase();
    const word = this.#blockedWords.find((w) => title.includes(w));
    const decision: ModerationDecision = Object.freeze(
      word === undefined
        ? { decision: 'approved' }
        : { decision: 'rejected', reason: `the title contains the blocked word "${word}"` },
    );
    this.#decisions.set(idempotencyKey, decision);
    return decision;
  }
}

/** A `Notifier` that keeps what it sent, for tests and the demo. */
export class InMemoryNotifier implements Notifier {
  readonly #sent: Notification[] = [];
  readonly #keys = new Set<string>();

  async notify(notification: Notification, idempotencyKey: string): Promise<boolean> {
    if (this.#keys.has(idempotencyKey)) return false;
    this.#keys.add(idempotencyKey);
    this.#sent.push(Object.freeze({ ...notification }));
    return true;
  }

  /** Everything sent, in order; only to `userId` when given. */
  list(userId?: string): Notification[] {
    return this.#sent.filter((n) => userId === undefined || n.userId === userId);
  }
}
