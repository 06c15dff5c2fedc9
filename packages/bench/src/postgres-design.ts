import { createPostgresStore, POSITION_BLOCK } from '@evco/store-postgres';
import pg from 'pg';
import { databaseUrl } from './env.js';
import {
  alternate,
  type BenchSection,
  type Contender,
  countingCoordinator,
  percentile,
  round,
} from './harness.js';
import { countEach, cpuTimes, PROBE } from './pg-counters.js';
import { insertConcurrently, publishAndDrain, rawDdl, rawInsert } from './postgres.js';

/**
 * A design probe for the Postgres end-to-end case (8 concurrent publishers, one handler, every
 * delivery completed): what the delivery-row design costs by itself, what evco adds on top of
 * it, and what a per-handler checkpoint design would cost at best. Measured in one run, in turns:
 *
 * - raw: the `postgres` section's baseline, a single-row INSERT ×8, unnamed (parsed and planned
 *   each time), and the same INSERT as a named statement (parsed and planned once per
 *   connection), as every statement of the prototypes and of evco is;
 * - rows: hand-written SQL of evco's design at its minimum. The append inserts the event and one
 *   delivery row per subscription of its type in one statement; one consumer in this process
 *   leases the oldest open deliveries (`FOR UPDATE SKIP LOCKED` and a lease update returning the
 *   event's columns), counts them, and deletes them in its next claim statement;
 * - checkpoint: the append is the raw INSERT alone (with evco's gap-safe positions); a cursor row
 *   per handler (`claimed_upto`, `done_upto`) and a lease row per claimed range. One statement
 *   completes the previous range (deletes its lease, moves `done_upto`) and claims the next: the
 *   handler's events above `claimed_upto` and below the settled horizon;
 * - evco: `createPostgresStore` + a coordinator with a counting handler, as in the `postgres` section.
 *
 * Every flow counts each event it handles and fails the section when an event was handled twice,
 * or when, at the end of a round, an event was not handled or a delivery or lease is left.
 * The prototypes cover the no-crash case only: no retries, no lease expiry (the rows claim does
 * take expired leases, the checkpoint one does not), no per-aggregate order.
 */
const SCHEMA = 'evco_bench_design';
const TOTAL = 4000;
/** Measured rounds per flow, in turns (after one warm-up turn). */
const ROUNDS = 5;
export const TYPE = 'DesignHappened';
export const HANDLER = 'design';
/** The lease any claim takes: long enough never to expire within a round. */
const LEASE = `interval '60 seconds'`;

type Row = Record<string, unknown> & { position: string; event_id: string };

/** What one claim statement leased, handed back to the next one to complete. */
interface Batch {
  rows: Row[];
  lease: string;
}

/**
 * One consumer loop, in this process like evco's coordinator: each statement completes the
 * previous batch and claims the next (`step`). It runs while there is work, then waits for a
 * publisher's `ring`; a ring during a statement makes it claim once more.
 */
class Consumer {
  readonly seen = new Set<string>();
  claims = 0;
  #rung = false;
  #wake: (() => void) | undefined;
  #idle = true;
  #stopped = false;
  #failure: unknown;
  #loop: Promise<void>;

  constructor(step: (completing: Batch | undefined) => Promise<Batch | undefined>) {
    this.#loop = this.#run(step).catch((error) => {
      this.#failure = error;
    });
  }

  ring(): void {
    this.#rung = true;
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async #run(step: (completing: Batch | undefined) => Promise<Batch | undefined>): Promise<void> {
    let completing: Batch | undefined;
    while (!this.#stopped) {
      this.#rung = false;
      this.#idle = false;
      const batch = await step(completing);
      this.claims++;
      completing = batch;
      for (const row of batch?.rows ?? []) {
        if (this.seen.has(row.event_id)) throw new Error(`event ${row.event_id} handled twice`);
        this.seen.add(row.event_id);
      }
      if (batch) continue;
      // Nothing claimed and nothing left to complete.
      this.#idle = true;
      if (!this.#rung && !this.#stopped) await new Promise<void>((r) => (this.#wake = r));
    }
  }

  /**
   * Resolves when `target` events have been handled and their completion is written. Called once
   * every event is committed: an idle consumer short of the target then only waits for the
   * horizon to pass a late commit (the last publisher's ring came while a transaction that
   * started earlier still ran), and is rung again every 10 ms, as evco waits for the horizon.
   */
  async drained(target: number): Promise<void> {
    for (let waits = 1; this.#failure === undefined; waits++) {
      if (this.seen.size >= target && this.#idle && !this.#rung) return;
      await new Promise((r) => setTimeout(r, 1));
      if (this.#idle && waits % 10 === 0) this.ring();
    }
    throw this.#failure;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.ring();
    await this.#loop;
  }
}

/** The median (nearest rank) of a few values. */
const middle = (values: number[]) =>
  percentile(
    [...values].sort((a, b) => a - b),
    50,
  );

/** Throws unless `actual` equals `expected`: a prototype that is wrong must not print a rate. */
function expectEqual(what: string, actual: unknown, expected: unknown): void {
  if (String(actual) !== String(expected))
    throw new Error(`[postgres-design] ${what}: ${String(actual)}, expected ${String(expected)}`);
}

const EVENT_COLUMNS = `e.position, e.event_id, e.event_type, e.aggregate_id, e.aggregate_type,
  e.aggregate_version, e.event_data, e.metadata, e.occurred_at, e.recorded_at`;

/** The delivery-row design at its minimum: one row per (event, handler), one index. */
export const rowsDdl = (s: string) => `${rawDdl(s, 'xid')}
CREATE TABLE ${s}.subscriptions (event_type text NOT NULL, handler text NOT NULL, PRIMARY KEY (event_type, handler));
INSERT INTO ${s}.subscriptions VALUES ('${TYPE}', '${HANDLER}');
CREATE TABLE ${s}.deliveries (
  handler text NOT NULL,
  position bigint NOT NULL,
  attempts integer NOT NULL DEFAULT 0,
  -- When anyone may claim it: now for a new delivery, the lease expiry while it is leased.
  next_attempt_at timestamptz NOT NULL,
  lease_owner text,
  PRIMARY KEY (handler, position)
) WITH (fillfactor = 70);`;

/** The event and a delivery per subscription of its type, one statement; the raw INSERT's parameters. */
export const rowsAppend = (s: string) => `WITH inserted AS (
${rawInsert(s, 'xid')}
  RETURNING position, event_type
)
INSERT INTO ${s}.deliveries (handler, position, next_attempt_at)
SELECT sub.handler, i.position, now() FROM inserted i JOIN ${s}.subscriptions sub ON sub.event_type = i.event_type`;

/**
 * Deletes the deliveries of the previous claim ($2 positions, $3 its lease) and leases up to $4
 * of the handler's ($1) oldest claimable ones under lease $5, returning their events. A
 * statement's parts share one snapshot: the claim skips the rows the same statement deletes.
 */
export const rowsClaim = (s: string) => `WITH done AS (
  DELETE FROM ${s}.deliveries d WHERE d.handler = $1 AND d.position = ANY($2::bigint[]) AND d.lease_owner = $3
), picked AS (
  SELECT d.position FROM ${s}.deliveries d
  WHERE d.handler = $1 AND d.next_attempt_at <= now() AND d.position <> ALL($2::bigint[])
  ORDER BY d.position LIMIT $4
  FOR UPDATE SKIP LOCKED
), claimed AS (
  UPDATE ${s}.deliveries d SET attempts = d.attempts + 1, lease_owner = $5, next_attempt_at = now() + ${LEASE}
  FROM picked WHERE d.handler = $1 AND d.position = picked.position
  RETURNING d.position, d.attempts
)
SELECT c.attempts, ${EVENT_COLUMNS} FROM claimed c JOIN ${s}.events e ON e.position = c.position
ORDER BY e.position`;

/** The checkpoint design: the raw events table, a cursor per handler, a lease per claimed range. */
const checkpointDdl = (s: string) => `${rawDdl(s, 'xid')}
CREATE TABLE ${s}.cursors (
  handler text PRIMARY KEY,
  -- Every event of the handler's types at or below it is leased or done.
  claimed_upto bigint NOT NULL,
  -- Every event of the handler's types at or below it is done.
  done_upto bigint NOT NULL
);
INSERT INTO ${s}.cursors VALUES ('${HANDLER}', 0, 0);
CREATE TABLE ${s}.ranges (
  handler text NOT NULL,
  from_position bigint NOT NULL,
  to_position bigint NOT NULL,
  lease_owner text NOT NULL,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (handler, from_position)
);`;

/**
 * Completes the previous range ($2 its first position, $3 its lease: deletes the lease row) and
 * claims the next: up to $5 events of type $4 above the cursor and below the horizon, the first
 * position a transaction still running could own (evco's `HORIZON`), so a late commit is never
 * skipped. Records the new range's lease ($6) and moves the cursor: `claimed_upto` to the
 * range's end, `done_upto` to just below the oldest range still leased. `FOR UPDATE` on the
 * cursor serializes claims of one handler (a second consumer waits, then sees the moved cursor).
 */
const checkpointClaim = (s: string) => `WITH done AS (
  DELETE FROM ${s}.ranges r WHERE r.handler = $1 AND r.from_position = $2 AND r.lease_owner = $3
), cur AS MATERIALIZED (
  SELECT c.claimed_upto FROM ${s}.cursors c WHERE c.handler = $1 FOR UPDATE
), picked AS MATERIALIZED (
  SELECT ${EVENT_COLUMNS} FROM ${s}.events e
  WHERE e.event_type = $4 AND e.position > (SELECT claimed_upto FROM cur)
    AND e.position < (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint * ${POSITION_BLOCK})
  ORDER BY e.position LIMIT $5
), leased AS (
  INSERT INTO ${s}.ranges (handler, from_position, to_position, lease_owner, expires_at)
  SELECT $1, min(p.position), max(p.position), $6, now() + ${LEASE} FROM picked p HAVING count(*) > 0
), moved AS (
  UPDATE ${s}.cursors c SET
    claimed_upto = coalesce((SELECT max(p.position) FROM picked p), c.claimed_upto),
    done_upto = coalesce(least(
      (SELECT min(r.from_position) FROM ${s}.ranges r
        WHERE r.handler = $1 AND r.from_position IS DISTINCT FROM $2::bigint),
      (SELECT min(p.position) FROM picked p)) - 1,
      (SELECT max(p.position) FROM picked p), c.claimed_upto)
  WHERE c.handler = $1
)
SELECT * FROM picked ORDER BY position`;

interface Prototype {
  contender: Contender;
  consumer: Consumer;
  close(): Promise<void>;
}

/**
 * A prototype flow on schema `s`: 8 publishers inserting with `append` (ringing the consumer's
 * bell after each commit), one consumer claiming with `claim` (`params` builds its parameters),
 * and `verify`, the end-of-round checks against the store.
 */
async function prototype(
  name: string,
  s: string,
  ddl: string,
  append: string,
  claim: { text: string; params: (completing: Batch | undefined, lease: string) => unknown[] },
  verify: (pool: pg.Pool, handled: number) => Promise<void>,
): Promise<Prototype> {
  // 8 publishers and the consumer's connection; connections never idle out (see `counters`).
  // Every statement is named: parsed and planned once per connection, as evco's are.
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 9, idleTimeoutMillis: 0 });
  await pool.query(ddl);
  const client = await pool.connect();
  // The claims are meant to walk their index in order and stop at the limit. Their generic plans,
  // made while the tables are empty, would otherwise read the whole backlog each time (a bitmap
  // scan and a sort: 12 ms per claim over 24 000 done deliveries, measured), and a plan made after
  // an ANALYZE scans the table, whose dead rows the statistics do not count.
  await client.query('SET enable_seqscan = off; SET enable_bitmapscan = off');
  let leases = 0;
  const consumer = new Consumer(async (completing) => {
    const lease = `${name}:${++leases}`;
    const { rows } = await client.query<Row>({
      name: `claim-${s}`,
      text: claim.text,
      values: claim.params(completing, lease),
    });
    return rows.length > 0 ? { rows, lease } : undefined;
  });
  return {
    consumer,
    close: async () => {
      await consumer.stop();
      client.release();
      await pool.end();
    },
    contender: {
      name,
      fn: async () => {
        const target = consumer.seen.size + TOTAL;
        await insertConcurrently(pool, { name: `append-${s}`, text: append }, TOTAL, TYPE, () =>
          consumer.ring(),
        );
        await consumer.drained(target);
      },
      check: () => verify(pool, consumer.seen.size),
    },
  };
}

export const postgresDesignSection: BenchSection = {
  name: 'postgres-design',
  onlyWhenNamed: true,
  async run() {
    const admin = new pg.Pool({ connectionString: databaseUrl, max: 8, idleTimeoutMillis: 0 });
    const cleanups: Array<() => Promise<void>> = [];
    try {
      const raw = `${SCHEMA}_raw`;
      await admin.query(rawDdl(raw));
      let inserted = 0;
      const rawCheck = async () => {
        const { rows } = await admin.query(`${PROBE}SELECT count(*)::int AS n FROM ${raw}.events`);
        expectEqual('raw: events stored', rows[0].n, inserted);
      };
      const flows: Contender[] = [
        {
          name: 'raw: pg INSERT … VALUES ×8',
          fn: async () => {
            await insertConcurrently(admin, rawInsert(raw), TOTAL, TYPE);
            inserted += TOTAL;
          },
          check: rawCheck,
        },
        {
          name: 'raw, named statement',
          fn: async () => {
            await insertConcurrently(admin, { name: 'raw-insert', text: rawInsert(raw) }, TOTAL, TYPE);
            inserted += TOTAL;
          },
          check: rawCheck,
        },
      ];
      const protos: Array<[string, Prototype]> = [];
      for (const limit of [10, 64]) {
        const s = `${SCHEMA}_rows${limit}`;
        const p = await prototype(
          `rows (claims of up to ${limit})`,
          s,
          rowsDdl(s),
          rowsAppend(s),
          {
            text: rowsClaim(s),
            params: (completing, lease) => [
              HANDLER,
              completing?.rows.map((r) => r.position) ?? [],
              completing?.lease ?? null,
              limit,
              lease,
            ],
          },
          async (pool, handled) => {
            const { rows } = await pool.query(
              `${PROBE}SELECT (SELECT count(*) FROM ${s}.events)::int AS events,
                 (SELECT count(*) FROM ${s}.deliveries)::int AS deliveries`,
            );
            expectEqual(`rows ${limit}: events handled`, handled, rows[0].events);
            expectEqual(`rows ${limit}: deliveries left`, rows[0].deliveries, 0);
          },
        );
        protos.push([s, p]);
      }
      for (const limit of [10, 64]) {
        const s = `${SCHEMA}_checkpoint${limit}`;
        const p = await prototype(
          `checkpoint (ranges of up to ${limit})`,
          s,
          checkpointDdl(s),
          rawInsert(s, 'xid'),
          {
            text: checkpointClaim(s),
            params: (completing, lease) => [
              HANDLER,
              completing?.rows[0]?.position ?? null,
              completing?.lease ?? null,
              TYPE,
              limit,
              lease,
            ],
          },
          async (pool, handled) => {
            const { rows } = await pool.query(
              `${PROBE}SELECT (SELECT count(*) FROM ${s}.events)::int AS events,
                 (SELECT max(position) FROM ${s}.events)::text AS last,
                 (SELECT count(*) FROM ${s}.ranges)::int AS ranges, c.claimed_upto::text, c.done_upto::text
               FROM ${s}.cursors c WHERE c.handler = '${HANDLER}'`,
            );
            const r = rows[0];
            expectEqual(`checkpoint ${limit}: events handled`, handled, r.events);
            expectEqual(`checkpoint ${limit}: ranges left`, r.ranges, 0);
            expectEqual(`checkpoint ${limit}: cursor done_upto`, r.done_upto, r.last);
            expectEqual(`checkpoint ${limit}: cursor claimed_upto`, r.claimed_upto, r.last);
          },
        );
        protos.push([s, p]);
      }
      for (const [s, p] of protos) {
        cleanups.push(async () => {
          await p.close();
          await admin.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
        });
        flows.push(p.contender);
      }
      for (const asyncCommit of ['none', 'leases'] as const) {
        const s = `${SCHEMA}_evco_${asyncCommit}`;
        await admin.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
        const store = createPostgresStore({
          connectionString: databaseUrl,
          schema: s,
          poolSize: 10,
          asyncCommit,
        });
        const seen = new Set<string>();
        const run = await countingCoordinator(store, {
          eventType: TYPE,
          name: HANDLER,
          ordering: 'none',
          around: (count) => async (event) => {
            if (seen.has(event.id))
              throw new Error(`[postgres-design] evco: event ${event.id} handled twice`);
            seen.add(event.id);
            await count();
          },
        });
        cleanups.push(async () => {
          await run.coordinator.shutdown();
          await admin.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
        });
        flows.push({
          name: `evco (asyncCommit: ${asyncCommit})`,
          fn: () => publishAndDrain(run, TOTAL, TYPE),
          check: async () => {
            const { rows } = await admin.query(
              `${PROBE}SELECT (SELECT count(*) FROM ${s}.events)::int AS events,
                 (SELECT count(*) FROM ${s}.deliveries)::int AS deliveries`,
            );
            expectEqual(`evco ${asyncCommit}: events handled`, seen.size, rows[0].events);
            expectEqual(`evco ${asyncCommit}: handler calls`, run.handled(), rows[0].events);
            expectEqual(`evco ${asyncCommit}: deliveries left`, rows[0].deliveries, 0);
          },
        });
      }

      // Rates: one warm-up turn, then ROUNDS, each flow's best round; the CPU time of each round
      // (this process and the server's), read outside the timed part.
      const cpu = flows.map(() => [] as Array<{ node: number; server: number | undefined }>);
      const rates = await alternate(
        TOTAL,
        flows.map((flow, k) => {
          let before: Awaited<ReturnType<typeof cpuTimes>>;
          return {
            ...flow,
            setup: async () => {
              before = await cpuTimes(admin);
            },
            check: async () => {
              const after = await cpuTimes(admin);
              cpu[k]!.push({
                node: (after.nodeCpu - before.nodeCpu) / TOTAL,
                server:
                  after.serverCpu === undefined || before.serverCpu === undefined
                    ? undefined
                    : (after.serverCpu - before.serverCpu) / TOTAL,
              });
              await flow.check?.();
            },
          };
        }),
        { rounds: ROUNDS, warmup: 1 },
      );
      // Costs: one more round of each, counted (server-wide counters, settled).
      const claimsBefore = protos.map(([, p]) => p.consumer.claims);
      const costs = await countEach(admin, flows, TOTAL);
      const claimsPerEvent = new Map(
        protos.map(([, p], k) => [
          p.contender.name,
          round((p.consumer.claims - claimsBefore[k]!) / TOTAL, 3),
        ]),
      );
      const rawRate = rates[0]!.opsPerSec;
      return [
        {
          name: `design probe: ${TOTAL} events, 8 publishers, one handler, completed`,
          note: `events/s: best of ${ROUNDS} alternating rounds; CPU: median of those rounds; WAL records and statements: one more round each, counted (server-wide counters)`,
          flows: rates.map((r, k) => {
            const c = costs[r.name]!;
            // The measured rounds (the warm-up's left out).
            const rounds = cpu[k]!.slice(1);
            const server = rounds.map((x) => x.server);
            return {
              flow: r.name,
              eventsPerSec: r.opsPerSec,
              ratioToRaw: round(r.opsPerSec / rawRate),
              nodeCpuUs: Math.round(middle(rounds.map((x) => x.node))),
              serverCpuUs: server.every((x) => x !== undefined)
                ? Math.round(middle(server as number[]))
                : 'server not on this machine',
              walRecords: c.walRecords,
              statements: c.statements,
              ...(claimsPerEvent.has(r.name) ? { claimStatements: claimsPerEvent.get(r.name) } : {}),
            };
          }),
          rates,
          costs,
        },
      ];
    } finally {
      for (const cleanup of cleanups.reverse()) await cleanup();
      await admin.query(`DROP SCHEMA IF EXISTS ${SCHEMA}_raw CASCADE`);
      await admin.end();
    }
  },
};
