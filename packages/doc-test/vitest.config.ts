import { evcoVitest } from '../../vitest.base.ts';

export default evcoVitest();
