import {
  type DeliveryInfo,
  type DomainEvent,
  type EventStore,
  type HandlerOrdering,
  isEvcoError,
  type RecordedEvent,
} from '@evco/core';
import type { ClaimedDelivery } from '@evco/core/adapter';
import { describe, expect, it } from 'vitest';
import { makeEvent } from './helpers.js';

/**
 * The differential test: a store under test and a reference store (store-memory), driven
 * through the same random sequence of operations (appends, duplicate appends, subscriptions,
 * claims, completions, failures, releases, lease expiries, retries, re-driven dead letters,
 * replays, retirements), must agree after every step on what was claimed and on every view of
 * the delivery state. Where the contract checks chosen cases, this finds the interleavings
 * nobody thought of; a failure names the seed, the step and the last operations.
 */
export interface DifferentialOptions<S extends EventStore = EventStore> {
  /** Shown in the suite title. */
  name: string;
  /** A fresh, empty, migrated store under test; one per seed. */
  create: () => Promise<S>;
  /** Called after each seed with the store `create` returned, closed (drop a schema, delete a file). */
  destroy?: ((store: S) => Promise<void>) | undefined;
  /**
   * The reference store, fresh and empty: `createMemoryStore` from `@evco/store-memory`. A
   * parameter rather than a dependency, because the stores depend on testkit for their tests.
   */
  reference: () => EventStore | Promise<EventStore>;
  /**
   * `'equal'`: positions must be the same numbers as the reference's (1, 2, 3, … with no gaps).
   * `'ordered'`: only their order is compared, for stores whose sequences skip numbers (a
   * Postgres sequence advances for a rolled-back insert). @default 'ordered'
   */
  positions?: 'equal' | 'ordered' | undefined;
  /**
   * Called with the store under test after every step, before the stores are compared (and so
   * before the next step's claims and replays): a store whose reads can trail its writes waits
   * here until they have caught up. store-postgres shows an event only once every older
   * transaction on the server has settled (its gap-safe order); a claim that finds some
   * deliveries returns them without waiting for ordered ones still settling. The test compares
   * what the store shows once settled. Wait for the store's own writes only, and throw rather
   * than return early: a store that never catches up is a difference.
   */
  settle?: ((store: S) => Promise<void>) | undefined;
  /** @default [1, 2, 3, 4, 5, 6] */
  seeds?: readonly number[] | undefined;
  /** Operations per seed. @default 400 */
  steps?: number | undefined;
  /** Per seed, for stores behind a network. @default vitest's testTimeout */
  timeoutMs?: number | undefined;
}

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const HANDLERS: Array<[string, HandlerOrdering]> = [
  ['ordered', 'aggregate'],
  ['free', 'none'],
  ['strict', 'aggregate'],
];
const TYPES = ['A', 'B'];
const AGGREGATES = ['x', 'y', 'z'];

/** A small seeded PRNG (mulberry32): the same seed replays the same run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Pair {
  reference: ClaimedDelivery;
  tested: ClaimedDelivery;
}

const key = (c: ClaimedDelivery) => `${c.event.id}/${c.handler}/${c.attempt}`;
const describeClaims = (claims: ClaimedDelivery[]) =>
  claims.map((c) => `${c.event.id}/${c.handler}/${c.attempt}/${c.isReplay}`).sort();

const deliveryView = (d: DeliveryInfo) => ({ ...d, deliveryId: undefined });

async function outcome<T>(promise: Promise<T>): Promise<T | string> {
  try {
    return await promise;
  } catch (error) {
    return isEvcoError(error) ? `error ${error.code}` : `unexpected ${String(error)}`;
  }
}

const readEvents = (store: EventStore) => store.read({ limit: 10_000 });

/** Maps a store's positions to what is compared: themselves, or their rank among its events. */
async function positionMap(store: EventStore, mode: 'equal' | 'ordered', events?: RecordedEvent[]) {
  if (mode === 'equal') return (p: string | null) => p;
  const ranks = new Map((events ?? (await readEvents(store))).map((e, i) => [e.position, String(i + 1)]));
  return (p: string | null) => (p === null ? null : (ranks.get(p) ?? `unknown position ${p}`));
}

async function views(store: EventStore, now: Date, mode: 'equal' | 'ordered') {
  // Reads only, so at once: a store behind a network answers in about one round trip's time.
  const [events, stats, unprocessed, dead, subscriptions] = await Promise.all([
    readEvents(store),
    store.stats({ now }),
    store.getUnprocessedEvents({ limit: 1000 }),
    store.getDeadLetters({ limit: 1000 }),
    store.listSubscriptions(),
  ]);
  const position = await positionMap(store, mode, events);
  return {
    // A handler with a live subscription and nothing open is listed by some stores even before
    // its first delivery (the reference lists it only once it had one): compare the busy ones.
    stats: {
      ...stats,
      lastPosition: position(stats.lastPosition),
      handlers: stats.handlers.filter((h) => h.pending + h.running + h.dead > 0),
    },
    unprocessed: unprocessed.map((u) => ({
      id: u.event.id,
      deliveries: u.deliveries.map(deliveryView).sort((a, b) => a.handler.localeCompare(b.handler)),
    })),
    dead: dead.map((d) => ({ id: d.event.id, delivery: deliveryView(d.delivery) })),
    subscriptions,
    events: events.map((e) => [e.id, position(e.position)]),
  };
}

/** One seeded run: throws (a vitest assertion) at the first step where the two stores disagree. */
export async function runDifferential<S extends EventStore>(
  options: Pick<DifferentialOptions<S>, 'create' | 'destroy' | 'reference' | 'positions' | 'settle'>,
  seed: number,
  steps: number,
): Promise<void> {
  const mode = options.positions ?? 'ordered';
  const rand = seededRandom(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;
  const subset = <T>(list: readonly T[]): T[] => list.filter(() => rand() < 0.5);
  const reference = await options.reference();
  const tested = await options.create();
  const both = async <T>(fn: (s: EventStore) => Promise<T>): Promise<[T | string, T | string]> => [
    await outcome(fn(reference)),
    await outcome(fn(tested)),
  ];
  let clock = T0;
  const now = () => new Date(clock);
  const appended: DomainEvent[] = [];
  let leases: Pair[] = [];
  const log: string[] = [];
  /** Applies the same settlement to both sides' leases (each store has its own delivery ids). */
  const settle = async (
    fn: (store: EventStore, claims: ClaimedDelivery[]) => Promise<void>,
    chosen: readonly Pair[],
  ) => {
    await fn(
      reference,
      chosen.map((p) => p.reference),
    );
    await fn(
      tested,
      chosen.map((p) => p.tested),
    );
    leases = leases.filter((p) => !chosen.includes(p));
  };

  try {
    for (let step = 0; step < steps; step++) {
      const roll = rand();
      let op: string;
      if (roll < 0.1) {
        const [handler, ordering] = pick(HANDLERS);
        const eventType = pick(TYPES);
        const ttlMs = 1000 + Math.floor(rand() * 60_000);
        op = `subscribe ${handler} ${eventType} ${ttlMs}`;
        await both((s) =>
          s.registerSubscriptions([{ handler, eventType, ordering }], { consumerId: 'c', now: now(), ttlMs }),
        );
      } else if (roll < 0.3) {
        const events = Array.from({ length: 1 + Math.floor(rand() * 4) }, () =>
          makeEvent({ eventType: pick(TYPES), aggregateId: pick(AGGREGATES), occurredAt: now() }),
        );
        if (rand() < 0.1 && appended.length > 0) events.push(pick(appended));
        op = `append ${events.length}`;
        const [m, s] = await both((st) => st.append(events, { now: now() }));
        expect(typeof s === 'string' ? s : s.deliveries, op).toEqual(
          typeof m === 'string' ? m : m.deliveries,
        );
        if (typeof m !== 'string') appended.push(...events);
      } else if (roll < 0.5) {
        const handlers = subset(HANDLERS.map(([h]) => h));
        op = `claim ${handlers.join(',')}`;
        const [m, s] = await both((st) =>
          st.claimDue({ consumerId: 'c', handlers, now: now(), leaseMs: 5000, limit: 1000 }),
        );
        if (typeof m === 'string' || typeof s === 'string') throw new Error(`${op}: ${m} / ${s}`);
        expect(describeClaims(s), op).toEqual(describeClaims(m));
        const byKey = new Map(s.map((c) => [key(c), c]));
        for (const c of m) leases.push({ reference: c, tested: byKey.get(key(c))! });
      } else if (roll < 0.62) {
        const chosen = subset(leases);
        op = `complete ${chosen.length}`;
        await settle((st, claims) => st.complete(claims, { now: now() }), chosen);
      } else if (roll < 0.72) {
        const chosen = subset(leases);
        const failures = chosen.map(() => ({
          error: `boom ${step}`,
          nextAttemptAt: rand() < 0.3 ? null : new Date(clock + Math.floor(rand() * 8000)),
        }));
        op = `fail ${chosen.length}`;
        await settle(
          (st, claims) =>
            st.fail(
              claims.map((c, i) => ({ ...c, ...failures[i]! })),
              { now: now() },
            ),
          chosen,
        );
      } else if (roll < 0.77) {
        const chosen = subset(leases);
        op = `release ${chosen.length}`;
        await settle((st, claims) => st.release(claims, { now: now() }), chosen);
      } else if (roll < 0.87) {
        const ms = Math.floor(rand() * 7000);
        op = `advance ${ms}`;
        clock += ms;
      } else if (roll < 0.92) {
        const handler = rand() < 0.5 ? pick(HANDLERS)[0] : undefined;
        op = `retry dead letters ${handler ?? 'all'}`;
        const [m, s] = await both((st) => st.retryDeadLetters({ handler, now: now() }));
        expect(s, op).toBe(m);
      } else if (roll < 0.97) {
        const from = new Date(T0 + Math.floor(rand() * (clock - T0 + 1)));
        const to = new Date(from.getTime() + 1 + Math.floor(rand() * 20_000));
        const handler = rand() < 0.5 ? pick(HANDLERS)[0] : undefined;
        const eventType = rand() < 0.3 ? pick(TYPES) : undefined;
        const maxEvents = 1 + Math.floor(rand() * 12);
        op = `replay ${from.toISOString()}..${to.toISOString()} ${handler} ${eventType} ${maxEvents}`;
        const [m, s] = await both(async (st) => {
          let job = await st.startReplay({ from, to, handler, eventType, maxEvents }, { now: now() });
          while (job.status === 'running') job = await st.continueReplay(job.id, { now: now(), pageSize: 2 });
          const position = await positionMap(st, mode);
          return { ...job, id: undefined, cursor: position(job.cursor) };
        });
        expect(s, op).toEqual(m);
      } else {
        const handler = pick(HANDLERS)[0];
        op = `retire ${handler}`;
        const [m, s] = await both((st) => st.retireHandler(handler));
        expect(s, op).toBe(m);
      }
      log.push(op);
      await options.settle?.(tested);
      const [m, s] = [await views(reference, now(), mode), await views(tested, now(), mode)];
      expect(s, `seed ${seed}, step ${step}: ${log.slice(-5).join(' | ')}`).toEqual(m);
    }
  } finally {
    await reference.close();
    await tested.close();
    await options.destroy?.(tested);
  }
}

/** One vitest case per seed: `differential: <name> behaves like the reference store`. */
export function describeDifferentialTest<S extends EventStore>(options: DifferentialOptions<S>): void {
  const steps = options.steps ?? 400;
  describe(`differential: ${options.name} behaves like the reference store`, () => {
    for (const seed of options.seeds ?? [1, 2, 3, 4, 5, 6]) {
      it(`random operations, seed ${seed}`, { timeout: options.timeoutMs }, async () => {
        await runDifferential(options, seed, steps);
      });
    }
  });
}
