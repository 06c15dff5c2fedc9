/**
 * Every TypeScript block of README.md, packages/* and apps/* READMEs and docs/*.md: type-checked
 * against the workspace's sources, and run (unless its marker says otherwise, see src/extract.ts).
 * Blocks that need Postgres and Redis are type-checked here and run by docs.int.test.ts.
 * Prints how many blocks of each file were compiled and run.
 */
import pLimit from 'p-limit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countBlocks, formatCounts } from '../src/docs.js';
import { blockLocation, type DocBlock } from '../src/extract.js';
import { runBlock } from '../src/run.js';
import { typecheckBlocks, writeBlocks } from '../src/typecheck.js';
import { BLOCKS, blockDir, FILES, ROOT } from './workspace.js';

const work = blockDir('unit');
const paths = writeBlocks(BLOCKS, work.dir);
const compiled = new Set<DocBlock>();
const ran = new Set<DocBlock>();
// Each run is a Node process transpiling the workspace's sources: two at a time on a shared machine.
const slot = pLimit(2);
let diagnostics: Map<DocBlock, string[]>;

beforeAll(() => {
  diagnostics = typecheckBlocks(paths, ROOT);
}, 300_000);

afterAll(() => {
  console.log(formatCounts('doc blocks (unit phase)', countBlocks(FILES, BLOCKS, { compiled, ran })));
  work.remove();
});

describe('documentation blocks', () => {
  it('finds the blocks of every documented package', () => {
    expect([...new Set(BLOCKS.map((b) => b.file))]).toEqual(
      expect.arrayContaining(['README.md', 'packages/core/README.md', 'docs/deployment.md']),
    );
  });

  for (const block of BLOCKS) {
    const name = `${blockLocation(block)} ${block.mode === 'run' ? 'compiles and runs' : `compiles (${block.mode}${block.reason ? `: ${block.reason}` : ''})`}`;
    it.concurrent(name, { timeout: 300_000 }, async () => {
      const problems = diagnostics.get(block) ?? [];
      if (problems.length > 0)
        throw new Error(`${blockLocation(block)} does not compile:\n${problems.join('\n')}`);
      compiled.add(block);
      if (block.mode !== 'run') return;
      const result = await slot(() => runBlock(block, { path: paths.get(block)! }));
      if (!result.ok) throw new Error(result.failure);
      ran.add(block);
    });
  }
});
