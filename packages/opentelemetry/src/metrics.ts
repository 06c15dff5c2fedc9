import type {
  DeliveryOutcome,
  DeliveryStart,
  InstrumentedCoordinator,
  RecordedEvent,
  StoreStats,
} from '@evco/core';
import type {
  Attributes,
  BatchObservableCallback,
  Histogram,
  Meter,
  ObservableGauge,
} from '@opentelemetry/api';
import { ATTR, METRIC } from './names.js';
import { PairCache } from './pair-cache.js';

/** One (event type, handler) pair: its attribute sets and what it counted so far. */
interface Pair {
  eventType: string;
  handler: string;
  base: Attributes;
  /** With the attempt's outcome, for the duration histogram. */
  handledOutcome: Attributes;
  retryOutcome: Attributes;
  deadOutcome: Attributes;
  handled: number;
  failed: number;
  retried: number;
  timedOut: number;
  deadLettered: number;
}

/** An event type's attribute set and how many events of it this process stored. */
interface TypeCount {
  eventType: string;
  attributes: Attributes;
  published: number;
}

/** Seconds; from sub-millisecond handlers to minutes of backlog. */
const DURATION_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300,
];

/**
 * Counters and histograms kept on the publish and delivery paths, and observable gauges read
 * from the store. Attribute sets are cached per (event type, handler), so recording allocates
 * nothing once a pair has been seen.
 *
 * The counters are observable counters over plain tallies: counting an attempt is an increment
 * of a number, and the SDK reads the totals when it collects. (A synchronous `Counter.add`
 * hashes its attribute set on every call; on an in-memory store that was a tenth of the cost of
 * an event.) They export exactly as counters do: monotonic cumulative sums.
 */
export class EvcoMetrics {
  #replayedTotal = 0;
  readonly #duration: Histogram;
  readonly #latency: Histogram;
  readonly #gauges: ObservableGauge[];
  readonly #meter: Meter;
  readonly #statsIntervalMs: number;
  readonly #now: () => number;
  readonly #byType = new Map<string, TypeCount>();
  readonly #byPair = new PairCache<Pair>((eventType, handler) => this.#newPair(eventType, handler));
  readonly #pairs: Pair[] = [];
  /** The last pair and type looked up: consecutive attempts and events are mostly of the same. */
  #lastPair: Pair | undefined;
  #lastType: TypeCount | undefined;
  #coordinator: InstrumentedCoordinator | undefined;
  #stats: { at: number; value: Promise<StoreStats | undefined> } | undefined;
  #observe: BatchObservableCallback | undefined;

  constructor(meter: Meter, options: { statsIntervalMs: number; now?: (() => number) | undefined }) {
    this.#meter = meter;
    this.#statsIntervalMs = options.statsIntervalMs;
    this.#now = options.now ?? Date.now;
    const counter = (name: string, description: string, unit = '{delivery}') =>
      meter.createObservableCounter(name, { description, unit });
    const counters = {
      published: counter(METRIC.PUBLISHED, 'Events stored by this process, by event type.', '{event}'),
      handled: counter(METRIC.HANDLED, 'Handler attempts that succeeded.'),
      failed: counter(METRIC.FAILED, 'Handler attempts that failed (each retry and each dead letter).'),
      retried: counter(METRIC.RETRIED, 'Failed attempts with another attempt scheduled.'),
      timedOut: counter(METRIC.TIMED_OUT, 'Attempts that failed by exceeding the handler timeout.'),
      deadLettered: counter(METRIC.DEAD_LETTERED, 'Deliveries that failed for the last time.'),
      replayed: counter(METRIC.REPLAYED, 'Deliveries queued again by replays this process drove.'),
    };
    // For the meter's lifetime: totals stay readable after the coordinator stops.
    meter.addBatchObservableCallback((result) => {
      for (const t of this.#byType.values()) result.observe(counters.published, t.published, t.attributes);
      for (const p of this.#pairs) {
        result.observe(counters.handled, p.handled, p.base);
        result.observe(counters.failed, p.failed, p.base);
        result.observe(counters.retried, p.retried, p.base);
        result.observe(counters.timedOut, p.timedOut, p.base);
        result.observe(counters.deadLettered, p.deadLettered, p.base);
      }
      result.observe(counters.replayed, this.#replayedTotal);
    }, Object.values(counters));
    this.#duration = meter.createHistogram(METRIC.HANDLER_DURATION, {
      description: 'Duration of handler attempts, by outcome.',
      unit: 's',
      advice: { explicitBucketBoundaries: DURATION_BUCKETS },
    });
    this.#latency = meter.createHistogram(METRIC.END_TO_END_LATENCY, {
      description: 'From the event being recorded to a handler finishing it (replays excluded).',
      unit: 's',
      advice: { explicitBucketBoundaries: DURATION_BUCKETS },
    });
    const gauge = (name: string, description: string, unit: string) =>
      meter.createObservableGauge(name, { description, unit });
    this.#gauges = [
      gauge(
        METRIC.PENDING,
        'Deliveries waiting to run, per handler (whole fleet, from the store).',
        '{delivery}',
      ),
      gauge(METRIC.RUNNING, 'Deliveries leased by a process, per handler (whole fleet).', '{delivery}'),
      gauge(METRIC.DEAD, 'Dead letters, per handler (whole fleet).', '{delivery}'),
      gauge(METRIC.LAG, 'Age of the oldest delivery not done, per handler (whole fleet).', 's'),
    ];
  }

  published(events: readonly RecordedEvent[]): void {
    for (const e of events) this.#typeCount(e.eventType).published++;
  }

  delivered(start: DeliveryStart, outcome: DeliveryOutcome): void {
    const pair = this.#pair(start.event.eventType, start.handler);
    const seconds = outcome.durationMs / 1000;
    switch (outcome.status) {
      case 'handled':
        pair.handled++;
        this.#duration.record(seconds, pair.handledOutcome);
        if (!start.isReplay) {
          this.#latency.record(Math.max(0, this.#now() - start.event.recordedAt.getTime()) / 1000, pair.base);
        }
        return;
      case 'retry':
      case 'dead':
        pair.failed++;
        if (outcome.timedOut) pair.timedOut++;
        if (outcome.status === 'retry') pair.retried++;
        else pair.deadLettered++;
        this.#duration.record(seconds, outcome.status === 'retry' ? pair.retryOutcome : pair.deadOutcome);
        return;
      case 'released':
        return;
    }
  }

  replayed(deliveries: number): void {
    if (deliveries > 0) this.#replayedTotal += deliveries;
  }

  /** Starts observing the coordinator's store for the gauges. */
  attach(coordinator: InstrumentedCoordinator): void {
    this.detach();
    this.#coordinator = coordinator;
    this.#observe = async (result) => {
      const stats = await this.#cachedStats();
      if (!stats) return;
      const now = this.#now();
      const [pending, running, dead, lag] = this.#gauges as [
        ObservableGauge,
        ObservableGauge,
        ObservableGauge,
        ObservableGauge,
      ];
      for (const h of stats.handlers) {
        const attributes = { [ATTR.MESSAGING_CONSUMER_GROUP_NAME]: h.handler };
        result.observe(pending, h.pending, attributes);
        result.observe(running, h.running, attributes);
        result.observe(dead, h.dead, attributes);
        const oldest = h.oldestPendingAt;
        result.observe(lag, oldest ? Math.max(0, now - oldest.getTime()) / 1000 : 0, attributes);
      }
    };
    this.#meter.addBatchObservableCallback(this.#observe, this.#gauges);
  }

  detach(): void {
    if (this.#observe) this.#meter.removeBatchObservableCallback(this.#observe, this.#gauges);
    this.#observe = undefined;
    this.#coordinator = undefined;
    this.#stats = undefined;
  }

  /**
   * The store's stats, read at most once per `statsIntervalMs` however many gauges, readers or
   * scrapes ask: a scrape must never turn into a store query per metric.
   */
  #cachedStats(): Promise<StoreStats | undefined> {
    const coordinator = this.#coordinator;
    if (!coordinator) return Promise.resolve(undefined);
    const now = this.#now();
    if (this.#stats && now - this.#stats.at < this.#statsIntervalMs) return this.#stats.value;
    // A failed read reports nothing this time (a gap in the series), rather than stale zeros.
    const value = coordinator.stats().catch(() => undefined);
    this.#stats = { at: now, value };
    return value;
  }

  #typeCount(eventType: string): TypeCount {
    const last = this.#lastType;
    if (last?.eventType === eventType) return last;
    let t = this.#byType.get(eventType);
    if (!t) {
      t = { eventType, attributes: { [ATTR.MESSAGING_DESTINATION_NAME]: eventType }, published: 0 };
      this.#byType.set(eventType, t);
    }
    this.#lastType = t;
    return t;
  }

  #pair(eventType: string, handler: string): Pair {
    const last = this.#lastPair;
    if (last?.eventType === eventType && last.handler === handler) return last;
    const pair = this.#byPair.get(eventType, handler);
    this.#lastPair = pair;
    return pair;
  }

  #newPair(eventType: string, handler: string): Pair {
    const base = {
      [ATTR.MESSAGING_DESTINATION_NAME]: eventType,
      [ATTR.MESSAGING_CONSUMER_GROUP_NAME]: handler,
    };
    const pair: Pair = {
      eventType,
      handler,
      base,
      handledOutcome: { ...base, [ATTR.OUTCOME]: 'handled' },
      retryOutcome: { ...base, [ATTR.OUTCOME]: 'retry' },
      deadOutcome: { ...base, [ATTR.OUTCOME]: 'dead' },
      handled: 0,
      failed: 0,
      retried: 0,
      timedOut: 0,
      deadLettered: 0,
    };
    this.#pairs.push(pair);
    return pair;
  }
}
