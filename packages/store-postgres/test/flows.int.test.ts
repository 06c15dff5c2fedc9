import type { DomainEvent, RecordedEvent } from '@evco/core';
import { makeEvent } from '@evco/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { createPostgresStore, LATEST_VERSION } from '../src/index.js';
import { bindSchema, MIGRATION_5_CORRELATION, quoteIdentifier } from '../src/sql.js';
import {
  closedAfterEach,
  connect,
  createTestStore,
  databaseUrl,
  dropSchema,
  recordStatements,
  schemaAtVersion,
  uniqueSchema,
} from './support.js';

const T0 = new Date('2026-01-01T00:00:00.000Z');
const ids = (events: ReadonlyArray<DomainEvent | RecordedEvent>) => events.map((e) => e.id);

/**
 * Migration 5 keeps root events (correlated to themselves) out of the correlation index; a read
 * by correlation id finds the root through the event id's index and the rest through the
 * partial one. Both paths, their order, limits and cursors, and the ids that only look like
 * roots.
 */
describe('flows: reads by correlation id with roots outside the correlation index', () => {
  const stores = closedAfterEach();

  it('finds the root and the events correlated to it, in position order, with limits and cursors both ways', async () => {
    const store = await createTestStore();
    stores.push(store);
    const root = makeEvent({ eventType: 'Started' });
    const flow = (correlationId: string, eventType = 'Stepped') =>
      makeEvent({ eventType, metadata: { correlationId, causationId: root.id } });
    const a = flow(root.id);
    const b = flow(root.id, 'Started');
    const lone = makeEvent();
    // Not a root: its id is the correlation id of others, its own correlation is elsewhere.
    const notRoot = makeEvent({ metadata: { correlationId: 'elsewhere' } });
    const y = flow(notRoot.id);
    const z = flow(notRoot.id);
    // Correlated to its own id in capitals: not equal to the id as Postgres prints it.
    const shoutingId = makeEvent().id;
    const selfUpperShouting = makeEvent({
      id: shoutingId,
      metadata: { correlationId: shoutingId.toUpperCase() },
    });
    await store.append([root, lone], { now: T0 });
    await store.append([a, notRoot], { now: T0 });
    await store.append([y, b], { now: T0 });
    await store.append([z, selfUpperShouting], { now: T0 });
    const [r, ra, rb] = await store.read({ correlationId: root.id, limit: 10 });

    expect(root.metadata.correlationId).toBe(root.id);
    expect(ids([r!, ra!, rb!])).toEqual(ids([root, a, b]));
    expect(ids(await store.read({ correlationId: root.id, limit: 10, order: 'desc' }))).toEqual(
      ids([b, a, root]),
    );
    expect(ids(await store.read({ correlationId: root.id, limit: 1 }))).toEqual(ids([root]));
    expect(ids(await store.read({ correlationId: root.id, limit: 1, order: 'desc' }))).toEqual(ids([b]));
    expect(ids(await store.read({ correlationId: root.id, afterPosition: r!.position, limit: 10 }))).toEqual(
      ids([a, b]),
    );
    expect(
      ids(
        await store.read({ correlationId: root.id, beforePosition: ra!.position, limit: 10, order: 'desc' }),
      ),
    ).toEqual(ids([root]));
    expect(
      ids(
        await store.read({ correlationId: root.id, beforePosition: rb!.position, limit: 10, order: 'desc' }),
      ),
    ).toEqual(ids([a, root]));
    expect(
      ids(
        await store.read({
          correlationId: root.id,
          afterPosition: String(BigInt(r!.position) - 1n),
          limit: 1,
        }),
      ),
    ).toEqual(ids([root]));
    // With the other filters, on both paths.
    expect(ids(await store.read({ correlationId: root.id, eventType: 'Started', limit: 10 }))).toEqual(
      ids([root, b]),
    );
    expect(ids(await store.read({ correlationId: root.id, eventType: 'Stepped', limit: 10 }))).toEqual(
      ids([a]),
    );
    expect(ids(await store.read({ correlationId: root.id, causationId: root.id, limit: 10 }))).toEqual(
      ids([a, b]),
    );
    expect(
      ids(await store.read({ correlationId: root.id, aggregateId: root.aggregateId, limit: 10 })),
    ).toEqual(ids([root]));
    expect(
      ids(
        await store.read({
          correlationId: root.id,
          from: root.occurredAt,
          to: new Date(b.occurredAt.getTime() + 1),
          limit: 10,
        }),
      ),
    ).toEqual(ids([root, a, b]));
    // A root alone; an event id that others use as their correlation id but is not a root.
    expect(ids(await store.read({ correlationId: lone.id, limit: 10 }))).toEqual(ids([lone]));
    expect(ids(await store.read({ correlationId: notRoot.id, limit: 10 }))).toEqual(ids([y, z]));
    expect(ids(await store.read({ correlationId: notRoot.id, limit: 10, order: 'desc' }))).toEqual(
      ids([z, y]),
    );
    expect(ids(await store.read({ correlationId: 'elsewhere', limit: 10 }))).toEqual(ids([notRoot]));
    // Exact text: an id in capitals is another correlation id than the id.
    const shout = selfUpperShouting.metadata.correlationId!;
    expect(shout).toBe(selfUpperShouting.id.toUpperCase());
    expect(ids(await store.read({ correlationId: shout, limit: 10 }))).toEqual(ids([selfUpperShouting]));
    expect(await store.read({ correlationId: selfUpperShouting.id, limit: 10 })).toEqual([]);
    // Ids of no event, and strings that are no uuid at all (never cast).
    expect(await store.read({ correlationId: '0190f5d2-0000-7000-8000-000000000001', limit: 10 })).toEqual(
      [],
    );
    expect(await store.read({ correlationId: 'not-a-uuid', limit: 10 })).toEqual([]);
    expect(await store.read({ correlationId: `${root.id}x`, limit: 10 })).toEqual([]);
    expect(ids(await collectAll(store, root.id))).toEqual(ids([root, a, b]));
  });
});

/**
 * Migration 8 moves the flows out of `events`: a flow row per event in a flow (a correlation id
 * other than its own, or a causation id), written by the append only when it sends one, and the
 * flow reads range over its indexes. Roots are written by the statements they always were.
 */
describe('flows: a table of their own (migration 8)', () => {
  const stores = closedAfterEach();

  /** The store, and the texts of the statements it sends while `capturing` (its own pool's connections). */
  async function capturingStore(options: { notify?: boolean; coalesceAppends?: boolean } = {}) {
    const store = createPostgresStore({
      connectionString: await databaseUrl(),
      schema: uniqueSchema(),
      poolSize: 4,
      ...options,
    });
    stores.push(store);
    const sent: string[] = [];
    recordStatements(store.pool, (c) => sent.push(c.text));
    await store.migrate();
    return { store, sent };
  }

  async function flowRows(schema: string): Promise<Array<[string, string | null, string | null]>> {
    const client = await connect();
    try {
      const { rows } = await client.query(
        `SELECT position::text, correlation_id, causation_id FROM ${quoteIdentifier(schema)}.flows ORDER BY position`,
      );
      return rows.map((r) => [r.position, r.correlation_id, r.causation_id]);
    } finally {
      await client.end();
    }
  }

  for (const options of [{}, { notify: true }, { coalesceAppends: true }] as const) {
    it(`every append path writes the flow rows of its events in a flow, and only those; roots go without (${JSON.stringify(options)})`, async () => {
      const { store, sent } = await capturingStore(options);
      const root = makeEvent({ eventType: 'Started' });
      const caused = () =>
        makeEvent({ eventType: 'Stepped', metadata: { correlationId: root.id, causationId: root.id } });
      const correlatedOnly = makeEvent({ metadata: { correlationId: 'order-1' } });
      // Correlated to itself but caused: a row with the cause only.
      const selfCaused = makeEvent();
      const selfCausedEvent = makeEvent({
        id: selfCaused.id,
        metadata: { correlationId: selfCaused.id, causationId: root.id },
      });
      const one = caused();
      const batch = [makeEvent(), caused()];
      const inTx = caused();
      const inTxBatch = [caused(), makeEvent()];

      sent.length = 0;
      await store.append([root], { now: T0 });
      await store.append([makeEvent(), makeEvent()], { now: T0 });
      const rootTexts = sent.filter((t) => /INSERT INTO \S+\.events/.test(t));
      expect(rootTexts).toHaveLength(2);
      for (const t of rootTexts) expect(t).not.toContain('.flows');

      sent.length = 0;
      const [p1] = (await store.append([one], { now: T0 })).events.map((e) => e.position);
      const [, p2] = (await store.append(batch, { now: T0 })).events.map((e) => e.position);
      const [p3] = (await store.append([correlatedOnly], { now: T0 })).events.map((e) => e.position);
      const [p4] = (await store.append([selfCausedEvent], { now: T0 })).events.map((e) => e.position);
      const client = await store.pool.connect();
      let p5: string | undefined;
      let p6: string | undefined;
      try {
        await client.query('BEGIN');
        [p5] = (await store.appendInTransaction(client, [inTx], { now: T0 })).events.map((e) => e.position);
        [p6] = (await store.appendInTransaction(client, inTxBatch, { now: T0 })).events.map(
          (e) => e.position,
        );
        await client.query('COMMIT');
      } finally {
        client.release();
      }
      const flowTexts = sent.filter((t) => /INSERT INTO \S+\.events/.test(t));
      expect(flowTexts.length).toBeGreaterThanOrEqual(6);
      for (const t of flowTexts) expect(t).toContain('.flows');

      expect(await flowRows(store.schema)).toEqual([
        [p1, root.id, root.id],
        [p2, root.id, root.id],
        [p3, 'order-1', null],
        [p4, null, root.id],
        [p5!, root.id, root.id],
        [p6!, root.id, root.id],
      ]);
      expect(ids(await store.read({ correlationId: root.id, limit: 10 }))).toEqual(
        ids([root, one, batch[1]!, inTx, inTxBatch[0]!]),
      );
      expect(ids(await store.read({ causationId: root.id, limit: 10, order: 'desc' }))).toEqual(
        ids([inTxBatch[0]!, inTx, selfCausedEvent, batch[1]!, one]),
      );
      expect(ids(await store.read({ correlationId: 'order-1', limit: 10 }))).toEqual(ids([correlatedOnly]));
      expect(ids(await store.read({ correlationId: selfCaused.id, limit: 10 }))).toEqual(
        ids([selfCausedEvent]),
      );
    });
  }

  it('an id Postgres prints otherwise (braces, capitals) is a root when its correlation id is the id as printed, and in a flow when it is the id as given', async () => {
    const { store } = await capturingStore();
    // Spellings core never produces but Postgres accepts: what the store compares is the id as
    // Postgres prints it (`event_id::text`), as the flow indexes of schema 7 did.
    const spelt = (correlation: (id: string, printed: string) => string) => {
      const printed = makeEvent().id;
      const id = `{${printed.toUpperCase()}}`;
      const metadata = { schemaVersion: 1, correlationId: correlation(id, printed) };
      return { event: { ...makeEvent(), id, metadata }, id, printed };
    };
    const root = spelt((_, printed) => printed);
    const given = spelt((id) => id);
    const [rootPosition] = (await store.append([root.event], { now: T0 })).events.map((e) => e.position);
    const [givenPosition] = (await store.append([given.event], { now: T0 })).events.map((e) => e.position);
    expect(await flowRows(store.schema)).toEqual([[givenPosition, given.id, null]]);
    expect((await store.read({ correlationId: root.printed, limit: 10 })).map((e) => e.position)).toEqual([
      rootPosition,
    ]);
    expect((await store.read({ correlationId: given.id, limit: 10 })).map((e) => e.position)).toEqual([
      givenPosition,
    ]);
    expect(await store.read({ correlationId: given.printed, limit: 10 })).toEqual([]);
  });

  it('coalesced appends of several callers write the flow rows of theirs in a flow', async () => {
    const { store } = await capturingStore({ coalesceAppends: true });
    const root = makeEvent();
    const caused = () => makeEvent({ metadata: { correlationId: root.id, causationId: root.id } });
    const events = [root, caused(), makeEvent(), caused(), makeEvent()];
    // Appended at once: the first goes alone, the rest wait and go in one statement together.
    const results = await Promise.all(events.map((e) => store.append([e], { now: T0 })));
    const positions = results.map((r) => r.events[0]!.position);
    expect((await flowRows(store.schema)).map((r) => r[0])).toEqual([positions[1], positions[3]]);
    expect(ids(await store.read({ causationId: root.id, limit: 10 }))).toEqual(ids([events[1]!, events[3]!]));
  });

  it('events carry no flow index any more: no expression or partial index of events is left for the append to prepare', async () => {
    const store = await createTestStore();
    stores.push(store);
    const client = await connect();
    try {
      const { rows } = await client.query<{ indexname: string; indexdef: string }>(
        `SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename IN ('events', 'flows')
         ORDER BY tablename, indexname`,
        [store.schema],
      );
      expect(rows.filter((r) => r.indexdef.includes('metadata'))).toEqual([]);
      expect(rows.map((r) => r.indexname)).toContain('flows_correlation_idx');
      expect(rows.map((r) => r.indexname)).toContain('flows_causation_idx');
    } finally {
      await client.end();
    }
  });

  it('a prune removes the flow rows of the events it removes, with and without an archive', async () => {
    const store = await createTestStore();
    stores.push(store);
    const root = makeEvent({ occurredAt: T0 });
    const caused = () =>
      makeEvent({ occurredAt: T0, metadata: { correlationId: root.id, causationId: root.id } });
    const old = [root, caused(), caused()];
    await store.append(old, { now: T0 });
    const later = new Date(T0.getTime() + 3_600_000);
    const kept = makeEvent({ occurredAt: later, metadata: { correlationId: root.id, causationId: root.id } });
    const [keptPosition] = (await store.append([kept], { now: later })).events.map((e) => e.position);
    const cutoff = new Date(T0.getTime() + 60_000);
    // The root and the first caused event through the archive path, the other without.
    const archived: string[] = [];
    const first = await store.pruneEvents!({
      before: cutoff,
      limit: 2,
      now: later,
      archive: async (events) => {
        archived.push(...ids(events));
      },
    });
    expect(archived).toEqual(ids(old.slice(0, 2)));
    expect((await flowRows(store.schema)).map((r) => r[0])).toEqual([
      (await store.getEvent(old[2]!.id))!.position,
      keptPosition,
    ]);
    await store.pruneEvents!({ before: cutoff, limit: 100, now: later, after: first.next ?? undefined });
    expect(await flowRows(store.schema)).toEqual([[keptPosition, root.id, root.id]]);
    expect(ids(await store.read({ correlationId: root.id, limit: 10 }))).toEqual(ids([kept]));
  });
});

async function collectAll(
  store: Awaited<ReturnType<typeof createTestStore>>,
  correlationId: string,
): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = [];
  for await (const e of store.readAll({ correlationId, pageSize: 1 })) out.push(e);
  return out;
}

/**
 * A schema at version 4 with events in it, migrated to the latest: the old index goes, the new
 * one is built, or kept when a DBA built it ahead (`CREATE INDEX CONCURRENTLY`), or rebuilt when
 * such a build failed and left it invalid.
 */
describe('migration 5 on a schema holding events', () => {
  const schemas: string[] = [];
  afterAll(async () => {
    for (const s of schemas) await dropSchema(s);
  });

  async function atVersion4(): Promise<{ schema: string; quoted: string; rootId: string; childId: string }> {
    const schema = uniqueSchema('evco_mig5');
    schemas.push(schema);
    const quoted = quoteIdentifier(schema);
    const client = await connect();
    const rootId = '0190f5d2-0000-7000-8000-00000000000a';
    const childId = '0190f5d2-0000-7000-8000-00000000000b';
    try {
      await schemaAtVersion(client, quoted, 4);
      await client.query(
        `INSERT INTO ${quoted}.events (position, event_id, event_type, aggregate_id, event_data, metadata,
           occurred_at, recorded_at)
         VALUES (1, $1::uuid, 'Started', 'a', '{}', jsonb_build_object('schemaVersion', 1, 'correlationId', $1::uuid::text), $3, $3),
           (2, $2::uuid, 'Stepped', 'a', '{}', jsonb_build_object('schemaVersion', 1, 'correlationId', $1::uuid::text,
             'causationId', $1::uuid::text), $3, $3)`,
        [rootId, childId, T0.toISOString()],
      );
    } finally {
      await client.end();
    }
    return { schema, quoted, rootId, childId };
  }

  async function migrated(schema: string, rootId: string): Promise<string[]> {
    const store = createPostgresStore({ connectionString: await databaseUrl(), schema, poolSize: 2 });
    try {
      await store.migrate();
      return ids(await store.read({ correlationId: rootId, limit: 10 }));
    } finally {
      await store.close();
    }
  }

  /** Migration 5 alone, as `migrate()` runs it (later ones drop what it builds). */
  async function migratedTo5(quoted: string): Promise<void> {
    const client = await connect();
    try {
      await client.query(bindSchema(MIGRATION_5_CORRELATION, quoted));
    } finally {
      await client.end();
    }
  }

  async function correlationIndexes(
    schema: string,
  ): Promise<Array<{ name: string; oid: number; valid: boolean }>> {
    const client = await connect();
    try {
      const { rows } = await client.query(
        `SELECT c.relname AS name, c.oid::int AS oid, i.indisvalid AS valid
         FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
         WHERE c.relnamespace = $1::regnamespace AND c.relname LIKE 'events_correlat%' ORDER BY c.relname`,
        [schema],
      );
      return rows;
    } finally {
      await client.end();
    }
  }

  it('replaces the full correlation index with the partial one; migrated to the latest, the flow reads the same', async () => {
    const { schema, rootId, childId } = await atVersion4();
    const other = await atVersion4();
    expect((await correlationIndexes(schema)).map((i) => i.name)).toEqual(['events_correlation_idx']);
    await migratedTo5(other.quoted);
    const after = await correlationIndexes(other.schema);
    expect(after.map((i) => [i.name, i.valid])).toEqual([['events_correlated_idx', true]]);
    expect(await migrated(schema, rootId)).toEqual([rootId, childId]);
    // Migration 8 took the flows out of events.
    expect(await correlationIndexes(schema)).toEqual([]);
    const client = await connect();
    try {
      const { rows } = await client.query(`SELECT max(version)::int AS v FROM "${schema}".migrations`);
      expect(rows[0].v).toBe(LATEST_VERSION);
    } finally {
      await client.end();
    }
  });

  it('keeps an index built ahead concurrently, and rebuilds one a failed build left invalid', async () => {
    const ahead = await atVersion4();
    const failed = await atVersion4();
    const client = await connect();
    try {
      for (const { quoted } of [ahead, failed]) {
        await client.query(
          `CREATE INDEX CONCURRENTLY events_correlated_idx ON ${quoted}.events ((metadata->>'correlationId'), position)
             WHERE (metadata->>'correlationId') <> event_id::text`,
        );
      }
      // What a concurrent build that failed (or was cancelled) leaves behind.
      await client.query(`UPDATE pg_index SET indisvalid = false WHERE indexrelid = to_regclass($1)`, [
        `${failed.quoted}.events_correlated_idx`,
      ]);
    } finally {
      await client.end();
    }
    const [builtAhead] = (await correlationIndexes(ahead.schema)).filter(
      (i) => i.name === 'events_correlated_idx',
    );
    const [invalid] = (await correlationIndexes(failed.schema)).filter(
      (i) => i.name === 'events_correlated_idx',
    );
    expect(invalid!.valid).toBe(false);

    await migratedTo5(ahead.quoted);
    expect(await correlationIndexes(ahead.schema)).toEqual([builtAhead]);

    await migratedTo5(failed.quoted);
    const rebuilt = await correlationIndexes(failed.schema);
    expect(rebuilt.map((i) => [i.name, i.valid])).toEqual([['events_correlated_idx', true]]);
    expect(rebuilt[0]!.oid).not.toBe(invalid!.oid);
  });
});
