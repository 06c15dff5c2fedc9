import { announceEvents } from './announce.js';
import type { RecordedEvent } from './event.js';
import type { EventPublisher, EventStore, Logger, ReplayJob } from './ports.js';

export interface ReplayDriverContext {
  store: EventStore;
  /** Rings the doorbell for replayed event types so live coordinators look at once. */
  publisher?: EventPublisher | undefined;
  source: string;
  logger: Logger;
  clock: () => Date;
  /** Events requeued per `continueReplay` transaction. */
  replayPageSize: number;
  /** Called when a page queued deliveries (the coordinator wakes its dispatcher). */
  wake(): void;
  /** Called when a replay driven here has queued every page (`resumed`: picked up from a stale job). */
  replayQueued?(job: ReplayJob, resumed: boolean): void;
}

/**
 * Drives durable replays: advances a recorded job page by page (`store.continueReplay`, one
 * transaction each) until it is done or this process stops, announcing the replayed types. The
 * job lives in the store, so a replay whose driver died is resumed by any coordinator's poller
 * (`listStaleReplays` → `drive(id, true)`).
 */
export class ReplayDriver {
  readonly #c: ReplayDriverContext;
  /** Replays this process is driving, by id: a second driver would only wait on the job's lock. */
  readonly #drives = new Map<string, Promise<ReplayJob>>();
  #stopped = false;

  constructor(context: ReplayDriverContext) {
    this.#c = context;
  }

  /**
   * Queues the job's pages until it is done or this process stops. A failed page leaves the job
   * running (each page is one transaction) and a poller resumes it once it is stale.
   */
  drive(id: string, resumed = false): Promise<ReplayJob> {
    let drive = this.#drives.get(id);
    if (!drive) {
      drive = this.#drive(id, resumed).finally(() => this.#drives.delete(id));
      this.#drives.set(id, drive);
    }
    return drive;
  }

  isDriving(id: string): boolean {
    return this.#drives.has(id);
  }

  async #drive(id: string, resumed: boolean): Promise<ReplayJob> {
    let job: ReplayJob | undefined;
    let sample: RecordedEvent[] | undefined;
    try {
      do {
        const before = job?.deliveriesQueued ?? 0;
        job = await this.#c.store.continueReplay(id, {
          now: this.#c.clock(),
          pageSize: this.#c.replayPageSize,
        });
        if (job.deliveriesQueued > before) {
          this.#c.wake();
          sample ??= await this.#replaySample(job);
          await announceEvents(this.#c, sample);
        }
      } while (job.status === 'running' && !this.#stopped);
      this.#c.logger.info(
        {
          replayId: id,
          status: job.status,
          events: job.eventsMatched,
          deliveries: job.deliveriesQueued,
          truncated: job.truncated,
        },
        job.status === 'done' ? 'replay queued' : 'replay paused; a poller resumes it',
      );
      if (job.status === 'done') this.#c.replayQueued?.(job, resumed);
      return job;
    } catch (error) {
      this.#c.logger.warn({ err: error, replayId: id }, 'replay page failed; a poller resumes it');
      throw error;
    }
  }

  /** One stored event per event type the replay can touch: what the doorbell announces. */
  async #replaySample(job: ReplayJob): Promise<RecordedEvent[]> {
    if (!this.#c.publisher) return [];
    try {
      const now = this.#c.clock().getTime();
      const types = new Set(
        (await this.#c.store.listSubscriptions())
          .filter((s) => s.expiresAt.getTime() > now)
          .filter((s) => job.handler === undefined || s.handler === job.handler)
          .filter((s) => job.eventType === undefined || s.eventType === job.eventType)
          .map((s) => s.eventType),
      );
      const sample: RecordedEvent[] = [];
      for (const eventType of types) {
        const [e] = await this.#c.store.read({ eventType, from: job.from, to: job.to, limit: 1 });
        if (e) sample.push(e);
      }
      return sample;
    } catch {
      return [];
    }
  }

  /** Stops driving replays after their current page (the jobs stay running, durable) and waits. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.allSettled(this.#drives.values());
  }
}
