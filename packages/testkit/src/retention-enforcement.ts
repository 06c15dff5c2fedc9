import {
  createCoordinator,
  type EventDrivenCoordinator,
  type EventPublisher,
  type EventStore,
  isEvcoError,
  type RecordedEvent,
  type RetentionPolicy,
  silentLogger,
} from '@evco/core';
import { afterEach, describe, expect, it } from 'vitest';
import { makeEvent, waitFor } from './helpers.js';

export interface RetentionEnforcementOptions {
  /** Shown in the suite title. */
  name: string;
  /** Two stores on the same fresh, migrated data (as two processes would have). */
  open: () => Promise<[EventStore, EventStore]>;
  /** Called after the case (drop a schema, delete a file); the stores are closed already. */
  destroy?: ((stores: [EventStore, EventStore]) => Promise<void>) | undefined;
}

/** A doorbell that rings nobody: the coordinators find work by polling, as after a lost message. */
function silentPublisher(): EventPublisher {
  return {
    name: 'silent',
    capabilities: { crossProcess: false },
    publish: async () => {},
    subscribe: () => () => {},
    healthCheck: async () => ({ healthy: true, latencyMs: 0, details: {} }),
    close: async () => {},
  };
}

const DAY = 86_400_000;

/**
 * Two coordinators, each on its own store over the same data, both with a `retention` policy and
 * an archive hook: the events that may go are archived and removed exactly once between them, a
 * dead letter stays until its handler is retired, and history reports the pruned ranges.
 */
export function describeRetentionEnforcement(options: RetentionEnforcementOptions): void {
  describe(`retention enforced by two coordinators: ${options.name}`, () => {
    const coordinators: EventDrivenCoordinator[] = [];
    let stores: [EventStore, EventStore] | undefined;
    afterEach(async () => {
      await Promise.all(coordinators.splice(0).map((c) => c.shutdown()));
      if (stores) await options.destroy?.(stores);
      stores = undefined;
    });

    /** A coordinator on each store, finding work by polling; `retention` when given. */
    const startOnEach = async (on: [EventStore, EventStore], retention?: RetentionPolicy) => {
      for (const store of on) {
        coordinators.push(
          await createCoordinator({
            store,
            publisher: silentPublisher(),
            logger: silentLogger,
            pollIntervalMs: 20,
            ...(retention ? { retention } : {}),
          }),
        );
      }
    };

    it('each old handled event is archived and removed once; a dead letter stays until its handler is retired', async () => {
      stores = await options.open();
      const archived: string[] = [];
      const archive = async (batch: readonly RecordedEvent[]) => {
        await new Promise((r) => setTimeout(r, 2));
        archived.push(...batch.map((e) => e.id));
      };
      await startOnEach(stores, { maxAge: DAY, intervalMs: 100, batchSize: 9, archive });
      const [a, b] = coordinators as [EventDrivenCoordinator, EventDrivenCoordinator];
      await a.registerHandler('TestHappened', async () => {}, { name: 'h' });
      await b.registerHandler(
        'Poison',
        async () => {
          throw Object.assign(new Error('never'), { retryable: false });
        },
        { name: 'poison' },
      );
      const old = Array.from({ length: 50 }, (_, i) =>
        makeEvent({ occurredAt: new Date(Date.UTC(2020, 0, 1) + i * 1000) }),
      );
      const poison = makeEvent({ eventType: 'Poison', occurredAt: new Date(Date.UTC(2020, 0, 1)) });
      const recent = makeEvent({ occurredAt: new Date() });
      await a.publishEvents([...old, poison, recent]);
      await waitFor(() => archived.length >= 50, { timeoutMs: 30_000 });
      expect(archived.length).toBe(50);
      expect(new Set(archived).size).toBe(50);
      expect((await b.getDeadLetters()).map((d) => d.event.id)).toEqual([poison.id]);
      expect((await b.getEventHistory({})).map((e) => e.id).sort()).toEqual([poison.id, recent.id].sort());
      await b.retireHandler('poison');
      await waitFor(async () => (await a.getEventHistory({})).length === 1, { timeoutMs: 30_000 });
      const history = await a.readEventHistory({});
      expect(history.events.map((e) => e.id)).toEqual([recent.id]);
      expect(history.pruned.map((p) => [p.eventType, p.removed])).toEqual([
        ['Poison', 1],
        ['TestHappened', 50],
      ]);
    });

    it('an archive hook that never settles: the prune stops with TIMEOUT after archiveTimeoutMs, nothing removed, and replays and prunes of the store go on', async () => {
      stores = await options.open();
      await startOnEach(stores);
      const [a, b] = coordinators as [EventDrivenCoordinator, EventDrivenCoordinator];
      const handled: string[] = [];
      await a.registerHandler('TestHappened', async (e) => void handled.push(e.id), { name: 'h' });
      const old = Array.from({ length: 5 }, (_, i) =>
        makeEvent({ occurredAt: new Date(Date.UTC(2020, 0, 1) + i * 1000) }),
      );
      await a.publishEvents(old);
      await waitFor(async () => (await a.getUnprocessedEvents()).length === 0 && handled.length === 5);
      const before = new Date(Date.UTC(2020, 0, 2));
      let calls = 0;
      // An object-storage call that hangs: it never resolves nor rejects.
      const hung = (_batch: readonly RecordedEvent[]) => {
        calls++;
        return new Promise<void>(() => {});
      };
      const error = await a
        .pruneEvents({ before, archive: hung, archiveTimeoutMs: 200 })
        .catch((e: unknown) => e);
      expect(isEvcoError(error, 'TIMEOUT')).toBe(true);
      expect((error as Error).message).toMatch(/archive hook did not finish within 200 ms/);
      expect(calls).toBe(1);
      expect((await b.getEventHistory({})).length).toBe(5);
      // The batch let go of the store's prune lock: a replay (which waits for a prune batch) runs.
      const replay = await b.replayEvents({ from: new Date(Date.UTC(2019, 11, 31)), to: before });
      expect(replay.events).toBe(5);
      await waitFor(() => handled.length === 10, { timeoutMs: 30_000 });
      await waitFor(async () => (await a.getUnprocessedEvents()).length === 0);
      // And a prune from the other store archives and removes the batch the hung hook held.
      const archived: string[] = [];
      const result = await b.pruneEvents({
        before,
        archive: async (batch) => void archived.push(...batch.map((e) => e.id)),
      });
      expect(result.removed).toBe(5);
      expect(archived.sort()).toEqual(old.map((e) => e.id).sort());
      expect(await a.getEventHistory({})).toEqual([]);
    });
  });
}
