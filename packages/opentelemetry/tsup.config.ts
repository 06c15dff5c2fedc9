import { evcoTsup } from '../../tsup.base.ts';

export default evcoTsup();
