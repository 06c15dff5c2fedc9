import { defineConfig, type Options } from 'tsup';

/** The one build setup every publishable package reuses: ESM + CJS + declarations. */
export function evcoTsup(overrides: Options = {}) {
  return defineConfig({
    entry: ['src/index.ts'],
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'node20',
    platform: 'node',
    treeshake: true,
    splitting: false,
    ...overrides,
  });
}
