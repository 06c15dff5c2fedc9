import { evcoTsup } from '../../tsup.base.ts';

// The prune worker is a file of its own, which the store starts as a worker thread (resolved
// beside the running entry: `import.meta.url`, shimmed in the CommonJS build).
export default evcoTsup({
  entry: ['src/index.ts', 'src/prune-worker.ts'],
  dts: { entry: 'src/index.ts' },
  shims: true,
});
