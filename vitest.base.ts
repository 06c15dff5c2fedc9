import { defineConfig } from 'vitest/config';

/**
 * Shared test setup: `unit` runs `*.test.ts` (no services), `int` runs `*.int.test.ts`
 * (real Postgres/Redis). Both resolve workspace packages from `src/` via the
 * `@evco/source` export condition, so tests never need a build first.
 */
export function evcoVitest(options: { intTimeoutMs?: number } = {}) {
  // Not `import`/`module`: vitest forwards these conditions to Node, where they would apply to
  // `require()` too and hand CommonJS drivers (pg's `require('pg-pool')`) an ESM namespace.
  const conditions = ['@evco/source', 'node', 'default'];
  const resolve = { conditions };
  const ssr = { resolve: { conditions, externalConditions: ['@evco/source'] } };
  return defineConfig({
    resolve,
    ssr,
    test: {
      projects: [
        {
          resolve,
          ssr,
          test: {
            name: 'unit',
            include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
            exclude: ['**/*.int.test.ts', '**/node_modules/**', '**/dist/**'],
            testTimeout: 20_000,
          },
        },
        {
          resolve,
          ssr,
          test: {
            name: 'int',
            include: ['src/**/*.int.test.ts', 'test/**/*.int.test.ts'],
            testTimeout: options.intTimeoutMs ?? 120_000,
            hookTimeout: 120_000,
            fileParallelism: false,
          },
        },
      ],
    },
  });
}
