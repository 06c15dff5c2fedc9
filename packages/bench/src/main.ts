import { sections } from './sections.js';

/**
 * `pnpm bench [section …]`: runs the sections (all but the long `scale` by default) and prints one
 * JSON document.
 * Services come from EVCO_BENCH_DATABASE_URL / EVCO_BENCH_REDIS_URL, falling back to the
 * EVCO_TEST_* variables and then to the local defaults.
 */
const wanted = process.argv.slice(2);
const results: Record<string, unknown> = {
  machine: {
    node: process.version,
    cpus: (await import('node:os')).cpus().length,
    platform: process.platform,
  },
};
for (const section of sections) {
  if (wanted.length > 0 ? !wanted.includes(section.name) : section.onlyWhenNamed) continue;
  process.stderr.write(`bench: ${section.name}…\n`);
  try {
    results[section.name] = await section.run();
  } catch (error) {
    results[section.name] = { error: error instanceof Error ? error.message : String(error) };
  }
}
process.stdout.write(
  `${JSON.stringify(results, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`,
);
process.exit(0);
