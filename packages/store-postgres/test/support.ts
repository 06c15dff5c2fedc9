import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { resolveServiceUrl } from '@evco/testkit';
import pg from 'pg';
import { afterEach } from 'vitest';
import {
  createPostgresStore,
  MIGRATIONS,
  type PostgresStore,
  type PostgresStoreOptions,
} from '../src/index.js';
import { lockKey, PRUNE_LOCK } from '../src/migrations.js';
import {
  bindSchema,
  CREATE_MIGRATIONS_TABLE,
  INSERT_MIGRATION,
  PRUNE_BATCH,
  quoteIdentifier,
  TRY_LOCK_PRUNE,
} from '../src/sql.js';

let url: Promise<string> | undefined;

/**
 * The database integration tests run against: `EVCO_TEST_DATABASE_URL` (CI), else a
 * Testcontainers Postgres started once per test file, else a failure saying what to provide.
 */
export function databaseUrl(): Promise<string> {
  url ??= resolveServiceUrl({
    envVar: 'EVCO_TEST_DATABASE_URL',
    what: 'store-postgres integration',
    startContainer: async () => {
      const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
      const container = await new PostgreSqlContainer('postgres:16-alpine').start();
      return container.getConnectionUri();
    },
  });
  return url;
}

/** A schema name nobody else uses; every test file and contract case gets its own. */
export function uniqueSchema(prefix = 'evco_t'): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`;
}

/** A migrated store in a fresh schema. */
export async function createTestStore(options: Partial<PostgresStoreOptions> = {}): Promise<PostgresStore> {
  const store = createPostgresStore({
    connectionString: await databaseUrl(),
    schema: uniqueSchema(),
    poolSize: 4,
    ...options,
  } as PostgresStoreOptions);
  await store.migrate();
  return store;
}

/** Drops a test schema with everything in it. */
export async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: await databaseUrl() });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}

/**
 * Stores closed, and their schemas dropped, after each test of the `describe` that calls this:
 * push every store a test makes onto the returned array.
 */
export function closedAfterEach(): PostgresStore[] {
  const stores: PostgresStore[] = [];
  afterEach(async () => {
    for (const store of stores.splice(0)) {
      await store.close();
      await dropSchema(store.schema);
    }
  });
  return stores;
}

/** A plain client on the test database, for raw SQL in assertions. */
export async function connect(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: await databaseUrl() });
  await client.connect();
  return client;
}

/** Creates schema `quoted` as an older store left it: its migrations up to `version`, recorded. */
export async function schemaAtVersion(client: pg.Client, quoted: string, version: number): Promise<void> {
  await client.query(`CREATE SCHEMA ${quoted}`);
  await client.query(bindSchema(CREATE_MIGRATIONS_TABLE, quoted));
  for (const m of MIGRATIONS.filter((m) => m.version <= version)) {
    await client.query(bindSchema(m.sql, quoted));
    await client.query(bindSchema(INSERT_MIGRATION, quoted), [m.version, m.name, m.runsWith ?? m.version]);
  }
}

/**
 * Another session that keeps opening short transactions holding a transaction id (a few
 * milliseconds each), as busy writers elsewhere on the server do: the settled horizon keeps
 * trailing every append by a few milliseconds and moves between any two statements. Returns the
 * function that stops it.
 */
export async function busyNeighbour(): Promise<() => Promise<void>> {
  const client = await connect();
  let stopped = false;
  const loop = (async () => {
    try {
      while (!stopped) {
        await client.query('BEGIN');
        await client.query('SELECT pg_current_xact_id()');
        await sleep(Math.random() * 5);
        await client.query('COMMIT');
        await sleep(Math.random() * 5);
      }
    } finally {
      await client.end();
    }
  })();
  return async () => {
    stopped = true;
    await loop;
  };
}

/**
 * A parameter value as the SQL literal of what `pg` would bind, for `EXECUTE name(literals)` of a
 * prepared statement (the literal is untyped: it takes the parameter's type). Arrays become array
 * literals with every element quoted and its quotes and backslashes escaped, Dates ISO strings,
 * objects JSON text, and everything else (numbers, booleans, bigint strings) its text.
 */
export function sqlLiteral(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  return `'${literalText(value).replaceAll("'", "''")}'`;
}

function literalText(value: unknown): string {
  if (Array.isArray(value)) return arrayText(value);
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

function arrayText(values: unknown[]): string {
  const elements = values.map((v) => {
    if (v === null || v === undefined) return 'NULL';
    if (Array.isArray(v)) return arrayText(v);
    return `"${literalText(v).replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
  });
  return `{${elements.join(',')}}`;
}

/** A node of `EXPLAIN (FORMAT JSON)`'s plan, with what the plan tests read of it. */
export interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  'Rows Removed by Filter'?: number;
  'Rows Removed by Index Recheck'?: number;
  'Shared Hit Blocks'?: number;
  'Shared Read Blocks'?: number;
  Plans?: PlanNode[];
}

/** Every node of a plan that scans a relation, depth first. */
export function scans(node: PlanNode, out: PlanNode[] = []): PlanNode[] {
  if (node['Relation Name']) out.push(node);
  for (const child of node.Plans ?? []) scans(child, out);
  return out;
}

/**
 * `EXPLAIN ANALYZE` of `PRUNE_BATCH` with `values` as the store runs it (a generic plan, under the
 * prune lock taken by `TRY_LOCK_PRUNE` in the same transaction), rolled back: the plan, and
 * whatever `inside` reads in the transaction before the rollback.
 */
export async function explainPruneBatch(
  store: PostgresStore,
  values: readonly unknown[],
  inside?: (client: pg.PoolClient) => Promise<void>,
): Promise<PlanNode> {
  const s = quoteIdentifier(store.schema);
  const client = await store.pool.connect();
  try {
    await client.query('SET plan_cache_mode = force_generic_plan');
    await client.query('SET jit = off');
    await client.query('SET enable_seqscan = off');
    await client.query(`PREPARE evco_prune_batch AS ${bindSchema(PRUNE_BATCH, s)}`);
    await client.query('BEGIN');
    try {
      await client.query(TRY_LOCK_PRUNE, lockKey(store.schema, PRUNE_LOCK));
      const { rows } = await client.query(
        `EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE evco_prune_batch(${values.map(sqlLiteral).join(', ')})`,
      );
      const plan = rows[0]['QUERY PLAN'][0].Plan as PlanNode;
      await inside?.(client);
      return plan;
    } finally {
      await client.query('ROLLBACK');
      await client.query('DEALLOCATE evco_prune_batch');
    }
  } finally {
    client.release();
  }
}

/** Rows one scan node read (`EXPLAIN ANALYZE`): those it passed on and those it filtered out, every loop. */
export function nodeRowsRead(node: PlanNode): number {
  return (
    ((node['Actual Rows'] ?? 0) +
      (node['Rows Removed by Filter'] ?? 0) +
      (node['Rows Removed by Index Recheck'] ?? 0)) *
    (node['Actual Loops'] ?? 1)
  );
}

/**
 * Calls `record` with the text and values of every statement the pool's connections made from
 * now on send (those already open are not watched: install it before the store's first query).
 */
export function recordStatements(
  pool: pg.Pool,
  record: (statement: { text: string; values: unknown[] }) => void,
): void {
  pool.on('connect', (client) => {
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as unknown as { query: unknown }).query = (config: unknown, ...rest: unknown[]) => {
      const c = config as { text?: string; values?: unknown[] } | undefined;
      if (typeof c === 'object' && c?.text) record({ text: c.text, values: c.values ?? [] });
      return query(config, ...rest);
    };
  });
}
