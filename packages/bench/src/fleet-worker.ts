/**
 * One process of the fleet bench: a coordinator on store-postgres + publisher-redis running the
 * handler `fleet-worker` for `FleetWork` with `concurrency` slots; each run waits `handlerMs`
 * (simulated I/O). Reports over IPC, in batches, which events it ran and when each run started
 * (wall clock, same machine as the parent), and on 'stop' the CPU time it used since 'mark' (or
 * since it started), before it shuts down. Prints nothing.
 *
 * argv: <schema> <channelPrefix> <concurrency> <handlerMs> [asyncCommit]
 */
import { createCoordinator, silentLogger } from '@evco/core';
import { createRedisPublisher } from '@evco/publisher-redis';
import { createPostgresStore } from '@evco/store-postgres';
import { databaseUrl, redisUrl } from './env.js';

const [schema, channelPrefix, concurrency, handlerMs, asyncCommit = 'none'] = process.argv.slice(2);
const send = (message: Record<string, unknown>) => process.send!(message);
const wallClock = () => performance.timeOrigin + performance.now();
const delay = Number(handlerMs);

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

let ids: string[] = [];
let startedAt: number[] = [];
const flush = () => {
  if (ids.length === 0) return;
  send({ type: 'ran', ids, startedAt });
  ids = [];
  startedAt = [];
};
const flusher = setInterval(flush, 20);

await coordinator.registerHandler(
  'FleetWork',
  async (event) => {
    ids.push(event.id);
    startedAt.push(wallClock());
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
  },
  { name: 'fleet-worker', ordering: 'none' },
);

let cpuAtStart = process.cpuUsage();
process.on('message', async (message: { type: string }) => {
  if (message.type === 'mark') {
    cpuAtStart = process.cpuUsage();
    return;
  }
  if (message.type !== 'stop') return;
  const cpu = process.cpuUsage(cpuAtStart);
  await coordinator.shutdown();
  clearInterval(flusher);
  flush();
  send({ type: 'stopped', cpuUs: cpu.user + cpu.system });
  process.disconnect();
});
send({ type: 'ready' });
