import { evcoTsup } from '../../tsup.base.ts';

// Two entries: index (the programmatic `runCli`, with declarations) and bin (the `evco`
// executable, whose shebang tsup keeps and marks executable).
export default evcoTsup({ entry: ['src/index.ts', 'src/bin.ts'], dts: { entry: 'src/index.ts' } });
