import { evcoTsup } from '../../tsup.base.ts';

// `redis` is its own entry: it loads ioredis (an optional peer), which the contract suites in
// the root entry never need.
export default evcoTsup({ entry: ['src/index.ts', 'src/redis.ts'] });
