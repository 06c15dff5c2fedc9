/**
 * The raw side of the fleet bench's latency case, no evco: what a team writes by hand for the
 * same two-process shape. The feeder inserts an event row (a durable commit) and then publishes
 * `{"id","position"}` on `channel`; this process subscribes with ioredis and counts the run as
 * started when the message arrives, then reads the row by its key (the least a claim must do:
 * evco's claim statement reads the event with the lease) on a pool like the store's.
 * Reports both times (`fleet-report.ts`). Prints nothing; stops on 'stop'.
 *
 * argv: <schema> <channel>
 */
import { Redis } from 'ioredis';
import pg from 'pg';
import { databaseUrl, redisUrl } from './env.js';
import { runReporter, wallClock } from './fleet-report.js';

const [schema, channel] = process.argv.slice(2);
const report = runReporter();
const pool = new pg.Pool({ connectionString: databaseUrl, max: 4 });
const select = `SELECT position, event_id, event_type, aggregate_id, aggregate_type, aggregate_version,
  event_data, metadata, occurred_at, recorded_at FROM ${schema}.events WHERE position = $1`;
// A connection open before the first message, as the evco worker's pool has one.
await pool.query(select, ['0']);

const sub = new Redis(redisUrl, { lazyConnect: true });
await sub.connect();
sub.on('message', (_channel: string, message: string) => {
  void run(message, wallClock());
});
await sub.subscribe(channel!);

async function run(message: string, startedAt: number): Promise<void> {
  const { id, position } = JSON.parse(message) as { id: string; position: string };
  try {
    const { rows } = await pool.query(select, [position]);
    if (rows.length !== 1) throw new Error(`row ${position} not found`);
    report.record(id, startedAt, wallClock());
  } catch (error) {
    process.stderr.write(`fleet raw worker: ${String(error)}\n`);
    process.exit(1);
  }
}

report.ready(async () => {
  sub.disconnect();
  await pool.end();
});
