// The prune worker from source (vitest, tsx): Node cannot start a `.ts` worker, so this thread
// registers tsx and imports it. Only used in the workspace; the package ships `dist` alone.
import { tsImport } from 'tsx/esm/api';

await tsImport('./prune-worker.ts', import.meta.url);
