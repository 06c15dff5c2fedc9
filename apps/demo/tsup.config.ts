import { defineConfig } from 'tsup';

/**
 * The demo's production build: `node dist/main.js` runs compiled JavaScript directly (no tsx).
 * Workspace packages and npm dependencies stay external and resolve to their own `dist` builds.
 */
export default defineConfig({
  entry: ['src/main.ts', 'src/story-cli.ts'],
  format: ['esm'],
  target: 'node20',
  platform: 'node',
  sourcemap: true,
  clean: true,
  dts: false,
  splitting: true,
  treeshake: true,
});
