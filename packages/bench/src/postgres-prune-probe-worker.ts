/**
 * A child process of the `postgres-prune-probe` section (`postgres-prune-probe.ts`).
 *
 * argv: pruner <schema> <variant> — prunes on each message `{ before, batchSize, rate }` (an ISO
 *   time, the batch size, `maxEventsPerSecond`) through `pruneEvents`, the prune in a process of
 *   its own, and answers `{ removed }`.
 * argv: sampler — samples `pg_stat_activity` every 5 ms and counts, per window label (message
 *   `{ window }`), each backend's state and wait event; `{ dump: true }` sends the counts and exits.
 */
import { pathToFileURL } from 'node:url';
import { createAdminClient, silentLogger } from '@evco/core';
import { createPostgresStore } from '@evco/store-postgres';
import pg from 'pg';
import { databaseUrl } from './env.js';

export const SAMPLER_APP = 'evco-probe-sampler';

/** The session settings a variant's prune connection runs with (`-async`, `-lz4` in its name). */
export function variantOptions(variant: string): string | undefined {
  const options = [
    ...(variant.includes('async') ? ['-c synchronous_commit=off'] : []),
    ...(variant.includes('lz4') ? ['-c wal_compression=lz4'] : []),
  ];
  return options.length > 0 ? options.join(' ') : undefined;
}

/** The connection string with `application_name` (to tell the backends apart) and `options`. */
export function probeUrl(applicationName: string, options?: string): string {
  const url = new URL(databaseUrl);
  url.searchParams.set('application_name', applicationName);
  if (options) url.searchParams.set('options', options);
  return url.toString();
}

// The roles run only when this file is the process's script (the section imports the helpers).
const main = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
const [role, schema, variant] = main ? process.argv.slice(2) : [];
if (role === 'pruner') {
  const admin = await createAdminClient({
    store: createPostgresStore({
      connectionString: probeUrl('evco-probe-prune', variantOptions(variant!)),
      schema: schema!,
      applicationName: 'evco-probe-prune',
    }),
    logger: silentLogger,
  });
  process.on('message', async (m: { before?: string; batchSize?: number; rate?: number; stop?: boolean }) => {
    if (m.stop) {
      await admin.close();
      process.exit(0);
    }
    const result = await admin.pruneEvents({
      before: new Date(m.before!),
      batchSize: m.batchSize!,
      dutyCycle: 1,
      maxEventsPerSecond: m.rate!,
    });
    process.send!({ removed: result.removed });
  });
  process.send!({ ready: true });
} else if (role === 'sampler') {
  const client = new pg.Client({ connectionString: probeUrl(SAMPLER_APP) });
  await client.connect();
  let window = 'none';
  const counts: Record<string, Record<string, number>> = {};
  process.on('message', (m: { window?: string; dump?: boolean }) => {
    if (m.window) window = m.window;
    if (m.dump) {
      process.send!(counts, () => process.exit(0));
    }
  });
  process.send!({ ready: true });
  for (;;) {
    const { rows } = await client.query(
      `SELECT coalesce(nullif(application_name, ''), backend_type) AS who, state, wait_event_type, wait_event
         FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND state IS DISTINCT FROM 'idle'`,
    );
    counts[window] ??= {};
    const w = counts[window]!;
    w.samples = (w.samples ?? 0) + 1;
    for (const r of rows) {
      if (!String(r.who).startsWith('evco-probe-')) continue;
      const key = `${r.who}: ${r.state} ${r.wait_event_type ?? 'CPU'}${r.wait_event ? `:${r.wait_event}` : ''}`;
      w[key] = (w[key] ?? 0) + 1;
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
