import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type Announcement,
  type AnnouncementListener,
  createConsoleLogger,
  type EventPublisher,
  type HealthStatus,
  type Logger,
  maskedMessage,
  PublisherUnavailableError,
  parseOptions,
  type SubscriberHooks,
} from '@evco/core/adapter';
import calculateSlot from 'cluster-key-slot';
import type { Cluster } from 'ioredis';
import { reconnectDelay } from './backoff.js';
import { type Connection, type Connections, openConnections } from './connections.js';
import { routeDriverConsole } from './driver-console.js';
import {
  type RedisPublisherOptions,
  type ResolvedRedisPublisherOptions,
  redisPublisherOptionsSchema,
} from './options.js';
import { decodeAnnouncement, encodeAnnouncement } from './wire-format.js';

const SOURCE = 'publisher-redis';

export interface RedisPublisher extends EventPublisher {
  readonly name: 'redis';
  /** The channel announcements travel on: `<channelPrefix>:events`. */
  readonly channel: string;
  /** Number of live local subscriptions. */
  readonly subscriberCount: number;
  /**
   * Resolves once the publishing connection is ready and the subscription is active (useful at
   * startup and in tests); rejects with `PublisherUnavailableError` after `timeoutMs`.
   */
  waitUntilReady(options?: { timeoutMs?: number | undefined }): Promise<void>;
}

/**
 * An `EventPublisher` on Redis Pub/Sub (ioredis). Bad options throw `InvalidOptionsError`
 * listing every problem, before any connection is made.
 *
 * ```ts
 * const publisher = createRedisPublisher({ url: process.env.REDIS_URL });
 * const coordinator = await createCoordinator({ store, publisher });
 * ```
 */
export function createRedisPublisher(options: RedisPublisherOptions): RedisPublisher {
  return new RedisPublisherImpl(
    parseOptions(redisPublisherOptionsSchema, options, 'Redis publisher options', SOURCE),
  );
}

interface Subscriber {
  listener: AnnouncementListener;
  hooks: SubscriberHooks | undefined;
}

interface Flight {
  batch: PendingPublish[];
  deadline: number;
  done: boolean;
}

interface PendingPublish {
  chunks: string[];
  resolve: () => void;
  reject: (error: Error) => void;
  /** Only for publishes waiting for the first connection. */
  deadline: number;
  done: boolean;
}

class RedisPublisherImpl implements RedisPublisher {
  readonly name = 'redis' as const;
  readonly capabilities = { crossProcess: true };
  readonly channel: string;

  readonly #o: ResolvedRedisPublisherOptions;
  readonly #log: Logger;
  readonly #url: string;
  readonly #healthChannel: string;
  readonly #pub: Connection;
  readonly #sub: Connection;
  readonly #ownsPub: boolean;
  /** Sharded Pub/Sub on a Cluster: SPUBLISH, SSUBSCRIBE, 'smessage'. */
  readonly #sharded: boolean;

  #subscribers: Subscriber[] = [];
  #closed = false;
  #closing: Promise<void> | undefined;

  #pubEverReady = false;
  #pubConnectFailed = false;
  #pubWarned = false;
  #subscribed = false;
  #everSubscribed = false;
  #subConnectFailed = false;
  #subWarned = false;
  /**
   * A subscriber error was logged at warn and the subscription has not been seen working since.
   * On a Cluster the errors of one shard's subscriber connection (a node down) reach the
   * Cluster's 'error' without it ever closing, so #subWarned alone would warn on every retry.
   */
  #subErrorWarned = false;
  /**
   * Sharded Pub/Sub: the node serving the channels' slot when the subscription was last seen
   * working, and whether that node's subscriber connection ended since (a crash). A failover or
   * a reshard moves the slot and Redis drops the subscription while the Cluster stays 'ready';
   * ioredis subscribes again on the new owner after a slot map refresh, without a 'ready' of its
   * own (see #subscribersReset).
   */
  #slotOwner: string | undefined;
  #slotOwnerLost = false;
  /**
   * A sharded subscription being re-established after a slot map change: the node now serving
   * the channels' slot and the last probe sent before the change. Any probe sent after it that
   * comes back (the reset's own or a health check's) proves the subscription back.
   */
  #reset: { owner: string; afterProbe: number } | undefined;
  /**
   * The last error of each connection since it was last ready (masked): a health check that
   * finds a connection down says why (WRONGPASS, ECONNREFUSED…), not only that it reconnects.
   */
  readonly #lastError: { publishing?: string | undefined; subscribing?: string | undefined } = {};
  /** Settles once each connection has either come up or failed once. */
  readonly #startup: Promise<void>;
  #startupDone: () => void = () => {};

  /** Publishes made in the tick of an earlier one: they leave together in one pipeline. */
  #outgoing: PendingPublish[] = [];
  #flushScheduled = false;
  /** Sent and awaiting Redis's reply, oldest first. */
  readonly #inFlight: Flight[] = [];
  #watchdog: NodeJS.Timeout | undefined;
  /** Publishes made before the first connection: sent in order once it is up, or timed out. */
  #waiting: PendingPublish[] = [];
  #waitTimer: NodeJS.Timeout | undefined;

  #probeSeq = 0;
  readonly #probes = new Map<string, () => void>();
  readonly #readyWaiters = new Set<() => void>();

  readonly #counts = {
    announcements: 0,
    messages: 0,
    failures: 0,
    received: 0,
    malformed: 0,
    listenerErrors: 0,
    reconnects: 0,
  };
  #lastMalformed: string | undefined;

  readonly #pubListeners: Array<[string, () => void]> = [];
  /** Gives ioredis's console lines back to the console (see `routeDriverConsole`). */
  readonly #releaseConsole: () => void;

  constructor(options: ResolvedRedisPublisherOptions) {
    const o = options;
    this.#o = o;
    this.#startup = new Promise((resolve) => {
      this.#startupDone = resolve;
    });
    const base = o.logger ?? createConsoleLogger();
    this.#log = base.child?.({ component: SOURCE }) ?? base;
    this.channel = `${o.channelPrefix}:events`;
    const retryStrategy = (attempt: number) =>
      reconnectDelay(attempt, o.reconnectBaseDelayMs, o.reconnectMaxDelayMs);
    // ioredis's own console lines (a password the server does not need, a failing connection of
    // its own without an error listener) go to this logger while the publisher is open.
    this.#releaseConsole = routeDriverConsole(this.#log);
    let connections: Connections;
    try {
      connections = openConnections(o, retryStrategy);
    } catch (error) {
      this.#releaseConsole();
      throw error;
    }
    this.#pub = connections.pub;
    this.#sub = connections.sub;
    this.#ownsPub = connections.ownsPub;
    this.#url = connections.where;
    this.#sharded = connections.sharded;
    this.#pubEverReady = !this.#ownsPub && this.#pub.status === 'ready';
    // Private to this instance, so a health probe proves this very subscription works. On a
    // Cluster it carries the events channel as its hash tag: same slot, same shard, so one
    // SSUBSCRIBE covers both and the probe travels the way announcements do.
    const tag = this.#sharded ? `:{${this.channel}}` : '';
    this.#healthChannel = `${o.channelPrefix}:health:${randomBytes(8).toString('hex')}${tag}`;

    this.#onPub('ready', () => this.#pubReady());
    this.#onPub('close', () => this.#pubClosed());
    if (this.#ownsPub) {
      this.#pub.on('error', (error: Error) => this.#connectionError('publishing', error, this.#pubWarned));
    }
    this.#sub.on('ready', () => this.#subReady());
    this.#sub.on('close', () => this.#subClosed());
    this.#sub.on('error', (error: Error) => {
      this.#connectionError('subscribing', error, this.#subWarned || this.#subErrorWarned);
      this.#subErrorWarned = true;
    });
    this.#sub.on(this.#sharded ? 'smessage' : 'message', (channel: string, message: string) =>
      this.#onMessage(channel, message),
    );
    if (this.#sharded) {
      // '-node': a shard subscriber's connection ended; 'subscribersReady': ioredis rebuilt its
      // shard subscribers after the slot map changed and sent them their SSUBSCRIBEs.
      this.#sub.on('-node', (_node: unknown, key: string) => {
        if (key === this.#slotOwner) this.#slotOwnerLost = true;
      });
      this.#sub.on('subscribersReady', () => this.#subscribersReset());
    }

    if (this.#ownsPub || this.#pub.status === 'wait') this.#pub.connect().catch(() => {});
    this.#sub.connect().catch(() => {});
  }

  get subscriberCount(): number {
    return this.#subscribers.length;
  }

  // ------------------------------------------------------------------------------------------
  // Publishing
  // ------------------------------------------------------------------------------------------

  publish(announcement: Announcement): Promise<void> {
    if (this.#closed) return Promise.reject(this.#unavailable('cannot publish: the publisher is closed'));
    let chunks: string[];
    try {
      chunks = encodeAnnouncement(announcement, this.#o.maxMessageBytes);
    } catch (error) {
      return Promise.reject(error);
    }
    if (chunks.length === 0) return Promise.resolve();
    const status = this.#pub.status;
    // `status` turns 'ready' a tick before the 'ready' event flushes the waiting publishes, so
    // anything arriving in between queues behind them to keep publish order.
    if (this.#waiting.length > 0 || (!this.#pubEverReady && !this.#pubConnectFailed && status !== 'ready')) {
      return this.#waitForFirstConnection(chunks);
    }
    if (status !== 'ready') {
      this.#counts.failures++;
      return Promise.reject(
        this.#unavailable(
          `cannot publish: Redis at ${this.#url} is unreachable (connection ${status}); ` +
            'the events are stored and the recovery poller will deliver them',
        ),
      );
    }
    return new Promise<void>((resolve, reject) => {
      const p: PendingPublish = { chunks, resolve, reject, deadline: 0, done: false };
      if (this.#flushScheduled) {
        this.#outgoing.push(p);
        return;
      }
      // Nothing is queued ahead of it, so it leaves at once (at steady load, every publish is
      // such a lone one and pays no extra tick). Publishes that follow within the same tick queue
      // behind it and leave together in one pipeline; ioredis writes in call order, so the order
      // of announcements is the order of publish() calls.
      this.#flushScheduled = true;
      queueMicrotask(() => this.#flush());
      this.#send([p]);
    });
  }

  #flush(): void {
    this.#flushScheduled = false;
    const batch = this.#outgoing;
    if (batch.length === 0) return;
    this.#outgoing = [];
    this.#send(batch);
  }

  #send(batch: PendingPublish[]): void {
    if (this.#pub.status !== 'ready') {
      const error = this.#unavailable(
        `cannot publish: Redis at ${this.#url} is unreachable (connection ${this.#pub.status})`,
      );
      for (const p of batch) this.#settle(p, error);
      return;
    }
    const flight: Flight = { batch, deadline: Date.now() + this.#o.publishTimeoutMs, done: false };
    this.#inFlight.push(flight);
    this.#armWatchdog();

    let sent: Promise<Array<[Error | null, unknown]> | null>;
    if (batch.length === 1 && batch[0]!.chunks.length === 1) {
      // A plain PUBLISH skips the pipeline's overhead for the common single small announcement.
      const one = batch[0]!.chunks[0]!;
      sent = (
        this.#sharded ? this.#pub.spublish(this.channel, one) : this.#pub.publish(this.channel, one)
      ).then(
        (n) => [[null, n]],
        (error: Error) => [[error, null]],
      );
    } else {
      const pipeline = this.#pub.pipeline();
      for (const p of batch) {
        for (const chunk of p.chunks) {
          if (this.#sharded) pipeline.spublish(this.channel, chunk);
          else pipeline.publish(this.channel, chunk);
        }
      }
      sent = pipeline.exec();
    }
    sent.then(
      (results) => {
        let i = 0;
        for (const p of batch) {
          let error: Error | null = null;
          for (let c = 0; c < p.chunks.length; c++) {
            const reply = results?.[i++];
            error ??= reply === undefined ? new Error('no reply') : reply[0];
          }
          this.#settle(p, error ? this.#publishFailed(error) : undefined);
        }
        this.#landed(flight);
      },
      (error: unknown) => {
        const failure = this.#publishFailed(error);
        for (const p of batch) this.#settle(p, failure);
        this.#landed(flight);
      },
    );
  }

  #landed(flight: Flight): void {
    flight.done = true;
    // Replies come back in send order on one connection, so finished flights gather at the head.
    while (this.#inFlight[0]?.done) this.#inFlight.shift();
  }

  /**
   * Belt and braces for a connection that looks alive but answers nothing (a network partition
   * keeps the socket open): publishes in flight are released after publishTimeoutMs. One timer
   * for all of them, not one per publish.
   */
  #armWatchdog(): void {
    if (this.#watchdog || this.#inFlight.length === 0) return;
    const delay = Math.max(1, this.#inFlight[0]!.deadline - Date.now());
    this.#watchdog = setTimeout(() => {
      this.#watchdog = undefined;
      const now = Date.now();
      while (this.#inFlight.length > 0) {
        const head = this.#inFlight[0]!;
        if (!head.done && head.deadline > now) break;
        if (!head.done) {
          const error = this.#unavailable(
            `publishing to Redis at ${this.#url} got no reply within ${this.#o.publishTimeoutMs} ms`,
          );
          for (const p of head.batch) this.#settle(p, error);
          head.done = true;
        }
        this.#inFlight.shift();
      }
      this.#armWatchdog();
    }, delay);
    this.#watchdog.unref?.();
  }

  #settle(p: PendingPublish, error: Error | undefined): void {
    if (p.done) return;
    p.done = true;
    if (error) {
      this.#counts.failures++;
      p.reject(error);
    } else {
      this.#counts.announcements++;
      this.#counts.messages += p.chunks.length;
      p.resolve();
    }
  }

  #publishFailed(error: unknown): PublisherUnavailableError {
    if (error instanceof PublisherUnavailableError) return error;
    const reason = maskedMessage(error);
    return this.#unavailable(`publishing to Redis at ${this.#url} failed: ${reason}`, error);
  }

  #waitForFirstConnection(chunks: string[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#waiting.push({
        chunks,
        resolve,
        reject,
        deadline: Date.now() + this.#o.publishTimeoutMs,
        done: false,
      });
      this.#armWaitTimer();
    });
  }

  #armWaitTimer(): void {
    if (this.#waitTimer || this.#waiting.length === 0) return;
    // Every waiting publish has the same timeout, so the first one expires first.
    const delay = Math.max(0, this.#waiting[0]!.deadline - Date.now());
    this.#waitTimer = setTimeout(() => {
      this.#waitTimer = undefined;
      const now = Date.now();
      const error = this.#unavailable(
        `cannot publish: no connection to Redis at ${this.#url} within ${this.#o.publishTimeoutMs} ms`,
      );
      for (const p of this.#waiting) if (p.deadline <= now) this.#settle(p, error);
      this.#waiting = this.#waiting.filter((p) => !p.done);
      this.#armWaitTimer();
    }, delay);
    this.#waitTimer.unref?.();
  }

  #releaseWaiting(error?: Error): void {
    if (this.#waitTimer) clearTimeout(this.#waitTimer);
    this.#waitTimer = undefined;
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const p of waiting) {
      if (p.done) continue;
      if (error) this.#settle(p, error);
      else this.#outgoing.push(p);
    }
    if (this.#outgoing.length > 0 && !this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(() => this.#flush());
    }
  }

  // ------------------------------------------------------------------------------------------
  // Subscribing
  // ------------------------------------------------------------------------------------------

  subscribe(listener: AnnouncementListener, hooks?: SubscriberHooks): () => void {
    if (this.#closed) throw this.#unavailable('cannot subscribe: the publisher is closed');
    const subscriber: Subscriber = { listener, hooks };
    // Copy-on-write: a listener that unsubscribes while a message is dispatched does not disturb the loop.
    this.#subscribers = [...this.#subscribers, subscriber];
    return () => {
      this.#subscribers = this.#subscribers.filter((s) => s !== subscriber);
    };
  }

  #onMessage(channel: string, message: string): void {
    if (this.#subErrorWarned) {
      // A message through the subscription: whatever failed is over.
      this.#subErrorWarned = false;
      if (!this.#subWarned)
        this.#log.info({ url: this.#url, channel: this.channel }, 'Redis subscription restored');
    }
    if (channel === this.#healthChannel) {
      // The nonce starts with the probe's sequence number.
      this.#resetProven(Number.parseInt(message, 10));
      this.#probes.get(message)?.();
      return;
    }
    if (channel !== this.channel) return;
    const subscribers = this.#subscribers;
    if (subscribers.length === 0) return;
    const decoded = decodeAnnouncement(message, this.#o.maxIncomingBytes);
    if (!decoded.ok) {
      this.#counts.malformed++;
      this.#lastMalformed = decoded.reason;
      this.#log.debug({ reason: decoded.reason, channel }, 'dropped a malformed announcement');
      for (const s of subscribers) {
        try {
          s.hooks?.onMalformed?.(decoded.reason);
        } catch (error) {
          this.#listenerFailed(error);
        }
      }
      return;
    }
    this.#counts.received += decoded.announcement.events.length;
    for (const s of subscribers) {
      try {
        s.listener(decoded.announcement);
      } catch (error) {
        this.#listenerFailed(error);
      }
    }
  }

  #listenerFailed(error: unknown): void {
    this.#counts.listenerErrors++;
    this.#log.warn({ err: error }, 'an announcement listener threw; the other listeners still ran');
  }

  // ------------------------------------------------------------------------------------------
  // Connection state
  // ------------------------------------------------------------------------------------------

  #onPub(event: string, fn: () => void): void {
    this.#pub.on(event, fn);
    this.#pubListeners.push([event, fn]);
  }

  #pubReady(): void {
    if (this.#closed || this.#pub.status !== 'ready') return;
    if (this.#pubWarned) this.#log.info({ url: this.#url }, 'publishing connection to Redis restored');
    this.#pubWarned = false;
    delete this.#lastError.publishing;
    this.#pubEverReady = true;
    this.#releaseWaiting();
    this.#notifyReady();
    this.#checkStartup();
  }

  #pubClosed(): void {
    if (this.#closed) return;
    if (!this.#pubEverReady && !this.#pubConnectFailed) {
      // The first connection attempt failed: from here on, publishes fail fast like after any
      // other disconnect instead of each waiting for publishTimeoutMs.
      this.#pubConnectFailed = true;
      this.#releaseWaiting(this.#unavailable(`cannot publish: Redis at ${this.#url} is unreachable`));
      this.#checkStartup();
    }
    if (!this.#pubWarned) {
      this.#pubWarned = true;
      this.#log.warn(
        { url: this.#url },
        'publishing connection to Redis lost; publishes fail fast until it is back (events stay stored)',
      );
    }
  }

  #subReady(): void {
    if (this.#closed || this.#sub.status !== 'ready') return;
    const isReconnect = this.#everSubscribed;
    const subscribed = this.#sharded
      ? this.#sub.ssubscribe(this.channel, this.#healthChannel)
      : this.#sub.subscribe(this.channel, this.#healthChannel);
    subscribed.then(
      () => {
        if (this.#closed || this.#sub.status !== 'ready') return;
        this.#subscribed = true;
        this.#everSubscribed = true;
        this.#notifyReady();
        this.#checkStartup();
        if (this.#subWarned) {
          this.#log.info({ url: this.#url, channel: this.channel }, 'Redis subscription restored');
        }
        this.#subWarned = false;
        this.#subErrorWarned = false;
        delete this.#lastError.subscribing;
        this.#slotOwner = this.#channelsOwner();
        this.#slotOwnerLost = false;
        // Subscribed again from scratch: that covers a slot map change still being proven.
        this.#reset = undefined;
        if (isReconnect) this.#reconnected();
      },
      (error: unknown) => {
        // The connection dropped again before the reply; the next 'ready' subscribes again.
        this.#log.warn({ err: this.#masked(error) }, 'subscribing to Redis failed');
      },
    );
  }

  /** A subscription back after a loss: the coordinators poll for what was announced meanwhile. */
  #reconnected(): void {
    this.#counts.reconnects++;
    for (const s of this.#subscribers) {
      try {
        s.hooks?.onReconnect?.();
      } catch (error) {
        this.#listenerFailed(error);
      }
    }
  }

  /** Sharded Pub/Sub: the node serving the channels' slot in the subscriber's slot map. */
  #channelsOwner(): string | undefined {
    if (!this.#sharded) return undefined;
    return (this.#sub as Cluster).slots[calculateSlot(this.channel)]?.[0];
  }

  /**
   * ioredis rebuilt its shard subscribers. If the channels' slot moved to another node (a
   * failover to a replica, a reshard) or its node's subscriber connection had ended (a crash),
   * the subscription was lost for a while: announcements made meanwhile were not heard. ioredis
   * sent the SSUBSCRIBE without waiting for its reply, so a probe that comes back through the
   * subscription proves it is back; then, as after a reconnect, onReconnect rings.
   */
  #subscribersReset(): void {
    if (this.#closed || !this.#everSubscribed) return;
    const owner = this.#channelsOwner();
    if (owner === undefined || (owner === this.#slotOwner && !this.#slotOwnerLost)) return;
    const reset = { owner, afterProbe: this.#probeSeq };
    this.#reset = reset;
    const pending = () => !this.#closed && this.#reset === reset;
    void (async () => {
      for (let attempt = 1; pending(); attempt++) {
        try {
          // Heard, it settled the reset in #onMessage (#resetProven).
          await this.#probe();
          return;
        } catch {
          if (!pending()) return;
          await sleep(reconnectDelay(attempt, this.#o.reconnectBaseDelayMs, this.#o.reconnectMaxDelayMs));
        }
      }
    })();
  }

  /**
   * A probe came back through the subscription. If it left after the slot map changed, the
   * subscription is back on the new owner: settled here, before the probe's sender sees its
   * answer, so a health check that finds the subscription working after a failover also finds
   * onReconnect rung (a probe of the reset still waiting out its timeout cannot delay it).
   */
  #resetProven(probeSeq: number): void {
    const reset = this.#reset;
    if (reset === undefined || !(probeSeq > reset.afterProbe)) return;
    this.#reset = undefined;
    this.#log.info(
      { url: this.#url, channel: this.channel, node: reset.owner, previous: this.#slotOwner },
      'Redis subscription back on the node serving its slot',
    );
    this.#slotOwner = reset.owner;
    this.#slotOwnerLost = false;
    this.#reconnected();
  }

  #subClosed(): void {
    const wasSubscribed = this.#subscribed;
    this.#subscribed = false;
    if (this.#closed) return;
    if (!this.#everSubscribed && !this.#subConnectFailed) {
      this.#subConnectFailed = true;
      this.#checkStartup();
    }
    if (!this.#subWarned) {
      this.#subWarned = true;
      this.#log.warn(
        { url: this.#url, channel: this.channel },
        wasSubscribed
          ? 'Redis subscription lost; reconnecting (missed announcements are recovered by polling)'
          : 'cannot subscribe to Redis yet; retrying (new events are picked up by polling meanwhile)',
      );
    }
  }

  #connectionError(which: 'publishing' | 'subscribing', error: Error, alreadyWarned: boolean): void {
    if (this.#closed) return;
    // While Redis stays down every retry fails the same way: one warning per outage is enough.
    const entry = { err: this.#masked(error), url: this.#url };
    this.#lastError[which] = entry.err.message;
    if (alreadyWarned) this.#log.debug(entry, `${which} connection to Redis: error`);
    else this.#log.warn(entry, `${which} connection to Redis: error`);
  }

  #masked(error: unknown): Error {
    const message = maskedMessage(error);
    const masked = new Error(message);
    masked.name = error instanceof Error ? error.name : 'Error';
    return masked;
  }

  #checkStartup(): void {
    if ((this.#pubEverReady || this.#pubConnectFailed) && (this.#everSubscribed || this.#subConnectFailed)) {
      this.#startupDone();
    }
  }

  #isReady(): boolean {
    return !this.#closed && this.#pub.status === 'ready' && this.#isSubscribed();
  }

  /** The 'close' event trails the status change by a tick; the status is the truth. */
  #isSubscribed(): boolean {
    return this.#subscribed && this.#sub.status === 'ready';
  }

  #notifyReady(): void {
    if (!this.#isReady()) return;
    for (const resolve of this.#readyWaiters) resolve();
    this.#readyWaiters.clear();
  }

  waitUntilReady(options: { timeoutMs?: number | undefined } = {}): Promise<void> {
    if (this.#closed) return Promise.reject(this.#unavailable('the publisher is closed'));
    if (this.#isReady()) return Promise.resolve();
    const timeoutMs = options.timeoutMs ?? 10_000;
    return new Promise<void>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#readyWaiters.delete(done);
        reject(
          this.#unavailable(
            `Redis at ${this.#url} not ready within ${timeoutMs} ms ` +
              `(publisher ${this.#pub.status}${lastErrorNote(this.#lastError.publishing)}; ` +
              `subscriber ${this.#sub.status}${lastErrorNote(this.#lastError.subscribing)}; subscribed ${this.#isSubscribed()})`,
          ),
        );
      }, timeoutMs);
      this.#readyWaiters.add(done);
    });
  }

  // ------------------------------------------------------------------------------------------
  // Health and lifecycle
  // ------------------------------------------------------------------------------------------

  /**
   * A real round trip on both connections: PING on the publishing one, and a probe published to
   * this instance's private health channel that must come back through the subscription.
   */
  async healthCheck(): Promise<HealthStatus> {
    const started = performance.now();
    if (this.#closed) return { healthy: false, latencyMs: 0, details: this.#details() };
    // Right after creation the connections are still coming up: that is not a failure yet.
    await withTimeout(this.#startup, this.#o.healthTimeoutMs, 'startup').catch(() => {});
    const [ping, probe] = await Promise.allSettled([this.#ping(), this.#probe()]);
    const details = this.#details();
    const errors: string[] = [];
    if (ping.status === 'fulfilled') (details.publisher as Record<string, unknown>).latencyMs = ping.value;
    else errors.push(`publisher: ${this.#masked(ping.reason).message}`);
    if (probe.status === 'fulfilled') (details.subscriber as Record<string, unknown>).latencyMs = probe.value;
    else errors.push(`subscriber: ${this.#masked(probe.reason).message}`);
    if (errors.length > 0) details.error = errors.join('; ');
    return {
      healthy: errors.length === 0 && !this.#closed,
      latencyMs: round(performance.now() - started),
      details,
    };
  }

  async #ping(): Promise<number> {
    if (this.#pub.status !== 'ready') {
      throw new Error(`connection ${this.#pub.status}${lastErrorNote(this.#lastError.publishing)}`);
    }
    const started = performance.now();
    await withTimeout(this.#pub.ping(), this.#o.healthTimeoutMs, 'no PONG');
    return round(performance.now() - started);
  }

  async #probe(): Promise<number> {
    if (!this.#isSubscribed()) {
      throw new Error(
        `not subscribed (connection ${this.#sub.status}${lastErrorNote(this.#lastError.subscribing)})`,
      );
    }
    if (this.#pub.status !== 'ready') throw new Error('cannot send the probe: publishing connection is down');
    const nonce = `${++this.#probeSeq}:${Date.now()}`;
    const started = performance.now();
    const received = new Promise<void>((resolve) => this.#probes.set(nonce, resolve));
    try {
      await withTimeout(
        Promise.all([
          this.#sharded
            ? this.#pub.spublish(this.#healthChannel, nonce)
            : this.#pub.publish(this.#healthChannel, nonce),
          received,
        ]),
        this.#o.healthTimeoutMs,
        'the probe did not come back through the subscription',
      );
    } finally {
      this.#probes.delete(nonce);
    }
    return round(performance.now() - started);
  }

  #details(): Record<string, unknown> {
    const c = this.#counts;
    return {
      url: this.#url,
      channels: [this.channel, this.#healthChannel],
      publisher: {
        status: this.#pub.status,
        announcements: c.announcements,
        messages: c.messages,
        failures: c.failures,
        ownConnection: this.#ownsPub,
      },
      subscriber: {
        status: this.#sub.status,
        subscribed: this.#isSubscribed(),
        listeners: this.#subscribers.length,
        receivedEvents: c.received,
        reconnects: c.reconnects,
      },
      malformed: c.malformed,
      ...(this.#lastMalformed ? { lastMalformed: this.#lastMalformed } : {}),
      listenerErrors: c.listenerErrors,
      closed: this.#closed,
    };
  }

  close(): Promise<void> {
    this.#closing ??= this.#doClose();
    return this.#closing;
  }

  async #doClose(): Promise<void> {
    // Publishes accepted before close leave before QUIT, which Redis answers after them.
    if (this.#flushScheduled) this.#flush();
    this.#closed = true;
    this.#subscribers = [];
    this.#releaseWaiting(this.#unavailable('cannot publish: the publisher is closed'));
    for (const resolve of this.#probes.values()) resolve();
    this.#readyWaiters.clear();
    for (const [event, fn] of this.#pubListeners) this.#pub.off(event, fn);
    this.#sub.disconnect();
    try {
      if (!this.#ownsPub) return;
      if (this.#pub.status === 'ready') {
        await withTimeout(this.#pub.quit(), this.#o.publishTimeoutMs, 'QUIT').catch(() => {});
      }
      this.#pub.disconnect();
    } finally {
      this.#releaseConsole();
    }
  }

  #unavailable(message: string, cause?: unknown): PublisherUnavailableError {
    return new PublisherUnavailableError(message, { source: SOURCE, cause });
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function lastErrorNote(error: string | undefined): string {
  return error === undefined ? '' : `, last error: ${error}`;
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
