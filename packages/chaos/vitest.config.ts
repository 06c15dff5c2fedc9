import { evcoVitest } from '../../vitest.base.ts';

export default evcoVitest({ intTimeoutMs: 300_000 });
