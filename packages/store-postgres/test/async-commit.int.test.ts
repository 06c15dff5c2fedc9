import type { ClaimedDelivery } from '@evco/core/adapter';
import { makeEvent, startPrivatePostgres } from '@evco/testkit';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { createPostgresStore, type PostgresStore } from '../src/index.js';
import { type PgBouncer, startPgBouncer } from './pgbouncer.js';
import { connect, createTestStore, databaseUrl, dropSchema, uniqueSchema } from './support.js';

const now = new Date('2026-01-01T00:00:00.000Z');
const at = (ms: number) => new Date(now.getTime() + ms);
const LEASE = 60_000;
const claim = (store: PostgresStore, consumerId: string, when = now) =>
  store.claimDue({ consumerId, handlers: ['h'], now: when, leaseMs: LEASE, limit: 10 });

/** Unordered: no claim here waits for the settled horizon, which other users of a shared server hold back. */
async function subscribe(store: PostgresStore): Promise<void> {
  await store.registerSubscriptions([{ eventType: 'TestHappened', handler: 'h', ordering: 'none' }], {
    consumerId: 'c',
    now,
    ttlMs: 3_600_000,
  });
}

/**
 * A pool that runs each statement of the store in an explicit transaction and reads, before
 * COMMIT, the `synchronous_commit` the statement left for it: what its commit would wait for.
 */
function recordingPool(url: string) {
  const seen: Array<{ text: string; synchronousCommit: string }> = [];
  const inner = new pg.Pool({ connectionString: url, max: 1 });
  const pool = {
    // pg.Pool's two forms: a config, or text and values (the store's schema-version check).
    async query(configOrText: pg.QueryConfig | string, values?: unknown[]) {
      const config = typeof configOrText === 'string' ? { text: configOrText, values } : configOrText;
      const client = await inner.connect();
      try {
        await client.query('BEGIN');
        const result = await client.query(config);
        const setting = await client.query<{ s: string }>(
          `SELECT current_setting('synchronous_commit') AS s`,
        );
        await client.query('COMMIT');
        seen.push({ text: config.text, synchronousCommit: setting.rows[0]!.s });
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {});
        throw error;
      } finally {
        client.release();
      }
    },
    connect: () => inner.connect(),
    end: () => inner.end(),
  };
  return { pool: pool as unknown as pg.Pool, seen, end: () => inner.end() };
}

describe("asyncCommit: 'leases'", () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  const cases = [
    { mode: 'leases', via: 'direct' },
    { mode: 'none', via: 'direct' },
    { mode: 'leases', via: 'PgBouncer (transaction pooling)' },
  ] as const;
  for (const { mode, via } of cases) {
    const behindBouncer = via !== 'direct';
    // Through PgBouncer: without the system's, startPgBouncer fails saying what to install.
    it(`${mode}, ${via}: ${mode === 'leases' ? 'claims, completions, failures and releases commit without the flush wait (also when they match nothing); appends wait, also after them on the same session' : 'every write waits for its flush'}`, async () => {
      const owner = await createTestStore();
      cleanup.push(async () => {
        await owner.close();
        await dropSchema(owner.schema);
      });
      await subscribe(owner);
      let url = await databaseUrl();
      if (behindBouncer) {
        const bouncer: PgBouncer = await startPgBouncer(url);
        cleanup.push(() => bouncer.stop());
        url = bouncer.url;
      }
      const recording = recordingPool(url);
      const store = createPostgresStore({
        pool: recording.pool,
        schema: owner.schema,
        asyncCommit: mode,
        ...(behindBouncer ? { pooler: 'transaction' as const } : {}),
      });
      cleanup.push(recording.end);
      const kind = (text: string) =>
        text.includes('INSERT INTO') && text.includes('.events')
          ? 'append'
          : text.includes('SKIP LOCKED')
            ? text.includes('DELETE FROM')
              ? 'completeAndClaim'
              : 'claim'
            : text.trimStart().startsWith('DELETE')
              ? 'complete'
              : text.includes('dead_letters')
                ? 'fail'
                : 'release';
      const events = [
        makeEvent({ aggregateId: 'a' }),
        makeEvent({ aggregateId: 'b' }),
        makeEvent({ aggregateId: 'c' }),
      ];
      await store.append(events, { now });
      const [first, second, third] = await claim(store, 'x');
      await store.completeAndClaim([first!], {
        consumerId: 'x',
        handlers: ['h'],
        now,
        leaseMs: LEASE,
        limit: 10,
      });
      await store.complete([second!], { now });
      await store.fail([{ ...third!, error: 'boom', nextAttemptAt: at(1) }], { now });
      const [again] = await claim(store, 'x', at(1));
      await store.release([again!], { now: at(2) });
      // Nothing left to match: the statements still choose their commit.
      expect(await claim(store, 'x', at(-1))).toEqual([]);
      await store.complete([second!], { now });
      await store.fail([{ ...second!, error: 'late', nextAttemptAt: null }], { now });
      await store.release([second!], { now });
      // Local to each statement's transaction: the next one on the same session waits again.
      await store.append([makeEvent({ aggregateId: 'd' })], { now });

      const byKind = new Map<string, Set<string>>();
      for (const s of recording.seen) {
        // A claim may wait for the settled horizon (transactions of others on a shared server): a read.
        if (s.text.trimStart().startsWith('SELECT')) continue;
        const k = kind(s.text);
        byKind.set(k, (byKind.get(k) ?? new Set()).add(s.synchronousCommit));
      }
      const lease = mode === 'leases' ? 'off' : 'on';
      expect(Object.fromEntries([...byKind].map(([k, v]) => [k, [...v]]))).toEqual({
        append: ['on'],
        claim: [lease],
        completeAndClaim: [lease],
        complete: [lease],
        fail: [lease],
        release: [lease],
      });
      expect(await owner.getUnprocessedEvents({ limit: 10 })).toHaveLength(2);
    });
  }

  it('a lease token from a claim the store lost never matches the claim issued again at the same attempt', async () => {
    const store = await createTestStore({ asyncCommit: 'leases' });
    cleanup.push(async () => {
      await store.close();
      await dropSchema(store.schema);
    });
    await subscribe(store);
    const event = makeEvent({ aggregateId: 'a' });
    await store.append([event], { now });
    // What a crash that loses the asynchronous commit of a claim leaves: the row as before it.
    const loseClaim = async () => {
      const sql = await connect();
      try {
        const reset = await sql.query(
          `UPDATE "${store.schema}".deliveries SET attempts = 0, lease_owner = NULL, next_attempt_at = $1`,
          [now.toISOString()],
        );
        expect(reset.rowCount).toBe(1);
      } finally {
        await sql.end();
      }
    };
    // A restarted process (a new store on the schema, the same consumer id) claims it first...
    const restarted = createPostgresStore({ connectionString: await databaseUrl(), schema: store.schema });
    const [earlier] = await claim(restarted, 'x');
    await restarted.close();
    await loseClaim();
    // ...then this one, twice: the same delivery at the same attempt each time, never the same lease.
    const [stale] = await claim(store, 'x');
    await loseClaim();
    const [current] = await claim(store, 'x', at(1));
    expect([current!.deliveryId, current!.attempt]).toEqual([stale!.deliveryId, stale!.attempt]);
    expect([earlier!.deliveryId, earlier!.attempt]).toEqual([stale!.deliveryId, stale!.attempt]);
    expect(new Set([earlier!.lease, stale!.lease, current!.lease]).size).toBe(3);
    await store.complete([earlier!], { now: at(2) });

    // The stale holder finishes, fails (a dead letter at its last attempt) or lets go: nothing changes.
    await store.fail([{ ...stale!, error: 'stale', nextAttemptAt: null }], { now: at(2) });
    await store.complete([stale!], { now: at(3) });
    await store.release([stale!], { now: at(4) });
    expect(await store.completeAndClaim([stale!], { ...request(at(5)), consumerId: 'y' })).toEqual([]);
    const [delivery] = await store.getDeliveries(event.id);
    expect(delivery).toMatchObject({ status: 'running', attempts: 1, lastError: null });
    expect(await store.getDeadLetters({ limit: 10 })).toEqual([]);

    // The current holder's token still works.
    await store.complete([current!], { now: at(6) });
    expect(await store.getDeliveries(event.id)).toEqual([]);
  });

  it('after a crash that lost a claim, the stale token is ignored and the acknowledged append is there (private server)', async () => {
    const server = await startPrivatePostgres();
    cleanup.push(() => server.destroy());
    const admin = new pg.Client({ connectionString: server.url });
    await admin.connect();
    // Asynchronous commits reach the WAL file only when the WAL writer wakes (every
    // wal_writer_delay) or a synchronous commit flushes them: a 10 s delay, no autovacuum and
    // nothing else committing leave the claim's commit in shared memory until the crash.
    await admin.query(`ALTER SYSTEM SET wal_writer_delay = '10s'`);
    await admin.query('ALTER SYSTEM SET autovacuum = off');
    await admin.end();
    await server.crash();
    await server.start();

    const schema = uniqueSchema();
    const open = async () => {
      const s = createPostgresStore({
        connectionString: server.url,
        schema,
        poolSize: 2,
        asyncCommit: 'leases',
      });
      cleanup.push(() => s.close());
      await s.migrate();
      return s;
    };
    let store = await open();
    await subscribe(store);
    let lost: { stale: ClaimedDelivery; eventId: string } | undefined;
    // The WAL writer may still wake just before the crash: try a few times.
    for (let round = 0; round < 3 && !lost; round++) {
      const event = makeEvent({ aggregateId: `a${round}` });
      await store.append([event], { now });
      const [claimed] = await claim(store, 'x');
      expect(claimed!.event.id).toBe(event.id);
      await server.crash();
      await server.start();
      await store.close();
      store = await open();
      // The acknowledged (synchronously committed) append survived the crash.
      expect((await store.getEvent(event.id))?.id).toBe(event.id);
      const [delivery] = await store.getDeliveries(event.id);
      if (delivery!.status === 'pending') lost = { stale: claimed!, eventId: event.id };
    }
    expect(lost, 'no claim was lost in three crashes: asynchronous commit not in effect').toBeDefined();
    const { stale, eventId } = lost!;
    const [current] = await claim(store, 'y', at(1));
    expect([current!.deliveryId, current!.attempt]).toEqual([stale.deliveryId, stale.attempt]);
    await store.fail([{ ...stale, error: 'stale', nextAttemptAt: null }], { now: at(2) });
    await store.complete([stale], { now: at(3) });
    expect((await store.getDeliveries(eventId))[0]).toMatchObject({
      status: 'running',
      attempts: stale.attempt,
    });
    expect(await store.getDeadLetters({ limit: 10 })).toEqual([]);
    await store.complete([current!], { now: at(4) });
    expect(await store.getDeliveries(eventId)).toEqual([]);
  });
});

function request(when: Date) {
  return { consumerId: 'x', handlers: ['h'], now: when, leaseMs: LEASE, limit: 10 };
}
