import type { UserConfig } from 'vitest/config';
import { evcoVitest } from '../../vitest.base.ts';

/**
 * The shared setup lists `import` among the resolve conditions; vitest forwards those to Node as
 * `--conditions`, which then applies to `require()` too, and pg's `require('pg-pool')` gets the
 * ESM build (a module namespace, not the class). The driver must keep its CommonJS resolution,
 * so this package drops `import`/`module` (Vite adds the right one per importer anyway).
 */
function withoutImportCondition(config: UserConfig): UserConfig {
  const keep = (conditions: string[] | undefined) =>
    conditions?.filter((c) => c !== 'import' && c !== 'module');
  const fix = (c: UserConfig) => {
    if (c.resolve?.conditions) c.resolve.conditions = keep(c.resolve.conditions);
    if (c.ssr?.resolve?.conditions) c.ssr.resolve.conditions = keep(c.ssr.resolve.conditions);
  };
  fix(config);
  for (const project of (config.test?.projects ?? []) as UserConfig[]) fix(project);
  return config;
}

export default withoutImportCondition(evcoVitest({ intTimeoutMs: 300_000 }));
