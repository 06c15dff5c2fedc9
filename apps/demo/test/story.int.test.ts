import { randomUUID } from 'node:crypto';
import { createRedisPublisher } from '@evco/publisher-redis';
import { createPostgresStore } from '@evco/store-postgres';
import { afterAll, describe, it } from 'vitest';
import { tellStoryOn } from './story.js';

const databaseUrl = process.env.EVCO_TEST_DATABASE_URL;
const redisUrl = process.env.EVCO_TEST_REDIS_URL;
if (!databaseUrl || !redisUrl) {
  throw new Error('the story on Postgres + Redis needs EVCO_TEST_DATABASE_URL and EVCO_TEST_REDIS_URL');
}
const schema = `evco_story_${randomUUID().replaceAll('-', '').slice(0, 12)}`;

afterAll(async () => {
  const cleanup = createPostgresStore({ connectionString: databaseUrl, schema });
  await cleanup.pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await cleanup.close();
});

describe('the cross-module story on store-postgres + publisher-redis', () => {
  it('ends with every module in its final state, one correlation, a correct causation chain', async () => {
    await tellStoryOn(
      createPostgresStore({ connectionString: databaseUrl, schema }),
      createRedisPublisher({ url: redisUrl, channelPrefix: schema }),
    );
  });
});
