import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDomainEvent, type DomainEvent } from '@evco/core';
import { createSqliteStore } from '@evco/store-sqlite';
import Database from 'better-sqlite3';
import { type BenchSection, type Comparison, compare, countingCoordinator } from './harness.js';
import { createRawEventsTable } from './sqlite-fill.js';

const WARMUP = 1;
const ROUNDS = 3;

function events(n: number): DomainEvent[] {
  return Array.from({ length: n }, (_, i) =>
    createDomainEvent({
      eventType: 'BenchHappened',
      aggregateId: `bench-${i % 997}`,
      aggregateType: 'Bench',
      eventData: { index: i, name: `user-${i}`, email: `user-${i}@example.com`, tags: ['a', 'b'] },
    }),
  );
}

/**
 * Fresh events for every run of a contender, made before any timing starts: event ids are
 * unique, and creating (validating) events is not what is measured here.
 */
function eventSets(runs: number, n: number): () => DomainEvent[] {
  const sets = Array.from({ length: runs }, () => events(n));
  return () => {
    const next = sets.shift();
    if (!next) throw new Error('bench: ran out of prepared events');
    return next;
  };
}

/**
 * The raw baseline: better-sqlite3 by hand on the very same schema (made by the store's own
 * migrations under another table prefix, in another file, with the same pragmas), one prepared
 * INSERT per row, serializing the same event objects the same way (JSON text, ISO-8601 text).
 */
/** An event as the raw `raw_events` INSERT's parameters (dates as ISO text, as SQLite keeps them). */
export function rawSqliteValues(e: DomainEvent, now: string): unknown[] {
  return [
    e.id,
    e.eventType,
    e.aggregateId,
    e.aggregateType ?? null,
    e.aggregateVersion ?? null,
    JSON.stringify(e.eventData),
    JSON.stringify(e.metadata),
    e.occurredAt.toISOString(),
    now,
  ];
}

function rawDatabase(file: string) {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  const insert = db.prepare(`INSERT INTO raw_events (id, event_type, aggregate_id, aggregate_type,
    aggregate_version, event_data, metadata, occurred_at, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  const row = (e: DomainEvent, now: string) => insert.run(...rawSqliteValues(e, now));
  const batch = db.transaction((list: DomainEvent[], now: string) => {
    for (const e of list) row(e, now);
  });
  const page = db.prepare(`SELECT position, id, event_type, aggregate_id, aggregate_type, aggregate_version,
    event_data, metadata, occurred_at, recorded_at FROM raw_events WHERE position > ? ORDER BY position LIMIT ?`);
  return { db, row, batch, page };
}

export const sqliteSection: BenchSection = {
  name: 'sqlite',
  async run() {
    const dir = mkdtempSync(join(tmpdir(), 'evco-bench-sqlite-'));
    const out: Array<Comparison | Record<string, unknown>> = [];
    try {
      const rawFile = join(dir, 'raw.db');
      const schema = createSqliteStore({ filename: rawFile, tablePrefix: 'raw_' });
      await schema.migrate();
      await schema.close();
      // One table of the events, no periods (see createRawEventsTable).
      {
        const db = new Database(rawFile);
        createRawEventsTable(db, 'raw_');
        db.close();
      }
      const raw = rawDatabase(rawFile);
      const store = createSqliteStore({ filename: join(dir, 'evco.db') });
      await store.migrate();
      const runs = WARMUP + ROUNDS;
      const now = new Date();
      const nowIso = now.toISOString();

      const batches = 20;
      const batchSize = 500;
      {
        const rawSets = eventSets(runs * batches, batchSize);
        const evcoSets = eventSets(runs * batches, batchSize);
        out.push(
          await compare(
            'append: 500-event batches',
            batches * batchSize,
            {
              name: 'better-sqlite3 INSERT ×500 in one transaction',
              fn: async () => {
                for (let b = 0; b < batches; b++) raw.batch(rawSets(), nowIso);
              },
            },
            {
              name: 'store.append(batch)',
              fn: async () => {
                for (let b = 0; b < batches; b++) await store.append(evcoSets(), { now });
              },
            },
            { goal: '>= 0.9', warmup: WARMUP, rounds: ROUNDS },
          ),
        );
      }

      const single = 5000;
      const singleRaw = eventSets(runs, single);
      const singleEvco = eventSets(runs, single);
      const singleInsert = await compare(
        'append: single event, one transaction each',
        single,
        {
          name: 'better-sqlite3 INSERT (autocommit)',
          fn: async () => {
            for (const e of singleRaw()) raw.row(e, nowIso);
          },
        },
        {
          name: 'store.append([event])',
          fn: async () => {
            for (const e of singleEvco()) await store.append([e], { now });
          },
        },
        { goal: '>= 0.8', warmup: WARMUP, rounds: ROUNDS },
      );
      out.push(singleInsert);

      out.push(await endToEnd(dir, raw, nowIso, 'single'));
      out.push(await endToEnd(dir, raw, nowIso, 'batch'));

      const readTotal = 20_000;
      const pageSize = 1000;
      out.push(
        await compare(
          `history: paged read of ${readTotal} events`,
          readTotal,
          {
            name: 'better-sqlite3 SELECT … WHERE position > ? LIMIT 1000, JSON.parse',
            fn: async () => {
              let after = 0n;
              for (let read = 0; read < readTotal; ) {
                const rows = raw.page.safeIntegers(true).all(after, pageSize) as Array<{
                  position: bigint;
                  event_data: string;
                  metadata: string;
                  occurred_at: string;
                  recorded_at: string;
                }>;
                for (const r of rows) {
                  JSON.parse(r.event_data);
                  JSON.parse(r.metadata);
                  new Date(r.occurred_at);
                  new Date(r.recorded_at);
                }
                read += rows.length;
                after = rows[rows.length - 1]!.position;
              }
            },
          },
          {
            name: 'store.readAll({ pageSize: 1000 })',
            fn: async () => {
              let read = 0;
              for await (const _ of store.readAll({ pageSize })) if (++read >= readTotal) break;
            },
          },
          { warmup: WARMUP, rounds: ROUNDS },
        ),
      );

      await store.close();
      raw.db.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    return out;
  },
};

/**
 * End to end: SQLite store + in-process publisher + one handler, every event handled, against
 * the raw single-row (or batch) insert rate of the same events.
 */
async function endToEnd(
  dir: string,
  raw: ReturnType<typeof rawDatabase>,
  nowIso: string,
  mode: 'single' | 'batch',
): Promise<Comparison> {
  const n = mode === 'single' ? 5000 : 20_000;
  const batchSize = 500;
  const runs = WARMUP + ROUNDS;
  const rawSets = eventSets(runs, n);
  const evcoSets = eventSets(runs, n);
  const { coordinator, handled } = await countingCoordinator(
    createSqliteStore({ filename: join(dir, `e2e-${mode}.db`) }),
    { eventType: 'BenchHappened', name: 'counter' },
  );
  try {
    return await compare(
      mode === 'single'
        ? `end to end: sequential publishEvent, 1 handler, ${n} events handled`
        : `end to end: publishEvents batches of ${batchSize}, 1 handler, ${n} events handled`,
      n,
      mode === 'single'
        ? {
            name: 'better-sqlite3 INSERT (autocommit)',
            fn: async () => {
              for (const e of rawSets()) raw.row(e, nowIso);
            },
          }
        : {
            name: 'better-sqlite3 INSERT ×500 in one transaction',
            fn: async () => {
              const list = rawSets();
              for (let i = 0; i < n; i += batchSize) raw.batch(list.slice(i, i + batchSize), nowIso);
            },
          },
      {
        name: 'evco sqlite+inproc, all handled',
        fn: async () => {
          const target = handled() + n;
          const list = evcoSets();
          if (mode === 'single') {
            for (const e of list) await coordinator.publishEvent(e);
          } else {
            for (let i = 0; i < n; i += batchSize)
              await coordinator.publishEvents(list.slice(i, i + batchSize));
          }
          while (handled() < target) await new Promise((resolve) => setImmediate(resolve));
        },
      },
      { warmup: WARMUP, rounds: ROUNDS },
    );
  } finally {
    await coordinator.shutdown();
  }
}
