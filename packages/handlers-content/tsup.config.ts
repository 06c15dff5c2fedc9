import { evcoTsup } from '../../tsup.base.ts';

// `events` is its own entry so other modules can depend on the contracts without the handlers.
export default evcoTsup({ entry: ['src/index.ts', 'src/events.ts'] });
