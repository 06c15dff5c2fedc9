import { evcoTsup } from '../../tsup.base.ts';

// Two entries sharing one copy of each module (splitting): an error class thrown by an adapter
// (imported from `@evco/core/adapter`) must be the class an application catches from the root.
export default evcoTsup({ entry: ['src/index.ts', 'src/adapter.ts'], splitting: true });
