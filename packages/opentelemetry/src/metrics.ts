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
  Counter,
  Histogram,
  Meter,
  ObservableGauge,
} from '@opentelemetry/api';
import { ATTR, METRIC } from './names.js';

interface PairAttributes {
  base: Attributes;
  /** With the attempt's outcome, for the duration histogram. */
  handled: Attributes;
  retry: Attributes;
  dead: Attributes;
}

/** Seconds; from sub-millisecond handlers to minutes of backlog. */
const DURATION_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300,
];

/**
 * Counters and histograms recorded on the publish and delivery paths, and observable gauges read
 * from the store. Attribute sets are cached per (event type, handler), so recording allocates
 * nothing once a pair has been seen.
 */
export class EvcoMetrics {
  readonly #published: Counter;
  readonly #handled: Counter;
  readonly #failed: Counter;
  readonly #retried: Counter;
  readonly #timedOut: Counter;
  readonly #deadLettered: Counter;
  readonly #replayed: Counter;
  readonly #duration: Histogram;
  readonly #latency: Histogram;
  readonly #gauges: ObservableGauge[];
  readonly #meter: Meter;
  readonly #statsIntervalMs: number;
  readonly #now: () => number;
  readonly #byType = new Map<string, Attributes>();
  readonly #byPair = new Map<string, Map<string, PairAttributes>>();
  #coordinator: InstrumentedCoordinator | undefined;
  #stats: { at: number; value: Promise<StoreStats | undefined> } | undefined;
  #observe: BatchObservableCallback | undefined;

  constructor(meter: Meter, options: { statsIntervalMs: number; now?: () => number }) {
    this.#meter = meter;
    this.#statsIntervalMs = options.statsIntervalMs;
    this.#now = options.now ?? Date.now;
    const counter = (name: string, description: string) =>
      meter.createCounter(name, { description, unit: '{delivery}' });
    this.#published = meter.createCounter(METRIC.PUBLISHED, {
      description: 'Events stored by this process, by event type.',
      unit: '{event}',
    });
    this.#handled = counter(METRIC.HANDLED, 'Handler attempts that succeeded.');
    this.#failed = counter(METRIC.FAILED, 'Handler attempts that failed (each retry and each dead letter).');
    this.#retried = counter(METRIC.RETRIED, 'Failed attempts with another attempt scheduled.');
    this.#timedOut = counter(METRIC.TIMED_OUT, 'Attempts that failed by exceeding the handler timeout.');
    this.#deadLettered = counter(METRIC.DEAD_LETTERED, 'Deliveries that failed for the last time.');
    this.#replayed = meter.createCounter(METRIC.REPLAYED, {
      description: 'Deliveries queued again by replays this process drove.',
      unit: '{delivery}',
    });
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
    for (const e of events) this.#published.add(1, this.#typeAttributes(e.eventType));
  }

  delivered(start: DeliveryStart, outcome: DeliveryOutcome): void {
    const pair = this.#pairAttributes(start.event.eventType, start.handler);
    const attributes = pair.base;
    const seconds = outcome.durationMs / 1000;
    switch (outcome.status) {
      case 'handled':
        this.#handled.add(1, attributes);
        this.#duration.record(seconds, pair.handled);
        if (!start.isReplay) {
          this.#latency.record(
            Math.max(0, this.#now() - start.event.recordedAt.getTime()) / 1000,
            attributes,
          );
        }
        return;
      case 'retry':
      case 'dead':
        this.#failed.add(1, attributes);
        if (outcome.timedOut) this.#timedOut.add(1, attributes);
        if (outcome.status === 'retry') this.#retried.add(1, attributes);
        else this.#deadLettered.add(1, attributes);
        this.#duration.record(seconds, outcome.status === 'retry' ? pair.retry : pair.dead);
        return;
      case 'released':
        return;
    }
  }

  replayed(deliveries: number): void {
    if (deliveries > 0) this.#replayed.add(deliveries);
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

  #typeAttributes(eventType: string): Attributes {
    let a = this.#byType.get(eventType);
    if (!a) {
      a = { [ATTR.MESSAGING_DESTINATION_NAME]: eventType };
      this.#byType.set(eventType, a);
    }
    return a;
  }

  #pairAttributes(eventType: string, handler: string): PairAttributes {
    let byHandler = this.#byPair.get(eventType);
    if (!byHandler) {
      byHandler = new Map();
      this.#byPair.set(eventType, byHandler);
    }
    let a = byHandler.get(handler);
    if (!a) {
      const base = {
        [ATTR.MESSAGING_DESTINATION_NAME]: eventType,
        [ATTR.MESSAGING_CONSUMER_GROUP_NAME]: handler,
      };
      a = {
        base,
        handled: { ...base, [ATTR.OUTCOME]: 'handled' },
        retry: { ...base, [ATTR.OUTCOME]: 'retry' },
        dead: { ...base, [ATTR.OUTCOME]: 'dead' },
      };
      byHandler.set(handler, a);
    }
    return a;
  }
}
