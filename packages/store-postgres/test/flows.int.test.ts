import type { DomainEvent, RecordedEvent } from '@evco/core';
import { makeEvent } from '@evco/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { createPostgresStore, LATEST_VERSION } from '../src/index.js';
import { quoteIdentifier } from '../src/sql.js';
import {
  closedAfterEach,
  connect,
  createTestStore,
  databaseUrl,
  dropSchema,
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

  it('the correlation index holds only events correlated to another id', async () => {
    const store = await createTestStore();
    stores.push(store);
    const client = await connect();
    try {
      const { rows } = await client.query<{ indexname: string; indexdef: string }>(
        `SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = 'events'
           AND indexname LIKE 'events_correlat%'`,
        [store.schema],
      );
      expect(rows.map((r) => r.indexname)).toEqual(['events_correlated_idx']);
      expect(rows[0]!.indexdef).toContain("WHERE ((metadata ->> 'correlationId'::text) <> (event_id)::text)");
    } finally {
      await client.end();
    }
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

  it('replaces the full correlation index with the partial one; the flow reads the same', async () => {
    const { schema, rootId, childId } = await atVersion4();
    expect((await correlationIndexes(schema)).map((i) => i.name)).toEqual(['events_correlation_idx']);
    expect(await migrated(schema, rootId)).toEqual([rootId, childId]);
    const after = await correlationIndexes(schema);
    expect(after.map((i) => [i.name, i.valid])).toEqual([['events_correlated_idx', true]]);
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

    expect(await migrated(ahead.schema, ahead.rootId)).toEqual([ahead.rootId, ahead.childId]);
    expect(await correlationIndexes(ahead.schema)).toEqual([builtAhead]);

    expect(await migrated(failed.schema, failed.rootId)).toEqual([failed.rootId, failed.childId]);
    const rebuilt = await correlationIndexes(failed.schema);
    expect(rebuilt.map((i) => [i.name, i.valid])).toEqual([['events_correlated_idx', true]]);
    expect(rebuilt[0]!.oid).not.toBe(invalid!.oid);
  });
});
