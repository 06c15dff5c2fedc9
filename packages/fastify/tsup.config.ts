import { evcoTsup } from '../../tsup.base.ts';

// shims: `import.meta.url` in the CommonJS build, where the dashboard's assets are found from.
export default evcoTsup({ shims: true });
