import {
  type ClaimedDelivery,
  type DeliveryInfo,
  type DomainEvent,
  type EventStore,
  type HandlerOrdering,
  isEvcoError,
  type StoreStats,
} from '@evco/core';
import { createMemoryStore } from '@evco/store-memory';
import { makeEvent } from '@evco/testkit';
import { describe, expect, it } from 'vitest';
import { createSqliteStore } from '../src/index.js';

/**
 * The reference store and this one, driven through the same random sequence of operations
 * (appends, subscriptions, claims, completions, failures, releases, lease expiries, retries,
 * re-driven dead letters, replays, retirements), must agree after every step on what was
 * claimed and on every view of the delivery state.
 */

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const HANDLERS: Array<[string, HandlerOrdering]> = [
  ['ordered', 'aggregate'],
  ['free', 'none'],
  ['strict', 'aggregate'],
];
const TYPES = ['A', 'B'];
const AGGREGATES = ['x', 'y', 'z'];

function random(seed: number): () => number {
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
  memory: ClaimedDelivery;
  sqlite: ClaimedDelivery;
}

const key = (c: ClaimedDelivery) => `${c.event.id}/${c.handler}/${c.attempt}`;
const describeClaims = (claims: ClaimedDelivery[]) =>
  claims.map((c) => `${c.event.id}/${c.handler}/${c.attempt}/${c.isReplay}`).sort();

const deliveryView = (d: DeliveryInfo) => ({ ...d, deliveryId: undefined });

function statsView(s: StoreStats) {
  // A handler with a live subscription and nothing open is listed by this store even before its
  // first delivery (the reference store lists it only once it had one): compare the busy ones.
  return { ...s, handlers: s.handlers.filter((h) => h.pending + h.running + h.dead > 0) };
}

async function outcome<T>(promise: Promise<T>): Promise<T | string> {
  try {
    return await promise;
  } catch (error) {
    return isEvcoError(error) ? `error ${error.code}` : `unexpected ${String(error)}`;
  }
}

async function views(store: EventStore, now: Date) {
  const unprocessed = await store.getUnprocessedEvents({ limit: 1000 });
  const dead = await store.getDeadLetters({ limit: 1000 });
  return {
    stats: statsView(await store.stats({ now })),
    unprocessed: unprocessed.map((u) => ({
      id: u.event.id,
      deliveries: u.deliveries.map(deliveryView).sort((a, b) => a.handler.localeCompare(b.handler)),
    })),
    dead: dead.map((d) => ({ id: d.event.id, delivery: deliveryView(d.delivery) })),
    subscriptions: await store.listSubscriptions(),
    events: (await store.read({ limit: 10_000 })).map((e) => [e.id, e.position]),
  };
}

async function run(seed: number, steps: number): Promise<void> {
  const rand = random(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;
  const subset = <T>(list: readonly T[]): T[] => list.filter(() => rand() < 0.5);
  const memory = createMemoryStore();
  const sqlite = createSqliteStore({ filename: ':memory:' });
  const both = async <T>(fn: (s: EventStore) => Promise<T>): Promise<[T | string, T | string]> => [
    await outcome(fn(memory)),
    await outcome(fn(sqlite)),
  ];
  let clock = T0;
  const now = () => new Date(clock);
  const appended: DomainEvent[] = [];
  let leases: Pair[] = [];
  const log: string[] = [];

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
      expect(typeof m === 'string' ? m : m.deliveries, op).toEqual(typeof s === 'string' ? s : s.deliveries);
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
      for (const c of m) leases.push({ memory: c, sqlite: byKey.get(key(c))! });
    } else if (roll < 0.62) {
      const chosen = subset(leases);
      op = `complete ${chosen.length}`;
      await memory.complete(
        chosen.map((p) => p.memory),
        { now: now() },
      );
      await sqlite.complete(
        chosen.map((p) => p.sqlite),
        { now: now() },
      );
      leases = leases.filter((p) => !chosen.includes(p));
    } else if (roll < 0.72) {
      const chosen = subset(leases).map((p) => ({
        p,
        error: `boom ${step}`,
        nextAttemptAt: rand() < 0.3 ? null : new Date(clock + Math.floor(rand() * 8000)),
      }));
      op = `fail ${chosen.length}`;
      await memory.fail(
        chosen.map((f) => ({ ...f.p.memory, error: f.error, nextAttemptAt: f.nextAttemptAt })),
        { now: now() },
      );
      await sqlite.fail(
        chosen.map((f) => ({ ...f.p.sqlite, error: f.error, nextAttemptAt: f.nextAttemptAt })),
        { now: now() },
      );
      leases = leases.filter((p) => !chosen.some((f) => f.p === p));
    } else if (roll < 0.77) {
      const chosen = subset(leases);
      op = `release ${chosen.length}`;
      await memory.release(
        chosen.map((p) => p.memory),
        { now: now() },
      );
      await sqlite.release(
        chosen.map((p) => p.sqlite),
        { now: now() },
      );
      leases = leases.filter((p) => !chosen.includes(p));
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
        return { ...job, id: undefined };
      });
      expect(s, op).toEqual(m);
    } else {
      const handler = pick(HANDLERS)[0];
      op = `retire ${handler}`;
      const [m, s] = await both((st) => st.retireHandler(handler));
      expect(s, op).toBe(m);
    }
    log.push(op);
    const [m, s] = [await views(memory, now()), await views(sqlite, now())];
    expect(s, `seed ${seed}, step ${step}: ${log.slice(-5).join(' | ')}`).toEqual(m);
  }
  await sqlite.close();
}

describe('differential: the SQLite store behaves like the reference store', () => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    it(`random operations, seed ${seed}`, async () => {
      await run(seed, 400);
    });
  }
});
