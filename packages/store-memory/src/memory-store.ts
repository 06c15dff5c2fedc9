import {
  type AppendResult,
  type ClaimedDelivery,
  type ClaimRequest,
  ConcurrencyError,
  type DeadLetter,
  type DeliveryFailure,
  type DeliveryInfo,
  type DeliveryStatus,
  type DeliveryToken,
  type DomainEvent,
  DuplicateEventError,
  type EventQuery,
  type EventStore,
  type HandlerOrdering,
  type HealthStatus,
  type LeaseRequest,
  type ListQuery,
  NotFoundError,
  type PruneBatch,
  type PrunedRange,
  type PruneRequest,
  parsePosition,
  type ReadAllQuery,
  type ReadQuery,
  type RecordedEvent,
  type ReplayJob,
  type ReplayProgress,
  type ReplaySpec,
  type RetryDeadLettersQuery,
  readAllByPages,
  recordEvent,
  type StoreStats,
  StoreUnavailableError,
  type SubscriptionInfo,
  type SubscriptionSpec,
  summarizeStats,
  type UnprocessedEvent,
} from '@evco/core/adapter';
import { Chain } from './chain.js';
import { MinHeap } from './heap.js';

const SOURCE = 'store-memory';

export interface MemoryStore extends EventStore {
  readonly name: 'memory';
  migrate(): Promise<void>;
  close(): Promise<void>;
}

interface EventRecord {
  event: RecordedEvent;
  deliveries: Delivery[];
  /** Deliveries not done (pending, running or dead); > 0 means the event is unprocessed. */
  open: number;
  /** In `#openRecords` (possibly stale). */
  queued: boolean;
}

interface Delivery {
  id: string;
  /** The event's position as a number (see `deliveryPosition`). */
  seq: number;
  event: RecordedEvent;
  record: EventRecord;
  handler: string;
  counters: Counters;
  ordered: boolean;
  /** The (handler, aggregate) chain while the delivery is unfinished; see `#enqueue`. */
  chain: Chain<Delivery> | null;
  status: DeliveryStatus;
  attempts: number;
  nextAttemptAt: number;
  leaseOwner: string | null;
  leaseExpiresAt: number;
  lastError: string | null;
  isReplay: boolean;
  /** The replay that queued this run, for its progress. */
  replayId: string | null;
  createdAt: number;
  updatedAt: number;
  /** Bumped whenever the delivery is (re)queued; stale heap entries are skipped lazily. */
  queueVersion: number;
}

interface Subscription {
  handler: string;
  eventType: string;
  ordering: HandlerOrdering;
  expiresAt: number;
  lastSeenAt: number;
  lastSeenBy: string;
}

interface Counters {
  pending: number;
  running: number;
  dead: number;
}

/**
 * Everything in one process's memory, with the same semantics as the durable stores: the
 * reference implementation of the store contract, and the store for unit tests.
 *
 * Deliveries of one (handler, aggregate) form a chain ordered by event position; only a chain's
 * head can be claimed. Claimable heads wait in a per-handler ready set, heads waiting for a
 * retry time in a min-heap, so a claim costs O(claimed), not O(stored).
 */
export function createMemoryStore(): MemoryStore {
  return new MemoryEventStore();
}

class MemoryEventStore implements MemoryStore {
  readonly name = 'memory' as const;
  readonly capabilities = { durable: false, crossProcess: false };

  #closed = false;
  #events: RecordedEvent[] = [];
  /** Highest position handed out: positions are never reused, even after pruning. */
  #lastSeq = 0;
  readonly #byId = new Map<string, EventRecord>();
  readonly #byType = new Map<string, RecordedEvent[]>();
  readonly #byAggregate = new Map<string, RecordedEvent[]>();
  /** Events by `metadata.causationId`: the effects of one event (for causation trees). */
  readonly #byCausation = new Map<string, RecordedEvent[]>();
  /**
   * Events by `metadata.correlationId`, except a flow's root (whose correlation id is its own
   * id, the common case): it is found by id instead, so root events cost no entry here.
   */
  readonly #byCorrelation = new Map<string, RecordedEvent[]>();
  readonly #versions = new Map<string, Set<number>>();

  readonly #subscriptions = new Map<string, Map<string, Subscription>>();
  /** Indexed by numeric delivery id; a retired delivery leaves a hole. */
  readonly #deliveries: Array<Delivery | undefined> = [];
  /**
   * Records that had an open delivery, oldest first, with closed ones dropped lazily: cheaper
   * than a Set on the hot path (an add and a delete per event), compacted when half stale.
   */
  #openRecords: EventRecord[] = [];
  #openCount = 0;
  readonly #ready = new Map<string, Set<Delivery>>();
  readonly #scheduled = new MinHeap<{ d: Delivery; v: number; at: number }>((x) => x.at);
  readonly #chains = new Map<string, Map<string, Chain<Delivery>>>();
  /** Leased deliveries per handler, expired leases included until a claim of the handler takes them over. */
  readonly #running = new Map<string, Set<Delivery>>();
  readonly #dead = new Set<Delivery>();
  readonly #counters = new Map<string, Counters>();
  readonly #replays = new Map<string, ReplayJob & { untilPosition: number }>();
  /** Deliveries each replay queued that are not done (pending, running or dead). */
  readonly #replayDeliveries = new Map<string, Set<Delivery>>();
  /** Per handler: none of its running deliveries' leases ends before this (a lower bound). */
  readonly #earliestLease = new Map<string, number>();
  #deliverySeq = 0;
  #replaySeq = 0;
  readonly #pruned = new Map<string, PrunedRange>();
  readonly #leases = new Map<string, { holder: string; expiresAt: number }>();
  /**
   * The last prune batch queued: batches run one at a time, and replays wait for the one under
   * way, so no replay queues a delivery for an event that is being archived and removed.
   */
  #pruning: Promise<unknown> = Promise.resolve();

  async migrate(): Promise<void> {
    this.#open();
  }

  #open(): void {
    if (this.#closed) throw new StoreUnavailableError('the memory store is closed', { source: SOURCE });
  }

  // ------------------------------------------------------------------------------------------
  // Events
  // ------------------------------------------------------------------------------------------

  async append(events: readonly DomainEvent[], options: { now: Date }): Promise<AppendResult> {
    this.#open();
    const now = options.now.getTime();
    // Check everything first: the batch is all or nothing.
    // Within-batch duplicates only matter for batches: a lone event skips the two sets.
    const ids = events.length > 1 ? new Set<string>() : undefined;
    const versions = events.length > 1 ? new Set<string>() : undefined;
    for (const e of events) {
      if (this.#byId.has(e.id) || ids?.has(e.id)) {
        throw new DuplicateEventError(`an event with id ${e.id} is already stored`, e.id, { source: SOURCE });
      }
      ids?.add(e.id);
      if (e.aggregateVersion !== undefined) {
        const key = `${e.aggregateId}\u0000${e.aggregateVersion}`;
        if (this.#versions.get(e.aggregateId)?.has(e.aggregateVersion) || versions?.has(key)) {
          throw new ConcurrencyError(
            `aggregate ${e.aggregateId} already has version ${e.aggregateVersion}`,
            { aggregateId: e.aggregateId, aggregateVersion: e.aggregateVersion },
            { source: SOURCE },
          );
        }
        versions?.add(key);
      }
    }
    const recordedAt = new Date(now);
    const recorded: RecordedEvent[] = new Array(events.length);
    const deliveries: number[] = new Array(events.length);
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      const r = recordEvent(e, ++this.#lastSeq, recordedAt);
      this.#events.push(r);
      const record: EventRecord = { event: r, deliveries: [], open: 0, queued: false };
      this.#byId.set(r.id, record);
      push(this.#byType, r.eventType, r);
      push(this.#byAggregate, r.aggregateId, r);
      const { causationId, correlationId } = r.metadata;
      if (causationId !== undefined) push(this.#byCausation, causationId, r);
      if (correlationId !== undefined && correlationId !== r.id) push(this.#byCorrelation, correlationId, r);
      if (r.aggregateVersion !== undefined) {
        const set = getOrCreate(this.#versions, r.aggregateId, () => new Set());
        set.add(r.aggregateVersion);
      }
      let count = 0;
      const subs = this.#subscriptions.get(r.eventType);
      if (subs) {
        for (const sub of subs.values()) {
          if (sub.expiresAt <= now) continue;
          this.#createDelivery(record, sub.handler, sub.ordering, now, false);
          count++;
        }
      }
      recorded[i] = r;
      deliveries[i] = count;
    }
    return { events: recorded, deliveries };
  }

  async read(query: ReadQuery): Promise<RecordedEvent[]> {
    this.#open();
    const desc = query.order === 'desc';
    const match = matcher(query);
    const after = cursorOf(query.afterPosition, 'afterPosition');
    const before = cursorOf(query.beforePosition, 'beforePosition');
    // Sources are in position order: walk each from the cursor end and stop at the limit; several
    // (one per type) are merged afterwards, so a page costs the page, not every event of the types.
    const pages = this.#sourcesFor(query).map((source) => {
      const out: RecordedEvent[] = [];
      if (desc) {
        let i = before === undefined ? source.length - 1 : lastBelow(source, before);
        for (; i >= 0 && out.length < query.limit; i--) {
          const e = source[i]!;
          if (after !== undefined && seqOf(e) <= after) break;
          if (match(e)) out.push(e);
        }
      } else {
        let i = after === undefined ? 0 : firstAbove(source, after);
        for (; i < source.length && out.length < query.limit; i++) {
          const e = source[i]!;
          if (before !== undefined && seqOf(e) >= before) break;
          if (match(e)) out.push(e);
        }
      }
      return out;
    });
    if (pages.length === 1) return pages[0]!;
    const merged = pages.flat().sort(byPosition);
    if (desc) merged.reverse();
    return merged.slice(0, query.limit);
  }

  #sourcesFor(query: EventQuery): ReadonlyArray<readonly RecordedEvent[]> {
    const types = query.eventType;
    if (
      query.aggregateId === undefined &&
      query.causationId === undefined &&
      query.correlationId === undefined
    ) {
      if (Array.isArray(types) && new Set(types).size > 1) {
        return [...new Set<string>(types)].map((t) => this.#byType.get(t) ?? []);
      }
    }
    return [this.#sourceFor(query)];
  }

  #sourceFor(query: EventQuery): readonly RecordedEvent[] {
    if (query.aggregateId !== undefined) return this.#byAggregate.get(query.aggregateId) ?? [];
    if (query.causationId !== undefined) return this.#byCausation.get(query.causationId) ?? [];
    if (query.correlationId !== undefined) {
      const flow = this.#byCorrelation.get(query.correlationId) ?? [];
      const root = this.#byId.get(query.correlationId)?.event;
      if (!root || root.metadata.correlationId !== root.id) return flow;
      return [...flow, root].sort(byPosition);
    }
    const types = query.eventType;
    if (typeof types === 'string') return this.#byType.get(types) ?? [];
    if (Array.isArray(types)) {
      const lists = [...new Set(types)].map((t) => this.#byType.get(t) ?? []);
      return lists.length === 1 ? lists[0]! : lists.flat().sort(byPosition);
    }
    return this.#events;
  }

  readAll(query: ReadAllQuery = {}): AsyncIterable<RecordedEvent> {
    return readAllByPages((q) => this.read(q), query);
  }

  async getEvent(id: string): Promise<RecordedEvent | undefined> {
    this.#open();
    return this.#byId.get(id)?.event;
  }

  async getDeliveries(eventId: string): Promise<DeliveryInfo[]> {
    this.#open();
    const record = this.#byId.get(eventId);
    if (!record) return [];
    return record.deliveries.map(info).sort((a, b) => a.handler.localeCompare(b.handler));
  }

  // ------------------------------------------------------------------------------------------
  // Subscriptions
  // ------------------------------------------------------------------------------------------

  async registerSubscriptions(
    subscriptions: readonly SubscriptionSpec[],
    options: { consumerId: string; now: Date; ttlMs: number },
  ): Promise<void> {
    this.#open();
    const now = options.now.getTime();
    for (const s of subscriptions) {
      const byHandler = getOrCreate(this.#subscriptions, s.eventType, () => new Map());
      byHandler.set(s.handler, {
        handler: s.handler,
        eventType: s.eventType,
        ordering: s.ordering,
        expiresAt: now + options.ttlMs,
        lastSeenAt: now,
        lastSeenBy: options.consumerId,
      });
    }
  }

  async listSubscriptions(): Promise<SubscriptionInfo[]> {
    this.#open();
    const out: SubscriptionInfo[] = [];
    for (const byHandler of this.#subscriptions.values()) {
      for (const s of byHandler.values()) {
        out.push({
          handler: s.handler,
          eventType: s.eventType,
          ordering: s.ordering,
          expiresAt: new Date(s.expiresAt),
          lastSeenAt: new Date(s.lastSeenAt),
          lastSeenBy: s.lastSeenBy,
        });
      }
    }
    return out.sort((a, b) => a.handler.localeCompare(b.handler) || a.eventType.localeCompare(b.eventType));
  }

  async retireHandler(handler: string): Promise<number> {
    this.#open();
    for (const [type, byHandler] of this.#subscriptions) {
      byHandler.delete(handler);
      if (byHandler.size === 0) this.#subscriptions.delete(type);
    }
    let removed = 0;
    for (const d of this.#deliveries) {
      if (!d || d.handler !== handler || d.status === 'done') continue;
      this.#detach(d);
      this.#setStatus(d, 'done');
      this.#forget(d);
      removed++;
    }
    return removed;
  }

  // ------------------------------------------------------------------------------------------
  // Deliveries
  // ------------------------------------------------------------------------------------------

  #createDelivery(
    record: EventRecord,
    handler: string,
    ordering: HandlerOrdering,
    now: number,
    isReplay: boolean,
    replayId: string | null = null,
  ): Delivery {
    const d: Delivery = {
      id: String(++this.#deliverySeq),
      seq: Number(record.event.position),
      event: record.event,
      record,
      handler,
      counters: this.#countersFor(handler),
      ordered: ordering === 'aggregate',
      chain: null,
      status: 'done',
      attempts: 0,
      nextAttemptAt: now,
      leaseOwner: null,
      leaseExpiresAt: 0,
      lastError: null,
      isReplay,
      replayId,
      createdAt: now,
      updatedAt: now,
      queueVersion: 0,
    };
    this.#deliveries[this.#deliverySeq] = d;
    if (replayId !== null) getOrCreate(this.#replayDeliveries, replayId, () => new Set()).add(d);
    record.deliveries.push(d);
    this.#setStatus(d, 'pending');
    this.#enqueue(d, now);
    return d;
  }

  /** Puts a pending delivery where a claim will find it: in its chain, then ready or scheduled. */
  #enqueue(d: Delivery, now: number): void {
    if (d.ordered) {
      const byAggregate = getOrCreate(this.#chains, d.handler, () => new Map<string, Chain<Delivery>>());
      const chain = getOrCreate(
        byAggregate,
        d.event.aggregateId,
        () => new Chain<Delivery>(deliveryPosition),
      );
      d.chain = chain;
      if (!chain.insert(d)) return; // blocked behind an earlier delivery of the same aggregate
    }
    this.#schedule(d, now);
  }

  #schedule(d: Delivery, now: number): void {
    d.queueVersion++;
    if (d.nextAttemptAt <= now) {
      const set = getOrCreate(this.#ready, d.handler, () => new Set());
      set.add(d);
    } else {
      this.#scheduled.push({ d, v: d.queueVersion, at: d.nextAttemptAt });
    }
  }

  /** Takes a delivery out of every queue and its chain; wakes the chain's next head. */
  #detach(d: Delivery): void {
    this.#ready.get(d.handler)?.delete(d);
    d.queueVersion++;
    this.#running.get(d.handler)?.delete(d);
    this.#dead.delete(d);
    const chain = d.chain;
    if (!chain) return;
    d.chain = null;
    const wasHead = chain.remove(d);
    if (chain.size === 0) {
      this.#chains.get(d.handler)?.delete(d.event.aggregateId);
      return;
    }
    const head = chain.head!;
    if (wasHead && head.status === 'pending') this.#schedule(head, d.updatedAt);
  }

  #setStatus(d: Delivery, status: DeliveryStatus): void {
    if (d.status === status) return;
    const c = d.counters;
    const record = d.record;
    if (d.status !== 'done') {
      c[d.status]--;
      if (status === 'done' && --record.open === 0) this.#openCount--;
    } else if (record.open++ === 0) {
      this.#openCount++;
      if (!record.queued) {
        record.queued = true;
        this.#openRecords.push(record);
        if (this.#openRecords.length > 2 * this.#openCount + 1024) this.#unprocessed();
      }
    }
    if (status !== 'done') c[status]++;
    d.status = status;
  }

  #countersFor(handler: string): Counters {
    const c = getOrCreate(this.#counters, handler, () => ({ pending: 0, running: 0, dead: 0 }));
    return c;
  }

  /** The records with an open delivery (compacting the queue as a side effect). */
  #unprocessed(): EventRecord[] {
    const open: EventRecord[] = [];
    for (const record of this.#openRecords) {
      if (record.open > 0) open.push(record);
      else record.queued = false;
    }
    this.#openRecords = open;
    return open;
  }

  async claimDue(request: ClaimRequest): Promise<ClaimedDelivery[]> {
    this.#open();
    const now = request.now.getTime();
    // Retries that came due.
    for (let top = this.#scheduled.peek(); top && top.at <= now; top = this.#scheduled.peek()) {
      this.#scheduled.pop();
      if (top.v === top.d.queueVersion && top.d.status === 'pending') this.#schedule(top.d, now);
    }
    const candidates: Delivery[] = [];
    const handlers = request.handlers.length > 1 ? new Set(request.handlers) : request.handlers;
    for (const handler of handlers) {
      const expired = this.#expiredLeases(handler, now);
      const ready = this.#ready.get(handler);
      let taken = 0;
      for (const d of ready ?? []) {
        if (taken >= request.limit) break;
        if (d.ordered && d.chain?.head !== d) {
          ready!.delete(d); // an earlier delivery was requeued ahead of it; it waits its turn again
          continue;
        }
        candidates.push(d);
        taken++;
      }
      if (expired.length === 0) continue;
      // Taken-over leases compete with the ready ones: the handler's oldest go first.
      const mine = candidates.splice(candidates.length - taken).concat(expired);
      candidates.push(...mine.sort((x, y) => byPosition(x.event, y.event)).slice(0, request.limit));
    }
    // Oldest first across handlers, so one busy handler cannot starve the others.
    if (request.handlers.length > 1) candidates.sort((a, b) => byPosition(a.event, b.event));
    const claimed: ClaimedDelivery[] = [];
    for (const d of candidates) {
      if (claimed.length >= request.limit) break;
      this.#ready.get(d.handler)?.delete(d);
      d.queueVersion++;
      this.#setStatus(d, 'running');
      d.attempts++;
      d.leaseOwner = request.consumerId;
      d.leaseExpiresAt = now + request.leaseMs;
      const earliest = this.#earliestLease.get(d.handler) ?? Number.POSITIVE_INFINITY;
      if (d.leaseExpiresAt < earliest) this.#earliestLease.set(d.handler, d.leaseExpiresAt);
      d.updatedAt = now;
      getOrCreate(this.#running, d.handler, () => new Set()).add(d);
      claimed.push({
        deliveryId: d.id,
        attempt: d.attempts,
        handler: d.handler,
        isReplay: d.isReplay,
        event: d.event,
      });
    }
    return claimed;
  }

  /**
   * A handler's deliveries whose lease expired (the holder died or hung) and that still head their
   * chain (a replay may have queued an earlier one ahead). They stay running, and their holder
   * may still complete them, until a claim of their handler takes them over: a claim touches no
   * other handler's deliveries. The scan only runs once the handler's earliest lease can have
   * expired, not on every claim.
   */
  #expiredLeases(handler: string, now: number): Delivery[] {
    const running = this.#running.get(handler);
    if (!running || now < (this.#earliestLease.get(handler) ?? Number.POSITIVE_INFINITY)) return [];
    const expired: Delivery[] = [];
    let earliest = Number.POSITIVE_INFINITY;
    for (const d of running) {
      if (d.leaseExpiresAt < earliest) earliest = d.leaseExpiresAt;
      if (d.leaseExpiresAt <= now && (!d.ordered || d.chain?.head === d)) expired.push(d);
    }
    this.#earliestLease.set(handler, earliest);
    return expired;
  }

  #leased(token: DeliveryToken): Delivery | undefined {
    const d = this.#deliveries[Number(token.deliveryId)];
    return d && d.status === 'running' && d.attempts === token.attempt ? d : undefined;
  }

  async complete(tokens: readonly DeliveryToken[], options: { now: Date }): Promise<void> {
    this.#open();
    const now = options.now.getTime();
    for (const token of tokens) {
      const d = this.#leased(token);
      if (!d) continue;
      d.updatedAt = now;
      this.#setStatus(d, 'done');
      this.#detach(d);
      this.#forget(d);
    }
  }

  /**
   * A done delivery has nothing left to tell: dropping it keeps memory flat under load. A
   * replay that finds no delivery for a handler simply creates a fresh one.
   */
  #forget(d: Delivery): void {
    this.#deliveries[Number(d.id)] = undefined;
    if (d.replayId !== null) this.#replayDeliveries.get(d.replayId)?.delete(d);
    const list = d.record.deliveries;
    const i = list.indexOf(d);
    if (i >= 0) list.splice(i, 1);
  }

  async fail(failures: readonly DeliveryFailure[], options: { now: Date }): Promise<void> {
    this.#open();
    const now = options.now.getTime();
    for (const f of failures) {
      const d = this.#leased(f);
      if (!d) continue;
      d.updatedAt = now;
      d.leaseOwner = null;
      d.lastError = f.error;
      this.#running.get(d.handler)?.delete(d);
      if (f.nextAttemptAt === null) {
        this.#setStatus(d, 'dead');
        this.#detach(d);
        this.#dead.add(d);
      } else {
        this.#setStatus(d, 'pending');
        d.nextAttemptAt = f.nextAttemptAt.getTime();
        this.#schedule(d, now);
      }
    }
  }

  async release(tokens: readonly DeliveryToken[], options: { now: Date }): Promise<void> {
    this.#open();
    const now = options.now.getTime();
    for (const token of tokens) {
      const d = this.#leased(token);
      if (!d) continue;
      this.#running.get(d.handler)?.delete(d);
      d.leaseOwner = null;
      d.updatedAt = now;
      d.nextAttemptAt = now;
      this.#setStatus(d, 'pending');
      this.#schedule(d, now);
    }
  }

  // ------------------------------------------------------------------------------------------
  // Admin views
  // ------------------------------------------------------------------------------------------

  async getUnprocessedEvents(query: ListQuery): Promise<UnprocessedEvent[]> {
    this.#open();
    const after = cursorOf(query.afterPosition, 'afterPosition');
    const records: EventRecord[] = [];
    for (const record of this.#unprocessed()) {
      if (after !== undefined && seqOf(record.event) <= after) continue;
      if (
        query.handler !== undefined &&
        !record.deliveries.some((d) => d.handler === query.handler && d.status !== 'done')
      ) {
        continue;
      }
      records.push(record);
    }
    records.sort((a, b) => byPosition(a.event, b.event));
    return records.slice(0, query.limit).map((record) => ({
      event: record.event,
      deliveries: record.deliveries.filter((d) => d.status !== 'done').map(info),
    }));
  }

  async getDeadLetters(query: ListQuery): Promise<DeadLetter[]> {
    this.#open();
    const after = cursorOf(query.afterPosition, 'afterPosition');
    const dead = [...this.#dead].filter(
      (d) =>
        (query.handler === undefined || d.handler === query.handler) &&
        (after === undefined || seqOf(d.event) > after),
    );
    dead.sort((a, b) => byPosition(a.event, b.event) || a.handler.localeCompare(b.handler));
    return dead.slice(0, query.limit).map((d) => ({ event: d.event, delivery: info(d) }));
  }

  async retryDeadLetters(query: RetryDeadLettersQuery): Promise<number> {
    this.#open();
    const now = query.now.getTime();
    const wanted = query.deliveryIds ? new Set(query.deliveryIds) : undefined;
    let count = 0;
    for (const d of [...this.#dead]) {
      if (wanted && !wanted.has(d.id)) continue;
      if (query.handler !== undefined && d.handler !== query.handler) continue;
      this.#dead.delete(d);
      this.#requeue(d, now, d.isReplay, d.replayId);
      count++;
    }
    return count;
  }

  /**
   * A re-driven dead delivery becomes a new delivery (new id, attempt 1) rather than a reset of
   * the old one: a process still holding a lease token of an earlier run can then never
   * complete or fail the new run.
   */
  #requeue(d: Delivery, now: number, isReplay: boolean, replayId: string | null): void {
    this.#setStatus(d, 'done');
    this.#forget(d);
    this.#createDelivery(d.record, d.handler, d.ordered ? 'aggregate' : 'none', now, isReplay, replayId);
  }

  // ------------------------------------------------------------------------------------------
  // Replay
  // ------------------------------------------------------------------------------------------

  async startReplay(spec: ReplaySpec, options: { now: Date }): Promise<ReplayJob> {
    await this.#pruning;
    this.#open();
    const job = {
      ...spec,
      id: `replay-${++this.#replaySeq}`,
      status: 'running' as const,
      cursor: null,
      eventsMatched: 0,
      deliveriesQueued: 0,
      truncated: false,
      createdAt: options.now,
      updatedAt: options.now,
      untilPosition: this.#lastSeq,
    };
    this.#replays.set(job.id, job);
    return publicJob(job);
  }

  async continueReplay(replayId: string, options: { now: Date; pageSize: number }): Promise<ReplayJob> {
    await this.#pruning;
    this.#open();
    const job = this.#replays.get(replayId);
    if (!job) throw new NotFoundError('replay', replayId, { source: SOURCE });
    if (job.status === 'done') return publicJob(job);
    const now = options.now.getTime();
    const from = job.from.getTime();
    const to = job.to.getTime();
    const source = job.eventType === undefined ? this.#events : (this.#byType.get(job.eventType) ?? []);
    let i = job.cursor === null ? 0 : firstAbove(source, Number(job.cursor));
    let page = 0;
    for (; i < source.length; i++) {
      const e = source[i]!;
      if (seqOf(e) > job.untilPosition) break;
      const t = e.occurredAt.getTime();
      if (t < from || t >= to) continue;
      if (job.eventsMatched >= job.maxEvents) {
        job.truncated = true;
        break;
      }
      if (page >= options.pageSize) break;
      page++;
      job.eventsMatched++;
      job.cursor = e.position;
      job.deliveriesQueued += this.#replayEvent(e, job.id, job.handler, now);
    }
    if (i >= source.length || job.truncated || seqOf(source[i]!) > job.untilPosition) job.status = 'done';
    job.updatedAt = options.now;
    return publicJob(job);
  }

  #replayEvent(e: RecordedEvent, replayId: string, handler: string | undefined, now: number): number {
    const subs = this.#subscriptions.get(e.eventType);
    if (!subs) return 0;
    let queued = 0;
    for (const sub of subs.values()) {
      if (sub.expiresAt <= now || (handler !== undefined && sub.handler !== handler)) continue;
      const record = this.#byId.get(e.id)!;
      const existing = record.deliveries.find((d) => d.handler === sub.handler);
      if (!existing) {
        this.#createDelivery(record, sub.handler, sub.ordering, now, true, replayId);
        queued++;
      } else if (existing.status === 'dead') {
        this.#dead.delete(existing);
        this.#requeue(existing, now, true, replayId);
        queued++;
      }
    }
    return queued;
  }

  async getReplay(replayId: string): Promise<ReplayProgress | undefined> {
    this.#open();
    const job = this.#replays.get(replayId);
    if (!job) return undefined;
    let open = 0;
    let dead = 0;
    for (const d of this.#replayDeliveries.get(replayId) ?? []) {
      if (d.status === 'dead') dead++;
      else if (d.status !== 'done') open++;
    }
    return {
      ...publicJob(job),
      deliveriesOpen: open,
      deliveriesDead: dead,
      done: job.status === 'done' && open === 0,
    };
  }

  async listStaleReplays(options: { staleBefore: Date }): Promise<ReplayJob[]> {
    this.#open();
    return [...this.#replays.values()]
      .filter((j) => j.status === 'running' && j.updatedAt < options.staleBefore)
      .map(publicJob);
  }

  // ------------------------------------------------------------------------------------------
  // Status
  // ------------------------------------------------------------------------------------------

  async stats(options: { now: Date }): Promise<StoreStats> {
    this.#open();
    const now = options.now.getTime();
    const live = new Set<string>();
    for (const byHandler of this.#subscriptions.values()) {
      for (const s of byHandler.values()) if (s.expiresAt > now) live.add(s.handler);
    }
    const oldestByHandler = new Map<string, number>();
    for (const record of this.#unprocessed()) {
      for (const d of record.deliveries) {
        if (d.status !== 'pending' && d.status !== 'running') continue;
        if (!(d.createdAt >= (oldestByHandler.get(d.handler) ?? Number.POSITIVE_INFINITY))) {
          oldestByHandler.set(d.handler, d.createdAt);
        }
      }
    }
    return summarizeStats({
      lastPosition: this.#lastSeq === 0 ? null : String(this.#lastSeq),
      unprocessedEvents: this.#openCount,
      backlog: [...this.#counters].map(([handler, c]) => {
        const oldest = oldestByHandler.get(handler);
        return { handler, ...c, oldestPendingAt: oldest === undefined ? null : new Date(oldest) };
      }),
      live,
    });
  }

  // ------------------------------------------------------------------------------------------
  // Retention
  // ------------------------------------------------------------------------------------------

  async pruneEvents(request: PruneRequest): Promise<PruneBatch> {
    this.#open();
    const batch = this.#pruning.then(() => this.#pruneBatch(request));
    this.#pruning = batch.catch(() => undefined);
    return batch;
  }

  async #pruneBatch(request: PruneRequest): Promise<PruneBatch> {
    this.#open();
    const candidates = this.#pruneCandidates(request);
    const page = candidates.slice(0, request.limit);
    if (page.length > 0 && request.archive) await request.archive(page);
    this.#open();
    // Checked again: nothing can have changed but a replay, and replays wait for this batch.
    const removed = page.filter((e) => this.#prunable(e));
    this.#remove(removed, request);
    const last = page[page.length - 1];
    return {
      removed: removed.length,
      next:
        candidates.length > request.limit && last
          ? { occurredAt: last.occurredAt, position: last.position }
          : null,
    };
  }

  /** Eligible events, oldest first, one more than the limit (to tell whether more are left). */
  #pruneCandidates(request: PruneRequest): RecordedEvent[] {
    const before = request.before.getTime();
    const only = request.eventTypes ? new Set(request.eventTypes) : undefined;
    const except = new Set(request.excludeEventTypes ?? []);
    const after = request.after;
    const afterAt = after?.occurredAt.getTime();
    const afterSeq = after === undefined ? 0 : Number(parsePosition(after.position, 'after.position'));
    const out: RecordedEvent[] = [];
    for (const e of this.#events) {
      const t = e.occurredAt.getTime();
      if (t >= before || (only && !only.has(e.eventType)) || except.has(e.eventType)) continue;
      if (afterAt !== undefined && (t < afterAt || (t === afterAt && seqOf(e) <= afterSeq))) continue;
      if (this.#prunable(e)) out.push(e);
    }
    out.sort((a, b) => a.occurredAt.getTime() - b.occurredAt.getTime() || seqOf(a) - seqOf(b));
    return out.slice(0, request.limit + 1);
  }

  /** No delivery left (done ones are forgotten) and in no running replay's range. */
  #prunable(e: RecordedEvent): boolean {
    const record = this.#byId.get(e.id);
    if (!record || record.deliveries.length > 0) return false;
    const t = e.occurredAt.getTime();
    for (const job of this.#replays.values()) {
      if (job.status !== 'running' || (job.eventType !== undefined && job.eventType !== e.eventType))
        continue;
      if (t >= job.from.getTime() && t < job.to.getTime()) return false;
    }
    return true;
  }

  #remove(events: readonly RecordedEvent[], request: PruneRequest): void {
    if (events.length === 0) return;
    const gone = new Set(events);
    const keep = (e: RecordedEvent) => !gone.has(e);
    const prune = (map: Map<string, RecordedEvent[]>, key: string | undefined) => {
      if (key === undefined) return;
      const list = map.get(key)?.filter(keep);
      if (list === undefined) return;
      if (list.length === 0) map.delete(key);
      else map.set(key, list);
    };
    const types = new Map<string, number>();
    for (const e of events) {
      this.#byId.delete(e.id);
      types.set(e.eventType, (types.get(e.eventType) ?? 0) + 1);
      // The id and the aggregate version of a removed event are free again, as in the SQL stores.
      if (e.aggregateVersion !== undefined) this.#versions.get(e.aggregateId)?.delete(e.aggregateVersion);
    }
    this.#events = this.#events.filter(keep);
    for (const type of types.keys()) prune(this.#byType, type);
    for (const aggregateId of new Set(events.map((e) => e.aggregateId)))
      prune(this.#byAggregate, aggregateId);
    for (const e of events) {
      prune(this.#byCausation, e.metadata.causationId);
      prune(this.#byCorrelation, e.metadata.correlationId);
    }
    for (const [eventType, n] of types) recordPruned(this.#pruned, eventType, n, request);
  }

  async getPrunedRanges(): Promise<PrunedRange[]> {
    this.#open();
    return [...this.#pruned.values()]
      .map((r) => ({ ...r }))
      .sort((a, b) => a.eventType.localeCompare(b.eventType));
  }

  async acquireLease(request: LeaseRequest): Promise<boolean> {
    this.#open();
    const now = request.now.getTime();
    const lease = this.#leases.get(request.name);
    if (lease && lease.holder !== request.holder && lease.expiresAt > now) return false;
    this.#leases.set(request.name, { holder: request.holder, expiresAt: now + request.ttlMs });
    return true;
  }

  async releaseLease(request: { name: string; holder: string }): Promise<void> {
    this.#open();
    if (this.#leases.get(request.name)?.holder === request.holder) this.#leases.delete(request.name);
  }

  async healthCheck(): Promise<HealthStatus> {
    return {
      healthy: !this.#closed,
      latencyMs: 0,
      details: { store: 'memory', events: this.#events.length, closed: this.#closed },
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}

/** The cutoff only moves forward; counts add up. */
function recordPruned(
  pruned: Map<string, PrunedRange>,
  eventType: string,
  removed: number,
  request: PruneRequest,
): void {
  const prev = pruned.get(eventType);
  pruned.set(eventType, {
    eventType,
    before: prev && prev.before > request.before ? prev.before : request.before,
    removed: (prev?.removed ?? 0) + removed,
    lastPrunedAt: request.now,
  });
}

function getOrCreate<K, V>(map: Map<K, V>, key: K, create: () => V): V {
  let value = map.get(key);
  if (value === undefined) {
    value = create();
    map.set(key, value);
  }
  return value;
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

function byPosition(a: RecordedEvent, b: RecordedEvent): number {
  return seqOf(a) - seqOf(b);
}

/**
 * Positions here are array indexes + 1, far below 2^53: compared as numbers. The public
 * position is the same integer as a decimal string.
 */
function seqOf(e: RecordedEvent): number {
  return +e.position;
}

/**
 * A caller's cursor as a number. Validated first (typed error, nothing read); a cursor beyond
 * 2^53 only needs to compare above every position here, which its rounded value still does.
 */
function cursorOf(cursor: string | undefined, field: string): number | undefined {
  return cursor === undefined ? undefined : Number(parsePosition(cursor, field, { source: SOURCE }));
}

/** Positions here are array indexes + 1, far below 2^53: a number compares faster than a bigint. */
function deliveryPosition(d: Delivery): number {
  return d.seq;
}

/** Index of the first event with position > p (lists are position-sorted). */
function firstAbove(list: readonly RecordedEvent[], p: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (seqOf(list[mid]!) <= p) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Index of the last event with position < p, or -1. */
function lastBelow(list: readonly RecordedEvent[], p: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (seqOf(list[mid]!) < p) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

function matcher(q: EventQuery): (e: RecordedEvent) => boolean {
  const types =
    q.eventType === undefined
      ? undefined
      : new Set(typeof q.eventType === 'string' ? [q.eventType] : q.eventType);
  const from = q.from?.getTime();
  const to = q.to?.getTime();
  return (e) =>
    (types === undefined || types.has(e.eventType)) &&
    (q.aggregateId === undefined || e.aggregateId === q.aggregateId) &&
    (q.aggregateType === undefined || e.aggregateType === q.aggregateType) &&
    (q.correlationId === undefined || e.metadata.correlationId === q.correlationId) &&
    (q.causationId === undefined || e.metadata.causationId === q.causationId) &&
    (from === undefined || e.occurredAt.getTime() >= from) &&
    (to === undefined || e.occurredAt.getTime() < to);
}

function info(d: Delivery): DeliveryInfo {
  return {
    deliveryId: d.id,
    handler: d.handler,
    status: d.status,
    attempts: d.attempts,
    nextAttemptAt: d.status === 'pending' ? new Date(d.nextAttemptAt) : null,
    lastError: d.lastError,
    isReplay: d.isReplay,
    updatedAt: new Date(d.updatedAt),
  };
}

function publicJob(job: ReplayJob & { untilPosition?: number | undefined }): ReplayJob {
  const { untilPosition: _ignored, ...rest } = job;
  return { ...rest };
}
