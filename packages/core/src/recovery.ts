import type { AdminOperations } from './admin.js';
import type { Dispatcher } from './dispatcher.js';
import type { EventStore, Logger } from './ports.js';

export interface RecoveryContext {
  store: EventStore;
  dispatcher: Dispatcher;
  admin: AdminOperations;
  logger: Logger;
  clock: () => Date;
  consumerId: string;
  pollIntervalMs: number;
  leaseMs: number;
  subscriptionTtlMs: number;
  isRunning(): boolean;
}

/**
 * What a coordinator does on a timer, so that nothing depends on an announcement arriving: the
 * recovery poll (wakes the dispatcher, which claims whatever is due — missed announcements,
 * expired leases, retries whose time came), resuming replays whose driver stopped, and renewing
 * this process's subscriptions before their TTL runs out.
 */
export class RecoveryPoller {
  readonly #c: RecoveryContext;
  #pollTimer: NodeJS.Timeout | undefined;
  #renewTimer: NodeJS.Timeout | undefined;
  #polls = 0;

  constructor(context: RecoveryContext) {
    this.#c = context;
  }

  start(): void {
    this.#pollTimer = setInterval(() => this.#poll(), this.#c.pollIntervalMs);
    this.#pollTimer.unref?.();
    const renewEvery = Math.max(500, Math.min(60_000, Math.floor(this.#c.subscriptionTtlMs / 3)));
    this.#renewTimer = setInterval(() => this.#renewSubscriptions(), renewEvery);
    this.#renewTimer.unref?.();
  }

  stop(): void {
    if (this.#pollTimer) clearInterval(this.#pollTimer);
    if (this.#renewTimer) clearInterval(this.#renewTimer);
  }

  #poll(): void {
    if (!this.#c.isRunning()) return;
    this.#polls += 1;
    this.#c.dispatcher.wake();
    // Resuming abandoned replays is rarer work: every tenth poll.
    if (this.#polls % 10 === 0) void this.#resumeStaleReplays();
  }

  async #resumeStaleReplays(): Promise<void> {
    const c = this.#c;
    try {
      const stale = await c.store.listStaleReplays({
        staleBefore: new Date(c.clock().getTime() - c.leaseMs),
      });
      for (const job of stale) {
        if (c.admin.isDriving(job.id)) continue;
        c.logger.info({ replayId: job.id }, 'resuming a replay whose driver stopped');
        await c.admin.driveReplay(job.id, true);
      }
    } catch (error) {
      c.logger.warn({ err: error }, 'resuming replays failed; will try again');
    }
  }

  async #renewSubscriptions(): Promise<void> {
    const c = this.#c;
    const registrations = c.dispatcher.registrations();
    if (registrations.length === 0 || !c.isRunning()) return;
    try {
      await persistSubscriptions(c, registrations);
    } catch (error) {
      c.logger.warn({ err: error }, 'renewing subscriptions failed; will try again');
    }
  }
}

/** Stores (or renews) subscriptions for these registrations, owned by this coordinator for the TTL. */
export function persistSubscriptions(
  c: Pick<RecoveryContext, 'store' | 'clock' | 'consumerId' | 'subscriptionTtlMs'>,
  registrations: ReturnType<Dispatcher['registrations']>,
): Promise<void> {
  return c.store.registerSubscriptions(
    registrations.map((r) => ({ handler: r.name, eventType: r.eventType, ordering: r.ordering })),
    { consumerId: c.consumerId, now: c.clock(), ttlMs: c.subscriptionTtlMs },
  );
}
