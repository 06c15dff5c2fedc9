/**
 * One process of the fleet bench: a coordinator on store-postgres + publisher-redis running the
 * handler `fleet-worker` for `FleetWork` with `concurrency` slots; each run waits `handlerMs`
 * (simulated I/O). Reports which events it ran and when each run started, and on 'stop' the CPU
 * time it used since 'mark' (`fleet-report.ts`). Prints nothing; stops on 'stop'.
 *
 * argv: <schema> <channelPrefix> <concurrency> <handlerMs> [asyncCommit]
 */
import { createCoordinator, silentLogger } from '@evco/core';
import { createRedisPublisher } from '@evco/publisher-redis';
import { createPostgresStore } from '@evco/store-postgres';
import { databaseUrl, redisUrl } from './env.js';
import { runReporter, wallClock } from './fleet-report.js';

const [schema, channelPrefix, concurrency, handlerMs, asyncCommit = 'none'] = process.argv.slice(2);
const delay = Number(handlerMs);
const report = runReporter();

const coordinator = await createCoordinator({
  store: createPostgresStore({
    connectionString: databaseUrl,
    schema,
    poolSize: 4,
    asyncCommit: asyncCommit as 'none' | 'leases',
  }),
  publisher: createRedisPublisher({ url: redisUrl, channelPrefix: channelPrefix!, logger: silentLogger }),
  logger: silentLogger,
  concurrency: Number(concurrency),
});

await coordinator.registerHandler(
  'FleetWork',
  async (event) => {
    report.record(event.id, wallClock());
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
  },
  { name: 'fleet-worker', ordering: 'none' },
);

report.ready(() => coordinator.shutdown());
