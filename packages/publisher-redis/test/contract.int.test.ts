import { silentLogger } from '@evco/core';
import { describePublisherContract } from '@evco/testkit';
import { afterAll, beforeAll } from 'vitest';
import { createRedisPublisher } from '../src/index.js';
import { redisUrl, stopRedisContainer } from './redis-url.js';

let url: string;
let n = 0;

beforeAll(async () => {
  url = await redisUrl();
});
afterAll(stopRedisContainer);

describePublisherContract({
  name: 'publisher-redis',
  // A fresh prefix per case: nothing published by an earlier case can reach a later one.
  create: async () =>
    createRedisPublisher({
      url,
      channelPrefix: `evco-test-contract-${process.pid}-${++n}`,
      logger: silentLogger,
    }),
});
