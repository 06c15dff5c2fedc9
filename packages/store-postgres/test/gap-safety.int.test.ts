import { comparePositions, type RecordedEvent } from '@evco/core';
import { makeEvent, waitFor } from '@evco/testkit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PostgresStore } from '../src/index.js';
import { createTestStore, dropSchema, uniqueSchema } from './support.js';

const now = new Date('2026-01-01T00:00:00.000Z');

/** Follows the global order the way a projection would: a position cursor, nothing else. */
class Follower {
  readonly seen: RecordedEvent[] = [];
  #cursor: string | undefined;

  constructor(private readonly store: PostgresStore) {}

  async poll(): Promise<void> {
    for await (const event of this.store.readAll({ afterPosition: this.#cursor, pageSize: 7 })) {
      this.seen.push(event);
      this.#cursor = event.position;
    }
  }
}

/** Deterministic pseudo-random numbers, so a failing interleaving can be replayed by its seed. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('gap-safe global order', () => {
  const schema = uniqueSchema('evco_gap');
  let writer: PostgresStore;
  let reader: PostgresStore;

  beforeAll(async () => {
    writer = await createTestStore({ schema, poolSize: 20 });
    // The follower must not wait for unsettled events: that it never skips one is what is tested.
    reader = await createTestStore({ schema, poolSize: 2, settleTimeoutMs: 0 });
  });

  afterAll(async () => {
    await reader?.close();
    await writer?.close();
    await dropSchema(schema);
  });

  const ids = (events: ReadonlyArray<{ id: string }>) => events.map((e) => e.id);

  async function allInOrder(): Promise<string[]> {
    const { rows } = await writer.pool.query<{ event_id: string }>(
      `SELECT event_id FROM "${schema}".events ORDER BY position`,
    );
    return rows.map((r) => r.event_id);
  }

  it('T2 commits first while T1 is open: the follower skips nothing when T1 commits', async () => {
    const before = (await allInOrder()).length;
    const follower = new Follower(reader);
    await follower.poll();
    const t1 = await writer.pool.connect();
    const t2 = await writer.pool.connect();
    try {
      await t1.query('BEGIN');
      await t2.query('BEGIN');
      const e1 = makeEvent();
      const e2 = makeEvent();
      await writer.appendInTransaction(t1, [e1], { now });
      await writer.appendInTransaction(t2, [e2], { now });
      await t2.query('COMMIT');
      await follower.poll();
      // e2 is committed, but T1, which took its position first, is still open: moving past e2
      // now would skip e1 forever.
      expect(ids(follower.seen.slice(before))).toEqual([]);
      await t1.query('COMMIT');
      await waitFor(async () => {
        await follower.poll();
        return follower.seen.length - before === 2;
      });
      expect(ids(follower.seen.slice(before))).toEqual([e1.id, e2.id]);
    } finally {
      t1.release();
      t2.release();
    }
  });

  it('200 random interleavings of open transactions: the follower ends with exactly the committed events, in order', async () => {
    for (let seed = 1; seed <= 200; seed++) {
      const rnd = random(seed);
      const follower = new Follower(reader);
      await follower.poll();
      const start = follower.seen.length;
      const count = 2 + Math.floor(rnd() * 2);
      const clients: pg.PoolClient[] = [];
      for (let i = 0; i < count; i++) clients.push(await writer.pool.connect());
      const committed = new Set<string>();
      try {
        // Each transaction: BEGIN, 1–3 appends of 1–3 events, then COMMIT (or ROLLBACK).
        type Step = { tx: number; kind: 'begin' | 'append' | 'end' };
        const plans: Step[][] = clients.map((_, tx) => [
          { tx, kind: 'begin' },
          ...Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => ({ tx, kind: 'append' as const })),
          { tx, kind: 'end' },
        ]);
        const written: string[][] = clients.map(() => []);
        while (plans.some((p) => p.length > 0)) {
          const open = plans.filter((p) => p.length > 0);
          const step = open[Math.floor(rnd() * open.length)]!.shift()!;
          const client = clients[step.tx]!;
          if (step.kind === 'begin') await client.query('BEGIN');
          else if (step.kind === 'append') {
            const batch = Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => makeEvent());
            await writer.appendInTransaction(client, batch, { now });
            written[step.tx]!.push(...ids(batch));
          } else if (rnd() < 0.15) {
            await client.query('ROLLBACK');
          } else {
            await client.query('COMMIT');
            for (const id of written[step.tx]!) committed.add(id);
          }
          await follower.poll();
        }
      } finally {
        for (const c of clients) c.release();
      }
      await waitFor(
        async () => {
          await follower.poll();
          return follower.seen.length - start >= committed.size;
        },
        { message: `seed ${seed}: the follower did not catch up` },
      );
      const followed = ids(follower.seen.slice(start));
      expect(new Set(followed), `seed ${seed}`).toEqual(committed);
      expect(followed.length, `seed ${seed}: duplicates`).toBe(committed.size);
    }
    const all = await allInOrder();
    const follower = new Follower(reader);
    await follower.poll();
    expect(ids(follower.seen)).toEqual(all);
  });

  it('16 writers × 2 000 appends with random delays, tailed by a follower: same set, position order, no duplicate', async () => {
    const before = await allInOrder();
    const follower = new Follower(reader);
    await follower.poll();
    const committed = new Set<string>();
    let writing = true;
    const tail = (async () => {
      while (writing) {
        await follower.poll();
        await sleep(1);
      }
    })();
    await Promise.all(
      Array.from({ length: 16 }, async (_, w) => {
        const rnd = random(1000 + w);
        for (let i = 0; i < 2000; i++) {
          const event = makeEvent({ aggregateId: `w${w}` });
          if (w % 2 === 0) {
            // Half the writers hold their transaction open a little after appending, so commits
            // land out of position order.
            const client = await writer.pool.connect();
            try {
              await client.query('BEGIN');
              await writer.appendInTransaction(client, [event], { now });
              if (rnd() < 0.3) await sleep(Math.floor(rnd() * 3));
              await client.query('COMMIT');
            } finally {
              client.release();
            }
          } else {
            await writer.append([event], { now });
            if (rnd() < 0.1) await sleep(Math.floor(rnd() * 2));
          }
          committed.add(event.id);
        }
      }),
    );
    writing = false;
    await tail;
    await waitFor(
      async () => {
        await follower.poll();
        return follower.seen.length >= before.length + committed.size;
      },
      { timeoutMs: 30_000 },
    );
    const followed = ids(follower.seen);
    expect(followed.length).toBe(before.length + committed.size);
    expect(new Set(followed).size).toBe(followed.length);
    expect(new Set(followed.slice(before.length))).toEqual(committed);
    for (let i = 1; i < follower.seen.length; i++) {
      expect(comparePositions(follower.seen[i]!.position, follower.seen[i - 1]!.position)).toBeGreaterThan(0);
    }
    expect(followed).toEqual(await allInOrder());
  });
});
