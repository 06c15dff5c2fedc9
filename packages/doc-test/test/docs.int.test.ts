/**
 * The documentation blocks marked `<!-- doc-test: integration -->` (they need PostgreSQL and
 * Redis), run with DATABASE_URL set to a database of their own (created here, dropped afterwards)
 * and REDIS_URL. docs.test.ts has type-checked them.
 */
import { randomBytes } from 'node:crypto';
import { resolveServiceUrl } from '@evco/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countBlocks, formatCounts } from '../src/docs.js';
import { blockLocation, type DocBlock } from '../src/extract.js';
import { runBlock } from '../src/run.js';
import { writeBlocks } from '../src/typecheck.js';
import { BLOCKS, blockDir } from './workspace.js';

const integration = BLOCKS.filter((b) => b.mode === 'integration');
const work = blockDir('int');
const paths = writeBlocks(integration, work.dir);
const ran = new Set<DocBlock>();
let databaseUrl: string;
let redisUrl: string;

beforeAll(async () => {
  databaseUrl = await resolveServiceUrl({
    envVar: 'EVCO_TEST_DATABASE_URL',
    what: 'The doc blocks on Postgres',
  });
  redisUrl = await resolveServiceUrl({ envVar: 'EVCO_TEST_REDIS_URL', what: 'The doc blocks on Redis' });
});

afterAll(() => {
  console.log(
    formatCounts(
      'doc blocks (integration phase)',
      countBlocks([...new Set(integration.map((b) => b.file))], integration, { compiled: new Set(), ran }),
    ),
  );
  work.remove();
});

/** Runs `use` with the URL of a fresh database, dropped afterwards. */
async function withDatabase<T>(use: (url: string) => Promise<T>): Promise<T> {
  const name = `evco_doc_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
    try {
      const url = new URL(databaseUrl);
      url.pathname = `/${name}`;
      return await use(url.toString());
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    }
  } finally {
    await admin.end();
  }
}

describe('documentation blocks on PostgreSQL and Redis', () => {
  it('finds the blocks that need the services', () => {
    expect(integration.map((b) => b.file)).toEqual(
      expect.arrayContaining(['packages/store-postgres/README.md', 'packages/publisher-redis/README.md']),
    );
  });

  for (const block of integration) {
    it(`${blockLocation(block)} runs`, async () => {
      const result = await withDatabase((url) =>
        runBlock(block, { path: paths.get(block)!, env: { DATABASE_URL: url, REDIS_URL: redisUrl } }),
      );
      if (!result.ok) throw new Error(result.failure);
      ran.add(block);
    });
  }
});
