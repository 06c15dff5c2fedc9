// Samples pg_stat_activity for `pnpm bench postgres-e2e-probe` (EVCO_BENCH_PROBE_SAMPLE_MS), in a
// process of its own so that the sampling does not queue in the measured event loop. Each
// sample is one JSON line: its time (ms since the epoch) and, per client backend, its state,
// wait event and the first 40 characters of its statement.
// Usage: node pg-activity-sampler.mjs <database url> <output file> <interval ms>
import { appendFileSync, writeFileSync } from 'node:fs';
import pg from 'pg';

const [url, out, interval] = process.argv.slice(2);
const client = new pg.Client({ connectionString: url, application_name: 'evco-bench-sampler' });
await client.connect();
writeFileSync(out, '');
const sample = {
  name: 'evco_bench_sample',
  text: `SELECT state, coalesce(wait_event, '') AS wait, left(query, 40) AS query FROM pg_stat_activity
    WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()`,
};
let lines = [];
const flush = () => {
  if (lines.length > 0) appendFileSync(out, `${lines.join('\n')}\n`);
  lines = [];
};
process.on('SIGTERM', () => {
  flush();
  process.exit(0);
});
for (;;) {
  const t = performance.timeOrigin + performance.now();
  const { rows } = await client.query(sample);
  lines.push(JSON.stringify({ t, rows: rows.map((r) => [r.state, r.wait, r.query]) }));
  if (lines.length >= 200) flush();
  await new Promise((resolve) => setTimeout(resolve, Number(interval)));
}
